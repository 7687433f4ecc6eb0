"""Numerical robustness at the extremes of every covariate, and what happens when a person
does not solve.

Every corner of the patient format (age 18 and 100, BMI 15 and 60, every CYP2D6 phenotype,
men and women at every life stage) on every agent at 0.1x and 10x its standard dose and on
the combinations must solve; a virtual trial over the same ranges must give every person a
result and count its failures (none); and a person who does not solve (a failure injected
into the engine's output, or into an anchor's physiology) must come back named with the
reason, counted in the trial's JSON and table, never silently dropped or turned into a NaN.

The corner population and the trial share the compiled engine (80 people, one-year horizon,
the trial's outputs), so the trial adds no compilation.
"""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
import pytest

from sermsim.agents.regimen import parse_regimen, regimen_from_list
from sermsim.core.errors import NumericalError
from sermsim.physiology import integrate
from sermsim.physiology.patient import MAX_AGE, MIN_AGE, patient_from_mapping
from sermsim.physiology.simulate import (
    default_engine,
    not_applicable,
    simulate_batch,
    solve_batch,
)
from sermsim.trials import records as records_module
from sermsim.trials.anchors import DRIVER_OUTPUTS
from sermsim.trials.endpoints import biomarker
from sermsim.trials.records import ENDPOINT_PROCESSES
from sermsim.trials.run import run_trial
from sermsim.trials.spec import parse_trial

ENGINE = default_engine()

# The issue's ranges: age 18-100 (the patient format's own bounds), BMI 15-60, doses 0.1x
# to 10x the standard dose.
AGES = (MIN_AGE, MAX_AGE)
BMIS = (15.0, 60.0)
DOSE_FACTORS = (0.1, 10.0)
CYP2D6 = ("poor", "intermediate", "normal", "ultrarapid")
STAGES: dict[str, dict[str, Any]] = {
    "man": {"sex": "male"},
    "premenopausal": {"sex": "female", "menopause": "pre"},
    "perimenopausal": {"sex": "female", "menopause": "peri"},
    "postmenopausal": {"sex": "female", "menopause": "post"},
    "surgical menopause": {"sex": "female", "menopause": "post", "surgical_menopause": True},
}
COMBINATIONS = (
    ("conjugated_estrogens", "bazedoxifene"),
    ("estradiol", "medroxyprogesterone_acetate"),
)
CONTINUOUS = (
    "bmd_lumbar_spine_pct",
    "bmd_total_hip_pct",
    "ldl_cholesterol_pct",
    "hot_flushes_per_day",
    "endometrial_thickness_mm",
    "lh_iu_l",
    "estradiol_pg_ml",
)
# The trial's physiology outputs (trials.anchors), so that the corners reuse its compiles.
OUTPUTS = tuple(sorted(set(DRIVER_OUTPUTS) | {biomarker(e) for e in CONTINUOUS}))
YEAR_GRID = np.linspace(0.0, 365.25, 13)  # monthly over the one-year horizon
N_CORNERS = len(STAGES) * len(AGES) * len(BMIS) * len(CYP2D6)
# Outputs that cannot be negative (concentrations, densities, counts, thicknesses).
NON_NEGATIVE = {
    "bmd_lumbar_spine_g_cm2",
    "bmd_total_hip_g_cm2",
    "ctx_ng_ml",
    "estradiol_pg_ml",
    "lh_iu_l",
    "ldl_mg_dl",
    "hot_flushes_per_day",
    "endometrial_thickness_mm",
    "endometrial_stimulation_mm",
    "prothrombotic_index",
}


def corners() -> list[tuple[str, Any]]:
    people = []
    for (stage, keys), age, bmi, cyp in itertools.product(STAGES.items(), AGES, BMIS, CYP2D6):
        label = f"{stage}, age {age:g}, BMI {bmi:g}, CYP2D6 {cyp}"
        people.append(
            (label, patient_from_mapping({**keys, "age": age, "bmi": bmi, "cyp2d6": cyp}))
        )
    return people


def dose(agent: str, factor: float) -> dict[str, Any]:
    return {"agent": agent, "dose_mg": ENGINE.agents[agent].standard_dose_mg * factor}


def regimens() -> dict[str, list[dict[str, Any]]]:
    """Every agent alone and every combination, at 0.1x and at 10x the standard doses."""
    out: dict[str, list[dict[str, Any]]] = {"none": []}
    for factor in DOSE_FACTORS:
        for agent in sorted(ENGINE.agents):
            out[f"{agent} x{factor:g}"] = [dose(agent, factor)]
        for combo in COMBINATIONS:
            out[f"{'+'.join(combo)} x{factor:g}"] = [dose(a, factor) for a in combo]
    return out


