"""Physiology targets (``data/physiology_targets.yaml``): published results each evaluated
through :func:`~sermsim.physiology.simulate.simulate`, for the tests, the calibration script and
``sermsim validate`` later."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import xarray as xr

from sermsim.agents.regimen import parse_regimen
from sermsim.core.params import data_dir, load_yaml
from sermsim.core.units import DAYS_PER_YEAR
from sermsim.physiology.patient import patient_from_mapping
from sermsim.physiology.simulate import Engine, default_engine, simulate


@dataclass(frozen=True)
class Target:
    id: str
    block: str
    patient: dict[str, Any]
    regimen: str
    reference: str | None
    years: float
    quantity: dict[str, Any]
    value: float
    low: float
    high: float
    source: str
    check_only: bool = False


@dataclass(frozen=True)
class Outcome:
    target: Target
    simulated: float

    @property
    def within(self) -> bool:
        return self.target.low <= self.simulated <= self.target.high


def load_targets(blocks: Iterable[str] | None = None) -> list[Target]:
    raw = load_yaml(data_dir() / "physiology_targets.yaml")["targets"]
    wanted = set(blocks) if blocks is not None else None
    out = []
    for t in raw:
        if wanted is not None and t["block"] not in wanted:
            continue
        out.append(
            Target(
                id=t["id"],
                block=t["block"],
                patient=dict(t["patient"]),
                regimen=t["regimen"],
                reference=t.get("reference"),
                years=float(t["years"]),
                quantity=dict(t["quantity"]),
                value=float(t["published"]),
                low=float(t["low"]),
                high=float(t["high"]),
                source=t["source"],
                check_only=bool(t.get("check_only", False)),
            )
        )
    return out


def _index(ds: xr.Dataset, year: float) -> int:
    return min(round(year * DAYS_PER_YEAR), ds.sizes["time"] - 1)


def measure(ds: xr.Dataset, quantity: dict[str, Any]) -> float:
    """The quantity of one arm: its change, percent change, or value."""
    x = ds[quantity["biomarker"]].values
    kind = quantity["kind"]
    if kind == "pct_change":
        return float(100.0 * (x[-1] / x[0] - 1.0))
    if kind == "change":
        return float(x[-1] - x[0])
    if kind in ("value_end", "ratio"):
        return float(x[-1])
    if kind == "value_at":
        return float(x[_index(ds, quantity["at_year"])])
    if kind == "pct_change_window":
        a, b = x[_index(ds, quantity["from_year"])], x[_index(ds, quantity["to_year"])]
        return float(100.0 * (b / a - 1.0))
    raise ValueError(f"unknown quantity kind {kind!r}")


Cache = dict[tuple[str, str, float], xr.Dataset]


def _arm(target: Target, regimen: str, engine: Engine, cache: Cache | None) -> xr.Dataset:
    key = (repr(sorted(target.patient.items())), regimen, target.years)
    if cache is not None and key in cache:
        return cache[key]
    patient = patient_from_mapping(target.patient)
    ds = simulate(patient, parse_regimen(regimen, engine.agents), target.years, engine=engine)
    if cache is not None:
        cache[key] = ds
    return ds


def evaluate(target: Target, engine: Engine | None = None, cache: Cache | None = None) -> Outcome:
    """Simulate the target's arm (and reference arm) and measure it. Arms already simulated
    for the same person, regimen and duration are taken from ``cache`` when one is given."""
    engine = engine or default_engine()
    value = measure(_arm(target, target.regimen, engine, cache), target.quantity)
    if target.reference is not None:
        ref_value = measure(_arm(target, target.reference, engine, cache), target.quantity)
        value = value / ref_value if target.quantity["kind"] == "ratio" else value - ref_value
    if not np.isfinite(value):
        raise ValueError(f"target {target.id}: simulated value is not finite")
    return Outcome(target, value)


def evaluate_all(
    blocks: Iterable[str] | None = None, engine: Engine | None = None
) -> list[Outcome]:
    engine = engine or default_engine()
    cache: Cache = {}
    return [evaluate(t, engine, cache) for t in load_targets(blocks)]
