"""Tissue signals over time: the regimen's PK simulated dose by dose (missed doses, start and
stop days, cycles), through exposure and binding to each tissue's signal. This is what the
physiology layer integrates; at long times it settles to the steady state of the profile.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from sermsim.agents.model import Agent
from sermsim.agents.regimen import Regimen
from sermsim.pk.model import EnzymeActivity, build_pk
from sermsim.pk.solve import dose_times, doses_taken, simulate
from sermsim.receptor.exposure import TISSUES
from sermsim.selectivity.profile import Context


@dataclass(frozen=True)
class SignalTimecourse:
    times_h: NDArray[np.float64]  # (N,)
    plasma_nM: dict[str, NDArray[np.float64]]  # moiety -> (N,)
    signal: NDArray[np.float64]  # (N, T) over TISSUES
    drug_occupancy: NDArray[np.float64]  # (N, T) ERα held by the regimen's moieties

    def tissue(self, name: str) -> NDArray[np.float64]:
        return self.signal[:, TISSUES.index(name)]


def signal_timecourse(
    regimen: Regimen,
    agents: Mapping[str, Agent],
    *,
    estradiol_pg_ml: float,
    t_end_h: float,
    step_h: float = 1.0,
    activity: EnzymeActivity | None = None,
    rng: np.random.Generator | None = None,
    context: Context | None = None,
) -> SignalTimecourse:
    """Tissue signals on the grid ``0, step_h, ... < t_end_h`` for a regimen started at time 0.

    Doses are taken as scheduled; with ``adherence`` below 1 each dose is taken or missed
    by a draw from ``rng`` (required then, so runs are reproducible). Estradiol is held at
    ``estradiol_pg_ml`` (no HPG feedback at this layer).

    >>> from sermsim.agents import load_agents, parse_regimen
    >>> agents = load_agents()
    >>> tc = signal_timecourse(parse_regimen("raloxifene", agents), agents,
    ...                        estradiol_pg_ml=5.0, t_end_h=24 * 14.0, step_h=24.0)
    >>> bool(tc.tissue("breast")[-1] < tc.tissue("breast")[0])
    True
    """
    ctx = context or Context.load(agents)
    plasma: dict[str, NDArray[np.float64]] = {}
    grid: NDArray[np.float64] = np.arange(0.0, t_end_h, step_h)
    for d in regimen:
        times = dose_times(d, t_end_h)
        if d.adherence < 1.0:
            if rng is None:
                raise ValueError("adherence below 1 needs an rng for the missed doses")
            times = times[doses_taken(len(times), d.adherence, rng)]
        pk = build_pk(agents[d.agent], activity)
        grid, states = simulate(pk, times, np.full(len(times), d.dose_mg), t_end_h, step_h)
        for moiety, conc in zip(pk.moieties, pk.concentrations(states).T, strict=True):
            plasma[moiety] = plasma.get(moiety, 0.0) + conc
    sig, occ = ctx.signal_series(plasma, estradiol_pg_ml, len(grid))
    return SignalTimecourse(grid, plasma, sig, occ)
