"""How long a virtual trial takes: 10,000 people x 5 years with every endpoint (issue 4's
benchmark), split into drawing the populations, the anchors' physiology, and the hazards.

    .venv/bin/python benchmarks/trial_speed.py [--patients 10000] [--years 5] [--anchors 48]

Prints the first run (JIT compilation included) and a second run in the same process. The
physiology is simulated for the anchors only (see sermsim.trials.run); every person gets
their own baseline risks, hazards and sampled events. Timings are this machine's at this
moment; run it under `taskset -c 0,1` to mimic the 2-core CI machine.
"""

from __future__ import annotations

import argparse
import json
import os
import time

from sermsim.agents import load_agents
from sermsim.trials.endpoints import CONTINUOUS, EVENTS
from sermsim.trials.run import run_trial
from sermsim.trials.spec import parse_trial


def spec(patients: int, years: float, anchors: int) -> dict:
    continuous = [{"name": name, "at_years": years} for name in CONTINUOUS]
    return {
        "name": "benchmark",
        "seed": 1,
        "duration_years": years,
        "physiology_anchors": anchors,
        "population": {
            "sex": "female",
            "n_per_arm": patients // 2,
            "age": {"distribution": "normal", "mean": 63, "sd": 7, "min": 50, "max": 80},
            "menopause": "post",
            "uterus": {"fraction_true": 0.7},
            "bmd_t_score_spine": {"distribution": "normal", "mean": -1.5, "sd": 1.0},
            "breast_cancer_5y_risk": {"distribution": "lognormal", "median": 0.02, "sd_log": 0.4},
        },
        "arms": [
            {"name": "placebo", "regimen": []},
            {"name": "raloxifene", "regimen": [{"agent": "raloxifene", "dose_mg": 60}]},
        ],
        "endpoints": [*EVENTS, *continuous[:-4]],  # women's endpoints (not testosterone etc.)
        "comparisons": [{"arm": "raloxifene", "reference": "placebo"}],
    }


def timed(raw: dict) -> dict[str, float]:
    marks: list[tuple[str, float]] = []
    start = time.perf_counter()

    def progress(message: str, _fraction: float) -> None:
        marks.append((message.split(":")[0], time.perf_counter() - start))

    run_trial(parse_trial(raw, load_agents()), progress=progress)
    total = time.perf_counter() - start
    at = dict(marks)
    return {
        "total_s": round(total, 2),
        "populations_s": round(
            at.get("physiology", total) - at.get("drawing the populations", 0), 2
        ),
        "physiology_s": round(at.get("hazards and events", total) - at.get("physiology", 0), 2),
        "hazards_events_s": round(total - at.get("hazards and events", total), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--years", type=float, default=5.0)
    parser.add_argument("--anchors", type=int, default=48)
    args = parser.parse_args()
    raw = spec(args.patients, args.years, args.anchors)
    first = timed(raw)
    second = timed(raw)
    print(
        json.dumps(
            {
                "patients": args.patients,
                "years": args.years,
                "anchors": args.anchors,
                "endpoints": len(raw["endpoints"]),
                "cpu_count": len(os.sched_getaffinity(0)),
                "first_run_with_compilation": first,
                "second_run": second,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
