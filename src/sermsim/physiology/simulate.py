"""Simulate one person on one regimen over years: `sermsim simulate`.

The run has two parts: a drug-free natural-history run-in of :data:`RUN_IN_YEARS` before
day 0 (so that every slow state — the thermoregulatory set point, the bone estrogen memory, the
HPG axis across the transition — is where this person's history put it, while her measured BMD
is held), then the regimen from day 0. Both run on the population engine (``integrate.py``):
the PK exactly (dose by dose, missed doses included), binding and signals algebraically at the
instantaneous concentrations, the rest with fixed Runge-Kutta steps of a few hours.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

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
from sermsim.core.units import DAYS_PER_YEAR, pg_per_ml_to_nmol_per_l
from sermsim.physiology import integrate, model
from sermsim.physiology.dosing import RegimenPK, regimen_pk
from sermsim.physiology.parameters import (
    Physiology,
    extended_exposure,
    load_physiology,
    signals_with_estradiol,
)
from sermsim.physiology.patient import Patient
from sermsim.receptor.exposure import TISSUES
from sermsim.receptor.ligands import ESTRADIOL
from sermsim.selectivity.profile import Context

# Numerical guards of the lab fit (not science): a measured estradiol is never attributed
# entirely to one source, and an ovary whose output is below this fraction counts as silent.
LAB_FLOOR_FRACTION = 0.1
SILENT_OVARY = 0.02
RUN_IN_YEARS = 12.0  # natural-history run-in: > 3 time constants of the slowest memory (4 y)
MAX_YEARS = 60.0  # input sanity bound (not science)

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
    """0 at peak bone mass (30), the typical value at 50, then the typical slope (linear in
    between, so there is no jump at 50)."""
    sex = "women" if patient.sex == "female" else "men"
    at_50 = p[f"bone.typical_t_score_{sex}_50"]
    if patient.age < 50.0:
        return at_50 * max(patient.age - 30.0, 0.0) / 20.0
    return at_50 + p[f"bone.typical_t_score_slope_{sex}"] * (patient.age - 50.0)


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
        "lh_max": p["hpg.lh_max"] if female else p["hpg.male_lh_max"],
        "fsh_max": p["hpg.fsh_max"] if female else p["hpg.male_fsh_max"],
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
        _fit_women_labs(patient, out, p, drive)
    else:
        _fit_men_labs(patient, out, p, drive)
    return out


def _bisect(f: Any, lo: float, hi: float, iterations: int = 60) -> float:
    """The root of a function decreasing on [lo, hi] (clamped to the interval)."""
    if f(lo) <= 0.0:
        return lo
    if f(hi) >= 0.0:
        return hi
    for _ in range(iterations):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if f(mid) > 0.0 else (lo, mid)
    return 0.5 * (lo + hi)


def _fit_women_labs(patient: Patient, out: dict[str, float], p: Any, drive: Any) -> None:
    """Set her HPG set points so that her measured estradiol, LH and FSH are a steady state of
    the loop at her ovarian capacity; an unmeasured one takes the loop's own value."""
    if patient.estradiol_pg_ml is None and patient.lh_iu_l is None and patient.fsh_iu_l is None:
        return
    person = {k: jnp.asarray(v) for k, v in out.items()}
    cap = float(model.ovarian_capacity(jnp.asarray(patient.age), person, p))
    inhibin = 1.0 - p["hpg.inhibin_suppression"] * cap
    k_f = p["hpg.ovarian_fsh_half"]

    def fsh_at(e2: float) -> float:
        return out["fsh_max"] * drive(e2, 0.0) * inhibin

    def production(e2: float, fsh: float) -> float:
        return cap * out["ovarian_e2_max"] * fsh / (fsh + k_f) + out["e2_extragonadal"]

    e2 = patient.estradiol_pg_ml
    if e2 is None and patient.fsh_iu_l is not None:  # her ovaries' output at her FSH
        e2 = production(0.0, patient.fsh_iu_l)
    elif e2 is None:  # the loop's own steady state with the default set points
        e2 = _bisect(lambda x: production(x, fsh_at(x)) - x, out["e2_extragonadal"], 5000.0)
    g = drive(e2, 0.0)
    fsh = patient.fsh_iu_l if patient.fsh_iu_l is not None else fsh_at(e2)
    if patient.lh_iu_l is not None:
        out["lh_max"] = patient.lh_iu_l / g
    out["fsh_max"] = fsh / (g * inhibin)
    if patient.estradiol_pg_ml is not None:
        ovarian = cap * fsh / (fsh + k_f)
        if ovarian > SILENT_OVARY and e2 > out["e2_extragonadal"]:
            out["ovarian_e2_max"] = (e2 - out["e2_extragonadal"]) / ovarian
        else:  # no ovarian output to speak of: her estradiol is extragonadal
            residual = ovarian * out["ovarian_e2_max"]
            out["e2_extragonadal"] = max(e2 - residual, LAB_FLOOR_FRACTION * e2)
            if e2 - residual < LAB_FLOOR_FRACTION * e2:
                out["ovarian_e2_max"] = (1.0 - LAB_FLOOR_FRACTION) * e2 / max(ovarian, 1e-12)


