"""A regimen's doses on the engine's days: missed doses keyed per dose line, so that the doses
a person takes do not depend on how long the run is, when the regimen stops, or what the
other lines of the regimen are."""

from __future__ import annotations

import numpy as np

from sermsim.agents import parse_regimen
from sermsim.agents.regimen import regimen_from_list
from sermsim.physiology.simulate import default_engine, regimen_system

ENGINE = default_engine()


def taken(regimen, n_days, stop_day=None, seed=3):
    reg = regimen_system(regimen, ENGINE, n_days, seed=seed, stop_day=stop_day)
    return [line.steps for line in reg.lines]


def test_missed_doses_do_not_depend_on_the_horizon_the_stop_or_other_lines():
    both = regimen_from_list(
        [
            {"agent": "raloxifene", "dose_mg": 60, "adherence": 0.8},
            {"agent": "medroxyprogesterone_acetate", "dose_mg": 2.5, "adherence": 0.8},
        ],
        ENGINE.agents,
    )
    short, long_, stopped = taken(both, 100), taken(both, 400), taken(both, 400, stop_day=50)
    for line in range(2):
        assert np.array_equal(short[line], long_[line][long_[line] < 100])
        assert np.array_equal(stopped[line], long_[line][long_[line] < 50])
    # Another agent on the first line leaves the second line's doses as they were.
    other = regimen_from_list(
        [
            {"agent": "tamoxifen", "dose_mg": 20, "adherence": 0.5},
            {"agent": "medroxyprogesterone_acetate", "dose_mg": 2.5, "adherence": 0.8},
        ],
        ENGINE.agents,
    )
    assert np.array_equal(taken(other, 400)[1], long_[1])
    # The two lines draw independently: their missed days differ.
    assert not np.array_equal(long_[0], long_[1])
    # About the adherence asked for (400 doses, 0.8: the binomial SD is 2 %).
    assert abs(len(long_[0]) / 400 - 0.8) < 0.06


def test_full_adherence_takes_every_scheduled_dose():
    (days,) = taken(parse_regimen("raloxifene:60", ENGINE.agents), 30)
    assert np.array_equal(days, np.arange(30))


def test_batch_pk_keeps_each_persons_doses_with_the_phenotypes_matrices():
    from sermsim.physiology.patient import patient_from_mapping
    from sermsim.physiology.simulate import batch_pk

    regimen = regimen_from_list(
        [{"agent": "tamoxifen", "dose_mg": 20, "adherence": 0.7}], ENGINE.agents
    )
    people = [patient_from_mapping({"sex": "female", "age": 60}) for _ in range(2)]
    pk = batch_pk(people, regimen, ENGINE, 60, seeds=[1, 2])
    for k, seed in enumerate((1, 2)):
        own = regimen_system(regimen, ENGINE, 61, seed=seed).day_counts(61)
        np.testing.assert_array_equal(np.asarray(pk["counts"][k]), own)
    assert not np.array_equal(np.asarray(pk["counts"][0]), np.asarray(pk["counts"][1]))
    np.testing.assert_array_equal(np.asarray(pk["E"][0]), np.asarray(pk["E"][1]))
