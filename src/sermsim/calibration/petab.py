"""PEtab (v1) export of the physiology calibration problem (``sermsim export petab DIR``).

What is exported, and why the rest is not:

* **One person.** PEtab v1 holds one SBML model, and sermsim's SBML (:mod:`sermsim.physiology.sbml`)
  folds the person's constants and her state after the natural-history run-in into its numbers.
  So the export takes the person with the most targets of the chosen physiology blocks
  (``data/calibration/free_parameters.yaml``) and leaves the others' targets out, saying so.
* **Her regimens as conditions.** The model is exported on every regimen of her targets at
  once; each dose line gets a parameter ``dose_mg_<k>`` (PK is linear, so the day's amounts
  scale with it) and each condition sets the doses of its regimen, 0 for the other lines. A
  ligand at zero concentration holds no receptor, so this is the engine's model for each
  regimen exactly.
* **The placebo arm inside the model.** A target is the treated arm minus (or over) the
  untreated arm of the same person; PEtab v1 compares one simulation with one measurement. The
  model therefore carries a twin of the physiology, ``placebo_<id>``, driven by no drug, and
  ``baseline_<biomarker>`` (initial assignments: the untreated value at day 0). A target's
  observable is sermsim's own definition (:func:`sermsim.physiology.targets.measure`, then arm
  minus reference, or over it for ratios) written with them.
* **Noise** from the target's interval: standard deviation = half-width / 1.96, normal; for
  ratios on the log scale (as ``sermsim calibrate`` scores them).
* **Parameters.** Estimated: the free parameters of the blocks with a measurement here that are
  named parameters of the SBML; nominal values are the shipped fit, bounds and normal priors
  (sd ``prior_sd``) from the registry.

Not exported: targets of other people; changes between two times after the start
(``pct_change_window``: an observable sees one time); references other than no treatment;
the outcomes blocks (hazard links fitted to relative risks of virtual trials computed by
sermsim's event model outside the ODE, which PEtab's observable model cannot state); free
parameters that are not parameters of the equations (sermsim derives other quantities from
them before the equations run). The initial state stays the run-in at the shipped values: a
tool that moves a parameter simulates the treatment phase from that state, without re-running
the run-in.

sermsim is for research and education only; it is not medical advice.
"""

from __future__ import annotations

import json
import logging
import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import libsbml
import pandas as pd
import yaml

from sermsim import DISCLAIMER, __version__
from sermsim.agents.regimen import Dose, Regimen, parse_regimen, regimen_label
from sermsim.calibration.free import Block, FreeParameter, load_blocks, shipped_values
from sermsim.core.errors import NumericalError, SpecError
from sermsim.core.units import DAYS_PER_YEAR
from sermsim.physiology import model as ode
from sermsim.physiology.patient import patient_from_mapping
from sermsim.physiology.sbml import build_sbml, check_sbml
from sermsim.physiology.simulate import BIOMARKERS, Engine, default_engine, patient_label
from sermsim.physiology.targets import Target, load_targets
from sermsim.trials.run import Z95

PLACEBO = "placebo_"
BASELINE = "baseline_"
DOSE = "dose_mg_"
FILES = {
    "model": "model.xml",
    "conditions": "conditions.tsv",
    "observables": "observables.tsv",
    "measurements": "measurements.tsv",
    "parameters": "parameters.tsv",
    "problem": "problem.yaml",
    "readme": "README.md",
}
NO_TREATMENT = "none"


@dataclass(frozen=True)
class Measured:
    """One target as a PEtab measurement."""

    target: Target
    condition: str
    observable: str
    formula: str
    day: float
    noise_sd: float
    transformation: str  # "lin", or "log" for ratios


@dataclass(frozen=True)
class PetabExport:
    """What :func:`export_petab` wrote."""

    folder: Path
    person: str
    conditions: dict[str, dict[str, float]]  # condition id -> dose_mg_<k> values
    measured: tuple[Measured, ...]
    estimated: tuple[FreeParameter, ...]
    left_out_targets: dict[str, str]  # target id -> why
    left_out_parameters: dict[str, str]  # parameter name -> why


