"""Trial specs: what TRIAL_SPEC.md accepts, and one clear line for every mistake."""

from __future__ import annotations

import copy

import pytest

from sermsim.core.errors import SpecError
from sermsim.trials.spec import parse_trial

BASE = {
    "name": "example",
    "seed": 7,
    "duration_years": 3,
    "population": {
        "sex": "female",
        "n_per_arm": 100,
        "age": {"distribution": "normal", "mean": 66, "sd": 7, "min": 45, "max": 80},
        "menopause": "post",
        "uterus": {"fraction_true": 0.8},
        "cyp2d6": {"choices": {"poor": 0.07, "normal": 0.93}},
        "breast_cancer_5y_risk": {"distribution": "lognormal", "median": 0.02, "sd_log": 0.5},
    },
    "arms": [
        {"name": "placebo", "regimen": []},
        {"name": "raloxifene_60", "regimen": [{"agent": "raloxifene", "dose_mg": 60}]},
    ],
    "inclusion": ["bmd_t_score_spine <= -2.5 or prior_fragility_fracture"],
    "endpoints": ["invasive_breast_cancer", {"name": "bmd_lumbar_spine_pct", "at_years": 2}],
    "comparisons": [{"arm": "raloxifene_60", "reference": "placebo"}],
}


def edited(path: str, value: object) -> dict:
    spec = copy.deepcopy(BASE)
    node = spec
    *parents, last = path.split(".")
    for p in parents:
        node = node[int(p)] if p.isdigit() else node[p]
    if value is DELETE:
        del node[int(last) if last.isdigit() else last]
    elif last.isdigit():
        node[int(last)] = value
    else:
        node[last] = value
    return spec


DELETE = object()


def test_the_example_of_trial_spec_parses(agents):
    spec = parse_trial(BASE, agents)
    assert [e.key for e in spec.endpoints] == ["invasive_breast_cancer", "bmd_lumbar_spine_pct@2"]
    assert spec.arms[1].treatment_years == 3.0
    assert spec.n_per_arm == 100


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        ("endpoints.0", "invasive_brest_cancer", "endpoints[0]"),
        ("endpoints.1", {"name": "bmd_spine", "at_years": 2}, "endpoints[1].name"),
        ("arms.1", {"name": "raloxifene_60"}, "arms[1].regimen"),
        ("comparisons.0", {"arm": "tamoxifen", "reference": "placebo"}, "comparisons[0].arm"),
        (
            "comparisons.0",
            {"arm": "raloxifene_60", "reference": "control"},
            "comparisons[0].reference",
        ),
        ("population.n_per_arm", -5, "population.n_per_arm"),
        ("population.n_per_arm", 0, "population.n_per_arm"),
        ("population.n_per_arm", 2.5, "population.n_per_arm"),
        ("population.n_per_arm", DELETE, "population.n_per_arm"),
        ("population.agee", 50, "population.agee"),
        ("population.age", {"distribution": "gamma", "mean": 3}, "population.age.distribution"),
        ("population.age", {"distribution": "normal", "mean": 60}, "population.age.sd"),
        ("population.uterus", {"fraction_true": 1.5}, "population.uterus.fraction_true"),
        (  # found by fuzzing: a math domain error when the people were drawn
            "population.bmd_t_score_spine",
            {"distribution": "lognormal", "median": 1, "sd_log": 1, "max": -1},
            "population.bmd_t_score_spine.max",
        ),
        (
            "population.cyp2d6",
            {"choices": {"poor": 0.5, "normal": 0.6}},
            "population.cyp2d6.choices",
        ),
        ("duration_years", -1, "duration_years"),
        ("duration_years", DELETE, "duration_years"),
        ("treatment_years", 5, "treatment_years"),
        ("arms.1.regimen", [{"agent": "aspirin", "dose_mg": 60}], "arms[1].regimen[0].agent"),
        ("arms.1.regimen", [{"agent": "raloxifene", "dose_mg": -60}], "arms[1].regimen[0].dose_mg"),
        ("arms.1.name", "placebo", "arms[1].name"),
        ("inclusion", ["bmd <= -2.5"], "inclusion[0]"),
        ("endpoints", [], "endpoints"),
        ("endpoints.0", {"name": "vte", "at_years": 2}, "endpoints[0].at_years"),
        ("seed", "seven", "seed"),
        ("colour", "blue", "colour"),
    ],
)
def test_mistakes_name_the_field(agents, path, value, field):
    with pytest.raises(SpecError) as err:
        parse_trial(edited(path, value), agents)
    assert err.value.field == field, str(err.value)
    assert "\n" not in str(err.value)


def test_a_measurement_after_the_follow_up_is_refused(agents):
    spec = edited("endpoints.1", {"name": "bmd_lumbar_spine_pct", "at_years": 4})
    with pytest.raises(SpecError) as err:
        parse_trial(spec, agents)
    assert err.value.field == "endpoints[1].at_years"


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        (
            "population.cyp2d6",
            {"choices": {"slow": 0.5, "normal": 0.5}},
            "population.cyp2d6.choices.slow",
        ),
        ("population.thrombophilia", "fvl", "population.thrombophilia"),
        ("population.menopause", "late", "population.menopause"),
        ("population.smoker", "yes", "population.smoker"),
        ("population.bmi", {"choices": {"27": 1.0}}, "population.bmi"),
    ],
)
def test_every_category_a_population_can_draw_is_checked(agents, path, value, field):
    with pytest.raises(SpecError) as err:
        parse_trial(edited(path, value), agents)
    assert err.value.field == field, str(err.value)