def _fit_men_labs(patient: Patient, out: dict[str, float], p: Any, drive: Any) -> None:
    """Set his HPG set points so that his measured testosterone, LH, FSH and estradiol are a
    steady state of the loop; an unmeasured one takes the loop's own value."""
    decline = math.exp(
        -p["men.testosterone_decline_per_year"] * max(patient.age - out["t_decline_from"], 0.0)
    )
    k_lh, k_t = p["men.testis_lh_half_saturation"], p["men.testosterone_feedback_half"]
    a = out["aromatization"]

    def lh_drive(t: float, e2: float) -> float:
        return drive(e2, t) / (1.0 + t / k_t)

    def testosterone_gap(t: float) -> float:
        lh = out["lh_max"] * lh_drive(t, a * t + out["e2_other"])
        return out["testis_capacity"] * decline * lh / (lh + k_lh) - t

    labs = (patient.testosterone_ng_dl, patient.lh_iu_l, patient.fsh_iu_l, patient.estradiol_pg_ml)
    if all(x is None for x in labs):
        return
    t = patient.testosterone_ng_dl
    if t is None:
        t = _bisect(testosterone_gap, 1.0, 5000.0)
    e2 = patient.estradiol_pg_ml if patient.estradiol_pg_ml is not None else a * t + out["e2_other"]
    g = lh_drive(t, e2)
    lh = patient.lh_iu_l if patient.lh_iu_l is not None else out["lh_max"] * g
    fsh = patient.fsh_iu_l if patient.fsh_iu_l is not None else out["fsh_max"] * g
    out["lh_max"] = lh / g
    out["fsh_max"] = fsh / g
    out["testis_capacity"] = t * (lh + k_lh) / lh / decline
    out["e2_other"] = max(e2 - a * t, LAB_FLOOR_FRACTION * e2)
    if e2 - a * t < LAB_FLOOR_FRACTION * e2:  # more aromatisation than his estradiol allows
        out["aromatization"] = (1.0 - LAB_FLOOR_FRACTION) * e2 / t


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
# The solve


def regimen_ligands(regimen: Regimen, engine: Engine) -> tuple[str, ...]:
    """The ligands a regimen puts in play, estradiol first: a ligand that is absent holds no
    receptor, so the binding competition is computed over these alone (exactly)."""
    lig = engine.context.ligands
    moieties = {m for d in regimen for m in engine.agents[d.agent].moiety_ids()}
    return (ESTRADIOL, *(m for m in lig.ids if m in moieties and m != ESTRADIOL))


def _ligand_arguments(engine: Engine, ids: tuple[str, ...]) -> dict[str, Any]:
    lig = engine.context.ligands
    idx = np.array([lig.index(m) for m in ids])
    uptake, local = extended_exposure(engine.context)
    mpa = "medroxyprogesterone_acetate"
    return {
        "kd": jnp.asarray(lig.kd[idx]),
        "coactivator": jnp.asarray(lig.coactivator[idx]),
        "corepressor": jnp.asarray(lig.corepressor[idx]),
        "available": jnp.asarray(lig.available_fraction[idx]),
        "unbound": jnp.asarray(lig.available_fraction[idx]),
        "partition": jnp.asarray(lig.tissue_partition[idx]),
        "e2_uptake": jnp.asarray(uptake),
        "e2_local": jnp.asarray(local),
        "pg_ml_to_nM": pg_per_ml_to_nmol_per_l(1.0, lig.molecular_weight[lig.index(ESTRADIOL)]),
        "mpa_index": ids.index(mpa) if mpa in ids else 0,
    }