def physiology_blocks(names: Iterable[str] | None = None) -> list[Block]:
    """The registry's physiology blocks (those named, or all); an unknown or outcomes block
    is a :class:`SpecError`.

    >>> [b.name for b in physiology_blocks(["physiology_men"])]
    ['physiology_men']
    """
    blocks = load_blocks()
    physiology = [b for b in blocks.values() if b.layer == "physiology"]
    if names is None:
        return physiology
    known = ", ".join(b.name for b in physiology)
    out = []
    for name in names:
        block = blocks.get(name)
        if block is None:
            raise SpecError("blocks", name, f"no such block: use {known}")
        if block.layer != "physiology":
            raise SpecError(
                "blocks",
                name,
                "outcomes blocks are fitted to relative risks of virtual trials, which PEtab's "
                f"observable model cannot state; name physiology blocks: {known}",
            )
        if block not in out:
            out.append(block)
    if not out:
        raise SpecError("blocks", "", f"name at least one block: {known}")
    return out


def _unexpressible(target: Target) -> str | None:
    """Why a target cannot be a PEtab v1 measurement (None when it can)."""
    if target.quantity["kind"] == "pct_change_window":
        return (
            "a change between two times after the start: a PEtab v1 observable sees the model "
            "at one time"
        )
    if target.reference not in (None, NO_TREATMENT):
        return f"its reference arm ({target.reference}) is not the untreated arm"
    return None


def _person_key(patient: Mapping[str, Any]) -> str:
    return json.dumps(dict(patient), sort_keys=True)


def _line_key(dose: Dose) -> tuple[tuple[str, Any], ...]:
    return tuple(sorted(dose.model_dump(exclude={"dose_mg"}).items()))


def _merged(regimens: Mapping[str, Regimen]) -> tuple[Regimen, dict[str, dict[int, float]]]:
    """One regimen holding every dose line of ``regimens`` (each at its largest dose) and,
    per regimen, the mg of each line it takes."""
    keys: list[tuple[tuple[str, Any], ...]] = []
    lines: list[Dose] = []
    doses: dict[str, dict[int, float]] = {}
    for label, regimen in regimens.items():
        taken: dict[int, float] = {}
        for dose in regimen:
            key = _line_key(dose)
            if key not in keys:
                keys.append(key)
                lines.append(dose)
            k = keys.index(key)
            taken[k] = taken.get(k, 0.0) + dose.dose_mg
            if taken[k] > lines[k].dose_mg:
                lines[k] = lines[k].model_copy(update={"dose_mg": taken[k]})
        doses[label] = taken
    return tuple(lines), doses


def _condition_id(regimen: str) -> str:
    text = "".join(c if c.isalnum() else "_" for c in regimen)
    return f"c_{text}"


# ---------------------------------------------------------------------------------------------
# The model: dose parameters, the placebo twin, baselines


def _names_in(node: libsbml.ASTNode, mapping: Mapping[str, str]) -> None:
    """Rename, in place, every identifier of ``mapping`` in an expression."""
    stack = [node]
    while stack:
        n = stack.pop()
        if n.getType() == libsbml.AST_NAME and n.getName() in mapping:
            n.setName(mapping[n.getName()])
        stack.extend(n.getChild(i) for i in range(n.getNumChildren()))


def _parameter(m: libsbml.Model, sid: str, value: float | None, constant: bool, name: str) -> None:
    if m.getElementBySId(sid) is not None:
        raise NumericalError(f"petab export: the model already has {sid!r}; please report")
    p = m.createParameter()
    p.setId(sid)
    p.setConstant(constant)
    p.setName(name)
    if value is not None:
        p.setValue(value)


def _math(formula: str) -> libsbml.ASTNode:
    ast = libsbml.parseL3Formula(formula)
    if ast is None:
        raise NumericalError(f"petab export: libSBML cannot parse {formula!r}; please report")
    return ast


def _dose_parameters(m: libsbml.Model, regimen: Regimen) -> None:
    """Scale each line's daily doses by ``dose_mg_<k>`` over the dose the file was built with."""
    for k, dose in enumerate(regimen):
        rule = next(
            (
                r
                for r in m.getListOfRules()
                if r.isAssignment() and r.getVariable().startswith(f"doses_{k}_")
            ),
            None,
        )
        if rule is None:
            raise NumericalError(f"petab export: no dose rule for line {k}; please report")
        _parameter(m, f"{DOSE}{k}", dose.dose_mg, True, f"{dose.agent} dose (mg)")
        scaled = libsbml.ASTNode(libsbml.AST_TIMES)
        scaled.addChild(_math(f"{DOSE}{k} / {dose.dose_mg!r}"))
        scaled.addChild(rule.getMath().deepCopy())
        rule.setMath(scaled)


