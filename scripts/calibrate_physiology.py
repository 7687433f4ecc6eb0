"""Fit the free physiology parameters to data/physiology_targets.yaml, block by block.

Each block's parameters are shared across agents and trials (no parameter belongs to one
trial); its targets are the published results in ../shared/calibration (drug effects) and the
natural-history measurements named in the targets file. Targets marked ``check_only`` are not
fitted: they are predictions the tests check.

    python scripts/calibrate_physiology.py [--blocks bone liver ...] [--write]

Least squares (SciPy, finite differences) on (simulated - published) / half-width of the
interval, each parameter within bounds. ``--write`` puts the fitted values into
data/physiology.yaml (keeping its comments). Research and education only; not medical advice.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from scipy.optimize import least_squares

from sermsim.core.params import data_dir
from sermsim.physiology.simulate import default_engine
from sermsim.physiology.targets import Cache, evaluate, load_targets

# Free parameters per block, with bounds (the bounds are search limits, not science).
BLOCKS: dict[str, dict[str, tuple[float, float]]] = {
    "bone": {
        "bone.withdrawal_overshoot": (0.0, 30.0),
        "bone.imbalance_postmenopausal": (0.002, 0.5),
        "time_scales.bone_formation": (10.0, 300.0),
        "time_scales.bone_estrogen_memory": (180.0, 1460.0),
        "bone.postmenopausal_loss_total_hip": (0.4, 1.5),
        "bone.activation_postmenopausal": (1.5, 3.2),
    },
    "liver": {
        "liver.ldl.main": (-3.0, 3.0),
        "liver.ldl.full": (-3.0, 3.0),
        "liver.hdl.full": (-3.0, 3.0),
        "liver.triglycerides.full": (-3.0, 3.0),
        "liver.fibrinogen.main": (-3.0, 3.0),
        "liver.fibrinogen.full": (-3.0, 3.0),
        "liver.full_coactivator_ratio": (0.0001, 1.0),
    },
    "endometrium": {
        "endometrium.growth_max": (1.0, 40.0),
        "endometrium.growth_half_signal": (0.01, 3.0),
    },
    "vagina": {
        "vagina.maturation_exponent": (0.5, 6.0),
        "vagina.superficial_exponent": (0.5, 6.0),
        "vagina.parabasal_postmenopausal": (40.0, 94.0),
    },
    "thermoregulation": {"thermoregulation.half_deficit": (0.02, 5.0)},
    "men": {
        "women.gnrh_hill": (1.0, 6.0),
        "men.hypothalamic_aromatization": (0.0, 0.05),
        "men.testosterone_feedback_half": (100.0, 20000.0),
        "men.testis_lh_half_saturation": (0.5, 50.0),
    },
}


def fit_block(
    block: str, earlier: dict[str, float] | None = None, verbose: bool = True
) -> dict[str, float]:
    """Fit one block, on top of the values ``earlier`` blocks of this run have fitted."""
    base = default_engine().with_overrides(earlier or {})
    names = list(BLOCKS[block])
    lo = np.array([BLOCKS[block][n][0] for n in names])
    hi = np.array([BLOCKS[block][n][1] for n in names])
    x0 = np.clip([base.physiology[n] for n in names], lo, hi)
    targets = [t for t in load_targets([block]) if not t.check_only]

    def residuals(x: np.ndarray) -> np.ndarray:
        values = {**(earlier or {}), **dict(zip(names, map(float, x), strict=True))}
        engine = default_engine().with_overrides(values)
        cache: Cache = {}
        res = []
        for t in targets:
            sim = evaluate(t, engine, cache).simulated
            res.append((sim - t.value) / ((t.high - t.low) / 2.0))
        return np.array(res)

    fit = least_squares(residuals, x0, bounds=(lo, hi), diff_step=1e-3, x_scale="jac")
    fitted = dict(zip(names, map(float, fit.x), strict=True))
    if verbose:
        print(f"[{block}] cost {fit.cost:.4g}", file=sys.stderr)
        for n, v in fitted.items():
            print(f"  {n} = {v:.4g}", file=sys.stderr)
        for t, r in zip(targets, fit.fun, strict=True):
            print(f"  {t.id}: residual {r:+.2f} half-widths", file=sys.stderr)
    return fitted


def _block_of(name: str) -> str:
    for block, params in BLOCKS.items():
        if name in params:
            return block
    raise KeyError(name)


def write(fitted: dict[str, float]) -> None:
    """Put fitted values into data/physiology.yaml; each entry records what it was fitted to
    (its block's targets), and an entry that was a prior keeps that source as a note."""
    from ruamel.yaml import YAML

    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 4096
    path: Path = data_dir() / "physiology.yaml"
    doc = yaml.load(path)
    for name, value in fitted.items():
        node = doc
        for part in name.split("."):
            node = node[part]
        block = _block_of(name)
        ids = [t.id for t in load_targets([block]) if not t.check_only]
        if node.get("source") != "calibrated":
            prior = f"prior before calibration: {node.get('source')}"
            if node.get("derived"):
                prior += f" (derived: {node.pop('derived')})"
            node["note"] = f"{node['note']}; {prior}" if node.get("note") else prior
            node["source"] = "calibrated"
        node["verified"] = False  # a fitted value is not a value read in a source
        node["calibrated_to"] = f"data/physiology_targets.yaml, block {block}: {', '.join(ids)}"
        node["value"] = float(f"{value:.4g}")
    with path.open("w", encoding="utf-8") as fh:
        yaml.dump(doc, fh)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", nargs="*", default=list(BLOCKS), choices=list(BLOCKS))
    parser.add_argument("--write", action="store_true", help="write into data/physiology.yaml")
    parser.add_argument("--save", type=Path, help="also save the fitted values as JSON here")
    parser.add_argument("--load", type=Path, nargs="*", default=[], help="write these instead")
    args = parser.parse_args()
    fitted: dict[str, float] = {}
    for path in args.load:
        fitted.update(json.loads(path.read_text()))
    if not args.load:
        for block in args.blocks:
            fitted.update(fit_block(block, fitted))
    if args.save:
        args.save.write_text(json.dumps(fitted, indent=2))
    if args.write:
        write(fitted)
        print(f"wrote {len(fitted)} values to data/physiology.yaml", file=sys.stderr)


if __name__ == "__main__":
    main()
