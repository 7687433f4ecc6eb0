"""The population engine: many people's whole physiology as one jitted, vmapped JAX program.

The model has three speeds, and each is handled at its own cost (DESIGN.md, *Engine and
scale*):

* **PK** is linear: across a day ``x(d+1) = expm(K T) x(d)`` exactly, and the day's mean is
  ``M x(d)`` (``dosing.day_mean_matrix``); the doses of a day are added at its start. The
  engine carries ``x`` through a ``lax.scan``: no ODE solver, no error beyond rounding.
* **Binding and coregulator signals** equilibrate in minutes: they are algebraic functions of
  the day's mean concentrations (``model.signals``), evaluated where the integrator asks.
* **The physiology** (HPG axis, days; tissues, weeks to months; bone, years) has no time
  constant under a day and its drug input is constant within a day, so it takes
  :data:`SUBSTEPS` classical fourth-order Runge-Kutta steps a day; a day's boundary, where
  the input jumps, is always a step boundary. The drug-free run-in before treatment steps
  a day at a time (:data:`RUN_IN_STEP_DAYS`).

Outputs are saved every ``stride`` days and reduced to the names asked for, so memory grows
with (people x saves x outputs), never with steps. Every shortcut is checked against a tight
adaptive solve of the full system (``reference.py``: PK as ODEs with a day-mean accumulator,
SciPy Radau at rtol 1e-8 restarting each day) in ``tests/physiology/test_engine_reference.py``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from numpy.typing import NDArray
from scipy.linalg import expm

from sermsim.core import engine as _engine  # noqa: F401  (float64)
from sermsim.core.units import DAYS_PER_YEAR, HOURS_PER_DAY
from sermsim.physiology import model
from sermsim.physiology.dosing import RegimenPK, day_mean_matrix

# Numerical setting of the engine (not science); its accuracy is measured in the tests
# against the tight reference, and in `sermsim bench` against libRoadRunner.
SUBSTEPS = 2  # Runge-Kutta steps a treatment day (h = 12 h; the fastest time constant: 1 day)
# The drug-free run-in has no daily jumps in its input: a step of a day is 1/2.8 of RK4's
# stability limit for that time constant (2 days measured stable, 4 days not; day-0 states
# within 6e-6 of a Radau solve at rtol 1e-10).
RUN_IN_STEP_DAYS = 1.0

Args = dict[str, Any]


def _rk4(
    f: Callable[[jax.Array, jax.Array, jax.Array, jax.Array], jax.Array],
    t: jax.Array,
    y: jax.Array,
    h: jax.Array,
    c: jax.Array,
    q: jax.Array,
) -> jax.Array:
    """One classical Runge-Kutta step with the drug input ``(c, q)`` held over it (it is
    constant within a day, and every day's boundary is a step's)."""
    k1 = f(t, y, c, q)
    k2 = f(t + 0.5 * h, y + 0.5 * h * k1, c, q)
    k3 = f(t + 0.5 * h, y + 0.5 * h * k2, c, q)
    k4 = f(t + h, y + h * k3, c, q)
    return y + (h / 6.0) * (k1 + 2.0 * k2 + 2.0 * k3 + k4)


def run_in(args: Args, y0: jax.Array, t0: jax.Array, n_steps: int) -> jax.Array:
    """The drug-free natural history from ``t0`` (days, negative) to day 0 for one person,
    in ``n_steps`` equal steps."""
    h = -t0 / n_steps
    n_lig = args["ligands"]["kd"].shape[0]
    none = jnp.zeros(n_lig)

    def f(t: jax.Array, y: jax.Array, c: jax.Array, q: jax.Array) -> jax.Array:
        return model.rhs(t, y, c, q, args)

    def step(y: jax.Array, k: jax.Array) -> tuple[jax.Array, None]:
        return _rk4(f, t0 + k * h, y, h, none, none), None

    y, _ = jax.lax.scan(step, y0, jnp.arange(n_steps, dtype=y0.dtype))
    return y


def treat(
    args: Args,
    pk: Args,
    y0: jax.Array,
    n_saves: int,
    stride: int,
    outputs: tuple[str, ...],
) -> dict[str, jax.Array]:
    """One person from day 0 under a regimen: ``{output: (n_saves + 1, ...)}`` saved at
    days ``0, stride, 2 stride, ...``: the states at the start of the day, the drug as that
    day's mean, except on day 0, the untreated baseline. ``pk`` holds the day's propagator
    ``E``, the day-mean matrices ``CM`` and ``PM`` to plasma and portal concentrations, the
    dose increments ``B`` (lines, n) and the doses taken each day ``counts`` (lines, days + 1)."""
    h = 1.0 / SUBSTEPS
    E, CM, PM = pk["E"], pk["CM"], pk["PM"]

    def f(t: jax.Array, y: jax.Array, c: jax.Array, q: jax.Array) -> jax.Array:
        return model.rhs(t, y, c, q, args)

    def dosed(x: jax.Array, d: jax.Array) -> jax.Array:
        return x + pk["counts"][:, d].astype(x.dtype) @ pk["B"]  # the day's doses

    def day(carry: tuple[jax.Array, jax.Array], d: jax.Array) -> tuple[Any, None]:
        y, x = carry
        x = dosed(x, d)
        c, q = CM @ x, PM @ x
        for i in range(SUBSTEPS):
            y = _rk4(f, d + i * h, y, jnp.asarray(h, y.dtype), c, q)
        return (y, E @ x), None

    def observe(t: jax.Array, y: jax.Array, x: jax.Array) -> dict[str, jax.Array]:
        obs = model.observe(t, y, CM @ x, PM @ x, args)
        return {k: _pick(obs, k) for k in outputs}

    def save(carry: tuple[jax.Array, jax.Array], j: jax.Array) -> tuple[Any, Any]:
        carry, _ = jax.lax.scan(day, carry, j * stride + jnp.arange(stride))
        y, x = carry
        d = (j + 1) * stride
        return carry, observe(d.astype(y.dtype), y, dosed(x, d))

    x0 = jnp.zeros(E.shape[0], dtype=y0.dtype)
    first = observe(jnp.zeros((), y0.dtype), y0, x0)
    _, saved = jax.lax.scan(save, (y0, x0), jnp.arange(n_saves))
    return {k: jnp.concatenate([first[k][None], saved[k]], axis=0) for k in outputs}


def _pick(obs: dict[str, jax.Array], name: str) -> jax.Array:
    """An observed array by name; ``signal:<row>`` picks one row of the signals and
    ``drug_occupancy:<row>`` one row of the ERα occupancy by drug."""
    if name.startswith(("signal:", "drug_occupancy:")):
        array, row = name.split(":", 1)
        return obs[array][model.ROW[row]]
    return obs[name]


def person_axes(args: Args) -> dict[str, int | None]:
    """vmap over the people's own constants only; the shared ones stay unbatched (so XLA
    computes what depends on them alone once, outside the time loop)."""
    return {k: (0 if k == "person" else None) for k in args}


# People per vmapped block: the batch is cut into blocks run one after another (lax.map),
# which keeps each block's intermediates in cache. Measured on the 2-core CI-class machine
# (ns per right-hand-side evaluation per person): 16 -> 391, 32 -> 256, 64 -> 211,
# 128 -> 369, 256 -> 508, 1000 -> 728 (benchmarks: `sermsim bench`).
BLOCK = 64


def _in_blocks(fn: Callable[..., Any], batched: tuple[Any, ...], n: int) -> Any:
    """``fn`` over ``batched`` (pytrees whose leaves have ``n`` people first), a block of
    :data:`BLOCK` people at a time; the last block is padded with copies of the last person."""
    size = min(BLOCK, n)  # one person alone is one block of one
    blocks = -(-n // size)
    pad = blocks * size - n

    def split(x: jax.Array) -> jax.Array:
        x = jnp.concatenate([x, jnp.repeat(x[-1:], pad, axis=0)]) if pad else x
        return x.reshape(blocks, size, *x.shape[1:])

    out = jax.lax.map(lambda b: fn(*b), jax.tree_util.tree_map(split, batched))
    return jax.tree_util.tree_map(lambda x: x.reshape(blocks * size, *x.shape[2:])[:n], out)


def cores() -> int:
    """Cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def on_every_core(fn: Callable[..., Any], shared: Args, batched: tuple[Any, ...], n: int) -> Any:
    """``fn(shared, *batched)`` with the people (the leading axis of every leaf of
    ``batched``) split into one equal group per core, the groups run in threads at once (XLA
    releases the GIL; each group runs on its own core), the results joined in order. Each
    person's arithmetic is their own: the split changes a result by rounding at most (the
    batch tests compare to 1e-9)."""
    blocks = -(-n // BLOCK)
    per_group = -(-blocks // max(1, min(cores(), blocks)))  # whole blocks, none all padding
    groups = -(-blocks // per_group)
    if groups == 1:
        return fn(shared, *batched)
    size = per_group * BLOCK
    pad = groups * size - n

    def padded(x: Any) -> Any:
        x = np.asarray(x)
        return np.concatenate([x, np.repeat(x[-1:], pad, axis=0)]) if pad else x

    whole = jax.tree_util.tree_map(padded, batched)

    def part(g: int) -> tuple[Any, ...]:
        return jax.tree_util.tree_map(lambda x: x[g * size : (g + 1) * size], whole)

    with ThreadPoolExecutor(groups) as pool:
        outs = list(pool.map(lambda g: jax.block_until_ready(fn(shared, *part(g))), range(groups)))
    return jax.tree_util.tree_map(lambda *xs: jnp.concatenate(xs)[:n], *outs)


@partial(jax.jit, static_argnames=("n_steps",))
def run_in_batch(args: Args, y0: jax.Array, t0: jax.Array, n_steps: int) -> jax.Array:
    """:func:`run_in` for people stacked along the first axis of ``args["person"]``."""
    shared = {k: v for k, v in args.items() if k != "person"}

    def block(person: Args, y: jax.Array) -> jax.Array:
        a = {**shared, "person": person}
        return jax.vmap(run_in, in_axes=(person_axes(a), 0, None, None))(a, y, t0, n_steps)

    return _in_blocks(block, (args["person"], y0), y0.shape[0])


@partial(jax.jit, static_argnames=("n_saves", "stride", "outputs"))
def treat_batch(
    args: Args, pk: Args, y0: jax.Array, n_saves: int, stride: int, outputs: tuple[str, ...]
) -> dict[str, jax.Array]:
    """:func:`treat` for people stacked along the first axis of ``args["person"]``, ``pk``
    and ``y0``."""
    shared = {k: v for k, v in args.items() if k != "person"}

    def block(person: Args, pk_b: Args, y: jax.Array) -> dict[str, jax.Array]:
        a = {**shared, "person": person}
        return jax.vmap(treat, in_axes=(person_axes(a), 0, 0, None, None, None))(
            a, pk_b, y, n_saves, stride, outputs
        )

    return _in_blocks(block, (args["person"], pk, y0), y0.shape[0])


@dataclass(frozen=True)
class Grid:
    """The treatment days of a run: ``n_saves`` saves every ``stride`` days."""

    stride: int
    n_saves: int

    @property
    def n_days(self) -> int:
        return self.stride * self.n_saves

    @property
    def save_days(self) -> NDArray[np.float64]:
        return np.arange(self.n_saves + 1, dtype=np.float64) * self.stride


def grid_for(days: float, save_every_days: float) -> Grid:
    """Saves every ``save_every_days`` (rounded to whole days) covering ``days``."""
    stride = max(1, round(save_every_days))
    return Grid(stride, max(1, math.ceil(days / stride - 1e-9)))


def run_in_steps(years: float) -> int:
    return max(1, math.ceil(years * DAYS_PER_YEAR / RUN_IN_STEP_DAYS))


def pk_arguments(reg: RegimenPK, n_days: int) -> Args:
    """The engine's PK inputs for one person."""
    return {
        "E": expm(reg.K * HOURS_PER_DAY),
        "CM": reg.plasma @ day_mean_matrix(reg.K),
        "PM": reg.portal @ day_mean_matrix(reg.K),
        "B": np.stack([line.amount for line in reg.lines])
        if reg.lines
        else np.zeros((1, reg.n_states)),
        "counts": reg.day_counts(n_days + 1),  # the last save shows its day's doses
    }
