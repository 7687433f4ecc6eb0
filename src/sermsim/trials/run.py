"""Run a virtual trial: populations, physiology, hazards, events, and TRIAL_SPEC.md's JSON.

**Physiology by anchors.** Simulating the full physiology for every person of a 10^5-person
trial is the engine issue's job. Here each arm's physiology is simulated for a set of
*anchors* (``physiology_anchors``, default 48, shared by every arm): people drawn from the
pooled populations, spread over every group that changes the physiology (sex, menopausal stage,
surgical menopause, CYP2D6 phenotype, measured labs) and, within a group, over age and years
since menopause. Every person takes the physiology (relative to the same anchor untreated) of
the nearest anchor in their group, while their baseline risks (age, BMD, Gail inputs or stated
breast risk, thrombophilia, BMI, smoking, prior events) are their own. When the trial has no
more people than anchors, every person is simulated.

The expected cumulative incidence is each person's exact probability of at least one event
by the end (death from other causes competing); events are sampled per person from the same
hazards with draws keyed by (seed, arm, person, process).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from sermsim import DISCLAIMER, __version__
from sermsim.agents.regimen import Regimen, regimen_label
from sermsim.core.errors import NumericalError, SpecError
from sermsim.core.params import parameters_sha256
from sermsim.core.units import DAYS_PER_YEAR
from sermsim.outcomes import gail
from sermsim.outcomes.hazards import (
    Covariates,
    first_time,
    hazards,
    mortality,
)
from sermsim.outcomes.parameters import OutcomeParameters, default_outcome_parameters
from sermsim.physiology.simulate import Engine, default_engine, simulate_batch
from sermsim.trials.endpoints import BMD_ENDPOINTS, PERCENT_CHANGE, VALUES, biomarker
from sermsim.trials.keyed import normals, uniforms
from sermsim.trials.population import Population, sample_arm, typical_t_score
from sermsim.trials.spec import TrialSpec

FloatArray = NDArray[np.float64]
STEPS_PER_YEAR = 12  # the outcome grid: monthly
Z95 = 1.959963984540054  # the standard normal's 97.5th percentile
Progress = Callable[[str, float], None]

_DRIVER_OUTPUTS = (
    "signal:breast",
    "bmd_lumbar_spine_g_cm2",
    "bmd_total_hip_g_cm2",
    "ctx_ng_ml",
    "prothrombotic_index",
    "ldl_mg_dl",
    "endometrial_stimulation_mm",
)
_LAB_KEYS = ("estradiol_pg_ml", "testosterone_ng_dl", "lh_iu_l", "fsh_iu_l")


@dataclass
class ArmOutcome:
    """One arm's per-person results (kept for reports and validation)."""

    name: str
    regimen: Regimen
    population: Population
    expected: dict[str, FloatArray]  # endpoint -> per person expected cumulative incidence
    curves: dict[str, FloatArray]  # endpoint -> mean expected cumulative incidence on the grid
    hazards: dict[str, FloatArray]  # base process -> (n, K) hazards per year
    events: dict[str, tuple[int, float]]  # endpoint -> (events, person-years)
    continuous: dict[str, tuple[FloatArray, FloatArray]]  # key -> (values, baselines)
    mortality: FloatArray  # (n, K) competing mortality hazard per year
    grid: FloatArray  # years
    shares: dict[str, float]  # endpoint -> share of its process (DVT and PE of VTE)

    def curve(self, endpoint: str, mask: NDArray[np.bool_]) -> FloatArray:
        """Mean expected cumulative incidence on the grid over the people in ``mask``."""
        h = _endpoint_hazard(endpoint, self.hazards)[mask]
        per = expected_curve(h, self.mortality[mask], np.diff(self.grid))
        return per.mean(axis=0) * self.shares[endpoint]


