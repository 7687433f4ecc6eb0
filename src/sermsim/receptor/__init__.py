"""Receptor layer: which ligand holds how much ERα and ERβ, in each tissue."""

from sermsim.receptor.binding import occupancy, saturating_shares
from sermsim.receptor.exposure import (
    LIFE_STAGES,
    TISSUES,
    TissueExposure,
    endogenous_estradiol_pg_ml,
    plasma_vector,
    site_concentrations,
    tissue_exposure,
)
from sermsim.receptor.ligands import ESTRADIOL, LigandSet, estradiol_kd, ligand_set

__all__ = [
    "ESTRADIOL",
    "LIFE_STAGES",
    "TISSUES",
    "LigandSet",
    "TissueExposure",
    "endogenous_estradiol_pg_ml",
    "estradiol_kd",
    "ligand_set",
    "occupancy",
    "plasma_vector",
    "saturating_shares",
    "site_concentrations",
    "tissue_exposure",
]
