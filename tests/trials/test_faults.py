"""Faults and reproducibility of sharded trial runs (issue 8, deliverables 5 and 6).

- The CLI in a subprocess, SIGKILLed again and again at seeded-random points (at each step
  of a file's atomic write, the physiology's and shards'; between and during shards) and then
  run to the end, gives the uninterrupted run's JSON and files.
- A damaged shard, checksum or physiology file is detected and recomputed, a stale temporary
  file is never read, a failed write is one line and exit 2.
- The same spec and seed give the same JSON and files in another process, at every shard
  count (the mean curves, sums over people, up to the rounding of a sum's order).

The trial JSON has no timing field (``run.result_json`` is given the run's seconds but does
not write them), so :data:`TIMING_FIELDS` is empty: the comparisons are of the whole JSON.
"""

from __future__ import annotations

import contextlib
import copy
import errno
import hashlib
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from sermsim.interfaces.cli import main
from sermsim.trials.shards import PHYSIOLOGY_FILE, SHARD_FOLDER, run_sharded, shard_tasks
from sermsim.trials.spec import parse_trial
from tests.trials.test_shards import SPEC, Counting, as_text

PEOPLE = 200  # people per arm: a few hundred, so that a run takes seconds
MEMBERS = 4  # the ensemble's first members: parameter uncertainty on, at little cost
KILL_SHARDS = 20  # 40 shard files of 10 people: kills land between and inside shard writes
SHARD_COUNTS = (1, 3, 7, KILL_SHARDS)  # and unsharded (None)
SMALL_PEOPLE = 8  # the spec for one person per shard (the most shards there can be)
KILL_SEED = 20_260_808  # the kill schedule's generator (any fixed seed)
# Fields of the trial JSON that hold timings, stripped before comparing (dotted paths). None
# exist; one added later must be named here, and test_the_json_has_no_timing_field says so.
TIMING_FIELDS: tuple[str, ...] = ()
TIMING_WORDS = re.compile(r"second|elapsed|started|wall|runtime|timing|duration_s", re.I)
# Curve sums of shards are sums of sums: equal up to the rounding of a sum's order (as in
# test_shards.test_a_sharded_run_gives_the_unsharded_json).
CURVE_RTOL, CURVE_ATOL = 1e-12, 1e-15
RUN_LIMIT_S = 240  # the longest one CLI subprocess may take on a loaded 2-core box
POLL_S = 0.005  # how often the killer looks at the shard folder
SHARD_KILL_JITTER_S = 0.03  # about one shard's time: a kill anywhere inside a shard's work
# The three places inside one file's atomic write where a SIGKILL leaves something behind.
PHASES = ("before the file's rename", "after the file's rename", "before the checksum's rename")

# The CLI with os.replace watched: SIGKILL itself at PHASE of the write of TARGET (a file's
# name in the shard folder); with TARGET "" it runs untouched.
KILLABLE_CLI = """
import os, signal, sys
from pathlib import Path

target, phase, argv = sys.argv[1], sys.argv[2], sys.argv[3:]
rename = os.replace


def die():
    os.kill(os.getpid(), signal.SIGKILL)


def replace(src, dst):
    name = Path(dst).name
    if target and name == target and phase == "before the file's rename":
        die()
    if target and name == target + ".json" and phase == "before the checksum's rename":
        die()
    rename(src, dst)
    if target and name == target and phase == "after the file's rename":
        die()


os.replace = replace
from sermsim.interfaces.cli import main

main(argv)
"""


def spec_of(people: int) -> dict[str, Any]:
    raw = copy.deepcopy(SPEC)
    raw["population"]["n_per_arm"] = people
    return raw


def comparable(result: Mapping[str, Any]) -> str:
    """The JSON as text, timing fields removed."""
    data = copy.deepcopy(dict(result))
    for dotted in TIMING_FIELDS:
        *parents, last = dotted.split(".")
        node: Any = data
        for key in parents:
            node = node[key]
        del node[last]
    return as_text(data)


