"""Run a virtual trial: populations, physiology, hazards, events, and TRIAL_SPEC.md's JSON.

**Physiology by anchors** (:mod:`sermsim.trials.anchors`). Simulating the full physiology for
every person of a 10^5-person trial is the engine issue's job. Here each arm's physiology is
simulated for a set of *anchors* (``physiology_anchors``, default 48, shared by every arm):
people drawn from the pooled populations, spread over every group that changes the physiology
(sex, menopausal stage, surgical menopause, CYP2D6 phenotype, measured labs) and, within a
group, over age and years since menopause. Every person takes the physiology (relative to the
same anchor untreated) of the nearest anchor in their group, while their baseline risks (age,
BMD, Gail inputs or stated breast risk, thrombophilia, BMI, smoking, prior events) are their
own. When the trial has no more people than anchors, every person is simulated.

**Per-person records** (:mod:`sermsim.trials.records`). The hazards, sampled events and
expectations are worked out a block of people at a time and kept as per-person records, so
memory grows with people, not people x months; the records of an arm's slices join into the
same numbers, which is what a sharded run (:mod:`sermsim.trials.shards`) relies on.

The expected cumulative incidence is each person's exact probability of at least one event
by the end (death from other causes competing); events are sampled per person from the same
hazards with draws keyed by (seed, arm, person, process).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
from numpy.typing import NDArray

from sermsim import DISCLAIMER, __version__
from sermsim.agents.regimen import Regimen, regimen_label
from sermsim.core.errors import NumericalError, SpecError
from sermsim.core.params import parameters_sha256
from sermsim.outcomes.ensemble import Ensemble
from sermsim.outcomes.parameters import OutcomeParameters, default_outcome_parameters
from sermsim.physiology.simulate import Engine, default_engine
from sermsim.trials.anchors import anchor_physiology
from sermsim.trials.endpoints import VALUES
from sermsim.trials.population import Population, sample_arm
from sermsim.trials.records import (
    CHUNK_PEOPLE,
    AnchorPhysiology,
    ArmRecords,
    arm_records,
    endpoint_hazard,
    endpoint_share,
    event_endpoints,
    expected_curve,
    outcome_grid,
)
from sermsim.trials.spec import TrialSpec
from sermsim.trials.uncertainty import (
    ENSEMBLE_PEOPLE,
    Z95,
    ParameterSpread,
    add_parameter_uncertainty,
    parameter_spread,
)

FloatArray = NDArray[np.float64]
Progress = Callable[[str, float], None]


@dataclass
class ArmOutcome:
    """One arm's results (kept for reports and validation), from its per-person records.

    ``population`` and ``records`` are the people with results; ``failures`` are the others
    (draw index -> why they have none: a physiology or a hazard that did not solve), counted
    in the JSON and never silently dropped.
    """

    name: str
    regimen: Regimen
    population: Population
    records: ArmRecords
    grid: FloatArray  # years
    shares: dict[str, float]  # endpoint -> share of its process (DVT and PE of VTE)
    failures: Mapping[int, str] = field(default_factory=dict)

    @property
    def expected(self) -> Mapping[str, FloatArray]:
        """Endpoint -> each person's expected cumulative incidence by the end."""
        return self.records.expected

    @cached_property
    def curves(self) -> dict[str, FloatArray]:
        """Endpoint -> the mean expected cumulative incidence on the grid."""
        n = len(self.records)
        return {k: v / n for k, v in self.records.curve_sums.items()}

    @cached_property
    def events(self) -> dict[str, tuple[int, float]]:
        """Endpoint -> (sampled events, person-years)."""
        r = self.records
        return {k: (int(np.sum(r.event[k])), float(np.sum(r.time_at_risk[k]))) for k in r.event}

    @property
    def continuous(self) -> Mapping[str, tuple[FloatArray, FloatArray]]:
        """Continuous endpoint key -> (values, baselines) per person."""
        return self.records.continuous

    @property
    def hazards(self) -> Mapping[str, FloatArray] | None:
        """Base process -> (n, K) hazards per year, when the run kept them (``keep_hazards``)."""
        return self.records.hazards

    @property
    def mortality(self) -> FloatArray | None:
        """(n, K) competing mortality hazard per year, when the run kept it."""
        return self.records.mortality

    def curve(self, endpoint: str, mask: NDArray[np.bool_]) -> FloatArray:
        """Mean expected cumulative incidence on the grid over the people in ``mask`` (needs
        the hazards: run the trial with ``keep_hazards=True``)."""
        hz, m = self.records.hazards, self.records.mortality
        if hz is None or m is None:
            raise ValueError("ArmOutcome.curve needs the hazards: run_trial(keep_hazards=True)")
        per = expected_curve(endpoint_hazard(endpoint, hz)[mask], m[mask], np.diff(self.grid))
        return per.mean(axis=0) * self.shares[endpoint]


@dataclass
class TrialOutcome:
    spec: TrialSpec
    grid: FloatArray  # years
    arms: dict[str, ArmOutcome]
    result: dict[str, Any] = field(default_factory=dict)
    spread: ParameterSpread | None = None  # the ensemble's members' expectations, when run


