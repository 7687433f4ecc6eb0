"""The tissue-selectivity profile of a regimen: `sermsim profile`.

For each tissue: the intrinsic activity (signal when the regimen's moieties, in their
steady-state proportions, saturate the receptors and no endogenous estradiol is present), and
the steady-state net change in signal the regimen causes in a typical postmenopausal and a
typical premenopausal woman, with endogenous estradiol held at the life-stage value (no HPG
feedback here), averaged over the dosing interval (for a drug taken on some days of each
cycle, over those days at the cyclic steady state). Each net change is labelled agonist,
antagonist or neutral against one band from ``data/profile.yaml``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Literal

import jax
import jax.numpy as jnp
import numpy as np
from numpy.typing import NDArray

from sermsim.agents.model import Agent
from sermsim.agents.regimen import Dose, Regimen, parse_regimen, regimen_label
from sermsim.core.errors import NumericalError, SpecError
from sermsim.core.params import as_param, data_dir, load_yaml
from sermsim.core.units import HOURS_PER_DAY
from sermsim.pk.model import EnzymeActivity, build_pk
from sermsim.pk.solve import GRID_TOLERANCE_H, cyclic_steady_state, dose_times
from sermsim.receptor.binding import occupancy, saturating_shares
from sermsim.receptor.exposure import (
    LIFE_STAGES,
    TISSUES,
    TissueExposure,
    endogenous_estradiol_pg_ml,
    plasma_vector,
    site_concentrations,
    tissue_exposure,
)
from sermsim.receptor.ligands import LigandSet, ligand_set
from sermsim.selectivity.signal import TissueParams, tissue_params, tissue_signal

Action = Literal["agonist", "antagonist", "neutral"]
PROFILE_STAGES: tuple[str, str] = ("postmenopausal", "premenopausal")
POINTS_PER_PERIOD = 96  # time points over one steady-state period (midpoint rule)
MAX_PERIOD_H = 366 * HOURS_PER_DAY  # a common dosing period beyond a year is refused


@dataclass(frozen=True)
class TissueProfile:
    intrinsic_activity: float
    net_change: dict[str, float]
    action: dict[str, Action]
    baseline_signal: dict[str, float]  # estradiol alone, per life stage
    # mean fraction of ERα held by the regimen's moieties other than estradiol (exogenous
    # estradiol cannot be told apart from endogenous: it is the same ligand)
    drug_occupancy: dict[str, float]


@dataclass(frozen=True)
class Profile:
    agent: str
    regimen: str
    tissues: dict[str, TissueProfile]
    plasma_nM: dict[str, float] = field(default_factory=dict)  # interval-average, by moiety

    def to_dict(self) -> dict[str, Any]:
        """The JSON form of ``schemas/profile.schema.json`` (with a few extra keys)."""
        return {
            "agent": self.agent,
            "regimen": self.regimen,
            "tissues": {
                t: {
                    "intrinsic_activity": round(p.intrinsic_activity, 4),
                    "net_change": {k: round(v, 4) for k, v in p.net_change.items()},
                    "action": dict(p.action),
                    "baseline_signal": {k: round(v, 4) for k, v in p.baseline_signal.items()},
                    "drug_occupancy_er_alpha": {
                        k: round(v, 4) for k, v in p.drug_occupancy.items()
                    },
                }
                for t, p in self.tissues.items()
            },
            "plasma_nM": {k: round(v, 6) for k, v in self.plasma_nM.items()},
        }


def neutral_band() -> float:
    """The half-width of the neutral band, from ``data/profile.yaml``."""
    raw = load_yaml(data_dir() / "profile.yaml")["neutral_band"]
    return as_param(raw, "profile.neutral_band").value


def standard_regimens(agents: Mapping[str, Agent]) -> list[Regimen]:
    """Every agent alone at its standard dose, then the combinations of ``data/profile.yaml``.

    >>> from sermsim.agents import load_agents
    >>> [regimen_label(r) for r in standard_regimens(load_agents())][-1]
    'conjugated_estrogens:0.45+bazedoxifene:20'
    """
    singles = [parse_regimen(agent_id, agents) for agent_id in sorted(agents)]
    combos = load_yaml(data_dir() / "profile.yaml")["combinations"]
    return singles + [parse_regimen(c["regimen"], agents) for c in combos]


def classify(net_change: float, band: float) -> Action:
    """Label a net change in tissue signal.

    >>> classify(0.12, 0.05), classify(-0.2, 0.05), classify(0.01, 0.05)
    ('agonist', 'antagonist', 'neutral')
    """
    if net_change > band:
        return "agonist"
    if net_change < -band:
        return "antagonist"
    return "neutral"


def _period_of(dose: Dose) -> Fraction:
    hours = dose.cycle_days * HOURS_PER_DAY if dose.cycle_days is not None else dose.interval_h
    return Fraction(hours).limit_denominator(1000)


def steady_state_period_h(regimen: Regimen) -> float:
    """The common period of a regimen's doses: the least common multiple of each dose's
    interval, or its cycle length if it is taken on some days of each cycle.

    >>> from sermsim.agents import Dose
    >>> steady_state_period_h((Dose(agent="a", dose_mg=1), Dose(agent="b", dose_mg=1,
    ...                        interval_h=36)))
    72.0
    """
    fractions = [_period_of(d) for d in regimen]
    num = math.lcm(*(f.numerator for f in fractions))
    den = math.gcd(*(f.denominator for f in fractions))
    return float(Fraction(num, den))


def evaluation_window_h(regimen: Regimen) -> tuple[float, float]:
    """Where within the period the steady state is averaged: the whole period, or, for a
    regimen taken on some days of each cycle, the days its first cyclic dose is taken."""
    for d in regimen:
        if d.days_on is not None:
            return d.start_day * HOURS_PER_DAY, (d.start_day + d.days_on) * HOURS_PER_DAY
    return 0.0, steady_state_period_h(regimen)


def _times_in_period(dose: Dose, period_h: float) -> NDArray[np.float64]:
    """A dose's times within one steady-state period: its cycle's days, or its interval
    shifted by its start (only the phase of a continuous dose matters at steady state)."""
    if dose.is_cyclic:
        return dose_times(dose, period_h)
    phase = (dose.start_day * HOURS_PER_DAY) % dose.interval_h
    return np.arange(phase, period_h - GRID_TOLERANCE_H, dose.interval_h)


def steady_state_plasma(
    regimen: Regimen,
    agents: Mapping[str, Agent],
    *,
    activity: EnzymeActivity | None = None,
    points: int = POINTS_PER_PERIOD,
) -> dict[str, NDArray[np.float64]]:
    """Total plasma concentrations (nM) of every moiety at ``points`` evenly spaced times of
    the steady-state evaluation window (:func:`evaluation_window_h`); moieties shared between
    doses add up. Adherence scales each dose (its expected value).

    The regimen's dosing pattern over one common period is taken as repeated forever
    (:func:`~sermsim.pk.cyclic_steady_state`): zuclomiphene accumulating over cycles, say.
    """
    if not regimen:
        return {}
    period = steady_state_period_h(regimen)
    if period > MAX_PERIOD_H:
        raise SpecError(
            "regimen",
            regimen_label(regimen),
            "the doses' intervals share no period within a year; use whole-hour intervals",
        )
    lo, hi = evaluation_window_h(regimen)
    s = lo + (np.arange(points) + 0.5) * (hi - lo) / points
    out: dict[str, NDArray[np.float64]] = {}
    for d in regimen:
        pk = build_pk(agents[d.agent], activity)
        times = _times_in_period(d, period)
        states = cyclic_steady_state(
            pk, times, np.full(len(times), d.dose_mg * d.adherence), period, s
        )
        for moiety, conc in zip(pk.moieties, pk.concentrations(states).T, strict=True):
            out[moiety] = out.get(moiety, 0.0) + conc
    return out


def _signal(
    ligands: LigandSet,
    plasma: NDArray[np.float64],
    exposure: TissueExposure,
    tissues: TissueParams,
    *,
    saturate: bool = False,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    site = jnp.asarray(site_concentrations(ligands, plasma, exposure))
    kd = jnp.asarray(ligands.kd)
    occ = _shares(site, kd) if saturate else _occupancy(site, kd)
    sig = tissue_signal(
        occ, jnp.asarray(ligands.coactivator), jnp.asarray(ligands.corepressor), tissues
    )
    return np.asarray(sig), np.asarray(occ)


@jax.jit
def _occupancy(site: jax.Array, kd: jax.Array) -> jax.Array:
    return occupancy(site, kd)


@jax.jit
def _shares(site: jax.Array, kd: jax.Array) -> jax.Array:
    # No ligand at all (a regimen without an ER binder): every share is 0, not 0/0.
    return jnp.nan_to_num(saturating_shares(site, kd))


@dataclass(frozen=True)
class Context:
    """What every profile computation shares, read once: the ligand set, the tissue
    exposure and selectivity parameters, and the typical estradiol of each life stage."""

    ligands: LigandSet
    exposure: TissueExposure
    tissues: TissueParams
    stage_estradiol_pg_ml: Mapping[str, float]

    @classmethod
    def load(cls, agents: Mapping[str, Agent]) -> Context:
        # Every agent's moieties, so that all regimens share one set of array shapes (one
        # compile); a moiety a regimen does not contain simply has zero concentration.
        return cls(
            ligand_set(agents, sorted(agents)),
            tissue_exposure(),
            tissue_params(),
            {s: endogenous_estradiol_pg_ml(s) for s in LIFE_STAGES},
        )

    def signal_series(
        self, drug: Mapping[str, NDArray[np.float64]], estradiol_pg_ml: float, n: int = 1
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Signal (N, T) and ERα occupancy by the regimen's non-estradiol moieties (N, T) at
        each time point of ``drug`` (moiety -> (N,) nM; empty: estradiol alone, ``n`` rows)."""
        plasma = plasma_vector(self.ligands, estradiol_pg_ml, drug)
        if not drug:
            plasma = np.broadcast_to(plasma, (n, self.ligands.n))
        sig, occ = _signal(self.ligands, plasma, self.exposure, self.tissues)
        return sig, occ[..., 1:, 0].sum(axis=-1)

    def estradiol_signal(self, estradiol_pg_ml: float) -> NDArray[np.float64]:
        """Signal (T,) with estradiol alone at a plasma level."""
        return self.signal_series({}, estradiol_pg_ml)[0][0]

    def regimen_signal(
        self, drug: Mapping[str, NDArray[np.float64]], estradiol_pg_ml: float
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Interval-mean signal (T,) and ERα occupancy by the regimen's moieties (T,), with
        the regimen's concentrations over one period and estradiol at a plasma level."""
        sig, occ = self.signal_series(drug, estradiol_pg_ml)
        return sig.mean(axis=0), occ.mean(axis=0)

    def intrinsic_activity(self, drug: Mapping[str, NDArray[np.float64]]) -> NDArray[np.float64]:
        """Signal (T,) with the regimen's moieties, in their interval-mean proportions,
        saturating the receptors, and no estradiol from plasma or from the tissue."""
        no_local = TissueExposure(
            self.exposure.estradiol_uptake, np.zeros_like(self.exposure.estradiol_local_nM)
        )
        mean_drug = plasma_vector(self.ligands, 0.0, drug).mean(axis=0)
        ia, _ = _signal(self.ligands, mean_drug, no_local, self.tissues, saturate=True)
        return ia


def profile_regimen(
    regimen: Regimen,
    agents: Mapping[str, Agent],
    *,
    context: Context | None = None,
    band: float | None = None,
) -> Profile:
    """The tissue-selectivity profile of ``regimen`` (see the module docstring).

    >>> from sermsim.agents import load_agents, parse_regimen
    >>> agents = load_agents()
    >>> p = profile_regimen(parse_regimen("raloxifene", agents), agents)
    >>> p.tissues["breast"].action["postmenopausal"]
    'antagonist'
    """
    if not regimen:
        raise SpecError("regimen", "none", "give at least one agent to profile")
    ctx = context or Context.load(agents)
    band = neutral_band() if band is None else band
    drug = steady_state_plasma(regimen, agents)
    ia = ctx.intrinsic_activity(drug)
    net: dict[str, NDArray[np.float64]] = {}
    base: dict[str, NDArray[np.float64]] = {}
    occ_drug: dict[str, NDArray[np.float64]] = {}
    for stage in PROFILE_STAGES:
        e2 = ctx.stage_estradiol_pg_ml[stage]
        with_drug, occ_drug[stage] = ctx.regimen_signal(drug, e2)
        base[stage] = ctx.estradiol_signal(e2)
        net[stage] = with_drug - base[stage]

    values = np.concatenate([ia, *net.values(), *base.values(), *occ_drug.values()])
    if not np.all(np.isfinite(values)):
        raise NumericalError(
            f"profile of {regimen_label(regimen)}: a tissue signal is not finite; please report"
        )
    out = {}
    for i, t in enumerate(TISSUES):
        out[t] = TissueProfile(
            intrinsic_activity=float(ia[i]),
            net_change={s: float(net[s][i]) for s in PROFILE_STAGES},
            action={s: classify(float(net[s][i]), band) for s in PROFILE_STAGES},
            baseline_signal={s: float(base[s][i]) for s in PROFILE_STAGES},
            drug_occupancy={s: float(occ_drug[s][i]) for s in PROFILE_STAGES},
        )
    label = regimen_label(regimen)
    agent = regimen[0].agent if len(regimen) == 1 else label
    plasma_mean = {m: float(np.mean(c)) for m, c in drug.items()}
    return Profile(agent=agent, regimen=label, tissues=out, plasma_nM=plasma_mean)


def profile_all(
    agents: Mapping[str, Agent], *, on_each: Callable[[str], None] | None = None
) -> list[Profile]:
    """The profile of every standard regimen (:func:`standard_regimens`), in order.

    ``on_each`` is called with each regimen's label before it is computed (a progress hook).
    """
    context, band = Context.load(agents), neutral_band()
    out = []
    for regimen in standard_regimens(agents):
        if on_each is not None:
            on_each(regimen_label(regimen))
        out.append(profile_regimen(regimen, agents, context=context, band=band))
    return out
