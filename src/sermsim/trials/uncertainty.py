"""Parameter uncertainty in a trial's intervals: its hazards rerun once per ensemble member.

The members (:mod:`sermsim.outcomes.ensemble`) are outcome-parameter sets that the
calibration data allow. The anchors' physiology does not depend on them, so each member only
reruns the hazards, on the first ``people`` people of each arm (keyed draws: the same people
for every member). A member's expected incidence in an arm is the run's own expectation scaled
by the member's ratio to the shipped parameters on those people, so that the subsample's
composition cancels.

What the trial's JSON gains (TRIAL_SPEC.md welcomes extra keys; its own keys are unchanged):

- an event endpoint of an arm: ``expected_ci_low`` / ``expected_ci_high``, the 2.5th and
  97.5th percentiles of the members' expected cumulative incidence (parameters only);
- a comparison of an event endpoint: ``rr_expected_ci_low`` / ``rr_expected_ci_high`` (the
  members' expected risk ratio, parameters only) and ``ci_low_total`` / ``ci_high_total``, the
  sampled ``rr`` with both sources: the variance of log rr from the counts plus the members'
  variance of log rr_expected (independent sources add on the log scale);
- a comparison of a continuous endpoint: ``ci_low_total`` / ``ci_high_total`` equal to its
  sampling interval (the ensemble's parameters do not reach the physiology);
- ``uncertainty``: which interval carries which source, and the ensemble used.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from sermsim.core.errors import NumericalError
from sermsim.outcomes.ensemble import Ensemble
from sermsim.outcomes.parameters import OutcomeParameters, default_outcome_parameters
from sermsim.trials.population import Population
from sermsim.trials.records import AnchorPhysiology, ArmRecords, arm_records, event_endpoints
from sermsim.trials.spec import TrialSpec

FloatArray = NDArray[np.float64]
Progress = Callable[[str, float], None]

Z95 = 1.959963984540054  # the standard normal's 97.5th percentile
# A numerical setting: people per arm whose hazards each member reruns. The members' spread of
# a ratio on 500 people differs from that on the whole arm by the subsample's composition only.
ENSEMBLE_PEOPLE = 500
PERCENTILES = (2.5, 97.5)


@dataclass(frozen=True)
class ParameterSpread:
    ensemble: Ensemble
    people: int  # per arm (at most)
    expected: Mapping[str, Mapping[str, FloatArray]]  # arm -> endpoint -> (members,)


def parameter_spread(
    spec: TrialSpec,
    pops: Mapping[str, Population],
    physiology: AnchorPhysiology,
    physiology_values: Mapping[str, float],
    grid: FloatArray,
    records: Mapping[str, ArmRecords],
    ensemble: Ensemble,
    people: int = ENSEMBLE_PEOPLE,
    progress: Progress | None = None,
    params: OutcomeParameters | None = None,
) -> ParameterSpread:
    """Every member's expected cumulative incidence per arm and event endpoint; the members'
    values replace the run's ``params`` (default: the shipped ones) where they are given."""
    shipped = params or default_outcome_parameters()
    members = [
        OutcomeParameters({**shipped.values, **ensemble.overrides(i)}, shipped.tables)
        for i in range(len(ensemble))
    ]
    names = event_endpoints(spec)
    out: dict[str, dict[str, FloatArray]] = {}
    for k, arm in enumerate(spec.arms):
        if progress:
            progress(f"parameter uncertainty: {arm.name}", 0.9 + 0.1 * k / len(spec.arms))
        pop = pops[arm.name]
        n = min(people, len(pop))
        sub = pop.take(np.arange(n)) if n < len(pop) else pop

        def means(params: Any, sub: Population = sub, arm: Any = arm) -> dict[str, float]:
            r = arm_records(spec, arm, sub, physiology, physiology_values, params, grid)
            if not r.solved.any():
                raise NumericalError(
                    f"parameter uncertainty: {arm.name}: none of the first {len(sub)} people has "
                    "results; run with --sampling-only"
                )
            return {e: float(r.expected[e][r.solved].mean()) for e in names}

        base = means(shipped)
        rows = [means(m) for m in members]
        own = records[arm.name]
        out[arm.name] = {}
        for e in names:
            full = float(own.expected[e][own.solved].mean())
            values = np.array([row[e] for row in rows])
            if base[e] > 0:
                scaled = full * values / base[e]
            elif full > 0:  # no risk among the first people, some in the arm: say so
                raise NumericalError(
                    f"parameter uncertainty: {arm.name} {e}: no expected risk among the first "
                    f"{n} people; run with --sampling-only"
                )
            else:
                scaled = values
            if not np.all(np.isfinite(scaled)):
                raise NumericalError(f"parameter uncertainty: {arm.name} {e}: not finite")
            out[arm.name][e] = scaled
    return ParameterSpread(ensemble, people, out)


