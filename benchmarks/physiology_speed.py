"""How long one patient takes: a 10-year simulation with daily dosing (issue 3's benchmark).

    .venv/bin/python benchmarks/physiology_speed.py [--years 10] [--regimen raloxifene:60]

Prints the first call (compile + run) and the median of repeated runs after compilation, split
into the exact PK (drug input), the ODE solve and the labelled result. Timings are of this
machine at this moment; the README records them with the machine named.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import jax.numpy as jnp

from sermsim.agents import parse_regimen
from sermsim.core.units import DAYS_PER_YEAR
from sermsim.physiology.patient import patient_from_mapping
from sermsim.physiology.simulate import (
    RUN_IN_YEARS,
    _solve,
    default_engine,
    simulate,
    solve_arguments,
)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--years", type=float, default=10.0)
    parser.add_argument("--regimen", default="raloxifene:60")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    engine = default_engine()
    patient = patient_from_mapping(
        {"sex": "female", "age": 55, "menopause": "post", "years_since_menopause": 4}
    )
    regimen = parse_regimen(args.regimen, engine.agents)

    t = time.perf_counter()
    simulate(patient, regimen, args.years, engine=engine)
    first = time.perf_counter() - t

    total, pk, ode = [], [], []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        simulate(patient, regimen, args.years, engine=engine)
        total.append(time.perf_counter() - t0)
        t1 = time.perf_counter()
        a, y0, _, n = solve_arguments(patient, regimen, args.years, engine)
        t2 = time.perf_counter()
        ts = jnp.arange(n + 1, dtype=jnp.float64)
        ys, _, _, steps = _solve(a, jnp.asarray(y0), jnp.asarray(-RUN_IN_YEARS * DAYS_PER_YEAR), ts)
        ys.block_until_ready()
        t3 = time.perf_counter()
        pk.append(t2 - t1)
        ode.append(t3 - t2)
    print(
        json.dumps(
            {
                "regimen": args.regimen,
                "years": args.years,
                "run_in_years": RUN_IN_YEARS,
                "first_call_s (compile + run)": round(first, 2),
                "per_patient_s (median)": round(statistics.median(total), 3),
                "drug_input_s (exact PK)": round(statistics.median(pk), 3),
                "ode_solve_s": round(statistics.median(ode), 3),
                "solver_steps (run-in + years)": int(steps),
                "cpu_count": os.cpu_count(),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
