"""Agents as frozen numerical objects, read from one sourced data file per agent.

An agent is what a dose is of (``tamoxifen``); a moiety is a molecule that circulates after the
dose (tamoxifen, N-desmethyltamoxifen, 4-hydroxytamoxifen, endoxifen). Each moiety has its own
disposition (apparent clearance and volume, unbound fraction, tissue partition), its own
affinities for ERα and ERβ, and its own coregulator signature at each receptor. Metabolites
form from a precursor through a named enzyme, with the fraction of the precursor's clearance
that goes that way.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from sermsim.core.errors import DataError
from sermsim.core.params import Param, data_dir, load_yaml

FRACTION_TOLERANCE = 1e-9  # rounding allowance when fractions of a whole are summed

Receptor = Literal["era", "erb"]
RECEPTORS: tuple[Receptor, Receptor] = ("era", "erb")
AgentClass = Literal["estrogen", "progestogen", "serm"]


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class FormationSpec(_Strict):
    precursor: str
    enzyme: str
    fraction: Param


class CoregulatorSpec(_Strict):
    coactivator: Param
    corepressor: Param


class BindingSpec(_Strict):
    rba: Param
    coregulator: CoregulatorSpec


class MoietySpec(_Strict):
    """A moiety. With ``ref: AGENT.MOIETY`` it takes molecular weight, unbound fraction,
    tissue partition and binding from that agent's moiety; its PK (clearance, volume,
    formation) is its own, or the referenced moiety's when it gives none."""

    id: str
    name: str
    ref: str | None = None
    molecular_weight: Param | None = None
    clearance: Param | None = None
    volume: Param | None = None
    fraction_unbound: Param | None = None
    receptor_available_fraction: Param | None = None
    tissue_partition: Param | None = None
    formed_from: list[FormationSpec] = Field(default_factory=list)
    era: BindingSpec | None = None
    erb: BindingSpec | None = None

    def resolved(self, target: MoietySpec) -> MoietySpec:
        """This moiety's PK with ``target``'s substance properties."""
        return self.model_copy(
            update={
                "clearance": self.clearance or target.clearance,
                "volume": self.volume or target.volume,
                "molecular_weight": target.molecular_weight,
                "fraction_unbound": target.fraction_unbound,
                "receptor_available_fraction": target.receptor_available_fraction,
                "tissue_partition": target.tissue_partition,
                "era": target.era,
                "erb": target.erb,
            }
        )


class AbsorptionSpec(_Strict):
    ka: Param
    bioavailability: Param


class ScheduleSpec(_Strict):
    """A label's cyclic schedule: taken on ``days_on`` days from ``start_day`` (0-based) of
    each ``cycle_days``-day cycle."""

    start_day: Param
    days_on: Param
    cycle_days: Param


class AdministeredSpec(_Strict):
    moiety: str
    fraction: Param


class AgentSpec(_Strict):
    """The schema of one agent data file."""

    id: str
    name: str
    agent_class: AgentClass = Field(alias="class")
    summary: str
    dose_forms: list[str]
    standard_dose: Param
    standard_interval: Param
    standard_schedule: ScheduleSpec | None = None
    dose_molecular_weight: Param
    administered: list[AdministeredSpec]
    absorption: AbsorptionSpec
    moieties: list[MoietySpec]
    notes: list[str] = Field(default_factory=list)
    off_target: dict[str, Param] = Field(default_factory=dict)


@dataclass(frozen=True)
class Formation:
    """A metabolite forms from ``precursor`` through ``enzyme``, taking ``fraction`` of the
    precursor's clearance (at normal enzyme activity)."""

    precursor: str
    enzyme: str
    fraction: float


@dataclass(frozen=True)
class Binding:
    """Binding and coregulator signature of one moiety at one receptor subtype.

    ``rba`` is the relative binding affinity, estradiol = 100 at the same subtype;
    ``coactivator`` and ``corepressor`` are the complex's relative recruitment strengths,
    estradiol–ERα recruiting coactivator with strength 1.
    """

    rba: float
    coactivator: float
    corepressor: float


@dataclass(frozen=True)
class Moiety:
    id: str
    name: str
    molecular_weight: float  # g/mol
    clearance: float  # L/h, apparent (CL/F for an orally dosed parent)
    volume: float  # L, apparent
    fraction_unbound: float  # in plasma
    available_fraction: float  # of plasma concentration, available to tissue receptors
    tissue_partition: float  # total tissue / total plasma concentration
    formed_from: tuple[Formation, ...]
    binding: dict[str, Binding]  # by receptor; absent: does not bind that receptor


@dataclass(frozen=True)
class Agent:
    id: str
    name: str
    agent_class: AgentClass
    summary: str
    standard_dose_mg: float
    standard_interval_h: float
    standard_schedule: tuple[float, float, float] | None  # (start_day, days_on, cycle_days)
    dose_molecular_weight: float  # g/mol of the labelled form (a salt, say) the dose is in
    administered: tuple[tuple[str, float], ...]  # (moiety, fraction of the dose's moles)
    ka: float  # 1/h
    bioavailability: float  # fraction
    moieties: tuple[Moiety, ...]
    spec: AgentSpec  # the file as read, with every source

    def moiety_ids(self) -> tuple[str, ...]:
        return tuple(m.id for m in self.moieties)

    def moiety(self, moiety_id: str) -> Moiety:
        for m in self.moieties:
            if m.id == moiety_id:
                return m
        raise KeyError(moiety_id)

    @property
    def binds_er(self) -> bool:
        return any(m.binding for m in self.moieties)


