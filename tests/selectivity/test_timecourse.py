"""Tissue signals over time settle to the profile's steady state and respond to stopping."""

from __future__ import annotations

import numpy as np
import pytest

from sermsim.agents import parse_regimen, regimen_from_list
from sermsim.receptor import TISSUES
from sermsim.selectivity import profile_regimen, signal_timecourse
from sermsim.selectivity.profile import Context


def test_time_course_settles_to_the_steady_state_profile(agents):
    ctx = Context.load(agents)
    regimen = parse_regimen("raloxifene", agents)
    tc = signal_timecourse(
        regimen, agents, estradiol_pg_ml=5.0, t_end_h=24 * 40.0, step_h=0.25, context=ctx
    )
    last_day = tc.signal[-96:].mean(axis=0)  # t1/2 32.5 h: 40 days is steady state
    profile = profile_regimen(regimen, agents, context=ctx)
    expected = np.array(
        [
            profile.tissues[t].net_change["postmenopausal"]
            + profile.tissues[t].baseline_signal["postmenopausal"]
            for t in TISSUES
        ]
    )
    assert np.allclose(last_day, expected, atol=2e-3)


def test_signal_returns_to_baseline_after_stopping(agents):
    ctx = Context.load(agents)
    regimen = regimen_from_list(
        [{"agent": "bazedoxifene", "dose_mg": 20, "days_on": 30, "cycle_days": 365}], agents
    )
    tc = signal_timecourse(
        regimen, agents, estradiol_pg_ml=5.0, t_end_h=24 * 60.0, step_h=24.0, context=ctx
    )
    baseline = ctx.estradiol_signal(5.0)
    on, off = tc.signal[29], tc.signal[-1]
    assert np.max(np.abs(on - baseline)) > 0.1  # on treatment: a real change
    assert np.max(np.abs(off - baseline)) < 1e-3  # t1/2 28 h: gone 30 days later


def test_missed_doses_need_a_seeded_generator(agents):
    regimen = regimen_from_list([{"agent": "tamoxifen", "dose_mg": 20, "adherence": 0.8}], agents)
    with pytest.raises(ValueError, match="rng"):
        signal_timecourse(regimen, agents, estradiol_pg_ml=5.0, t_end_h=240.0)
    a = signal_timecourse(
        regimen, agents, estradiol_pg_ml=5.0, t_end_h=240.0, rng=np.random.default_rng(1)
    )
    b = signal_timecourse(
        regimen, agents, estradiol_pg_ml=5.0, t_end_h=240.0, rng=np.random.default_rng(1)
    )
    assert np.array_equal(a.signal, b.signal)