def initial_state(person: Mapping[str, float], bmd: Mapping[str, float], p: Any) -> NDArray:
    """A rough start for the run-in, which relaxes it onto the person's history: premenopausal
    (or male) values, or postmenopausal ones for a woman whose transition, or oophorectomy,
    was over before the run-in begins (so that her slow memories do not replay a menopause)."""
    y = np.zeros(len(model.STATES))
    female = person["female"] > 0.5
    run_in_start = person["age0"] - RUN_IN_YEARS
    ended = min(person["age_fmp"] + p["women.transition_end_after_fmp"], person["surgery_age"])
    post = female and ended <= run_in_start
    if post:
        y[model.S["lh"]] = p["women.lh_postmenopausal"]
        y[model.S["fsh"]] = p["women.fsh_postmenopausal"]
        y[model.S["bone_activation"]] = p["bone.activation_postmenopausal"]
        y[model.S["bone_formation"]] = (1.0 - p["bone.imbalance_postmenopausal"]) * y[
            model.S["bone_activation"]
        ]
        y[model.S["breast_ki67"]] = p["breast.ki67_postmenopausal"]
        y[model.S["endometrium"]] = p["endometrium.thickness_postmenopausal"] * person["uterus"]
        y[model.S["thermo_setpoint"]] = p["ref.thermoregulation.post"]
    else:
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
        y[model.S["breast_ki67"]] = p["breast.ki67_premenopausal"]
        y[model.S["endometrium"]] = p["endometrium.thickness_premenopausal"] * person["uterus"]
        y[model.S["vaginal_maturation"]] = 1.0
        y[model.S["thermo_setpoint"]] = p["ref.thermoregulation.pre"]
    for site, value in bmd.items():
        y[model.S[f"bmd_{site}"]] = value
    return y


def shared_arguments(regimen: Regimen, engine: Engine) -> dict[str, Any]:
    """The constants of the equations everyone on a regimen shares."""
    return {
        "p": {k: jnp.asarray(v) for k, v in engine.physiology.values.items()},
        "ligands": _ligand_arguments(engine, regimen_ligands(regimen, engine)),
        "tissues": engine.physiology.tissues,
        "has_mpa": jnp.asarray(
            float(any(d.agent == "medroxyprogesterone_acetate" for d in regimen))
        ),
    }


def model_arguments(patient: Patient, regimen: Regimen, engine: Engine) -> dict[str, Any]:
    """The constants of one person's equations (everything but the PK)."""
    person = person_arguments(patient, engine)
    return {
        **shared_arguments(regimen, engine),
        "person": {k: jnp.asarray(v) for k, v in person.items()},
    }


def batch_arguments(patients: list[Patient], regimen: Regimen, engine: Engine) -> dict[str, Any]:
    """:func:`model_arguments` for many people: shared constants once, the people's stacked
    (the engine vmaps over ``person`` only)."""
    people = [person_arguments(p, engine) for p in patients]
    stacked = {k: jnp.asarray(np.array([d[k] for d in people])) for k in people[0]}
    return {**shared_arguments(regimen, engine), "person": stacked}


def start_state(patient: Patient, engine: Engine) -> NDArray[np.float64]:
    """The run-in's rough start for this person."""
    p = engine.physiology.values
    return initial_state(person_arguments(patient, engine), initial_bmd(patient, p), p)


def regimen_system(
    regimen: Regimen,
    engine: Engine,
    n_days: int,
    *,
    cyp2d6: str = "normal",
    seed: int = 0,
    stop_day: float | None = None,
) -> RegimenPK:
    """The regimen's PK for one person, its doses counted per day."""
    return regimen_pk(
        regimen,
        engine.agents,
        regimen_ligands(regimen, engine),
        engine.physiology["liver.hepatic_blood_flow"],
        n_days,
        cyp2d6=cyp2d6,
        seed=seed,
        stop_day=stop_day,
    )


def day_zero(patients: list[Patient], engine: Engine) -> jax.Array:
    """Every person's state at the start of treatment, after the drug-free run-in."""
    y = _run_in(patients, engine)
    if not bool(jnp.all(jnp.isfinite(y))):
        raise NumericalError("run-in: a state is not finite; please report")
    return y


def _run_in(patients: list[Patient], engine: Engine) -> jax.Array:
    """The drug-free run-in of every person, unchecked (a row may not be finite)."""
    args = batch_arguments(patients, (), engine)
    person = args.pop("person")
    y0 = np.stack([start_state(p, engine) for p in patients])
    t0 = jnp.asarray(-RUN_IN_YEARS * DAYS_PER_YEAR)
    steps = integrate.run_in_steps(RUN_IN_YEARS)
    return integrate.on_every_core(
        lambda shared, pe, yy: integrate.run_in_batch({**shared, "person": pe}, yy, t0, steps),
        args,
        (person, y0),
        len(patients),
    )


