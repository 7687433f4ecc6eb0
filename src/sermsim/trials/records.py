"""Each person's outcomes in an arm, worked out a block of people at a time.

For every person the hazards of every process and the competing mortality are rows over the
months of follow-up; for a whole arm they would be (people, months) arrays, about 0.6 GB per
100,000 people over 5 years. So a block of :data:`CHUNK_PEOPLE` people at a time goes from
covariates to hazards, mortality, sampled events, expected cumulative incidence and continuous
endpoints, and is reduced to per-person records (:class:`ArmRecords`); the expected curves are
summed over people on the way. What an arm keeps grows with its people, not with people x
months, and the records of contiguous slices of an arm join into the whole arm's, the same to
the bit, because every number of a person is computed from that person's row alone and every
random draw is keyed by (seed, arm, person index, stream).

The expected cumulative incidence is each person's exact probability of at least one event
by the end (death from other causes competing); events are sampled per person from the same
hazards.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from sermsim.agents.regimen import Regimen, regimen_key
from sermsim.outcomes import gail
from sermsim.outcomes.hazards import Covariates, first_time, hazards, mortality
from sermsim.outcomes.parameters import OutcomeParameters
from sermsim.trials.endpoints import BMD_ENDPOINTS, PERCENT_CHANGE, biomarker
from sermsim.trials.keyed import normals, uniforms
from sermsim.trials.population import Population, typical_t_score
from sermsim.trials.spec import Arm, TrialSpec

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]
STEPS_PER_YEAR = 12  # the outcome grid: monthly
# People per block of (people, months) arrays: an engineering setting, not science (the numbers
# do not depend on it). A block of a 5-year trial holds some 40 arrays of 5,000 x 60 floats
# (2.4 MB each, about 0.1 GB), whatever the arm's size. Measured on the 2-core machine, 20,000
# flagship people took 1.8 s in blocks of 5,000 and 2.1-2.9 s in blocks of 25,000 (more time
# in the kernel mapping and unmapping large arrays, and fewer cache hits).
CHUNK_PEOPLE = 5_000


def outcome_grid(duration: float) -> FloatArray:
    """The outcome grid (years): monthly from 0 to the end of follow-up."""
    k = max(1, math.ceil(duration * STEPS_PER_YEAR - 1e-9))
    return np.linspace(0.0, duration, k + 1)


# ---------------------------------------------------------------------------------------------
# The anchors' physiology (computed by trials.anchors; a plain record here, so that a worker
# that only works out records needs no physiology engine)


@dataclass(frozen=True)
class AnchorPhysiology:
    """The anchors' physiology on the outcome grid and the anchor of every person.

    ``untreated`` and ``treated[(regimen_key(regimen), treatment years)]`` map an output name to an
    (anchors, grid points) array; ``assignment[arm]`` is the anchor index of each of the arm's
    people, in the arm's order. ``failures`` maps an anchor whose physiology did not solve
    to the reason (its rows are NaN): the people it stands for fail with it.
    """

    n_anchors: int
    untreated: Mapping[str, FloatArray]
    treated: Mapping[tuple[str, float], Mapping[str, FloatArray]]
    assignment: Mapping[str, NDArray[np.int64]]
    failures: Mapping[int, str] = field(default_factory=dict)

    def of_arm(self, arm: Arm) -> Mapping[str, FloatArray]:
        """The anchors' outputs on the arm's regimen (the untreated ones for no treatment)."""
        if not arm.regimen:
            return self.untreated
        return self.treated[(regimen_key(arm.regimen), arm.treatment_years)]


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
# Covariates and drivers of a block of people


def _covariates(pop: Population, physiology: Mapping[str, float]) -> Covariates:
    c = pop.columns
    p = physiology
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
        # NaN: an output that does not apply (a man's endometrium: no drive) or an anchor that
        # failed (its people fail: see _block_records); 1 keeps every ratio and difference
        # defined and neutral.
        return np.nan_to_num(d[name][rows], nan=1.0)

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


# ---------------------------------------------------------------------------------------------
# Endpoints from the base processes


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


def endpoint_hazard(name: str, hz: Mapping[str, FloatArray]) -> FloatArray:
    """The hazard of an endpoint's first event: the sum of its processes' hazards."""
    kind = ENDPOINT_PROCESSES[name]
    processes = kind[1] if kind[0] == "any" else (kind[1],)
    return np.sum([hz[p] for p in processes], axis=0)


def endpoint_share(name: str, params: OutcomeParameters) -> float:
    """The share of its process an endpoint takes (PE and DVT of VTE; 1 otherwise)."""
    kind = ENDPOINT_PROCESSES[name]
    if kind[0] != "share":
        return 1.0
    f = params[kind[2]]
    return f if kind[3] else 1.0 - f


def event_endpoints(spec: TrialSpec) -> list[str]:
    """The event endpoints an arm works out: the spec's, and invasive breast cancer always."""
    return sorted({e.name for e in spec.endpoints if e.is_event} | {"invasive_breast_cancer"})


