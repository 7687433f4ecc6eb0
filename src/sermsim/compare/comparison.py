"""Benefit and harm for one person: every option against no treatment, per 1,000 people like her.

:func:`compare` runs a virtual trial whose every arm is ``per`` copies of the person (the
patient's keys fixed; one physiology anchor, since everyone is the same person), one arm per
option and one untreated, through the same engine, hazards and records as ``sermsim trial
run``. Each option's expected events are ``per`` times the person's exact probability of at
least one event over the horizon (death from other causes competing); their intervals are the
binomial chance among ``per`` such people (:mod:`sermsim.compare.benefit`). The spine BMD and
hot-flush measures are the trial's continuous endpoints at the horizon (the BMD interval is the
spread of a measured change, DXA precision; no other person-to-person spread is modelled for
identical people). The tissue signals and ERα occupancy behind the numbers come from the same
engine for the same person, averaged over the horizon.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from sermsim import DISCLAIMER, __version__
from sermsim.agents import Agent, regimen_label
from sermsim.agents.regimen import Regimen
from sermsim.compare.benefit import event_entry, net_benefit, z_of
from sermsim.compare.explain import explanation, option_label
from sermsim.compare.options import (
    endpoints,
    event_names,
    flags_for,
    parse_options,
    raw_compare,
    resolve_weights,
)
from sermsim.compare.sources import sources
from sermsim.core.errors import DataError, NumericalError, SpecError
from sermsim.core.params import as_param, parameters_sha256
from sermsim.outcomes.ensemble import Ensemble, default_ensemble
from sermsim.physiology.patient import Patient
from sermsim.physiology.simulate import Engine, default_engine
from sermsim.receptor.exposure import TISSUES
from sermsim.trials.population import inclusion_table
from sermsim.trials.records import AnchorPhysiology
from sermsim.trials.run import ArmOutcome, TrialOutcome, run_trial
from sermsim.trials.spec import MAX_DURATION_YEARS, parse_trial

Progress = Callable[[str, float], None]
NONE = "none"
PER = 1000  # the outputs' unit (``per_1000``); data/compare.yaml's per_people must agree
SEED = 0  # the events sampled by the trial are not reported; the expectations need no seed


@dataclass(frozen=True)
class Comparison:
    """The result of :func:`compare`: ``result`` is the JSON object; ``trial`` the virtual
    trial it came from (every arm's per-person records)."""

    result: dict[str, Any]
    trial: TrialOutcome


def _keys(regimens: Sequence[Regimen]) -> list[str]:
    """A short stable key per option: its agents joined by '+', or its full label when two
    options share agents (different doses); 'none' first, for no treatment."""
    keys = [NONE]
    for regimen in regimens:
        key = "+".join(d.agent for d in regimen)
        if key in keys:
            key = re.sub(r"[^A-Za-z0-9_.+-]", "_", regimen_label(regimen))
        keys.append(key)
    return keys


def patient_keys(patient: Patient) -> dict[str, Any]:
    """The person's resolved keys; ``None`` only where it says something (an explicit
    ``age_at_first_birth: null`` is nulliparous, not unknown)."""
    keys = patient.model_dump(exclude_none=True)
    for key in EXPLICIT_NULLS:
        if key in patient.model_fields_set and getattr(patient, key) is None:
            keys[key] = None
    return keys


# Patient keys whose explicit null means something (TRIAL_SPEC.md: ``age_at_first_birth: 26 #
# or null for nulliparous``).
EXPLICIT_NULLS = ("age_at_first_birth",)


def _population(patient: Patient, per: int) -> dict[str, Any]:
    return {**patient_keys(patient), "n_per_arm": per}


def _spec(
    patient: Patient, options: Sequence[Regimen], keys: Sequence[str], years: float, per: int
) -> dict[str, Any]:
    measures = [
        {"name": name, "at_years": years}
        for name, e in endpoints().items()
        if e.kind == "continuous" and not (name == "hot_flushes_per_day" and patient.sex == "male")
    ]
    return {
        "name": "compare",
        "seed": SEED,
        "duration_years": years,
        "population": _population(patient, per),
        "physiology_anchors": 1,
        "arms": [
            {"name": NONE, "regimen": []},
            *(
                {"name": key, "regimen": [d.model_dump(exclude_none=True) for d in r]}
                for key, r in zip(keys[1:], options, strict=True)
            ),
        ],
        "endpoints": [*event_names(), *measures],
    }


MECHANISM_OUTPUTS = tuple(f"signal:{t}" for t in TISSUES) + tuple(
    f"drug_occupancy:{t}" for t in TISSUES
)


def _mechanism(physiology: AnchorPhysiology, trial: TrialOutcome) -> list[dict[str, Any]]:
    """Mean tissue signal and ERα drug occupancy over the horizon (the outcome grid after day
    0), per option (none first), from the trial's own physiology of the person."""
    out = []
    for arm in trial.arms.values():
        run = physiology.of_arm(trial.spec.arm(arm.name))
        mean = {k: float(np.mean(run[k][0, 1:])) for k in MECHANISM_OUTPUTS}
        for k, v in mean.items():
            if not math.isfinite(v):
                raise NumericalError(f"compare: {k} is not finite; please report")
        out.append(
            {
                "signals": {t: round(mean[f"signal:{t}"], 4) for t in TISSUES},
                "occupancy": {t: round(mean[f"drug_occupancy:{t}"], 4) for t in TISSUES},
            }
        )
    return out


def compare(
    patient: Patient,
    *,
    years: float = 5.0,
    options: Sequence[str] | str | None = None,
    weights: Mapping[str, Any] | None = None,
    agents: Mapping[str, Agent] | None = None,
    engine: Engine | None = None,
    progress: Progress | None = None,
    parameter_uncertainty: bool = True,
    ensemble: Ensemble | None = None,
) -> Comparison:
    """Every option against no treatment for one person over ``years``.

    ``options``: regimen short forms (or one comma-separated string; None: the defaults of
    ``data/compare.yaml``); ``weights``: endpoint -> weight in the net-benefit index,
    overriding the defaults. Unsuitable options are computed and flagged, never dropped.
    With ``parameter_uncertainty`` the intervals also carry the spread of the parameter
    ensemble (``ensemble``, default: the shipped one): each member reruns the hazards of one
    copy of the person (the copies are identical, so one gives the expectation).

    >>> from sermsim.physiology.patient import Patient
    >>> c = compare(Patient(sex="female", age=60), years=1, options="raloxifene")
    >>> [o["key"] for o in c.result["options"]], c.result["per"]
    (['none', 'raloxifene'], 1000)
    """
    started = time.perf_counter()
    if isinstance(years, bool) or not isinstance(years, int | float):
        raise SpecError("years", years, f"give a number of years in (0, {MAX_DURATION_YEARS:g}]")
    if not (math.isfinite(years) and 0.0 < years <= MAX_DURATION_YEARS):
        raise SpecError("years", years, f"give a number of years in (0, {MAX_DURATION_YEARS:g}]")
    engine = engine or default_engine()
    agents = agents or engine.agents
    regimens = parse_options(options, agents)
    w = resolve_weights(weights)
    raw = raw_compare()
    per = int(as_param(raw["per_people"], "compare.per_people").value)
    if per != PER:  # the JSON's keys and the words say "per 1,000"
        raise DataError(f"compare.yaml: per_people is {per}; the outputs are per {PER:,}")
    level = as_param(raw["interval_level"], "compare.interval_level").value

    keys = _keys(regimens)
    spec = parse_trial(_spec(patient, regimens, keys, float(years), per), agents)
    cache: dict[str, Any] = {}
    if parameter_uncertainty and ensemble is None:
        ensemble = default_ensemble()
    trial = run_trial(
        spec,
        engine=engine,
        progress=progress,
        physiology_cache=cache,
        physiology_outputs=MECHANISM_OUTPUTS,
        ensemble=ensemble if parameter_uncertainty else None,
        ensemble_people=1,
    )
    mechanism = _mechanism(cache["physiology"], trial)

    arms = list(trial.arms.values())
    person = {k: v[:1] for k, v in inclusion_table(arms[0].population.columns).items()}
    events = event_names()
    probs = [{e: float(arm.expected[e].mean()) for e in events} for arm in arms]
    for pr in probs:
        for e, value in pr.items():
            if not (math.isfinite(value) and 0.0 <= value <= 1.0):
                raise NumericalError(f"compare: the probability of {e} is {value!r}; please report")
    spread = trial.spread
    members = [
        {e: spread.expected[arm.name][e] for e in events} if spread is not None else None
        for arm in arms
    ]
    result_options = []
    for i, (arm, regimen) in enumerate(zip(arms, [(), *regimens], strict=True)):
        first = i == 0
        mine, p0 = probs[i], probs[0]
        m_i, m_0 = members[i], members[0]
        ev = {
            e: event_entry(
                mine[e],
                None if first else p0[e],
                per,
                level,
                None if m_i is None else m_i[e],
                None if m_0 is None else m_0[e],
            )
            for e in events
        }
        cont = _continuous(arm, arms[0], first, level)
        flags = [] if first else flags_for(regimen, person, agents)
        option = {
            "key": keys[i],
            "label": option_label(regimen, agents),
            "regimen": regimen_label(regimen),
            "suitable": not any(f["level"] == "contraindicated" for f in flags),
            "flags": flags,
            "events": ev,
            "continuous": cont,
            "net_benefit": None if first else net_benefit(mine, p0, w, per, level, m_i, m_0),
            **mechanism[i],
        }
        result_options.append(option)
    for option in result_options:
        option["explanation"] = explanation(option, result_options[0], patient, float(years))

    interval_note = (
        f"{level:.0%} interval of the number of events among {per:,} people like this one "
        "(binomial chance); differences and the net-benefit index compare two independent "
        f"groups of {per:,}. For spine BMD, the spread of a measured change (DXA precision); "
        "hot flushes have no person-to-person spread in the model, so their interval is the "
        "value itself. "
        + (
            f"Event counts, differences and the index also carry parameter uncertainty: the "
            f"spread over {len(spread.ensemble)} members of the calibrated parameter ensemble "
            f"({spread.ensemble.method}; outcome-layer hazard links; the physiology is not "
            "varied)."
            if spread is not None
            else "Parameter uncertainty is not included: the intervals are sampling only."
        )
    )
    result = {
        "patient": patient_keys(patient),
        "years": float(years),
        "per": per,
        "interval": {
            "level": level,
            "sources": ["sampling", "parameters"] if spread is not None else ["sampling"],
            "note": interval_note,
            **({"ensemble": spread.ensemble.describe()} if spread is not None else {}),
        },
        "weights": w,
        "weights_source": " ".join(str(raw["weights_source"]).split()),
        "endpoints": {
            name: {
                "label": e.label,
                "kind": e.kind,
                **({"severity": e.severity} if e.kind == "event" else {"unit": e.unit}),
                "tissue": e.tissue,
            }
            for name, e in endpoints().items()
        },
        "tissues": list(TISSUES),
        "options": result_options,
        "sources": sources(regimens, agents),
        "provenance": {
            "sermsim_version": __version__,
            "parameters_sha256": parameters_sha256(),
            "seed": SEED,
            "physiology_anchors": 1,
            "seconds": round(time.perf_counter() - started, 2),
        },
        "disclaimer": DISCLAIMER,
    }
    return Comparison(result, trial)


def _continuous(arm: ArmOutcome, none: ArmOutcome, first: bool, level: float) -> dict[str, Any]:
    out: dict[str, Any] = {}
    tail = 100.0 * (1.0 - level) / 2.0
    for key, (values, base) in arm.continuous.items():
        name = key.split("@", 1)[0]
        ok = values[np.isfinite(values)]
        if len(ok) == 0:
            continue
        mean = float(ok.mean())
        entry: dict[str, Any] = {
            "mean": round(mean, 3),
            "low": round(float(np.percentile(ok, tail)), 3),
            "high": round(float(np.percentile(ok, 100.0 - tail)), 3),
        }
        if name == "hot_flushes_per_day":
            b = float(np.nanmean(base))
            entry["baseline"] = round(b, 3)
            entry["change"] = round(mean - b, 3)
        if not first:
            ref = none.continuous[key][0]
            ref = ref[np.isfinite(ref)]
            d = mean - float(ref.mean())
            half = z_of(level) * math.sqrt(float(np.var(ok)) + float(np.var(ref)))
            entry["vs_none"] = {
                "difference": round(d, 3),
                "low": round(d - half, 3),
                "high": round(d + half, 3),
            }
        out[name] = entry
    return out