def draw_populations(
    spec: TrialSpec, physiology_values: Mapping[str, float]
) -> dict[str, Population]:
    """Every arm's people (keyed draws: the same for the same spec and seed)."""
    return {arm.name: sample_arm(spec, arm.name, physiology_values) for arm in spec.arms}


def trial_outcome(
    spec: TrialSpec,
    populations: Mapping[str, Population],
    records: Mapping[str, ArmRecords],
    physiology: AnchorPhysiology,
    physiology_values: Mapping[str, float],
    params: OutcomeParameters,
    started: float,
    *,
    ensemble: Ensemble | None = None,
    ensemble_people: int = ENSEMBLE_PEOPLE,
    progress: Progress | None = None,
) -> TrialOutcome:
    """The trial's outcome (and TRIAL_SPEC.md's JSON) from every arm's per-person records;
    with ``ensemble``, the members' spread and the intervals that carry it
    (:mod:`sermsim.trials.uncertainty`). ``started``: the run's start (perf_counter)."""
    grid = outcome_grid(spec.duration_years)
    spread = None
    if ensemble is not None:
        spread = parameter_spread(
            spec,
            populations,
            physiology,
            physiology_values,
            grid,
            records,
            ensemble,
            ensemble_people,
            progress,
            params,
        )
    arms: dict[str, ArmOutcome] = {}
    for arm in spec.arms:
        r, pop = records[arm.name], populations[arm.name]
        shares = {name: endpoint_share(name, params) for name in event_endpoints(spec)}
        failures: dict[int, str] = {}
        if not r.solved.all():
            failures = {
                int(i): str(why)
                for i, why in zip(r.draw_index[~r.solved], r.failure[~r.solved], strict=True)
            }
            rows = np.flatnonzero(r.solved)
            if len(rows) == 0:
                first = next(iter(failures.values()))
                raise NumericalError(
                    f"trial: nobody in arm {arm.name} has results ({first}); please report"
                )
            r, pop = r.only(rows), pop.take(rows)
        arms[arm.name] = ArmOutcome(arm.name, arm.regimen, pop, r, grid, shares, failures)
    outcome = TrialOutcome(spec, grid, arms)
    outcome.result = result_json(outcome, physiology.n_anchors, time.perf_counter() - started)
    if spread is not None:
        outcome.spread = spread
        add_parameter_uncertainty(outcome.result, spec, spread)
    return outcome


def run_trial(
    spec: TrialSpec,
    *,
    engine: Engine | None = None,
    params: OutcomeParameters | None = None,
    progress: Progress | None = None,
    physiology_cache: dict[str, Any] | None = None,
    keep_hazards: bool = False,
    chunk_people: int = CHUNK_PEOPLE,
    physiology_outputs: tuple[str, ...] = (),
    ensemble: Ensemble | None = None,
    ensemble_people: int = ENSEMBLE_PEOPLE,
) -> TrialOutcome:
    """Run every arm of a trial; the result's ``result`` is TRIAL_SPEC.md's JSON object.

    ``physiology_cache`` keeps the anchors' physiology between runs of the same spec (a
    calibration loop reruns only the hazards); ``keep_hazards`` keeps every person's hazards
    (people x months, for :meth:`ArmOutcome.curve` on subgroups); ``chunk_people`` is how many
    people's hazards are held at once (the numbers do not depend on it);
    ``physiology_outputs`` are more outputs for the anchors' physiology (read them from
    ``physiology_cache["physiology"]``); ``ensemble`` reruns the hazards of the first
    ``ensemble_people`` people of each arm per member and adds parameter uncertainty to the
    intervals (:mod:`sermsim.trials.uncertainty`)."""
    started = time.perf_counter()
    engine = engine or default_engine()
    params = params or default_outcome_parameters()
    values = engine.physiology.values
    grid = outcome_grid(spec.duration_years)
    if progress:
        progress("drawing the populations", 0.0)
    pops = draw_populations(spec, values)
    cached = physiology_cache.get("physiology") if physiology_cache is not None else None
    if isinstance(cached, AnchorPhysiology):
        physiology = cached
    else:
        physiology = anchor_physiology(spec, pops, engine, grid, progress, physiology_outputs)
        if physiology_cache is not None:
            physiology_cache["physiology"] = physiology
    if progress:
        progress("hazards and events", 0.8)
    records: dict[str, ArmRecords] = {}
    for i, arm in enumerate(spec.arms):
        if progress and i:
            progress(f"hazards and events of {arm.name}", 0.8 + 0.2 * i / len(spec.arms))
        records[arm.name] = arm_records(
            spec,
            arm,
            pops[arm.name],
            physiology,
            values,
            params,
            grid,
            chunk=chunk_people,
            keep_hazards=keep_hazards,
        )
    outcome = trial_outcome(
        spec,
        pops,
        records,
        physiology,
        values,
        params,
        started,
        ensemble=ensemble,
        ensemble_people=ensemble_people,
        progress=progress,
    )
    if progress:
        progress("done", 1.0)
    return outcome


# ---------------------------------------------------------------------------------------------
# The JSON of TRIAL_SPEC.md


