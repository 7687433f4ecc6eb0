"""Sharded trial runs: the same JSON as one run, resumed after an interruption without
recomputing what was kept, corrupt files recomputed, Dask workers, and the CLI's options."""

from __future__ import annotations

import copy
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest
import yaml

from sermsim.interfaces.cli import main
from sermsim.trials.run import run_trial
from sermsim.trials.shards import (
    SHARD_FOLDER,
    ShardInputs,
    ShardTask,
    run_here,
    run_sharded,
    shard_tasks,
)
from sermsim.trials.spec import parse_trial

SHARDS = 3
SPEC = {
    "name": "sharded trial",
    "seed": 11,
    "duration_years": 1,
    "physiology_anchors": 8,
    "population": {
        "sex": "female",
        "n_per_arm": 500,
        "age": {"distribution": "normal", "mean": 66, "sd": 7, "min": 50, "max": 80},
        "menopause": "post",
        "uterus": {"fraction_true": 0.7},
        "bmd_t_score_spine": {"distribution": "normal", "mean": -2.0, "sd": 1.0},
        "breast_cancer_5y_risk": {"distribution": "lognormal", "median": 0.02, "sd_log": 0.5},
        "thrombophilia": {"choices": {"none": 0.95, "factor_v_leiden_het": 0.05}},
    },
    "arms": [
        {"name": "placebo", "regimen": []},
        {"name": "raloxifene 60", "regimen": [{"agent": "raloxifene", "dose_mg": 60}]},
    ],
    "inclusion": ["not prior_vte"],
    "endpoints": [
        "invasive_breast_cancer",
        "vertebral_fracture",
        "vte",
        "pulmonary_embolism",
        "endometrial_cancer",
        {"name": "bmd_lumbar_spine_pct", "at_years": 1},
        {"name": "endometrial_thickness_mm", "at_years": 0.5},
    ],
    "comparisons": [{"arm": "raloxifene 60", "reference": "placebo"}],
}


def as_text(result: dict) -> str:
    return json.dumps(result, sort_keys=True, allow_nan=False)


@pytest.fixture(scope="module")
def spec(agents):
    return parse_trial(copy.deepcopy(SPEC), agents)


@pytest.fixture(scope="module")
def whole(spec):
    """The unsharded run (the reference)."""
    return run_trial(spec)


@pytest.fixture(scope="module")
def sharded(spec, tmp_path_factory):
    """A finished sharded run and its folder (blocks of 70 people inside the shards)."""
    out = tmp_path_factory.mktemp("sharded")
    return run_sharded(spec, out, SHARDS, chunk_people=70), out


class Counting:
    """A shard runner that runs here, counts what it was given, and can stop after k."""

    def __init__(self, stop_after: int | None = None) -> None:
        self.given: list[ShardTask] = []
        self.stop_after = stop_after

    def __call__(
        self, inputs: ShardInputs, tasks: Sequence[ShardTask]
    ) -> Iterator[tuple[ShardTask, bytes]]:
        self.given = list(tasks)
        for i, done in enumerate(run_here(inputs, tasks)):
            if self.stop_after is not None and i == self.stop_after:
                raise KeyboardInterrupt  # as if the user pressed Ctrl-C between shards
            yield done


def shard_files(out: Path) -> dict[str, int]:
    """Shard file -> its modification time (ns)."""
    return {p.name: p.stat().st_mtime_ns for p in (out / SHARD_FOLDER).glob("shard-*.parquet")}


def test_blocks_of_people_change_nothing(spec, whole):
    """An arm worked out 70 people at a time: the same JSON, per-person records and mean
    curves, to the bit, as all at once."""
    cache: dict = {}
    one_block = run_trial(spec, physiology_cache=cache, chunk_people=10**6)
    blocks = run_trial(spec, physiology_cache=cache, chunk_people=70)
    assert as_text(blocks.result) == as_text(one_block.result) == as_text(whole.result)
    for name, arm in blocks.arms.items():
        for endpoint, curve in arm.curves.items():
            assert np.array_equal(curve, one_block.arms[name].curves[endpoint])
            assert np.array_equal(arm.expected[endpoint], one_block.arms[name].expected[endpoint])