def _placebo_twin(m: libsbml.Model) -> None:
    """A copy of the physiology (states, shared subexpressions, signals, biomarkers) named
    ``placebo_<id>``, whose drug input is zero: the untreated arm of the same person."""
    assigned = [r.getVariable() for r in m.getListOfRules() if r.isAssignment()]
    drug = [v for v in assigned if v.startswith(("plasma_", "portal_"))]
    twin = [*ode.STATES, *(v for v in assigned if v not in drug and not v.startswith("doses_"))]
    mapping = {sid: PLACEBO + sid for sid in (*twin, *drug)}
    for sid in drug:
        _parameter(m, mapping[sid], 0.0, True, "no drug (the untreated arm)")
    for sid in twin:
        original = m.getParameter(sid)
        _parameter(
            m,
            mapping[sid],
            original.getValue() if original.isSetValue() else None,
            False,
            f"untreated arm: {original.getName() or sid}",
        )
    for rule in list(m.getListOfRules()):
        if rule.getVariable() not in twin:
            continue
        copy = m.createAssignmentRule() if rule.isAssignment() else m.createRateRule()
        copy.setVariable(mapping[rule.getVariable()])
        math_ = rule.getMath().deepCopy()
        _names_in(math_, mapping)
        copy.setMath(math_)
    for event in m.getListOfEvents():
        for assignment in list(event.getListOfEventAssignments()):
            if assignment.getVariable() in twin:
                copy = event.createEventAssignment()
                copy.setVariable(mapping[assignment.getVariable()])
                math_ = assignment.getMath().deepCopy()
                _names_in(math_, mapping)
                copy.setMath(math_)


def _baseline(m: libsbml.Model, biomarker: str) -> None:
    sid = BASELINE + biomarker
    if m.getParameter(sid) is not None:
        return
    _parameter(m, sid, None, True, f"{biomarker} at day 0, untreated")
    init = m.createInitialAssignment()
    init.setSymbol(sid)
    init.setMath(_math(biomarker))


# ---------------------------------------------------------------------------------------------
# Targets as observables


def _arm(kind: str, biomarker: str, prefix: str) -> str:
    """A target's quantity for one arm (``prefix`` "" or the placebo twin's), as
    :func:`sermsim.physiology.targets.measure` defines it."""
    x, x0 = prefix + biomarker, BASELINE + biomarker
    if kind == "pct_change":
        return f"100 * ({x} / {x0} - 1)"  # percent
    if kind == "change":
        return f"{x} - {x0}"
    if kind in ("value_end", "ratio", "value_at"):
        return x
    raise SpecError("quantity.kind", kind, "use pct_change, change, value_end, value_at, ratio")


def _measured(target: Target, condition: str) -> Measured:
    q = target.quantity
    kind, biomarker = q["kind"], q["biomarker"]
    arm = _arm(kind, biomarker, "")
    if target.reference is None:
        formula = arm
    elif kind == "ratio":
        formula = f"({arm}) / ({_arm(kind, biomarker, PLACEBO)})"
    else:
        formula = f"({arm}) - ({_arm(kind, biomarker, PLACEBO)})"
    n_days = max(1, math.ceil(target.years * DAYS_PER_YEAR))  # simulate's last day
    day = min(round(q["at_year"] * DAYS_PER_YEAR), n_days) if kind == "value_at" else n_days
    if kind == "ratio":
        sd = (math.log(target.high) - math.log(target.low)) / 2.0 / Z95
    else:
        sd = (target.high - target.low) / 2.0 / Z95
    return Measured(
        target,
        condition,
        f"obs_{target.id}",
        formula,
        float(day),
        sd,
        "log" if kind == "ratio" else "lin",
    )


# ---------------------------------------------------------------------------------------------
# The export


