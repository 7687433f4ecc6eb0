"""Simulate one person on one regimen over years: `sermsim simulate`.

The run has two parts solved as one ODE: a drug-free natural-history run-in of
:data:`RUN_IN_YEARS` before day 0 (so that every slow state — the thermoregulatory set point,
the bone estrogen memory, the HPG axis across the transition — is where this person's history
put it, while her measured BMD is held), then the regimen from day 0. The PK is solved exactly
(hourly, dose by dose, missed doses included) and enters as daily means; binding and signals are
algebraic; the rest is integrated by diffrax's Kvaerno5 (an L-stable implicit Runge-Kutta method)
with an adaptive step.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import diffrax
import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr
from numpy.typing import NDArray

from sermsim import DISCLAIMER, __version__
from sermsim.agents import load_agents
from sermsim.agents.model import Agent
from sermsim.agents.regimen import Regimen, check_agents, regimen_label
from sermsim.core.errors import NumericalError, SpecError
from sermsim.core.units import DAYS_PER_YEAR, HOURS_PER_DAY, mg_to_nmol, pg_per_ml_to_nmol_per_l
from sermsim.physiology import model
from sermsim.physiology.parameters import (
    Physiology,
    load_physiology,
    portal_fractions,
    signals_with_estradiol,
)
from sermsim.physiology.patient import Patient
from sermsim.pk.model import build_pk, cyp2d6_activity
from sermsim.pk.solve import dose_times, doses_taken
from sermsim.pk.solve import simulate as simulate_pk
from sermsim.receptor.exposure import TISSUES
from sermsim.receptor.ligands import ESTRADIOL
from sermsim.selectivity.profile import Context

RUN_IN_YEARS = 12.0  # natural-history run-in: > 3 time constants of the slowest memory (4 y)
MAX_YEARS = 60.0  # input sanity bound (not science)
SOLVER_RTOL = 1e-6
SOLVER_ATOL = 1e-8
MAX_STEPS = 200_000

BIOMARKERS: dict[str, tuple[str, str, str]] = {
    # name: (units, long name, panel)
    "lh_iu_l": ("IU/L", "LH", "hpg"),
    "fsh_iu_l": ("IU/L", "FSH", "hpg"),
    "estradiol_pg_ml": ("pg/mL", "estradiol (plasma)", "hpg"),
    "testosterone_ng_dl": ("ng/dL", "testosterone", "hpg"),
    "progesterone_ng_ml": ("ng/mL", "progesterone (cycle mean)", "hpg"),
    "bmd_lumbar_spine_g_cm2": ("g/cm2", "BMD lumbar spine", "bone"),
    "bmd_total_hip_g_cm2": ("g/cm2", "BMD total hip", "bone"),
    "bmd_femoral_neck_g_cm2": ("g/cm2", "BMD femoral neck", "bone"),
    "t_score_lumbar_spine": ("SD", "T-score lumbar spine", "bone"),
    "t_score_total_hip": ("SD", "T-score total hip", "bone"),
    "t_score_femoral_neck": ("SD", "T-score femoral neck", "bone"),
    "ctx_ng_ml": ("ng/mL", "CTX", "bone"),
    "p1np_ug_l": ("ug/L", "P1NP", "bone"),
    "ldl_mg_dl": ("mg/dL", "LDL cholesterol", "liver"),
    "hdl_mg_dl": ("mg/dL", "HDL cholesterol", "liver"),
    "triglycerides_mg_dl": ("mg/dL", "triglycerides", "liver"),
    "total_cholesterol_mg_dl": ("mg/dL", "total cholesterol", "liver"),
    "shbg_nmol_l": ("nmol/L", "SHBG", "liver"),
    "fibrinogen_g_l": ("g/L", "fibrinogen", "coagulation"),
    "antithrombin_pct": ("%", "antithrombin", "coagulation"),
    "protein_s_pct": ("%", "protein S (free)", "coagulation"),
    "apc_resistance_ratio": ("ratio", "APC resistance (normalised)", "coagulation"),
    "prothrombotic_index": ("ratio", "prothrombotic index", "coagulation"),
    "breast_ki67_pct": ("%", "breast Ki67", "tissues"),
    "endometrial_thickness_mm": ("mm", "endometrial thickness", "tissues"),
    "endometrial_stimulation_mm": (
        "mm",
        "unopposed estrogenic endometrial growth drive",
        "tissues",
    ),
    "vaginal_superficial_pct": ("%", "vaginal superficial cells", "tissues"),
    "vaginal_parabasal_pct": ("%", "vaginal parabasal cells", "tissues"),
    "vaginal_ph": ("pH", "vaginal pH", "tissues"),
    "hot_flushes_per_day": ("/day", "hot flushes", "symptoms"),
}
_WOMEN_ONLY = (
    "progesterone_ng_ml",
    "endometrial_thickness_mm",
    "endometrial_stimulation_mm",
    "vaginal_superficial_pct",
    "vaginal_parabasal_pct",
    "vaginal_ph",
    "hot_flushes_per_day",
)


@dataclass(frozen=True)
class Engine:
    """What every simulation shares: agents, the selectivity context, the physiology."""

    agents: Mapping[str, Agent]
    context: Context
    physiology: Physiology

    @classmethod
    def load(cls, overrides: Mapping[str, float] | None = None) -> Engine:
        agents = load_agents()
        context = Context.load(agents)
        return cls(agents, context, load_physiology(context, overrides))

    def with_overrides(self, overrides: Mapping[str, float]) -> Engine:
        """The same agents and selectivity, with some physiology parameters replaced."""
        return Engine(self.agents, self.context, load_physiology(self.context, overrides))


@lru_cache(maxsize=1)
def default_engine() -> Engine:
    return Engine.load()


# ---------------------------------------------------------------------------------------------
# The person


def _typical_t_score(patient: Patient, p: Mapping[str, float]) -> float:
    sex = "women" if patient.sex == "female" else "men"
    over = max(patient.age - 50.0, 0.0)
    if patient.age < 50.0:
        return 0.0
    return p[f"bone.typical_t_score_{sex}_50"] + p[f"bone.typical_t_score_slope_{sex}"] * over


def person_arguments(patient: Patient, engine: Engine) -> dict[str, float]:
    """The person-specific constants of the equations, individualised by optional labs."""
    p = engine.physiology.values
    female = patient.sex == "female"
    hyp = TISSUES.index("hypothalamus")
    n, k_h = p["women.gnrh_hill"], p["hpg.gnrh_half_signal"]

    def drive(e2_pg: float, t_ng_dl: float) -> float:
        local = p["men.hypothalamic_aromatization"] * t_ng_dl
        h = signals_with_estradiol(engine.context, engine.physiology.tissues, e2_pg, local)[hyp]
        return 1.0 / (1.0 + (max(float(h), 0.0) / k_h) ** n)

    out = {
        "female": float(female),
        "uterus": float(bool(patient.uterus)),
        "age0": float(patient.age),
        "age_fmp": 200.0,
        "surgery_age": 200.0,
        "e2_extragonadal": p["ref.estradiol_post"],
        "lh_max": p["hpg.lh_max"],
        "fsh_max": p["hpg.fsh_max"],
        "ovarian_e2_max": p["hpg.ovarian_e2_max"],
        "testis_capacity": p["hpg.testis_capacity"],
        "aromatization": p["hpg.aromatization"],
        "e2_other": p["hpg.male_e2_other"],
        "t_decline_from": 40.0,
    }
    if female:
        natural = p["women.natural_menopause_age"]
        ysm = float(patient.years_since_menopause or 0.0)
        if patient.surgical_menopause:
            out["surgery_age"] = patient.age - ysm
            out["age_fmp"] = max(natural, patient.age + 2.0)
        elif patient.menopause == "post":
            out["age_fmp"] = patient.age - ysm
        elif patient.menopause == "peri":
            out["age_fmp"] = patient.age + p["women.perimenopause_years_to_fmp"]
        else:
            out["age_fmp"] = max(natural, patient.age + 2.0)
        post_now = patient.menopause == "post"
        if patient.estradiol_pg_ml is not None:
            if post_now:
                out["e2_extragonadal"] = patient.estradiol_pg_ml
            else:
                typical = p["ref.estradiol_pre"] - p["ref.estradiol_post"]
                out["ovarian_e2_max"] *= max(patient.estradiol_pg_ml - out["e2_extragonadal"], 1.0)
                out["ovarian_e2_max"] /= typical
        # Gonadotropin set points from her labs at her own estradiol and ovarian capacity.
        if patient.lh_iu_l is not None or patient.fsh_iu_l is not None:
            e2_now = patient.estradiol_pg_ml or (
                p["ref.estradiol_post"] if post_now else p["ref.estradiol_pre"]
            )
            g_now = drive(e2_now, 0.0)
            ages = {k: jnp.asarray(v) for k, v in out.items()}
            cap = float(model.ovarian_capacity(jnp.asarray(patient.age), ages, p))
            if patient.lh_iu_l is not None:
                out["lh_max"] = patient.lh_iu_l / g_now
            if patient.fsh_iu_l is not None:
                inhibin = 1.0 - p["hpg.inhibin_suppression"] * cap
                out["fsh_max"] = patient.fsh_iu_l / (g_now * inhibin)
    else:
        decline = math.exp(
            -p["men.testosterone_decline_per_year"] * max(patient.age - out["t_decline_from"], 0.0)
        )
        t_lab, lh_lab = patient.testosterone_ng_dl, patient.lh_iu_l
        k_lh, k_t = p["men.testis_lh_half_saturation"], p["men.testosterone_feedback_half"]
        e2_lab = patient.estradiol_pg_ml
        if t_lab is not None and lh_lab is not None:
            out["testis_capacity"] = t_lab * (lh_lab + k_lh) / lh_lab / decline
        elif t_lab is not None:
            typical = p["men.testosterone_reference"] * decline
            out["testis_capacity"] *= t_lab / typical
        if e2_lab is not None and t_lab is not None:
            out["e2_other"] = max(e2_lab - out["aromatization"] * t_lab, 0.1 * e2_lab)
        if lh_lab is not None:
            t_now = t_lab if t_lab is not None else p["men.testosterone_reference"] * decline
            e2_now = e2_lab if e2_lab is not None else p["ref.estradiol_male"]
            out["lh_max"] = lh_lab * (1.0 + t_now / k_t) / drive(e2_now, t_now)
            if patient.fsh_iu_l is not None:
                out["fsh_max"] = patient.fsh_iu_l * (1.0 + t_now / k_t) / drive(e2_now, t_now)
            else:
                out["fsh_max"] = p["hpg.male_fsh_max"] * out["lh_max"] / p["hpg.male_lh_max"]
        else:
            out["lh_max"] = p["hpg.male_lh_max"]
            out["fsh_max"] = p["hpg.male_fsh_max"]
    return out


def initial_bmd(patient: Patient, p: Mapping[str, float]) -> dict[str, float]:
    """BMD (g/cm2) from the patient's T-scores, or the age/sex-typical T-score."""
    typical = _typical_t_score(patient, p)
    spine = patient.bmd_t_score_spine if patient.bmd_t_score_spine is not None else typical
    hip = patient.bmd_t_score_hip if patient.bmd_t_score_hip is not None else typical
    scores = {"lumbar_spine": spine, "total_hip": hip, "femoral_neck": hip}
    return {
        site: p[f"bone.reference_mean_{site}"] + t * p[f"bone.reference_sd_{site}"]
        for site, t in scores.items()
    }