def outputs(out: Path) -> dict[str, bytes]:
    """The files a run wrote in ``out`` (not the shard folder, not temporary files)."""
    return {p.name: p.read_bytes() for p in out.iterdir() if p.is_file() and p.name[0] != "."}


def cli_here(*argv: str) -> tuple[int, str, str]:
    """The CLI in this process: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(list(argv))
        except SystemExit as exit_:
            return int(exit_.code or 0), out.getvalue(), err.getvalue()
    raise AssertionError("main() returned without exiting")


@dataclass(frozen=True)
class Run:
    result: str  # the --json output, as compared
    files: dict[str, bytes]
    out: Path


def run_here(spec_path: Path, out: Path, shards: int | None) -> Run:
    argv = ["trial", "run", str(spec_path), "--json", "--members", str(MEMBERS), "--out"]
    argv += [str(out)] + ([] if shards is None else ["--shards", str(shards)])
    code, stdout, stderr = cli_here(*argv)
    assert code == 0, stderr
    return Run(comparable(json.loads(stdout)), outputs(out), out)


def write_spec(path: Path, raw: Mapping[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(dict(raw), sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def spec_path(tmp_path_factory) -> Path:
    return write_spec(tmp_path_factory.mktemp("spec") / "spec.yaml", spec_of(PEOPLE))


@pytest.fixture(scope="module")
def runs(spec_path, tmp_path_factory) -> dict[int | None, Run]:
    """Uninterrupted runs through the CLI in this process: unsharded (None) and sharded."""
    return {
        shards: run_here(spec_path, tmp_path_factory.mktemp(f"run-{shards}"), shards)
        for shards in (None, *SHARD_COUNTS)
    }


# ---------------------------------------------------------------------------------------------
# The shard folder as a reader sees it


def sidecar_of(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def checksum_state(path: Path) -> str:
    """'finished' (its checksum file is whole and matches), 'unfinished' (no whole checksum
    file) or 'corrupt' (a whole checksum file that does not match: never left by a kill)."""
    try:
        about = json.loads(sidecar_of(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "unfinished"
    if not isinstance(about, dict) or "sha256" not in about:
        return "unfinished"
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return "finished" if digest == about["sha256"] else "corrupt"


def shard_states(out: Path) -> dict[str, str]:
    return {p.name: checksum_state(p) for p in (out / SHARD_FOLDER).glob("shard-*.parquet")}


def finished(out: Path) -> int:
    return sum(s == "finished" for s in shard_states(out).values())


def temporaries(out: Path) -> list[str]:
    return sorted(p.name for p in (out / SHARD_FOLDER).glob(".*.tmp"))


# ---------------------------------------------------------------------------------------------
# Kills at random points


@dataclass
class Attempt:
    """One run of the CLI on the kill series' folder, and what stopped it."""

    how: str
    lines: list[str] = field(default_factory=list)  # its stderr, line by line
    stdout: str = ""
    code: int | None = None
    stage: str = ""  # its last progress line
    finished_after: int = 0  # shards with a matching checksum once it stopped
    left: dict[str, str] = field(default_factory=dict)  # file -> its state, when not finished
    temporaries: list[str] = field(default_factory=list)


