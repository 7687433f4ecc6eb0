"""The trial spec of TRIAL_SPEC.md ("Trial"), read into typed records at the boundary.

A spec is a mapping with ``name``, ``seed``, ``duration_years`` (follow-up),
``treatment_years`` (default: the follow-up), ``population`` (every patient key, fixed or as a
distribution, plus ``n_per_arm``), ``arms`` (each a name and a regimen), optional
``inclusion`` (conditions, all of which must hold), ``endpoints`` (a name, or ``{name, at_years}``)
and ``comparisons`` (``{arm, reference}``). Every mistake is a
:class:`~sermsim.core.errors.SpecError` naming the key, the value and the fix.

sermsim also accepts (beyond the contract): ``physiology_anchors`` (how many people's
physiology is simulated; see :mod:`sermsim.trials.run`), per-arm ``treatment_years``, and the
documentation keys ``description``, ``source`` and ``verified`` (ignored by the run).
"""

from __future__ import annotations

import difflib
import math
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from sermsim.agents.model import Agent
from sermsim.agents.regimen import Regimen, regimen_from_list
from sermsim.core.errors import SpecError
from sermsim.physiology.patient import Patient
from sermsim.trials.endpoints import CONTINUOUS, EVENTS
from sermsim.trials.inclusion import Condition, parse_condition

MAX_DURATION_YEARS = 30.0  # input sanity bound (not science): trials follow people for years
MAX_N_PER_ARM = 10_000_000  # TRIAL_SPEC's scale (10^7 people); memory is the engine issue's
MAX_ARMS = 20
DEFAULT_ANCHORS = 48  # people whose physiology is simulated per trial (see trials.run)
MAX_ANCHORS = 10_000  # every person simulated for trials of up to this many (the engine is
# linear in people: about 0.6 ms a person-year here; the kept physiology, about 75 kB a
# person over 5 years and six regimens, is what bounds it); beyond it, anchors

_TOP_KEYS = (
    "name",
    "seed",
    "duration_years",
    "treatment_years",
    "population",
    "arms",
    "inclusion",
    "endpoints",
    "comparisons",
    "physiology_anchors",
    "description",
    "source",
    "verified",
)
PATIENT_KEYS = tuple(Patient.model_fields)
_BOOLEAN_KEYS = tuple(
    k for k, f in Patient.model_fields.items() if f.annotation in (bool, bool | None)
)
_CATEGORY_KEYS = ("sex", "menopause", "thrombophilia", "cyp2d6", "race")
_INTEGER_KEYS = ("first_degree_relatives_breast_cancer", "breast_biopsies")
_DISTRIBUTIONS = {
    "normal": ("mean", "sd"),
    "lognormal": ("median", "sd_log"),
    "uniform": ("min", "max"),
}


@dataclass(frozen=True)
class Distribution:
    """A numeric covariate's distribution, with optional truncation."""

    kind: str  # normal | lognormal | uniform
    a: float  # mean | median | min
    b: float  # sd | sd_log | max
    low: float  # truncation (-inf if none)
    high: float  # truncation (+inf if none)


@dataclass(frozen=True)
class FractionTrue:
    p: float


@dataclass(frozen=True)
class Choices:
    values: tuple[Any, ...]
    probabilities: tuple[float, ...]


Covariate = Any  # a fixed value, a Distribution, a FractionTrue or Choices


@dataclass(frozen=True)
class Endpoint:
    name: str
    at_years: float | None  # continuous endpoints: when (None: the end)

    @property
    def key(self) -> str:
        """TRIAL_SPEC.md: the name, or NAME@YEARS with YEARS as f"{at_years:g}"."""
        return self.name if self.at_years is None else f"{self.name}@{self.at_years:g}"

    @property
    def is_event(self) -> bool:
        return self.name in EVENTS


@dataclass(frozen=True)
class Arm:
    name: str
    regimen: Regimen
    treatment_years: float


@dataclass(frozen=True)
class TrialSpec:
    name: str
    seed: int
    duration_years: float
    population: Mapping[str, Covariate]
    n_per_arm: int
    arms: tuple[Arm, ...]
    inclusion: tuple[tuple[str, Condition], ...]
    endpoints: tuple[Endpoint, ...]
    comparisons: tuple[tuple[str, str], ...]
    anchors: int
    raw: Mapping[str, Any]

    def arm(self, name: str) -> Arm:
        return next(a for a in self.arms if a.name == name)


def _unknown(key: str, allowed: Sequence[str], field: str) -> SpecError:
    near = difflib.get_close_matches(key, list(allowed), n=2)
    fix = (
        f"unknown key: did you mean {' or '.join(near)}?"
        if near
        else (f"unknown key: use {', '.join(allowed)}")
    )
    if not (key.strip() and key.isprintable()) and field.endswith(key):  # a key '\\r' or ''
        field = field[: len(field) - len(key)] + repr(key)  # keeps the message one line
    return SpecError(field, key, fix)


