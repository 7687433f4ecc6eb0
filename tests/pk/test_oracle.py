"""Oracle tests: the exact propagator against independent references.

(1) the textbook one-compartment oral (Bateman) solution, (2) explicit superposition of
matrix exponentials over every dose, (3) a tight SciPy Radau solve of the ODEs, restarted at
each dose; all with missed doses. Plus the periodic and average steady states against a long
simulation.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import simpson, solve_ivp
from scipy.linalg import expm

from sermsim.agents import Dose
from sermsim.pk import (
    average_steady_state,
    build_pk,
    cyp2d6_activity,
    dose_times,
    doses_taken,
    periodic_steady_state,
    simulate,
)


def bateman(t: np.ndarray, dose_nmol: float, ka: float, cl: float, v: float) -> np.ndarray:
    k = cl / v
    return dose_nmol * ka / (v * (ka - k)) * (np.exp(-k * t) - np.exp(-ka * t))


def superposition(
    K: np.ndarray, b: np.ndarray, times: np.ndarray, amounts: np.ndarray, grid: np.ndarray
) -> np.ndarray:
    out = np.zeros((len(grid), K.shape[0]))
    for td, a in zip(times, amounts, strict=True):
        for i, t in enumerate(grid):
            if t >= td:
                out[i] += expm(K * (t - td)) @ (b * a)
    return out


def test_single_moiety_matches_bateman(agents):
    agent = agents["raloxifene"]
    pk = build_pk(agent)
    m = agent.moieties[0]
    grid, states = simulate(pk, np.array([0.0]), np.array([60.0]), 24 * 10.0, step_h=0.5)
    dose_nmol = pk.dose_vector(60.0)[0]
    expected = bateman(grid, dose_nmol, agent.ka, m.clearance, m.volume)
    got = pk.concentrations(states)[:, 0]
    assert np.max(np.abs(got - expected)) <= 1e-9 * np.max(expected)


@pytest.mark.parametrize("phenotype", ["poor", "normal", "ultrarapid"])
def test_metabolite_chain_with_missed_doses_matches_superposition(agents, phenotype):
    pk = build_pk(agents["tamoxifen"], cyp2d6_activity(phenotype))
    rng = np.random.default_rng(7)
    times = np.arange(0.0, 24 * 40, 24.0)
    taken = doses_taken(len(times), 0.7, rng)
    assert 0 < taken.sum() < len(times)  # some doses really are missed
    amounts = np.where(taken, 20.0, 0.0)
    grid, states = simulate(pk, times, amounts, 24 * 45.0, step_h=6.0)
    ref = superposition(pk.K, pk.dose_vector(1.0), times, amounts, grid)
    scale = np.max(np.abs(ref), axis=0)
    assert np.max(np.abs(states - ref) / scale) < 1e-9


def test_matches_tight_radau_solve(agents):
    """The full tamoxifen system, daily doses with two missed, against SciPy Radau at
    rtol 1e-10, integrated between doses."""
    pk = build_pk(agents["tamoxifen"])
    times = np.arange(0.0, 24 * 20, 24.0)
    amounts = np.full(len(times), 20.0)
    amounts[[5, 11]] = 0.0
    _grid, states = simulate(pk, times, amounts, 24 * 20.0, step_h=24.0)
    b = pk.dose_vector(1.0)
    x = np.zeros(pk.n_states)
    ref = []
    for i, (td, a) in enumerate(zip(times, amounts, strict=True)):
        x = x + b * a
        ref.append(x.copy())
        if i + 1 < len(times):
            sol = solve_ivp(
                lambda _t, y: pk.K @ y,
                (td, times[i + 1]),
                x,
                method="Radau",
                rtol=1e-10,
                atol=1e-12,
                jac=pk.K,
            )
            x = sol.y[:, -1]
    ref_a = np.array(ref)
    rel = np.abs(states - ref_a) / np.maximum(np.abs(ref_a), 1e-6 * np.max(np.abs(ref_a), axis=0))
    assert np.max(rel) < 1e-6


def test_periodic_steady_state_is_the_limit_of_repeated_dosing(agents):
    pk = build_pk(agents["bazedoxifene"])
    days = 60  # t1/2 28 h: the transient left after 60 days is 2**-51
    times = np.arange(0.0, 24 * days, 24.0)
    _grid, states = simulate(pk, times, np.full(days, 20.0), 24.0 * days, step_h=1.0)
    last_day = states[-24:]
    ss = periodic_steady_state(pk, 20.0, 24.0, np.arange(24.0))
    assert np.allclose(last_day, ss, rtol=1e-8, atol=1e-9 * np.max(ss))


def test_average_steady_state_is_the_mean_over_the_interval(agents):
    pk = build_pk(agents["tamoxifen"])
    s = np.linspace(0.0, 24.0, 2401)
    states = periodic_steady_state(pk, 20.0, 24.0, s)
    # s = 24 h is the state just before the next dose (modulo would wrap it to just after).
    states[-1] = periodic_steady_state(pk, 20.0, 24.0, np.array([24.0 - 1e-12]))[0]
    mean = simpson(states, x=s, axis=0) / 24.0  # Simpson: quadrature error ~1e-12 here
    avg = average_steady_state(pk, 20.0, 24.0)
    assert np.allclose(mean, avg, rtol=1e-9)


def test_average_steady_state_is_dose_rate_over_clearance(agents):
    agent = agents["raloxifene"]
    pk = build_pk(agent)
    conc = pk.concentrations(average_steady_state(pk, 60.0, 24.0))[0]
    expected = pk.dose_vector(60.0)[0] / 24.0 / agent.moieties[0].clearance
    assert conc == pytest.approx(expected, rel=1e-12)


def test_dose_times_respect_start_day_and_cycles():
    dose = Dose(agent="clomiphene", dose_mg=50, start_day=4, days_on=5, cycle_days=28)
    t = dose_times(dose, 24 * 56.0) / 24.0
    assert t.tolist() == [4, 5, 6, 7, 8, 32, 33, 34, 35, 36]


def test_adherence_draws_are_reproducible_by_seed():
    a = doses_taken(100, 0.8, np.random.default_rng(3))
    b = doses_taken(100, 0.8, np.random.default_rng(3))
    assert np.array_equal(a, b)
    assert 60 <= a.sum() <= 95


def test_dose_off_the_grid_is_refused(agents):
    from sermsim.core.errors import SpecError

    pk = build_pk(agents["raloxifene"])
    with pytest.raises(SpecError, match="step_h"):
        simulate(pk, np.array([0.5]), np.array([60.0]), 48.0, step_h=1.0)


def test_cyclic_steady_state_is_the_limit_of_repeated_cycles(agents):
    """Clomiphene on days 5-9 of each 28-day cycle: the closed-form cyclic steady state
    against 40 simulated cycles (zuclomiphene t1/2 20 d: transient left 2**-56)."""
    from sermsim.pk import cyclic_steady_state

    pk = build_pk(agents["clomiphene"])
    dose = Dose(agent="clomiphene", dose_mg=50, start_day=4, days_on=5, cycle_days=28)
    period = 28 * 24.0
    in_cycle = dose_times(dose, period)
    cs = cyclic_steady_state(
        pk, in_cycle, np.full(len(in_cycle), 50.0), period, np.arange(0.0, period, 24.0)
    )
    t_end = 40 * period
    times = dose_times(dose, t_end)
    _, states = simulate(pk, times, np.full(len(times), 50.0), t_end, step_h=24.0)
    last = states[-28:]
    assert np.max(np.abs(last - cs) / np.maximum(np.abs(cs), 1e-9 * np.abs(cs).max())) < 1e-9


def test_rate_matrix_written_out_by_hand(agents):
    """The tamoxifen matrix for a poor metaboliser, written from the data values and the
    model's definition, not by the code under test: depot, tamoxifen, NDM, 4-OHT, endoxifen."""
    from sermsim.pk import cyp2d6_activity

    tam = agents["tamoxifen"]
    cl = {m.id: m.clearance for m in tam.moieties}
    v = {m.id: m.volume for m in tam.moieties}
    a = cyp2d6_activity("poor").of("CYP2D6")
    ka = tam.ka
    f_ndm, f_4oht, f_endo_ndm, f_endo_4oht = 0.92, 0.07, 0.10, 0.10  # tamoxifen.yaml
    k_t_ndm = f_ndm * cl["tamoxifen"] / v["tamoxifen"]
    k_t_4 = f_4oht * a * cl["tamoxifen"] / v["tamoxifen"]
    k_t_out = (1 - f_ndm - f_4oht) * cl["tamoxifen"] / v["tamoxifen"]
    k_n_e = f_endo_ndm * a * cl["n_desmethyltamoxifen"] / v["n_desmethyltamoxifen"]
    k_n_out = (1 - f_endo_ndm) * cl["n_desmethyltamoxifen"] / v["n_desmethyltamoxifen"]
    k_4_e = f_endo_4oht * cl["hydroxytamoxifen"] / v["hydroxytamoxifen"]
    k_4_out = (1 - f_endo_4oht) * cl["hydroxytamoxifen"] / v["hydroxytamoxifen"]
    k_e_out = cl["endoxifen"] / v["endoxifen"]
    expected = np.array(
        [
            [-ka, 0, 0, 0, 0],
            [ka, -(k_t_ndm + k_t_4 + k_t_out), 0, 0, 0],
            [0, k_t_ndm, -(k_n_e + k_n_out), 0, 0],
            [0, k_t_4, 0, -(k_4_e + k_4_out), 0],
            [0, 0, k_n_e, k_4_e, -k_e_out],
        ]
    )
    pk = build_pk(tam, cyp2d6_activity("poor"))
    assert pk.moieties == ("tamoxifen", "n_desmethyltamoxifen", "hydroxytamoxifen", "endoxifen")
    assert np.allclose(pk.K, expected, rtol=1e-12, atol=0)


@pytest.mark.parametrize(
    "agent_id", ["tamoxifen", "clomiphene", "conjugated_estrogens", "estradiol"]
)
def test_mass_balance(agents, agent_id):
    """Moles are conserved: what is absorbed is either still in the body or has left through
    a clearance that forms nothing in the model; the cumulative loss is integrated
    independently of the propagator (trapezoid rule on a fine grid)."""
    pk = build_pk(agents[agent_id])
    K = pk.K
    # per-state rate of loss from the system: minus the column sums of K
    loss_rate = -K.sum(axis=0)
    grid, states = simulate(pk, np.array([0.0]), np.array([1.0]), 24 * 20.0, step_h=0.05)
    lost = np.concatenate(
        [[0.0], np.cumsum(0.5 * (states[1:] @ loss_rate + states[:-1] @ loss_rate) * np.diff(grid))]
    )
    total = states.sum(axis=1) + lost
    dose = pk.dose_vector(1.0)[0]
    assert np.all(loss_rate >= -1e-15)
    assert np.max(np.abs(total - dose)) < 1e-4 * dose