def test_a_sharded_run_gives_the_unsharded_json(whole, sharded):
    outcome, out = sharded
    assert as_text(outcome.result) == as_text(whole.result)
    names = sorted(shard_files(out))
    assert names == sorted(
        f"shard-{a}-{k}-of-{SHARDS}.parquet"
        for a in ("placebo", "1_raloxifene_60")  # a name with a space gets its position
        for k in range(SHARDS)
    )
    for name, arm in outcome.arms.items():
        ref = whole.arms[name]
        assert np.array_equal(arm.records.draw_index, ref.records.draw_index)
        for key, (values, base) in arm.continuous.items():
            assert np.array_equal(values, ref.continuous[key][0], equal_nan=True)
            assert np.array_equal(base, ref.continuous[key][1], equal_nan=True)
        for endpoint, curve in arm.curves.items():
            # Sums of the shards' sums: the same up to the rounding of a sum's order.
            np.testing.assert_allclose(curve, ref.curves[endpoint], rtol=1e-12, atol=1e-15)


def test_shards_are_contiguous_slices_of_every_arm(spec):
    tasks = shard_tasks(spec, 7)
    for arm in spec.arms:
        mine = [t for t in tasks if t.arm == arm.name]
        assert [t.k for t in mine] == list(range(7))
        assert mine[0].start == 0 and mine[-1].stop == spec.n_per_arm
        assert all(a.stop == b.start for a, b in itertools.pairwise(mine))


def test_an_interrupted_run_resumes_without_recomputing_what_it_kept(
    spec, whole, sharded, tmp_path
):
    _, done = sharded
    shutil.copytree(done / SHARD_FOLDER, tmp_path / SHARD_FOLDER)  # the physiology and shards
    for p in (tmp_path / SHARD_FOLDER).glob("shard-*"):
        p.unlink()
    stopping = Counting(stop_after=2)
    with pytest.raises(KeyboardInterrupt):
        run_sharded(spec, tmp_path, SHARDS, runner=stopping)
    kept = shard_files(tmp_path)
    assert len(kept) == 2 and len(stopping.given) == 2 * SHARDS
    notices: list[str] = []
    resuming = Counting()
    outcome = run_sharded(spec, tmp_path, SHARDS, runner=resuming, notice=notices.append)
    assert {t.file_name for t in resuming.given}.isdisjoint(kept)
    assert len(resuming.given) == 2 * SHARDS - 2
    after = shard_files(tmp_path)
    assert all(after[name] == mtime for name, mtime in kept.items())  # not rewritten
    assert any(f"reusing 2 of {2 * SHARDS} shards" in n for n in notices)
    assert as_text(outcome.result) == as_text(whole.result)


def test_a_killed_cli_run_resumes(agents, whole, sharded, tmp_path):
    """A real interruption: the CLI in a subprocess, killed (SIGKILL) once some shard files
    exist, then run again to the end."""
    _, done = sharded
    out = tmp_path / "out"
    (out / SHARD_FOLDER).mkdir(parents=True)
    for name in ("physiology.npz", "physiology.npz.json"):  # skip the physiology's compile
        shutil.copy(done / SHARD_FOLDER / name, out / SHARD_FOLDER / name)
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(yaml.safe_dump(SPEC, sort_keys=False), encoding="utf-8")
    shards = 150  # many small shards, so that the kill comes in the middle
    argv = ["trial", "run", str(spec_path), "--json", "--shards", str(shards), "--out", str(out)]
    code = "import sys; from sermsim.interfaces.cli import main; main(sys.argv[1:])"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 60
    while len(shard_files(out)) < 3 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    _, err = proc.communicate()
    assert b"reusing the anchors' physiology" in err, err.decode()
    # Finished shards have their checksum beside them (a file killed before it has not).
    kept = {
        n: t for n, t in shard_files(out).items() if (out / SHARD_FOLDER / f"{n}.json").exists()
    }
    assert 2 <= len(kept) < 2 * shards, "the run was not interrupted in the middle"
    spec = parse_trial(yaml.safe_load(spec_path.read_text(encoding="utf-8")), agents)
    resuming = Counting()
    outcome = run_sharded(spec, out, shards, runner=resuming)
    every = {t.file_name for t in shard_tasks(spec, shards)}
    assert {t.file_name for t in resuming.given} == every - set(kept)
    after = shard_files(out)
    assert all(after[name] == mtime for name, mtime in kept.items())
    assert as_text(outcome.result) == as_text(whole.result)


