"""Internal units, fixed in one place, and the conversions used at the boundary.

Inside sermsim: time in hours, amounts in nanomoles, volumes in litres, concentrations in
nmol/L (nM), doses in mg at the boundary only. Every conversion below is exact arithmetic
(SI prefixes and a molecular weight); none carries a physiological assumption.
"""

HOURS_PER_DAY = 24.0
DAYS_PER_YEAR = 365.25
# LDL cholesterol: mg/dL per mmol/L, from cholesterol's molar mass 386.65 g/mol (the factor
# clinical laboratories use).
LDL_MG_DL_PER_MMOL_L = 38.67
NMOL_PER_MMOL = 1.0e6


def mg_to_nmol(mg: float, molecular_weight_g_per_mol: float) -> float:
    """Convert a mass in mg to an amount in nmol.

    >>> round(mg_to_nmol(20.0, 371.5), 1)
    53835.8
    """
    return mg * NMOL_PER_MMOL / molecular_weight_g_per_mol


def ng_per_ml_to_nmol_per_l(ng_per_ml: float, molecular_weight_g_per_mol: float) -> float:
    """Convert ng/mL (= µg/L) to nmol/L.

    >>> round(ng_per_ml_to_nmol_per_l(120.0, 371.5), 1)
    323.0
    """
    return ng_per_ml * 1.0e3 / molecular_weight_g_per_mol


def pg_per_ml_to_nmol_per_l(pg_per_ml: float, molecular_weight_g_per_mol: float) -> float:
    """Convert pg/mL (= ng/L) to nmol/L.

    >>> round(pg_per_ml_to_nmol_per_l(27.24, 272.38), 4)
    0.1
    """
    return pg_per_ml / molecular_weight_g_per_mol


def nmol_per_l_to_pg_per_ml(nmol_per_l: float, molecular_weight_g_per_mol: float) -> float:
    """Convert nmol/L to pg/mL, the inverse of :func:`pg_per_ml_to_nmol_per_l`."""
    return nmol_per_l * molecular_weight_g_per_mol


PM_PER_NM = 1.0e3


def pm_to_nm(picomolar: float) -> float:
    """Convert pmol/L to nmol/L."""
    return picomolar / PM_PER_NM


def days_to_hours(days: float) -> float:
    """Convert days to hours."""
    return days * HOURS_PER_DAY
