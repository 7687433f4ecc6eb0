"""A regimen's pharmacokinetics as one linear system, with its doses on the engine's time grid.

Every dose line of a regimen is a linear compartment system (``pk.model.LinearPK``: a gut depot
and the moieties it forms); the regimen stacks them block-diagonally, ``dx/dt = K x`` (per
hour), with each dose adding ``b`` to its depot. What the physiology sees is linear in ``x``:

* the total plasma concentration of each ligand, ``C x`` (nM);
* the extra concentration of the liver's inflow during absorption (first pass), ``P x``: the
  absorption flux ``ka * depot / F`` of the dosed moiety, times the fraction of the dose that
  enters the portal blood (``physiology.yaml: first_pass``), mixed into hepatic blood flow.

**Daily means.** The tissues answer to the day's mean exposure (their time constants are a
day or more; the model's selectivity and physiology were calibrated on daily means). The
doses of a day are counted at its start, and the day's mean state is linear in the state just
after them: ``mean = M x(d+)`` with ``M = (expm(K T) - I) (K T)^-1`` over the day ``T``
(:func:`day_mean_matrix`). At steady state the daily mean does not depend on the hour of the
dose; counting it at the day's start moves a dose by less than a day in the first days of a
regimen. The SBML export states the same model: a dose event at each day's start and the
day's mean as rules of a snapshot taken there. Doses missed at random (adherence below 1) are
drawn per scheduled dose from a generator keyed by (the caller's seed, the dose line): the
i-th scheduled dose of a line takes that line's i-th draw, so the doses taken do not depend on
the horizon, the stop day or what the other lines are.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.linalg import expm

from sermsim.agents.regimen import Regimen
from sermsim.core.units import HOURS_PER_DAY, mg_to_nmol
from sermsim.physiology.parameters import portal_fractions
from sermsim.pk.model import build_pk, cyp2d6_activity
from sermsim.pk.solve import GRID_TOLERANCE_H, dose_times, doses_taken


@dataclass(frozen=True)
class DoseLine:
    """Where one dose line's doses go and when (as step indices)."""

    agent: str
    depot: int  # index of its depot in the regimen's state
    amount: NDArray[np.float64]  # (n,) state increment of one dose, nmol
    steps: NDArray[np.int64]  # the day of every dose taken, sorted (repeats: two that day)


@dataclass(frozen=True)
class RegimenPK:
    """One person's regimen as a linear system (per hour), and the doses she takes."""

    K: NDArray[np.float64]  # (n, n) 1/h
    plasma: NDArray[np.float64]  # (L, n) total plasma concentration per ligand = plasma @ x
    portal: NDArray[np.float64]  # (L, n) extra liver-inflow concentration = portal @ x
    lines: tuple[DoseLine, ...]
    names: tuple[str, ...]  # (n,) state names, for the SBML export

    @property
    def n_states(self) -> int:
        return int(self.K.shape[0])

    def day_counts(self, n_days: int) -> NDArray[np.uint8]:
        """(lines, n_days) how many doses of each line are taken at the start of each day."""
        counts = np.zeros((max(1, len(self.lines)), n_days), dtype=np.uint8)
        for i, line in enumerate(self.lines):
            np.add.at(counts[i], line.steps[line.steps < n_days], 1)
        return counts


def day_mean_matrix(K: NDArray[np.float64], day_h: float = HOURS_PER_DAY) -> NDArray[np.float64]:
    """``M`` with ``mean over [0, T] of x(s) = M x(0)`` for ``dx/dt = K x`` (K per hour):
    ``(1/T) integral expm(K s) ds``, from the augmented exponential (Van Loan), which needs no
    inverse of ``K``.

    >>> import numpy as np
    >>> float(day_mean_matrix(np.array([[-np.log(2) / 24.0]]))[0, 0])  # a half-life of a day
    0.7213475204444817
    """
    n = K.shape[0]
    aug = np.zeros((2 * n, 2 * n))
    aug[:n, :n] = K * day_h
    aug[:n, n:] = np.eye(n)
    return np.asarray(expm(aug)[:n, n:])


EMPTY_STATES = 1  # a regimen without drug keeps one inert state: every shape stays non-empty


def regimen_pk(
    regimen: Regimen,
    agents: object,
    ligand_ids: tuple[str, ...],
    hepatic_flow_l_h: float,
    n_days: int,
    *,
    cyp2d6: str = "normal",
    seed: int = 0,
    stop_day: float | None = None,
) -> RegimenPK:
    """Stack the regimen's dose lines; count their doses per day over ``n_days`` (none from
    ``stop_day`` on)."""
    activity = cyp2d6_activity(cyp2d6)
    fractions = portal_fractions()
    blocks: list[NDArray[np.float64]] = []
    names: list[str] = []
    plasma_cols: list[NDArray[np.float64]] = []
    portal_cols: list[NDArray[np.float64]] = []
    lines: list[DoseLine] = []
    offset = 0
    n_lig = len(ligand_ids)
    end_h = n_days * HOURS_PER_DAY
    for k, d in enumerate(regimen):
        agent = agents[d.agent]  # type: ignore[index]
        pk = build_pk(agent, activity)
        n = pk.n_states
        blocks.append(pk.K)
        names.extend([f"d{k}_depot", *(f"d{k}_{m}" for m in pk.moieties)])
        c = np.zeros((n_lig, n))
        q = np.zeros((n_lig, n))
        for j, moiety in enumerate(pk.moieties):
            if moiety in ligand_ids:
                c[ligand_ids.index(moiety), j + 1] = 1.0 / pk.volumes[j]
        per_nmol = fractions.get(d.agent, 0.0) / pk.bioavailability / hepatic_flow_l_h
        for moiety, fraction in agent.administered:
            if moiety in ligand_ids:
                q[ligand_ids.index(moiety), 0] += agent.ka * fraction * per_nmol
        plasma_cols.append(c)
        portal_cols.append(q)
        times = dose_times(d, end_h)
        if d.adherence < 1.0:  # the i-th scheduled dose of a line takes its line's i-th draw
            line_rng = np.random.default_rng([seed, k])
            times = times[doses_taken(len(times), d.adherence, line_rng)]
        if stop_day is not None:
            times = times[times < stop_day * HOURS_PER_DAY]
        steps = np.floor(times / HOURS_PER_DAY + GRID_TOLERANCE_H).astype(np.int64)
        amount = np.zeros(n)
        amount[0] = pk.bioavailability * mg_to_nmol(d.dose_mg, agent.dose_molecular_weight)
        lines.append(DoseLine(d.agent, offset, amount, np.sort(steps)))
        offset += n
    if not blocks:
        return RegimenPK(
            -np.eye(EMPTY_STATES),
            np.zeros((n_lig, EMPTY_STATES)),
            np.zeros((n_lig, EMPTY_STATES)),
            (),
            ("inert",),
        )
    size = sum(b.shape[0] for b in blocks)
    K = np.zeros((size, size))
    i = 0
    padded_lines = []
    for b, line in zip(blocks, lines, strict=True):
        n = b.shape[0]
        K[i : i + n, i : i + n] = b
        amount = np.zeros(size)
        amount[i : i + n] = line.amount
        padded_lines.append(DoseLine(line.agent, i, amount, line.steps))
        i += n
    return RegimenPK(
        K,
        np.concatenate(plasma_cols, axis=1),
        np.concatenate(portal_cols, axis=1),
        tuple(padded_lines),
        tuple(names),
    )
