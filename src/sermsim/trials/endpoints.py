"""Endpoint names (TRIAL_SPEC.md, "Endpoint names") and what each one measures.

Events are counted per arm and compared as relative risks; continuous endpoints are a
biomarker of the physiology at ``at_years``: a percent change from baseline (``_pct``) or a
value (reported with its baseline mean).
"""

from __future__ import annotations

# Events of the contract, then sermsim's additions (accepted beyond the contract).
EVENTS: tuple[str, ...] = (
    "invasive_breast_cancer",
    "er_positive_breast_cancer",
    "er_negative_breast_cancer",
    "vertebral_fracture",
    "nonvertebral_fracture",
    "hip_fracture",
    "vte",
    "dvt",
    "pulmonary_embolism",
    "stroke",
    "endometrial_cancer",
    "endometrial_hyperplasia",
    "cataract",
    "coronary_event",
    # additions
    "clinical_vertebral_fracture",
    "osteoporotic_fracture",
)

# Percent change from baseline: endpoint -> biomarker of physiology.simulate.
PERCENT_CHANGE: dict[str, str] = {
    "bmd_lumbar_spine_pct": "bmd_lumbar_spine_g_cm2",
    "bmd_total_hip_pct": "bmd_total_hip_g_cm2",
    "bmd_femoral_neck_pct": "bmd_femoral_neck_g_cm2",
    "ldl_cholesterol_pct": "ldl_mg_dl",
    "hdl_cholesterol_pct": "hdl_mg_dl",
    "total_cholesterol_pct": "total_cholesterol_mg_dl",
    "triglycerides_pct": "triglycerides_mg_dl",
    "fibrinogen_pct": "fibrinogen_g_l",
    # additions
    "ctx_pct": "ctx_ng_ml",
    "shbg_pct": "shbg_nmol_l",
}

# Values (reported with their baseline): endpoint -> biomarker.
VALUES: dict[str, str] = {
    "endometrial_thickness_mm": "endometrial_thickness_mm",
    "hot_flushes_per_day": "hot_flushes_per_day",
    "vaginal_superficial_cells_pct": "vaginal_superficial_pct",
    "vaginal_parabasal_cells_pct": "vaginal_parabasal_pct",
    "vaginal_ph": "vaginal_ph",
    "lh_iu_l": "lh_iu_l",
    "fsh_iu_l": "fsh_iu_l",
    "estradiol_pg_ml": "estradiol_pg_ml",
    "testosterone_ng_dl": "testosterone_ng_dl",
    # additions
    "t_score_lumbar_spine": "t_score_lumbar_spine",
    "t_score_total_hip": "t_score_total_hip",
}

CONTINUOUS: tuple[str, ...] = (*PERCENT_CHANGE, *VALUES)

BMD_ENDPOINTS = ("bmd_lumbar_spine_pct", "bmd_total_hip_pct", "bmd_femoral_neck_pct")


def biomarker(endpoint: str) -> str:
    """The physiology biomarker behind a continuous endpoint."""
    return PERCENT_CHANGE.get(endpoint) or VALUES[endpoint]