def batch_pk(
    patients: list[Patient],
    regimen: Regimen,
    engine: Engine,
    n_days: int,
    *,
    seeds: list[int] | None = None,
    stop_day: float | None = None,
) -> dict[str, Any]:
    """The engine's PK inputs for many people: the matrices depend on the person only through
    the CYP2D6 phenotype (computed once per phenotype); the doses taken, on adherence."""
    seeds = seeds or [0] * len(patients)
    random = any(d.adherence < 1.0 for d in regimen)
    by_phenotype: dict[str, dict[str, Any]] = {}
    rows = []
    for p, seed in zip(patients, seeds, strict=True):
        if p.cyp2d6 not in by_phenotype or random:
            reg = regimen_system(
                regimen, engine, n_days + 1, cyp2d6=p.cyp2d6, seed=seed, stop_day=stop_day
            )
            if p.cyp2d6 not in by_phenotype:  # the matrix exponentials, once a phenotype
                by_phenotype[p.cyp2d6] = integrate.pk_arguments(reg, n_days)
            if random:  # this person's own doses taken, with the phenotype's matrices
                rows.append({**by_phenotype[p.cyp2d6], "counts": reg.day_counts(n_days + 1)})
                continue
        rows.append(by_phenotype[p.cyp2d6])
    return {k: jnp.asarray(np.stack([r[k] for r in rows])) for k in rows[0]}


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
    n_days = max(1, math.ceil(years * DAYS_PER_YEAR))
    # The engine runs to the horizon's bucket and the days asked for are kept: every day is
    # computed from the days before it alone (fixed steps; the i-th dose takes the i-th
    # adherence draw), so they are the same numbers, and a new horizon is not a new program.
    grid = integrate.grid_for(_single_horizon_years(years) * DAYS_PER_YEAR, 1.0)
    y0 = day_zero([patient], engine)
    args = batch_arguments([patient], regimen, engine)
    pk = batch_pk([patient], regimen, engine, grid.n_days, seeds=[seed])
    observed = integrate.treat_batch(args, pk, y0, grid.n_saves, grid.stride, OBSERVED)
    observed = {k: v[0][: n_days + 1] for k, v in observed.items()}
    ligands = regimen_ligands(regimen, engine)
    days = grid.save_days[: n_days + 1]
    return _dataset(patient, regimen, years, days, observed, ligands, engine)


def _single_horizon_years(years: float) -> float:
    """One person's run: the horizon rounded up to a power of two years (1, 2, 4 ... 32).
    Compiling a horizon takes about 10 s and some 40 MB that stay (measured on the web
    server); a run past the horizon costs one person's steps, milliseconds. So six programs
    serve every horizon up to MAX_YEARS, and a caller cannot make a new one per request."""
    return float(2 ** max(0, math.ceil(math.log2(years) - 1e-12)))


OBSERVED = ("signal", "drug_occupancy", "unbound_nM", *BIOMARKERS)


def _dataset(
    patient: Patient,
    regimen: Regimen,
    years: float,
    ts: NDArray[np.float64],
    observed: Mapping[str, jax.Array],
    ligands: tuple[str, ...],
    engine: Engine,
) -> xr.Dataset:
    formed = {m for d in regimen for m in engine.agents[d.agent].moiety_ids()}
    moieties = tuple(m for m in ligands if m in formed)
    idx = [ligands.index(m) for m in moieties]
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
        coords={"time": np.asarray(ts), "tissue": list(TISSUES), "moiety": list(moieties)},
    )
    reasons = not_applicable(patient)
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
            "patient": patient_label(patient),
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


def not_applicable(patient: Patient) -> dict[str, str]:
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


def patient_label(patient: Patient) -> str:
    if patient.sex == "male":
        return f"man aged {patient.age:g}"
    stage = {"pre": "premenopausal", "peri": "perimenopausal", "post": "postmenopausal"}
    label = f"{stage.get(patient.menopause or 'post', '')} woman aged {patient.age:g}"
    return label if patient.uterus else label + " (no uterus)"


# ---------------------------------------------------------------------------------------------
# Many people at once (virtual trials)


BATCH_BUCKET = 8  # people per compiled batch are padded to a multiple of this (fewer compiles)
SAVES_PER_YEAR = 24  # batch outputs are saved twice a month, then interpolated


def _horizon_bucket(years: float) -> float:
    """The run's horizon: whole years (at least 1), so that one compiled program serves every
    horizon within a year (compiling takes a few seconds; a year's extra steps cost more for
    large batches than a power-of-two bucket would save in compilations)."""
    return float(max(1, math.ceil(years - 1e-9)))


@dataclass(frozen=True)
class BatchSolution:
    """What :func:`solve_batch` returns: per regimen, ``{output: (people, len(save_days))}``;
    and ``failures``, person index -> why that person did not solve (their rows are NaN)."""

    values: list[dict[str, NDArray[np.float64]]]
    failures: dict[int, str]


