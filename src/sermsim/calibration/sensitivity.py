"""Global sensitivity of one outcome, for one person on one regimen, to every free parameter.

The free parameters are those of ``data/calibration/free_parameters.yaml`` (both layers). Each
is sampled over its shipped value ± ``width`` standard deviations of its **posterior** (the
Laplace posterior at the shipped fit, ``data/calibration/posterior.yaml``; a box of the
marginal sds, so it ignores their correlations) or, on request, of its **prior**, clipped to
the parameter's bounds. The bounds are search limits for calibration, often far wider than
anything the data allow, so sampling them would measure the model where it is not fitted.

Two methods, both from SALib:

- **Morris** (elementary effects; the default). ``r`` trajectories of ``k + 1`` runs each, one
  parameter moved per step; for each parameter ``mu_star`` (the mean absolute effect of moving
  it, in the outcome's unit per its whole sampled range), ``sigma`` (their spread:
  interactions or non-linearity) and a bootstrap confidence half-width of ``mu_star``.
- **Sobol** (variance decomposition; Saltelli's scheme). ``N (k + 2)`` runs, ``N`` a power of
  2; first-order (S1) and total (ST) indices with confidence half-widths. For the 33 free
  parameters this costs 35 runs per base sample, so it needs a large budget to be stable.

Besides the global indices, the one-at-a-time swings (the classic tornado: the outcome with
one parameter at each end of its range, every other at its shipped value) cost ``2 k`` runs.

The outcome is read as the rest of sermsim reads it. A continuous endpoint (TRIAL_SPEC.md's
names, e.g. ``bmd_lumbar_spine_pct``) is the person's simulated biomarker at the horizon: a
percent change from day 0 for ``_pct`` endpoints, else the value (no measurement noise). An
event endpoint (e.g. ``invasive_breast_cancer``) is the relative risk of the person's expected
cumulative incidence over the horizon on the regimen against no treatment, from a two-arm
virtual trial of copies of the person (the machinery of ``sermsim compare``).

**Re-using simulations.** The physiology depends only on the physiology-layer parameters, so
runs that differ only in outcome-layer parameters (a Morris step that moves one of them) reuse
the simulation of the previous run: a continuous endpoint is then exactly unchanged, and an
event endpoint recomputes only its hazards. Every parameter is still sampled and analysed.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from sermsim import DISCLAIMER, __version__
from sermsim.agents.regimen import Regimen, parse_regimen, regimen_label
from sermsim.calibration.free import (
    FreeParameter,
    free_parameters,
    posterior_sd,
    shipped_values,
)
from sermsim.compare.comparison import patient_keys
from sermsim.core.errors import DataError, NumericalError, SpecError
from sermsim.core.params import parameters_sha256
from sermsim.outcomes.parameters import load_outcome_parameters
from sermsim.physiology.patient import Patient
from sermsim.physiology.simulate import (
    MAX_YEARS,
    Engine,
    default_engine,
    not_applicable,
    simulate,
)
from sermsim.trials.endpoints import CONTINUOUS, EVENTS, PERCENT_CHANGE, biomarker
from sermsim.trials.run import run_trial
from sermsim.trials.spec import parse_trial

Method = Literal["morris", "sobol"]
METHODS: tuple[Method, ...] = ("morris", "sobol")
Progress = Callable[[int, int], None]  # (runs done, runs in all)
FloatArray = NDArray[np.float64]

WIDTH_SD = 2.0  # default sampled range: shipped ± this many sd (about 95 % of a normal's
# mass; a numerical setting of the analysis, --width on the command line)
Basis = Literal["posterior", "prior"]
BASES: tuple[Basis, ...] = ("posterior", "prior")
MORRIS_LEVELS = 4  # grid levels per parameter: SALib's default (a numerical setting)
CONFIDENCE = 0.95  # the level of the bootstrap intervals of the indices
BOOTSTRAP = 1000  # bootstrap resamples for those intervals (SALib's default)
CACHE_SIMULATIONS = 64  # physiology runs kept for reuse (Morris reuses the previous one only)
SAMPLING_RULES = {
    "posterior": (
        "each free parameter uniform over its shipped value ± {width:g} posterior standard "
        "deviations (the Laplace posterior at the shipped fit, data/calibration/posterior.yaml: "
        "what the calibration targets allow), clipped to its bounds"
    ),
    "prior": (
        "each free parameter uniform over its shipped value ± {width:g} prior standard "
        "deviations (prior_sd of data/calibration/free_parameters.yaml), clipped to its bounds; "
        "the bounds themselves are calibration search limits, often far wider than the data "
        "allow"
    ),
}


@dataclass(frozen=True)
class SampledParameter:
    """A free parameter and the range it is sampled over."""

    parameter: FreeParameter
    shipped: float
    low: float
    high: float

    @property
    def name(self) -> str:
        return self.parameter.name


def sampled_parameters(
    width_sd: float = WIDTH_SD, basis: Basis = "posterior"
) -> list[SampledParameter]:
    """Every free parameter with its range: shipped ± ``width_sd`` posterior (or prior) sd,
    clipped to its bounds.

    >>> ps = sampled_parameters()
    >>> all(p.low <= p.shipped <= p.high and p.low < p.high for p in ps)
    True
    """
    shipped = shipped_values()
    posterior = posterior_sd() if basis == "posterior" else {}
    out = []
    for p in free_parameters():
        v = shipped[p.name]
        if basis == "posterior" and p.name not in posterior:
            raise DataError(f"posterior.yaml: no posterior for {p.name}; rerun calibrate --no-fit")
        sd = posterior[p.name] if basis == "posterior" else p.prior_sd
        lo, hi = p.clip(v - width_sd * sd), p.clip(v + width_sd * sd)
        if not lo < hi:
            raise DataError(f"{p.name}: empty {basis} range [{lo}, {hi}]")
        out.append(SampledParameter(p, v, lo, hi))
    return out


def outcome_kind(name: str) -> Literal["event", "continuous"]:
    """Whether an endpoint name is an event or a continuous endpoint (SpecError if neither)."""
    if name in EVENTS:
        return "event"
    if name in CONTINUOUS:
        return "continuous"
    raise SpecError(
        "outcome",
        name,
        "give an endpoint name of TRIAL_SPEC.md, e.g. bmd_lumbar_spine_pct or "
        "invasive_breast_cancer (events: " + ", ".join(EVENTS) + ")",
    )


# ---------------------------------------------------------------------------------------------
# The outcome as a function of the free parameters


class _Outcome:
    """The outcome for one person on one regimen at given free-parameter values, re-using the
    physiology of earlier runs with the same physiology-layer values."""

    def __init__(
        self, patient: Patient, regimen: Regimen, name: str, years: float, engine: Engine
    ) -> None:
        self.patient, self.regimen, self.name, self.years = patient, regimen, name, years
        self.engine = engine
        self.kind = outcome_kind(name)
        self.physiology_names = [p.name for p in free_parameters("physiology")]
        self.outcome_names = [p.name for p in free_parameters("outcomes")]
        self.simulations = 0
        self._cache: OrderedDict[tuple[float, ...], Any] = OrderedDict()
        if self.kind == "event":
            keys = patient_keys(patient)
            doses = [d.model_dump(exclude_none=True) for d in regimen]
            spec = {
                "name": "sensitivity",
                "seed": 0,  # the sampled events are not used; expectations need no seed
                "duration_years": years,
                # copies of one person are identical: one per arm gives the exact expectation
                "population": {**keys, "n_per_arm": 1},
                "physiology_anchors": 1,
                "arms": [{"name": "none", "regimen": []}, {"name": "on", "regimen": doses}],
                "endpoints": [name],
            }
            self.spec = parse_trial(spec, engine.agents)

    def _physiology(self, values: Mapping[str, float]) -> Any:
        """The cached physiology for these physiology-layer values (None when not yet run)."""
        key = tuple(values[n] for n in self.physiology_names)
        hit = self._cache.get(key)
        if hit is not None:
            self._cache.move_to_end(key)
        return key, hit

    def _keep(self, key: tuple[float, ...], item: Any) -> None:
        self._cache[key] = item
        self.simulations += 1
        while len(self._cache) > CACHE_SIMULATIONS:
            self._cache.popitem(last=False)

    def __call__(self, values: Mapping[str, float]) -> float:
        key, hit = self._physiology(values)
        physiology = {n: values[n] for n in self.physiology_names}
        if self.kind == "continuous":
            if hit is None:
                hit = self._continuous(self.engine.with_overrides(physiology))
                self._keep(key, hit)
            return float(hit)
        if hit is None:
            hit = (self.engine.with_overrides(physiology), {})
            self._keep(key, hit)
        engine, cache = hit
        params = load_outcome_parameters({n: values[n] for n in self.outcome_names})
        trial = run_trial(self.spec, engine=engine, params=params, physiology_cache=cache)
        on = float(trial.arms["on"].expected[self.name].mean())
        none = float(trial.arms["none"].expected[self.name].mean())
        if none <= 0.0:
            raise SpecError(
                "outcome", self.name, "this person has no risk of it in the model: no relative risk"
            )
        if not (math.isfinite(on) and math.isfinite(none)):
            raise NumericalError(
                f"sensitivity: the expected incidence of {self.name} is {on!r} on the regimen "
                f"and {none!r} without; please report"
            )
        return on / none

    def _continuous(self, engine: Engine) -> float:
        ds = simulate(self.patient, self.regimen, self.years, engine=engine)
        series = ds[biomarker(self.name)].values
        value = (
            100.0 * (series[-1] / series[0] - 1.0) if self.name in PERCENT_CHANGE else series[-1]
        )
        if not math.isfinite(value):
            raise NumericalError(f"sensitivity: {self.name} is {value!r}; please report")
        return float(value)

    def unit(self) -> str:
        if self.kind == "event":
            return "relative risk (regimen vs no treatment)"
        if self.name in PERCENT_CHANGE:
            return "% change from baseline"
        return "value at the horizon"


def _check_applicable(patient: Patient, name: str, regimen: Regimen) -> None:
    reasons = not_applicable(patient)
    if name in CONTINUOUS and biomarker(name) in reasons:
        raise SpecError(
            "outcome", name, f"not defined for this person ({reasons[biomarker(name)]})"
        )
    if name in EVENTS and not regimen:
        raise SpecError(
            "regimen", "none", "give a regimen: an event's relative risk compares it with none"
        )


# ---------------------------------------------------------------------------------------------
# The analysis


def _problem(params: Sequence[SampledParameter]) -> dict[str, Any]:
    return {
        "num_vars": len(params),
        "names": [p.name for p in params],
        "bounds": [[p.low, p.high] for p in params],
    }


def _check_budget(method: str, trajectories: int) -> None:
    if method not in METHODS:
        raise SpecError("method", method, "give morris or sobol")
    if isinstance(trajectories, bool) or not isinstance(trajectories, int) or trajectories < 2:
        raise SpecError("trajectories", trajectories, "give a whole number of at least 2 (e.g. 10)")
    if method == "sobol" and trajectories & (trajectories - 1):
        raise SpecError(
            "trajectories", trajectories, "Sobol needs a power of 2 base samples (e.g. 16, 64)"
        )


def _sample(method: str, problem: Mapping[str, Any], n: int, seed: int) -> FloatArray:
    if method == "morris":
        from SALib.sample import morris as morris_sample

        return np.asarray(
            morris_sample.sample(problem, N=n, num_levels=MORRIS_LEVELS, seed=seed), dtype=float
        )
    from SALib.sample import sobol as sobol_sample

    return np.asarray(
        sobol_sample.sample(problem, n, calc_second_order=False, seed=seed), dtype=float
    )


def _analyse(
    method: str, problem: Mapping[str, Any], x: FloatArray, y: FloatArray, seed: int
) -> dict[str, FloatArray]:
    if method == "morris":
        from SALib.analyze import morris as morris_analyze

        res = morris_analyze.analyze(
            problem,
            x,
            y,
            num_resamples=BOOTSTRAP,
            conf_level=CONFIDENCE,
            num_levels=MORRIS_LEVELS,
            seed=seed,
        )
        keys = ("mu", "mu_star", "sigma", "mu_star_conf")
    else:
        from SALib.analyze import sobol as sobol_analyze

        res = sobol_analyze.analyze(
            problem,
            y,
            calc_second_order=False,
            num_resamples=BOOTSTRAP,
            conf_level=CONFIDENCE,
            seed=seed,
        )
        keys = ("S1", "S1_conf", "ST", "ST_conf")
    out = {k: np.asarray(res[k], dtype=float) for k in keys}
    bad = [k for k, v in out.items() if not np.all(np.isfinite(v))]
    if bad:  # e.g. Sobol indices of an outcome that does not vary at all
        raise NumericalError(
            f"sensitivity: SALib's {', '.join(bad)} are not finite (does the outcome vary over "
            "the sampled ranges?); use --method morris"
        )
    return out


def _clean(x: float) -> float:
    """A float for JSON: 6 significant digits; values below round-off are 0."""
    return 0.0 if abs(x) < 1e-12 else float(f"{x:.6g}")


def sensitivity(
    patient: Patient,
    regimen: Regimen | str,
    outcome: str,
    *,
    years: float = 5.0,
    method: Method = "morris",
    trajectories: int = 10,
    seed: int = 0,
    width_sd: float = WIDTH_SD,
    basis: Basis = "posterior",
    engine: Engine | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Global sensitivity of ``outcome`` for ``patient`` on ``regimen`` over ``years`` to every
    free parameter; returns a JSON object (parameters ranked by ``mu_star``, or by ``ST`` for
    Sobol, with the one-at-a-time swings and the outcome at the shipped values).

    ``trajectories``: Morris trajectories ``r`` (``r (k + 1)`` runs) or Sobol base samples
    ``N`` (``N (k + 2)`` runs); the same ``seed`` gives the same result. ``width_sd``: each
    parameter is sampled over its shipped value ± ``width_sd`` standard deviations of its
    ``basis`` (the calibration's posterior, or the prior), clipped to its bounds.

    >>> from sermsim.physiology.patient import Patient
    >>> r = sensitivity(Patient(sex="female", age=60), "raloxifene:60", "bmd_lumbar_spine_pct",
    ...                 years=0.25, trajectories=2)  # doctest: +SKIP
    >>> r["parameters"][0]["layer"]  # doctest: +SKIP
    'physiology'
    """
    started = time.perf_counter()
    engine = engine or default_engine()
    doses = parse_regimen(regimen, engine.agents) if isinstance(regimen, str) else regimen
    kind = outcome_kind(outcome)
    if isinstance(years, bool) or not isinstance(years, int | float):
        raise SpecError("years", years, f"give a number of years in (0, {MAX_YEARS:g}]")
    if not (math.isfinite(years) and 0.0 < years <= MAX_YEARS):
        raise SpecError("years", years, f"give a number of years in (0, {MAX_YEARS:g}]")
    _check_budget(method, trajectories)
    if isinstance(width_sd, bool) or not isinstance(width_sd, int | float):
        raise SpecError("width", width_sd, "give a positive number of standard deviations (e.g. 2)")
    if not (math.isfinite(width_sd) and width_sd > 0):
        raise SpecError("width", width_sd, "give a positive number of standard deviations (e.g. 2)")
    if basis not in BASES:
        raise SpecError("range", basis, f"choose one of {', '.join(BASES)}")
    _check_applicable(patient, outcome, doses)

    params = sampled_parameters(float(width_sd), basis)
    problem = _problem(params)
    x = _sample(method, problem, trajectories, seed)
    k = len(params)
    total = len(x) + 1 + 2 * k
    f = _Outcome(patient, doses, outcome, float(years), engine)
    done = 0

    def run(values: Mapping[str, float]) -> float:
        nonlocal done
        y = f(values)
        done += 1
        if progress:
            progress(done, total)
        return y

    shipped = {p.name: p.shipped for p in params}
    baseline = run(shipped)
    ys = np.array([run(dict(zip(problem["names"], row, strict=True))) for row in x])
    swings = [(run({**shipped, p.name: p.low}), run({**shipped, p.name: p.high})) for p in params]
    indices = _analyse(method, problem, x, ys, seed)

    rank_by = "mu_star" if method == "morris" else "ST"
    rows = []
    for i, p in enumerate(params):
        row: dict[str, Any] = {
            "name": p.name,
            "layer": p.parameter.layer,
            "block": p.parameter.block,
            "shipped": p.shipped,
            "low": _clean(p.low),
            "high": _clean(p.high),
            **{key: _clean(float(v[i])) for key, v in indices.items()},
            "oat_low": _clean(swings[i][0]),
            "oat_high": _clean(swings[i][1]),
        }
        rows.append(row)
    rows.sort(key=lambda r: (-r[rank_by], r["name"]))
    runs_note = (
        f"Morris: {trajectories} trajectories x ({k} + 1) runs"
        if method == "morris"
        else f"Sobol (Saltelli, first and total order): {trajectories} x ({k} + 2) runs"
    )
    return {
        "outcome": {"name": outcome, "kind": kind, "unit": f.unit()},
        "patient": patient_keys(patient),
        "regimen": regimen_label(doses),
        "years": float(years),
        "baseline": _clean(baseline),
        "method": method,
        "rank_by": rank_by,
        "trajectories": trajectories,
        "seed": seed,
        "sampling": {
            "width_sd": float(width_sd),
            "basis": basis,
            "rule": SAMPLING_RULES[basis].format(width=width_sd),
        },
        "indices_note": (
            "mu_star: mean absolute elementary effect, in the outcome's unit per the "
            "parameter's whole sampled range; sigma: their spread (interactions, "
            f"non-linearity); mu_star_conf: {CONFIDENCE:.0%} bootstrap half-width"
            if method == "morris"
            else f"S1, ST: first-order and total Sobol indices; *_conf: {CONFIDENCE:.0%} "
            "bootstrap half-widths"
        ),
        "oat_note": (
            "oat_low, oat_high: the outcome with the parameter at the low and high end of its "
            "sampled range, every other parameter at its shipped value"
        ),
        "runs": {
            "global": len(x),
            "one_at_a_time": 2 * k + 1,
            "physiology_simulations": f.simulations,
            "design": runs_note,
        },
        "parameters": rows,
        "provenance": {
            "sermsim_version": __version__,
            "parameters_sha256": parameters_sha256(),
            "seconds": round(time.perf_counter() - started, 2),
        },
        "disclaimer": DISCLAIMER,
    }
