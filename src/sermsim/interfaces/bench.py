"""`sermsim bench`: the population engine against what a QSP user would otherwise run.

One run simulates one population (postmenopausal women, daily raloxifene, 5 years, every
module) three ways and compares them per patient-year of treatment:

* **engine**: sermsim's population engine, every person at once (jitted, vmapped);
* **roadrunner**: libRoadRunner on the SBML that ``sermsim export sbml`` writes, patient by
  patient, as its users run it (one model per patient, CVODE, the dosing as SBML events);
* **scipy**: ``solve_ivp`` (LSODA at rtol 1e-6) on the full system, day by day between doses.

All three start treatment from the same state: the drug-free run-in (12 years of natural
history before day 0) is computed by the engine and handed to the others; its cost is
reported on its own. Agreement is the largest relative difference of any biomarker on any
saved day, over values above their absolute tolerance (a millionth of the biomarker's typical
size, ``reference.TYPICAL_SIZE``); the agreement holds when every difference is within
``1e-3 |value| + that tolerance``. Throughput per core is patient-years
per CPU-second of the process while the tool runs (all threads counted): a tool that spreads
over several cores gains no credit for it; the effective cores used (CPU / wall seconds) are
reported beside it.

Timings are measurements on a shared machine, never assertions; sermsim is for research and
education, not medical advice.
"""

from __future__ import annotations

import resource
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from numpy.typing import NDArray

from sermsim import DISCLAIMER, __version__
from sermsim.agents.regimen import parse_regimen
from sermsim.core.units import DAYS_PER_YEAR
from sermsim.physiology import integrate, model, simulate
from sermsim.physiology.integrate import cores
from sermsim.physiology.patient import Patient
from sermsim.physiology.reference import (
    ABSOLUTE_FRACTION,
    AGREEMENT,
    USER,
    compare,
    reference_simulate,
)
from sermsim.physiology.simulate import BIOMARKERS, Engine, default_engine

Progress = Callable[[str, float], None]

SAVE_EVERY_DAYS = 7  # saved days compared between the tools

# The bench population: the flagship trial's postmenopausal women (examples/flagship_trial.yaml).
POPULATION: dict[str, Any] = {
    "name": "bench",
    "seed": 2026,
    "duration_years": 5,
    "population": {
        "sex": "female",
        "n_per_arm": 1,
        "age": {"distribution": "normal", "mean": 63, "sd": 7, "min": 50, "max": 79},
        "menopause": "post",
        "years_since_menopause": {"distribution": "uniform", "min": 1, "max": 25},
        "uterus": {"fraction_true": 0.7},
        "bmd_t_score_spine": {"distribution": "normal", "mean": -1.3, "sd": 1.0},
        "bmd_t_score_hip": {"distribution": "normal", "mean": -1.0, "sd": 0.9},
        "cyp2d6": {
            "choices": {"poor": 0.07, "intermediate": 0.1, "normal": 0.8, "ultrarapid": 0.03}
        },
    },
    "arms": [{"name": "treated", "regimen": [{"agent": "raloxifene", "dose_mg": 60}]}],
    "endpoints": ["bmd_lumbar_spine_pct"],
}
REGIMEN = "raloxifene:60"


@dataclass(frozen=True)
class BenchConfig:
    patients: int = 1000
    years: float = 5.0
    roadrunner_patients: int = 100
    scipy_patients: int = 10


def bench_population(n: int, engine: Engine) -> list[Patient]:
    from sermsim.trials.population import sample_arm
    from sermsim.trials.spec import parse_trial

    raw = {**POPULATION, "population": {**POPULATION["population"], "n_per_arm": n}}
    spec = parse_trial(raw, engine.agents)
    pop = sample_arm(spec, "treated", engine.physiology.values)
    return [pop.patient(i) for i in range(len(pop))]


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def max_relative_difference(
    ours: dict[str, NDArray[np.float64]], theirs: dict[str, NDArray[np.float64]]
) -> tuple[float, str]:
    """The largest |ours - theirs| / |theirs| over values above their absolute tolerance
    (``reference.absolute_tolerance``), and where."""
    _, worst, where = compare(ours, theirs)
    return worst, where


