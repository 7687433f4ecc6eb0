"""Regimen formats of TRIAL_SPEC.md: the short CLI form and the list form."""

from __future__ import annotations

import pytest

from sermsim.agents import parse_regimen, regimen_from_list, regimen_label
from sermsim.core.errors import SpecError


def test_short_form_with_dose_and_interval(agents):
    (d,) = parse_regimen("clomiphene:25@48", agents)
    assert (d.agent, d.dose_mg, d.interval_h) == ("clomiphene", 25.0, 48.0)


def test_missing_dose_is_the_standard_dose(agents):
    (d,) = parse_regimen("raloxifene", agents)
    assert d.dose_mg == agents["raloxifene"].standard_dose_mg == 60


def test_combination_and_none(agents):
    r = parse_regimen("conjugated_estrogens:0.45+bazedoxifene:20", agents)
    assert [d.agent for d in r] == ["conjugated_estrogens", "bazedoxifene"]
    assert parse_regimen("none", agents) == ()


def test_an_agent_alone_is_its_standard_regimen_with_the_labels_cycle(agents):
    (d,) = parse_regimen("clomiphene", agents)
    assert (d.dose_mg, d.start_day, d.days_on, d.cycle_days) == (50, 4, 5, 28)
    (d,) = parse_regimen("clomiphene:50", agents)  # a dose given: continuous dosing
    assert not d.is_cyclic


def test_cycle_suffix(agents):
    (d,) = parse_regimen("clomiphene:100[d3-7/30]", agents)
    assert (d.start_day, d.days_on, d.cycle_days) == (2, 5, 30)


@pytest.mark.parametrize(
    "text",
    [
        "raloxifene:60",
        "conjugated_estrogens:0.45+bazedoxifene:20",
        "clomiphene:25@48",
        "clomiphene:50[d5-9/28]",
        "none",
    ],
)
def test_label_round_trips(agents, text):
    assert regimen_label(parse_regimen(text, agents)) == text


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("aspirin", "regimen[0].agent"),
        ("clomiphene:50[d9-5/28]", "regimen[0].cycle"),
        ("clomiphene:50[5-9]", "regimen[0].cycle"),
        ("clomiphene:50[d1-40/28]", "regimen[0]"),
        ("raloxifene:-5", "regimen[0].dose_mg"),
        ("raloxifene:abc", "regimen[0].dose_mg"),
        ("raloxifene:60@0", "regimen[0].interval_h"),
        ("raloxifene:60+foo:1", "regimen[1].agent"),
        ("raloxifene:nan", "regimen[0].dose_mg"),
        # found by fuzzing: days of thousands of digits raised int()'s ValueError
        ("clomiphene:50[d" + "1" * 5000 + "-2/28]", "regimen[0].cycle"),
        ("clomiphene:50[d1-" + "9" * 400 + "/28]", "regimen[0].days_on"),
    ],
)
def test_bad_short_forms_name_the_field(agents, text, field):
    with pytest.raises(SpecError) as err:
        parse_regimen(text, agents)
    assert str(err.value).startswith(field)
    assert isinstance(err.value, ValueError)


def test_list_form_with_cycles_and_adherence(agents):
    r = regimen_from_list(
        [
            {
                "agent": "clomiphene",
                "dose_mg": 50,
                "start_day": 4,
                "days_on": 5,
                "cycle_days": 28,
                "adherence": 0.9,
            }
        ],
        agents,
    )
    assert r[0].is_cyclic and r[0].adherence == 0.9


@pytest.mark.parametrize(
    ("item", "field"),
    [
        ({"agent": "tamoxifen"}, "regimen[0].dose_mg"),
        ({"agent": "tamoxifen", "dose_mg": 20, "colour": "red"}, "regimen[0].colour"),
        ({"agent": "tamoxifen", "dose_mg": 20, "days_on": 5}, "regimen[0]"),
        ({"agent": "tamoxifen", "dose_mg": 20, "adherence": 1.5}, "regimen[0].adherence"),
        ({"agent": "nope", "dose_mg": 20}, "regimen[0].agent"),
        # found by fuzzing: a YAML yes was 1 mg, "60" 60 mg; a key '\n' broke the line
        ({"agent": "tamoxifen", "dose_mg": True}, "regimen[0].dose_mg"),
        ({"agent": "tamoxifen", "dose_mg": "20"}, "regimen[0].dose_mg"),
        ({"agent": "tamoxifen", "dose_mg": 20, "\n": 1}, "regimen[0].'\\n'"),
        ({"agent": "tamoxifen", "dose_mg": 20, "": 1}, "regimen[0].''"),
    ],
)
def test_bad_list_forms_name_the_field(agents, item, field):
    with pytest.raises(SpecError) as err:
        regimen_from_list([item], agents)
    assert str(err.value).startswith(field)
    assert "\n" not in str(err.value)


def test_the_exact_key_tells_apart_what_the_label_rounds_or_leaves_out(agents):
    from sermsim.agents.regimen import regimen_key

    def one(**kw):
        return regimen_from_list([{"agent": "raloxifene", "dose_mg": 60, **kw}], agents)

    same_label = [one(), one(adherence=0.5), one(start_day=300), one(dose_mg=60.0000001)]
    assert len({regimen_label(r) for r in same_label}) == 1
    assert len({regimen_key(r) for r in same_label}) == len(same_label)
    assert regimen_key(one()) == regimen_key(parse_regimen("raloxifene:60", agents))
