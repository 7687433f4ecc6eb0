"""`sermsim validate`: every calibration target of ../shared/calibration/trials.yaml run
through a shipped trial spec, the model's expectation against the published value.

The targets, their specs and the tolerance of each (the published 95 % CI, or a stated
tolerance and why) are in ``data/validation/``. Event endpoints are compared through the
model's expectations (``rr_expected``, expected cumulative incidence), never one noisy draw;
continuous endpoints through means over at least 10 times the trial's size.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from sermsim.agents import load_agents
from sermsim.core.errors import DataError
from sermsim.core.params import data_dir, load_yaml
from sermsim.outcomes.parameters import OutcomeParameters
from sermsim.physiology.simulate import Engine, default_engine
from sermsim.trials.inclusion import parse_condition
from sermsim.trials.population import PATIENT_TABLE_KEYS, inclusion_table
from sermsim.trials.run import ArmOutcome, TrialOutcome, run_trial
from sermsim.trials.spec import TrialSpec, parse_trial

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class Target:
    id: str
    trial: str
    endpoint: str
    spec: str
    measure: Mapping[str, Any]
    published: float
    ci_low: float
    ci_high: float
    interval: str
    must_show: bool
    fitted: bool


@dataclass(frozen=True)
class Comparison:
    target: Target
    simulated: float

    @property
    def within(self) -> bool:
        return self.target.ci_low <= self.simulated <= self.target.ci_high

    @property
    def distance(self) -> float:
        """How far outside the interval (0 inside), in the target's units."""
        t = self.target
        return max(t.ci_low - self.simulated, self.simulated - t.ci_high, 0.0)

    def as_json(self) -> dict[str, Any]:
        t = self.target
        return {
            "id": t.id,
            "trial": t.trial,
            "endpoint": t.endpoint,
            # inf (a number needed to harm with no excess) is written as null.
            "simulated": float(f"{self.simulated:.4g}") if math.isfinite(self.simulated) else None,
            "published": t.published,
            "ci_low": t.ci_low,
            "ci_high": t.ci_high,
            "within": self.within,
            "interval": t.interval,
            "must_show": t.must_show,
            "fitted": t.fitted,
        }


def validation_dir() -> Path:
    return data_dir() / "validation"


@lru_cache(maxsize=1)
def _manifest() -> dict[str, Any]:
    return load_yaml(validation_dir() / "targets.yaml")


def load_targets(ids: Iterable[str] | None = None) -> list[Target]:
    wanted = set(ids) if ids is not None else None
    out = []
    for raw in _manifest()["targets"]:
        if wanted is not None and raw["id"] not in wanted:
            continue
        out.append(
            Target(
                id=raw["id"],
                trial=raw["trial"],
                endpoint=str(raw["endpoint"]),
                spec=raw["spec"],
                measure=raw["measure"],
                published=float(raw["published"]),
                ci_low=float(raw["ci_low"]),
                ci_high=float(raw["ci_high"]),
                interval=raw["interval"],
                must_show=bool(raw.get("must_show", False)),
                fitted=bool(raw.get("fitted", False)),
            )
        )
    if wanted is not None and len(out) != len(wanted):
        missing = wanted - {t.id for t in out}
        raise DataError(f"validation targets not found: {sorted(missing)}")
    return out


def not_compared() -> list[dict[str, str]]:
    """The endpoints of trials.yaml that are qualitative or not modelled, with the reason."""
    return list(_manifest()["not_compared"])


def load_spec(name: str) -> TrialSpec:
    raw = load_yaml(validation_dir() / "specs" / f"{name}.yaml")
    return parse_trial(raw, load_agents())


# ---------------------------------------------------------------------------------------------
# Measures


def _arms(measure: Mapping[str, Any], key: str = "arm") -> list[str]:
    value = measure[key]
    return list(value) if isinstance(value, list) else [value]


def _subgroup(arm: ArmOutcome, measure: Mapping[str, Any]) -> NDArray[np.bool_]:
    text = measure.get("subgroup")
    if text is None:
        return np.ones(len(arm.population), dtype=bool)
    rule = parse_condition(text, "subgroup", PATIENT_TABLE_KEYS)
    return np.asarray(rule(inclusion_table(arm.population.columns)), dtype=bool)


def expected_incidence(outcome: TrialOutcome, arms: list[str], measure: Mapping[str, Any]) -> float:
    """Mean expected cumulative incidence over the arms' people (pooled), at ``at_years``."""
    endpoint = measure["endpoint"]
    at = measure.get("at_years")
    values = []
    weights = []
    for name in arms:
        arm = outcome.arms[name]
        if at is None:
            mask = _subgroup(arm, measure)
            values.append(float(arm.expected[endpoint][mask].mean()))
            weights.append(float(mask.sum()))
        elif "subgroup" in measure:
            mask = _subgroup(arm, measure)
            values.append(float(np.interp(at, outcome.grid, arm.curve(endpoint, mask))))
            weights.append(float(mask.sum()))
        else:
            values.append(float(np.interp(at, outcome.grid, arm.curves[endpoint])))
            weights.append(float(len(arm.population)))
    return float(np.average(values, weights=weights))


