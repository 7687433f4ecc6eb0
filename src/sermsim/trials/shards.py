"""Sharded, resumable trial runs: the people of every arm in N contiguous slices, each slice's
per-person records written atomically to its own Parquet file, so that an interrupted run
resumes where it stopped and the slices can run anywhere (one process, or Dask workers).

A run's folder (``OUT/shards``) holds:

- ``physiology.npz``: the anchors' physiology (:class:`~sermsim.trials.records.AnchorPhysiology`),
  computed once before any shard from the spec alone;
- ``shard-<arm>-<k>-of-<N>.parquet``: people ``[k n / N, (k + 1) n / N)`` of the arm, their
  per-person records (:func:`records_to_parquet`);
- beside each file, ``<file>.json``: its SHA-256 and the run it belongs to (the spec's hash,
  seed, sermsim version, ``parameters_sha256`` and a hash of the parameter values used).

Every file is written under a temporary name, flushed to disk (fsync) and renamed over its
final name, then its sidecar the same way: a file without a valid sidecar is never used (a
killed write leaves at most a temporary file, which the next run removes). A rerun with the
same spec and shard count reuses every shard whose checksum and run match and recomputes the
others (saying why). The records join into the same numbers as an unsharded
run: a person's draws are keyed by (seed, arm, person index, stream), and every per-person
number is computed from that person alone (the trial's JSON is equal to the bit; the mean
curves, sums over people, up to rounding).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from sermsim import __version__
from sermsim.agents import Agent, load_agents
from sermsim.core.errors import SermsimError, SpecError
from sermsim.core.params import parameters_sha256
from sermsim.outcomes.parameters import OutcomeParameters, default_outcome_parameters
from sermsim.trials.population import sample_arm
from sermsim.trials.records import (
    CHUNK_PEOPLE,
    AnchorPhysiology,
    ArmRecords,
    arm_records,
    join_records,
    outcome_grid,
)
from sermsim.trials.spec import TrialSpec, parse_trial

if TYPE_CHECKING:
    from sermsim.outcomes.ensemble import Ensemble
    from sermsim.physiology.simulate import Engine
    from sermsim.trials.run import TrialOutcome

Progress = Callable[[str, float], None]
Notice = Callable[[str], None]
SHARD_FOLDER = "shards"
PHYSIOLOGY_FILE = "physiology.npz"
# The layout of the shard and physiology files; a file of another layout is recomputed.
# 2: per-person failures (``failure`` column; the anchors' ``failures``).
# 3: the anchors' physiology keyed by the exact regimen (adherence and start day too).
RECORDS_FORMAT = 3


class ShardError(SermsimError, OSError):
    """A shard folder or a Dask cluster failed the run (not a numerical failure)."""


# ---------------------------------------------------------------------------------------------
# What a shard is and what it needs


@dataclass(frozen=True)
class ShardTask:
    """People ``[start, stop)`` of one arm: shard ``k`` of ``of``."""

    arm: str
    arm_position: int
    k: int
    of: int
    start: int
    stop: int

    @property
    def file_name(self) -> str:
        safe = re.sub(r"[^A-Za-z0-9_.]+", "_", self.arm)
        label = safe if safe == self.arm else f"{self.arm_position}_{safe}"
        return f"shard-{label}-{self.k}-of-{self.of}.parquet"


@dataclass(frozen=True)
class ShardInputs:
    """Everything a shard needs, sent once to each worker: the spec (as read from its file)
    and the agents to read it with, the anchors' physiology, the physiology's parameter values
    and the outcome parameters. A worker needs no physiology engine: the physiology is already
    the anchors'."""

    spec_raw: Mapping[str, Any]
    agents: Mapping[str, Agent]
    physiology: AnchorPhysiology
    physiology_values: Mapping[str, float]
    params: OutcomeParameters
    chunk: int