def simulate_batch(
    patients: list[Patient],
    regimens: list[tuple[Regimen, float | None]],
    years: float,
    save_days: NDArray[np.float64],
    outputs: tuple[str, ...],
    *,
    engine: Engine | None = None,
    seeds: list[int] | None = None,
    on_regimen: Callable[[int], None] | None = None,
) -> list[dict[str, NDArray[np.float64]]]:
    """:func:`solve_batch`'s values, when everyone solved; else :class:`NumericalError`
    naming the first failure (a caller that can report failures per person calls
    :func:`solve_batch`)."""
    solved = solve_batch(
        patients,
        regimens,
        years,
        save_days,
        outputs,
        engine=engine,
        seeds=seeds,
        on_regimen=on_regimen,
    )
    if solved.failures:
        i, why = next(iter(sorted(solved.failures.items())))
        raise NumericalError(
            f"simulate_batch: person {i} ({patient_label(patients[i])}): {why}; please report"
        )
    return solved.values


def _unsolved(arr: NDArray[np.float64]) -> NDArray[np.bool_]:
    """Rows with a value that is not finite. A row that is NaN from its first value on is an
    output that does not apply to that person (:func:`not_applicable`), not a failure."""
    return ~np.all(np.isfinite(arr) | np.isnan(arr[:, :1]), axis=1)


def solve_batch(
    patients: list[Patient],
    regimens: list[tuple[Regimen, float | None]],
    years: float,
    save_days: NDArray[np.float64],
    outputs: tuple[str, ...],
    *,
    engine: Engine | None = None,
    seeds: list[int] | None = None,
    on_regimen: Callable[[int], None] | None = None,
) -> BatchSolution:
    """Several people on several regimens, saved at ``save_days``: one vmapped engine run per
    regimen. Each regimen is ``(doses, stop_day)``: doses stop at ``stop_day`` (the follow-up
    goes on). The drug-free run-in is solved once per person and shared by every regimen.
    ``on_regimen(i)`` is called before the i-th regimen runs (progress; it may raise to stop).

    A person whose run-in or any output on any regimen is not finite is a failure: their rows
    of every regimen are NaN and :attr:`BatchSolution.failures` says why (the first reason),
    while everyone else's results stand. Outputs are observed names (biomarkers, or
    ``signal:<tissue>``).
    """
    engine = engine or default_engine()
    seeds = seeds or [0] * len(patients)
    n = len(patients)
    padded = -(-n // BATCH_BUCKET) * BATCH_BUCKET
    people = [*patients, *[patients[-1]] * (padded - n)]
    seeds_p = [*seeds, *[seeds[-1]] * (padded - n)]
    # The engine runs to the next whole year, saved about twice a month, and is interpolated
    # onto save_days.
    horizon = _horizon_bucket(years)
    grid = integrate.grid_for(horizon * DAYS_PER_YEAR, DAYS_PER_YEAR / SAVES_PER_YEAR)
    day0 = _run_in(people, engine)
    failures: dict[int, str] = {
        int(i): "the drug-free run-in did not solve (a state is not finite)"
        for i in np.flatnonzero(~np.all(np.isfinite(np.asarray(day0)), axis=1)[:n])
    }
    save = np.asarray(save_days, dtype=np.float64)
    out: list[dict[str, NDArray[np.float64]]] = []
    for i, (regimen, stop_day) in enumerate(regimens):
        if on_regimen is not None:
            on_regimen(i)
        check_agents(regimen, engine.agents)
        args = batch_arguments(people, regimen, engine)
        person = args.pop("person")
        pk = batch_pk(people, regimen, engine, grid.n_days, seeds=seeds_p, stop_day=stop_day)
        observed = integrate.on_every_core(
            lambda shared, pe, pk_, y0: integrate.treat_batch(
                {**shared, "person": pe}, pk_, y0, grid.n_saves, grid.stride, outputs
            ),
            args,
            (person, pk, day0),
            len(people),
        )
        values: dict[str, NDArray[np.float64]] = {}
        g = grid.save_days
        for name in outputs:
            arr = np.asarray(observed[name], dtype=np.float64)[:n]
            for j in np.flatnonzero(_unsolved(arr)):
                failures.setdefault(int(j), f"{name} is not finite on {regimen_label(regimen)}")
            values[name] = np.stack([np.interp(save, g, row) for row in arr])
        out.append(values)
    if failures:  # a person who failed anywhere has no results anywhere
        rows = np.array(sorted(failures))
        for values in out:
            for arr in values.values():
                arr[rows] = np.nan
    return BatchSolution(out, failures)
