"""Solving linear PK exactly: no ODE solver is needed for a linear system.

* :func:`simulate` propagates the state across a uniform time grid with the exact one-step
  propagator ``E = expm(K h)`` and adds each dose when it is taken (doses must fall on the grid;
  missed doses are simply absent). This is the superposition of exponentials, evaluated
  recursively: exact to rounding, O(steps), and a ``jax.lax.scan`` that JIT-compiles and vmaps.
* :func:`periodic_steady_state` gives the state over one dosing interval once doses have been
  repeated forever: ``x(s) = expm(K s) (I - expm(K tau))^-1 b``.
* :func:`cyclic_steady_state` does the same for a pattern of doses repeated every period
  (a drug taken on some days of each cycle).
* :func:`average_steady_state` gives the interval-average state, ``-K^-1 b / tau``.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.linalg import expm
from numpy.typing import NDArray

from sermsim.agents.regimen import Dose
from sermsim.core import engine as _engine  # noqa: F401  (float64)
from sermsim.core.errors import SpecError
from sermsim.core.units import HOURS_PER_DAY
from sermsim.pk.model import LinearPK

GRID_TOLERANCE_H = 1e-9  # rounding allowance when matching a dose time to a grid point
PAD_STATES = 8  # systems are padded to a multiple of this many states: one compiled shape


def _padded(K: NDArray[np.float64], b: NDArray[np.float64]) -> tuple[jax.Array, jax.Array]:
    """Pad the system with inert, decaying states (rate -1/h, no input) to a fixed size, so
    that every agent's system runs through the same compiled kernel."""
    n = K.shape[0]
    size = -(-n // PAD_STATES) * PAD_STATES
    Kp = -np.eye(size)
    Kp[:n, :n] = K
    bp = np.zeros(size)
    bp[:n] = b
    return jnp.asarray(Kp), jnp.asarray(bp)


def dose_times(dose: Dose, t_end_h: float) -> NDArray[np.float64]:
    """Times (h) at which ``dose`` is scheduled in ``[0, t_end_h)``, cycles included.

    >>> dose_times(Dose(agent="clomiphene", dose_mg=50, start_day=4, days_on=5, cycle_days=28),
    ...            28 * 24.0) / 24.0
    array([4., 5., 6., 7., 8.])
    """
    start = dose.start_day * HOURS_PER_DAY
    if start >= t_end_h:
        return np.zeros(0)
    times = np.arange(start, t_end_h, dose.interval_h)
    if dose.cycle_days is not None and dose.days_on is not None:
        cycle = dose.cycle_days * HOURS_PER_DAY
        on = dose.days_on * HOURS_PER_DAY
        times = times[np.mod(times - start, cycle) < on - GRID_TOLERANCE_H]
    return times


def doses_taken(n: int, adherence: float, rng: np.random.Generator) -> NDArray[np.bool_]:
    """Which of ``n`` scheduled doses are taken, each independently with probability
    ``adherence`` (drawn from the caller's generator, so runs are reproducible)."""
    if adherence >= 1.0:
        return np.ones(n, dtype=bool)
    return rng.random(n) < adherence


@jax.jit
def _propagate(E: jax.Array, b: jax.Array, u: jax.Array) -> jax.Array:
    def step(x: jax.Array, u_k: jax.Array) -> tuple[jax.Array, jax.Array]:
        x_next = E @ x + b * u_k
        return x_next, x_next

    x0 = b * u[0]
    _, xs = jax.lax.scan(step, x0, u[1:])
    return jnp.concatenate([x0[None, :], xs], axis=0)


def simulate(
    pk: LinearPK,
    times_h: NDArray[np.float64],
    amounts_mg: NDArray[np.float64],
    t_end_h: float,
    step_h: float = 1.0,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """States on the grid ``0, step_h, ..., < t_end_h`` after oral doses of ``amounts_mg``
    at ``times_h``. A value at a dose time includes that dose.

    Returns ``(grid, states)`` with ``states`` of shape ``(len(grid), pk.n_states)`` in nmol.
    """
    n = math.ceil(t_end_h / step_h - GRID_TOLERANCE_H)
    grid = np.arange(n) * step_h
    idx = np.rint(np.asarray(times_h) / step_h).astype(int)
    if np.any(np.abs(idx * step_h - times_h) > GRID_TOLERANCE_H * max(1.0, t_end_h)):
        raise SpecError("step_h", step_h, "choose a step that divides every dose time")
    u = np.zeros(n)
    keep = idx < n
    np.add.at(u, idx[keep], np.asarray(amounts_mg)[keep])
    K, b = _padded(pk.K, pk.dose_vector(1.0))
    E = expm(K * step_h)
    states = _propagate(E, b, jnp.asarray(u))
    return grid.astype(np.float64), np.array(states, dtype=np.float64)[:, : pk.n_states]


@jax.jit
def _cyclic(
    K: jax.Array,
    b: jax.Array,
    period: jax.Array,
    t_dose: jax.Array,
    amount: jax.Array,
    s: jax.Array,
    last: jax.Array,
) -> jax.Array:
    n = K.shape[0]

    # One period from an empty body: dose to dose (times sorted), then to the period's end.
    Carry = tuple[jax.Array, jax.Array]

    def step(carry: Carry, dose: Carry) -> tuple[Carry, jax.Array]:
        x, t_prev = carry
        t, a = dose
        x = expm(K * (t - t_prev)) @ x + b * a
        return (x, t), x

    start = jnp.zeros((), dtype=t_dose.dtype)
    (x_end, t_end), _ = jax.lax.scan(step, (jnp.zeros(n), start), (t_dose, amount))
    kick = expm(K * (period - t_end)) @ x_end
    # The state just before the period starts, once the pattern has repeated forever.
    x0 = jnp.linalg.solve(jnp.eye(n) - expm(K * period), kick)
    _, after = jax.lax.scan(step, (x0, start), (t_dose, amount))  # post-dose states
    # Each time point: from the last dose at or before it (or from the period's start).
    base = jnp.where(last[:, None] >= 0, after[jnp.maximum(last, 0)], x0)
    since = jnp.where(last >= 0, s - t_dose[jnp.maximum(last, 0)], s)
    return jax.vmap(lambda dt, x: expm(K * dt) @ x)(since, base)


def cyclic_steady_state(
    pk: LinearPK,
    times_h: NDArray[np.float64],
    amounts_mg: NDArray[np.float64],
    period_h: float,
    s_h: NDArray[np.float64],
) -> NDArray[np.float64]:
    """States (nmol) at times ``s_h`` within a period, once a dosing pattern (doses of
    ``amounts_mg`` at ``times_h`` in ``[0, period_h)``) has repeated forever: the cyclic
    steady state of a regimen taken on some days of each cycle. A value at a dose time
    includes that dose; times past the period wrap around. :func:`periodic_steady_state` is
    the one-dose special case. Cost: one matrix exponential per dose and per time point.
    """
    times_h = np.asarray(times_h, dtype=float)
    s_h = np.mod(np.asarray(s_h, dtype=float), period_h)  # the state is periodic
    if np.any((times_h < 0) | (times_h >= period_h)):
        raise SpecError("times_h", times_h.tolist(), f"dose times must lie in [0, {period_h:g})")
    order = np.argsort(times_h, kind="stable")
    t_sorted = times_h[order]
    a_sorted = np.asarray(amounts_mg, dtype=float)[order]
    # Pad with zero doses at the period's end to a multiple of PAD_STATES: fewer shapes to
    # compile; a zero dose changes nothing.
    n = len(t_sorted)
    size = max(PAD_STATES, -(-n // PAD_STATES) * PAD_STATES)
    t = np.full(size, t_sorted[-1] if n else 0.0)
    a = np.zeros(size)
    t[:n] = t_sorted
    a[:n] = a_sorted
    last = np.searchsorted(t, s_h, side="right") - 1  # index of the last dose at or before s
    K, b = _padded(pk.K, pk.dose_vector(1.0))
    out = _cyclic(
        K,
        b,
        jnp.asarray(period_h),
        jnp.asarray(t),
        jnp.asarray(a),
        jnp.asarray(s_h),
        jnp.asarray(last),
    )
    return np.array(out, dtype=np.float64)[:, : pk.n_states]


def periodic_steady_state(
    pk: LinearPK, dose_mg: float, tau_h: float, s_h: NDArray[np.float64]
) -> NDArray[np.float64]:
    """States (nmol) at times ``s_h`` after a dose, at steady state of dosing every ``tau_h``:
    the one-dose case of :func:`cyclic_steady_state`. ``s_h`` may run past ``tau_h``: the
    state is periodic, so ``s`` is taken modulo ``tau``."""
    return cyclic_steady_state(pk, np.zeros(1), np.full(1, dose_mg), tau_h, s_h)


def average_steady_state(pk: LinearPK, dose_mg: float, tau_h: float) -> NDArray[np.float64]:
    """Interval-average states (nmol) at steady state: ``-K^-1 b / tau``."""
    b = pk.dose_vector(dose_mg)
    return np.asarray(-np.linalg.solve(pk.K, b) / tau_h)
