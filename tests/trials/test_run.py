"""A virtual trial end to end: TRIAL_SPEC.md's JSON, determinism, expectations against the
sampled events, treatment shorter than follow-up, adherence, men."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pytest

from sermsim import DISCLAIMER
from sermsim.core.errors import SpecError
from sermsim.trials.run import run_trial
from sermsim.trials.spec import parse_trial

SCHEMA = json.loads(
    (Path(__file__).parent.parent / "schemas" / "trial_result.schema.json").read_text()
)

OSTEOPOROSIS = {
    "name": "small osteoporosis trial",
    "seed": 7,
    "duration_years": 1,
    "physiology_anchors": 8,
    "population": {
        "sex": "female",
        "n_per_arm": 3000,
        "age": {"distribution": "normal", "mean": 68, "sd": 6, "min": 55, "max": 80},
        "menopause": "post",
        "years_since_menopause": {"distribution": "uniform", "min": 5, "max": 25},
        "uterus": {"fraction_true": 0.7},
        "bmd_t_score_spine": {"distribution": "normal", "mean": -2.7, "sd": 0.6},
        "prior_fragility_fracture": {"fraction_true": 0.35},
    },
    "arms": [
        {"name": "placebo", "regimen": []},
        {"name": "raloxifene_60", "regimen": [{"agent": "raloxifene", "dose_mg": 60}]},
    ],
    "inclusion": ["bmd_t_score_spine <= -2.5 or prior_fragility_fracture"],
    "endpoints": [
        "vertebral_fracture",
        "invasive_breast_cancer",
        "vte",
        "dvt",
        "pulmonary_embolism",
        "endometrial_cancer",
        {"name": "bmd_lumbar_spine_pct", "at_years": 1},
        {"name": "bmd_lumbar_spine_pct", "at_years": 0.5},
        {"name": "endometrial_thickness_mm", "at_years": 1},
    ],
    "comparisons": [{"arm": "raloxifene_60", "reference": "placebo"}],
}


@pytest.fixture(scope="module")
def outcome(agents):
    return run_trial(parse_trial(OSTEOPOROSIS, agents))


def test_the_json_is_trial_spec_s(outcome):
    r = outcome.result
    jsonschema.validate(r, SCHEMA)
    assert r["name"] == OSTEOPOROSIS["name"]
    placebo = r["arms"]["placebo"]
    assert placebo["n"] == 3000
    assert set(placebo["endpoints"]) == {
        "vertebral_fracture",
        "invasive_breast_cancer",
        "vte",
        "dvt",
        "pulmonary_embolism",
        "endometrial_cancer",
        "bmd_lumbar_spine_pct@1",
        "bmd_lumbar_spine_pct@0.5",
        "endometrial_thickness_mm@1",
    }
    assert "baseline_mean" in placebo["endpoints"]["endometrial_thickness_mm@1"]
    assert "baseline_mean" not in placebo["endpoints"]["bmd_lumbar_spine_pct@1"]
    comp = r["comparisons"][0]["endpoints"]
    assert {"rr", "ci_low", "ci_high", "rr_expected"} <= set(comp["vertebral_fracture"])
    assert {"difference", "ci_low", "ci_high"} <= set(comp["bmd_lumbar_spine_pct@1"])
    assert r["provenance"]["seed"] == 7 and len(r["provenance"]["parameters_sha256"]) == 64
    assert r["disclaimer"] == DISCLAIMER


def test_raloxifene_builds_spine_and_lowers_vertebral_fractures(outcome):
    comp = outcome.result["comparisons"][0]["endpoints"]
    assert comp["bmd_lumbar_spine_pct@1"]["ci_low"] > 0.5
    assert comp["vertebral_fracture"]["rr_expected"] < 0.9
    assert comp["vte"]["rr_expected"] > 1.2
    # DVT and PE split the same VTE.
    arm = outcome.result["arms"]["raloxifene_60"]["endpoints"]
    assert arm["dvt"]["events"] + arm["pulmonary_embolism"]["events"] == arm["vte"]["events"]
    # Endometrial endpoints count only women with a uterus (about 70 %).
    assert 0.6 < arm["endometrial_thickness_mm@1"].get("n_measured", 3000) / 3000 < 0.8


def test_sampled_events_agree_with_the_expectation(outcome):
    for arm in outcome.result["arms"].values():
        v = arm["endpoints"]["vertebral_fracture"]
        p = v["expected_cumulative_incidence"]
        se = np.sqrt(p * (1 - p) / arm["n"])
        assert abs(v["cumulative_incidence"] - p) < 4 * se


def test_the_same_spec_and_seed_give_the_same_result(agents, outcome):
    again = run_trial(parse_trial(OSTEOPOROSIS, agents))
    assert json.dumps(again.result, sort_keys=True) == json.dumps(outcome.result, sort_keys=True)
    other = copy.deepcopy(OSTEOPOROSIS)
    other["seed"] = 8
    changed = run_trial(parse_trial(other, agents)).result
    assert changed["arms"]["placebo"]["endpoints"] != outcome.result["arms"]["placebo"]["endpoints"]


def test_adherence_weakens_the_effect(agents, outcome):
    half = copy.deepcopy(OSTEOPOROSIS)
    half["arms"][1]["regimen"][0]["adherence"] = 0.5
    r = run_trial(parse_trial(half, agents)).result
    full = outcome.result["comparisons"][0]["endpoints"]["bmd_lumbar_spine_pct@1"]["difference"]
    partial = r["comparisons"][0]["endpoints"]["bmd_lumbar_spine_pct@1"]["difference"]
    assert 0 < partial < full


def test_men_have_no_breast_or_endometrial_events_and_women_only_endpoints_refuse(agents):
    men = copy.deepcopy(OSTEOPOROSIS)
    men["population"] = {"sex": "male", "n_per_arm": 500, "age": 60}
    men["inclusion"] = []
    men["endpoints"] = ["invasive_breast_cancer", "endometrial_cancer", "vte"]
    r = run_trial(parse_trial(men, agents)).result
    assert r["arms"]["placebo"]["endpoints"]["invasive_breast_cancer"]["events"] == 0
    rr = r["comparisons"][0]["endpoints"]["endometrial_cancer"]
    assert rr["rr"] is None and "no events" in rr["reason"]
    men["endpoints"] = [{"name": "endometrial_thickness_mm", "at_years": 1}]
    with pytest.raises(SpecError) as err:
        run_trial(parse_trial(men, agents))
    assert err.value.field == "endpoints"


def test_arms_differing_only_in_adherence_or_start_day_have_their_own_physiology(agents):
    """Arms were keyed by the regimen's label, which leaves out adherence and a start day: a
    second arm took the first one's physiology (found by fuzzing valid specs)."""
    full = {"name": "full", "regimen": [{"agent": "raloxifene", "dose_mg": 60}]}
    none_taken = {
        "name": "none_taken",
        "regimen": [{"agent": "raloxifene", "dose_mg": 60, "adherence": 0.0}],
    }
    late = {"name": "late", "regimen": [{"agent": "raloxifene", "dose_mg": 60, "start_day": 300}]}
    base = {
        "name": "keys",
        "seed": 3,
        "duration_years": 1,
        "physiology_anchors": 8,
        "population": {"sex": "female", "age": 60, "n_per_arm": 4},
        "endpoints": ["bmd_lumbar_spine_pct"],
    }

    def spine(arms: list[dict[str, Any]]) -> dict[str, float]:
        result = run_trial(parse_trial({**base, "arms": arms}, agents)).result["arms"]
        return {a: v["endpoints"]["bmd_lumbar_spine_pct"]["mean"] for a, v in result.items()}

    together = spine([full, none_taken, late])
    for arm in (none_taken, late):
        assert together[arm["name"]] == spine([arm])[arm["name"]], arm["name"]
    assert together["none_taken"] < together["full"]  # no doses taken: no bone gain