@dataclass
class TrialOutcome:
    spec: TrialSpec
    grid: FloatArray  # years
    arms: dict[str, ArmOutcome]
    result: dict[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------
# Breast baseline


def _gail_inputs(pop: Population) -> gail.GailInputs:
    c = pop.columns
    n = len(pop)
    race = np.array(
        [gail.RACES.index(r) if r in gail.RACES else 0 for r in c["race"]], dtype=np.int64
    )

    def known(x: NDArray[Any]) -> FloatArray:
        return np.where(np.isnan(x.astype(float)), gail.UNKNOWN, x.astype(float))

    first = known(c["age_at_first_birth"])
    given = pop.given
    if "age_at_first_birth" in given:
        # Given as null (nulliparous) for some people: a given key with no value.
        first = np.where(np.isnan(c["age_at_first_birth"].astype(float)), gail.NULLIPAROUS, first)
    ah = np.array(
        [gail.UNKNOWN if v is None else float(bool(v)) for v in c["atypical_hyperplasia"]]
    )
    return gail.GailInputs(
        race=race,
        biopsies=known(c["breast_biopsies"]),
        atypia=ah if len(ah) == n else np.full(n, gail.UNKNOWN),
        menarche=known(c["age_at_menarche"]),
        first_birth=first,
        relatives=known(c["first_degree_relatives_breast_cancer"]),
    )


_GAIL_KEYS = (
    "age_at_menarche",
    "age_at_first_birth",
    "first_degree_relatives_breast_cancer",
    "breast_biopsies",
    "atypical_hyperplasia",
)


def breast_tables(pop: Population) -> FloatArray:
    """Each person's invasive breast cancer hazard table by Gail age group (n, 14): scaled to
    the stated 5-year risk; else BCRAT from the Gail inputs given; else the age-typical
    (average-risk) rates."""
    g = _gail_inputs(pop)
    c = pop.columns
    average, _ = gail.rates(g, average=True)
    table = average.copy()
    if any(k in pop.given for k in _GAIL_KEYS):
        table = gail.individual_incidence(g)
    risk = c["breast_cancer_5y_risk"].astype(float)
    stated = ~np.isnan(risk)
    if stated.any():
        age = c["age"].astype(float)
        m = np.ones(len(pop))
        m[stated] = gail.scale_to_risk(
            gail.GailInputs(
                g.race[stated],
                g.biopsies[stated],
                g.atypia[stated],
                g.menarche[stated],
                g.first_birth[stated],
                g.relatives[stated],
            ),
            age[stated],
            risk[stated],
        )
        table = np.where(stated[:, None], average * m[:, None], table)
    return np.where(np.asarray(c["female"], bool)[:, None], table, 0.0)


# ---------------------------------------------------------------------------------------------
# Anchors


def _group_keys(pop: Population) -> NDArray[Any]:
    c = pop.columns
    stage = np.where(
        ~np.asarray(c["female"], bool),
        "male",
        np.where(np.asarray(c["surgical_menopause"], bool), "surgical", c["menopause"].astype(str)),
    )
    labs = np.stack([~np.isnan(c[k].astype(float)) for k in _LAB_KEYS], axis=1)
    lab_key = ["".join("1" if x else "0" for x in row) for row in labs]
    return np.array(
        [
            f"{s}|{y}|{lab}"
            for s, y, lab in zip(stage, c["cyp2d6"].astype(str), lab_key, strict=True)
        ],
        dtype=object,
    )


def _features(pop: Population) -> FloatArray:
    c = pop.columns
    cols = [c["age"].astype(float), np.nan_to_num(c["years_since_menopause"].astype(float))]
    for k in _LAB_KEYS:
        cols.append(np.log(np.nan_to_num(c[k].astype(float), nan=1.0)))
    return np.stack(cols, axis=1)


@dataclass
class Anchors:
    people: list[Any]  # Patient objects
    assignment: dict[str, NDArray[np.int64]]  # arm -> anchor index per person


def choose_anchors(populations: Mapping[str, Population], budget: int) -> Anchors:
    """Anchors spread over the pooled population's groups and, within each, over its
    (age, years since menopause, labs) by evenly spaced ranks of age."""
    names = list(populations)
    pooled_keys = np.concatenate([_group_keys(populations[a]) for a in names])
    pooled_feat = np.concatenate([_features(populations[a]) for a in names])
    owner = np.concatenate([np.full(len(populations[a]), i) for i, a in enumerate(names)])
    row = np.concatenate([np.arange(len(populations[a])) for a in names])
    groups, counts = np.unique(pooled_keys, return_counts=True)
    total = len(pooled_keys)
    alloc = np.maximum(1, np.floor(budget * counts / total).astype(int))
    while alloc.sum() > max(budget, len(groups)) and alloc.max() > 1:
        alloc[np.argmax(alloc)] -= 1
    people: list[Any] = []
    anchor_feat: list[FloatArray] = []
    anchor_group: list[str] = []
    for g, k in zip(groups, alloc, strict=True):
        members = np.flatnonzero(pooled_keys == g)
        order = members[np.argsort(pooled_feat[members, 0], kind="stable")]
        k = min(k, len(order))
        picks = order[((np.arange(k) + 0.5) * len(order) / k).astype(int)]
        for i in picks:
            pop = populations[names[owner[i]]]
            person = pop.patient(int(row[i]))
            if person.sex == "female" and not person.uterus:
                person = person.model_copy(update={"uterus": True})  # endometrial drive
            people.append(person)
            anchor_feat.append(pooled_feat[i])
            anchor_group.append(str(g))
    feat = np.asarray(anchor_feat)
    scale = np.maximum(pooled_feat.std(axis=0), 1e-9)
    groups_a = np.asarray(anchor_group, dtype=object)
    assignment: dict[str, NDArray[np.int64]] = {}
    for a in names:
        keys = _group_keys(populations[a])
        f = _features(populations[a])
        idx = np.empty(len(keys), dtype=np.int64)
        for g in np.unique(keys):
            mine = np.flatnonzero(keys == g)
            cand = np.flatnonzero(groups_a == g)
            d = (((f[mine, None, :] - feat[None, cand, :]) / scale) ** 2).sum(axis=2)
            idx[mine] = cand[np.argmin(d, axis=1)]
        assignment[a] = idx
    return Anchors(people, assignment)


# ---------------------------------------------------------------------------------------------
# The trial


def _grid(duration: float) -> FloatArray:
    k = max(1, math.ceil(duration * STEPS_PER_YEAR - 1e-9))
    return np.linspace(0.0, duration, k + 1)


def _covariates(pop: Population, engine: Engine) -> Covariates:
    c = pop.columns
    p = engine.physiology.values
    female = np.asarray(c["female"], bool)
    age = c["age"].astype(float)
    slope = np.where(
        female, p["bone.typical_t_score_slope_women"], p["bone.typical_t_score_slope_men"]
    )
    typical = typical_t_score(female, age, p)
    return Covariates(
        female=female,
        age=age,
        uterus=np.asarray(c["uterus"], bool),
        bmi=c["bmi"].astype(float),
        smoker=np.asarray(c["smoker"], bool),
        prior_vte=np.asarray(c["prior_vte"], bool),
        thrombophilia=c["thrombophilia"].astype(str),
        t_spine=c["bmd_t_score_spine"].astype(float),
        t_hip=c["bmd_t_score_hip"].astype(float),
        t_spine_typical=typical,
        t_hip_typical=typical,
        t_slope=np.where(age >= 50.0, slope, 0.0),
        prior_fracture=np.asarray(c["prior_fragility_fracture"], bool),
        breast_table=breast_tables(pop),
        bmd_spine_z0=np.full(
            len(pop), p["bone.reference_mean_lumbar_spine"] / p["bone.reference_sd_lumbar_spine"]
        ),
        bmd_hip_z0=np.full(
            len(pop), p["bone.reference_mean_total_hip"] / p["bone.reference_sd_total_hip"]
        ),
    )


def _drivers(
    arm: Mapping[str, FloatArray],
    none: Mapping[str, FloatArray],
    rows: NDArray[np.int64],
    regimen: Regimen,
    treatment_years: float,
    grid: FloatArray,
    params: OutcomeParameters,
) -> dict[str, FloatArray]:
    def take(d: Mapping[str, FloatArray], name: str) -> FloatArray:
        return np.nan_to_num(d[name][rows])

    mid = 0.5 * (grid[1:] + grid[:-1])
    off = 1.0
    for dose in regimen:
        key = f"cataract.off_target_hazard_ratio.{dose.agent}"
        if key in params.values:
            off *= params[key]
    on = (mid < treatment_years).astype(float)
    return {
        "breast_signal": take(arm, "signal:breast"),
        "breast_signal_none": take(none, "signal:breast"),
        "bmd_spine_ratio": take(arm, "bmd_lumbar_spine_g_cm2")
        / take(none, "bmd_lumbar_spine_g_cm2"),
        "bmd_hip_ratio": take(arm, "bmd_total_hip_g_cm2") / take(none, "bmd_total_hip_g_cm2"),
        "turnover_ratio": take(arm, "ctx_ng_ml") / take(none, "ctx_ng_ml"),
        "prothrombotic_ratio": take(arm, "prothrombotic_index") / take(none, "prothrombotic_index"),
        "ldl_lowering_mg_dl": take(none, "ldl_mg_dl") - take(arm, "ldl_mg_dl"),
        "unopposed_drive_mm": np.clip(
            take(arm, "endometrial_stimulation_mm") - take(none, "endometrial_stimulation_mm"),
            0.0,
            None,
        ),
        "cataract_multiplier": np.broadcast_to(1.0 + (off - 1.0) * on, (len(rows), len(mid))),
    }


# Endpoint -> how it is built from the base processes: ("any", processes) is the first of
# them; ("share", process, fraction key, side) is the first event of a process of one type.
ENDPOINT_PROCESSES: dict[str, tuple[Any, ...]] = {
    "invasive_breast_cancer": ("any", ("er_positive", "er_negative")),
    "er_positive_breast_cancer": ("any", ("er_positive",)),
    "er_negative_breast_cancer": ("any", ("er_negative",)),
    "vertebral_fracture": ("any", ("vertebral",)),
    "clinical_vertebral_fracture": ("any", ("clinical_vertebral",)),
    "hip_fracture": ("any", ("hip",)),
    "nonvertebral_fracture": ("any", ("hip", "other_nonvertebral")),
    "osteoporotic_fracture": ("any", ("clinical_vertebral", "hip", "other_nonvertebral")),
    "vte": ("any", ("vte",)),
    "pulmonary_embolism": ("share", "vte", "vte.pe_fraction", True),
    "dvt": ("share", "vte", "vte.pe_fraction", False),
    "stroke": ("any", ("stroke",)),
    "coronary_event": ("any", ("coronary",)),
    "cataract": ("any", ("cataract",)),
    "endometrial_hyperplasia": ("any", ("endometrial_hyperplasia",)),
    "endometrial_cancer": ("any", ("endometrial_cancer",)),
}


def expected_curve(h: FloatArray, m: FloatArray, dt: FloatArray) -> FloatArray:
    """Each person's expected cumulative incidence at every grid time (n, K+1)."""
    total = h + m
    before = np.cumsum(total * dt, axis=1) - total * dt
    safe = np.where(total > 0, total, 1.0)
    piece = np.where(total > 0, h / safe, 0.0) * np.exp(-before) * -np.expm1(-total * dt)
    return np.concatenate([np.zeros((h.shape[0], 1)), np.cumsum(piece, axis=1)], axis=1)


def _endpoint_hazard(name: str, hz: Mapping[str, FloatArray]) -> FloatArray:
    """The hazard of an endpoint's first event: the sum of its processes' hazards."""
    kind = ENDPOINT_PROCESSES[name]
    processes = kind[1] if kind[0] == "any" else (kind[1],)
    return np.sum([hz[p] for p in processes], axis=0)


def _share(name: str, params: OutcomeParameters) -> float:
    kind = ENDPOINT_PROCESSES[name]
    if kind[0] != "share":
        return 1.0
    f = params[kind[2]]
    return f if kind[3] else 1.0 - f


def run_arm_outcomes(
    spec: TrialSpec,
    arm_name: str,
    pop: Population,
    drivers: Mapping[str, FloatArray],
    anchor_values: Mapping[str, FloatArray],
    engine: Engine,
    params: OutcomeParameters,
    grid: FloatArray,
) -> ArmOutcome:
    """Hazards, expectations, sampled events and continuous endpoints of one arm."""
    cov = _covariates(pop, engine)
    hz = hazards(cov, drivers, grid, params)
    dt = np.diff(grid)
    mid = 0.5 * (grid[1:] + grid[:-1])
    m = mortality(params, cov.female, cov.age[:, None] + mid[None, :])
    duration = grid[-1]
    seed, index = spec.seed, pop.index
    death = first_time(m, dt, uniforms(seed, arm_name, index, "death"))
    times = {
        p: first_time(h, dt, uniforms(seed, arm_name, index, f"event:{p}")) for p, h in hz.items()
    }
    vte_type = uniforms(seed, arm_name, index, "vte_type")
    expected: dict[str, FloatArray] = {}
    curves: dict[str, FloatArray] = {}
    shares: dict[str, float] = {}
    events: dict[str, tuple[int, float]] = {}
    wanted = {e.name for e in spec.endpoints if e.is_event} | {"invasive_breast_cancer"}
    for name in sorted(wanted):
        h = _endpoint_hazard(name, hz)
        share = _share(name, params)
        shares[name] = share
        curve = expected_curve(h, m, dt) * share
        expected[name] = curve[:, -1]
        curves[name] = curve.mean(axis=0)
        kind = ENDPOINT_PROCESSES[name]
        if kind[0] == "any":
            t = np.min(np.stack([times[p] for p in kind[1]]), axis=0)
        else:
            pe = vte_type < params[kind[2]]
            t = np.where(pe if kind[3] else ~pe, times[kind[1]], np.inf)
        end = np.minimum(death, duration)
        count = int(np.sum(t < end))
        person_years = float(np.sum(np.minimum(t, end)))
        events[name] = (count, person_years)
    continuous: dict[str, tuple[FloatArray, FloatArray]] = {}
    for e in spec.endpoints:
        if e.is_event:
            continue
        at = e.at_years if e.at_years is not None else duration
        series = anchor_values[biomarker(e.name)]
        value = np.array([np.interp(at, grid, row) for row in series])
        base = series[:, 0]
        if e.name.startswith("endometrial"):  # anchors carry a uterus; people may not
            value = np.where(cov.uterus, value, np.nan)
            base = np.where(cov.uterus, base, np.nan)
        if e.name in PERCENT_CHANGE:
            v = 100.0 * (value / base - 1.0)
            if e.name in BMD_ENDPOINTS:
                cv = params["measurement.dxa_precision"]
                noise = normals(seed, arm_name, index, f"dxa:{e.key}") * cv * math.sqrt(2.0)
                v = v + noise
            continuous[e.key] = (v, np.full(len(v), np.nan))
        else:
            continuous[e.key] = (value, base)
    return ArmOutcome(
        arm_name,
        spec.arm(arm_name).regimen,
        pop,
        expected,
        curves,
        hz,
        events,
        continuous,
        m,
        grid,
        shares,
    )


def _anchor_series(
    spec: TrialSpec, anchors: Anchors, engine: Engine, grid: FloatArray, progress: Progress | None
) -> tuple[dict[str, FloatArray], dict[tuple[str, float], dict[str, FloatArray]]]:
    outputs = tuple(
        sorted(set(_DRIVER_OUTPUTS) | {biomarker(e.name) for e in spec.endpoints if not e.is_event})
    )
    days = grid * DAYS_PER_YEAR
    keys: list[tuple[str, float]] = []
    regimens: list[tuple[Regimen, float | None]] = [((), None)]
    for arm in spec.arms:
        key = (regimen_label(arm.regimen), arm.treatment_years)
        if key not in keys and arm.regimen:
            keys.append(key)
            stop = None if arm.treatment_years >= spec.duration_years else arm.treatment_years
            regimens.append((arm.regimen, None if stop is None else stop * DAYS_PER_YEAR))
    if progress:
        progress(f"physiology: {len(anchors.people)} anchors x {len(regimens)} regimens", 0.1)
    results = simulate_batch(
        anchors.people,
        regimens,
        spec.duration_years,
        days,
        outputs,
        engine=engine,
        seeds=list(range(len(anchors.people))),
    )
    none = results[0]
    by_key = {k: r for k, r in zip(keys, results[1:], strict=True)}
    return none, by_key


def run_trial(
    spec: TrialSpec,
    *,
    engine: Engine | None = None,
    params: OutcomeParameters | None = None,
    progress: Progress | None = None,
    physiology_cache: dict[str, Any] | None = None,
) -> TrialOutcome:
    """Run every arm of a trial; the result's ``result`` is TRIAL_SPEC.md's JSON object."""
    started = time.perf_counter()
    engine = engine or default_engine()
    params = params or default_outcome_parameters()
    grid = _grid(spec.duration_years)
    if progress:
        progress("drawing the populations", 0.0)
    pops = {arm.name: sample_arm(spec, arm.name, engine.physiology.values) for arm in spec.arms}
    cached = physiology_cache.get("physiology") if physiology_cache is not None else None
    if cached is None:
        anchors = choose_anchors(pops, spec.anchors)
        none, by_key = _anchor_series(spec, anchors, engine, grid, progress)
        if physiology_cache is not None:
            physiology_cache["physiology"] = (anchors, none, by_key)
    else:
        anchors, none, by_key = cached
    if progress:
        progress("hazards and events", 0.8)
    arms: dict[str, ArmOutcome] = {}
    for arm in spec.arms:
        rows = anchors.assignment[arm.name]
        values = (
            none if not arm.regimen else by_key[(regimen_label(arm.regimen), arm.treatment_years)]
        )
        drivers = _drivers(values, none, rows, arm.regimen, arm.treatment_years, grid, params)
        anchor_values = {k: v[rows] for k, v in values.items()}
        arms[arm.name] = run_arm_outcomes(
            spec, arm.name, pops[arm.name], drivers, anchor_values, engine, params, grid
        )
    outcome = TrialOutcome(spec, grid, arms)
    outcome.result = result_json(outcome, len(anchors.people), time.perf_counter() - started)
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


def result_json(outcome: TrialOutcome, n_anchors: int, seconds: float) -> dict[str, Any]:
    spec = outcome.spec
    arms_out: dict[str, Any] = {}
    for name, arm in outcome.arms.items():
        eps: dict[str, Any] = {}
        n = len(arm.population)
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
        arms_out[name] = {"n": n, "regimen": regimen_label(arm.regimen), "endpoints": eps}
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