def _engine_run(
    people: list[Patient], engine: Engine, years: float, progress: Progress | None
) -> tuple[dict[str, Any], dict[str, NDArray[np.float64]], NDArray[np.float64]]:
    """The engine on everyone: timings, every biomarker on the saved days, day-0 states."""
    regimen = parse_regimen(REGIMEN, engine.agents)
    grid = integrate.grid_for(years * DAYS_PER_YEAR, SAVE_EVERY_DAYS)
    outputs = tuple(BIOMARKERS)
    t = time.perf_counter()
    none_args = simulate.batch_arguments(people, (), engine)
    args = simulate.batch_arguments(people, regimen, engine)
    pk = simulate.batch_pk(people, regimen, engine, grid.n_days)
    y0 = jnp.asarray(np.stack([simulate.start_state(p, engine) for p in people]))
    t0 = jnp.asarray(-simulate.RUN_IN_YEARS * DAYS_PER_YEAR)
    steps = integrate.run_in_steps(simulate.RUN_IN_YEARS)
    arguments_s = time.perf_counter() - t
    if progress:
        progress("engine: compiling", 0.05)
    t = time.perf_counter()
    run_in = integrate.run_in_batch.lower(none_args, y0, t0, steps).compile()
    treat = integrate.treat_batch.lower(args, pk, y0, grid.n_saves, grid.stride, outputs).compile()
    compile_s = time.perf_counter() - t
    if progress:
        progress(f"engine: run-in of {len(people)} people", 0.1)
    t = time.perf_counter()
    day0 = jax.block_until_ready(run_in(none_args, y0, t0))
    run_in_s = time.perf_counter() - t
    if progress:
        progress(f"engine: {years:g} years of {len(people)} people", 0.2)
    t, cpu = time.perf_counter(), time.process_time()
    observed = jax.block_until_ready(treat(args, pk, day0))
    treatment_s = time.perf_counter() - t
    treatment_cpu = time.process_time() - cpu
    values = {k: np.asarray(v, dtype=np.float64) for k, v in observed.items()}
    patient_years = len(people) * years
    rate = patient_years / treatment_s
    return (
        {
            "patients": len(people),
            "years": years,
            "patient_years_per_s": rate,
            "per_core": patient_years / treatment_cpu,
            "cores": treatment_cpu / treatment_s,
            "with_run_in_patient_years_per_s": patient_years / (treatment_s + run_in_s),
            "compile_s": compile_s,
            "profile_s": {
                "arguments": arguments_s,
                "compile": compile_s,
                "run_in": run_in_s,
                "treatment": treatment_s,
            },
            "peak_memory_mb": _peak_mb(),
        },
        values,
        np.asarray(day0),
    )


def _rhs_profile(people: list[Patient], engine: Engine, repeats: int = 500) -> dict[str, float]:
    """Where one right-hand-side evaluation spends its time: the receptor binding and
    coregulator signals against everything else (vmapped over one block of people)."""
    regimen = parse_regimen(REGIMEN, engine.agents)
    args = simulate.batch_arguments(people, regimen, engine)
    y = jnp.asarray(np.stack([simulate.start_state(p, engine) for p in people]))
    n_lig = args["ligands"]["kd"].shape[0]
    c = jnp.full((len(people), n_lig), 1.0)
    axes = integrate.person_axes(args)

    def whole(a: Any, yy: Any, cc: Any) -> Any:
        return model.rhs(jnp.asarray(1.0), yy, cc, cc, a)

    def binding(a: Any, yy: Any, cc: Any) -> Any:
        e2 = model.estradiol_pg_ml(yy, a["person"]["age0"], a["person"], a["p"])
        return model.signals(e2 * a["ligands"]["pg_ml_to_nM"], cc, cc, a)[0]

    out = {}
    for name, fn in (("rhs", whole), ("binding_and_signals", binding)):
        batched = jax.vmap(fn, in_axes=(axes, 0, 0))

        def loop(a: Any, yy: Any, cc: Any, f: Any = batched) -> Any:
            # Evaluations chained in one compiled loop, as in the engine (no call overhead).
            def body(y_: Any, _: Any) -> Any:
                r = f(a, y_, cc)
                return y_ + 1e-9 * r.sum(axis=-1, keepdims=True), None

            return jax.lax.scan(body, yy, None, length=repeats)[0]

        g = jax.jit(loop)
        jax.block_until_ready(g(args, y, c))
        cpu = time.process_time()
        jax.block_until_ready(g(args, y, c))
        out[name] = (time.process_time() - cpu) / repeats / len(people) * 1e9  # CPU ns
    return {
        "rhs_ns_per_person": out["rhs"],
        "binding_and_signals_ns_per_person": out["binding_and_signals"],
        "binding_share_of_rhs": out["binding_and_signals"] / out["rhs"],
    }


def _each_person(
    people: list[Patient],
    engine_values: dict[str, NDArray[np.float64]],
    run_one: Callable[[int, Patient], dict[str, NDArray[np.float64]]],
    label: str,
    span: tuple[float, float],
    progress: Progress | None,
) -> dict[str, Any]:
    """Run a one-patient-at-a-time tool on every person and compare each with the engine."""
    worst, where, agree = 0.0, "", True
    for i, person in enumerate(people):
        if progress:
            done = span[0] + (span[1] - span[0]) * i / len(people)
            progress(f"{label}: patient {i + 1} of {len(people)}", done)
        ok, rel, name = compare({k: v[i] for k, v in engine_values.items()}, run_one(i, person))
        agree = agree and ok
        if rel > worst:
            worst, where = rel, name
    return {"agreement_ok": agree, "max_rel_diff_vs_engine": worst, "worst_biomarker": where}