@pytest.fixture(scope="module")
def people() -> list[tuple[str, Any]]:
    return corners()


@pytest.fixture(scope="module")
def solution(people):
    regs = regimens()
    runs = [(regimen_from_list(r, ENGINE.agents), None) for r in regs.values()]
    solved = solve_batch([p for _, p in people], runs, 1.0, YEAR_GRID, OUTPUTS, engine=ENGINE)
    return list(regs), solved


def test_the_corners_span_the_issue_s_ranges(people):
    assert len(people) == N_CORNERS == 80
    ages = {p.age for _, p in people}
    assert ages == {18.0, 100.0}
    assert {p.bmi for _, p in people} == set(BMIS)
    assert {p.cyp2d6 for _, p in people} == set(CYP2D6)
    assert {(p.sex, p.menopause, p.surgical_menopause) for _, p in people} == {
        ("male", None, False),
        ("female", "pre", False),
        ("female", "peri", False),
        ("female", "post", False),
        ("female", "post", True),
    }
    regs = regimens()
    agents = {d["agent"] for r in regs.values() for d in r}
    assert agents == set(ENGINE.agents)  # every agent the engine knows


def test_every_corner_solves_on_every_agent_and_dose(people, solution):
    names, solved = solution
    failed = {people[i][0]: why for i, why in solved.failures.items()}
    assert not failed, f"{len(failed)} of {len(people)} people failed: {failed}"
    for name, values in zip(names, solved.values, strict=True):
        for output, arr in values.items():
            assert arr.shape == (len(people), len(YEAR_GRID))
            for (label, person), row in zip(people, arr, strict=True):
                if output in not_applicable(person):  # NaN throughout, or a finite value
                    assert np.all(np.isnan(row)) or np.all(np.isfinite(row)), (name, output, label)
                    continue
                assert np.all(np.isfinite(row)), (name, output, label)
                if output in NON_NEGATIVE:
                    assert row.min() >= 0.0, (name, output, label, row.min())


def test_the_doses_reach_the_tissues(solution):
    """Not vacuous: 10x a SERM moves the breast signal further from untreated than 0.1x."""
    names, solved = solution
    by = dict(zip(names, solved.values, strict=True))
    none = by["none"]["signal:breast"][:, -1]
    for agent in ("tamoxifen", "raloxifene", "bazedoxifene", "lasofoxifene"):
        low = np.abs(by[f"{agent} x0.1"]["signal:breast"][:, -1] - none)
        high = np.abs(by[f"{agent} x10"]["signal:breast"][:, -1] - none)
        assert np.median(high) > np.median(low), agent


def _spoil_engine(monkeypatch: pytest.MonkeyPatch, spoil: Any) -> None:
    """Every engine run's joined result (people in order) passed through ``spoil``."""
    real = integrate.on_every_core
    monkeypatch.setattr(integrate, "on_every_core", lambda *a, **k: spoil(real(*a, **k)))