def _round(x: float, digits: int = 6) -> float:
    return float(f"{x:.{digits}g}")


def _log_sd(values: FloatArray) -> float:
    ok = values[values > 0]
    return float(np.std(np.log(ok), ddof=1)) if len(ok) > 1 else 0.0


def add_parameter_uncertainty(
    result: dict[str, Any], spec: TrialSpec, spread: ParameterSpread
) -> None:
    """Put the parameter intervals and the combined intervals into a trial's JSON (in place)."""
    lo_q, hi_q = PERCENTILES
    for arm_name, arm in result["arms"].items():
        for e in spec.endpoints:
            if e.is_event and e.name in spread.expected[arm_name]:
                v = spread.expected[arm_name][e.name]
                entry = arm["endpoints"][e.key]
                entry["expected_ci_low"] = _round(float(np.percentile(v, lo_q)))
                entry["expected_ci_high"] = _round(float(np.percentile(v, hi_q)))
    for comp in result["comparisons"]:
        a = spread.expected[comp["arm"]]
        b = spread.expected[comp["reference"]]
        for e in spec.endpoints:
            entry = comp["endpoints"][e.key]
            if not e.is_event:
                entry["ci_low_total"] = entry["ci_low"]
                entry["ci_high_total"] = entry["ci_high"]
                continue
            ok = b[e.name] > 0
            ratios = a[e.name][ok] / b[e.name][ok]
            if len(ratios) < len(b[e.name]):  # a member with no risk in the reference arm
                continue
            entry["rr_expected_ci_low"] = _round(float(np.percentile(ratios, lo_q)))
            entry["rr_expected_ci_high"] = _round(float(np.percentile(ratios, hi_q)))
            rr = entry.get("rr")
            if rr is None or entry.get("ci_low") is None:
                continue
            se_sampling = math.log(entry["ci_high"] / entry["ci_low"]) / (2 * Z95)
            se = math.sqrt(se_sampling**2 + _log_sd(ratios) ** 2)
            entry["ci_low_total"] = _round(rr * math.exp(-Z95 * se))
            entry["ci_high_total"] = _round(rr * math.exp(Z95 * se))
    result["uncertainty"] = {
        "sources": ["sampling", "parameters"],
        "intervals": {
            "ci_low, ci_high": "sampling only: the trial's chance (TRIAL_SPEC.md)",
            "ci_low_total, ci_high_total": (
                "sampling and parameter uncertainty combined (variances of log rr added)"
            ),
            "expected_ci_low/high, rr_expected_ci_low/high": (
                "parameter uncertainty only: 2.5th-97.5th percentile over the ensemble members"
            ),
        },
        "ensemble": {**spread.ensemble.describe(), "people_per_arm_per_member": spread.people},
        "not_varied": (
            "physiology and selectivity parameters (the ensemble holds the outcome layer's "
            "calibrated hazard links); continuous endpoints carry sampling only"
        ),
    }