# ---------------------------------------------------------------------------------------------
# The drug input


@dataclass(frozen=True)
class DrugInput:
    days: NDArray[np.float64]  # (N,) day midpoints
    plasma_nM: NDArray[np.float64]  # (N, L) daily-mean total plasma concentration per ligand
    portal_nM: NDArray[np.float64]  # (N, L) daily-mean extra concentration in the liver's inflow
    moieties: tuple[str, ...]  # the regimen's moieties (for the output)


def _pk_step_h(regimen: Regimen, t_end_h: float) -> float:
    """An hourly PK grid, or a quarter-hour one when a dose falls between hours."""
    for d in regimen:
        times = dose_times(d, min(t_end_h, 400 * HOURS_PER_DAY))
        if np.any(np.abs(times - np.rint(times)) > 1e-9):
            return 0.25
    return 1.0


def drug_input(
    regimen: Regimen,
    engine: Engine,
    n_days: int,
    *,
    cyp2d6: str = "normal",
    seed: int = 0,
) -> DrugInput:
    """Daily-mean concentrations of every ligand over ``n_days``, with doses missed at random
    (keyed by ``seed``) where adherence is below 1."""
    lig = engine.context.ligands
    plasma = np.zeros((n_days, lig.n))
    portal = np.zeros((n_days, lig.n))
    t_end_h = n_days * HOURS_PER_DAY
    step = _pk_step_h(regimen, t_end_h)
    per_day = round(HOURS_PER_DAY / step)
    fractions = portal_fractions()
    q_h = engine.physiology["liver.hepatic_blood_flow"]
    activity = cyp2d6_activity(cyp2d6)
    rng = np.random.default_rng(seed)
    moieties: list[str] = []
    for d in regimen:
        agent = engine.agents[d.agent]
        times = dose_times(d, t_end_h)
        if d.adherence < 1.0:
            times = times[doses_taken(len(times), d.adherence, rng)]
        pk = build_pk(agent, activity)
        _, states = simulate_pk(pk, times, np.full(len(times), d.dose_mg), t_end_h, step)
        conc = pk.concentrations(states)  # (n_days * per_day, M)
        daily = conc[: n_days * per_day].reshape(n_days, per_day, -1).mean(axis=1)
        for j, moiety in enumerate(pk.moieties):
            if moiety in lig.ids:
                plasma[:, lig.index(moiety)] += daily[:, j]
                if moiety not in moieties:
                    moieties.append(moiety)
        # First pass: the absorbed flux of each dosed moiety mixed into hepatic blood flow.
        taken_per_day = (
            np.bincount((times // HOURS_PER_DAY).astype(int), minlength=n_days)[:n_days] * d.dose_mg
        )
        nmol = mg_to_nmol(1.0, agent.dose_molecular_weight)
        for moiety, fraction in agent.administered:
            if moiety in lig.ids:
                flux = taken_per_day * nmol * fraction * fractions.get(d.agent, 0.0)
                portal[:, lig.index(moiety)] += flux / HOURS_PER_DAY / q_h
    return DrugInput(np.arange(n_days, dtype=np.float64) + 0.5, plasma, portal, tuple(moieties))


# ---------------------------------------------------------------------------------------------
# The solve


def _ligand_arguments(engine: Engine) -> dict[str, Any]:
    lig = engine.context.ligands
    exp = engine.context.exposure
    liver = TISSUES.index("liver")
    mpa = "medroxyprogesterone_acetate"
    return {
        "kd": jnp.asarray(lig.kd),
        "coactivator": jnp.asarray(lig.coactivator),
        "corepressor": jnp.asarray(lig.corepressor),
        "available": jnp.asarray(lig.available_fraction),
        "unbound": jnp.asarray(lig.available_fraction),
        "partition": jnp.asarray(lig.tissue_partition),
        "e2_uptake": jnp.asarray(np.append(exp.estradiol_uptake, exp.estradiol_uptake[liver])),
        "e2_local": jnp.asarray(np.append(exp.estradiol_local_nM, exp.estradiol_local_nM[liver])),
        "pg_ml_to_nM": pg_per_ml_to_nmol_per_l(1.0, lig.molecular_weight[lig.index(ESTRADIOL)]),
        "mpa_index": lig.index(mpa) if mpa in lig.ids else 0,
    }


def initial_state(person: Mapping[str, float], bmd: Mapping[str, float], p: Any) -> NDArray:
    """A rough start for the run-in (it relaxes to the person's history)."""
    y = np.zeros(len(model.STATES))
    female = person["female"] > 0.5
    y[model.S["lh"]] = p["women.lh_premenopausal"] if female else p["men.lh_reference"]
    y[model.S["fsh"]] = p["women.fsh_premenopausal"] if female else p["men.fsh_reference"]
    y[model.S["gonadal"]] = (
        p["ref.estradiol_pre"] - p["ref.estradiol_post"]
        if female
        else p["men.testosterone_reference"]
    )
    y[model.S["bone_activation"]] = 1.0
    y[model.S["bone_formation"]] = 1.0
    y[model.S["bone_memory"]] = 1.0
    for site, value in bmd.items():
        y[model.S[f"bmd_{site}"]] = value
    y[model.S["breast_ki67"]] = p["breast.ki67_premenopausal"]
    y[model.S["endometrium"]] = p["endometrium.thickness_premenopausal"] * person["uterus"]
    y[model.S["vaginal_maturation"]] = 1.0
    y[model.S["thermo_setpoint"]] = p["ref.thermoregulation.pre"]
    return y


@jax.jit
def _solve(args: dict[str, Any], y0: jax.Array, t0: jax.Array, ts: jax.Array) -> Any:
    sol = diffrax.diffeqsolve(
        diffrax.ODETerm(model.rhs),  # type: ignore[arg-type]
        diffrax.Kvaerno5(),
        t0=t0,
        t1=ts[-1],
        dt0=1.0,
        y0=y0,
        args=args,
        saveat=diffrax.SaveAt(ts=ts),
        stepsize_controller=diffrax.PIDController(rtol=SOLVER_RTOL, atol=SOLVER_ATOL),
        max_steps=MAX_STEPS,
        throw=False,
    )
    observed = jax.vmap(model.observe, in_axes=(0, 0, None))(sol.ts, sol.ys, args)
    return sol.ys, observed, sol.result, sol.stats["num_steps"]


def solve_arguments(
    patient: Patient, regimen: Regimen, years: float, engine: Engine, seed: int = 0
) -> tuple[dict[str, Any], NDArray[np.float64], DrugInput, int]:
    """Everything the jitted solve takes, for one person and regimen."""
    n_days = max(1, math.ceil(years * DAYS_PER_YEAR))
    drug = drug_input(regimen, engine, n_days + 1, cyp2d6=patient.cyp2d6, seed=seed)
    person = person_arguments(patient, engine)
    p = engine.physiology.values
    y0 = initial_state(person, initial_bmd(patient, p), p)
    args = {
        "p": {k: jnp.asarray(v) for k, v in p.items()},
        "person": {k: jnp.asarray(v) for k, v in person.items()},
        "ligands": _ligand_arguments(engine),
        "tissues": engine.physiology.tissues,
        "input_t": jnp.asarray(drug.days),
        "input_plasma": jnp.asarray(drug.plasma_nM),
        "input_portal": jnp.asarray(drug.portal_nM),
        "has_mpa": jnp.asarray(
            float(any(d.agent == "medroxyprogesterone_acetate" for d in regimen))
        ),
    }
    return args, y0, drug, n_days


def simulate(
    patient: Patient,
    regimen: Regimen,
    years: float,
    *,
    engine: Engine | None = None,
    seed: int = 0,
) -> xr.Dataset:
    """Daily trajectories of one person on one regimen (research and education only).

    >>> from sermsim.physiology.patient import patient_from_mapping
    >>> ds = simulate(patient_from_mapping({"sex": "female", "age": 60}), (), 1.0)
    >>> float(ds.bmd_lumbar_spine_g_cm2[-1]) < float(ds.bmd_lumbar_spine_g_cm2[0])
    True
    """
    engine = engine or default_engine()
    if not (0 < years <= MAX_YEARS) or not math.isfinite(years):
        raise SpecError("years", years, f"give a number of years in (0, {MAX_YEARS:g}]")
    check_agents(regimen, engine.agents)
    args, y0, drug, n_days = solve_arguments(patient, regimen, years, engine, seed)
    ts = jnp.arange(n_days + 1, dtype=jnp.float64)
    t0 = jnp.asarray(-RUN_IN_YEARS * DAYS_PER_YEAR)
    _ys, observed, result, _ = _solve(args, jnp.asarray(y0), t0, ts)
    if not bool(result == diffrax.RESULTS.successful):
        raise NumericalError(
            f"simulate {regimen_label(regimen)}: the ODE solver failed ({result}); please report"
        )
    return _dataset(patient, regimen, years, ts, observed, drug, engine)


def _dataset(
    patient: Patient,
    regimen: Regimen,
    years: float,
    ts: jax.Array,
    observed: Mapping[str, jax.Array],
    drug: DrugInput,
    engine: Engine,
) -> xr.Dataset:
    lig = engine.context.ligands
    idx = [lig.index(m) for m in drug.moieties]
    unbound = np.asarray(observed["unbound_nM"])[:, idx]
    data: dict[str, Any] = {
        "signal": (("time", "tissue"), np.asarray(observed["signal"])[:, : len(TISSUES)]),
        "drug_occupancy": (
            ("time", "tissue"),
            np.asarray(observed["drug_occupancy"])[:, : len(TISSUES)],
        ),
        "unbound_nM": (("time", "moiety"), unbound),
    }
    for name in BIOMARKERS:
        data[name] = ("time", np.array(observed[name], dtype=np.float64))
    ds = xr.Dataset(
        data,
        coords={"time": np.asarray(ts), "tissue": list(TISSUES), "moiety": list(drug.moieties)},
    )
    reasons = _not_applicable(patient)
    for name, (units, long_name, panel) in BIOMARKERS.items():
        attrs = {"units": units, "long_name": long_name, "panel": panel}
        if name in reasons:
            ds[name][:] = np.nan
            attrs["not_applicable"] = reasons[name]
        ds[name].attrs.update(attrs)
    ds["time"].attrs.update({"units": "days", "long_name": "days since the regimen started"})
    ds["signal"].attrs.update({"units": "1", "long_name": "tissue signal (1 = saturating E2)"})
    ds["unbound_nM"].attrs.update({"units": "nM", "long_name": "unbound plasma concentration"})
    ds.attrs.update(
        {
            "patient": _patient_label(patient),
            "regimen": regimen_label(regimen),
            "years": float(years),
            "disclaimer": DISCLAIMER,
            "sermsim_version": __version__,
        }
    )
    values = [ds[n].values for n in BIOMARKERS if n not in reasons]
    if not all(np.all(np.isfinite(v)) for v in values):
        raise NumericalError(
            f"simulate {regimen_label(regimen)}: a biomarker is not finite; please report"
        )
    return ds


def _not_applicable(patient: Patient) -> dict[str, str]:
    reasons: dict[str, str] = {}
    if patient.sex == "male":
        for name in _WOMEN_ONLY:
            reasons[name] = "not modelled in men"
    else:
        reasons["testosterone_ng_dl"] = "not modelled in women"
        if not patient.uterus:
            reasons["endometrial_thickness_mm"] = "no uterus"
            reasons["endometrial_stimulation_mm"] = "no uterus"
    return reasons


def _patient_label(patient: Patient) -> str:
    if patient.sex == "male":
        return f"man aged {patient.age:g}"
    stage = {"pre": "premenopausal", "peri": "perimenopausal", "post": "postmenopausal"}
    label = f"{stage.get(patient.menopause or 'post', '')} woman aged {patient.age:g}"
    return label if patient.uterus else label + " (no uterus)"
