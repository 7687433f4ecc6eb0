"""The coregulator model: from receptor occupancy to a transcriptional signal per tissue.

Each ligand–receptor complex recruits coactivator with strength ``a`` and corepressor with
strength ``r``; a tissue offers coactivator ``S`` and corepressor ``N``. The two compete for the
complex, so the complex is coactivator-engaged with probability ``aS / (1 + aS + rN)`` and
corepressor-engaged with probability ``rN / (1 + aS + rN)``. Unliganded receptor has a small
basal (coactivator-like) activity ``b``. The tissue's activating drive ``x`` and repressive
drive ``y`` are occupancy-weighted sums over ligands, weighted by the tissue's ERα share and
ERβ coupling (negative coupling: ERβ activation restrains, as in breast). The promoter turns
them into output ``P = g x / (1 + g (x + y))``: gain ``g`` amplifies partial agonists where it is
high (receptor reserve), and corepressor-engaged receptor silences the promoter.

The signal is ``(P - P_unliganded) / (P_saturating_estradiol - P_unliganded)``: 0 with
unliganded receptor, 1 with saturating estradiol, negative where corepressor recruitment
pushes transcription below basal.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array
from numpy.typing import NDArray

from sermsim.core import engine as _engine  # noqa: F401  (float64)
from sermsim.core.params import as_param, data_dir, load_yaml
from sermsim.receptor.exposure import TISSUES

TISSUE_FIELDS = (
    "er_alpha_share",
    "er_beta_coupling",
    "coactivator",
    "corepressor",
    "basal",
    "gain",
)


@dataclass(frozen=True)
class TissueParams:
    """Selectivity parameters as arrays over :data:`~sermsim.receptor.TISSUES`."""

    er_alpha_share: NDArray[np.float64]
    er_beta_coupling: NDArray[np.float64]
    coactivator: NDArray[np.float64]
    corepressor: NDArray[np.float64]
    basal: NDArray[np.float64]
    gain: NDArray[np.float64]

    def receptor_weights(self) -> tuple[Array, Array]:
        """Weights (T, 2) of each receptor's activation into the activating and the
        repressive drive: ERβ with negative coupling feeds the repressive drive."""
        alpha = jnp.asarray(self.er_alpha_share)
        beta = (1.0 - alpha) * jnp.asarray(self.er_beta_coupling)
        w_act = jnp.stack([alpha, jnp.maximum(beta, 0.0)], axis=-1)
        w_flip = jnp.stack([jnp.zeros_like(alpha), jnp.maximum(-beta, 0.0)], axis=-1)
        return w_act, w_flip


jax.tree_util.register_dataclass(TissueParams, data_fields=list(TISSUE_FIELDS), meta_fields=[])


def tissue_params() -> TissueParams:
    """Read ``data/tissues.yaml``."""
    raw = load_yaml(data_dir() / "tissues.yaml")["tissues"]
    values = {
        f: np.array([as_param(raw[t][f], f"tissues.{t}.{f}").value for t in TISSUES])
        for f in TISSUE_FIELDS
    }
    return TissueParams(**values)


def complex_engagement(
    coactivator: Array, corepressor: Array, tissues: TissueParams
) -> tuple[Array, Array]:
    """Probabilities (T, L, R) that each ligand–receptor complex is coactivator- or
    corepressor-engaged in each tissue, from signatures (L, R)."""
    aS = coactivator[None] * jnp.asarray(tissues.coactivator)[:, None, None]
    rN = corepressor[None] * jnp.asarray(tissues.corepressor)[:, None, None]
    denominator = 1.0 + aS + rN
    return aS / denominator, rN / denominator


def _promoter(x: Array, y: Array, gain: Array) -> Array:
    return gain * x / (1.0 + gain * (x + y))


@jax.jit
def tissue_signal(
    occupancy: Array, coactivator: Array, corepressor: Array, tissues: TissueParams
) -> Array:
    """Transcriptional signal per tissue.

    Parameters
    ----------
    occupancy : (..., T, L, R) fraction of each receptor held by each ligand, per tissue
    coactivator, corepressor : (L, R) signatures of the ligand–receptor complexes; ligand 0
        must be estradiol (it defines the saturating reference)
    tissues : per-tissue parameters

    Returns
    -------
    (..., T) signal: 0 unliganded, 1 saturating estradiol.
    """
    on, off = complex_engagement(coactivator, corepressor, tissues)  # (T, L, R)
    apo = 1.0 - occupancy.sum(axis=-2)  # (..., T, R)
    basal = jnp.asarray(tissues.basal)[:, None]  # (T, 1)
    act = (occupancy * on).sum(axis=-2) + apo * basal  # (..., T, R)
    rep = (occupancy * off).sum(axis=-2)
    w_act, w_flip = tissues.receptor_weights()  # (T, R)
    x = (act * w_act).sum(-1)
    y = (rep * w_act).sum(-1) + (act * w_flip).sum(-1)
    gain = jnp.asarray(tissues.gain)
    p = _promoter(x, y, gain)
    # References: every receptor unliganded, and every receptor held by estradiol.
    x0 = (basal * w_act).sum(-1)
    y0 = (basal * w_flip).sum(-1)
    xe = (on[:, 0, :] * w_act).sum(-1)
    ye = (off[:, 0, :] * w_act).sum(-1) + (on[:, 0, :] * w_flip).sum(-1)
    p0 = _promoter(x0, y0, gain)
    pe = _promoter(xe, ye, gain)
    return (p - p0) / (pe - p0)
