"""Fitting the free parameters, block by block, with pyPESTO.

Each block is a bounded nonlinear least-squares problem on its targets' z-scores, solved by
pyPESTO's SciPy trust-region reflective optimizer (``ls_trf``). The hazards are NumPy, not
JAX, so the Jacobian is pyPESTO's forward finite difference of the residuals. Parameters are
optimized on the unit interval of their bounds (u = (value - lower) / (upper - lower)), so that
one finite-difference step and one tolerance suit parameters of every unit.

Blocks are fitted in the registry's order, physiology first: an outcome block's anchors are
simulated with the physiology this run has fitted. ``calibrate`` writes each block's result
as it finishes (``blocks/<block>.json``), so an interrupted run resumes at the block it was
in. Everything is deterministic: the objective has no random draw that changes between
evaluations (draws are keyed by seed and person), and multi-start points come from ``seed``.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from sermsim.calibration.free import Block
from sermsim.calibration.objective import BlockProblem, TargetFit, objective
from sermsim.core.errors import NumericalError
from sermsim.core.params import data_dir, data_files

FloatArray = NDArray[np.float64]
Progress = Callable[[str, float], None]

# Numerical settings of the optimizer, not science: the finite-difference step on the unit
# scale, and the tolerances at which the trust-region search stops (relative changes).
FD_STEP = 1e-3
TOLERANCE = 1e-4


@dataclass(frozen=True)
class BlockFit:
    block: str
    start: dict[str, float]
    values: dict[str, float]
    objective: float
    start_objective: float
    fits: list[TargetFit]
    jacobian: list[list[float]]  # d z / d value (targets x parameters), at the fit
    evaluations: int
    seconds: float

    def as_json(self) -> dict[str, Any]:
        return {
            "block": self.block,
            "start": self.start,
            "values": self.values,
            "objective": self.objective,
            "start_objective": self.start_objective,
            "targets": [f.as_json() for f in self.fits],
            "jacobian": self.jacobian,
            "evaluations": self.evaluations,
            "seconds": round(self.seconds, 2),
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> BlockFit:
        fits = [
            TargetFit(
                t["id"],
                t["block"],
                t["simulated"],
                t["published"],
                t["ci_low"],
                t["ci_high"],
                t["z"],
            )
            for t in raw["targets"]
        ]
        return cls(
            raw["block"],
            dict(raw["start"]),
            dict(raw["values"]),
            float(raw["objective"]),
            float(raw["start_objective"]),
            fits,
            [list(map(float, row)) for row in raw["jacobian"]],
            int(raw["evaluations"]),
            float(raw["seconds"]),
        )


def _unit(problem: BlockProblem) -> tuple[FloatArray, FloatArray]:
    lo = np.array([p.lower for p in problem.parameters])
    hi = np.array([p.upper for p in problem.parameters])
    return lo, hi


def jacobian(
    problem: BlockProblem, values: Mapping[str, float], at: Sequence[TargetFit] | None = None
) -> FloatArray:
    """d z / d value at ``values`` (targets x parameters), by forward differences of FD_STEP
    of each bound range (backward at the upper bound)."""
    fits = list(at) if at is not None else problem.evaluate(values)
    z0 = np.array([f.z for f in fits])
    out = np.zeros((len(z0), len(problem.parameters)))
    for j, p in enumerate(problem.parameters):
        h = FD_STEP * (p.upper - p.lower)
        if values[p.name] + h > p.upper:
            h = -h
        z1 = np.array([f.z for f in problem.evaluate({**values, p.name: values[p.name] + h})])
        out[:, j] = (z1 - z0) / h
    return out


def fit_block(
    problem: BlockProblem,
    start: Mapping[str, float],
    *,
    starts: int = 1,
    seed: int = 0,
    progress: Progress | None = None,
) -> BlockFit:
    """Fit one block from ``start`` (plus ``starts - 1`` more points drawn uniformly within
    the bounds with ``seed``); the best optimum wins."""
    import pypesto
    import pypesto.optimize

    started = time.perf_counter()
    names = [p.name for p in problem.parameters]
    lo, hi = _unit(problem)
    span = hi - lo
    x0 = np.clip([start[n] for n in names], lo, hi)
    first = problem.evaluations

    def residuals(u: FloatArray) -> FloatArray:
        values = dict(zip(names, (lo + span * np.asarray(u)).tolist(), strict=True))
        z = np.array([f.z for f in problem.evaluate(values)])
        if not np.all(np.isfinite(z)):
            raise NumericalError(f"calibrate: block {problem.block.name}: a target is not finite")
        if progress:
            progress(f"{problem.block.name}: evaluation {problem.evaluations - first}", 0.0)
        return z

    base = pypesto.Objective(res=residuals, x_names=names)
    fd = pypesto.objective.FD(base, sres=True, delta_res=FD_STEP, method="forward", x_names=names)
    # The given start, then points drawn uniformly within the bounds (keyed by ``seed``);
    # pyPESTO takes the guesses first, in order.
    guesses = [((x0 - lo) / span).tolist()]
    rng = np.random.default_rng(seed)
    guesses += [rng.uniform(0.0, 1.0, len(names)).tolist() for _ in range(starts - 1)]
    pproblem = pypesto.Problem(
        fd,
        lb=np.zeros(len(names)),
        ub=np.ones(len(names)),
        x_guesses=guesses,
        x_names=names,
    )
    optimizer = pypesto.optimize.ScipyOptimizer(
        method="ls_trf", tol=TOLERANCE, options={"xtol": TOLERANCE, "gtol": TOLERANCE}
    )
    start_values = dict(zip(names, x0.tolist(), strict=True))
    start_fits = problem.evaluate(start_values)
    result = pypesto.optimize.minimize(
        pproblem,
        optimizer=optimizer,
        n_starts=starts,
        progress_bar=False,
    )
    best = result.optimize_result.list[0]
    if best["x"] is None or not np.all(np.isfinite(best["x"])):
        raise NumericalError(f"calibrate: block {problem.block.name}: {best['message']}")
    values = dict(zip(names, (lo + span * np.asarray(best["x"])).tolist(), strict=True))
    fits = problem.evaluate(values)
    jac = jacobian(problem, values, at=fits)
    return BlockFit(
        problem.block.name,
        start_values,
        values,
        objective(fits),
        objective(start_fits),
        fits,
        jac.tolist(),
        problem.evaluations - first,
        time.perf_counter() - started,
    )


# Files that calibration writes or that do not enter a fit: left out of a saved block's key,
# so that rebuilding the ensemble does not discard finished blocks.
NOT_FITTED = ("calibration/ensemble.yaml", "calibration/posterior.yaml", "compare.yaml")


def data_sha256() -> str:
    """A digest of the data files a fit depends on (every shipped file but NOT_FITTED)."""
    digest = hashlib.sha256()
    root = data_dir()
    for path in data_files(root):
        name = path.relative_to(root).as_posix()
        if name not in NOT_FITTED:
            digest.update(name.encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def block_key(
    block: Block,
    start: Mapping[str, float],
    people_per_arm: int | None,
    starts: int = 1,
    seed: int = 0,
) -> str:
    """What a saved block result depends on: the block, where it started, the optimizer's
    settings and starts, the data files."""
    text = json.dumps(
        {
            "block": block.name,
            "targets": block.targets,
            "parameters": [(p.name, p.lower, p.upper) for p in block.parameters],
            "start": {k: float(f"{v:.12g}") for k, v in sorted(start.items())},
            "people_per_arm": people_per_arm,
            "starts": starts,
            "seed": seed,
            "optimizer": {"fd_step": FD_STEP, "tolerance": TOLERANCE},
            "data": data_sha256(),
        },
        sort_keys=True,
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def atomic_write(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".part")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def calibrate(
    blocks: Sequence[Block],
    start: Mapping[str, float],
    *,
    out: Path | None = None,
    people_per_arm: int | None = None,
    starts: int = 1,
    seed: int = 0,
    progress: Progress | None = None,
) -> list[BlockFit]:
    """Fit ``blocks`` in order from ``start`` (every free parameter's value); each block sees
    the values the blocks before it fitted. With ``out``, each finished block is saved and a
    later call with the same inputs takes it from there (resume)."""
    current = dict(start)
    fits: list[BlockFit] = []
    if out is not None:
        (out / "blocks").mkdir(parents=True, exist_ok=True)
    for i, block in enumerate(blocks):
        if progress:
            progress(f"{block.name} ({i + 1}/{len(blocks)})", i / len(blocks))
        problem = BlockProblem(block, base=current, people_per_arm=people_per_arm)
        block_start = {n: current[n] for n in block.names}
        key = block_key(block, current, people_per_arm, starts, seed + i)
        saved = out / "blocks" / f"{block.name}.json" if out is not None else None
        fit: BlockFit | None = None
        if saved is not None and saved.exists():
            raw = json.loads(saved.read_text(encoding="utf-8"))
            if raw.get("key") == key:
                fit = BlockFit.from_json(raw)
        if fit is None:
            done = i / len(blocks)

            def step(message: str, _fraction: float, done: float = done) -> None:
                if progress:
                    progress(message, done)

            fit = fit_block(problem, block_start, starts=starts, seed=seed + i, progress=step)
            if saved is not None:
                atomic_write(saved, json.dumps({"key": key, **fit.as_json()}, indent=1))
        current.update(fit.values)
        fits.append(fit)
    if progress:
        progress("done", 1.0)
    return fits