# ---------------------------------------------------------------------------------------------
# Per-person records


@dataclass(frozen=True)
class ArmRecords:
    """Per-person results of an arm, or of a contiguous slice of its people.

    For each event endpoint: whether the first event came within follow-up (``event``), the
    years at risk until it, death or the end (``time_at_risk``), the expected cumulative
    incidence by the end (``expected``), and the sum over these people of their expected
    cumulative incidence at every grid time (``curve_sums``). For each continuous endpoint key:
    (values, baselines). ``failure`` is why a person has no results ("" for everyone who
    solved): their expectations and values are NaN, they have no events and no time at risk,
    and they add nothing to the curve sums. ``hazards`` (base process -> (n, K) per year) and
    ``mortality`` are kept only when asked for (they are people x months).
    """

    draw_index: NDArray[np.int64]
    event: Mapping[str, BoolArray]
    time_at_risk: Mapping[str, FloatArray]
    expected: Mapping[str, FloatArray]
    curve_sums: Mapping[str, FloatArray]
    continuous: Mapping[str, tuple[FloatArray, FloatArray]]
    failure: NDArray[np.object_]
    hazards: Mapping[str, FloatArray] | None = None
    mortality: FloatArray | None = None

    def __len__(self) -> int:
        return len(self.draw_index)

    @property
    def solved(self) -> BoolArray:
        """Who has results (everyone but the failures)."""
        return self.failure == ""

    def only(self, rows: NDArray[np.int64]) -> ArmRecords:
        """The records of ``rows`` (positions in these records); the curve sums stay those of
        everyone (a failure adds nothing to them)."""

        def pick(d: Mapping[str, Any]) -> dict[str, Any]:
            return {k: v[rows] for k, v in d.items()}

        return ArmRecords(
            self.draw_index[rows],
            pick(self.event),
            pick(self.time_at_risk),
            pick(self.expected),
            self.curve_sums,
            {k: (v[rows], b[rows]) for k, (v, b) in self.continuous.items()},
            self.failure[rows],
            None if self.hazards is None else pick(self.hazards),
            None if self.mortality is None else self.mortality[rows],
        )


def _running_sum(total: FloatArray | None, rows: FloatArray) -> FloatArray:
    """``total`` plus the sum of ``rows`` (n, K+1) over people, one person after another.

    NumPy reduces axis 0 of a C-contiguous array row by row in order, so prepending the total
    so far makes a sum over blocks the same, bit for bit, as the sum over all at once."""
    if total is None:
        return np.ascontiguousarray(rows).sum(axis=0)
    return np.concatenate([total[None, :], rows]).sum(axis=0)


def _block_records(
    spec: TrialSpec,
    arm: Arm,
    pop: Population,
    rows: NDArray[np.int64],
    physiology: AnchorPhysiology,
    physiology_values: Mapping[str, float],
    params: OutcomeParameters,
    grid: FloatArray,
    keep_hazards: bool,
    sums_before: Mapping[str, FloatArray] | None,
) -> ArmRecords:
    """The records of one block of people; ``rows`` is each one's anchor. Its curve sums
    run on from ``sums_before`` (those of the blocks before it in the arm)."""
    values = physiology.of_arm(arm)
    failure = np.array([physiology.failures.get(int(a), "") for a in rows], dtype=object)
    cov = _covariates(pop, physiology_values)
    drivers = _drivers(
        values, physiology.untreated, rows, arm.regimen, arm.treatment_years, grid, params
    )
    hz = hazards(cov, drivers, grid, params)
    del drivers
    for name, h in hz.items():  # a hazard that is not finite fails its person, named
        bad = (failure == "") & ~np.all(np.isfinite(h), axis=1)
        failure[bad] = f"the {name} hazard is not finite"
    failed = failure != ""
    if failed.any():  # a failure has no hazards: no events, no time at risk, no curve
        hz = {k: np.where(failed[:, None], 0.0, h) for k, h in hz.items()}
    dt = np.diff(grid)
    mid = 0.5 * (grid[1:] + grid[:-1])
    m = mortality(params, cov.female, cov.age[:, None] + mid[None, :])
    duration = grid[-1]
    seed, index = spec.seed, pop.index
    death = first_time(m, dt, uniforms(seed, arm.name, index, "death"))
    end = np.minimum(death, duration)
    times = {
        p: first_time(h, dt, uniforms(seed, arm.name, index, f"event:{p}")) for p, h in hz.items()
    }
    vte_type = uniforms(seed, arm.name, index, "vte_type")
    event: dict[str, BoolArray] = {}
    at_risk: dict[str, FloatArray] = {}
    expected: dict[str, FloatArray] = {}
    sums: dict[str, FloatArray] = {}
    for name in event_endpoints(spec):
        curve = expected_curve(endpoint_hazard(name, hz), m, dt) * endpoint_share(name, params)
        expected[name] = np.where(failed, np.nan, curve[:, -1])
        sums[name] = _running_sum(None if sums_before is None else sums_before[name], curve)
        del curve
        kind = ENDPOINT_PROCESSES[name]
        if kind[0] == "any":
            t = np.min(np.stack([times[p] for p in kind[1]]), axis=0)
        else:
            pe = vte_type < params[kind[2]]
            t = np.where(pe if kind[3] else ~pe, times[kind[1]], np.inf)
        event[name] = (t < end) & ~failed
        at_risk[name] = np.where(failed, 0.0, np.minimum(t, end))
    continuous: dict[str, tuple[FloatArray, FloatArray]] = {}
    for e in spec.endpoints:
        if e.is_event:
            continue
        at = e.at_years if e.at_years is not None else duration
        series = values[biomarker(e.name)]  # per anchor, then to each person by their anchor
        value = np.array([np.interp(at, grid, row) for row in series])[rows]
        base = series[:, 0][rows]
        if e.name.startswith("endometrial"):  # anchors carry a uterus; people may not
            value = np.where(cov.uterus, value, np.nan)
            base = np.where(cov.uterus, base, np.nan)
        if e.name in PERCENT_CHANGE:
            v = 100.0 * (value / base - 1.0)
            if e.name in BMD_ENDPOINTS:
                cv = params["measurement.dxa_precision"]
                noise = normals(seed, arm.name, index, f"dxa:{e.key}") * cv * math.sqrt(2.0)
                v = v + noise
            continuous[e.key] = (np.where(failed, np.nan, v), np.full(len(v), np.nan))
        else:
            continuous[e.key] = (np.where(failed, np.nan, value), np.where(failed, np.nan, base))
    return ArmRecords(
        pop.index.copy(),
        event,
        at_risk,
        expected,
        sums,
        continuous,
        failure,
        hz if keep_hazards else None,
        m if keep_hazards else None,
    )


