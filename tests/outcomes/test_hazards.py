"""Hazards from drivers, without the physiology: directions of every link, and the exact
expected incidence against sampled event times."""

from __future__ import annotations

import numpy as np
import pytest

from sermsim.outcomes.hazards import (
    Covariates,
    cumulative_incidence,
    first_time,
    hazards,
    mortality,
)
from sermsim.outcomes.parameters import default_outcome_parameters, load_outcome_parameters
from sermsim.trials.keyed import uniforms

P = default_outcome_parameters()
GRID = np.linspace(0.0, 5.0, 61)
N = 4


def covariates(**over) -> Covariates:
    base = dict(
        female=np.array([True, True, True, False]),
        age=np.array([55.0, 65.0, 75.0, 65.0]),
        uterus=np.array([True, False, True, False]),
        bmi=np.array([22.0, 27.0, 32.0, 27.0]),
        smoker=np.array([False, False, True, False]),
        prior_vte=np.zeros(N, bool),
        thrombophilia=np.array(["none"] * N),
        t_spine=np.array([-1.0, -2.5, -3.0, -1.0]),
        t_hip=np.array([-1.0, -2.0, -2.5, -1.0]),
        t_spine_typical=np.array([-0.8, -1.2, -1.6, -0.5]),
        t_hip_typical=np.array([-0.8, -1.2, -1.6, -0.5]),
        t_slope=np.full(N, -0.03),
        prior_fracture=np.array([False, True, False, False]),
        breast_table=np.tile(np.linspace(1e-5, 4e-3, 14), (N, 1)) * np.array([[1], [1], [1], [0]]),
        bmd_spine_z0=np.full(N, 9.0),
        bmd_hip_z0=np.full(N, 7.0),
    )
    base.update(over)
    return Covariates(**base)


def drivers(**over) -> dict:
    k = len(GRID)
    ones = np.ones((N, k))
    base = dict(
        breast_signal=0.58 * ones,
        breast_signal_none=0.58 * ones,
        bmd_spine_ratio=ones,
        bmd_hip_ratio=ones,
        turnover_ratio=ones,
        prothrombotic_ratio=ones,
        ldl_lowering_mg_dl=0 * ones,
        unopposed_drive_mm=0 * ones,
        cataract_multiplier=np.ones((N, k - 1)),
    )
    base.update(
        {key: value * ones if np.ndim(value) == 0 else value for key, value in over.items()}
    )
    return base


def test_untreated_drivers_leave_the_baseline():
    h = hazards(covariates(), drivers(), GRID, P)
    assert set(h) >= {"er_positive", "vertebral", "hip", "vte", "endometrial_cancer", "cataract"}
    for name, values in h.items():
        assert values.shape == (N, len(GRID) - 1), name
        assert np.all(np.isfinite(values)) and np.all(values >= 0), name
    # A man has no breast or endometrial hazard here; a woman without a uterus no endometrial.
    assert h["er_positive"][3].sum() == 0 and h["endometrial_cancer"][3].sum() == 0
    assert h["endometrial_hyperplasia"][1].sum() == 0
    # Lower BMD and a prior fracture raise fracture hazard; obesity and smoking raise VTE.
    assert h["vertebral"][1, 0] > h["vertebral"][0, 0] * 2
    assert h["vte"][2, 0] > h["vte"][0, 0] * 2


@pytest.mark.parametrize(
    ("driver", "value", "process", "direction"),
    [
        ("breast_signal", -0.2, "er_positive", -1),
        ("breast_signal", -0.2, "er_negative", 0),
        ("bmd_spine_ratio", 1.03, "vertebral", -1),
        ("turnover_ratio", 0.6, "vertebral", -1),
        ("bmd_hip_ratio", 1.03, "hip", -1),
        ("prothrombotic_ratio", 1.5, "vte", 1),
        ("prothrombotic_ratio", 1.5, "stroke", 1),
        ("ldl_lowering_mg_dl", 20.0, "coronary", -1),
        ("unopposed_drive_mm", 4.0, "endometrial_hyperplasia", 1),
        ("unopposed_drive_mm", 4.0, "endometrial_cancer", 1),
    ],
)
def test_each_link_moves_its_hazard_the_right_way(driver, value, process, direction):
    base = hazards(covariates(), drivers(), GRID, P)[process][0].sum()
    moved = hazards(covariates(), drivers(**{driver: value}), GRID, P)[process][0].sum()
    assert np.sign(round((moved - base) / base, 9)) == direction


def test_breast_benefit_persists_after_stopping_and_vte_excess_fades():
    on = (GRID < 2.5)[None, :]
    signal = np.where(on, -0.2, 0.58) * np.ones((N, len(GRID)))
    dt = np.diff(GRID)

    def cumulative(params) -> np.ndarray:
        h = hazards(covariates(), drivers(breast_signal=signal), GRID, params)["er_positive"][0]
        base = hazards(covariates(), drivers(), GRID, params)["er_positive"][0]
        return np.cumsum((base - h) * dt), h, base

    gap, _, _ = cumulative(P)
    stop = int(np.searchsorted(GRID, 2.5)) - 1
    assert gap[stop] > 0
    # The tumours held back are not caught up after stopping: the gap stays.
    assert gap[-1] >= gap[stop] * (1 - 1e-9)
    # With elimination of occult tumours (a regression rate above the fitted 0), the hazard
    # itself stays lower for years after stopping.
    eliminating = load_outcome_parameters({"breast.regression_rate": 0.5})
    _, h2, base2 = cumulative(eliminating)
    assert np.all(h2[stop + 2 : stop + 14] < base2[stop + 2 : stop + 14])
    vte = hazards(covariates(), drivers(prothrombotic_ratio=1.5), GRID, P)["vte"][0]
    vte0 = hazards(covariates(), drivers(), GRID, P)["vte"][0]
    excess = vte / vte0 - 1.0
    assert excess[0] > 0 and excess[-1] < excess[0]  # susceptible people clot early


def test_expected_incidence_matches_sampled_event_times():
    n = 200_000
    rng_h = np.linspace(0.01, 0.2, 60)[None, :] * np.ones((n, 1))
    m = np.full((n, 60), 0.05)
    dt = np.full(60, 5.0 / 60)
    expected = cumulative_incidence(rng_h, m, dt)
    t_event = first_time(rng_h, dt, uniforms(1, "x", np.arange(n), "e"))
    t_death = first_time(m, dt, uniforms(1, "x", np.arange(n), "d"))
    sampled = np.mean(t_event < np.minimum(t_death, 5.0))
    se = np.sqrt(expected[0] * (1 - expected[0]) / n)
    assert abs(sampled - expected[0]) < 4 * se


def test_mortality_rises_with_age_and_is_higher_in_men():
    m = mortality(P, np.array([True, False]), np.array([[60.0, 80.0], [60.0, 80.0]]))
    assert m[0, 1] > m[0, 0] and m[1, 0] > m[0, 0]