def _binding(spec: BindingSpec | None) -> Binding | None:
    if spec is None:
        return None
    return Binding(
        rba=spec.rba.value,
        coactivator=spec.coregulator.coactivator.value,
        corepressor=spec.coregulator.corepressor.value,
    )


def _value(p: Param | None, default: float) -> float:
    return default if p is None else p.value


def _moiety(spec: MoietySpec) -> Moiety:
    binding: dict[str, Binding] = {
        r: b for r in RECEPTORS if (b := _binding(getattr(spec, r))) is not None
    }
    for required in ("molecular_weight", "clearance", "volume"):
        if getattr(spec, required) is None:
            raise DataError(f"moiety {spec.id}: {required} is required (or a ref)")
    assert spec.molecular_weight and spec.clearance and spec.volume
    return Moiety(
        id=spec.id,
        name=spec.name,
        molecular_weight=spec.molecular_weight.value,
        clearance=spec.clearance.value,
        volume=spec.volume.value,
        # A moiety that binds no receptor needs neither; 1.0 is then never used.
        fraction_unbound=_value(spec.fraction_unbound, 1.0),
        # Drugs: the unbound fraction. Steroids give the non-SHBG-bound fraction explicitly.
        available_fraction=_value(
            spec.receptor_available_fraction, _value(spec.fraction_unbound, 1.0)
        ),
        tissue_partition=_value(spec.tissue_partition, 1.0),
        formed_from=tuple(
            Formation(f.precursor, f.enzyme, f.fraction.value) for f in spec.formed_from
        ),
        binding=binding,
    )


def _check(spec: AgentSpec, path: Path) -> None:
    ids = [m.id for m in spec.moieties]
    if len(set(ids)) != len(ids):
        raise DataError(f"{path}: moiety ids repeat: {ids}")
    for a in spec.administered:
        if a.moiety not in ids:
            raise DataError(f"{path}: administered moiety {a.moiety!r} is not a moiety")
    if sum(a.fraction.value for a in spec.administered) > 1.0 + FRACTION_TOLERANCE:
        raise DataError(f"{path}: administered fractions sum to more than 1")
    for m in spec.moieties:
        binds = m.era is not None or m.erb is not None
        if binds and (m.fraction_unbound is None or m.tissue_partition is None):
            raise DataError(
                f"{path}: {m.id} binds ER, so it needs fraction_unbound and tissue_partition"
            )
        for f in m.formed_from:
            if f.precursor not in ids:
                raise DataError(f"{path}: {m.id} formed from unknown moiety {f.precursor!r}")
    for m in spec.moieties:
        out = sum(
            f.fraction.value for n in spec.moieties for f in n.formed_from if f.precursor == m.id
        )
        if out > 1.0 + FRACTION_TOLERANCE:
            raise DataError(f"{path}: fractions of {m.id}'s clearance sum to {out:.3f} > 1")


def read_spec(path: Path) -> AgentSpec:
    """Read one agent data file against the schema."""
    raw: dict[str, Any] = load_yaml(path)
    try:
        return AgentSpec.model_validate(raw)
    except Exception as exc:
        raise DataError(f"{path}: {exc}") from exc


def _resolve_refs(specs: dict[str, AgentSpec]) -> dict[str, AgentSpec]:
    moieties = {f"{a.id}.{m.id}": m for a in specs.values() for m in a.moieties}
    out = {}
    for agent_id, spec in specs.items():
        resolved = []
        for m in spec.moieties:
            if m.ref is None:
                resolved.append(m)
                continue
            target = moieties.get(m.ref)
            if target is None or target.ref is not None:
                raise DataError(f"agent {agent_id}: moiety {m.id} has unknown ref {m.ref!r}")
            resolved.append(m.resolved(target))
        out[agent_id] = spec.model_copy(update={"moieties": resolved})
    return out


def agent_from_spec(spec: AgentSpec, path: Path) -> Agent:
    """Check one (reference-resolved) agent spec and build its numerical object."""
    _check(spec, path)
    return Agent(
        id=spec.id,
        name=spec.name,
        agent_class=spec.agent_class,
        summary=spec.summary,
        standard_dose_mg=spec.standard_dose.value,
        standard_interval_h=spec.standard_interval.value,
        standard_schedule=None
        if spec.standard_schedule is None
        else (
            spec.standard_schedule.start_day.value,
            spec.standard_schedule.days_on.value,
            spec.standard_schedule.cycle_days.value,
        ),
        dose_molecular_weight=spec.dose_molecular_weight.value,
        administered=tuple((a.moiety, a.fraction.value) for a in spec.administered),
        ka=spec.absorption.ka.value,
        bioavailability=spec.absorption.bioavailability.value,
        moieties=tuple(_moiety(m) for m in spec.moieties),
        spec=spec,
    )


def load_agents(folder: Path | None = None) -> dict[str, Agent]:
    """Every agent shipped in ``data/agents`` (or ``folder``), by id.

    >>> sorted(load_agents())[:3]
    ['bazedoxifene', 'clomiphene', 'conjugated_estrogens']
    """
    folder = folder or data_dir() / "agents"
    paths = {p.stem: p for p in sorted(folder.glob("*.yaml"))}
    specs = {}
    for stem, path in paths.items():
        spec = read_spec(path)
        if spec.id != stem:
            raise DataError(f"{path}: id {spec.id!r} must match the file name")
        specs[stem] = spec
    return {k: agent_from_spec(s, paths[k]) for k, s in _resolve_refs(specs).items()}