def launch(spec_path: Path, out: Path, target: str, phase: str, hash_seed: int) -> Any:
    argv = ["trial", "run", str(spec_path), "--json", "--members", str(MEMBERS)]
    argv += ["--shards", str(KILL_SHARDS), "--out", str(out)]
    env = {**os.environ, "PYTHONHASHSEED": str(hash_seed)}  # another str hash per process
    return subprocess.Popen(
        [sys.executable, "-c", KILLABLE_CLI, target, phase, *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def attempt(
    spec_path: Path,
    out: Path,
    how: str,
    *,
    hash_seed: int,
    target: str = "",
    phase: str = "",
    until: Callable[[Attempt], bool] | None = None,
    then_wait_s: float = 0.0,
) -> Attempt:
    """Run the CLI once; SIGKILL it once ``until`` holds (and ``then_wait_s`` more), or let it
    kill itself at ``phase`` of the write of ``target``, or let it finish."""
    record = Attempt(how)
    proc = launch(spec_path, out, target, phase, hash_seed)
    reader = threading.Thread(target=lambda: record.lines.extend(proc.stderr), daemon=True)
    reader.start()
    deadline = time.monotonic() + RUN_LIMIT_S
    if until is not None:
        while not until(record) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(POLL_S)
        time.sleep(then_wait_s)
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGKILL)
    try:
        record.stdout = proc.stdout.read()
        record.code = proc.wait(timeout=max(deadline - time.monotonic(), 1))
    finally:
        if proc.poll() is None:
            proc.kill()
    reader.join()
    # Its last progress line: what it was doing when it died (all it wrote is read by now).
    record.stage = last_progress(record)
    states = shard_states(out)
    record.finished_after = sum(s == "finished" for s in states.values())
    record.left = {n: s for n, s in states.items() if s != "finished"}
    physiology = out / SHARD_FOLDER / PHYSIOLOGY_FILE
    if physiology.exists():
        state = checksum_state(physiology)
        if state != "finished":
            record.left[PHYSIOLOGY_FILE] = state
    record.temporaries = temporaries(out)
    return record


def last_progress(record: Attempt) -> str:
    lines = [line.strip() for line in list(record.lines) if line.startswith("sharded trial:")]
    return lines[-1] if lines else "(nothing yet)"


def shards_at_least(out: Path, k: int) -> Callable[[Attempt], bool]:
    # A checksum file appears (by a rename) only once its shard is whole: cheap to count.
    folder = out / SHARD_FOLDER
    return lambda _record: len(list(folder.glob("shard-*.parquet.json"))) >= k


def test_a_run_killed_at_random_points_and_resumed_is_the_uninterrupted_run(
    spec, spec_path, runs, tmp_path
):
    """Six runs of the CLI on one folder: five SIGKILLed at seeded-random points (at a random
    step of the physiology file's write and of two shards' writes; twice after a random number
    of shards and a random part of the next), the last to the end."""
    rng = np.random.default_rng(KILL_SEED)
    out = tmp_path / "out"
    total = 2 * KILL_SHARDS
    names = [t.file_name for t in shard_tasks(spec, KILL_SHARDS)]
    phases = [str(p) for p in rng.permutation(PHASES)]

    def hash_seed() -> int:
        return int(rng.integers(0, 2**32 - 1))

    def after_random_shards(how: str) -> Attempt:
        done = finished(out)
        k = done + int(rng.integers(1, max((total - done) // 3, 2)))
        return attempt(
            spec_path,
            out,
            f"{how}: SIGKILL after {k} shards",
            hash_seed=hash_seed(),
            until=shards_at_least(out, k),
            then_wait_s=float(rng.uniform(0, SHARD_KILL_JITTER_S)),
        )

    def inside_a_shard_write(phase: str) -> Attempt:
        remaining = [n for n in names if shard_states(out).get(n) != "finished"]
        target = remaining[int(rng.integers(0, max(len(remaining) // 3, 1)))]
        return attempt(
            spec_path,
            out,
            f"SIGKILL {phase} of {target}",
            hash_seed=hash_seed(),
            target=target,
            phase=phase,
        )

    series = [
        attempt(
            spec_path,
            out,
            f"SIGKILL {phases[0]} of {PHYSIOLOGY_FILE}",
            hash_seed=hash_seed(),
            target=PHYSIOLOGY_FILE,
            phase=phases[0],
        )
    ]
    series.append(after_random_shards("shards"))
    series.append(inside_a_shard_write(phases[1]))
    series.append(after_random_shards("shards"))
    series.append(inside_a_shard_write(phases[2]))
    last = attempt(spec_path, out, "to the end", hash_seed=hash_seed())
    series.append(last)

    report = "\n".join(
        f"{i}. {a.how}: exit {a.code}, at '{a.stage}', {a.finished_after}/{total} shards "
        f"finished, left unfinished {a.left or '-'}, temporary files {len(a.temporaries)}"
        for i, a in enumerate(series)
    )
    print(f"\nkill series (seed {KILL_SEED}):\n{report}")
    kills, resumes = series[:-1], series[1:]
    # Every kill interrupted the run: killed by the signal, before any JSON was printed.
    assert all(a.code == -signal.SIGKILL and a.stdout == "" for a in kills), report
    assert "physiology: regimen" in kills[0].stage, report
    assert all(a.stage.startswith("sharded trial: shards:") for a in kills[1:]), report
    assert 0 < kills[1].finished_after < kills[-1].finished_after < total, report
    # A kill inside a write left the file unfinished (no whole checksum) or only its
    # temporary file; no kill ever left a file whose checksum file disagrees with it.
    assert not any("corrupt" in a.left.values() for a in series), report
    for a in (kills[0], kills[2], kills[4]):
        target = a.how.rsplit(" of ", 1)[1]
        if "before the file's rename" in a.how:
            assert target not in a.left and any(target in t for t in a.temporaries), report
        else:
            assert a.left.get(target) == "unfinished", report
    # The next run recomputed every unfinished file, saying why, and reused every finished one.
    for killed, resumed in zip(kills, resumes, strict=True):
        text = "".join(resumed.lines)
        for name in killed.left:
            assert f"{name}: no valid checksum beside it" in text, (name, text)
        if killed.finished_after:
            assert f"reusing {killed.finished_after} of {total} shards" in text, text
    # Each killed run's temporary files went at the next start; the last run left none.
    assert last.temporaries == [] and last.left == {}, report
    assert last.code == 0, "".join(last.lines)
    assert comparable(json.loads(last.stdout)) == runs[KILL_SHARDS].result == runs[None].result
    assert outputs(out) == runs[KILL_SHARDS].files


# ---------------------------------------------------------------------------------------------
# Damaged files


DAMAGED = "shard-placebo-1-of-3.parquet"
OTHER = "shard-placebo-0-of-3.parquet"


def cut(path: Path, keep: float) -> None:
    path.write_bytes(path.read_bytes()[: int(len(path.read_bytes()) * keep)])


def without_sha(path: Path) -> None:
    about = json.loads(path.read_text())
    del about["sha256"]
    path.write_text(json.dumps(about))


def copy_over(folder: Path) -> None:
    """Another shard's file and its (matching) checksum file in this shard's place."""
    for suffix in ("", ".json"):
        shutil.copy(folder / f"{OTHER}{suffix}", folder / f"{DAMAGED}{suffix}")


DAMAGES: dict[str, tuple[Callable[[Path], object], str]] = {
    "a zero-byte shard": (lambda f: (f / DAMAGED).write_bytes(b""), "checksum mismatch"),
    "a shard cut short, its checksum file whole": (
        lambda f: cut(f / DAMAGED, 0.5),
        "checksum mismatch",
    ),
    "a shard deleted, its checksum file kept": (lambda f: (f / DAMAGED).unlink(), ""),
    "a zero-byte checksum file": (
        lambda f: sidecar_of(f / DAMAGED).write_bytes(b""),
        "no valid checksum",
    ),
    "a checksum file cut short": (lambda f: cut(sidecar_of(f / DAMAGED), 0.5), "no valid checksum"),
    "a checksum file of bytes that are not text": (
        lambda f: sidecar_of(f / DAMAGED).write_bytes(bytes(range(256))),
        "no valid checksum",
    ),
    "a checksum file of JSON null": (
        lambda f: sidecar_of(f / DAMAGED).write_text("null"),
        "no valid checksum",
    ),
    "a checksum file of a JSON list": (
        lambda f: sidecar_of(f / DAMAGED).write_text("[1, 2]"),
        "no valid checksum",
    ),
    "a checksum file without its checksum": (
        lambda f: without_sha(sidecar_of(f / DAMAGED)),
        "checksum mismatch",
    ),
    "another shard and its checksum file in its place": (copy_over, "from another run"),
}


@pytest.fixture(scope="module")
def spec(agents):
    return parse_trial(spec_of(PEOPLE), agents)


def resume(spec, out: Path, notices: list[str] | None = None) -> tuple[str, list[str]]:
    """``run_sharded`` on ``out`` as the CLI runs it (3 shards, the ensemble's first members):
    (the JSON as compared, the shard files it computed)."""
    from sermsim.outcomes.ensemble import default_ensemble

    runner = Counting()
    outcome = run_sharded(
        spec,
        out,
        3,
        runner=runner,
        notice=(notices if notices is not None else []).append,
        ensemble=default_ensemble().take(MEMBERS),
    )
    return comparable(outcome.result), [t.file_name for t in runner.given]


def copied_shards(runs: Mapping[int | None, Run], tmp_path: Path) -> Path:
    shutil.copytree(runs[3].out / SHARD_FOLDER, tmp_path / SHARD_FOLDER)
    return tmp_path / SHARD_FOLDER


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_a_damaged_shard_is_detected_and_recomputed(spec, runs, tmp_path, damage):
    folder = copied_shards(runs, tmp_path)
    hurt, why = DAMAGES[damage]
    hurt(folder)
    notices: list[str] = []
    result, computed = resume(spec, tmp_path, notices)
    assert computed == [DAMAGED]
    if why:
        assert any(n.startswith(f"{folder / DAMAGED}: {why}") for n in notices), notices
    assert checksum_state(folder / DAMAGED) == "finished"
    assert result == runs[3].result


@pytest.mark.parametrize(
    ("damage", "why"),
    [
        (lambda f: cut(f / PHYSIOLOGY_FILE, 0.5), "checksum mismatch"),
        (lambda f: sidecar_of(f / PHYSIOLOGY_FILE).write_text("{"), "no valid checksum"),
    ],
    ids=["physiology cut short", "its checksum file cut short"],
)
def test_a_damaged_physiology_file_is_detected_and_recomputed(spec, runs, tmp_path, damage, why):
    folder = copied_shards(runs, tmp_path)
    damage(folder)
    notices: list[str] = []
    result, computed = resume(spec, tmp_path, notices)
    assert f"{folder / PHYSIOLOGY_FILE}: {why}" in " ".join(notices), notices
    assert computed == []  # the shards do not depend on the physiology file's bytes
    assert checksum_state(folder / PHYSIOLOGY_FILE) == "finished"
    assert result == runs[3].result


def test_stale_temporary_files_are_never_read_and_are_removed(spec, runs, tmp_path):
    """A killed write leaves ``.NAME.PID.tmp``: never taken for NAME, removed once its writer
    is gone; one whose writer still runs is left alone."""
    folder = copied_shards(runs, tmp_path)
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    dead, alive = int(gone.stdout), os.getppid()
    (folder / DAMAGED).unlink()
    stale = [folder / f".{DAMAGED}.{dead}.tmp", folder / f".{PHYSIOLOGY_FILE}.{dead}.tmp"]
    stale[0].write_bytes((runs[3].out / SHARD_FOLDER / OTHER).read_bytes()[:1000])
    stale[1].write_bytes(b"")
    kept = folder / f".{OTHER}.{alive}.tmp"
    kept.write_bytes(b"written by a run still going")
    result, computed = resume(spec, tmp_path)
    assert computed == [DAMAGED]
    assert temporaries(tmp_path) == [kept.name]
    assert result == runs[3].result


def test_a_failed_write_is_one_line_and_resumes(runs, spec_path, tmp_path, monkeypatch):
    """A full disk while a shard is written: exit 2 and one line naming the file, no
    temporary file left; the rerun resumes to the same JSON."""
    copied_shards(runs, tmp_path)
    (tmp_path / SHARD_FOLDER / DAMAGED).unlink()

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    argv = ["trial", "run", str(spec_path), "--json", "--members", str(MEMBERS)]
    argv += ["--shards", "3", "--out", str(tmp_path)]
    with monkeypatch.context() as patched:
        patched.setattr(os, "fsync", full)
        code, stdout, stderr = cli_here(*argv)
    errors = [line for line in stderr.splitlines() if line.startswith("sermsim: error")]
    assert code == 2 and stdout == "" and "Traceback" not in stderr, stderr
    assert len(errors) == 1 and DAMAGED in errors[0] and "No space left" in errors[0], stderr
    assert temporaries(tmp_path) == []
    code, stdout, stderr = cli_here(*argv)
    assert code == 0, stderr
    assert comparable(json.loads(stdout)) == runs[3].result


# ---------------------------------------------------------------------------------------------
# Reproducibility


def same_curves(a: bytes, b: bytes) -> None:
    left, right = (pd.read_csv(io.BytesIO(x)) for x in (a, b))
    assert list(left.columns) == list(right.columns) and len(left) == len(right)
    assert left["arm"].tolist() == right["arm"].tolist()
    numbers = [c for c in left.columns if c != "arm"]
    np.testing.assert_allclose(
        left[numbers].to_numpy(), right[numbers].to_numpy(), rtol=CURVE_RTOL, atol=CURVE_ATOL
    )


def test_every_shard_count_gives_the_same_json_and_files(runs):
    """Unsharded, 1, 3, 7 and 20 shards: the same JSON and the same files, byte for byte,
    but for curves.csv, whose mean curves are sums over people (equal up to rounding)."""
    whole = runs[None]
    assert set(whole.files) >= {"result.json", "people.parquet", "curves.csv"}
    assert json.loads(whole.files["result.json"]) == json.loads(whole.result)
    for shards in SHARD_COUNTS:
        run = runs[shards]
        assert run.result == whole.result, shards
        assert set(run.files) == set(whole.files), shards
        for name, data in run.files.items():
            if name == "curves.csv":
                same_curves(data, whole.files[name])
            else:
                assert data == whole.files[name], (shards, name)
    assert runs[1].files["curves.csv"] == whole.files["curves.csv"]  # one shard: one sum


def test_a_second_run_gives_the_same_json_and_files(runs, spec_path, tmp_path):
    """The same spec and seed again (in this process; the kill series' last run is another
    process with another str hash): every file byte for byte."""
    again = run_here(spec_path, tmp_path, None)
    assert again.result == runs[None].result
    assert again.files == runs[None].files


def test_one_person_per_shard_gives_the_same_json(tmp_path):
    """The most shards an arm can have (one person each) against the unsharded run."""
    spec_path = write_spec(tmp_path / "small.yaml", spec_of(SMALL_PEOPLE))
    whole = run_here(spec_path, tmp_path / "whole", None)
    each = run_here(spec_path, tmp_path / "each", SMALL_PEOPLE)
    assert each.result == whole.result
    assert len(list((tmp_path / "each" / SHARD_FOLDER).glob("shard-*.parquet"))) == 2 * SMALL_PEOPLE
    for name, data in each.files.items():
        if name == "curves.csv":
            same_curves(data, whole.files[name])
        else:
            assert data == whole.files[name], name


def test_the_json_has_no_timing_field(runs):
    """What 'apart from timing fields' strips: TIMING_FIELDS, and no other key looks like one."""

    def keys(node: Any, path: str = "") -> list[str]:
        if isinstance(node, dict):
            return [
                k for key, v in node.items() for k in [f"{path}{key}", *keys(v, f"{path}{key}.")]
            ]
        if isinstance(node, list):
            return [k for v in node for k in keys(v, path)]
        return []

    result = json.loads(runs[None].files["result.json"])
    found = [k for k in keys(result) if TIMING_WORDS.search(k.rsplit(".", 1)[-1])]
    assert found == list(TIMING_FIELDS)