def test_a_person_who_does_not_solve_is_named_and_the_others_stand(people, solution, monkeypatch):
    names, solved = solution
    pts = [p for _, p in people]
    regimen = (parse_regimen("raloxifene:600", ENGINE.agents), None)  # compiled above
    victim = 37

    def spoil(out: Any) -> Any:  # the victim's CTX not finite from half-way on
        if not isinstance(out, dict):  # the run-in
            return out
        arr = np.array(out["ctx_ng_ml"])
        arr[victim, arr.shape[1] // 2 :] = np.inf
        return {**out, "ctx_ng_ml": arr}

    _spoil_engine(monkeypatch, spoil)
    broken = solve_batch(pts, [regimen], 1.0, YEAR_GRID, OUTPUTS, engine=ENGINE)
    assert broken.failures == {victim: "ctx_ng_ml is not finite on raloxifene:600"}
    reference = solved.values[names.index("raloxifene x10")]
    for output, arr in broken.values[0].items():
        assert np.all(np.isnan(arr[victim])), output  # no half result for the failure
        others = np.delete(np.arange(len(pts)), victim)
        np.testing.assert_array_equal(arr[others], reference[output][others])
    with pytest.raises(NumericalError, match=r"person 37 \(.*\): ctx_ng_ml is not finite"):
        simulate_batch(pts, [regimen], 1.0, YEAR_GRID, OUTPUTS, engine=ENGINE)


def test_a_run_in_that_does_not_solve_fails_its_person(people, monkeypatch):
    pts = [p for _, p in people]

    def spoil(y: Any) -> Any:
        if isinstance(y, dict):  # a regimen's outputs
            return y
        y = np.array(y)
        y[3, 0] = np.nan
        return y

    _spoil_engine(monkeypatch, spoil)
    broken = solve_batch(pts, [((), None)], 1.0, YEAR_GRID, OUTPUTS, engine=ENGINE)
    assert broken.failures == {3: "the drug-free run-in did not solve (a state is not finite)"}
    assert all(np.isnan(arr[3]).all() for arr in broken.values[0].values())


# ---------------------------------------------------------------------------------------------
# A trial over the same ranges


def extreme_trial() -> dict[str, Any]:
    arms = [{"name": "placebo", "regimen": []}]
    agents = sorted(ENGINE.agents)
    for i, agent in enumerate(agents):  # alternate the extremes of dose over the agents
        factor = DOSE_FACTORS[i % 2]
        arms.append({"name": f"{agent}_x{factor:g}", "regimen": [dose(agent, factor)]})
    for combo in COMBINATIONS:
        for factor in DOSE_FACTORS:
            arms.append(
                {
                    "name": f"{'_'.join(combo)}_x{factor:g}",
                    "regimen": [dose(a, factor) for a in combo],
                }
            )
    return {
        "name": "every covariate at its extremes",
        "seed": 11,
        "duration_years": 1,
        "physiology_anchors": N_CORNERS,
        "population": {
            "n_per_arm": 400,
            "sex": {"choices": {"female": 0.75, "male": 0.25}},
            "age": {"distribution": "uniform", "min": MIN_AGE, "max": MAX_AGE},
            "menopause": {"choices": {"pre": 0.3, "peri": 0.2, "post": 0.5}},
            "surgical_menopause": {"fraction_true": 0.2},
            "uterus": {"fraction_true": 0.7},
            "bmi": {"distribution": "uniform", "min": BMIS[0], "max": BMIS[1]},
            "cyp2d6": {"choices": dict.fromkeys(CYP2D6, 0.25)},
            "smoker": {"fraction_true": 0.3},
            "prior_vte": {"fraction_true": 0.1},
            "thrombophilia": {
                "choices": {
                    "none": 0.85,
                    "factor_v_leiden_het": 0.08,
                    "factor_v_leiden_hom": 0.02,
                    "prothrombin_g20210a": 0.05,
                }
            },
            "bmd_t_score_spine": {"distribution": "uniform", "min": -6, "max": 4},
            "bmd_t_score_hip": {"distribution": "uniform", "min": -6, "max": 4},
            "prior_fragility_fracture": {"fraction_true": 0.3},
            "breast_cancer_5y_risk": {
                "distribution": "lognormal",
                "median": 0.02,
                "sd_log": 1.5,
                "max": 0.9,
            },
        },
        "arms": arms,
        "endpoints": [*ENDPOINTS_EVENTS, *CONTINUOUS],
        "comparisons": [{"arm": a["name"], "reference": "placebo"} for a in arms[1:]],
    }


ENDPOINTS_EVENTS = sorted(
    e
    for e in ENDPOINT_PROCESSES
    if e not in {"clinical_vertebral_fracture", "osteoporotic_fracture"}
)


@pytest.fixture(scope="module")
def trial(agents, solution):  # after the corners: the same compiled engine
    spec = parse_trial(extreme_trial(), agents)
    cache: dict[str, Any] = {}
    return spec, cache, run_trial(spec, engine=ENGINE, physiology_cache=cache)


def _numbers(x: Any) -> list[float]:
    if isinstance(x, bool) or x is None or isinstance(x, str):
        return []
    if isinstance(x, int | float):
        return [float(x)]
    if isinstance(x, dict):
        return [v for item in x.values() for v in _numbers(item)]
    if isinstance(x, list):
        return [v for item in x for v in _numbers(item)]
    return []


def test_the_extreme_trial_solves_everyone_and_says_so(trial):
    spec, cache, outcome = trial
    r = outcome.result
    assert len(r["arms"]) == len(spec.arms) == 1 + len(ENGINE.agents) + 2 * len(COMBINATIONS)
    physiology = cache["physiology"]
    assert physiology.failures == {}
    for name, arm in r["arms"].items():
        assert arm["failed"] == {"count": 0, "reasons": {}}, name
        assert arm["n"] == spec.n_per_arm, name
        for key, ep in arm["endpoints"].items():
            if "expected_cumulative_incidence" in ep:
                assert 0.0 <= ep["expected_cumulative_incidence"] <= 1.0, (name, key)
    json.dumps(r, allow_nan=False)  # no NaN or infinity anywhere
    assert all(math.isfinite(v) for v in _numbers(r))
    ages = np.concatenate(
        [a.population.columns["age"].astype(float) for a in outcome.arms.values()]
    )
    bmis = np.concatenate(
        [a.population.columns["bmi"].astype(float) for a in outcome.arms.values()]
    )
    assert ages.min() < 19 and ages.max() > 99  # the ranges were reached
    assert bmis.min() < 16 and bmis.max() > 59
    assert "Every person drawn solved (no failures)." in trial_text(outcome)


def trial_text(outcome: Any) -> str:
    from sermsim.interfaces.trial_render import trial_table

    return trial_table(outcome)


def test_failures_are_counted_named_and_kept_out_of_the_numbers(trial, agents, tmp_path):
    """An anchor whose physiology did not solve: every person it stands for fails, by name."""
    spec, cache, whole = trial
    physiology = cache["physiology"]
    arm = "tamoxifen_x10"
    counts = np.bincount(physiology.assignment[arm], minlength=physiology.n_anchors)
    anchor = int(np.argmax(counts))  # the anchor of the most people of that arm
    why = "bmd_total_hip_g_cm2 is not finite on tamoxifen:200"
    broken = replace(physiology, failures={anchor: why})
    outcome = run_trial(spec, engine=ENGINE, physiology_cache={"physiology": broken})
    r = outcome.result
    for name in r["arms"]:
        lost = int(np.sum(physiology.assignment[name] == anchor))
        assert (
            r["arms"][name]["failed"] == {"count": lost, "reasons": {why: lost}}
            if lost
            else {
                "count": 0,
                "reasons": {},
            }
        )
        assert r["arms"][name]["n"] + lost == spec.n_per_arm
    assert r["arms"][arm]["failed"]["count"] == counts[anchor] > 0
    json.dumps(r, allow_nan=False)
    # The others' records are the uninterrupted run's, person for person.
    a, b = outcome.arms[arm], whole.arms[arm]
    keep = np.isin(b.records.draw_index, a.records.draw_index)
    np.testing.assert_array_equal(a.records.draw_index, b.records.draw_index[keep])
    for e in a.expected:
        np.testing.assert_array_equal(a.expected[e], b.expected[e][keep])
    assert set(a.failures) == set(b.records.draw_index[~keep])
    # The table says it; the per-person file has every person drawn, the failures by reason.
    assert f"{arm}: {counts[anchor]:,} people have no results and are left out: {why}" in (
        trial_text(outcome)
    )
    from sermsim.interfaces.trial_render import write_trial_outputs

    write_trial_outputs(outcome, tmp_path)
    people = pd.read_parquet(tmp_path / "people.parquet")
    mine = people[people["arm"] == arm]
    assert len(mine) == spec.n_per_arm
    assert (mine["status"] == f"failed: {why}").sum() == counts[anchor]
    assert mine.loc[mine["status"] == "solved"].drop(columns="status").notna().all().all()


def test_a_hazard_that_is_not_finite_fails_its_person(trial, monkeypatch):
    """Finite physiology but a hazard that overflows: that person fails, by name."""
    spec, cache, whole = trial
    real = records_module.hazards
    victims = {0, 17}  # positions in the first block of every arm

    def overflowing(*args: Any, **kwargs: Any) -> Any:
        hz = real(*args, **kwargs)
        stroke = np.array(hz["stroke"])
        for i in victims:
            if i < len(stroke):
                stroke[i, -1] = np.inf
        return {**hz, "stroke": stroke}

    monkeypatch.setattr(records_module, "hazards", overflowing)
    outcome = run_trial(spec, engine=ENGINE, physiology_cache=cache)
    for name, arm in outcome.result["arms"].items():
        assert arm["failed"] == {
            "count": len(victims),
            "reasons": {"the stroke hazard is not finite": len(victims)},
        }, name
        assert arm["n"] == spec.n_per_arm - len(victims)
        lost = whole.arms[name].records.draw_index[sorted(victims)]
        assert set(outcome.arms[name].failures) == set(lost.tolist())
    json.dumps(outcome.result, allow_nan=False)
