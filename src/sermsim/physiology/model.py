"""The physiology as one ODE system: a pure JAX function of (time, state, arguments).

Time is in days from the start of treatment (negative during the natural-history run-in).
The drug enters as its plasma concentration per ligand at that instant and, for oral agents
while a dose is absorbed, the extra concentration of the portal blood the liver sees first
(see ``dosing.py``; the PK is linear and solved exactly by the engine). Receptor binding and the
coregulator signal are algebraic (they equilibrate in minutes); what is integrated is what
moves over days to years:

=====  =========================  =================================================
index  state                      module
=====  =========================  =================================================
0-2    LH, FSH, gonadal output    HPG axis: ovarian estradiol (women) or testosterone
3-5    activation, formation,     bone remodelling (activation frequency relative to
       estrogen memory            premenopausal; formation lags; a slow reference)
6-8    BMD spine, hip, neck       bone mineral density, g/cm2
9      Ki67                       breast epithelial proliferation, %
10     endometrial thickness      mm (0 without a uterus)
11     vaginal maturation         0 atrophic (postmenopausal) .. 1 premenopausal
12     thermoregulatory set point the slowly adapting signal hot flushes are measured from
13-20  liver markers              log ratio to the untreated postmenopausal value
=====  =========================  =================================================

Each tissue's drive is its estrogenic activity ``e = (s - s_post) / (s_pre - s_post)``
(see ``data/physiology.yaml``), so the natural history (premenopausal -> postmenopausal)
fixes how strongly each module answers, and drugs act only through the signals they cause.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from jax import Array

from sermsim.core import engine as _engine  # noqa: F401  (float64)
from sermsim.core.units import DAYS_PER_YEAR
from sermsim.physiology.parameters import LIVER_MARKERS, SIGNAL_ROWS
from sermsim.receptor.binding import occupancy
from sermsim.receptor.exposure import receptor_sites
from sermsim.selectivity.signal import tissue_signal

STATES: tuple[str, ...] = (
    "lh",
    "fsh",
    "gonadal",
    "bone_activation",
    "bone_formation",
    "bone_memory",
    "bmd_lumbar_spine",
    "bmd_total_hip",
    "bmd_femoral_neck",
    "breast_ki67",
    "endometrium",
    "vaginal_maturation",
    "thermo_setpoint",
    *(f"liver_{m}" for m in LIVER_MARKERS),
)
S = {name: i for i, name in enumerate(STATES)}
BMD_SITES = ("lumbar_spine", "total_hip", "femoral_neck")
ROW = {name: i for i, name in enumerate(SIGNAL_ROWS)}
_LIVER_ROWS = (ROW["liver"], ROW["liver_full"])

Args = dict[str, Any]


def ramp(x: Array, scale: Array) -> Array:
    """A C1 max(x, 0): exactly 0 for x <= 0, quadratic up to ``scale``, then x - scale/2."""
    inner = jnp.clip(x, 0.0, scale)
    return jnp.where(x >= scale, x - 0.5 * scale, inner * inner / (2.0 * scale))


def softplus(x: Array, scale: Array) -> Array:
    """A smooth max(x, 0) of width ``scale`` (keeps the right-hand side differentiable)."""
    return scale * jax.nn.softplus(x / scale)


def ovarian_capacity(age: Array, person: Args, p: Args) -> Array:
    """Fraction of the premenopausal ovarian output still available: a smooth step from 1
    to 0 over the menopausal transition (SWAN's start and end around the final menstrual
    period), and zero after bilateral oophorectomy."""
    start = person["age_fmp"] - p["women.transition_start_before_fmp"]
    length = p["women.transition_start_before_fmp"] + p["women.transition_end_after_fmp"]
    x = jnp.clip((age - start) / length, 0.0, 1.0)
    natural = 1.0 - x * x * (3.0 - 2.0 * x)
    surgery = jax.nn.sigmoid((person["surgery_age"] - age) / p["numerics.smooth_scale"])
    return person["female"] * natural * surgery


def estradiol_pg_ml(y: Array, age: Array, person: Args, p: Args) -> Array:
    """Endogenous plasma estradiol: ovarian plus extragonadal (women), aromatised
    testosterone plus other sources (men)."""
    women = y[S["gonadal"]] + person["e2_extragonadal"]
    men = person["aromatization"] * y[S["gonadal"]] + person["e2_other"]
    return jnp.where(person["female"] > 0.5, women, men)


def signals(
    estradiol_nM: Array,
    plasma: Array,
    portal: Array,
    args: Args,
    hypothalamic_local_nM: Array | float = 0.0,
) -> tuple[Array, Array]:
    """Signal (rows,) and ERα occupancy by drug (rows,) for plasma concentrations (L,)
    whose estradiol entry excludes the endogenous ``estradiol_nM``; in men the hypothalamus
    also sees estradiol aromatised there from testosterone (``hypothalamic_local_nM``)."""
    lig = args["ligands"]
    rows = len(SIGNAL_ROWS)
    liver = jnp.zeros(rows).at[jnp.array(_LIVER_ROWS)].set(1.0)
    hypothalamus = jnp.zeros(rows).at[ROW["hypothalamus"]].set(1.0)
    site = receptor_sites(
        plasma.at[0].add(estradiol_nM),
        lig["available"],
        lig["partition"],
        lig["e2_uptake"],
        lig["e2_local"] + hypothalamus * hypothalamic_local_nM,
        extra_plasma_nM=liver[:, None] * portal[None, :],
    )
    occ = occupancy(site, lig["kd"])
    sig = tissue_signal(occ, lig["coactivator"], lig["corepressor"], args["tissues"])
    return sig, occ[:, 1:, 0].sum(axis=-1)


def hypothalamic_local_estradiol(y: Array, person: Args, p: Args) -> Array:
    """Estradiol made from testosterone in the male hypothalamus (zero in women)."""
    return (1.0 - person["female"]) * p["men.hypothalamic_aromatization"] * y[S["gonadal"]]


def activity(sig: Array, row: str, p: Args) -> Array:
    """Estrogenic activity of a signal row: 0 typical postmenopausal, 1 premenopausal."""
    pre, post = p[f"ref.{row}.pre"], p[f"ref.{row}.post"]
    return (sig[ROW[row]] - post) / (pre - post)


def _gnrh_drive(h: Array, p: Args) -> Array:
    x = softplus(h, p["numerics.smooth_scale"]) / p["hpg.gnrh_half_signal"]
    return 1.0 / (1.0 + x ** p["women.gnrh_hill"])


def progestogen_response(
    age: Array, plasma: Array, person: Args, p: Args, args: Args
) -> tuple[Array, Array]:
    """Endometrial progestogen response (0..1) to a regimen's MPA alone, and to MPA plus the
    cycle-mean luteal progesterone: PR occupancy through a receptor reserve
    ``R = G occ / (1 + G occ)`` (a small occupancy suffices: 2.5 mg MPA a day protects)."""
    kd = p["progestogen.progesterone_pr_kd"]
    endo = ovarian_capacity(age, person, p) * p["progestogen.cycle_unbound_nM"] / kd
    mpa_idx = args["ligands"]["mpa_index"]
    mpa_unbound = plasma[mpa_idx] * args["ligands"]["available"][mpa_idx] * args["has_mpa"]
    mpa = mpa_unbound * p["progestogen.mpa_pr_relative_affinity"] / kd
    gain = p["progestogen.pr_response_gain"]

    def response(ratio: Array) -> Array:
        occ = ratio / (1.0 + ratio)
        return gain * occ / (1.0 + gain * occ)

    return response(mpa), response(endo + mpa)


def endometrial_growth(sig: Array, p: Args) -> Array:
    """Estrogen-driven endometrial growth (mm above the atrophic postmenopausal thickness)."""
    x = ramp(sig[ROW["endometrium"]] - p["ref.endometrium.post"], p["numerics.smooth_scale"])
    return p["endometrium.growth_max"] * x / (x + p["endometrium.growth_half_signal"])


def bone_drive(e_bone: Array, memory: Array, p: Args) -> tuple[Array, Array]:
    """Target activation frequency and per-unit imbalance for a bone estrogenic activity:
    activation rises towards its postmenopausal level as activity falls (log-linear), more
    while activity is below its slowly adapting memory (the transition); the imbalance
    scales from its premenopausal to its postmenopausal value."""
    scale = p["numerics.smooth_scale"]
    fall = softplus(memory - e_bone, scale)
    activation = jnp.exp(p["derived.ln_activation_post"] * (1.0 - e_bone)) * (
        1.0 + p["bone.withdrawal_overshoot"] * fall
    )
    ratio = p["bone.imbalance_premenopausal_ratio"]
    imbalance = p["bone.imbalance_postmenopausal"] * (ratio + (1.0 - ratio) * (1.0 - e_bone))
    return activation, imbalance


def hot_flush_rate(setpoint: Array, s_thermo: Array, p: Args) -> Array:
    """Hot flushes per day from how far the thermoregulatory signal sits below the level
    the centre has adapted to."""
    deficit = softplus(setpoint - s_thermo, p["numerics.smooth_scale"])
    n = p["thermoregulation.hill"]
    k = p["thermoregulation.half_deficit"]
    return p["thermoregulation.hot_flushes_max"] * deficit**n / (deficit**n + k**n)


def endometrial_target(sig: Array, opposition: Array, person: Args, p: Args) -> Array:
    """Thickness target: estrogen-driven growth, opposed by a regimen's progestogen. Cycling
    women's own luteal progesterone transforms and sheds the lining each cycle: that is in the
    cycle-average premenopausal thickness, so it opposes the stimulation output, not this."""
    opposed = 1.0 - p["progestogen.endometrial_opposition_max"] * opposition
    growth = endometrial_growth(sig, p)
    return person["uterus"] * (p["endometrium.thickness_postmenopausal"] + growth * opposed)


def vaginal_target(e_vagina: Array, p: Args) -> Array:
    x = softplus(e_vagina, p["numerics.smooth_scale"])
    return x ** p["vagina.maturation_exponent"]


def liver_targets(sig: Array, p: Args) -> Array:
    x_main = sig[ROW["liver"]] - p["ref.liver.post"]
    x_full = sig[ROW["liver_full"]] - p["ref.liver_full.post"]
    return jnp.stack(
        [p[f"liver.{m}.main"] * x_main + p[f"liver.{m}.full"] * x_full for m in LIVER_MARKERS]
    )


def _at(
    t: Array, y: Array, plasma: Array, portal: Array, args: Args
) -> tuple[Array, Array, Array, Array]:
    """Age, endogenous estradiol (pg/mL), signals and drug occupancy at one time, state and
    drug input: what both the right-hand side and the observation need."""
    p, person = args["p"], args["person"]
    age = person["age0"] + t / DAYS_PER_YEAR
    e2_pg = estradiol_pg_ml(y, age, person, p)
    local = hypothalamic_local_estradiol(y, person, p)
    sig, occ = signals(e2_pg * args["ligands"]["pg_ml_to_nM"], plasma, portal, args, local)
    return age, e2_pg, sig, occ


def rhs(t: Array, y: Array, plasma: Array, portal: Array, args: Args) -> Array:
    """dy/dt (per day) at time ``t`` (days), state ``y`` and the drug's total plasma and extra
    liver-inflow concentrations (nM, per ligand; the estradiol entry is the drug's only)."""
    p, person = args["p"], args["person"]
    age, _, sig, _ = _at(t, y, plasma, portal, args)
    tau = {k: p[f"time_scales.{k}"] for k in _TIME_SCALES}
    d: dict[str, Array] = {}  # the derivatives, stacked once at the end

    # HPG axis.
    g = _gnrh_drive(sig[ROW["hypothalamus"]], p)
    cap = ovarian_capacity(age, person, p)
    female = person["female"] > 0.5
    g_male = g / (1.0 + y[S["gonadal"]] / p["men.testosterone_feedback_half"])
    lh_t = jnp.where(female, person["lh_max"] * g, person["lh_max"] * g_male)
    inhibin = 1.0 - p["hpg.inhibin_suppression"] * cap
    fsh_t = jnp.where(female, person["fsh_max"] * g * inhibin, person["fsh_max"] * g_male)
    fsh = y[S["fsh"]]
    ovary = cap * person["ovarian_e2_max"] * fsh / (fsh + p["hpg.ovarian_fsh_half"])
    lh = y[S["lh"]]
    decline = jnp.exp(
        -p["men.testosterone_decline_per_year"] * jnp.maximum(age - person["t_decline_from"], 0.0)
    )
    testis = person["testis_capacity"] * decline * lh / (lh + p["men.testis_lh_half_saturation"])
    gonadal_t = jnp.where(female, ovary, testis)
    d["lh"] = (lh_t - lh) / tau["lh"]
    d["fsh"] = (fsh_t - fsh) / tau["fsh"]
    d["gonadal"] = (gonadal_t - y[S["gonadal"]]) / tau["gonadal"]

    # Bone remodelling.
    e_bone = activity(sig, "bone", p)
    act_t, imbalance = bone_drive(e_bone, y[S["bone_memory"]], p)
    a, f = y[S["bone_activation"]], y[S["bone_formation"]]
    d["bone_activation"] = (act_t - a) / tau["bone_activation"]
    d["bone_formation"] = ((1.0 - imbalance) * a - f) / tau["bone_formation"]
    d["bone_memory"] = (e_bone - y[S["bone_memory"]]) / tau["bone_estrogen_memory"]
    moving = (t >= 0.0).astype(y.dtype)  # the run-in keeps the person's measured BMD
    for site in BMD_SITES:
        i = S[f"bmd_{site}"]
        rate = p[f"bone.k_{site}"] / DAYS_PER_YEAR * (f - a) * y[i]
        d[f"bmd_{site}"] = moving * rate

    # Breast, endometrium, vagina, thermoregulation.
    e_breast = activity(sig, "breast", p)
    ki_pre, ki_post = p["breast.ki67_premenopausal"], p["breast.ki67_postmenopausal"]
    # Proliferation saturates beyond the premenopausal range either way (assumption): the
    # log-linear link between the post- and premenopausal points, through tanh.
    ki_t = ki_post * jnp.exp(jnp.log(ki_pre / ki_post) * jnp.tanh(e_breast) / jnp.tanh(1.0))
    d["breast_ki67"] = (ki_t - y[S["breast_ki67"]]) / tau["breast"]
    by_mpa, _ = progestogen_response(age, plasma, person, p, args)
    endo_t = endometrial_target(sig, by_mpa, person, p)
    d["endometrium"] = (endo_t - y[S["endometrium"]]) / tau["endometrium"]
    vag_t = vaginal_target(activity(sig, "vagina", p), p)
    d["vaginal_maturation"] = (vag_t - y[S["vaginal_maturation"]]) / tau["vagina"]
    s_thermo = sig[ROW["thermoregulation"]]
    d["thermo_setpoint"] = (s_thermo - y[S["thermo_setpoint"]]) / tau["thermoregulatory_adaptation"]

    # Liver.
    first = S[f"liver_{LIVER_MARKERS[0]}"]
    z = y[first : first + len(LIVER_MARKERS)]
    liver = (liver_targets(sig, p) - z) / tau["liver"]
    for k, m in enumerate(LIVER_MARKERS):
        d[f"liver_{m}"] = liver[k]
    return jnp.stack([d[name] for name in STATES])


_TIME_SCALES = (
    "lh",
    "fsh",
    "gonadal",
    "bone_activation",
    "bone_formation",
    "bone_estrogen_memory",
    "breast",
    "endometrium",
    "liver",
    "vagina",
    "thermoregulatory_adaptation",
)


def observe(t: Array, y: Array, plasma: Array, portal: Array, args: Args) -> dict[str, Array]:
    """Biomarkers, signals and drug occupancy at one time, state and drug input."""
    p, person = args["p"], args["person"]
    age, e2_pg, sig, occ = _at(t, y, plasma, portal, args)
    female = person["female"] > 0.5
    out: dict[str, Array] = {
        "signal": sig,
        "drug_occupancy": occ,
        "unbound_nM": plasma * args["ligands"]["unbound"],
        "lh_iu_l": y[S["lh"]],
        "fsh_iu_l": y[S["fsh"]],
        "estradiol_pg_ml": e2_pg + plasma[0] / args["ligands"]["pg_ml_to_nM"],
        "testosterone_ng_dl": jnp.where(female, jnp.nan, y[S["gonadal"]]),
        "progesterone_ng_ml": ovarian_capacity(age, person, p)
        * p["women.luteal_progesterone"]
        * p["women.luteal_fraction"],
    }
    for site in BMD_SITES:
        bmd = y[S[f"bmd_{site}"]]
        out[f"bmd_{site}_g_cm2"] = bmd
        mean, sd = p[f"bone.reference_mean_{site}"], p[f"bone.reference_sd_{site}"]
        out[f"t_score_{site}"] = (bmd - mean) / sd
    a, f = y[S["bone_activation"]], y[S["bone_formation"]]
    ratio = p["bone.imbalance_premenopausal_ratio"] * p["bone.imbalance_postmenopausal"]
    out["ctx_ng_ml"] = p["bone.ctx_premenopausal"] * a
    out["p1np_ug_l"] = p["bone.p1np_premenopausal"] * f / (1.0 - ratio)
    out["breast_ki67_pct"] = y[S["breast_ki67"]]
    _, by_all = progestogen_response(age, plasma, person, p, args)
    unopposed = 1.0 - p["progestogen.endometrial_opposition_max"] * by_all
    out["endometrial_stimulation_mm"] = jnp.where(
        person["uterus"] > 0.5, endometrial_growth(sig, p) * unopposed, jnp.nan
    )
    out["endometrial_thickness_mm"] = jnp.where(
        person["uterus"] > 0.5, y[S["endometrium"]], jnp.nan
    )
    first = S[f"liver_{LIVER_MARKERS[0]}"]
    ratios = jnp.exp(y[first : first + len(LIVER_MARKERS)])
    base = {
        "ldl": p["liver.ldl_postmenopausal"],
        "hdl": p["liver.hdl_postmenopausal"],
        "triglycerides": p["liver.triglycerides_postmenopausal"],
        "fibrinogen": p["liver.fibrinogen_postmenopausal"],
        "antithrombin": p["liver.antithrombin_postmenopausal"],
        "protein_s": p["liver.protein_s_postmenopausal"],
        "apc_resistance": p["liver.apc_sensitivity_ratio_postmenopausal"],
        "shbg": p["liver.shbg_postmenopausal"],
    }
    values = {m: base[m] * ratios[i] for i, m in enumerate(LIVER_MARKERS)}
    out["ldl_mg_dl"] = values["ldl"]
    out["hdl_mg_dl"] = values["hdl"]
    out["triglycerides_mg_dl"] = values["triglycerides"]
    # Friedewald: total = LDL + HDL + TG/5 (mg/dL).
    out["total_cholesterol_mg_dl"] = values["ldl"] + values["hdl"] + values["triglycerides"] / 5.0
    out["fibrinogen_g_l"] = values["fibrinogen"]
    out["antithrombin_pct"] = values["antithrombin"]
    out["protein_s_pct"] = values["protein_s"]
    out["apc_resistance_ratio"] = values["apc_resistance"]
    out["shbg_nmol_l"] = values["shbg"]
    w = p["liver.prothrombotic_weights"]
    out["prothrombotic_index"] = (
        (1.0 / ratios[LIVER_MARKERS.index("antithrombin")]) ** w
        * (1.0 / ratios[LIVER_MARKERS.index("protein_s")]) ** w
        * ratios[LIVER_MARKERS.index("apc_resistance")] ** w
    )
    out["hot_flushes_per_day"] = person["female"] * hot_flush_rate(
        y[S["thermo_setpoint"]], sig[ROW["thermoregulation"]], p
    )
    m = y[S["vaginal_maturation"]]
    sup_pre, sup_post = (
        p["vagina.superficial_premenopausal"],
        p["vagina.superficial_postmenopausal"],
    )
    par_pre, par_post = p["vagina.parabasal_premenopausal"], p["vagina.parabasal_postmenopausal"]
    ph_pre, ph_post = p["vagina.ph_premenopausal"], p["vagina.ph_postmenopausal"]
    mc = jnp.clip(m, 0.0, 1.5)
    out["vaginal_superficial_pct"] = (
        sup_post
        + (sup_pre - sup_post)
        * jnp.minimum(mc ** p["vagina.superficial_exponent"], 1.0)
        * person["female"]
    )
    out["vaginal_parabasal_pct"] = par_post + (par_pre - par_post) * jnp.minimum(mc, 1.0)
    out["vaginal_ph"] = ph_post + (ph_pre - ph_post) * jnp.minimum(mc, 1.0)
    return out