def _roadrunner_run(
    people: list[Patient],
    day0: NDArray[np.float64],
    engine: Engine,
    years: float,
    engine_values: dict[str, NDArray[np.float64]],
    progress: Progress | None,
) -> dict[str, Any]:
    from sermsim.physiology import sbml

    regimen = parse_regimen(REGIMEN, engine.agents)
    days = integrate.grid_for(years * DAYS_PER_YEAR, SAVE_EVERY_DAYS).save_days
    spent = {"sbml_export": 0.0, "load": 0.0, "simulate": 0.0, "simulate_cpu": 0.0}

    def run_one(i: int, person: Patient) -> dict[str, NDArray[np.float64]]:
        t = time.perf_counter()
        dosed = (days[-1] + 1.0) / DAYS_PER_YEAR  # dosing through the last saved day
        text = sbml.export_sbml(person, regimen, dosed, engine=engine, day0=day0[i])
        spent["sbml_export"] += time.perf_counter() - t
        timing: dict[str, float] = {}
        theirs = sbml.simulate_sbml(text, days, tuple(BIOMARKERS), timing=timing)
        spent["load"] += timing["load_s"]
        spent["simulate"] += timing["simulate_s"]
        spent["simulate_cpu"] += timing["simulate_cpu_s"]
        return theirs

    compared = _each_person(people, engine_values, run_one, "libRoadRunner", (0.3, 0.7), progress)
    patient_years = len(people) * years
    cpu = spent.pop("simulate_cpu")
    return {
        "patients": len(people),
        "years": years,
        "patient_years_per_s": patient_years / spent["simulate"],
        "per_core": patient_years / cpu,
        "cores": cpu / spent["simulate"],
        "with_model_load_patient_years_per_s": patient_years / (spent["simulate"] + spent["load"]),
        "profile_s": spent,
        **compared,
    }


def _scipy_run(
    people: list[Patient],
    day0: NDArray[np.float64],
    engine: Engine,
    years: float,
    engine_values: dict[str, NDArray[np.float64]],
    progress: Progress | None,
) -> dict[str, Any]:
    regimen = parse_regimen(REGIMEN, engine.agents)
    days = integrate.grid_for(years * DAYS_PER_YEAR, SAVE_EVERY_DAYS).save_days.astype(int)
    spent = {"wall": 0.0, "cpu": 0.0}

    def run_one(i: int, person: Patient) -> dict[str, NDArray[np.float64]]:
        t, cpu = time.perf_counter(), time.process_time()
        ref = reference_simulate(
            person, regimen, int(days[-1]), engine=engine, tol=USER, day0=day0[i]
        )
        spent["wall"] += time.perf_counter() - t
        spent["cpu"] += time.process_time() - cpu
        return {k: v[days] for k, v in ref.items()}

    compared = _each_person(people, engine_values, run_one, "SciPy", (0.7, 0.95), progress)
    patient_years = len(people) * years
    return {
        "patients": len(people),
        "years": years,
        "method": f"{USER.method} rtol {USER.rtol:g}",
        "patient_years_per_s": patient_years / spent["wall"],
        "per_core": patient_years / spent["cpu"],
        "cores": spent["cpu"] / spent["wall"],
        **compared,
    }


def run_bench(config: BenchConfig, progress: Progress | None = None) -> dict[str, Any]:
    """The bench's JSON: see the module docstring."""
    engine = default_engine()
    if progress:
        progress("drawing the population", 0.0)
    people = bench_population(config.patients, engine)
    eng, values, day0 = _engine_run(people, engine, config.years, progress)
    eng["rhs_profile"] = _rhs_profile(people[: integrate.BLOCK], engine)
    n_rr = min(config.roadrunner_patients, len(people))
    rr = _roadrunner_run(people[:n_rr], day0[:n_rr], engine, config.years, values, progress)
    n_sp = min(config.scipy_patients, len(people))
    sp = _scipy_run(people[:n_sp], day0[:n_sp], engine, config.years, values, progress)
    worst = rr["max_rel_diff_vs_engine"]
    if progress:
        progress("done", 1.0)
    return {
        "engine": eng,
        "roadrunner": rr,
        "scipy": sp,
        "ratio_vs_roadrunner": eng["per_core"] / rr["per_core"],
        "ratio_vs_scipy": eng["per_core"] / sp["per_core"],
        "max_rel_diff": worst,
        "agreement_ok": bool(rr["agreement_ok"]),
        "agreement_bar": AGREEMENT,
        "absolute_tolerance": f"{ABSOLUTE_FRACTION:g} x each biomarker's typical size "
        "(sermsim.physiology.reference.TYPICAL_SIZE)",
        "regimen": REGIMEN,
        "machine": {"cores": cores(), "jax_backend": jax.default_backend()},
        "sermsim_version": __version__,
        "disclaimer": DISCLAIMER,
    }