def test_a_corrupt_or_foreign_shard_is_recomputed(spec, whole, sharded, tmp_path):
    _, done = sharded
    shutil.copytree(done / SHARD_FOLDER, tmp_path / SHARD_FOLDER)
    folder = tmp_path / SHARD_FOLDER
    flipped, truncated, foreign = (
        folder / "shard-placebo-1-of-3.parquet",
        folder / "shard-1_raloxifene_60-0-of-3.parquet",
        folder / "shard-1_raloxifene_60-2-of-3.parquet",
    )
    data = bytearray(flipped.read_bytes())
    data[len(data) // 2] ^= 0x01
    flipped.write_bytes(bytes(data))
    truncated.write_bytes(truncated.read_bytes()[:-100])
    sidecar = Path(f"{foreign}.json")
    about = json.loads(sidecar.read_text())
    about["run"]["seed"] = 12  # written by a run of another seed
    sidecar.write_text(json.dumps(about))
    notices: list[str] = []
    runner = Counting()
    outcome = run_sharded(spec, tmp_path, SHARDS, runner=runner, notice=notices.append)
    assert sorted(t.file_name for t in runner.given) == sorted(
        p.name for p in (flipped, truncated, foreign)
    )
    assert sum("checksum mismatch" in n for n in notices) == 2
    assert sum("from another run" in n for n in notices) == 1
    assert as_text(outcome.result) == as_text(whole.result)


def test_a_dask_local_cluster_gives_the_same_json(spec, whole, sharded, tmp_path):
    """Two worker processes (processes=True) of a distributed.LocalCluster."""
    from sermsim.trials.cluster import dask_shards

    _, done = sharded
    (tmp_path / SHARD_FOLDER).mkdir()
    for name in ("physiology.npz", "physiology.npz.json"):
        shutil.copy(done / SHARD_FOLDER / name, tmp_path / SHARD_FOLDER / name)
    with dask_shards(local_workers=2) as runner:
        outcome = run_sharded(spec, tmp_path, SHARDS, runner=runner)
    assert as_text(outcome.result) == as_text(whole.result)
    assert len(shard_files(tmp_path)) == 2 * SHARDS


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_:
        main(list(argv))
    out, err = capsys.readouterr()
    return int(exit_.value.code or 0), out, err


def test_the_cli_runs_shards(capsys, whole, tmp_path):
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(yaml.safe_dump(SPEC, sort_keys=False), encoding="utf-8")
    argv = ("trial", "run", str(spec_path), "--json", "--shards", "2", "--out", str(tmp_path))
    code, out, err = run_cli(capsys, *argv, "--sampling-only")
    assert code == 0, err
    assert as_text(json.loads(out)) == as_text(whole.result)
    assert json.loads((tmp_path / "result.json").read_text()) == json.loads(out)
    assert "shards: 4/4 done" in err
    code, again, err = run_cli(capsys, *argv, "--sampling-only")
    assert code == 0 and again == out and "reusing 4 of 4 shards" in err


def test_parameter_uncertainty_is_the_same_sharded_or_not(capsys, spec, tmp_path):
    """The ensemble's intervals do not depend on the sharding (the CLI adds them by default)."""
    from sermsim.outcomes.ensemble import default_ensemble

    members = 12
    unsharded = run_trial(spec, ensemble=default_ensemble().take(members))
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(yaml.safe_dump(SPEC, sort_keys=False), encoding="utf-8")
    argv = ("trial", "run", str(spec_path), "--json", "--shards", "2", "--out", str(tmp_path))
    code, out, err = run_cli(capsys, *argv, "--members", str(members))
    assert code == 0, err
    result = json.loads(out)
    assert as_text(result) == as_text(unsharded.result)
    assert result["uncertainty"]["sources"] == ["sampling", "parameters"]
    assert result["uncertainty"]["ensemble"]["members"] == members


@pytest.mark.parametrize(
    ("options", "field"),
    [
        (["--shards", "0", "--out", "{out}"], "shards"),
        (["--shards", "-3", "--out", "{out}"], "shards"),
        (["--shards", "2"], "shards"),
        (["--shards", "501", "--out", "{out}"], "shards"),
        (["--shards", "2", "--out", "{out}", "--dask-local", "0"], "dask-local"),
        (["--dask-local", "2", "--out", "{out}"], "dask-local"),
        (["--shards", "2", "--out", "{out}", "--dask-local", "2", "--scheduler", "x"], "scheduler"),
        (["--shards", "2", "--out", "{out}", "--scheduler", "no-port-here"], "scheduler"),
    ],
)
def test_bad_shard_options_are_one_line_and_exit_2(capsys, tmp_path, options, field):
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(yaml.safe_dump(SPEC, sort_keys=False), encoding="utf-8")
    argv = [o.replace("{out}", str(tmp_path / "out")) for o in options]
    code, out, err = run_cli(capsys, "trial", "run", str(spec_path), *argv)
    lines = [line for line in err.strip().splitlines() if line.startswith("sermsim: error")]
    assert code == 2 and out == ""
    assert len(lines) == 1 and lines[0].startswith(f"sermsim: error: {field}:"), err
    assert "Traceback" not in err
