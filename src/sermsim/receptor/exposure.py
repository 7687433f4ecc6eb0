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

import numpy as np
from numpy.typing import NDArray

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


def site_concentrations(
    ligands: LigandSet, plasma_nM: NDArray[np.float64], exposure: TissueExposure
) -> NDArray[np.float64]:
    """Receptor-site concentrations (…, T, L) in nM from total plasma concentrations (…, L)."""
    fu = ligands.available_fraction
    drug = plasma_nM[..., None, :] * fu * ligands.tissue_partition  # (…, 1, L)
    site = np.broadcast_to(drug, (*plasma_nM.shape[:-1], len(TISSUES), ligands.n)).copy()
    e2 = ligands.index(ESTRADIOL)
    site[..., e2] = fu[e2] * (
        exposure.estradiol_uptake * plasma_nM[..., None, e2] + exposure.estradiol_local_nM
    )
    return site