def bench_trial(spec_path: Path, progress: Progress | None = None) -> dict[str, Any]:
    """Time a whole ``trial run`` and say where the time goes (the stages it reports)."""
    from sermsim.trials.run import run_trial
    from sermsim.trials.spec import load_trial

    engine = default_engine()
    stages: list[tuple[str, float]] = []
    started = time.perf_counter()

    def record(message: str, fraction: float) -> None:
        stages.append((message, time.perf_counter() - started))
        if progress:
            progress(message, fraction)

    spec = load_trial(spec_path, engine.agents)
    loaded = time.perf_counter() - started
    outcome = run_trial(spec, engine=engine, progress=record)
    total = time.perf_counter() - started
    where: dict[str, float] = {"load spec": loaded}
    if stages:
        where["set-up"] = stages[0][1] - loaded
    for (name, t0), (_, t1) in zip(stages, [*stages[1:], ("end", total)], strict=True):
        where[name] = where.get(name, 0.0) + (t1 - t0)
    people = sum(a["n"] for a in outcome.result["arms"].values())
    return {
        "trial": spec.name,
        "people": people,
        "years": spec.duration_years,
        "wall_s": total,
        "person_years_per_s": people * spec.duration_years / total,
        "stages_s": where,
        "peak_memory_mb": _peak_mb(),
        "cores": cores(),
        "sermsim_version": __version__,
        "disclaimer": DISCLAIMER,
    }


def bench_table(result: dict[str, Any]) -> str:
    """The bench's figures as text (what `sermsim bench` prints without --json)."""
    if "trial" in result:
        lines = [
            f"trial run: {result['trial']} — {result['people']} people x {result['years']:g} "
            f"years in {result['wall_s']:.1f} s ({result['person_years_per_s']:.0f} "
            f"person-years/s), peak memory {result['peak_memory_mb']:.0f} MB",
            "where the time goes:",
            *(f"  {k:<40} {v:8.2f} s" for k, v in result["stages_s"].items()),
        ]
        return "\n".join([*lines, result["disclaimer"]])
    e, rr, sp = result["engine"], result["roadrunner"], result["scipy"]
    rows = [
        ("sermsim engine", e, "-"),
        ("libRoadRunner (SBML)", rr, f"{rr['max_rel_diff_vs_engine']:.2e}"),
        (f"SciPy solve_ivp ({sp['method']})", sp, f"{sp['max_rel_diff_vs_engine']:.2e}"),
    ]
    lines = [
        f"sermsim bench: {result['regimen']} daily, {e['years']:g} years, postmenopausal women",
        f"{'tool':<34}{'people':>8}{'cores':>7}{'pt-yr/s':>12}{'per core':>12}{'rel diff':>11}",
        "(per core: patient-years per CPU-second; cores: CPU / wall seconds while it ran)",
    ]
    for name, r, diff in rows:
        lines.append(
            f"{name:<34}{r['patients']:>8}{r['cores']:>7.2f}{r['patient_years_per_s']:>12.2f}"
            f"{r['per_core']:>12.2f}{diff:>11}"
        )
    prof = e["profile_s"]
    lines += [
        f"ratio per core: {result['ratio_vs_roadrunner']:.1f}x libRoadRunner (goal 100x), "
        f"{result['ratio_vs_scipy']:.0f}x SciPy",
        f"agreement with libRoadRunner: max relative difference {result['max_rel_diff']:.2e} "
        f"(bar {result['agreement_bar']:g}): {'ok' if result['agreement_ok'] else 'NOT OK'}",
        f"engine: compile {e['compile_s']:.1f} s, run-in {prof['run_in']:.1f} s (12 drug-free "
        f"years a person, not counted above), treatment {prof['treatment']:.1f} s, arguments "
        f"{prof['arguments']:.1f} s; peak memory {e['peak_memory_mb']:.0f} MB",
        f"engine right-hand side: {e['rhs_profile']['rhs_ns_per_person']:.0f} CPU ns a person "
        f"(8 a day: 2 RK4 steps), "
        f"{100 * e['rhs_profile']['binding_share_of_rhs']:.0f} % of it receptor binding and "
        "signals",
        f"libRoadRunner: model load {rr['profile_s']['load']:.1f} s, simulate "
        f"{rr['profile_s']['simulate']:.1f} s (throughput counts simulate only)",
        result["disclaimer"],
    ]
    return "\n".join(lines)
