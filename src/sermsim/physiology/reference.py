"""The same model solved the slow, general way: SciPy's ``solve_ivp`` on the full system.

This is what the engine's shortcuts are checked against (``tests/physiology/
test_engine_reference.py``) and the SciPy column of ``sermsim bench``. Nothing here is solved
in closed form or on a fixed step:

* the PK is integrated as ODEs, day by day (each day's doses added at its start), with an
  accumulator of the integral of every state, whose value over the day gives the day's mean;
* the drug-free run-in and then every treatment day of the physiology are adaptive solves
  (Radau, BDF or LSODA) with the day's mean drug input held over the day, restarting at each
  day's boundary where the input jumps (as SciPy users integrate dosing: between doses).

The right-hand side is the engine's own ``model.rhs`` (jitted, with its exact Jacobian), so a
difference measures the numerics only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from numpy.typing import NDArray
from scipy.integrate import solve_ivp

from sermsim.agents.regimen import Regimen
from sermsim.core.errors import NumericalError
from sermsim.core.units import DAYS_PER_YEAR, HOURS_PER_DAY
from sermsim.physiology import model
from sermsim.physiology.patient import Patient
from sermsim.physiology.simulate import (
    RUN_IN_YEARS,
    Engine,
    default_engine,
    model_arguments,
    regimen_system,
    start_state,
)


@dataclass(frozen=True)
class Tolerances:
    rtol: float
    atol: float
    method: str = "Radau"


# Agreement between two solvers of this model, per biomarker and day (DESIGN.md, issue 5):
# |difference| <= AGREEMENT * |value| + ABSOLUTE_FRACTION * TYPICAL_SIZE[biomarker]. The
# absolute part is a millionth of each biomarker's typical size in its unit (orders of
# magnitude, not data), so that values crossing zero (T-scores) or suppressed to nothing (hot
# flushes on an estrogen) are judged in absolute terms.
AGREEMENT = 1e-3
ABSOLUTE_FRACTION = 1e-6
TYPICAL_SIZE = {
    "lh_iu_l": 10.0,
    "fsh_iu_l": 10.0,
    "estradiol_pg_ml": 10.0,
    "testosterone_ng_dl": 500.0,
    "progesterone_ng_ml": 1.0,
    "bmd_lumbar_spine_g_cm2": 1.0,
    "bmd_total_hip_g_cm2": 1.0,
    "bmd_femoral_neck_g_cm2": 1.0,
    "t_score_lumbar_spine": 1.0,
    "t_score_total_hip": 1.0,
    "t_score_femoral_neck": 1.0,
    "ctx_ng_ml": 0.3,
    "p1np_ug_l": 50.0,
    "ldl_mg_dl": 100.0,
    "hdl_mg_dl": 50.0,
    "triglycerides_mg_dl": 100.0,
    "total_cholesterol_mg_dl": 200.0,
    "shbg_nmol_l": 50.0,
    "fibrinogen_g_l": 3.0,
    "antithrombin_pct": 100.0,
    "protein_s_pct": 100.0,
    "apc_resistance_ratio": 1.0,
    "prothrombotic_index": 1.0,
    "breast_ki67_pct": 2.0,
    "endometrial_thickness_mm": 5.0,
    "endometrial_stimulation_mm": 1.0,
    "vaginal_superficial_pct": 10.0,
    "vaginal_parabasal_pct": 50.0,
    "vaginal_ph": 5.0,
    "hot_flushes_per_day": 5.0,
}


def absolute_tolerance(biomarker: str) -> float:
    return ABSOLUTE_FRACTION * TYPICAL_SIZE[biomarker]


def compare(
    ours: dict[str, NDArray[np.float64]], theirs: dict[str, NDArray[np.float64]]
) -> tuple[bool, float, str]:
    """Whether every biomarker agrees (the criterion above), and the largest relative
    difference over values above their absolute tolerance, with where it is."""
    ok, worst, where = True, 0.0, ""
    for name, b in theirs.items():
        if name not in TYPICAL_SIZE or name not in ours:
            continue
        a, b = np.asarray(ours[name], float), np.asarray(b, float)
        both = np.isfinite(a) & np.isfinite(b)
        if np.any(np.isfinite(a) != np.isfinite(b)):
            return False, float("inf"), name
        d, atol = np.abs(a[both] - b[both]), absolute_tolerance(name)
        ok = ok and bool(np.all(d <= AGREEMENT * np.abs(b[both]) + atol))
        big = np.abs(b[both]) > atol
        if np.any(big):
            rel = float(np.max(d[big] / np.abs(b[both][big])))
            if rel > worst:
                worst, where = rel, name
    return ok, worst, where


TIGHT = Tolerances(rtol=1e-8, atol=1e-10)  # the reference the engine is checked against
PK_TIGHT = Tolerances(rtol=1e-11, atol=1e-12, method="DOP853")  # the PK days (non-stiff)
USER = Tolerances(rtol=1e-6, atol=1e-9, method="LSODA")  # as a SciPy user would run it


def pk_day_means(
    K: NDArray[np.float64],
    doses: NDArray[np.float64],
    tol: Tolerances = PK_TIGHT,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Integrate ``dx/dt = K x`` (per hour) day by day, adding ``doses[d]`` at each day's
    start; return the state just after each day's doses and each day's mean state."""
    n_days, n = doses.shape
    x = np.zeros(n)
    starts = np.zeros((n_days, n))
    means = np.zeros((n_days, n))

    def f(_t: float, z: NDArray[np.float64]) -> NDArray[np.float64]:
        dx = K @ z[:n]
        return np.concatenate([dx, z[:n]])

    for d in range(n_days):
        x = x + doses[d]
        starts[d] = x
        sol = solve_ivp(
            f,
            (0.0, HOURS_PER_DAY),
            np.concatenate([x, np.zeros(n)]),
            method=tol.method,
            rtol=tol.rtol,
            atol=tol.atol,
        )
        if not sol.success:
            raise NumericalError(f"reference PK: {sol.message}")
        x = sol.y[:n, -1]
        means[d] = sol.y[n:, -1] / HOURS_PER_DAY
    return starts, means


