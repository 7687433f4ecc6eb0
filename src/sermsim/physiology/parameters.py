"""Physiology parameters: ``data/physiology.yaml`` read once, plus the quantities derived
from it and from the selectivity layer (the tissue signals of typical pre- and
postmenopausal estradiol, the GnRH feedback constants that reproduce the life-stage hormone
levels).

Everything the equations use is one flat mapping of name -> float (a JAX pytree), so a
calibration can replace any entry and differentiate through the model.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import jax.numpy as jnp
import numpy as np
from numpy.typing import NDArray

from sermsim.core.params import as_param, data_dir, load_yaml
from sermsim.core.units import pg_per_ml_to_nmol_per_l
from sermsim.receptor.binding import occupancy
from sermsim.receptor.exposure import (
    TISSUES,
    endogenous_estradiol_pg_ml,
    plasma_vector,
    receptor_sites,
)
from sermsim.receptor.ligands import ESTRADIOL
from sermsim.selectivity.profile import Context
from sermsim.selectivity.signal import TissueParams, tissue_signal

# The liver's second promoter class: genes that need full agonism (HDL, triglycerides), a copy
# of the liver's transducer whose promoters offer little coactivator, so that only ligands
# that recruit coactivator strongly (estrogens) drive them. Signals: TISSUES + this row.
LIVER_FULL = "liver_full"
SIGNAL_ROWS: tuple[str, ...] = (*TISSUES, LIVER_FULL)
LIVER_MARKERS: tuple[str, ...] = (
    "ldl",
    "hdl",
    "triglycerides",
    "fibrinogen",
    "antithrombin",
    "protein_s",
    "apc_resistance",
    "shbg",
)
_SECTIONS = (
    "time_scales",
    "women",
    "men",
    "progestogen",
    "bone",
    "breast",
    "endometrium",
    "thermoregulation",
    "vagina",
    "numerics",
)


def _flatten(raw: Mapping[str, Any]) -> dict[str, float]:
    flat: dict[str, float] = {}
    for section in _SECTIONS:
        for key, node in raw[section].items():
            flat[f"{section}.{key}"] = as_param(node, f"physiology.{section}.{key}").value
    for key, node in raw["liver"].items():
        if isinstance(node, Mapping) and "main" in node:
            for cls in ("main", "full"):
                flat[f"liver.{key}.{cls}"] = as_param(node[cls], f"physiology.liver.{key}").value
        else:
            flat[f"liver.{key}"] = as_param(node, f"physiology.liver.{key}").value
    return flat


@lru_cache(maxsize=1)
def _raw_physiology() -> dict[str, Any]:
    return load_yaml(data_dir() / "physiology.yaml")


def raw_physiology() -> dict[str, Any]:
    """``data/physiology.yaml`` as read once per process (a copy)."""
    return copy.deepcopy(_raw_physiology())


def portal_fractions() -> dict[str, float]:
    """Fraction of an oral dose entering the portal blood, per agent (``first_pass``)."""
    raw = raw_physiology()["first_pass"]
    return {k: as_param(v, f"physiology.first_pass.{k}").value for k, v in raw.items()}


def extended_tissues(tissues: TissueParams, full_coactivator_ratio: float) -> TissueParams:
    """The tissues' selectivity parameters with the liver's full-agonism promoter class."""
    i = TISSUES.index("liver")

    def add(values: NDArray[np.float64], scale: float = 1.0) -> NDArray[np.float64]:
        return np.append(values, values[i] * scale)

    return TissueParams(
        er_alpha_share=add(tissues.er_alpha_share),
        er_beta_coupling=add(tissues.er_beta_coupling),
        coactivator=add(tissues.coactivator, full_coactivator_ratio),
        corepressor=add(tissues.corepressor),
        basal=add(tissues.basal),
        gain=add(tissues.gain),
    )


@dataclass(frozen=True)
class Physiology:
    """Parameters (name -> float) and what is derived from them, for one ligand set."""

    values: dict[str, float]
    tissues: TissueParams  # SIGNAL_ROWS
    context: Context

    def __getitem__(self, key: str) -> float:
        return self.values[key]


def extended_exposure(context: Context) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Estradiol uptake and local synthesis (nM) over SIGNAL_ROWS: the liver's promoter
    classes share the liver's exposure."""
    exp, liver = context.exposure, TISSUES.index("liver")
    return (
        np.append(exp.estradiol_uptake, exp.estradiol_uptake[liver]),
        np.append(exp.estradiol_local_nM, exp.estradiol_local_nM[liver]),
    )


def signals_with_estradiol(
    context: Context,
    tissues: TissueParams,
    estradiol_pg_ml: float,
    hypothalamic_local_nM: float = 0.0,
) -> NDArray[np.float64]:
    """Signal (len(SIGNAL_ROWS),) with estradiol alone at a plasma level (plus, in men,
    estradiol made from testosterone in the hypothalamus itself)."""
    lig = context.ligands
    uptake, local = extended_exposure(context)
    local = local.copy()
    local[SIGNAL_ROWS.index("hypothalamus")] += hypothalamic_local_nM
    site = receptor_sites(
        plasma_vector(lig, estradiol_pg_ml, {}),
        jnp.asarray(lig.available_fraction),
        jnp.asarray(lig.tissue_partition),
        jnp.asarray(uptake),
        jnp.asarray(local),
        estradiol_index=lig.index(ESTRADIOL),
    )
    occ = occupancy(site, jnp.asarray(lig.kd))
    sig = tissue_signal(occ, jnp.asarray(lig.coactivator), jnp.asarray(lig.corepressor), tissues)
    return np.asarray(sig)