def export_petab(
    folder: Path, blocks: Sequence[str] | None = None, *, engine: Engine | None = None
) -> PetabExport:
    """Write the calibration problem of the physiology ``blocks`` (all by default) as a PEtab
    v1 problem in ``folder`` (created if missing): ``problem.yaml``, ``model.xml``, the four
    tables and a ``README.md`` saying what is left out and why.
    """
    engine = engine or default_engine()
    chosen = physiology_blocks(blocks)
    by_id = {t.id: t for t in load_targets()}
    left_targets: dict[str, str] = {}
    candidates: list[Target] = []
    for block in chosen:
        for tid in block.targets:
            why = _unexpressible(by_id[tid])
            if why:
                left_targets[tid] = why
            else:
                candidates.append(by_id[tid])
    if not candidates:
        raise SpecError(
            "blocks",
            ",".join(b.name for b in chosen),
            "none of these blocks' targets can be a PEtab v1 measurement; add others",
        )
    counts: dict[str, int] = {}
    for t in candidates:
        counts[_person_key(t.patient)] = counts.get(_person_key(t.patient), 0) + 1
    person_key = max(counts, key=lambda k: counts[k])  # the first of the most frequent
    targets = [t for t in candidates if _person_key(t.patient) == person_key]
    person = patient_from_mapping(targets[0].patient)
    for t in candidates:
        if _person_key(t.patient) != person_key:
            left_targets[t.id] = (
                f"another person ({patient_label(patient_from_mapping(t.patient))}): the SBML "
                "folds a person's constants and run-in state into its numbers, and PEtab v1 "
                "holds one model"
            )

    parsed = {t.regimen: parse_regimen(t.regimen, engine.agents) for t in targets}
    regimen, taken = _merged(parsed)
    years = max(t.years for t in targets)
    doc = build_sbml(person, regimen, years, engine=engine)
    m = doc.getModel()
    _dose_parameters(m, regimen)
    _placebo_twin(m)
    measured = []
    for t in targets:
        biomarker = t.quantity["biomarker"]
        if m.getParameter(biomarker) is None or biomarker not in BIOMARKERS:
            left_targets[t.id] = f"{biomarker} is not defined for this person"
            continue
        _baseline(m, biomarker)
        measured.append(_measured(t, _condition_id(t.regimen)))
    _add_notes(m)
    check_sbml(doc)

    conditions = {
        _condition_id(label): {f"{DOSE}{k}": doses.get(k, 0.0) for k in range(len(regimen))}
        for label, doses in taken.items()
        if any(x.condition == _condition_id(label) for x in measured)
    }
    in_model = {
        m.getParameter(i).getName(): m.getParameter(i).getId()
        for i in range(m.getNumParameters())
        if m.getParameter(i).getConstant()
    }
    measured_ids = {x.target.id for x in measured}
    estimated: list[FreeParameter] = []
    left_params: dict[str, str] = {}
    for block in chosen:
        for p in block.parameters:
            if not measured_ids & set(block.targets):
                left_params[p.name] = f"no target of block {block.name} is measured here"
            elif p.name not in in_model:
                left_params[p.name] = (
                    "not a parameter of the equations: sermsim derives other quantities from "
                    "it before they run (physiology/parameters.py, derive)"
                )
            else:
                estimated.append(p)

    folder.mkdir(parents=True, exist_ok=True)
    (folder / FILES["model"]).write_text(libsbml.writeSBMLToString(doc), encoding="utf-8")
    nominal = shipped_values("physiology")
    _tables(folder, conditions, parsed, measured, estimated, in_model, nominal)
    result = PetabExport(
        folder,
        patient_label(person),
        conditions,
        tuple(measured),
        tuple(estimated),
        left_targets,
        left_params,
    )
    (folder / FILES["readme"]).write_text(_readme(result, regimen), encoding="utf-8")
    problems = lint(folder / FILES["problem"])
    if problems:
        raise NumericalError(
            f"petab export: libpetab's linter finds {len(problems)} error(s) in {folder}, "
            f"the first: {problems[0]}; please report"
        )
    return result