def shard_tasks(spec: TrialSpec, shards: int) -> list[ShardTask]:
    """Every arm's people in ``shards`` contiguous slices of (nearly) equal size."""
    n = spec.n_per_arm
    return [
        ShardTask(arm.name, i, k, shards, k * n // shards, (k + 1) * n // shards)
        for i, arm in enumerate(spec.arms)
        for k in range(shards)
    ]


def compute_shard(inputs: ShardInputs, task: ShardTask) -> bytes:
    """One shard's per-person records as Parquet bytes (runs in a worker)."""
    spec = parse_trial(inputs.spec_raw, inputs.agents)
    arm = spec.arm(task.arm)
    people = sample_arm(spec, arm.name, inputs.physiology_values, stop=task.stop)
    pop = people.take(np.arange(task.start, task.stop))
    records = arm_records(
        spec,
        arm,
        pop,
        inputs.physiology,
        inputs.physiology_values,
        inputs.params,
        outcome_grid(spec.duration_years),
        start=task.start,
        chunk=inputs.chunk,
    )
    return records_to_parquet(records)


# Runs shards and yields each one's Parquet bytes as it finishes (in any order).
ShardRunner = Callable[[ShardInputs, Sequence[ShardTask]], Iterator[tuple[ShardTask, bytes]]]


def run_here(inputs: ShardInputs, tasks: Sequence[ShardTask]) -> Iterator[tuple[ShardTask, bytes]]:
    """Run the shards one after another in this process."""
    for task in tasks:
        yield task, compute_shard(inputs, task)


# ---------------------------------------------------------------------------------------------
# Records <-> Parquet


_CURVES_KEY = b"sermsim.curve_sums"


def records_to_parquet(records: ArmRecords) -> bytes:
    """Per-person records as a Parquet table: ``draw_index``; per event endpoint E,
    ``event/E``, ``time_at_risk/E``, ``expected/E``; per continuous key K, ``value/K`` and
    ``baseline/K``; ``failure`` (why a person has no results, "" if they have). The curve
    sums go in the file's metadata (JSON floats round-trip exactly)."""
    columns: dict[str, Any] = {
        "draw_index": records.draw_index,
        "failure": pa.array(records.failure.tolist(), pa.string()),
    }
    for name in records.event:
        columns[f"event/{name}"] = records.event[name]
        columns[f"time_at_risk/{name}"] = records.time_at_risk[name]
        columns[f"expected/{name}"] = records.expected[name]
    for key, (value, base) in records.continuous.items():
        columns[f"value/{key}"] = value
        columns[f"baseline/{key}"] = base
    curves = {k: [float(x) for x in v] for k, v in records.curve_sums.items()}
    table = pa.table(columns).replace_schema_metadata({_CURVES_KEY: json.dumps(curves)})
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return bytes(sink.getvalue().to_pybytes())


def records_from_parquet(data: bytes) -> ArmRecords:
    """The records written by :func:`records_to_parquet`."""
    table = pq.read_table(pa.BufferReader(data))
    meta = table.schema.metadata or {}
    curves = json.loads(meta[_CURVES_KEY])

    def col(name: str) -> Any:
        return table.column(name).to_numpy(zero_copy_only=False)

    names = [c.split("/", 1)[1] for c in table.column_names if c.startswith("event/")]
    keys = [c.split("/", 1)[1] for c in table.column_names if c.startswith("value/")]
    return ArmRecords(
        draw_index=col("draw_index").astype(np.int64),
        event={n: col(f"event/{n}").astype(bool) for n in names},
        time_at_risk={n: col(f"time_at_risk/{n}").astype(np.float64) for n in names},
        expected={n: col(f"expected/{n}").astype(np.float64) for n in names},
        curve_sums={k: np.asarray(v, dtype=np.float64) for k, v in curves.items()},
        continuous={
            k: (
                col(f"value/{k}").astype(np.float64),
                col(f"baseline/{k}").astype(np.float64),
            )
            for k in keys
        },
        failure=np.asarray(col("failure"), dtype=object),
    )


# ---------------------------------------------------------------------------------------------
# Files: atomic writes, checksums, the run a file belongs to


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _temporary(path: Path, pid: int) -> Path:
    return path.with_name(f".{path.name}.{pid}.tmp")


_TEMPORARY = re.compile(r"^\.(?P<name>.+)\.(?P<pid>[0-9]+)\.tmp$")


def _write_atomic(path: Path, data: bytes) -> None:
    """Write under a temporary name in the same folder, fsync, rename over ``path``. A write
    that fails (a full disk, a name taken by a folder) removes its temporary file and is a
    :class:`ShardError` of one line, not a traceback."""
    tmp = _temporary(path, os.getpid())
    try:
        with tmp.open("wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)  # the rename itself
        finally:
            os.close(fd)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ShardError(
            f"{path}: cannot write ({exc.strerror or exc}): free some space or choose "
            "another --out, then rerun to resume"
        ) from None


def _remove_stale_temporaries(folder: Path) -> None:
    """Remove the temporary files that a killed run left in ``folder`` (never read, but as
    large as a shard, and every killed run leaves its own). A file whose writer is still
    running on this machine is kept."""
    for tmp in folder.glob(".*.tmp"):
        match = _TEMPORARY.match(tmp.name)
        if match is None or _running(int(match["pid"])):
            continue
        tmp.unlink(missing_ok=True)


def _running(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except OSError:  # exists, but another user's
        return True
    return True


def run_key(
    spec: TrialSpec, physiology_values: Mapping[str, float], params: OutcomeParameters
) -> dict[str, Any]:
    """What a shard's numbers depend on besides its people: a file from another run (another
    spec, seed, version or parameters) is never reused."""
    # In the spec's own order: the order of a `choices` mapping changes who draws what.
    spec_text = json.dumps(spec.raw, default=str)
    values = json.dumps(
        {"physiology": dict(physiology_values), "outcomes": dict(params.values)},
        sort_keys=True,
        default=str,
    )
    return {
        "spec_sha256": _sha256(spec_text.encode("utf-8")),
        "seed": spec.seed,
        "sermsim_version": __version__,
        "parameters_sha256": parameters_sha256(),
        "parameter_values_sha256": _sha256(values.encode("utf-8")),
        "records_format": RECORDS_FORMAT,
    }


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def _write_with_sidecar(path: Path, data: bytes, about: Mapping[str, Any]) -> None:
    _write_atomic(path, data)
    sidecar = {"file": path.name, "sha256": _sha256(data), **about}
    _write_atomic(_sidecar(path), (json.dumps(sidecar, indent=1) + "\n").encode("utf-8"))


def _read_checked(path: Path, about: Mapping[str, Any]) -> tuple[bytes | None, str]:
    """The file's bytes if it is complete and belongs to this run, else (None, why not)."""
    if not path.exists():
        return None, "missing"
    try:
        sidecar = json.loads(_sidecar(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        sidecar = None
    if not isinstance(sidecar, dict):  # missing, cut short, or JSON that is not ours
        return None, "no valid checksum beside it (interrupted while written?)"
    if any(sidecar.get(k) != v for k, v in about.items()):
        return None, "from another run (spec, seed, version or parameters differ)"
    try:
        data = path.read_bytes()
    except OSError as exc:
        return None, f"unreadable ({exc.strerror})"
    if _sha256(data) != sidecar.get("sha256"):
        return None, "checksum mismatch (corrupt or changed)"
    return data, "ok"


# ---------------------------------------------------------------------------------------------
# The anchors' physiology on disk


def physiology_to_npz(physiology: AnchorPhysiology) -> bytes:
    layout: dict[str, Any] = {
        "n_anchors": physiology.n_anchors,
        "untreated": sorted(physiology.untreated),
        "treated": [[label, years, sorted(d)] for (label, years), d in physiology.treated.items()],
        "arms": list(physiology.assignment),
        "failures": [[int(a), why] for a, why in sorted(physiology.failures.items())],
    }
    arrays: dict[str, Any] = {"layout": np.asarray(json.dumps(layout))}
    for i, name in enumerate(layout["untreated"]):
        arrays[f"untreated_{i}"] = physiology.untreated[name]
    for j, (label, years, names) in enumerate(layout["treated"]):
        for i, name in enumerate(names):
            arrays[f"treated_{j}_{i}"] = physiology.treated[(label, years)][name]
    for a, arm in enumerate(layout["arms"]):
        arrays[f"assignment_{a}"] = physiology.assignment[arm]
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def physiology_from_npz(data: bytes) -> AnchorPhysiology:
    with np.load(io.BytesIO(data), allow_pickle=False) as z:
        layout = json.loads(str(z["layout"]))
        untreated = {name: z[f"untreated_{i}"] for i, name in enumerate(layout["untreated"])}
        treated = {
            (label, float(years)): {name: z[f"treated_{j}_{i}"] for i, name in enumerate(names)}
            for j, (label, years, names) in enumerate(layout["treated"])
        }
        assignment = {arm: z[f"assignment_{a}"] for a, arm in enumerate(layout["arms"])}
    failures = {int(a): str(why) for a, why in layout["failures"]}
    return AnchorPhysiology(int(layout["n_anchors"]), untreated, treated, assignment, failures)


# ---------------------------------------------------------------------------------------------
# The run


def check_shards(shards: int, spec: TrialSpec) -> None:
    """A shard count must be a whole number from 1 to the people per arm."""
    if shards < 1:
        raise SpecError("shards", shards, "give a whole number of shards >= 1")
    if shards > spec.n_per_arm:
        raise SpecError(
            "shards", shards, f"give at most n_per_arm ({spec.n_per_arm}) shards: one person each"
        )


def run_sharded(
    spec: TrialSpec,
    out: Path,
    shards: int,
    *,
    engine: Engine | None = None,
    params: OutcomeParameters | None = None,
    progress: Progress | None = None,
    notice: Notice | None = None,
    runner: ShardRunner = run_here,
    chunk_people: int = CHUNK_PEOPLE,
    ensemble: Ensemble | None = None,
) -> TrialOutcome:
    """Run a trial in ``shards`` slices of every arm, keeping each slice's records in
    ``out/shards`` (resuming from what is there), and join them into the
    :class:`~sermsim.trials.run.TrialOutcome` an unsharded run gives. ``runner`` runs the
    shards (:func:`run_here`, or on Dask: :func:`sermsim.trials.cluster.dask_runner`);
    ``notice`` hears about reused and recomputed files; ``ensemble`` adds parameter
    uncertainty as in :func:`~sermsim.trials.run.run_trial` (here, after the shards join)."""
    # The physiology engine and the unsharded run's pieces are imported here, not at the top:
    # a worker that unpickles compute_shard then needs no JAX.
    from sermsim.physiology.simulate import default_engine
    from sermsim.trials.anchors import anchor_physiology
    from sermsim.trials.run import draw_populations, trial_outcome

    check_shards(shards, spec)
    started = time.perf_counter()
    say = notice or (lambda _message: None)
    engine = engine or default_engine()
    params = params or default_outcome_parameters()
    values = engine.physiology.values
    folder = out / SHARD_FOLDER
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SpecError(
            "out", str(out), f"choose a folder you can write ({exc.strerror})"
        ) from None
    _remove_stale_temporaries(folder)
    key = run_key(spec, values, params)
    if progress:
        progress("drawing the populations", 0.0)
    pops = draw_populations(spec, values)
    physiology_path = folder / PHYSIOLOGY_FILE
    data, why = _read_checked(physiology_path, {"run": key})
    if data is not None:
        physiology = physiology_from_npz(data)
        say(f"reusing the anchors' physiology in {physiology_path}")
    else:
        if why != "missing":
            say(f"{physiology_path}: {why}; recomputing")
        physiology = anchor_physiology(
            spec, pops, engine, outcome_grid(spec.duration_years), progress
        )
        _write_with_sidecar(physiology_path, physiology_to_npz(physiology), {"run": key})
    tasks = shard_tasks(spec, shards)
    todo = []
    for task in tasks:
        data, why = _read_checked(folder / task.file_name, _about(task, key))
        if data is None:
            todo.append(task)
            if why != "missing":
                say(f"{folder / task.file_name}: {why}; recomputing")
    if len(todo) < len(tasks):
        say(f"reusing {len(tasks) - len(todo)} of {len(tasks)} shards in {folder}")
    inputs = ShardInputs(
        dict(spec.raw), load_agents(), physiology, dict(values), params, chunk_people
    )
    done = len(tasks) - len(todo)
    if progress:
        progress(f"shards: {done}/{len(tasks)} done", 0.3)
    for task, result in runner(inputs, todo):
        _write_with_sidecar(folder / task.file_name, result, _about(task, key))
        done += 1
        if progress:
            progress(
                f"shards: {done}/{len(tasks)} done ({task.arm} {task.k + 1}/{task.of})",
                0.3 + 0.65 * done / len(tasks),
            )
    records: dict[str, ArmRecords] = {}
    for arm in spec.arms:
        parts = []
        for task in (t for t in tasks if t.arm == arm.name):
            data, why = _read_checked(folder / task.file_name, _about(task, key))
            if data is None:
                raise ShardError(f"{folder / task.file_name}: {why} after the run; rerun it")
            part = records_from_parquet(data)
            if not np.array_equal(part.draw_index, pops[arm.name].index[task.start : task.stop]):
                raise ShardError(f"{folder / task.file_name}: not these people; delete it, rerun")
            parts.append(part)
        records[arm.name] = join_records(parts)
    outcome = trial_outcome(
        spec,
        pops,
        records,
        physiology,
        values,
        params,
        started,
        ensemble=ensemble,
        progress=progress,
    )
    if progress:
        progress("done", 1.0)
    return outcome


def _about(task: ShardTask, key: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "arm": task.arm,
        "shard": task.k,
        "shards": task.of,
        "start": task.start,
        "stop": task.stop,
        "run": dict(key),
    }
