"""What `sermsim compare` compares (``data/compare.yaml``): the options, the endpoints and their
weights in the net-benefit index, and the rules that flag an option that does not suit a person.

The rules are data, each with its source: a condition over the patient keys (the trial
inclusion language, parsed, never eval'd), the agents or agent class it concerns, a level
(``contraindicated`` marks the option unsuitable; ``caution`` only shows the reason) and the
reason in words. An unsuitable option is still computed and shown, with its flags.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

import numpy as np

from sermsim.agents import Agent, parse_regimen, regimen_label
from sermsim.agents.regimen import Regimen
from sermsim.core.errors import DataError, SpecError
from sermsim.core.params import as_param, data_dir, load_yaml
from sermsim.trials.inclusion import Condition, parse_condition
from sermsim.trials.population import PATIENT_TABLE_KEYS

Level = Literal["contraindicated", "caution"]
LEVELS: tuple[Level, ...] = ("contraindicated", "caution")


@lru_cache(maxsize=1)
def raw_compare() -> dict[str, Any]:
    return load_yaml(data_dir() / "compare.yaml")


@dataclass(frozen=True)
class EndpointInfo:
    """One compared endpoint: its label, class in the index and the tissue behind it."""

    name: str
    label: str
    kind: Literal["event", "continuous"]
    severity: str | None  # events: life-threatening | severe | other
    tissue: str | None
    unit: str | None = None


@dataclass(frozen=True)
class Rule:
    """One suitability rule of ``data/compare.yaml``."""

    id: str
    agents: frozenset[str]
    agent_class: str | None
    unless_agents: frozenset[str]
    unless_agent_class: str | None
    when_text: str
    when: Condition
    level: Level
    reason: str
    source: str
    verified: bool

    def concerns(self, regimen: Regimen, agents: Mapping[str, Agent]) -> bool:
        """Whether the rule is about this regimen: it holds an agent of ``agents`` (when
        given) and one of ``agent_class`` (when given; both must hold when both are given), and
        none of ``unless_agents`` nor of ``unless_agent_class``."""
        ids = {d.agent for d in regimen}
        classes = {agents[i].agent_class for i in ids}
        if self.agents and not ids & self.agents:
            return False
        if self.agent_class is not None and self.agent_class not in classes:
            return False
        if ids & self.unless_agents:
            return False
        return self.unless_agent_class is None or self.unless_agent_class not in classes

    def flag(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "level": self.level,
            "reason": self.reason,
            "source": self.source,
            "verified": self.verified,
        }


def endpoints() -> dict[str, EndpointInfo]:
    """Every compared endpoint, events first (in the data file's order)."""
    raw = raw_compare()
    out = {
        name: EndpointInfo(name, e["label"], "event", e["severity"], e.get("tissue"))
        for name, e in raw["endpoints"].items()
    }
    for name, m in raw["measures"].items():
        out[name] = EndpointInfo(name, m["label"], "continuous", None, m.get("tissue"), m["unit"])
    return out


def event_names() -> tuple[str, ...]:
    return tuple(n for n, e in endpoints().items() if e.kind == "event")


def default_weights() -> dict[str, float]:
    """Each event's weight in the net-benefit index: its severity class's weight.

    >>> w = default_weights()
    >>> w["invasive_breast_cancer"], w["dvt"], w["cataract"]
    (1.0, 0.5, 0.0)
    """
    raw = raw_compare()["severity_weights"]
    by_class = {k: as_param(v, f"compare.severity_weights.{k}").value for k, v in raw.items()}
    out = {}
    for name, e in endpoints().items():
        if e.kind == "event" and e.severity is not None:
            if e.severity not in by_class:
                raise DataError(f"compare.yaml: endpoint {name}: unknown severity {e.severity!r}")
            out[name] = by_class[e.severity]
    return out


def resolve_weights(overrides: Mapping[str, Any] | None) -> dict[str, float]:
    """The default weights with the user's overrides (``weights.<endpoint>``), checked."""
    weights = default_weights()
    for name, value in (overrides or {}).items():
        field = f"weights.{name}"
        if name not in weights:
            parts = endpoints().get(name)
            if parts is not None and parts.severity is None and parts.kind == "event":
                fix = "it is the sum of two weighed events: weigh dvt and pulmonary_embolism"
            else:
                fix = f"weigh one of {', '.join(weights)}"
            raise SpecError(field, _short(value), fix)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise SpecError(field, value, "give a number from 0 to 10")
        if not 0.0 <= float(value) <= MAX_WEIGHT:
            raise SpecError(field, value, f"give a number from 0 to {MAX_WEIGHT:g}")
        weights[name] = float(value)
    return weights


# A weight above 10 would let one event class swamp every other; the index's weights are
# relative values in [0, 1] in Gail 1999, so 10 is a generous bound on a user's choice.
MAX_WEIGHT = 10.0


def default_options() -> list[str]:
    return list(raw_compare()["default_options"]["regimens"])


def parse_options(texts: Sequence[str] | str | None, agents: Mapping[str, Agent]) -> list[Regimen]:
    """The regimens to compare with no treatment: short forms (``tamoxifen``,
    ``raloxifene:60``, ``conjugated_estrogens:0.45+bazedoxifene:20``), a comma-separated string
    of them, or None for the defaults. Duplicates are dropped; ``none`` is always compared.

    >>> from sermsim.agents import load_agents
    >>> [regimen_label(r) for r in parse_options("raloxifene, tamoxifen:20", load_agents())]
    ['raloxifene:60', 'tamoxifen:20']
    """
    if texts is None:
        items = default_options()
    elif isinstance(texts, str):
        items = [t.strip() for t in texts.split(",")]
    else:
        items = [str(t).strip() for t in texts]
    if len(items) > MAX_OPTIONS:
        raise SpecError("agents", _short(texts), f"compare at most {MAX_OPTIONS} options at once")
    items = [t for t in items if t and t.lower() != "none"]
    if not items:
        raise SpecError("agents", _short(texts), "name at least one agent, e.g. raloxifene")
    out: list[Regimen] = []
    seen: set[str] = set()
    for text in items:
        try:
            regimen = parse_regimen(text, agents)
        except SpecError as exc:
            raise SpecError("agents", _short(text), exc.fix) from None
        label = regimen_label(regimen)
        if label not in seen:
            seen.add(label)
            out.append(regimen)
    return out


def _short(value: object, limit: int = 80) -> object:
    """A user's value as an error message shows it: long text cut (a request may be large)."""
    text = value if isinstance(value, str) else None
    if text is None and not isinstance(value, list | tuple | dict):
        return value
    text = text if text is not None else repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


# Options per comparison: each costs one engine run per horizon; 12 covers every agent and
# combination shipped with room to spare (an engineering bound, not science).
MAX_OPTIONS = 12


@lru_cache(maxsize=1)
def rules() -> tuple[Rule, ...]:
    out = []
    for i, r in enumerate(raw_compare()["suitability"]):
        where = f"compare.suitability[{i}]"
        level = r["level"]
        if level not in LEVELS:
            raise DataError(f"{where}: level {level!r} is not one of {LEVELS}")
        out.append(
            Rule(
                id=r["id"],
                agents=frozenset(r.get("agents", ())),
                agent_class=r.get("agent_class"),
                unless_agents=frozenset(r.get("unless_agents", ())),
                unless_agent_class=r.get("unless_agent_class"),
                when_text=r["when"],
                when=parse_condition(r["when"], where, PATIENT_TABLE_KEYS),
                level=level,
                reason=r["reason"],
                source=r["source"],
                verified=bool(r["verified"]),
            )
        )
    return tuple(out)


def flags_for(
    regimen: Regimen, person: Mapping[str, np.ndarray[Any, Any]], agents: Mapping[str, Agent]
) -> list[dict[str, Any]]:
    """The flags of one option for one person (``person``: a one-row inclusion table)."""
    out = []
    for rule in rules():
        if rule.concerns(regimen, agents) and bool(np.asarray(rule.when(person))[0]):
            out.append(rule.flag())
    return out