def _number(value: Any, field: str, *, low: float = -math.inf, high: float = math.inf) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise SpecError(field, value, "give a finite number")
    if not low <= value <= high:
        raise SpecError(field, value, f"give a number in [{low:g}, {high:g}]")
    return float(value)


def _positive(value: Any, field: str, high: float) -> float:
    x = _number(value, field, high=high)
    if x <= 0:
        raise SpecError(field, value, "must be positive")
    return x


def _integer(value: Any, field: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise SpecError(field, value, "give a whole number")
    if not low <= value <= high:
        raise SpecError(field, value, f"give a whole number in [{low}, {high}]")
    return int(value)


def _distribution(key: str, spec: Mapping[str, Any], field: str) -> Covariate:
    if "fraction_true" in spec:
        if set(spec) != {"fraction_true"}:
            extra = sorted(set(spec) - {"fraction_true"})[0]
            raise SpecError(f"{field}.{extra}", spec[extra], "fraction_true stands alone")
        if key not in _BOOLEAN_KEYS:
            raise SpecError(
                f"{field}.fraction_true", spec["fraction_true"], f"{key} is not true/false"
            )
        return FractionTrue(_number(spec["fraction_true"], f"{field}.fraction_true", low=0, high=1))
    if "choices" in spec:
        if set(spec) != {"choices"}:
            extra = sorted(set(spec) - {"choices"})[0]
            raise SpecError(f"{field}.{extra}", spec[extra], "choices stands alone")
        choices = spec["choices"]
        if not isinstance(choices, Mapping) or not choices:
            raise SpecError(
                f"{field}.choices", choices, "give {value: probability, ...}, e.g. {poor: 0.07}"
            )
        probs = [_number(p, f"{field}.choices.{v}", low=0, high=1) for v, p in choices.items()]
        if abs(sum(probs) - 1.0) > 1e-6:
            raise SpecError(f"{field}.choices", dict(choices), "the probabilities must sum to 1")
        return Choices(tuple(choices), tuple(probs))
    kind = spec.get("distribution")
    if kind is None:
        raise SpecError(
            field,
            dict(spec),
            "give {distribution: normal|lognormal|uniform, ...}, {fraction_true: p} or "
            "{choices: {...}}",
        )
    if not isinstance(kind, str) or kind not in _DISTRIBUTIONS:  # a list or mapping too
        raise SpecError(f"{field}.distribution", kind, "use normal, lognormal or uniform")
    if key in _BOOLEAN_KEYS or key in _CATEGORY_KEYS:
        raise SpecError(
            f"{field}.distribution", kind, f"{key} is not a number: use fraction_true or choices"
        )
    first, second = _DISTRIBUTIONS[kind]
    allowed = {"distribution", first, second, "min", "max"}
    for k in spec:
        if k not in allowed:
            raise _unknown(str(k), sorted(allowed), f"{field}.{k}")
    if kind == "uniform":
        for k in ("min", "max"):
            if k not in spec:
                raise SpecError(f"{field}.{k}", None, "a uniform distribution needs min and max")
        low = _number(spec["min"], f"{field}.min")
        high = _number(spec["max"], f"{field}.max")
        if high <= low:
            raise SpecError(f"{field}.max", spec["max"], "max must exceed min")
        return Distribution(kind, low, high, low, high)
    for k in (first, second):
        if k not in spec:
            raise SpecError(
                f"{field}.{k}", None, f"a {kind} distribution needs {first} and {second}"
            )
    a = _number(spec[first], f"{field}.{first}")
    b = _number(spec[second], f"{field}.{second}")
    if b < 0:
        raise SpecError(f"{field}.{second}", spec[second], "must not be negative")
    if kind == "lognormal" and a <= 0:
        raise SpecError(f"{field}.median", spec[first], "a lognormal median must be positive")
    low = _number(spec["min"], f"{field}.min") if "min" in spec else -math.inf
    high = _number(spec["max"], f"{field}.max") if "max" in spec else math.inf
    if high <= low:
        raise SpecError(f"{field}.max", spec.get("max"), "max must exceed min")
    if kind == "lognormal" and high <= 0:  # found by fuzzing: log(max) was a math domain error
        raise SpecError(f"{field}.max", spec["max"], "a lognormal is positive: give max > 0")
    return Distribution(kind, a, b, low, high)


def _allowed(key: str) -> tuple[Any, ...]:
    """The values a categorical patient key takes (from the patient format's Literal)."""
    annotation = Patient.model_fields[key].annotation
    for arg in (*typing.get_args(annotation), annotation):
        values = typing.get_args(arg)
        if values and all(isinstance(v, str) for v in values):
            return values
    return ()


def _check_values(key: str, value: Any, field: str) -> None:
    """Categories and booleans are checked here, for every value a population can draw (a
    numeric value is checked by the patient format when people are built)."""
    if key in _CATEGORY_KEYS:
        allowed = _allowed(key)
        values = value.values if isinstance(value, Choices) else (value,)
        for v in values:
            if v not in allowed:
                where = f"{field}.choices.{v}" if isinstance(value, Choices) else field
                raise SpecError(where, v, f"use one of {', '.join(allowed)}")
    elif key in _BOOLEAN_KEYS and not isinstance(value, FractionTrue):
        if not isinstance(value, bool) and value is not None:
            raise SpecError(field, value, "give true, false or {fraction_true: p}")
    elif key not in _CATEGORY_KEYS and isinstance(value, Choices):
        raise SpecError(field, key, "choices are for categories: give a number or a distribution")


def _population(raw: Any) -> tuple[dict[str, Covariate], int]:
    if not isinstance(raw, Mapping):
        raise SpecError("population", raw, "give a mapping of patient keys and n_per_arm")
    if "n_per_arm" not in raw:
        raise SpecError("population.n_per_arm", None, "give the number of people per arm")
    n = raw["n_per_arm"]
    if isinstance(n, bool) or not isinstance(n, int):
        raise SpecError("population.n_per_arm", n, "give a whole number of people per arm")
    if not 1 <= n <= MAX_N_PER_ARM:
        raise SpecError(
            "population.n_per_arm", n, f"give a whole number from 1 to {MAX_N_PER_ARM:,}"
        )
    out: dict[str, Covariate] = {}
    for key, value in raw.items():
        if key == "n_per_arm":
            continue
        field = f"population.{key}"
        if key not in PATIENT_KEYS:
            raise _unknown(str(key), [*PATIENT_KEYS, "n_per_arm"], field)
        out[key] = _distribution(key, value, field) if isinstance(value, Mapping) else value
        _check_values(key, out[key], field)
    if "sex" not in out:
        raise SpecError("population.sex", None, "give sex: female, male or {choices: {...}}")
    return out, n


def _endpoints(raw: Any) -> tuple[Endpoint, ...]:
    if raw is None:
        raise SpecError("endpoints", None, "list at least one endpoint, e.g. [vte]")
    if not isinstance(raw, Sequence) or isinstance(raw, str) or not raw:
        raise SpecError("endpoints", raw, "list at least one endpoint, e.g. [vte]")
    known = [*EVENTS, *CONTINUOUS]
    out: list[Endpoint] = []
    for i, item in enumerate(raw):
        field = f"endpoints[{i}]"
        at: float | None = None
        if isinstance(item, Mapping):
            for k in item:
                if k not in ("name", "at_years"):
                    raise _unknown(str(k), ["name", "at_years"], f"{field}.{k}")
            if "name" not in item:
                raise SpecError(f"{field}.name", None, "give the endpoint's name")
            name = item["name"]
            if "at_years" in item:
                at = _positive(item["at_years"], f"{field}.at_years", MAX_DURATION_YEARS)
        else:
            name = item
        if not isinstance(name, str) or name not in known:
            near = difflib.get_close_matches(str(name), known, n=2)
            fix = (
                f"unknown endpoint: did you mean {' or '.join(near)}?"
                if near
                else "unknown endpoint: see TRIAL_SPEC.md for the names"
            )
            raise SpecError(f"{field}.name" if isinstance(item, Mapping) else field, name, fix)
        if at is not None and name in EVENTS:
            raise SpecError(
                f"{field}.at_years", at, f"{name} is an event, counted over the whole follow-up"
            )
        endpoint = Endpoint(name, at)
        if any(e.key == endpoint.key for e in out):
            raise SpecError(field, endpoint.key, "this endpoint is listed twice")
        out.append(endpoint)
    return tuple(out)


def parse_trial(raw: Any, agents: Mapping[str, Agent]) -> TrialSpec:
    """Check a trial spec (a mapping read from YAML/JSON) and build a :class:`TrialSpec`."""
    if not isinstance(raw, Mapping):
        raise SpecError("trial", raw, "give a mapping with name, population, arms, endpoints")
    for key in raw:
        if key not in _TOP_KEYS:
            raise _unknown(str(key), _TOP_KEYS, str(key))
    for key in ("name", "duration_years", "population", "arms", "endpoints"):
        if key not in raw:
            raise SpecError(key, None, f"{key} is required (see TRIAL_SPEC.md)")
    name = raw["name"]
    if not isinstance(name, str) or not name.strip():
        raise SpecError("name", name, "give the trial a name")
    seed = raw.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63:
        raise SpecError("seed", seed, "give a whole number >= 0")
    duration = _positive(raw["duration_years"], "duration_years", MAX_DURATION_YEARS)
    treatment = duration
    if raw.get("treatment_years") is not None:
        treatment = _positive(raw["treatment_years"], "treatment_years", MAX_DURATION_YEARS)
        if treatment > duration:
            raise SpecError(
                "treatment_years", treatment, "must not exceed duration_years (the follow-up)"
            )
    population, n = _population(raw["population"])
    arms_raw = raw["arms"]
    if not isinstance(arms_raw, Sequence) or isinstance(arms_raw, str) or not arms_raw:
        raise SpecError("arms", arms_raw, "list the arms, e.g. [{name: placebo, regimen: []}]")
    if len(arms_raw) > MAX_ARMS:
        raise SpecError("arms", len(arms_raw), f"give at most {MAX_ARMS} arms")
    arms: list[Arm] = []
    for i, arm in enumerate(arms_raw):
        field = f"arms[{i}]"
        if not isinstance(arm, Mapping):
            raise SpecError(field, arm, "give {name: ..., regimen: [...]}")
        for k in arm:
            if k not in ("name", "regimen", "treatment_years"):
                raise _unknown(str(k), ["name", "regimen", "treatment_years"], f"{field}.{k}")
        arm_name = arm.get("name")
        if not isinstance(arm_name, str) or not arm_name.strip():
            raise SpecError(f"{field}.name", arm_name, "give the arm a name")
        if "regimen" not in arm:
            raise SpecError(
                f"{field}.regimen", None, "give a regimen ([] for placebo / no treatment)"
            )
        if any(a.name == arm_name for a in arms):
            raise SpecError(f"{field}.name", arm_name, "arm names must be unique")
        regimen = regimen_from_list(arm["regimen"] or [], agents, f"{field}.regimen")
        arm_treatment = treatment
        if arm.get("treatment_years") is not None:
            arm_treatment = _positive(
                arm["treatment_years"], f"{field}.treatment_years", MAX_DURATION_YEARS
            )
            if arm_treatment > duration:
                raise SpecError(
                    f"{field}.treatment_years", arm_treatment, "must not exceed duration_years"
                )
        arms.append(Arm(arm_name, regimen, arm_treatment))
    names = [a.name for a in arms]
    inclusion_raw = raw.get("inclusion") or []
    if isinstance(inclusion_raw, str):
        inclusion_raw = [inclusion_raw]
    if not isinstance(inclusion_raw, Sequence):
        raise SpecError("inclusion", inclusion_raw, 'give a list of conditions, e.g. ["age >= 60"]')
    inclusion = tuple(
        (text, parse_condition(text, f"inclusion[{i}]", PATIENT_KEYS))
        for i, text in enumerate(inclusion_raw)
    )
    endpoints = _endpoints(raw["endpoints"])
    for i, e in enumerate(endpoints):
        if e.at_years is not None and e.at_years > duration + 1e-9:
            raise SpecError(
                f"endpoints[{i}].at_years",
                e.at_years,
                f"must not exceed duration_years ({duration:g}): measure within the follow-up",
            )
    comparisons: list[tuple[str, str]] = []
    for i, c in enumerate(raw.get("comparisons") or []):
        field = f"comparisons[{i}]"
        if not isinstance(c, Mapping):
            raise SpecError(field, c, "give {arm: ..., reference: ...}")
        for k in c:
            if k not in ("arm", "reference"):
                raise _unknown(str(k), ["arm", "reference"], f"{field}.{k}")
        for k in ("arm", "reference"):
            if c.get(k) not in names:
                raise SpecError(
                    f"{field}.{k}", c.get(k), f"no such arm: use one of {', '.join(names)}"
                )
        if c["arm"] == c["reference"]:
            raise SpecError(f"{field}.reference", c["reference"], "compare two different arms")
        comparisons.append((c["arm"], c["reference"]))
    anchors = DEFAULT_ANCHORS
    if raw.get("physiology_anchors") is not None:
        anchors = _integer(raw["physiology_anchors"], "physiology_anchors", 1, MAX_ANCHORS)
    return TrialSpec(
        name=name,
        seed=seed,
        duration_years=duration,
        population=population,
        n_per_arm=n,
        arms=tuple(arms),
        inclusion=inclusion,
        endpoints=endpoints,
        comparisons=tuple(comparisons),
        anchors=anchors,
        raw=raw,
    )


def load_trial(path: Path, agents: Mapping[str, Agent]) -> TrialSpec:
    """Read and check a trial spec file (YAML or JSON)."""
    shown = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError("spec", shown, "no such file: check the path") from None
    except IsADirectoryError:
        raise SpecError("spec", shown, "is a directory: give a YAML or JSON file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError("spec", shown, f"cannot be read ({type(exc).__name__})") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise SpecError("spec", shown, f"not valid YAML{where}: fix the syntax") from None
    if raw is None:
        raise SpecError("spec", shown, "the file is empty")
    return parse_trial(raw, agents)
