"""Fit the outcome links (data/outcomes/outcomes.yaml, entries with source "calibrated") to
their targets in data/validation/targets.yaml (those marked `fitted`), block by block.

Only clinical outcomes of ../shared/calibration/trials.yaml are fitted; every other target is a
prediction. The fit compares the model's expectations (no sampling noise) with the published
values, in units of each target's 95 % half-width (on the log scale for ratios). The physiology
of each trial's anchors is simulated once and reused: only the hazards are recomputed.

    python scripts/calibrate_outcomes.py [--blocks breast vte ...] [--write] [--save F.json]
"""

from __future__ import annotations

import argparse
import json
import math
import pickle
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import least_squares

from sermsim.core.params import data_dir
from sermsim.outcomes.parameters import load_outcome_parameters
from sermsim.trials.validate import Comparison, load_targets, run_validation

# block: (parameters with bounds, targets)
BLOCKS: dict[str, tuple[dict[str, tuple[float, float]], list[str]]] = {
    "breast": (
        {"breast.growth_neutral_signal": (-3.0, -0.2), "breast.regression_rate": (0.0, 3.0)},
        ["p1_erpos_rr", "more_erpos_rr", "p1_ibc_rr", "p1_2005_ibc_rr"],
    ),
    "vertebral": (
        {
            "fracture.vertebral_incidence_at_65": (1.0, 40.0),
            "fracture.turnover_vertebral": (0.0, 3.0),
        },
        ["more_vert_incidence_placebo", "more4_vert_rr_ral60", "more4_vert_rr_ral120"],
    ),
    "nonvertebral": (
        {"fracture.turnover_nonvertebral": (0.0, 2.0)},
        ["more4_nonvert_rr", "p1_osteoporotic_rr", "p1_2005_osteoporotic_rr"],
    ),
    "vte": (
        {"vte.prothrombotic_exponent": (0.2, 3.0), "vte.susceptibility_variance": (0.0, 2000.0)},
        [
            "grady_vte_rr",
            "more_vte_rr_cummings",
            "p1_pe_rr",
            "p1_dvt_rr",
            "vte_tamoxifen_first2y",
            "vte_tamoxifen_after2y",
        ],
    ),
    "stroke": ({"stroke.arterial_exponent": (0.0, 4.0)}, ["p1_stroke_rr"]),
    "endometrium": (
        {
            "endometrium.hyperplasia_per_stimulation": (0.0, 50.0),
            "endometrium.cancer_per_cumulative_stimulation": (0.0, 2.0),
        },
        ["smart4_hyperplasia_ce0625", "smart1_hyperplasia_bza20_ce0625", "p1_endometrial_rr"],
    ),
}
RATIO_KINDS = ("rr", "window_rr")


def residual(c: Comparison) -> float:
    t = c.target
    if t.measure["kind"] in RATIO_KINDS and c.simulated > 0:
        half = 0.5 * (math.log(t.ci_high) - math.log(t.ci_low))
        return (math.log(c.simulated) - math.log(t.published)) / half
    half = 0.5 * (t.ci_high - t.ci_low)
    return (c.simulated - t.published) / half


def fit_block(block: str, carried: dict[str, float], cache: dict[str, Any]) -> dict[str, float]:
    bounds, ids = BLOCKS[block]
    targets = load_targets(ids)
    names = list(bounds)
    base = load_outcome_parameters(carried)
    x0 = np.array([min(max(base[n], bounds[n][0]), bounds[n][1]) for n in names])
    calls = 0

    def f(x: np.ndarray) -> np.ndarray:
        nonlocal calls
        calls += 1
        params = load_outcome_parameters({**carried, **dict(zip(names, x, strict=True))})
        comps = run_validation(targets, params=params, cache=cache)
        return np.array([residual(c) for c in comps])

    started = time.perf_counter()
    fit = least_squares(
        f,
        x0,
        bounds=([bounds[n][0] for n in names], [bounds[n][1] for n in names]),
        x_scale=np.maximum(np.abs(x0), 0.1),
        diff_step=1e-3,
        xtol=1e-4,
        ftol=1e-4,
    )
    result = dict(zip(names, (float(v) for v in fit.x), strict=True))
    params = load_outcome_parameters({**carried, **result})
    for c in run_validation(targets, params=params, cache=cache):
        t = c.target
        flag = "within" if c.within else "OUTSIDE"
        interval = f"[{t.ci_low:g}, {t.ci_high:g}]"
        print(f"  {t.id:30s} {c.simulated:8.4g}  published {t.published:g} {interval} {flag}")
    print(f"{block}: {result} ({calls} evaluations, {time.perf_counter() - started:.0f} s)")
    return result


def write(fitted: dict[str, float]) -> None:
    """Put fitted values into data/outcomes/outcomes.yaml with what they were fitted to."""
    from ruamel.yaml import YAML

    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 4096
    path: Path = data_dir() / "outcomes" / "outcomes.yaml"
    doc = yaml.load(path)
    manifest = {t.id: t for t in load_targets()}
    for name, value in fitted.items():
        node = doc
        for part in name.split("."):
            node = node[part]
        block = next(b for b, (p, _) in BLOCKS.items() if name in p)
        ids = BLOCKS[block][1]
        node["value"] = float(f"{value:.4g}")
        node["source"] = "calibrated"
        node["verified"] = False
        node["calibrated_to"] = "trials.yaml via data/validation/targets.yaml: " + "; ".join(
            f"{manifest[i].trial} {manifest[i].endpoint}" for i in ids
        )
    with path.open("w", encoding="utf-8") as fh:
        yaml.dump(doc, fh)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", nargs="*", default=list(BLOCKS), choices=list(BLOCKS))
    parser.add_argument("--write", action="store_true", help="write into outcomes.yaml")
    parser.add_argument("--save", type=Path, help="also save the fitted values as JSON here")
    parser.add_argument("--load", type=Path, nargs="*", default=[], help="write these instead")
    parser.add_argument("--cache", type=Path, help="pickle of the anchors' physiology (reused)")
    args = parser.parse_args()
    fitted: dict[str, float] = {}
    for path in args.load:
        fitted.update(json.loads(path.read_text()))
    cache: dict[str, Any] = {}
    if args.cache and args.cache.exists():
        cache = pickle.loads(args.cache.read_bytes())
    if not args.load:
        for block in args.blocks:
            fitted.update(fit_block(block, fitted, cache))
            sys.stdout.flush()
    if args.cache:
        args.cache.write_bytes(pickle.dumps(cache))
    if args.save:
        args.save.write_text(json.dumps(fitted, indent=2))
    if args.write:
        write(fitted)


if __name__ == "__main__":
    main()