def _finite(x: float, what: str) -> float:
    if not math.isfinite(x):
        raise NumericalError(f"trial: {what} is not finite; please report")
    return float(x)


def _round(x: float, digits: int = 6) -> float:
    return float(f"{x:.{digits}g}")


def _relative_risk(a: int, n1: int, b: int, n0: int) -> dict[str, Any]:
    if a == 0 or b == 0:
        which = "both arms" if a == 0 and b == 0 else ("the arm" if a == 0 else "the reference")
        return {"rr": None, "ci_low": None, "ci_high": None, "reason": f"no events in {which}"}
    rr = (a / n1) / (b / n0)
    se = math.sqrt(max(1 / a - 1 / n1 + 1 / b - 1 / n0, 0.0))
    return {
        "rr": _round(rr),
        "ci_low": _round(rr * math.exp(-Z95 * se)),
        "ci_high": _round(rr * math.exp(Z95 * se)),
    }


def _stats(values: FloatArray) -> tuple[float, float, int]:
    ok = values[np.isfinite(values)]
    if len(ok) == 0:
        return math.nan, math.nan, 0
    mean = float(ok.mean())
    sd = float(ok.std(ddof=1)) if len(ok) > 1 else 0.0
    if sd < 1e-9 * max(1.0, abs(mean)):  # identical values up to rounding
        sd = 0.0
    return mean, sd, len(ok)


def _failed(failures: Mapping[int, str]) -> dict[str, Any]:
    """An arm's people without results: how many, and how many for each reason. ``n`` and
    every number of the arm are over the people with results."""
    reasons: dict[str, int] = {}
    for why in failures.values():
        reasons[why] = reasons.get(why, 0) + 1
    return {"count": len(failures), "reasons": dict(sorted(reasons.items()))}


def result_json(outcome: TrialOutcome, n_anchors: int, seconds: float) -> dict[str, Any]:
    spec = outcome.spec
    arms_out: dict[str, Any] = {}
    for name, arm in outcome.arms.items():
        eps: dict[str, Any] = {}
        n = len(arm.records)
        for e in spec.endpoints:
            if e.is_event:
                count, py = arm.events[e.name]
                eps[e.key] = {
                    "events": count,
                    "person_years": _round(py),
                    "rate_per_1000py": _round(1000.0 * count / py) if py > 0 else 0.0,
                    "cumulative_incidence": _round(count / n),
                    "expected_cumulative_incidence": _round(
                        _finite(float(arm.expected[e.name].mean()), e.key)
                    ),
                }
            else:
                values, base = arm.continuous[e.key]
                mean, sd, k = _stats(values)
                if k == 0:
                    raise SpecError(
                        "endpoints",
                        e.key,
                        "applies to nobody in this population (e.g. an "
                        "endometrial endpoint without a uterus, a women's endpoint in men)",
                    )
                entry: dict[str, Any] = {
                    "at_years": _round(
                        e.at_years if e.at_years is not None else spec.duration_years
                    ),
                    "mean": _round(_finite(mean, e.key)),
                    "sd": _round(_finite(sd, e.key)),
                }
                if e.name in VALUES:
                    entry["baseline_mean"] = _round(_finite(_stats(base)[0], e.key))
                if k < n:
                    entry["n_measured"] = k
                eps[e.key] = entry
        arms_out[name] = {
            "n": n,
            "regimen": regimen_label(arm.regimen),
            "endpoints": eps,
            "failed": _failed(arm.failures),
        }
    comparisons = []
    for arm_name, ref_name in spec.comparisons:
        arm, ref = outcome.arms[arm_name], outcome.arms[ref_name]
        eps = {}
        for e in spec.endpoints:
            if e.is_event:
                a, _ = arm.events[e.name]
                b, _ = ref.events[e.name]
                entry = _relative_risk(a, len(arm.population), b, len(ref.population))
                exp_a = float(arm.expected[e.name].mean())
                exp_b = float(ref.expected[e.name].mean())
                entry["rr_expected"] = _round(exp_a / exp_b) if exp_b > 0 else None
                eps[e.key] = entry
            else:
                ma, sa, na = _stats(arm.continuous[e.key][0])
                mb, sb, nb = _stats(ref.continuous[e.key][0])
                diff = ma - mb
                if abs(diff) < 1e-9 * max(1.0, abs(ma), abs(mb)):  # equal up to rounding
                    diff = 0.0
                se = math.sqrt((sa**2 / na if na else 0.0) + (sb**2 / nb if nb else 0.0))
                eps[e.key] = {
                    "difference": _round(_finite(diff, e.key)),
                    "ci_low": _round(diff - Z95 * se),
                    "ci_high": _round(diff + Z95 * se),
                }
        comparisons.append({"arm": arm_name, "reference": ref_name, "endpoints": eps})
    return {
        "name": spec.name,
        "arms": arms_out,
        "comparisons": comparisons,
        "provenance": {
            "sermsim_version": __version__,
            "seed": spec.seed,
            "parameters_sha256": parameters_sha256(),
            "duration_years": spec.duration_years,
            "physiology_anchors": n_anchors,
        },
        "disclaimer": DISCLAIMER,
    }
