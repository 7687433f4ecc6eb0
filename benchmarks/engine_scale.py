"""How the population engine's cost grows with the number of people and the horizon.

    .venv/bin/python benchmarks/engine_scale.py [--out docs]

Throughput of the treatment phase (daily raloxifene, every module, monthly saves of the trial
drivers) against population size (10^2 .. 10^5 people, 1 year) and against horizon (1 .. 20
years, 1,000 people), and the drug-free run-in (12 years a person) against population size up
to 10^4. Compilation is timed apart (lower + compile) and not in the throughput. Writes
``engine_scale.json`` and ``figures/engine_scale.png`` under ``--out``. Timings are this
machine's at this moment; sermsim is for research and education, not medical advice.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from sermsim import DISCLAIMER
from sermsim.agents import parse_regimen
from sermsim.core.units import DAYS_PER_YEAR
from sermsim.interfaces.bench import bench_population, cores
from sermsim.physiology import integrate, simulate
from sermsim.physiology.simulate import default_engine
from sermsim.trials.anchors import DRIVER_OUTPUTS

OUTPUTS = DRIVER_OUTPUTS  # what a trial reads of the physiology
CHUNK = 10_000  # people per compiled call: bounded memory at any population size


def treatment_seconds(people, engine, years: float) -> tuple[float, float]:
    """(compile seconds, run seconds) of the treatment phase for ``people``, in chunks."""
    regimen = parse_regimen("raloxifene:60", engine.agents)
    grid = integrate.grid_for(years * DAYS_PER_YEAR, DAYS_PER_YEAR / 12)
    compile_s = run_s = 0.0
    compiled = {}
    for start in range(0, len(people), CHUNK):
        chunk = people[start : start + CHUNK]
        args = simulate.batch_arguments(chunk, regimen, engine)
        pk = simulate.batch_pk(chunk, regimen, engine, grid.n_days)
        y0 = jnp.asarray(np.stack([simulate.start_state(p, engine) for p in chunk]))
        if len(chunk) not in compiled:
            t = time.perf_counter()
            compiled[len(chunk)] = integrate.treat_batch.lower(
                args, pk, y0, grid.n_saves, grid.stride, OUTPUTS
            ).compile()
            compile_s += time.perf_counter() - t
        t = time.perf_counter()
        jax.block_until_ready(compiled[len(chunk)](args, pk, y0))
        run_s += time.perf_counter() - t
    return compile_s, run_s


def run_in_seconds(people, engine) -> float:
    args = simulate.batch_arguments(people, (), engine)
    y0 = jnp.asarray(np.stack([simulate.start_state(p, engine) for p in people]))
    t0 = jnp.asarray(-simulate.RUN_IN_YEARS * DAYS_PER_YEAR)
    steps = integrate.run_in_steps(simulate.RUN_IN_YEARS)
    f = integrate.run_in_batch.lower(args, y0, t0, steps).compile()
    t = time.perf_counter()
    jax.block_until_ready(f(args, y0, t0))
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="docs")
    ap.add_argument("--max-people", type=int, default=100_000)
    a = ap.parse_args()
    engine = default_engine()
    everyone = bench_population(a.max_people, engine)
    sizes = [n for n in (100, 1_000, 10_000, 100_000) if n <= a.max_people]
    by_size = []
    for n in sizes:
        c, r = treatment_seconds(everyone[:n], engine, 1.0)
        ri = run_in_seconds(everyone[:n], engine) if n <= 10_000 else None
        by_size.append({"people": n, "years": 1, "compile_s": c, "treatment_s": r, "run_in_s": ri})
        print(json.dumps(by_size[-1]), flush=True)
    by_years = []
    for years in (1, 2, 5, 10, 20):
        c, r = treatment_seconds(everyone[:1000], engine, years)
        by_years.append({"people": 1000, "years": years, "compile_s": c, "treatment_s": r})
        print(json.dumps(by_years[-1]), flush=True)
    result = {
        "machine": {
            "cores": cores(),
            "cpu_count": os.cpu_count(),
            "backend": jax.default_backend(),
        },
        "by_size": by_size,
        "by_years": by_years,
        "disclaimer": DISCLAIMER,
    }
    out = Path(a.out)
    (out / "figures").mkdir(parents=True, exist_ok=True)
    (out / "engine_scale.json").write_text(json.dumps(result, indent=2) + "\n")
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    n = np.array([r["people"] for r in by_size], float)
    s = np.array([r["treatment_s"] for r in by_size])
    ax1.loglog(n, s, "o-", label="treatment, 1 year")
    ri = [(r["people"], r["run_in_s"]) for r in by_size if r["run_in_s"] is not None]
    if ri:
        ax1.loglog(*zip(*ri, strict=True), "s--", label="run-in, 12 years")
    ax1.loglog(n, s[-1] * n / n[-1], ":", color="grey", label="linear")
    ax1.set_xlabel("people")
    ax1.set_ylabel("seconds")
    ax1.legend()
    y = np.array([r["years"] for r in by_years], float)
    t = np.array([r["treatment_s"] for r in by_years])
    ax2.plot(y, t, "o-", label="treatment, 1,000 people")
    ax2.plot(y, t[-1] * y / y[-1], ":", color="grey", label="linear")
    ax2.set_xlabel("years")
    ax2.set_ylabel("seconds")
    ax2.legend()
    fig.suptitle(f"sermsim engine cost ({cores()} cores; compile excluded). Not medical advice.")
    fig.tight_layout()
    fig.savefig(out / "figures" / "engine_scale.png", dpi=110)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
