"""A trial of 10^6 people over 5 years, in shards: wall time and peak memory.

    .venv/bin/python benchmarks/trial_scale.py [--people 1000000] [--shards 10]
        [--dask-local 2] [--out out/trial_scale]

The spec is examples/flagship_trial.yaml (five arms, 13 event and 6 continuous endpoints,
5 years) with ``n_per_arm`` = people / 5. The physiology is simulated for the spec's 32
anchors (see sermsim.trials.anchors); every person gets their own baseline risks, hazards,
sampled events and expectations, worked out per shard (``--shards`` slices of each arm) and
in blocks of people (sermsim.trials.records.CHUNK_PEOPLE), on ``--dask-local`` worker
processes (0: in this process). The shard folder is removed first, so nothing is reused.

Prints JSON: wall time per stage, and peak resident memory of this process
(getrusage RUSAGE_SELF), of its largest finished child process (RUSAGE_CHILDREN: the Dask
workers), and of the whole process tree sampled every 0.2 s (the sum over processes that
were alive together). A benchmark, not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import threading
import time
from contextlib import nullcontext, suppress
from pathlib import Path
from typing import Any

import psutil
import yaml

from sermsim.agents import load_agents
from sermsim.trials.shards import SHARD_FOLDER, run_here, run_sharded
from sermsim.trials.spec import parse_trial

FLAGSHIP = Path(__file__).resolve().parents[1] / "examples" / "flagship_trial.yaml"
SAMPLE_EVERY_S = 0.2  # how often the process tree's memory is sampled


class TreeMemory:
    """The peak of the summed resident memory of this process and its descendants."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            total = 0
            for p in [me, *me.children(recursive=True)]:
                with suppress(psutil.Error):
                    total += p.memory_info().rss
            self.peak = max(self.peak, total)
            self._stop.wait(SAMPLE_EVERY_S)

    def __enter__(self) -> TreeMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--people", type=int, default=1_000_000)
    parser.add_argument("--shards", type=int, default=10)
    parser.add_argument("--dask-local", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("out/trial_scale"))
    args = parser.parse_args()
    raw: dict[str, Any] = yaml.safe_load(FLAGSHIP.read_text(encoding="utf-8"))
    arms = len(raw["arms"])
    raw["population"]["n_per_arm"] = args.people // arms
    spec = parse_trial(raw, load_agents())
    shutil.rmtree(args.out / SHARD_FOLDER, ignore_errors=True)
    marks: list[tuple[str, float]] = []
    start = time.perf_counter()

    def progress(message: str, _fraction: float) -> None:
        marks.append((message, time.perf_counter() - start))

    if args.dask_local:
        from sermsim.trials.cluster import dask_shards

        context: Any = dask_shards(local_workers=args.dask_local)
    else:
        context = nullcontext(run_here)
    with TreeMemory() as tree:
        with context as runner:
            cluster_s = time.perf_counter() - start
            outcome = run_sharded(spec, args.out, args.shards, progress=progress, runner=runner)
        total = time.perf_counter() - start
    first: dict[str, float] = {}  # when each stage began
    for m, t in marks:
        first.setdefault(m.split(":")[0], t)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "result.json").write_text(json.dumps(outcome.result, indent=2) + "\n")
    kib = 1024
    print(
        json.dumps(
            {
                "people": spec.n_per_arm * len(spec.arms),
                "arms": len(spec.arms),
                "n_per_arm": spec.n_per_arm,
                "years": spec.duration_years,
                "endpoints": len(spec.endpoints),
                "anchors": outcome.result["provenance"]["physiology_anchors"],
                "shards_per_arm": args.shards,
                "dask_local_workers": args.dask_local,
                "cpu_count": len(os.sched_getaffinity(0)),
                "wall_s": round(total, 1),
                "cluster_start_s": round(cluster_s, 1),
                "populations_and_physiology_s": round(
                    first.get("shards", total) - first.get("drawing the populations", 0.0), 1
                ),
                "shards_and_join_s": round(
                    first.get("done", total) - first.get("shards", total), 1
                ),
                "peak_rss_self_mib": round(
                    resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / kib
                ),
                "peak_rss_largest_child_mib": round(
                    resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / kib
                ),
                "peak_rss_process_tree_mib": round(tree.peak / kib**2),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
