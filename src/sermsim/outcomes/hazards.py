"""Event hazards: each person's baseline risk, scaled by what the physiology does.

For people i and monthly intervals k (ages ``age_i + t_k``), every base process gets a hazard
per year. The baseline comes from age (and sex) tables and the person's risk factors; the
treatment effect comes only from the physiology of the person's arm relative to the same
person untreated (``drivers``), never from a trial's relative risk:

- **ER+ breast cancer**: occult ER+ tumours grow at a rate set by the breast ER signal,
  ``g = (s - s0) / (s_untreated - s0)`` (floored at 0), and a growth deficit eliminates some of
  them (rate ``regression_rate * (1 - g)``), while new tumours renew the pool over
  ``occult_pool_renewal`` years. The hazard is ``h0 * g * S`` with ``S`` the surviving share of
  the pool: benefit persists after stopping until the pool is renewed. ER- cancer: untouched.
- **Fractures**: the BMD gradient of risk applied to the treatment's change in T-score,
  times the turnover (resorption) ratio to a site-specific power.
- **VTE**: a power of the prothrombotic-index ratio; the excess falls on a gamma-distributed
  susceptibility, so that susceptible people clot early and the excess fades (depletion).
- **Stroke**: LDL through the CTT relative risk, and a power of the prothrombotic index
  (arterial thrombosis). **Coronary events**: LDL through the CTT relative risk only.
- **Endometrium** (women with a uterus): hyperplasia rises with the current unopposed
  estrogenic growth drive; cancer with its cumulative amount.
- **Cataract**: a named off-target hazard ratio of the agent while it is taken.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from sermsim.core.units import LDL_MG_DL_PER_MMOL_L
from sermsim.outcomes.gail import incidence_at
from sermsim.outcomes.parameters import OutcomeParameters

FloatArray = NDArray[np.float64]
PER_1000 = 1000.0

# Base processes: each sampled once per person; the endpoints are built from them.
PROCESSES = (
    "er_positive",
    "er_negative",
    "vertebral",
    "clinical_vertebral",
    "hip",
    "other_nonvertebral",
    "vte",
    "stroke",
    "coronary",
    "cataract",
    "endometrial_hyperplasia",
    "endometrial_cancer",
)


@dataclass(frozen=True)
class Covariates:
    """What the hazards need about each person (arrays of n)."""

    female: NDArray[np.bool_]
    age: FloatArray
    uterus: NDArray[np.bool_]
    bmi: FloatArray
    smoker: NDArray[np.bool_]
    prior_vte: NDArray[np.bool_]
    thrombophilia: NDArray[np.str_]
    t_spine: FloatArray
    t_hip: FloatArray
    t_spine_typical: FloatArray  # at baseline age
    t_hip_typical: FloatArray
    t_slope: FloatArray  # typical T-score change per year of age
    prior_fracture: NDArray[np.bool_]
    breast_table: FloatArray  # (n, 14): invasive breast cancer hazard per year by Gail age group
    bmd_spine_z0: FloatArray  # reference mean / SD of the BMD sites (for T-score changes)
    bmd_hip_z0: FloatArray


def _interval(x: FloatArray) -> FloatArray:
    """Grid values (n, K+1) -> interval means (n, K) (trapezoid)."""
    return 0.5 * (x[:, 1:] + x[:, :-1])


def mortality(p: OutcomeParameters, female: NDArray[np.bool_], age: FloatArray) -> FloatArray:
    """All-cause mortality hazard per year at ``age`` (n, K)."""
    women = p.step("mortality", "women", age)
    men = p.step("mortality", "men", age)
    prob = np.where(female[:, None], women, men) / PER_1000
    return -np.log1p(-prob) / 5.0


def hazards(
    cov: Covariates,
    drivers: Mapping[str, FloatArray],
    t_grid: FloatArray,
    p: OutcomeParameters,
) -> dict[str, FloatArray]:
    """Hazard per year of every base process (n, K) over the intervals of ``t_grid`` (years).

    ``drivers`` (each (n, K+1) on the grid, arm and untreated): ``breast_signal``,
    ``breast_signal_none``, ``bmd_spine_ratio``, ``bmd_hip_ratio`` (arm / untreated),
    ``turnover_ratio`` (CTX arm / untreated), ``prothrombotic_ratio``, ``ldl_lowering_mg_dl``
    (untreated minus arm), ``unopposed_drive_mm`` (arm minus untreated, >= 0); and
    ``cataract_multiplier`` (n, K).
    """
    dt = np.diff(t_grid)
    mid = 0.5 * (t_grid[1:] + t_grid[:-1])
    age = cov.age[:, None] + mid[None, :]
    female = cov.female[:, None]
    out: dict[str, FloatArray] = {}

    # Breast.
    s = _interval(drivers["breast_signal"])
    s_none = _interval(drivers["breast_signal_none"])
    s0 = p["breast.growth_neutral_signal"]
    g = np.clip((s - s0) / np.maximum(s_none - s0, 1e-9), 0.0, None)
    loss = p["breast.regression_rate"] * np.clip(1.0 - g, 0.0, None)
    renew = 1.0 / p["breast.occult_pool_renewal"]
    surviving = np.ones_like(g)
    current = np.ones(g.shape[0])
    for k in range(g.shape[1]):
        rate = loss[:, k] + renew
        eq = renew / rate
        end = eq + (current - eq) * np.exp(-rate * dt[k])
        surviving[:, k] = 0.5 * (current + end)
        current = end
    base = incidence_at(cov.breast_table, age) * female
    f_er = p["breast.er_positive_fraction"]
    out["er_positive"] = base * f_er * g * surviving
    out["er_negative"] = base * (1.0 - f_er)

    # Fractures: the change of T-score the treatment makes, and the turnover ratio.
    turnover = np.clip(_interval(drivers["turnover_ratio"]), 1e-6, None)
    d_spine = (_interval(drivers["bmd_spine_ratio"]) - 1.0) * (
        cov.bmd_spine_z0[:, None] + cov.t_spine[:, None]
    )
    d_hip = (_interval(drivers["bmd_hip_ratio"]) - 1.0) * (
        cov.bmd_hip_z0[:, None] + cov.t_hip[:, None]
    )

    years = mid[None, :]
    typ_spine = cov.t_spine_typical[:, None] + cov.t_slope[:, None] * years
    typ_hip = cov.t_hip_typical[:, None] + cov.t_slope[:, None] * years
    own_spine = cov.t_spine[:, None] + cov.t_slope[:, None] * years
    own_hip = cov.t_hip[:, None] + cov.t_slope[:, None] * years
    gv, gh, gn = (
        p["fracture.gradient_vertebral"],
        p["fracture.gradient_hip"],
        p["fracture.gradient_nonvertebral"],
    )
    sex_v = np.where(female, 1.0, p["fracture.vertebral_men_ratio"])
    vert_base = (
        p["fracture.vertebral_incidence_at_65"]
        / PER_1000
        * np.exp(p["fracture.vertebral_age_slope"] * (age - 65.0))
        * sex_v
    )
    prior_v = np.where(cov.prior_fracture, p["fracture.prior_fracture_vertebral"], 1.0)[:, None]
    prior_o = np.where(cov.prior_fracture, p["fracture.prior_fracture_other"], 1.0)[:, None]
    vert = (
        vert_base
        * np.exp(-np.log(gv) * (own_spine - typ_spine) - 0.5 * np.log(gv) ** 2)
        * prior_v
        * gv ** (-d_spine)
        * turnover ** p["fracture.turnover_vertebral"]
    )
    out["vertebral"] = vert
    out["clinical_vertebral"] = vert * p["fracture.clinical_vertebral_fraction"]
    hip_table = np.where(female, p.step("hip", "women", age), p.step("hip", "men", age)) / PER_1000
    t_nv = turnover ** p["fracture.turnover_nonvertebral"]
    out["hip"] = (
        hip_table
        * np.exp(-np.log(gh) * (own_hip - typ_hip) - 0.5 * np.log(gh) ** 2)
        * prior_o
        * gh ** (-d_hip)
        * t_nv
    )
    other = (
        p["fracture.other_nonvertebral_incidence"]
        / PER_1000
        * np.where(female, 1.0, p["fracture.nonvertebral_men_ratio"])
    )
    out["other_nonvertebral"] = (
        other
        * np.exp(-np.log(gn) * (own_hip - typ_hip) - 0.5 * np.log(gn) ** 2)
        * prior_o
        * gn ** (-d_hip)
        * t_nv
        * np.ones_like(age)
    )

    # VTE.
    sex_f = np.where(female, 1.0, p["vte.men_ratio"])
    bmi = cov.bmi[:, None]
    bmi_f = np.where(
        bmi >= 30.0, p["vte.bmi_obese"], np.where(bmi >= 25.0, p["vte.bmi_overweight"], 1.0)
    )
    smoke = np.where(cov.smoker, p["vte.smoking"], 1.0)[:, None]
    throm = np.select(
        [
            cov.thrombophilia == "factor_v_leiden_het",
            cov.thrombophilia == "factor_v_leiden_hom",
            cov.thrombophilia == "prothrombin_g20210a",
        ],
        [p["vte.factor_v_leiden_het"], p["vte.factor_v_leiden_hom"], p["vte.prothrombin_g20210a"]],
        default=1.0,
    )[:, None]
    # Risk factors relative to the population the baseline rate averages over.
    bmi_f = bmi_f / p["vte.population_bmi_multiplier"]
    throm = throm / p["vte.population_thrombophilia_multiplier"]
    vte_base = (
        p["vte.incidence_at_63_women"]
        / PER_1000
        * np.exp(p["vte.age_slope"] * (age - 63.0))
        * sex_f
        * bmi_f
        * smoke
        * throm
    )
    vte_base = (
        vte_base + np.where(cov.prior_vte, p["vte.prior_vte_hazard"] / PER_1000, 0.0)[:, None]
    )
    pi = np.clip(_interval(drivers["prothrombotic_ratio"]), 1e-6, None)
    excess = vte_base * (pi ** p["vte.prothrombotic_exponent"] - 1.0)
    rise, fall = np.clip(excess, 0.0, None), np.clip(excess, None, 0.0)
    theta = p["vte.susceptibility_variance"]
    h_rise = np.cumsum(rise * dt, axis=1) - 0.5 * rise * dt  # cumulative excess to mid-interval
    out["vte"] = vte_base + fall + rise / (1.0 + theta * h_rise)

    # Arterial events.
    ldl_mmol = _interval(drivers["ldl_lowering_mg_dl"]) / LDL_MG_DL_PER_MMOL_L
    arterial = pi ** p["stroke.arterial_exponent"]
    stroke_table = (
        p["stroke.incidence_at_63_women"]
        / PER_1000
        * np.exp(p["stroke.age_slope"] * (age - 63.0))
        * np.where(female, 1.0, p["stroke.men_ratio"])
    )
    out["stroke"] = stroke_table * p["stroke.ldl_relative_risk"] ** ldl_mmol * arterial
    coronary = (
        p["coronary.incidence_at_63_women"]
        / PER_1000
        * np.exp(p["coronary.age_slope"] * (age - 63.0))
        * np.where(female, 1.0, p["coronary.men_ratio"])
    )
    # Coronary events through LDL only: P-1 saw no coronary excess on tamoxifen while its
    # strokes rose (trials.yaml NSABP_P1_1998), so the coagulation link is not carried here.
    out["coronary"] = coronary * p["coronary.ldl_relative_risk"] ** ldl_mmol

    # Cataract.
    out["cataract"] = p.step("cataract", "rates", age) / PER_1000 * drivers["cataract_multiplier"]

    # Endometrium (women with a uterus).
    uterus = (cov.uterus & cov.female)[:, None]
    drive = np.clip(_interval(drivers["unopposed_drive_mm"]), 0.0, None)
    cumulative = np.cumsum(drive * dt, axis=1) - 0.5 * drive * dt
    out["endometrial_hyperplasia"] = (
        uterus
        * (
            p["endometrium.hyperplasia_incidence"]
            + p["endometrium.hyperplasia_per_stimulation"] * drive
        )
        / PER_1000
    )
    out["endometrial_cancer"] = (
        uterus
        * p.step("endometrial_cancer", "rates", age)
        / PER_1000
        * (1.0 + p["endometrium.cancer_per_cumulative_stimulation"] * cumulative)
    )
    return out


def cumulative_incidence(h: FloatArray, m: FloatArray, dt: FloatArray) -> FloatArray:
    """Each person's probability of at least one event by the end, death competing, for
    hazards constant within intervals (n, K) -> (n,)."""
    total = h + m
    before = np.cumsum(total * dt, axis=1) - total * dt
    safe = np.where(total > 0, total, 1.0)
    share = np.where(total > 0, h / safe, 0.0)
    return np.sum(share * np.exp(-before) * -np.expm1(-total * dt), axis=1)


def first_time(h: FloatArray, dt: FloatArray, u: FloatArray) -> FloatArray:
    """The time of the first event (years) for hazards (n, K) and uniforms u (n,): where the
    cumulative hazard reaches -ln u (inf if it never does within the grid)."""
    target = -np.log(u)
    cum = np.concatenate([np.zeros((h.shape[0], 1)), np.cumsum(h * dt, axis=1)], axis=1)
    k = np.argmax(cum > target[:, None], axis=1)  # first grid point past the target
    hit = cum[np.arange(len(u)), -1] > target
    k = np.where(hit, k, 1)
    lo = cum[np.arange(len(u)), k - 1]
    rate = h[np.arange(len(u)), k - 1]
    t_start = np.concatenate([[0.0], np.cumsum(dt)])[k - 1]
    t = t_start + (target - lo) / np.where(rate > 0, rate, 1.0)
    return np.where(hit, t, np.inf)
