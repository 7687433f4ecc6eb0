"""Competitive binding at ERα and ERβ: algebraic, because binding equilibrates in minutes.

With receptor far scarcer than ligand (no depletion), the fraction of receptor ``r`` held by
ligand ``i`` is ``(c_i / K_ir) / (1 + sum_j c_j / K_jr)``; the rest is unliganded.
"""

from __future__ import annotations

import jax

from sermsim.core import engine as _engine  # noqa: F401  (float64)


def occupancy(site_nM: jax.Array, kd_nM: jax.Array) -> jax.Array:
    """Fraction of each receptor held by each ligand.

    Parameters
    ----------
    site_nM : (..., L) concentrations the receptor sees, nM
    kd_nM : (L, R) dissociation constants, nM (``inf`` for a ligand that does not bind)

    Returns
    -------
    (..., L, R) occupancies in [0, 1]; over ligands they sum to less than 1.

    >>> import numpy as np, jax.numpy as jnp
    >>> occ = occupancy(jnp.array([0.1, 0.0]), jnp.array([[0.1, 0.4], [1.0, 1.0]]))
    >>> np.round(np.asarray(occ[0]), 3).tolist()
    [0.5, 0.2]
    """
    ratio = site_nM[..., :, None] / kd_nM
    return ratio / (1.0 + ratio.sum(axis=-2, keepdims=True))


def saturating_shares(site_nM: jax.Array, kd_nM: jax.Array) -> jax.Array:
    """Occupancy when the ligands present saturate the receptor in their current proportions:
    the limit of :func:`occupancy` as every concentration is scaled towards infinity.

    >>> import numpy as np, jax.numpy as jnp
    >>> np.asarray(saturating_shares(jnp.array([1.0, 1.0]), jnp.array([[1.0], [3.0]]))).ravel()
    array([0.75, 0.25])
    """
    ratio = site_nM[..., :, None] / kd_nM
    return ratio / ratio.sum(axis=-2, keepdims=True)
