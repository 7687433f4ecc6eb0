"""What the receptors in each tissue see: unbound, tissue-partitioned ligand concentrations.

For a drug moiety the receptor-site concentration is ``C_plasma * fu * Kp``: the total tissue
concentration (plasma times the measured tissue/plasma ratio ``Kp``) times its unbound
fraction, taken equal to the plasma unbound fraction (nonspecific binding in tissue assumed
comparable to plasma; stated in the data files). For estradiol and estrone the available
fraction is the part not bound to SHBG: albumin-bound steroid dissociates within capillary
transit and reaches the cell, SHBG-bound steroid does not. The tissue also makes its own
estradiol: ``f_E2 * (uptake_t * C_plasma + local_t)``, where ``local_t`` is estradiol made in
the tissue by aromatase. Local synthesis is what keeps breast estradiol well above plasma after
menopause, while plasma dominates before it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from numpy.typing import NDArray

from sermsim.core import engine as _engine  # noqa: F401  (float64)
from sermsim.core.errors import SpecError
from sermsim.core.params import as_param, data_dir, load_yaml
from sermsim.core.units import pg_per_ml_to_nmol_per_l, pm_to_nm
from sermsim.receptor.ligands import ESTRADIOL, LigandSet

TISSUES: tuple[str, ...] = (
    "bone",
    "breast",
    "endometrium",
    "liver",
    "hypothalamus",
    "thermoregulation",
    "vagina",
)
LIFE_STAGES: tuple[str, ...] = ("premenopausal", "perimenopausal", "postmenopausal", "male")


@dataclass(frozen=True)
class TissueExposure:
    """Estradiol uptake and local synthesis per tissue (arrays over :data:`TISSUES`)."""

    estradiol_uptake: NDArray[np.float64]  # tissue/plasma total estradiol from plasma
    estradiol_local_nM: NDArray[np.float64]  # total tissue estradiol made locally, nM


def tissue_exposure() -> TissueExposure:
    """Read ``data/exposure.yaml``."""
    raw = load_yaml(data_dir() / "exposure.yaml")["tissues"]
    uptake, local = [], []
    for t in TISSUES:
        entry = raw[t]
        uptake.append(as_param(entry["estradiol_uptake"], f"exposure.{t}.estradiol_uptake").value)
        local_pm = as_param(entry["estradiol_local"], f"exposure.{t}.estradiol_local").value
        local.append(pm_to_nm(local_pm))
    return TissueExposure(np.array(uptake), np.array(local))


def endogenous_estradiol_pg_ml(life_stage: str) -> float:
    """Typical plasma estradiol (pg/mL) of a life stage, from ``data/endogenous.yaml``.

    >>> endogenous_estradiol_pg_ml("postmenopausal") < endogenous_estradiol_pg_ml("premenopausal")
    True
    """
    raw = load_yaml(data_dir() / "endogenous.yaml")["plasma_estradiol"]
    if life_stage not in raw:
        raise SpecError("life_stage", life_stage, f"use one of: {', '.join(LIFE_STAGES)}")
    return as_param(raw[life_stage], f"endogenous.plasma_estradiol.{life_stage}").value


def plasma_vector(
    ligands: LigandSet, estradiol_pg_ml: float, drug_nM: Mapping[str, NDArray[np.float64]]
) -> NDArray[np.float64]:
    """Total plasma concentrations (…, L) in nM: endogenous estradiol plus the regimen's moieties.

    ``drug_nM`` maps moiety ids to arrays of one shape (time points, say); exogenous estradiol
    adds to endogenous estradiol.
    """
    shape = np.shape(next(iter(drug_nM.values()))) if drug_nM else ()
    out = np.zeros((*shape, ligands.n))
    e2_nM = pg_per_ml_to_nmol_per_l(estradiol_pg_ml, ligands.molecular_weight[0])
    out[..., 0] = e2_nM
    for moiety, conc in drug_nM.items():
        out[..., ligands.index(moiety)] += conc
    return out


def receptor_sites(
    plasma_nM: Any,
    available: Any,
    partition: Any,
    estradiol_uptake: Any,
    estradiol_local_nM: Any,
    *,
    estradiol_index: int = 0,
    extra_plasma_nM: Any = 0.0,
) -> jax.Array:
    """Receptor-site concentrations (…, T, L) in nM, the exposure rule of this module as a pure
    JAX function (differentiable, jittable).

    ``plasma_nM`` (…, L) is total plasma concentration; ``extra_plasma_nM`` (…, T, L) what a
    tissue's inflow adds to it (the liver's portal blood, say); ``estradiol_local_nM`` (T,) the
    estradiol a tissue makes itself.
    """
    plasma = jnp.asarray(plasma_nM)
    rows = jnp.shape(estradiol_uptake)[0]
    inflow = jnp.broadcast_to(
        plasma[..., None, :] + extra_plasma_nM, (*plasma.shape[:-1], rows, plasma.shape[-1])
    )  # (…, T, L)
    drug = inflow * available * partition
    e2 = available[estradiol_index] * (
        estradiol_uptake * inflow[..., estradiol_index] + estradiol_local_nM
    )
    return drug.at[..., estradiol_index].set(e2)


def site_concentrations(
    ligands: LigandSet, plasma_nM: NDArray[np.float64], exposure: TissueExposure
) -> jax.Array:
    """Receptor-site concentrations (…, T, L) in nM from total plasma concentrations (…, L)."""
    return receptor_sites(
        plasma_nM,
        jnp.asarray(ligands.available_fraction),
        jnp.asarray(ligands.tissue_partition),
        jnp.asarray(exposure.estradiol_uptake),
        jnp.asarray(exposure.estradiol_local_nM),
        estradiol_index=ligands.index(ESTRADIOL),
    )
