"""Fuzzing with valid inputs: every valid patient, regimen and small trial gives finite results.

The property: a patient, regimen or trial spec that its parser accepts runs through the engine
(``simulate_batch``) or a whole trial (``run_trial``) and gives finite numbers, NaN only where
the model says "not applicable" (``simulate.not_applicable``), and a trial's JSON has no NaN or
infinity and no null but the contract's (a relative risk without events, with its reason).

Every example runs at the same compiled shapes, so JAX compiles once per regimen *structure*,
never per example: a batch is always :data:`BATCH_BUCKET` people, the horizon one year, the
outputs fixed; a regimen's compiled shape depends only on its dose lines' agents' PK shapes
(states and moieties), not on doses, intervals, cycles, adherence or stop days. So examples are
grouped by structure: a structure is a tuple of *pools*, each the agents of one PK shape, and an
example picks an agent from each pool and fuzzes the values. A trial is at most
:data:`BATCH_BUCKET` people in all (so its anchors are one padded batch) over at most a year.

``make test`` runs a few structures that between them hold every agent; ``make fuzz``
(``SERMSIM_FUZZ_EXAMPLES`` >= :data:`ALL_STRUCTURES_FROM`) runs every single agent, every pair
and a triple, and trials over two years.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from itertools import combinations_with_replacement
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from hypothesis.errors import UnsatisfiedAssumption

from sermsim.agents import load_agents, regimen_from_list, regimen_label
from sermsim.agents import regimen as rg
from sermsim.agents.regimen import Regimen
from sermsim.core.errors import SpecError
from sermsim.core.units import DAYS_PER_YEAR, HOURS_PER_DAY
from sermsim.physiology import model
from sermsim.physiology import patient as pt
from sermsim.physiology.patient import Patient, patient_from_mapping
from sermsim.physiology.simulate import (
    BATCH_BUCKET,
    BIOMARKERS,
    SAVES_PER_YEAR,
    default_engine,
    not_applicable,
    simulate_batch,
)
from sermsim.trials.endpoints import CONTINUOUS, EVENTS, biomarker
from sermsim.trials.spec import parse_trial
from tests.fuzz import tally

EXAMPLES = int(os.environ.get("SERMSIM_FUZZ_EXAMPLES", "60"))
# An engine example simulates BATCH_BUCKET people for a year (about 0.3 s here, a hundred
# parser examples' worth), a trial example a whole small trial (about 0.4 s): they run this
# fraction of the parsers' examples (per structure for the engine), at least MIN_EXAMPLES.
ENGINE_SHARE = 50
TRIAL_SHARE = 6
MIN_EXAMPLES = 3
# From this many examples per test (make fuzz), every structure runs; below it (make test),
# only those of FAST_STRUCTURES: each structure costs a compile of about 5 s.
ALL_STRUCTURES_FROM = 500
YEARS = 1.0  # the engine examples' horizon (one compiled horizon bucket)
SAVE_DAYS = np.linspace(0.0, YEARS * DAYS_PER_YEAR, int(YEARS * SAVES_PER_YEAR) + 1)
# Every biomarker, signal and occupancy, sorted as a trial sorts its outputs: the trials below
# keep them all (run_trial's physiology_outputs), so they run the very programs compiled here.
OUTPUTS = tuple(
    sorted(
        (
            *BIOMARKERS,
            *(f"signal:{row}" for row in model.SIGNAL_ROWS),
            *(f"drug_occupancy:{row}" for row in model.SIGNAL_ROWS),
        )
    )
)
# Dose multiples of the agent's standard dose (the brief of the fuzzing: 0.1x to 10x).
DOSE_FACTOR = (0.1, 10.0)
# Dose intervals people take (6-hourly to weekly), drawn as often as any in the valid range.
USUAL_INTERVALS_H = (6.0, 8.0, 12.0, 24.0, 48.0, 72.0, 168.0)
MAX_SEED = 2**63 - 1  # the trial spec's seed bound
ROOT = Path(__file__).resolve().parents[1]
RESULT_SCHEMA = json.loads((ROOT / "schemas" / "trial_result.schema.json").read_text())

AGENTS = load_agents()
ALL_SEARCH = EXAMPLES >= ALL_STRUCTURES_FROM


def _examples(share: int) -> int:
    return max(MIN_EXAMPLES, EXAMPLES // share)


def _fuzz(n: int) -> settings:
    return settings(
        max_examples=n,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


@contextlib.contextmanager
def counted(test: str) -> Iterator[None]:
    """Count one executed example in the fuzz tally, and a failure when it breaks the property
    (an example hypothesis rejects with ``assume`` is not a case)."""
    tally.TRIED[test] += 1
    try:
        yield
    except UnsatisfiedAssumption:
        tally.TRIED[test] -= 1
        raise
    except BaseException:
        tally.FAILED[test] += 1
        raise


# --- regimen structures -----------------------------------------------------------------------


def _pk_shape(agent: str) -> tuple[int, bool]:
    """What an agent adds to the compiled shapes: its moieties (PK states and ligands), and
    whether estradiol is one of them (then it adds no ligand of its own)."""
    ids = AGENTS[agent].moiety_ids()
    return len(ids), "estradiol" in ids


def _pools() -> dict[str, tuple[str, ...]]:
    """The agents grouped by PK shape, each pool named by its first agent."""
    by_shape: dict[tuple[int, bool], list[str]] = {}
    for name in sorted(AGENTS):
        by_shape.setdefault(_pk_shape(name), []).append(name)
    return {agents[0]: tuple(agents) for agents in by_shape.values()}


POOLS = _pools()
Structure = tuple[str, ...]  # pool names, one a dose line
_ALL: list[Structure] = [
    (),
    *((p,) for p in POOLS),
    *combinations_with_replacement(sorted(POOLS), 2),
    ("conjugated_estrogens", "bazedoxifene", "bazedoxifene"),  # HRT with a SERM and a progestin
]
# Three structures that between them give no treatment, every agent and a combination (make
# test: each costs a compile); the trials' placebo and single-SERM arms reuse the first two's
# compiled programs.
FAST_STRUCTURES: list[Structure] = [
    (),
    ("bazedoxifene",),
    ("clomiphene", "conjugated_estrogens", "estradiol", "tamoxifen"),
]
STRUCTURES = _ALL if ALL_SEARCH else FAST_STRUCTURES


def _structure_id(structure: Structure) -> str:
    return "+".join(structure) or "none"


def test_the_pools_and_fast_structures_cover_every_agent() -> None:
    """Every agent is in a pool, and make test's few structures reach every pool's agents."""
    pooled = [a for agents in POOLS.values() for a in agents]
    assert sorted(pooled) == sorted(AGENTS)
    assert {p for s in FAST_STRUCTURES for p in s} == set(POOLS)


# --- strategies: valid patients ---------------------------------------------------------------

_OMIT = object()  # a key left out (its default applies)


def _optional(value: st.SearchStrategy[Any], *, null: bool = True) -> st.SearchStrategy[Any]:
    """Left out, given, or (where allowed) null, which reads as left out."""
    options = [st.just(_OMIT), value]
    return st.one_of(*options, st.none()) if null else st.one_of(*options)


def _real(lo: float, hi: float, **kw: Any) -> st.SearchStrategy[float]:
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False, **kw)


def _put(data: dict[str, Any], key: str, value: Any) -> None:
    if value is not _OMIT:
        data[key] = value


@st.composite
def patients(draw: st.DrawFn) -> dict[str, Any]:
    """A mapping of the patient format that its parser accepts, every key over its whole
    range: the ages, BMI, T-scores, risk, labs and Gail inputs to their bounds."""
    sex = draw(st.sampled_from(["female", "male"]))
    age = draw(st.one_of(_real(pt.MIN_AGE, pt.MAX_AGE), st.integers(18, 100)))
    data: dict[str, Any] = {"sex": sex, "age": age}
    if sex == "female":
        surgical = draw(_optional(st.booleans(), null=False))
        _put(data, "surgical_menopause", surgical)
        stages = ["post"] if surgical is True else ["pre", "peri", "post"]
        menopause = draw(_optional(st.sampled_from(stages)))
        _put(data, "menopause", menopause)
        post = menopause == "post" or (
            menopause in (_OMIT, None)
            and (surgical is True or age >= pt.POSTMENOPAUSAL_DEFAULT_AGE)
        )
        if post:
            _put(data, "years_since_menopause", draw(_optional(_real(0, age - pt.MIN_AGE))))
        _put(data, "uterus", draw(_optional(st.booleans())))
        menarche = draw(_optional(_real(pt.MIN_MENARCHE_AGE, min(pt.MAX_MENARCHE_AGE, age))))
        _put(data, "age_at_menarche", menarche)
        earliest = max(pt.MIN_FIRST_BIRTH_AGE, menarche if isinstance(menarche, float) else 0.0)
        if earliest <= min(pt.MAX_FIRST_BIRTH_AGE, age):
            first = _real(earliest, min(pt.MAX_FIRST_BIRTH_AGE, age))
            _put(data, "age_at_first_birth", draw(_optional(first)))  # null: nulliparous
    else:
        _put(data, "uterus", draw(_optional(st.just(False))))
        _put(data, "surgical_menopause", draw(_optional(st.just(False), null=False)))
    _put(data, "bmi", draw(_optional(_real(pt.MIN_BMI, pt.MAX_BMI), null=False)))
    for key in ("smoker", "prior_vte", "prior_fragility_fracture"):
        _put(data, key, draw(_optional(st.booleans(), null=False)))
    for key in ("thrombophilia", "cyp2d6", "race"):
        choices = st.sampled_from(pt_choices(key))
        _put(data, key, draw(_optional(choices, null=key == "race")))
    for key in ("bmd_t_score_spine", "bmd_t_score_hip"):
        _put(data, key, draw(_optional(_real(pt.MIN_T_SCORE, pt.MAX_T_SCORE))))
    risk = _real(0.0, 1.0, exclude_min=True, exclude_max=True)
    _put(data, "breast_cancer_5y_risk", draw(_optional(risk)))
    _put(data, "first_degree_relatives_breast_cancer", draw(_optional(st.integers(0, 50))))
    _put(data, "breast_biopsies", draw(_optional(st.integers(0, pt.MAX_BIOPSIES))))
    _put(data, "atypical_hyperplasia", draw(_optional(st.booleans())))
    for key, high in (
        ("estradiol_pg_ml", pt.MAX_ESTRADIOL_PG_ML),
        ("testosterone_ng_dl", pt.MAX_TESTOSTERONE_NG_DL),
        ("lh_iu_l", pt.MAX_GONADOTROPIN_IU_L),
        ("fsh_iu_l", pt.MAX_GONADOTROPIN_IU_L),
    ):
        _put(data, key, draw(_optional(_real(pt.MIN_LAB, high))))
    return data


def pt_choices(key: str) -> tuple[str, ...]:
    """The words a categorical patient key takes (from the patient format's Literal)."""
    annotation = Patient.model_fields[key].annotation
    for arg in (annotation, *getattr(annotation, "__args__", ())):
        values = getattr(arg, "__args__", ())
        if values and all(isinstance(v, str) for v in values):
            return tuple(values)
    raise AssertionError(f"{key} is not categorical")


def _parsed_patient(data: dict[str, Any]) -> Patient:
    """The parser must accept what the strategy builds as valid (else the strategy or the
    parser is wrong: either way a failure, never a skipped case)."""
    try:
        return patient_from_mapping(data)
    except SpecError as err:
        raise AssertionError(f"a valid patient was refused: {data!r}: {err}") from None


# --- strategies: valid regimens ---------------------------------------------------------------


@st.composite
def doses(draw: st.DrawFn, pool: str) -> dict[str, Any]:
    """One dose line of the list form: an agent of ``pool`` at 0.1x-10x its standard dose,
    any valid interval, continuous or cyclic, from any start day, at any adherence."""
    agent = draw(st.sampled_from(POOLS[pool]))
    factor = draw(_real(*DOSE_FACTOR))
    item: dict[str, Any] = {"agent": agent, "dose_mg": AGENTS[agent].standard_dose_mg * factor}
    interval: Any = draw(
        st.one_of(
            st.just(_OMIT),
            st.sampled_from(USUAL_INTERVALS_H),
            _real(rg.MIN_INTERVAL_H, rg.MAX_INTERVAL_H),
        )
    )
    _put(item, "interval_h", interval)
    interval_h = rg.DEFAULT_INTERVAL_H if interval is _OMIT else interval
    if draw(st.booleans()):  # cyclic: days_on of every cycle_days, from start_day
        shortest = interval_h / HOURS_PER_DAY  # the interval fits the cycle
        cycle = max(draw(_real(shortest, rg.MAX_CYCLE_DAYS)), shortest)
        days_on = draw(_real(0.0, cycle, exclude_min=True))
        start = draw(_real(0.0, cycle - days_on))
        if start + days_on > cycle:  # rounding at the cycle's end
            start = 0.0
        item.update(start_day=start, days_on=days_on, cycle_days=cycle)
    else:
        _put(item, "start_day", draw(_optional(_real(0.0, 1e300), null=False)))
    _put(item, "adherence", draw(_optional(_real(0.0, 1.0), null=False)))
    return item


def regimens(structure: Structure) -> st.SearchStrategy[list[dict[str, Any]]]:
    return st.tuples(*(doses(pool) for pool in structure)).map(list)


def _parsed_regimen(items: list[dict[str, Any]]) -> Regimen:
    try:
        return regimen_from_list(items, AGENTS)
    except SpecError as err:
        raise AssertionError(f"a valid regimen was refused: {items!r}: {err}") from None


# --- the engine -------------------------------------------------------------------------------


def _assert_finite(people: list[Patient], result: dict[str, np.ndarray], regimen: Regimen) -> None:
    for i, person in enumerate(people):
        excused = not_applicable(person)
        for name in OUTPUTS:
            if name in excused:
                continue
            row = result[name][i]
            assert np.all(np.isfinite(row)), (
                f"{name} is not finite for {person!r} on {regimen_label(regimen)}: {row}"
            )


def _engine_test(structure: Structure) -> Any:
    @_fuzz(_examples(ENGINE_SHARE))
    @given(
        people=st.lists(patients(), min_size=BATCH_BUCKET, max_size=BATCH_BUCKET),
        items=regimens(structure),
        stop_day=st.one_of(st.none(), _real(0.0, YEARS * DAYS_PER_YEAR)),
        seeds=st.lists(st.integers(0, MAX_SEED), min_size=BATCH_BUCKET, max_size=BATCH_BUCKET),
    )
    def run(
        people: list[dict[str, Any]],
        items: list[dict[str, Any]],
        stop_day: float | None,
        seeds: list[int],
    ) -> None:
        note(f"people: {people!r}; regimen: {items!r}; stop_day: {stop_day!r}")
        with counted("engine_valid"):
            persons = [_parsed_patient(p) for p in people]
            regimen = _parsed_regimen(items)
            (result,) = simulate_batch(
                persons,
                [(regimen, stop_day)],
                YEARS,
                SAVE_DAYS,
                OUTPUTS,
                engine=default_engine(),
                seeds=seeds,
            )
            _assert_finite(persons, result, regimen)

    return run


@pytest.mark.parametrize("structure", STRUCTURES, ids=_structure_id)
def test_valid_patients_on_valid_regimens_give_finite_physiology(structure: Structure) -> None:
    _engine_test(structure)()


# --- small trials end to end ------------------------------------------------------------------

TRIAL_YEARS = 2.0 if ALL_SEARCH else 1.0  # at most: one or two compiled horizon buckets
TRIAL_POOLS: list[Structure] = (
    [(), *((p,) for p in POOLS), ("bazedoxifene", "conjugated_estrogens")]
    if ALL_SEARCH
    else [(), ("bazedoxifene",)]
)


def test_the_trials_compile_the_engine_tests_outputs() -> None:
    """Every output is kept whichever endpoints a spec asks for (run_trial's
    physiology_outputs), so the compiled outputs are the same for every spec, and are the
    engine test's: its programs serve the trials (one compile, not two)."""
    from sermsim.trials.anchors import DRIVER_OUTPUTS

    wanted = set(DRIVER_OUTPUTS) | {biomarker(e) for e in CONTINUOUS} | set(OUTPUTS)
    assert tuple(sorted(wanted)) == OUTPUTS


MAX_ENSEMBLE = 5  # members of the shipped ensemble a trial example may carry (cost)
_NUMERIC_KEYS = (
    "years_since_menopause",
    "bmi",
    "bmd_t_score_spine",
    "bmd_t_score_hip",
    "breast_cancer_5y_risk",
    "age_at_menarche",
    "age_at_first_birth",
    "first_degree_relatives_breast_cancer",
    "breast_biopsies",
    "estradiol_pg_ml",
    "testosterone_ng_dl",
    "lh_iu_l",
    "fsh_iu_l",
)
_BOOLEAN_KEYS = (
    "uterus",
    "smoker",
    "prior_vte",
    "prior_fragility_fracture",
    "surgical_menopause",
    "atypical_hyperplasia",
)
# The patient format's ranges, for fixed values in a population (a distribution may say
# anything: the population truncates it to these).
_RANGE = {
    "years_since_menopause": (0.0, pt.MAX_AGE - pt.MIN_MENOPAUSE_AGE),
    "bmi": (pt.MIN_BMI, pt.MAX_BMI),
    "bmd_t_score_spine": (pt.MIN_T_SCORE, pt.MAX_T_SCORE),
    "bmd_t_score_hip": (pt.MIN_T_SCORE, pt.MAX_T_SCORE),
    "breast_cancer_5y_risk": (0.0, 1.0),
    "age_at_menarche": (pt.MIN_MENARCHE_AGE, pt.MAX_MENARCHE_AGE),
    "age_at_first_birth": (pt.MIN_FIRST_BIRTH_AGE, pt.MAX_FIRST_BIRTH_AGE),
    "first_degree_relatives_breast_cancer": (0, pt.MAX_RELATIVES),
    "breast_biopsies": (0, pt.MAX_BIOPSIES),
    "estradiol_pg_ml": (pt.MIN_LAB, pt.MAX_ESTRADIOL_PG_ML),
    "testosterone_ng_dl": (pt.MIN_LAB, pt.MAX_TESTOSTERONE_NG_DL),
    "lh_iu_l": (pt.MIN_LAB, pt.MAX_GONADOTROPIN_IU_L),
    "fsh_iu_l": (pt.MIN_LAB, pt.MAX_GONADOTROPIN_IU_L),
    "age": (pt.MIN_AGE, pt.MAX_AGE),
}
_WIDE = 1e6  # distribution parameters any size the spec accepts, within reason


@st.composite
def distributions(draw: st.DrawFn, key: str) -> dict[str, Any]:
    """Any distribution the spec accepts: its parameters need not fit the patient format
    (the population truncates to it), but a truncation must overlap it."""
    lo, hi = _RANGE[key]
    kind = draw(st.sampled_from(["normal", "lognormal", "uniform"]))
    if kind == "uniform":
        a = draw(_real(lo, hi))
        b = draw(_real(lo, hi))
        if a == b:
            a, b = lo, hi
        return {"distribution": "uniform", "min": min(a, b), "max": max(a, b)}
    spec: dict[str, Any] = {"distribution": kind}
    if kind == "normal":
        spec.update(mean=draw(_real(-_WIDE, _WIDE)), sd=draw(_real(0.0, _WIDE)))
    else:
        spec.update(median=draw(_real(0.0, _WIDE, exclude_min=True)), sd_log=draw(_real(0, 5)))
    if draw(st.booleans()):  # a truncation inside the format's range
        a, b = sorted((draw(_real(lo, hi)), draw(_real(lo, hi))))
        if a < b and (kind == "normal" or b > 0):  # a lognormal's max is positive
            spec.update(min=a, max=b)
    return spec


def _choices(values: tuple[str, ...]) -> st.SearchStrategy[dict[str, Any]]:
    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        picked = draw(st.lists(st.sampled_from(values), min_size=1, unique=True))
        weights = [draw(_real(0.01, 1.0)) for _ in picked]
        return {"choices": {v: w / sum(weights) for v, w in zip(picked, weights, strict=True)}}

    return build()


@st.composite
def populations(draw: st.DrawFn, n_per_arm: int) -> dict[str, Any]:
    pop: dict[str, Any] = {"n_per_arm": n_per_arm}
    pop["sex"] = draw(st.one_of(st.sampled_from(["female", "male"]), _choices(("female", "male"))))
    pop["age"] = draw(st.one_of(_real(*_RANGE["age"]), distributions("age")))
    for key in draw(st.lists(st.sampled_from(_NUMERIC_KEYS), unique=True, max_size=5)):
        lo, hi = _RANGE[key]
        fixed: st.SearchStrategy[Any] = (
            st.integers(int(lo), int(hi)) if isinstance(lo, int) else _real(lo, hi)
        )
        if key == "breast_cancer_5y_risk":  # an open interval
            fixed = _real(lo, hi, exclude_min=True, exclude_max=True)
        pop[key] = draw(st.one_of(fixed, distributions(key)))
    for key in draw(st.lists(st.sampled_from(_BOOLEAN_KEYS), unique=True, max_size=3)):
        fraction = st.builds(lambda p: {"fraction_true": p}, _real(0.0, 1.0))
        pop[key] = draw(st.one_of(st.booleans(), st.none(), fraction))
    for key in draw(st.lists(st.sampled_from(["menopause", "thrombophilia", "cyp2d6", "race"]))):
        values = pt_choices(key)
        pop[key] = draw(st.one_of(st.sampled_from(values), _choices(values)))
    return pop


def _conditions() -> st.SearchStrategy[str]:
    """Inclusion conditions of the language, over every kind of key."""
    numeric = st.builds(
        lambda key, op, x: f"{key} {op} {x:g}",
        st.sampled_from(["age", *_NUMERIC_KEYS]),
        st.sampled_from(["<", "<=", ">", ">=", "==", "!="]),
        _real(-10, 120),
    )
    boolean = st.sampled_from([*_BOOLEAN_KEYS, *(f"not {k}" for k in _BOOLEAN_KEYS)])
    category = st.sampled_from(["cyp2d6", "thrombophilia", "race", "menopause", "sex"]).flatmap(
        lambda key: st.builds(
            lambda op, v: f"{key} {op} {v}",
            st.sampled_from(["==", "!="]),
            st.sampled_from(pt_choices(key)),
        )
    )
    atom = st.one_of(numeric, boolean, category)
    return st.recursive(
        atom,
        lambda inner: st.builds(
            lambda a, op, b: f"({a}) {op} ({b})", inner, st.sampled_from(["and", "or"]), inner
        ),
        max_leaves=4,
    )


@st.composite
def trials(draw: st.DrawFn) -> dict[str, Any]:
    """A small valid trial spec: at most BATCH_BUCKET people in all, at most TRIAL_YEARS."""
    n_arms = draw(st.integers(1, 2))
    n = draw(st.integers(1, BATCH_BUCKET // n_arms))
    duration = draw(_real(0.0, TRIAL_YEARS, exclude_min=True))
    names = draw(
        st.lists(
            st.text(min_size=1, max_size=12).filter(str.strip),
            min_size=n_arms,
            max_size=n_arms,
            unique=True,
        )
    )
    arms = []
    for name in names:
        structure = draw(st.sampled_from(TRIAL_POOLS))
        arm: dict[str, Any] = {"name": name, "regimen": draw(regimens(structure))}
        if draw(st.booleans()):
            arm["treatment_years"] = draw(_real(0.0, duration, exclude_min=True))
        arms.append(arm)
    events = st.sampled_from(EVENTS)
    continuous = st.sampled_from(CONTINUOUS).flatmap(
        lambda name: st.one_of(
            st.just(name),
            st.builds(
                lambda at: {"name": name, "at_years": at}, _real(0.0, duration, exclude_min=True)
            ),
        )
    )
    endpoints = draw(
        st.lists(
            st.one_of(events, continuous),
            min_size=1,
            max_size=6,
            unique_by=lambda e: e if isinstance(e, str) else e["name"],
        )
    )
    spec: dict[str, Any] = {
        "name": draw(st.text(min_size=1, max_size=20).filter(str.strip)),
        "seed": draw(st.integers(0, MAX_SEED)),
        "duration_years": duration,
        "population": draw(populations(n)),
        "arms": arms,
        "endpoints": endpoints,
    }
    if draw(st.booleans()):
        spec["treatment_years"] = draw(_real(0.0, duration, exclude_min=True))
    if draw(st.booleans()):
        spec["inclusion"] = draw(st.lists(_conditions(), max_size=2))
    if n_arms == 2 and draw(st.booleans()):
        spec["comparisons"] = [{"arm": names[1], "reference": names[0]}]
    if draw(st.booleans()):
        spec["physiology_anchors"] = draw(st.integers(1, BATCH_BUCKET))
    return spec


def _documented_nulls(result: dict[str, Any]) -> None:
    """No null but TRIAL_SPEC.md's: a relative risk without events (rr and its interval,
    with a reason), and the expected ratio when the reference expects no event at all."""
    allowed = {"rr", "ci_low", "ci_high", "rr_expected"}

    def walk(node: Any, path: tuple[Any, ...]) -> Iterator[tuple[Any, ...]]:
        if node is None:
            yield path
        elif isinstance(node, dict):
            for k, v in node.items():
                yield from walk(v, (*path, k))
        elif isinstance(node, list):
            for i, v in enumerate(node):
                yield from walk(v, (*path, i))

    for path in walk(result, ()):
        assert path[0] == "comparisons" and path[-1] in allowed, f"null at {path}"
        comparison = result["comparisons"][path[1]]
        entry = comparison["endpoints"][path[3]]
        if path[-1] == "rr_expected":
            ref = result["arms"][comparison["reference"]]["endpoints"][path[3]]
            assert ref["expected_cumulative_incidence"] == 0, f"rr_expected null at {path}"
        else:
            assert entry["rr"] is None and entry.get("reason"), f"null without a reason: {path}"


_RUN_REFUSALS = ("population", "inclusion", "endpoints")  # what only the drawn people reveal


@_fuzz(_examples(TRIAL_SHARE))
@given(raw=trials(), members=st.one_of(st.none(), st.integers(2, MAX_ENSEMBLE)))
def test_valid_small_trials_give_json_without_nan_and_only_documented_nulls(
    raw: dict[str, Any], members: int | None
) -> None:
    from sermsim.outcomes.ensemble import default_ensemble
    from sermsim.trials.run import run_trial

    note(f"spec: {raw!r}; ensemble members: {members}")
    with counted("trial_valid"):
        try:
            spec = parse_trial(raw, AGENTS)
        except SpecError as err:
            raise AssertionError(f"a valid spec was refused: {raw!r}: {err}") from None
        ensemble = default_ensemble().take(members) if members else None
        try:
            outcome = run_trial(
                spec, engine=default_engine(), physiology_outputs=OUTPUTS, ensemble=ensemble
            )
        except SpecError as err:  # e.g. an inclusion nobody meets: one line, naming it
            assert str(err).startswith(_RUN_REFUSALS) and "\n" not in str(err), str(err)
            tally.TRIED["trial_valid"] -= 1  # tallied apart: a refusal, not a result
            tally.TRIED["trial_valid_refused_when_run"] += 1
            return
        for arm in outcome.arms.values():
            assert arm.records.solved.all(), f"{arm.name}: {set(arm.records.failure) - {''}}"
        text = json.dumps(outcome.result, allow_nan=False)  # NaN or infinity raise here
        result = json.loads(text)
        jsonschema.validate(result, RESULT_SCHEMA)
        _documented_nulls(result)
