"""The coregulator model's scale and its monotonicity in estradiol."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from sermsim.receptor import TISSUES, ligand_set
from sermsim.selectivity import tissue_params, tissue_signal
from sermsim.selectivity.profile import Context


def _signal_with(agents, occ_fn):
    ligands = ligand_set(agents, ["raloxifene"])
    occ = np.zeros((len(TISSUES), ligands.n, 2))
    occ_fn(occ, ligands)
    return np.asarray(
        tissue_signal(
            jnp.asarray(occ),
            jnp.asarray(ligands.coactivator),
            jnp.asarray(ligands.corepressor),
            tissue_params(),
        )
    )


def test_unliganded_is_zero_and_saturating_estradiol_is_one(agents):
    assert np.allclose(_signal_with(agents, lambda o, lg: None), 0.0)

    def full_e2(o, lg):
        o[:, lg.index("estradiol"), :] = 1.0

    assert np.allclose(_signal_with(agents, full_e2), 1.0)


def test_a_corepressor_recruiting_complex_can_push_below_basal(agents):
    def full_ral(o, lg):
        o[:, lg.index("raloxifene"), :] = 1.0

    sig = _signal_with(agents, full_ral)
    assert sig[TISSUES.index("breast")] < 0


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0.0, 2000.0), min_size=2, max_size=6, unique=True))
def test_signal_is_monotone_in_estradiol_without_drug(agents, levels):
    ctx = Context.load(agents)
    levels = sorted(levels)
    sig = np.array([ctx.estradiol_signal(e2) for e2 in levels])
    assert np.all(np.diff(sig, axis=0) >= -1e-12)
    assert np.all(sig >= -1e-12) and np.all(sig <= 1 + 1e-12)
