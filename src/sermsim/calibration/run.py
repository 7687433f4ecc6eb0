"""``sermsim calibrate``: fit the free parameters, report the fit per target, write the fitted
parameter file (each entry saying what it was fitted to) and, optionally, the ensemble."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from sermsim import DISCLAIMER, __version__
from sermsim.calibration.ensemble import laplace_ensemble, posterior_document
from sermsim.calibration.fit import BlockFit, atomic_write, calibrate, jacobian
from sermsim.calibration.free import LAYERS, Block, load_blocks, shipped_values
from sermsim.calibration.objective import BlockProblem, TargetFit, objective
from sermsim.calibration.write import calibrated_to, write_values
from sermsim.core.errors import SpecError
from sermsim.outcomes.parameters import raw_outcomes
from sermsim.physiology.parameters import raw_physiology

Progress = Callable[[str, float], None]

# How close a refit must come back to the shipped fit for the check in the result (the
# calibration issue's acceptance rule): objective within 5 %.
OBJECTIVE_TOLERANCE = 0.05


@dataclass(frozen=True)
class Settings:
    registry: Path | None = None
    blocks: tuple[str, ...] | None = None
    people_per_arm: int | None = None
    starts: int = 1
    seed: int = 0
    perturb: float = 0.0
    fit: bool = True
    members: int = 0
    write: bool = False  # put the fitted values into the shipped data files

    def as_json(self) -> dict[str, Any]:
        return {
            "registry": str(self.registry)
            if self.registry
            else "data/calibration/free_parameters.yaml",
            "blocks": list(self.blocks) if self.blocks else None,
            "people_per_arm": self.people_per_arm,
            "starts": self.starts,
            "seed": self.seed,
            "perturb": self.perturb,
            "fit": self.fit,
            "ensemble_members": self.members,
            "write": self.write,
        }


def select_blocks(registry: Path | None, names: Sequence[str] | None) -> dict[str, Block]:
    """The chosen blocks (all by default) in fitting order: physiology blocks first, so that
    outcome blocks simulate their anchors with the physiology this run has fitted."""
    blocks = load_blocks(registry)
    unknown = [n for n in names or () if n not in blocks]
    if unknown:
        raise SpecError("blocks", unknown[0], f"choose from {', '.join(blocks)}")
    chosen = [b for n, b in blocks.items() if not names or n in names]
    chosen.sort(key=lambda b: LAYERS.index(b.layer) if b.layer != "physiology" else -1)
    return {b.name: b for b in chosen}


def perturbed_start(
    blocks: Mapping[str, Block], shipped: Mapping[str, float], fraction: float, seed: int
) -> dict[str, float]:
    """Each free parameter moved by ``fraction`` of its value up or down (a sign drawn with
    ``seed``; the other way where that would leave the bounds); a parameter at 0 moves by
    ``fraction`` of its prior sd."""
    start = dict(shipped)
    if fraction == 0:
        return start
    rng = np.random.default_rng(seed)
    for block in blocks.values():
        for p in block.parameters:
            sign = float(rng.choice([-1.0, 1.0]))
            v = shipped[p.name]
            step = fraction * abs(v) if v != 0 else fraction * p.prior_sd
            if not p.lower <= v + sign * step <= p.upper:
                sign = -sign
            start[p.name] = p.clip(v + sign * step)
    return start


def _shipped_fits(
    blocks: Mapping[str, Block], shipped: Mapping[str, float], people_per_arm: int | None
) -> dict[str, list[TargetFit]]:
    out = {}
    for name, block in blocks.items():
        problem = BlockProblem(block, base=shipped, people_per_arm=people_per_arm)
        out[name] = problem.evaluate({n: shipped[n] for n in block.names})
    return out


def _at_start(
    blocks: Mapping[str, Block],
    start: Mapping[str, float],
    people_per_arm: int | None,
    progress: Progress | None,
) -> list[BlockFit]:
    """No fit: the targets and the Jacobian at ``start`` (for an ensemble around the shipped
    values)."""
    fits = []
    for i, (name, block) in enumerate(blocks.items()):
        if progress:
            progress(f"{name} ({i + 1}/{len(blocks)})", i / len(blocks))
        problem = BlockProblem(block, base=start, people_per_arm=people_per_arm)
        values = {n: start[n] for n in block.names}
        fits_here = problem.evaluate(values)
        jac = jacobian(problem, values, at=fits_here)
        obj = objective(fits_here)
        fits.append(
            BlockFit(
                name, values, values, obj, obj, fits_here, jac.tolist(), problem.evaluations, 0.0
            )
        )
    return fits


def _node(raw: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    node: Any = raw
    for part in name.split("."):
        node = node[part]
    return dict(node)


def parameter_file(fits: Sequence[BlockFit], blocks: Mapping[str, Block]) -> dict[str, Any]:
    """The fitted values as sourced parameters, each saying what it was fitted to."""
    out: dict[str, Any] = {
        "source": f"sermsim {__version__} calibrate, {dt.date.today().isoformat()}",
        "verified": False,
        "outcomes": {},
        "physiology": {},
    }
    for fit in fits:
        block = blocks[fit.block]
        raw = raw_outcomes() if block.layer == "outcomes" else raw_physiology()
        fitted_to = calibrated_to(block)
        for name, value in fit.values.items():
            node = out[block.layer]
            *parents, leaf = name.split(".")
            for part in parents:
                node = node.setdefault(part, {})
            node[leaf] = {
                "value": float(f"{value:.6g}"),
                "unit": _node(raw, name).get("unit", ""),
                "source": "calibrated",
                "calibrated_to": fitted_to,
                "verified": False,
                "note": f"block {block.name}; objective {fit.objective:.4g} (0.5 sum z^2)",
            }
    return out


def _how(settings: Settings) -> str:
    """How a file was built, in words (for the files that get shipped)."""
    where = "at the start values (--no-fit)" if not settings.fit else "at the fit"
    people = (
        f"arms capped at {settings.people_per_arm} people"
        if settings.people_per_arm
        else "the full calibration trials"
    )
    return (
        f"Built {where} by sermsim {__version__} calibrate (settings: "
        f"{json.dumps(settings.as_json(), sort_keys=True)}; {people})."
    )


def run_calibration(
    settings: Settings, out: Path | None = None, progress: Progress | None = None
) -> dict[str, Any]:
    """Fit (or, with ``fit`` off, only evaluate) the selected blocks; the result as JSON."""
    blocks = select_blocks(settings.registry, settings.blocks)
    shipped = shipped_values(path=settings.registry)
    if settings.members > 0 and not any(b.layer == "outcomes" for b in blocks.values()):
        raise SpecError("ensemble", settings.members, "the ensemble needs an outcome block")
    start = perturbed_start(blocks, shipped, settings.perturb, settings.seed)
    if settings.fit:
        fits = calibrate(
            list(blocks.values()),
            start,
            out=out,
            people_per_arm=settings.people_per_arm,
            starts=settings.starts,
            seed=settings.seed,
            progress=progress,
        )
    else:
        fits = _at_start(blocks, start, settings.people_per_arm, progress)
    if not settings.fit and start == shipped:  # --no-fit at the shipped values: same numbers
        reference = {f.block: f.fits for f in fits}
    else:
        reference = _shipped_fits(blocks, shipped, settings.people_per_arm)
    rows = []
    for fit in fits:
        was = {f.id: f for f in reference[fit.block]}
        for f in fit.fits:
            rows.append(
                {
                    **f.as_json(),
                    "shipped_simulated": float(f"{was[f.id].simulated:.5g}"),
                    "shipped_within": was[f.id].within,
                }
            )
    total = sum(f.objective for f in fits)
    shipped_total = sum(objective(v) for v in reference.values())
    met = [r["id"] for r in rows if r["shipped_within"]]
    lost = [r["id"] for r in rows if r["shipped_within"] and not r["within"]]
    result: dict[str, Any] = {
        "settings": settings.as_json(),
        "objective": float(f"{total:.6g}"),
        "shipped_objective": float(f"{shipped_total:.6g}"),
        "check": {
            "objective_ratio": float(f"{total / shipped_total:.6g}") if shipped_total else None,
            "objective_within_5pct": total <= (1 + OBJECTIVE_TOLERANCE) * shipped_total,
            "targets_met_by_shipped": len(met),
            "still_met": len(met) - len(lost),
            "lost": lost,
        },
        "blocks": [
            {
                "block": f.block,
                "layer": blocks[f.block].layer,
                "start": f.start,
                "values": f.values,
                "shipped": {n: shipped[n] for n in blocks[f.block].names},
                "objective": float(f"{f.objective:.6g}"),
                "start_objective": float(f"{f.start_objective:.6g}"),
                "shipped_objective": float(f"{objective(reference[f.block]):.6g}"),
                "evaluations": f.evaluations,
                "seconds": round(f.seconds, 1),
            }
            for f in fits
        ],
        "targets": rows,
        "ensemble": None,
        "disclaimer": DISCLAIMER,
    }
    doc = None
    if settings.members > 0:
        doc = laplace_ensemble(
            fits, blocks, members=settings.members, seed=settings.seed, note=_how(settings)
        )
        result["ensemble"] = {
            "method": doc["method"],
            "members": settings.members,
            "posterior": doc["posterior"],
        }
    if settings.write and settings.fit:
        values = {k: v for f in fits for k, v in f.values.items()}
        result["written"] = [str(p) for p in write_values(values, list(blocks.values()))]
    if out is not None:
        posterior = posterior_document(fits, blocks, note=_how(settings))
        write_outputs(out, result, parameter_file(fits, blocks), doc, posterior)
    return result


def write_outputs(
    out: Path,
    result: Mapping[str, Any],
    params: Mapping[str, Any],
    ensemble: Any,
    posterior: Mapping[str, Any],
) -> list[Path]:
    """fit.json, parameters.yaml, posterior.yaml and (when drawn) ensemble.yaml."""
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "fit.json", out / "parameters.yaml", out / "posterior.yaml"]
    atomic_write(paths[0], json.dumps(result, indent=2, allow_nan=False) + "\n")
    header = f"# {DISCLAIMER}\n"
    atomic_write(paths[1], header + yaml.safe_dump(dict(params), sort_keys=False, width=4096))
    atomic_write(paths[2], header + yaml.safe_dump(dict(posterior), sort_keys=False, width=4096))
    if ensemble is not None:
        paths.append(out / "ensemble.yaml")
        atomic_write(paths[-1], header + yaml.safe_dump(ensemble, sort_keys=False, width=4096))
    return paths