def lint(problem_yaml: Path) -> list[str]:
    """The errors libpetab-python's linter (``petablint``: the YAML schema, then
    ``lint_problem``) finds in a PEtab v1 problem; empty when it passes."""
    import petab.v1 as petab_v1

    found: list[str] = []

    class _Errors(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.levelno >= logging.ERROR and record.getMessage() != "Not OK":
                found.append(record.getMessage())

    logger = logging.getLogger("petab")
    handler, propagate = _Errors(), logger.propagate
    logger.addHandler(handler)
    logger.propagate = False  # its progress messages are not ours to print
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # libpetab's deprecation warnings, not the user's
            petab_v1.yaml.validate(str(problem_yaml))
            problem = petab_v1.Problem.from_yaml(str(problem_yaml))
            if petab_v1.lint.lint_problem(problem) and not found:
                found.append("lint_problem reports errors")
    except Exception as exc:  # the schema check and the readers raise on what they reject
        found.append(f"{type(exc).__name__}: {exc}")
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate
    return found


def _add_notes(m: libsbml.Model) -> None:
    text = (
        f"PEtab export (sermsim {__version__}): dose_mg_k scale the daily doses of line k "
        "(set per condition); placebo_* are the same physiology with no drug (the untreated "
        "arm); baseline_* are the biomarkers at day 0, untreated. " + DISCLAIMER
    )
    m.appendNotes(f'<body xmlns="http://www.w3.org/1999/xhtml"><p>{text}</p></body>')


def _tables(
    folder: Path,
    conditions: Mapping[str, Mapping[str, float]],
    regimens: Mapping[str, Regimen],
    measured: Sequence[Measured],
    estimated: Sequence[FreeParameter],
    in_model: Mapping[str, str],
    nominal: Mapping[str, float],
) -> None:
    names = {_condition_id(label): regimen_label(r) for label, r in regimens.items()}
    tables = {
        "conditions": pd.DataFrame(
            [{"conditionId": c, "conditionName": names[c], **v} for c, v in conditions.items()]
        ),
        "observables": pd.DataFrame(
            [
                {
                    "observableId": x.observable,
                    "observableName": x.target.source,
                    "observableFormula": x.formula,
                    "observableTransformation": x.transformation,
                    "noiseFormula": repr(x.noise_sd),
                    "noiseDistribution": "normal",
                }
                for x in measured
            ]
        ),
        "measurements": pd.DataFrame(
            [
                {
                    "observableId": x.observable,
                    "simulationConditionId": x.condition,
                    "time": x.day,
                    "measurement": x.target.value,
                    "datasetId": x.target.block,
                }
                for x in measured
            ]
        ),
        "parameters": pd.DataFrame(
            [
                {
                    "parameterId": in_model[p.name],
                    "parameterName": p.name,
                    "parameterScale": "lin",
                    "lowerBound": p.lower,
                    "upperBound": p.upper,
                    "nominalValue": nominal[p.name],
                    "estimate": 1,
                    "objectivePriorType": "normal",
                    "objectivePriorParameters": f"{nominal[p.name]!r};{p.prior_sd!r}",
                }
                for p in estimated
            ]
        ),
    }
    for key, table in tables.items():
        table.to_csv(folder / FILES[key], sep="\t", index=False)
    problem = {
        "format_version": 1,
        "parameter_file": FILES["parameters"],
        "problems": [
            {
                "sbml_files": [FILES["model"]],
                "condition_files": [FILES["conditions"]],
                "measurement_files": [FILES["measurements"]],
                "observable_files": [FILES["observables"]],
            }
        ],
    }
    header = f"# sermsim {__version__}: the physiology calibration problem (PEtab v1).\n"
    (folder / FILES["problem"]).write_text(
        header + f"# {DISCLAIMER}\n" + yaml.safe_dump(problem, sort_keys=False), encoding="utf-8"
    )


def _readme(result: PetabExport, regimen: Regimen) -> str:
    lines = [
        "# sermsim calibration problem (PEtab v1)",
        "",
        DISCLAIMER,
        "",
        f"Written by sermsim {__version__} (`sermsim export petab`). The model is the physiology "
        f"of one {result.person} on {regimen_label(regimen)}, each dose line scaled by "
        "`dose_mg_<k>` (set per condition), with an untreated twin (`placebo_*`) and the "
        "untreated day-0 biomarkers (`baseline_*`): a target is the treated arm against the "
        "untreated arm of the same person, as sermsim evaluates it. Time is in days; a "
        "measurement at day d is the value just after the day's dose event (sermsim's day d). "
        "The initial state is sermsim's natural-history run-in at the shipped parameters; "
        "moving a parameter does not re-run it.",
        "",
        f"- {len(result.measured)} measurements (noise sd = 95 % half-width / 1.96; ratios on "
        f"the log scale), {len(result.conditions)} conditions, "
        f"{len(result.estimated)} estimated parameters (bounds and normal priors from "
        "data/calibration/free_parameters.yaml, nominal values the shipped fit).",
        "",
        "## Left out",
        "",
        "- The outcomes blocks: hazard links fitted to relative risks between arms of virtual "
        "trials, computed by sermsim's event model outside the ODE; PEtab's observable model "
        "cannot state them.",
    ]
    lines += [f"- target `{k}`: {v}" for k, v in result.left_out_targets.items()]
    lines += [f"- parameter `{k}`: {v}" for k, v in result.left_out_parameters.items()]
    return "\n".join(lines) + "\n"
