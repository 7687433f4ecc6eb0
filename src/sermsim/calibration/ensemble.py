"""The parameter ensemble: sets of outcome parameters that the calibration data allow.

Method: a Bayesian posterior in the Laplace (Gaussian) approximation at the fit, per block.
With the targets' z-scores as residuals, the log-likelihood's curvature is J^T J (J = dz /
d parameter at the fit); each free parameter has a normal prior with the registry's
``prior_sd``, centred on the fit (the fit uses the data only: the prior adds curvature where
the targets leave a parameter free, never a pull). The posterior covariance is
(J^T J + diag(1 / prior_sd^2))^-1 and members are drawn from that normal, truncated to the
parameter's bounds.

Why not MCMC: one likelihood evaluation reruns the hazards of the calibration trials' 35,000
people (1-4 s), so an MCMC of the 10^4-10^5 evaluations its mixing needs would take a day; the
Laplace approximation needs one Jacobian (k + 1 evaluations per block of k parameters). Its
limits: it is exact only where z is linear in the parameters, and blocks are independent
(each is fitted to its own targets; correlations across blocks are not represented).

Only the outcome layer's parameters enter the ensemble: varying the physiology would mean
simulating every anchor again per member.
"""

from __future__ import annotations

import datetime as dt
import zlib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from sermsim.calibration.fit import BlockFit, data_sha256
from sermsim.calibration.free import Block

FloatArray = NDArray[np.float64]

MAX_REDRAWS = 1000  # a numerical setting: redraws of a member that fell outside its bounds


def posterior_covariance(jac: FloatArray, prior_sd: FloatArray) -> FloatArray:
    """(J^T J + diag(1 / prior_sd^2))^-1."""
    precision = jac.T @ jac + np.diag(1.0 / prior_sd**2)
    return np.asarray(np.linalg.inv(precision), dtype=float)


def laplace_posterior(
    fits: Sequence[BlockFit], blocks: Mapping[str, Block]
) -> dict[str, dict[str, Any]]:
    """Every fitted parameter's Laplace posterior: its fit, posterior sd and prior sd."""
    out: dict[str, dict[str, Any]] = {}
    for fit in fits:
        block = blocks[fit.block]
        sd = np.array([p.prior_sd for p in block.parameters])
        cov = posterior_covariance(np.asarray(fit.jacobian, dtype=float), sd)
        for j, p in enumerate(block.parameters):
            out[p.name] = {
                "block": block.name,
                "layer": block.layer,
                "fit": float(f"{fit.values[p.name]:.6g}"),
                "sd": float(f"{np.sqrt(cov[j, j]):.4g}"),
                "prior_sd": float(f"{p.prior_sd:.4g}"),
            }
    return out


def posterior_document(
    fits: Sequence[BlockFit], blocks: Mapping[str, Block], note: str = ""
) -> dict[str, Any]:
    """``data/calibration/posterior.yaml``'s layout: every block's Laplace posterior sd."""
    return {
        "source": (
            "sermsim calibrate: Laplace approximation of the posterior at the fit, per block "
            "(see sermsim.calibration.ensemble)"
        ),
        "verified": False,
        "note": note,
        "built": {"date": dt.date.today().isoformat(), "data_sha256": data_sha256()},
        "parameters": laplace_posterior(fits, blocks),
    }


def _draw(
    mean: FloatArray,
    cov: FloatArray,
    lower: FloatArray,
    upper: FloatArray,
    n: int,
    rng: np.random.Generator,
) -> FloatArray:
    chol = np.linalg.cholesky(cov)
    out = np.empty((n, len(mean)))
    for i in range(n):
        for _ in range(MAX_REDRAWS):
            x = mean + chol @ rng.standard_normal(len(mean))
            if np.all(x >= lower) and np.all(x <= upper):
                break
        out[i] = np.clip(x, lower, upper)
    return out


def laplace_ensemble(
    fits: Sequence[BlockFit],
    blocks: Mapping[str, Block],
    *,
    members: int,
    seed: int,
    note: str = "",
) -> dict[str, Any]:
    """The ensemble document (``data/calibration/ensemble.yaml``'s layout) from the outcome
    blocks among ``fits``."""
    names: list[str] = []
    columns: list[FloatArray] = []
    posterior: dict[str, dict[str, float]] = {}
    used: list[str] = []
    for fit in fits:
        block = blocks[fit.block]
        if block.layer != "outcomes":
            continue
        used.append(block.name)
        params = block.parameters
        jac = np.asarray(fit.jacobian, dtype=float)
        sd = np.array([p.prior_sd for p in params])
        cov = posterior_covariance(jac, sd)
        mean = np.array([fit.values[p.name] for p in params])
        lower = np.array([p.lower for p in params])
        upper = np.array([p.upper for p in params])
        rng = np.random.default_rng([seed, zlib.crc32(block.name.encode())])  # keyed by name
        draws = _draw(mean, cov, lower, upper, members, rng)
        for j, p in enumerate(params):
            names.append(p.name)
            columns.append(draws[:, j])
            posterior[p.name] = {
                "fit": float(f"{mean[j]:.6g}"),
                "sd": float(f"{np.sqrt(cov[j, j]):.4g}"),
                "prior_sd": float(f"{p.prior_sd:.4g}"),
                "member_mean": float(f"{draws[:, j].mean():.6g}"),
                "member_sd": float(f"{draws[:, j].std(ddof=1):.4g}") if members > 1 else 0.0,
            }
    matrix = np.column_stack(columns) if columns else np.zeros((members, 0))
    return {
        "source": (
            "sermsim calibrate: Laplace approximation of the posterior at the fit, per block, "
            "on the targets of data/calibration/free_parameters.yaml (from "
            "../shared/calibration/trials.yaml); see sermsim.calibration.ensemble"
        ),
        "verified": False,
        "method": "laplace",
        "note": note,
        "built": {
            "date": dt.date.today().isoformat(),
            "seed": seed,
            "members": members,
            "blocks": used,
            "data_sha256": data_sha256(),
        },
        "parameters": names,
        "posterior": posterior,
        "members": [[float(f"{v:.6g}") for v in row] for row in matrix],
    }