def reference_simulate(
    patient: Patient,
    regimen: Regimen,
    days: int,
    *,
    engine: Engine | None = None,
    seed: int = 0,
    tol: Tolerances = TIGHT,
    pk_tol: Tolerances = PK_TIGHT,
    day0: NDArray[np.float64] | None = None,
) -> dict[str, NDArray[np.float64]]:
    """Every biomarker of ``simulate.BIOMARKERS``, and every tissue's signal as
    ``signal:<row>``, at days ``0 .. days`` (day 0 the untreated baseline; day d the state at
    its start with day d's mean drug input, as the engine).
    With ``day0`` (the state at the start of treatment) the run-in is not solved again."""
    from sermsim.physiology.simulate import BIOMARKERS

    engine = engine or default_engine()
    args = model_arguments(patient, regimen, engine)
    reg = regimen_system(regimen, engine, days + 1, cyp2d6=patient.cyp2d6, seed=seed)
    counts = reg.day_counts(days + 1).astype(float)
    amounts = (
        np.stack([line.amount for line in reg.lines]) if reg.lines else np.zeros((1, reg.n_states))
    )
    _, mean_x = pk_day_means(reg.K, counts.T @ amounts, pk_tol)
    plasma = mean_x @ reg.plasma.T  # (days + 1, L)
    portal = mean_x @ reg.portal.T
    n_lig = plasma.shape[1]

    f = jax.jit(lambda t, y, c, q: model.rhs(t, y, c, q, args))
    jac = jax.jit(jax.jacfwd(lambda t, y, c, q: model.rhs(t, y, c, q, args), argnums=1))
    obs = jax.jit(lambda t, y, c, q: model.observe(t, y, c, q, args))

    def solve(t0: float, t1: float, y: NDArray[np.float64], c: Any, q: Any) -> Any:
        c, q = jnp.asarray(c), jnp.asarray(q)
        kwargs: dict[str, Any] = {}
        if tol.method in ("Radau", "BDF", "LSODA"):
            kwargs["jac"] = lambda t, z: np.asarray(jac(t, z, c, q))
        sol = solve_ivp(
            lambda t, z: np.asarray(f(t, z, c, q)),
            (t0, t1),
            y,
            method=tol.method,
            rtol=tol.rtol,
            atol=tol.atol,
            **kwargs,
        )
        if not sol.success:
            raise NumericalError(f"reference solve: {sol.message}")
        return sol.y[:, -1]

    none = np.zeros(n_lig)
    if day0 is None:
        y = solve(-RUN_IN_YEARS * DAYS_PER_YEAR, 0.0, start_state(patient, engine), none, none)
    else:
        y = np.asarray(day0, dtype=np.float64)
    rows = [obs(0.0, y, none, none)]
    for d in range(days):
        y = solve(float(d), float(d + 1), y, plasma[d], portal[d])
        rows.append(obs(float(d + 1), y, plasma[d + 1], portal[d + 1]))
    out = {k: np.array([float(r[k]) for r in rows]) for k in BIOMARKERS}
    signal = np.array([np.asarray(r["signal"]) for r in rows])
    out.update({f"signal:{row}": signal[:, i] for i, row in enumerate(model.SIGNAL_ROWS)})
    return out


def reference_years(years: float) -> int:
    return max(1, math.ceil(years * DAYS_PER_YEAR))