def derive(values: dict[str, float], context: Context) -> dict[str, float]:
    """Add the derived constants: reference signals per row, GnRH feedback constants,
    ovarian and testicular capacities, bone site rates."""
    v = dict(values)
    tissues = extended_tissues(context.tissues, v["liver.full_coactivator_ratio"])
    e2_pre = endogenous_estradiol_pg_ml("premenopausal")
    e2_post = endogenous_estradiol_pg_ml("postmenopausal")
    e2_male = endogenous_estradiol_pg_ml("male")
    s_pre = signals_with_estradiol(context, tissues, e2_pre)
    s_post = signals_with_estradiol(context, tissues, e2_post)
    t_ref = v["men.testosterone_reference"]
    s_male = signals_with_estradiol(
        context, tissues, e2_male, v["men.hypothalamic_aromatization"] * t_ref
    )
    for i, row in enumerate(SIGNAL_ROWS):
        v[f"ref.{row}.pre"] = float(s_pre[i])
        v[f"ref.{row}.post"] = float(s_post[i])
    v["ref.estradiol_pre"] = e2_pre
    v["ref.estradiol_post"] = e2_post
    v["ref.estradiol_male"] = e2_male

    # GnRH drive G(h) = 1 / (1 + (h/K)^n); LH = LH_max G in women, with the life-stage levels
    # at the hypothalamic signals of typical pre- and postmenopausal estradiol.
    n = v["women.gnrh_hill"]
    hyp = TISSUES.index("hypothalamus")
    h_pre, h_post, h_male = float(s_pre[hyp]), float(s_post[hyp]), float(s_male[hyp])
    r = v["women.lh_premenopausal"] / v["women.lh_postmenopausal"]
    u = (1.0 - r) / (r * h_pre**n - h_post**n)
    if not u > 0:
        raise ValueError("GnRH feedback cannot reproduce the life-stage LH levels")
    k_h = u ** (-1.0 / n)
    v["hpg.gnrh_half_signal"] = k_h

    def drive(h: float) -> float:
        return 1.0 / (1.0 + (max(h, 0.0) / k_h) ** n)

    g_pre, g_post = drive(h_pre), drive(h_post)
    v["hpg.lh_max"] = v["women.lh_postmenopausal"] / g_post
    v["hpg.fsh_max"] = v["women.fsh_postmenopausal"] / g_post
    v["hpg.inhibin_suppression"] = 1.0 - v["women.fsh_premenopausal"] / (v["hpg.fsh_max"] * g_pre)
    k_f = v["women.ovarian_fsh_half_saturation"] * v["women.fsh_premenopausal"]
    v["hpg.ovarian_fsh_half"] = k_f
    phi_pre = v["women.fsh_premenopausal"] / (v["women.fsh_premenopausal"] + k_f)
    v["hpg.ovarian_e2_max"] = (e2_pre - e2_post) / phi_pre

    # Men: LH = LH_max_m G(h) / (1 + T/K_T); T = T_cap LH / (LH + K_LH); E2 = a T + b.
    lh_ref = v["men.lh_reference"]
    k_t = v["men.testosterone_feedback_half"]
    g_male = drive(h_male) / (1.0 + t_ref / k_t)
    v["hpg.male_lh_max"] = lh_ref / g_male
    v["hpg.male_fsh_max"] = v["men.fsh_reference"] / g_male
    k_lh = v["men.testis_lh_half_saturation"]
    v["hpg.testis_capacity"] = t_ref * (lh_ref + k_lh) / lh_ref
    v["hpg.aromatization"] = v["men.aromatized_fraction"] * e2_male / t_ref
    v["hpg.male_e2_other"] = (1.0 - v["men.aromatized_fraction"]) * e2_male

    # Bone: site rate constants so the steady postmenopausal loss is the SWAN rate.
    denom = v["bone.imbalance_postmenopausal"] * v["bone.activation_postmenopausal"]
    for site in ("lumbar_spine", "total_hip", "femoral_neck"):
        v[f"bone.k_{site}"] = v[f"bone.postmenopausal_loss_{site}"] / 100.0 / denom

    # Progesterone: cycle-averaged luteal level, unbound, in nM.
    mw = v["progestogen.progesterone_mw"]
    avg = v["women.luteal_progesterone"] * v["women.luteal_fraction"]
    v["progestogen.cycle_unbound_nM"] = (
        pg_per_ml_to_nmol_per_l(avg * 1000.0, mw) * v["progestogen.progesterone_unbound_fraction"]
    )
    v["derived.ln_activation_post"] = math.log(v["bone.activation_postmenopausal"])
    return v


def load_physiology(context: Context, overrides: Mapping[str, float] | None = None) -> Physiology:
    """Read ``data/physiology.yaml``, apply ``overrides`` (calibration), derive the rest."""
    values = _flatten(raw_physiology())
    if overrides:
        unknown = set(overrides) - set(values)
        if unknown:
            raise KeyError(f"unknown physiology parameters: {sorted(unknown)}")
        values.update(overrides)
    derived = derive(values, context)
    tissues = extended_tissues(context.tissues, derived["liver.full_coactivator_ratio"])
    return Physiology(derived, tissues, context)