def _years(outcome: TrialOutcome, measure: Mapping[str, Any]) -> float:
    return float(measure.get("at_years", outcome.grid[-1]))


def _rate(outcome: TrialOutcome, arms: list[str], measure: Mapping[str, Any]) -> float:
    """Expected events per 1,000 person-years (from the mean cumulative incidence)."""
    ci = expected_incidence(outcome, arms, measure)
    return 1000.0 * -math.log1p(-ci) / _years(outcome, measure)


def _continuous(outcome: TrialOutcome, arm: str, key: str) -> tuple[float, float]:
    values, base = outcome.arms[arm].continuous[key]
    ok = np.isfinite(values)
    return float(values[ok].mean()), float(np.nanmean(base)) if np.isfinite(
        base
    ).any() else math.nan


def measure(outcome: TrialOutcome, m: Mapping[str, Any]) -> float:
    """The model's value of one target's measure on a finished trial."""
    kind = m["kind"]
    if kind in ("rr", "reduction_pct", "rate_difference", "nnh"):
        arm = expected_incidence(outcome, _arms(m), m)
        ref = expected_incidence(outcome, _arms(m, "reference"), m)
        if kind == "rr":
            return arm / ref
        if kind == "reduction_pct":
            return 100.0 * (1.0 - arm / ref)
        if kind == "nnh":
            return 1.0 / (arm - ref) if arm > ref else math.inf
        return _rate(outcome, _arms(m), m) - _rate(outcome, _arms(m, "reference"), m)
    if kind == "incidence":
        return expected_incidence(outcome, _arms(m), m) * float(m.get("scale", 1.0))
    if kind == "rate":
        return _rate(outcome, _arms(m), m)
    if kind == "window_rr":
        a, b = float(m["from_years"]), float(m["to_years"])

        def hazard(names: list[str]) -> float:
            ca = expected_incidence(outcome, names, {**m, "at_years": a})
            cb = expected_incidence(outcome, names, {**m, "at_years": b})
            return (cb - ca) / (1.0 - ca)

        return hazard(_arms(m)) / hazard(_arms(m, "reference"))
    key = m["endpoint"]
    arm_name = _arms(m)[0]
    mean, base = _continuous(outcome, arm_name, key)
    if kind == "value":
        return mean
    if kind == "per_year":
        return mean / float(m["years"])
    if kind == "change":
        return mean - base
    if kind == "pct_change":
        return 100.0 * (mean / base - 1.0)
    ref_mean, ref_base = _continuous(outcome, _arms(m, "reference")[0], key)
    if kind == "difference":
        return mean - ref_mean
    if kind == "change_difference":
        return (mean - base) - (ref_mean - ref_base)
    raise DataError(f"unknown validation measure kind {kind!r}")


# ---------------------------------------------------------------------------------------------
# Running


Progress = Callable[[str, float], None]


def run_validation(
    targets: list[Target] | None = None,
    *,
    engine: Engine | None = None,
    params: OutcomeParameters | None = None,
    progress: Progress | None = None,
    cache: dict[str, dict[str, Any]] | None = None,
) -> list[Comparison]:
    """Run every spec the targets need (once each) and compare. ``cache`` (per spec) keeps the
    physiology of the anchors, so that a calibration loop reruns only the hazards."""
    targets = targets if targets is not None else load_targets()
    engine = engine or default_engine()
    specs = sorted({t.spec for t in targets})
    results: dict[str, TrialOutcome] = {}
    for i, name in enumerate(specs):
        if progress:
            progress(f"{name} ({i + 1}/{len(specs)})", i / len(specs))
        spec_cache = cache.setdefault(name, {}) if cache is not None else None
        # A subgroup's curve over time needs its people's hazards (people x months).
        subgroups = any("subgroup" in t.measure for t in targets if t.spec == name)
        results[name] = run_trial(
            load_spec(name),
            engine=engine,
            params=params,
            physiology_cache=spec_cache,
            keep_hazards=subgroups,
        )
    if progress:
        progress("compared", 1.0)
    return [Comparison(t, measure(results[t.spec], t.measure)) for t in targets]


def validation_json(comparisons: list[Comparison]) -> dict[str, Any]:
    from sermsim import DISCLAIMER

    rows = [c.as_json() for c in comparisons]
    must = [c for c in comparisons if c.target.must_show]
    return {
        "targets": rows,
        "n_within": sum(c.within for c in comparisons),
        "n_total": len(comparisons),
        "must_show": {"n_within": sum(c.within for c in must), "n_total": len(must)},
        "not_compared": not_compared(),
        "disclaimer": DISCLAIMER,
    }
