"""Competitive binding: closed forms and properties (hypothesis)."""

from __future__ import annotations

import itertools

import jax.numpy as jnp
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from sermsim.receptor import occupancy, saturating_shares

SETTINGS = settings(max_examples=200, deadline=None)
conc = arrays(np.float64, 4, elements=st.floats(0.0, 1e4, allow_subnormal=False))
kds = arrays(np.float64, (4, 2), elements=st.floats(1e-3, 1e4, allow_subnormal=False))


def test_single_ligand_is_the_hyperbola():
    c = jnp.array([0.3])
    occ = occupancy(c, jnp.array([[0.1, 0.4]]))
    assert np.allclose(np.asarray(occ[0]), [0.3 / 0.4, 0.3 / 0.7])


@SETTINGS
@given(conc, kds)
def test_occupancy_in_unit_interval_and_sums_to_at_most_one(c, kd):
    occ = np.asarray(occupancy(jnp.asarray(c), jnp.asarray(kd)))
    assert np.all(occ >= 0) and np.all(occ <= 1)
    assert np.all(occ.sum(axis=0) <= 1 + 1e-12)


@SETTINGS
@given(conc, kds, st.floats(1.01, 100.0))
def test_occupancy_monotone_in_own_concentration_and_displaces_others(c, kd, factor):
    c2 = c.copy()
    c2[1] = c[1] * factor + 1e-6
    occ1 = np.asarray(occupancy(jnp.asarray(c), jnp.asarray(kd)))
    occ2 = np.asarray(occupancy(jnp.asarray(c2), jnp.asarray(kd)))
    assert np.all(occ2[1] >= occ1[1] - 1e-12)
    others = [0, 2, 3]
    assert np.all(occ2[others] <= occ1[others] + 1e-12)


kds3 = arrays(np.float64, (3, 2), elements=st.floats(1e-3, 1e4, allow_subnormal=False))


@SETTINGS
@given(arrays(np.float64, 3, elements=st.floats(1e-3, 1e3)), kds3)
def test_saturating_shares_sum_to_one_and_are_the_limit(c, kd):
    shares = np.asarray(saturating_shares(jnp.asarray(c), jnp.asarray(kd)))
    assert np.allclose(shares.sum(axis=0), 1.0)
    for scale in (1.0, 1e3, 1e9):
        near = np.asarray(occupancy(jnp.asarray(c * scale), jnp.asarray(kd)))
        # exact: occ_i = r_i/(1+R) and share_i = r_i/R differ by share_i/(1+R) <= 1/(1+R)
        unliganded = 1.0 / (1.0 + (c[:, None] * scale / kd).sum(axis=0))
        eps = 8 * np.finfo(float).eps  # rounding of values of order 1
        assert np.all(np.abs(near - shares) <= unliganded * (1 + 1e-9) + eps)


def test_drug_occupancy_rises_with_dose_through_the_whole_chain(agents):
    """PK -> exposure -> binding: the regimen's ERα occupancy is monotone in dose."""
    from sermsim.agents import parse_regimen
    from sermsim.selectivity.profile import Context, steady_state_plasma

    ctx = Context.load(agents)
    for agent in ("raloxifene", "tamoxifen", "bazedoxifene"):
        occ = [
            ctx.regimen_signal(
                steady_state_plasma(parse_regimen(f"{agent}:{d}", agents), agents), 91.0
            )[1]
            for d in (1, 5, 20, 60, 200)
        ]
        assert all(np.all(b >= a) for a, b in itertools.pairwise(occ)), agent
