"""Virtual populations: distributions with truncation, booleans, categories, inclusion,
defaults of the patient format, and correlations derived from the age gradients."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import truncnorm

from sermsim.core.errors import SpecError
from sermsim.physiology.simulate import default_engine
from sermsim.trials.population import sample_arm
from sermsim.trials.spec import parse_trial

P = default_engine().physiology.values


def spec(agents, population: dict, inclusion=(), n=20_000):
    raw = {
        "name": "pop",
        "seed": 5,
        "duration_years": 1,
        "population": {"n_per_arm": n, **population},
        "arms": [{"name": "a", "regimen": []}],
        "inclusion": list(inclusion),
        "endpoints": ["vte"],
    }
    return parse_trial(raw, agents)


def test_distributions_truncation_booleans_and_categories(agents):
    s = spec(
        agents,
        {
            "sex": "female",
            "age": {"distribution": "normal", "mean": 66, "sd": 7, "min": 45, "max": 80},
            "uterus": {"fraction_true": 0.8},
            "cyp2d6": {"choices": {"poor": 0.07, "intermediate": 0.1, "normal": 0.83}},
            "bmi": {"distribution": "uniform", "min": 20, "max": 30},
            "breast_cancer_5y_risk": {"distribution": "lognormal", "median": 0.02, "sd_log": 0.5},
        },
    )
    pop = sample_arm(s, "a", P)
    age = pop.columns["age"]
    assert len(pop) == 20_000
    assert age.min() >= 45 and age.max() <= 80
    # The mean of the truncated normal (the upper cut at +2 SD pulls it below 66).
    assert abs(age.mean() - truncnorm(-3, 2, loc=66, scale=7).mean()) < 0.1
    assert abs(pop.columns["uterus"].mean() - 0.8) < 0.01
    assert abs(np.mean(pop.columns["cyp2d6"] == "poor") - 0.07) < 0.006
    assert pop.columns["bmi"].min() >= 20 and pop.columns["bmi"].max() <= 30
    assert abs(np.median(pop.columns["breast_cancer_5y_risk"]) - 0.02) < 0.001
    # Defaults of the patient format: menopause from age, years since menopause max(age-51, 0).
    post = pop.columns["menopause"] == "post"
    np.testing.assert_array_equal(post, age >= 52)
    ysm = pop.columns["years_since_menopause"][post]
    np.testing.assert_allclose(ysm, np.maximum(age[post] - 51, 0))


def test_correlations_follow_the_age_gradients(agents):
    s = spec(
        agents,
        {
            "sex": "female",
            "age": {"distribution": "normal", "mean": 65, "sd": 8},
            "bmd_t_score_spine": {"distribution": "normal", "mean": -2.0, "sd": 0.8},
            "breast_cancer_5y_risk": {"distribution": "lognormal", "median": 0.02, "sd_log": 0.4},
        },
    )
    pop = sample_arm(s, "a", P)
    age = pop.columns["age"]
    r_t = np.corrcoef(age, pop.columns["bmd_t_score_spine"])[0, 1]
    r_b = np.corrcoef(age, np.log(pop.columns["breast_cancer_5y_risk"]))[0, 1]
    expected_t = P["bone.typical_t_score_slope_women"] * 8 / 0.8
    assert r_t == pytest.approx(expected_t, abs=0.03)
    assert r_t < -0.1 and r_b > 0.1
    # Defaults follow age through the typical T-score.
    s2 = spec(agents, {"sex": "female", "age": {"distribution": "uniform", "min": 50, "max": 80}})
    pop2 = sample_arm(s2, "a", P)
    assert np.corrcoef(pop2.columns["age"], pop2.columns["bmd_t_score_spine"])[0, 1] < -0.99


def test_inclusion_draws_until_enough_qualify(agents):
    s = spec(
        agents,
        {
            "sex": "female",
            "age": {"distribution": "normal", "mean": 66, "sd": 7},
            "bmd_t_score_spine": {"distribution": "normal", "mean": -2.0, "sd": 0.8},
            "prior_fragility_fracture": {"fraction_true": 0.2},
        },
        inclusion=["bmd_t_score_spine <= -2.5 or prior_fragility_fracture"],
        n=5_000,
    )
    pop = sample_arm(s, "a", P)
    assert len(pop) == 5_000
    ok = (pop.columns["bmd_t_score_spine"] <= -2.5) | pop.columns["prior_fragility_fracture"]
    assert ok.all()
    # The same people whatever n: the first 1,000 of 5,000 are the 1,000 of a smaller trial.
    population = {k: v for k, v in s.raw["population"].items() if k != "n_per_arm"}
    small = sample_arm(spec(agents, population, s.raw["inclusion"], n=1_000), "a", P)
    np.testing.assert_array_equal(small.index, pop.index[:1_000])


def test_inclusion_that_admits_nobody_is_an_error(agents):
    s = spec(agents, {"sex": "female", "age": 60}, inclusion=["age > 90"], n=10)
    with pytest.raises(SpecError) as err:
        sample_arm(s, "a", P)
    assert err.value.field == "inclusion"


def test_men_and_women_mixed(agents):
    s = spec(
        agents,
        {"sex": {"choices": {"female": 0.5, "male": 0.5}}, "age": 60, "uterus": True},
        n=2_000,
    )
    pop = sample_arm(s, "a", P)
    men = ~pop.columns["female"]
    assert 0.45 < men.mean() < 0.55
    assert not pop.columns["uterus"][men].any()
    man = pop.patient(int(np.flatnonzero(men)[0]))
    assert man.sex == "male" and man.menopause is None


def test_drawn_gail_ages_are_consistent_with_each_person_s_age(agents):
    """Menarche, first birth and age drawn independently: a first birth after her age has not
    happened (nulliparous), one before menarche is at menarche; every person is valid (found
    by fuzzing: the run used to stop at the first such woman)."""
    s = spec(
        agents,
        {
            "sex": "female",
            "age": {"distribution": "uniform", "min": 18, "max": 40},
            "age_at_menarche": {"distribution": "uniform", "min": 10, "max": 20},
            "age_at_first_birth": {"distribution": "normal", "mean": 26, "sd": 8, "min": 10},
        },
        n=2_000,
    )
    pop = sample_arm(s, "a", P)
    c = pop.columns
    age, menarche, birth = (
        c[k].astype(float) for k in ("age", "age_at_menarche", "age_at_first_birth")
    )
    assert np.all(menarche <= age)
    born = ~np.isnan(birth)
    assert np.all((birth[born] <= age[born]) & (birth[born] >= menarche[born]))
    assert 0.2 < (~born).mean() < 0.8  # many of these young women have not given birth yet
    for i in range(len(pop)):  # every person passes the patient format's own checks
        pop.patient(i)