def arm_records(
    spec: TrialSpec,
    arm: Arm,
    pop: Population,
    physiology: AnchorPhysiology,
    physiology_values: Mapping[str, float],
    params: OutcomeParameters,
    grid: FloatArray,
    *,
    start: int = 0,
    chunk: int = CHUNK_PEOPLE,
    keep_hazards: bool = False,
) -> ArmRecords:
    """The records of ``pop``, people ``start`` to ``start + len(pop)`` of ``arm`` (all of
    them by default), worked out ``chunk`` people at a time. ``physiology_values`` are the
    physiology's parameters (the engine's ``physiology.values``)."""
    if len(pop) == 0:
        raise ValueError("arm_records: no people")
    assignment = physiology.assignment[arm.name][start : start + len(pop)]
    blocks: list[ArmRecords] = []
    for a in range(0, len(pop), chunk):
        b = min(a + chunk, len(pop))
        block = pop.take(np.arange(a, b)) if (a, b) != (0, len(pop)) else pop
        blocks.append(
            _block_records(
                spec,
                arm,
                block,
                assignment[a:b],
                physiology,
                physiology_values,
                params,
                grid,
                keep_hazards,
                blocks[-1].curve_sums if blocks else None,
            )
        )
    return _join(blocks, blocks[-1].curve_sums)  # the last block's sums run over all


def join_records(parts: Sequence[ArmRecords]) -> ArmRecords:
    """The records of consecutive slices of an arm's people as one (in the given order).

    The curve sums of the slices are added: equal to the arm's at once up to rounding (the
    per-person records, and so the trial's JSON, are equal to the bit)."""
    sums: dict[str, FloatArray] = {}
    for k in parts[0].curve_sums:
        total = parts[0].curve_sums[k]
        for p in parts[1:]:
            total = total + p.curve_sums[k]
        sums[k] = total
    return _join(parts, sums)


def _join(parts: Sequence[ArmRecords], sums: Mapping[str, FloatArray]) -> ArmRecords:
    if len(parts) == 1:
        return replace(parts[0], curve_sums=sums)
    first = parts[0]

    def cat(get: Any) -> dict[str, Any]:
        return {k: np.concatenate([get(p)[k] for p in parts]) for k in get(first)}

    kept = all(p.hazards is not None and p.mortality is not None for p in parts)
    return ArmRecords(
        np.concatenate([p.draw_index for p in parts]),
        cat(lambda p: p.event),
        cat(lambda p: p.time_at_risk),
        cat(lambda p: p.expected),
        sums,
        {
            k: (
                np.concatenate([p.continuous[k][0] for p in parts]),
                np.concatenate([p.continuous[k][1] for p in parts]),
            )
            for k in first.continuous
        },
        np.concatenate([p.failure for p in parts]),
        cat(lambda p: p.hazards) if kept else None,
        np.concatenate([p.mortality for p in parts]) if kept else None,
    )
