"""Regimens: the doses a person takes together, as typed records checked at the boundary.

The formats are those of TRIAL_SPEC.md: a list of ``{agent, dose_mg, interval_h, start_day,
days_on, cycle_days, adherence}`` mappings, or the CLI's short form
``AGENT[:DOSE[@INTERVAL_H]]`` joined by ``+`` (``none`` for no treatment). sermsim also
accepts a cycle suffix, ``[dA-B/C]``: taken on days A to B (1-based) of each C-day cycle,
e.g. ``clomiphene:50[d5-9/28]``. An agent named alone is its standard regimen: standard dose
and interval, and the label's cycle where it has one (clomiphene).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from sermsim.agents.model import Agent
from sermsim.core.errors import SpecError
from sermsim.core.units import HOURS_PER_DAY

DEFAULT_INTERVAL_H = 24.0  # TRIAL_SPEC.md: interval_h defaults to 24
# Input sanity bounds (not science): a dose interval from a quarter hour to a year, a dose
# up to 10 g, a cycle up to a year. Outside them a steady state is meaningless or a typo.
MIN_INTERVAL_H = 0.25
MAX_INTERVAL_H = 8766.0
MAX_DOSE_MG = 10_000.0
MAX_CYCLE_DAYS = 366.0
_CYCLE = re.compile(r"^(?P<body>[^\[]*)\[d(?P<first>\d+)-(?P<last>\d+)/(?P<cycle>\d+)\]$")


class Dose(BaseModel):
    """One agent taken repeatedly.

    >>> Dose(agent="raloxifene", dose_mg=60).interval_h
    24.0
    """

    # strict: a YAML ``yes`` or ``"60"`` is not a dose (whole numbers are still numbers)
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    agent: str
    dose_mg: float = Field(gt=0, le=MAX_DOSE_MG, allow_inf_nan=False)
    interval_h: float = Field(
        default=DEFAULT_INTERVAL_H, ge=MIN_INTERVAL_H, le=MAX_INTERVAL_H, allow_inf_nan=False
    )
    start_day: float = Field(default=0.0, ge=0, allow_inf_nan=False)
    days_on: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    cycle_days: float | None = Field(default=None, gt=0, le=MAX_CYCLE_DAYS, allow_inf_nan=False)
    adherence: float = Field(default=1.0, ge=0, le=1, allow_inf_nan=False)

    @model_validator(mode="after")
    def _cycle_complete(self) -> Dose:
        if (self.days_on is None) != (self.cycle_days is None):
            raise ValueError("days_on and cycle_days go together: give both or neither")
        if self.days_on is not None and self.cycle_days is not None:
            if self.start_day + self.days_on > self.cycle_days:
                raise ValueError(
                    "the days taken must fit in the cycle: start_day + days_on <= cycle_days"
                )
            if self.cycle_days * HOURS_PER_DAY < self.interval_h:
                raise ValueError("interval_h must not exceed the cycle")
        return self

    @property
    def is_cyclic(self) -> bool:
        return self.cycle_days is not None


Regimen = tuple[Dose, ...]


def _key_text(part: object) -> str:
    """A key as an error shows it: as written, or quoted when blank or not printable (a key
    '\\n' must not break the one-line message)."""
    text = str(part)
    return text if text.strip() and text.isprintable() else repr(text)


def _spec_error_from(exc: ValidationError, where: str, raw: Any) -> SpecError:
    first = exc.errors()[0]
    loc = ".".join(_key_text(p) for p in first["loc"])
    field = f"{where}.{loc}" if loc else where
    value = first.get("input", raw) if loc else raw  # a whole-dose error: show what was given
    return SpecError(field, value, first["msg"].replace("Value error, ", "").lower())


def _require_agent(field: str, name: str, agents: Mapping[str, Agent]) -> Agent:
    if name not in agents:
        raise SpecError(field, name, f"use one of: {', '.join(sorted(agents))}")
    return agents[name]


def check_agents(regimen: Regimen, agents: Mapping[str, Agent], where: str = "regimen") -> None:
    """Raise :class:`SpecError` naming the first dose whose agent is unknown."""
    for i, dose in enumerate(regimen):
        _require_agent(f"{where}[{i}].agent", dose.agent, agents)


def regimen_from_list(
    items: Sequence[Mapping[str, Any]], agents: Mapping[str, Agent], where: str = "regimen"
) -> Regimen:
    """Build a regimen from the list form of TRIAL_SPEC.md."""
    if not isinstance(items, Sequence) or isinstance(items, str | bytes):
        raise SpecError(
            where, items, "give a list of doses, e.g. [{agent: raloxifene, dose_mg: 60}]"
        )
    doses = []
    for i, item in enumerate(items):
        try:
            doses.append(Dose.model_validate(item))
        except ValidationError as exc:
            raise _spec_error_from(exc, f"{where}[{i}]", item) from exc
    regimen = tuple(doses)
    check_agents(regimen, agents, where)
    return regimen


def _number(text: str, field: str, raw: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise SpecError(
            field, raw, "write a number, e.g. raloxifene:60 or clomiphene:25@48"
        ) from None
    return value


def parse_regimen(text: str, agents: Mapping[str, Agent]) -> Regimen:
    """Parse the short form ``AGENT[:DOSE[@INTERVAL_H]][[dA-B/C]]+...``; ``none`` is no
    treatment.

    An agent named alone is its standard regimen (standard dose and interval, and the label's
    cycle where it has one); ``[dA-B/C]`` takes it on days A to B of each C-day cycle.

    >>> from sermsim.agents import load_agents
    >>> (d,) = parse_regimen("clomiphene:25@48", load_agents())
    >>> (d.agent, d.dose_mg, d.interval_h)
    ('clomiphene', 25.0, 48.0)
    """
    text = text.strip()
    if text.lower() == "none":
        return ()
    if not text:
        raise SpecError("regimen", text, "give AGENT[:DOSE[@INTERVAL_H]], or none")
    doses = []
    for i, part in enumerate(text.split("+")):
        field = f"regimen[{i}]"
        part = part.strip()
        if not part:
            raise SpecError(field, text, "remove the stray '+' (it joins two doses)")
        cycle = _CYCLE.match(part)
        body = cycle.group("body") if cycle else part
        if "[" in body or "]" in body:
            raise SpecError(
                f"{field}.cycle", part, "write the cycle as [dA-B/C], e.g. clomiphene:50[d5-9/28]"
            )
        name, _, rest = body.partition(":")
        name = name.strip().lower()
        if "@" in name:
            raise SpecError(f"{field}.dose_mg", part, "give a dose before @, e.g. clomiphene:25@48")
        agent = _require_agent(f"{field}.agent", name or part, agents)
        dose_txt, _, interval_txt = rest.partition("@")
        dose = _number(dose_txt, f"{field}.dose_mg", part) if dose_txt else agent.standard_dose_mg
        interval = (
            _number(interval_txt, f"{field}.interval_h", part)
            if interval_txt
            else agent.standard_interval_h
        )
        schedule: dict[str, float] = {}
        if cycle:
            # float, not int: a day of thousands of digits is a refusal, not int()'s ValueError
            first, last = float(cycle.group("first")), float(cycle.group("last"))
            if not 1 <= first <= last:
                raise SpecError(f"{field}.cycle", part, "days run from 1, first <= last")
            schedule = {
                "start_day": first - 1.0,
                "days_on": last - first + 1.0,
                "cycle_days": float(cycle.group("cycle")),
            }
        elif not rest and agent.standard_schedule is not None:
            start, on, length = agent.standard_schedule
            schedule = {"start_day": start, "days_on": on, "cycle_days": length}
        try:
            doses.append(Dose(agent=name, dose_mg=dose, interval_h=interval, **schedule))
        except ValidationError as exc:
            raise _spec_error_from(exc, field, part) from exc
    return tuple(doses)


def regimen_key(regimen: Regimen) -> str:
    """An exact key of a regimen: every field of every dose, floats as written (repr), so two
    regimens share it only when they are the same. :func:`regimen_label` is for people: it
    rounds doses and leaves out adherence and a non-cyclic start day.

    >>> a = (Dose(agent="raloxifene", dose_mg=60),)
    >>> b = (Dose(agent="raloxifene", dose_mg=60, adherence=0.5),)
    >>> regimen_label(a) == regimen_label(b), regimen_key(a) == regimen_key(b)
    (True, False)
    """
    return json.dumps([d.model_dump() for d in regimen], sort_keys=True)


def regimen_label(regimen: Regimen) -> str:
    """The canonical short form of a regimen.

    >>> regimen_label((Dose(agent="raloxifene", dose_mg=60),))
    'raloxifene:60'
    """
    if not regimen:
        return "none"
    parts = []
    for d in regimen:
        label = f"{d.agent}:{d.dose_mg:g}"
        if d.interval_h != DEFAULT_INTERVAL_H:
            label += f"@{d.interval_h:g}"
        if d.days_on is not None and d.cycle_days is not None:
            label += f"[d{d.start_day + 1:g}-{d.start_day + d.days_on:g}/{d.cycle_days:g}]"
        parts.append(label)
    return "+".join(parts)
