"""SBML export of one person's physiology on one regimen (`sermsim export sbml`), and a
libRoadRunner runner for it.

The file states exactly the model the engine runs (``integrate.treat``):

* **Time** is in days from the start of treatment. The initial values are the person's state at
  day 0 after sermsim's drug-free natural-history run-in (``simulate.day_zero``): the run-in is
  done by sermsim and baked into the file.
* **Physiology.** The 21 states of ``model.STATES`` are parameters with rate rules equal to
  ``model.rhs``; receptor binding, coregulator signals (``signal_<row>``) and the biomarkers of
  ``simulate.BIOMARKERS`` are assignment rules equal to ``model.observe``. The rules are not
  written by hand: :mod:`sermsim.physiology.symbolic` traces the engine's own JAX functions, so
  the two are the same model by construction. The person's constants are folded into the
  numbers; the physiology parameters the equations use stay named parameters whose notes give
  value, unit, source and whether it was verified (``data/physiology.yaml``); shared
  subexpressions are the assignment-rule parameters ``e_<k>``.
* **PK.** Each dose line's linear compartments are parameters ``x_<state>`` (nmol) with rate
  rules ``dx/dt = 24 K x`` (``K`` per hour, ``dosing.RegimenPK``).
* **Dosing and the daily mean.** One repeating event, ``start_of_day``, fires at times 0, 1, 2,
  ... (trigger ``time >= dose_day``, initial value false, so it also fires at time 0; each firing
  adds 1 to ``dose_day``). It adds the day's doses to the depots (``doses_<k>``: how many doses of
  line k that day, a formula of ``dose_day`` reproducing the engine's daily dose counts: a daily
  dose, an interval, a cycle such as clomiphene on days 5-9 of 28) and takes the snapshot
  ``xs_<state>`` of the amounts just after them. The physiology sees the day's mean
  concentrations ``plasma_<ligand> = CM xs`` and ``portal_<ligand> = PM xs`` (``CM``, ``PM``:
  the plasma and portal maps times ``dosing.day_mean_matrix``), piecewise constant over each
  day, as in the engine. Doses are taken on days 0 .. N, N = ceil(years * 365.25), the last day
  sermsim reports (the parameter ``dose_until``: change it to dose for longer or shorter, the
  schedule found within the horizon repeated); the event keeps firing afterwards, without
  doses. The event also sets to 0 any state or amount
  below :data:`FLUSH_BELOW` in magnitude (zero in every output; the engine's float64 reaches 0
  the same way, by underflow), without which CVODE fails as a decaying state nears underflow.
* **Irregular schedules are refused**: doses missed at random (adherence below 1) are a draw per
  run, not a model; the export raises :class:`SpecError` for them.

Biomarkers that are undefined for the person (testosterone in women; the women-only markers in
men; the endometrium without a uterus) are omitted. libSBML writes numbers with 15 significant
digits. The document must pass libSBML's consistency checks (units included) or nothing is
written.

sermsim is for research and education only; it is not medical advice.
"""

from __future__ import annotations

import html
import math
import re
import time
from collections.abc import Mapping, Sequence
from typing import Any

import libsbml
import numpy as np
from numpy.typing import NDArray

from sermsim import DISCLAIMER, __version__
from sermsim.agents.regimen import Regimen, check_agents, regimen_label
from sermsim.core.errors import NumericalError, SpecError
from sermsim.core.params import data_dir, data_files, parameters_sha256
from sermsim.core.units import DAYS_PER_YEAR, HOURS_PER_DAY
from sermsim.physiology import model, simulate
from sermsim.physiology import symbolic as sy
from sermsim.physiology.dosing import RegimenPK, day_mean_matrix
from sermsim.physiology.parameters import SIGNAL_ROWS, raw_physiology
from sermsim.physiology.patient import Patient
from sermsim.physiology.simulate import BIOMARKERS, MAX_YEARS, Engine

# Numerical settings of the libRoadRunner run (not science): CVODE's defaults in libRoadRunner
# 2.10, as its users run it, set here so that a change of defaults shows. Measured against the
# tight SciPy reference (reference.py): within 7e-6 relative on every biomarker and day (a
# clomiphene cycle, estradiol + MPA, raloxifene), under the engine's own error (its half-day
# steps, up to 5e-4 on the first days of a regimen).
RTOL = 1e-6
ATOL = 1e-12
MAX_STEPS = 100_000  # CVODE steps between two outputs (a day's dose restarts need few)
# At each day's start a state or amount smaller than this (in its own unit) is set to 0. It is
# zero in every output, and the engine's float64 arithmetic reaches 0 the same way (by
# underflow); without it CVODE in libRoadRunner fails as a decaying state (gonadal output after
# menopause, exp(-t / 3 d)) nears the underflow limit across the daily restarts (measured).
FLUSH_BELOW = 1e-200
MAX_DOSE_RUNS = 64  # runs of dosing days in one period of a schedule formula (file size guard)

_DAY = "dose_day"
_UNTIL = "dose_until"


def export_sbml(
    patient: Patient,
    regimen: Regimen,
    years: float,
    *,
    engine: Engine | None = None,
    seed: int = 0,
    day0: NDArray[np.float64] | None = None,
) -> str:
    """One person's physiology on one regimen as an SBML Level 3 Version 2 document (text),
    dosed for ``years``; ``day0`` (the state at the start of treatment) skips the run-in.

    >>> from sermsim.physiology.patient import patient_from_mapping
    >>> from sermsim.agents.regimen import Dose
    >>> text = export_sbml(patient_from_mapping({"sex": "female", "age": 60}),
    ...                    (Dose(agent="raloxifene", dose_mg=60),), 1.0)
    >>> sbml_summary(text)["events"]
    1
    """
    doc = build_sbml(patient, regimen, years, engine=engine, seed=seed, day0=day0)
    check_sbml(doc)
    return str(libsbml.writeSBMLToString(doc))


def check_sbml(doc: libsbml.SBMLDocument) -> None:
    """Raise :class:`NumericalError` (our failure, not the user's) if libSBML's consistency
    checks, units included, find an error in ``doc``."""
    doc.checkConsistency()
    errors = [
        doc.getError(i)
        for i in range(doc.getNumErrors())
        if doc.getError(i).getSeverity() >= libsbml.LIBSBML_SEV_ERROR
    ]
    if errors:
        first = errors[0]
        raise NumericalError(
            f"sbml export: libSBML finds {len(errors)} error(s), the first: "
            f"{first.getShortMessage()} (line {first.getLine()}); please report"
        )


def sbml_summary(text: str) -> dict[str, int]:
    """How many parameters, species, rules (rate, assignment) and events a document holds."""
    doc = libsbml.readSBMLFromString(text)
    m = doc.getModel()
    rules = [m.getRule(i) for i in range(m.getNumRules())]
    return {
        "species": int(m.getNumSpecies()),
        "parameters": int(m.getNumParameters()),
        "rate_rules": sum(1 for r in rules if r.isRate()),
        "assignment_rules": sum(1 for r in rules if r.isAssignment()),
        "events": int(m.getNumEvents()),
    }


# ---------------------------------------------------------------------------------------------
# Building the document


def _sid(name: str) -> str:
    """An SBML identifier for a name (letters, digits and underscores, not starting with a
    digit)."""
    sid = re.sub(r"[^A-Za-z0-9_]", "_", name)
    return sid if re.match(r"[A-Za-z_]", sid) else f"_{sid}"


def _xhtml(paragraphs: Sequence[str]) -> str:
    body = "".join(f"<p>{html.escape(p)}</p>" for p in paragraphs)
    return f'<body xmlns="http://www.w3.org/1999/xhtml">{body}</body>'


def _checked(status: int, what: str) -> None:
    if status != libsbml.LIBSBML_OPERATION_SUCCESS:
        raise NumericalError(
            f"sbml export: libSBML refused {what}: "
            f"{libsbml.OperationReturnValue_toString(status)}; please report"
        )


def _math(formula: str) -> libsbml.ASTNode:
    ast = libsbml.parseL3Formula(formula)
    if ast is None:
        raise NumericalError(
            f"sbml export: libSBML cannot parse {formula[:80]!r} "
            f"({libsbml.getLastParseL3Error()}); please report"
        )
    return ast


class _Writer:
    """Adds parameters and rules to one model, keeping identifiers unique."""

    def __init__(self, sbml_model: libsbml.Model) -> None:
        self.model = sbml_model
        self.ids: set[str] = set()

    def parameter(
        self,
        sid: str,
        value: float | None,
        *,
        constant: bool,
        name: str = "",
        units: str = "",
        notes: Sequence[str] = (),
    ) -> None:
        if sid in self.ids:
            raise NumericalError(f"sbml export: two quantities named {sid!r}; please report")
        self.ids.add(sid)
        p = self.model.createParameter()
        _checked(p.setId(sid), f"the identifier {sid!r}")
        p.setConstant(constant)
        if value is not None:
            p.setValue(float(value))
        if name:
            p.setName(name)
        if units:
            _checked(p.setUnits(units), f"the units of {sid}")
        if notes:
            _checked(p.setNotes(_xhtml(notes)), f"the notes of {sid}")

    def assignment(self, sid: str, formula: str) -> None:
        rule = self.model.createAssignmentRule()
        rule.setVariable(sid)
        _checked(rule.setMath(_math(formula)), f"the rule of {sid}")

    def rate(self, sid: str, formula: str) -> None:
        rule = self.model.createRateRule()
        rule.setVariable(sid)
        _checked(rule.setMath(_math(formula)), f"the rate rule of {sid}")


def _linear_formula(coefficients: NDArray[np.float64], names: Sequence[str]) -> str:
    terms = [f"{c!r} * {n}" for c, n in zip(coefficients.tolist(), names, strict=True) if c != 0]
    return " + ".join(terms) if terms else "0"


def _provenance(key: str) -> list[str]:
    """Value, unit, source and verification of a physiology parameter, from the data file."""
    section, _, rest = key.partition(".")
    node: Any = raw_physiology().get(section, {})
    for part in rest.split("."):
        node = node.get(part) if isinstance(node, Mapping) else None
    if isinstance(node, Mapping) and "source" in node:
        lines = [
            f"physiology.yaml {key}: {node.get('value')} {node.get('unit', '')}".rstrip(),
            f"source: {node['source']}",
            f"verified: {node.get('verified', False)}",
        ]
        lines += [f"{k}: {node[k]}" for k in ("derived", "calibrated_to", "note") if k in node]
        return lines
    return [
        f"{key}: derived by sermsim (physiology/parameters.py, derive) from data/physiology.yaml "
        "and the selectivity layer; changing a source parameter here does not update it"
    ]


def _dose_count(
    graph: sy.Graph, counts: NDArray[np.uint8], day: sy.Node, until: sy.Node
) -> sy.Node:
    """How many doses of a line are taken on ``day`` (a symbol): the engine's daily counts
    (days 0 .. ``until``, the last day of dosing) as one period of dosing days repeated from
    the first dosing day on; a schedule that does not repeat within them ends with its last
    dose."""
    g = graph
    taken = np.flatnonzero(counts)
    if taken.size == 0:
        return g.const(0.0)
    first, last = int(taken[0]), int(taken[-1])
    seg = counts[first : last + 1].astype(np.int64)
    period = next(
        p for p in range(1, seg.size + 1) if np.array_equal(seg, np.resize(seg[:p], seg.size))
    )
    pattern = seg[:period]
    runs: list[tuple[int, int, int]] = []  # (start, stop, doses) over the phase, doses > 0
    for k, n in enumerate(pattern.tolist()):
        if n and runs and runs[-1][1] == k and runs[-1][2] == n:
            runs[-1] = (runs[-1][0], k + 1, n)
        elif n:
            runs.append((k, k + 1, n))
    if len(runs) > MAX_DOSE_RUNS:
        raise SpecError(
            "regimen",
            "schedule",
            f"give a schedule that repeats with at most {MAX_DOSE_RUNS} "
            "runs of dosing days per period",
        )
    offset = g.apply("sub", day, g.const(float(first)))
    phase = offset
    if period < seg.size:
        cycles = g.apply("floor", g.apply("div", offset, g.const(float(period))))
        phase = g.apply("sub", offset, g.apply("mul", g.const(float(period)), cycles))
    end = until if period < seg.size else g.const(float(last))
    within = g.apply("and", g.apply("ge", day, g.const(float(first))), g.apply("le", day, end))
    out = g.const(0.0)
    for start, stop, n in reversed(runs):
        cond = within
        if start > 0:
            cond = g.apply("and", cond, g.apply("ge", phase, g.const(float(start))))
        if stop < period:
            cond = g.apply("and", cond, g.apply("lt", phase, g.const(float(stop))))
        out = g.select(cond, g.const(float(n)), out)
    check_days = np.arange(counts.size + period + 1)
    n_days = float(counts.size - 1)
    got = [sy.evaluate([out], {day.name: float(d), until.name: n_days})[0] for d in check_days]
    want = np.concatenate([counts, np.zeros(period + 1)])
    if not np.array_equal(np.asarray(got, dtype=float), want):
        raise NumericalError("sbml export: the dose formula misses a dose; please report")
    return out


def _equations(
    args: dict[str, Any], ligands: Sequence[str], graph: sy.Graph
) -> tuple[list[sy.Node], dict[str, sy.Node], dict[str, sy.Node]]:
    """The engine's right-hand side, biomarkers and signals as expressions of time, state,
    the day's mean drug input and the named physiology parameters."""

    def symbols(names: Sequence[str]) -> NDArray[Any]:
        out = np.empty(len(names), dtype=object)
        for i, n in enumerate(names):
            out[i] = graph.symbol(n)
        return out

    t = np.array(graph.symbol("time"), dtype=object)
    y = symbols(model.STATES)
    plasma = symbols([f"plasma_{_sid(m)}" for m in ligands])
    portal = symbols([f"portal_{_sid(m)}" for m in ligands])
    p = {k: np.array(graph.symbol(_sid(k)), dtype=object) for k in args["p"]}

    def f(t: Any, y: Any, c: Any, q: Any, p: Any) -> Any:
        a = {**args, "p": p}
        obs = model.observe(t, y, c, q, a)
        return (
            model.rhs(t, y, c, q, a),
            {k: obs[k] for k in BIOMARKERS},
            obs["signal"],
        )

    dy, obs, sig = sy.trace(f, (t, y, plasma, portal, p), graph=graph)
    rates = [dy[i] for i in range(len(model.STATES))]
    biomarkers = {k: obs[k][()] for k in BIOMARKERS}
    signals = {f"signal_{row}": sig[i] for i, row in enumerate(SIGNAL_ROWS)}
    return rates, biomarkers, signals


def build_sbml(
    patient: Patient,
    regimen: Regimen,
    years: float,
    *,
    engine: Engine | None = None,
    seed: int = 0,
    day0: NDArray[np.float64] | None = None,
) -> libsbml.SBMLDocument:
    """The SBML document of :func:`export_sbml`, before its consistency check."""
    engine = engine or simulate.default_engine()
    if not (0 < years <= MAX_YEARS) or not math.isfinite(years):
        raise SpecError("years", years, f"give a number of years in (0, {MAX_YEARS:g}]")
    check_agents(regimen, engine.agents)
    for i, dose in enumerate(regimen):
        if dose.adherence < 1.0:
            raise SpecError(
                f"regimen[{i}].adherence",
                dose.adherence,
                "the SBML export writes a regular schedule: give adherence 1 (missed doses "
                "are a random draw per run)",
            )
    n_days = max(1, math.ceil(years * DAYS_PER_YEAR))
    reg = simulate.regimen_system(regimen, engine, n_days + 1, cyp2d6=patient.cyp2d6, seed=seed)
    args = simulate.model_arguments(patient, regimen, engine)
    ligands = simulate.regimen_ligands(regimen, engine)
    y0 = np.asarray(
        day0 if day0 is not None else simulate.day_zero([patient], engine)[0], dtype=np.float64
    )
    graph = sy.Graph()
    rates, biomarkers, signals = _equations(args, ligands, graph)
    omitted = _omitted(patient, biomarkers)

    doc = libsbml.SBMLDocument(3, 2)
    sbml_model = doc.createModel()
    sbml_model.setId("sermsim_physiology")
    sbml_model.setName(f"sermsim: {_label(patient)} on {regimen_label(regimen)}")
    day = sbml_model.createUnitDefinition()
    day.setId("day")
    unit = day.createUnit()
    unit.setKind(libsbml.UNIT_KIND_SECOND)
    unit.setExponent(1.0)
    unit.setScale(0)
    unit.setMultiplier(86400.0)
    sbml_model.setTimeUnits("day")
    _checked(
        sbml_model.setNotes(_xhtml(_model_notes(patient, regimen, years, n_days, omitted))),
        "the model notes",
    )
    w = _Writer(sbml_model)

    # Named inputs: physiology parameters, states, drug input.
    used = {n.name for n in sy.postorder([*rates, *biomarkers.values(), *signals.values()])}
    for key, value in args["p"].items():
        if _sid(key) in used:
            w.parameter(_sid(key), float(value), constant=True, name=key, notes=_provenance(key))
    for i, state in enumerate(model.STATES):
        w.parameter(state, float(y0[i]), constant=False, name=f"state {state} at day 0")

    # Shared subexpressions get names; the biomarkers and signals are named after themselves.
    names: dict[int, str] = {}
    outputs = {**signals, **{k: v for k, v in biomarkers.items() if k not in omitted}}
    for name, node in outputs.items():
        if not node.is_leaf and id(node) not in names:
            names[id(node)] = name
    roots = [*rates, *outputs.values()]
    for k, node in enumerate(sy.shared(roots)):
        names.setdefault(id(node), f"e_{k}")
    defined: set[int] = set()
    for node in sy.shared(roots) + [n for n in outputs.values() if not n.is_leaf]:
        if id(node) in defined:
            continue
        defined.add(id(node))
        sid = names[id(node)]
        w.parameter(sid, None, constant=False, name=_output_name(sid))
        w.assignment(sid, sy.infix(node, names))
    for name, node in outputs.items():
        if names.get(id(node)) != name:  # a leaf, or the same expression as another output
            w.parameter(name, None, constant=False, name=_output_name(name))
            w.assignment(name, names.get(id(node)) or sy.infix(node, names))
    for state, node in zip(model.STATES, rates, strict=True):
        w.rate(state, names.get(id(node)) or sy.infix(node, names))

    _write_pk(w, graph, reg, ligands, n_days)
    return doc


def _write_pk(
    w: _Writer, graph: sy.Graph, reg: RegimenPK, ligands: Sequence[str], n_days: int
) -> None:
    """The regimen's compartments, the day-mean drug input and the event at each day's start:
    the day's doses, the snapshot, and the flush of vanishing states."""
    plasma_ids = [f"plasma_{_sid(m)}" for m in ligands]
    portal_ids = [f"portal_{_sid(m)}" for m in ligands]
    w.parameter(_DAY, 0.0, constant=False, name="the next day whose start is due")
    after: dict[str, str] = {s: _flushed(s) for s in model.STATES}
    if not reg.lines:  # no drug: the physiology sees none
        for sid in (*plasma_ids, *portal_ids):
            w.parameter(sid, 0.0, constant=True, name="nM (no drug)")
    else:
        x = [f"x_{_sid(n)}" for n in reg.names]
        xs = [f"xs_{_sid(n)}" for n in reg.names]
        k_day = reg.K * HOURS_PER_DAY
        for i in range(reg.n_states):
            w.parameter(x[i], 0.0, constant=False, name=f"{reg.names[i]} amount, nmol")
            w.rate(x[i], _linear_formula(k_day[i], x))
            w.parameter(xs[i], 0.0, constant=False, name=f"{reg.names[i]} after the day's doses")
        mean = day_mean_matrix(reg.K)
        for ids, matrix in ((plasma_ids, reg.plasma @ mean), (portal_ids, reg.portal @ mean)):
            for sid, row in zip(ids, matrix, strict=True):
                w.parameter(sid, None, constant=False, name="nM, the day's mean")
                w.assignment(sid, _linear_formula(row, xs))
        w.parameter(_UNTIL, float(n_days), constant=True, name="the last day of dosing")
        counts = reg.day_counts(n_days + 1)
        day, until = graph.symbol(_DAY), graph.symbol(_UNTIL)
        added: dict[int, list[str]] = {}
        for k, line in enumerate(reg.lines):
            doses = f"doses_{k}_{_sid(line.agent)}"
            w.parameter(doses, None, constant=False, name=f"doses of {line.agent} that day")
            w.assignment(doses, sy.infix(_dose_count(graph, counts[k], day, until)))
            for j in np.flatnonzero(line.amount):
                added.setdefault(int(j), []).append(f"{doses} * {float(line.amount[j])!r}")
        for i in range(reg.n_states):
            amount = " + ".join([_flushed(x[i]), *added.get(i, [])])
            after[x[i]] = after[xs[i]] = amount
    event = w.model.createEvent()
    event.setId("start_of_day")
    event.setUseValuesFromTriggerTime(True)
    trigger = event.createTrigger()
    trigger.setInitialValue(False)
    trigger.setPersistent(True)
    _checked(trigger.setMath(_math(f"time >= {_DAY}")), "the event trigger")
    for sid, formula in [*after.items(), (_DAY, f"{_DAY} + 1")]:
        assignment = event.createEventAssignment()
        assignment.setVariable(sid)
        _checked(assignment.setMath(_math(formula)), f"the event assignment of {sid}")


def _flushed(sid: str) -> str:
    return f"piecewise(0, abs({sid}) < {FLUSH_BELOW!r}, {sid})"


def _output_name(sid: str) -> str:
    if sid in BIOMARKERS:
        units, long_name, _ = BIOMARKERS[sid]
        return f"{long_name} ({units})"
    if sid.startswith("signal_"):
        return f"{sid.removeprefix('signal_')} signal (1 = saturating estradiol)"
    return ""


def _omitted(patient: Patient, biomarkers: Mapping[str, sy.Node]) -> dict[str, str]:
    """Biomarkers left out of the file: those sermsim reports as not applicable to the
    person, and any whose value is undefined (NaN) for her or him."""
    out = dict(simulate.not_applicable(patient))
    for name, node in biomarkers.items():
        if node.op == "const" and isinstance(node.value, float) and math.isnan(node.value):
            out.setdefault(name, "undefined for this person")
    return out


def _label(patient: Patient) -> str:
    return simulate.patient_label(patient)


def _model_notes(
    patient: Patient, regimen: Regimen, years: float, n_days: int, omitted: Mapping[str, str]
) -> list[str]:
    root = data_dir()
    files = ", ".join(str(p.relative_to(root)) for p in data_files())
    return [
        f"sermsim {__version__}: the physiology of one {_label(patient)} on "
        f"{regimen_label(regimen)}, dosed on days 0 to {n_days} ({years:g} years).",
        DISCLAIMER,
        "Time is in days since the start of treatment. The initial values are the state at "
        f"day 0 after sermsim's drug-free natural-history run-in ({simulate.RUN_IN_YEARS:g} "
        "years), computed by sermsim and baked in here.",
        "Rate rules of the 21 physiology states and assignment rules of binding, signals "
        "(signal_*) and biomarkers are generated from sermsim's JAX functions (model.rhs, "
        "model.observe) by symbolic tracing; e_* are shared subexpressions; the person's "
        "constants are folded into the numbers; the named parameters carry their sources.",
        "PK: x_* are amounts (nmol) with dx/dt = 24 K x (K per hour). The event start_of_day "
        "fires at times 0, 1, 2, ...: it adds the day's doses (doses_*) to the depots and takes "
        "the snapshot xs_* of the amounts just after them. The physiology sees the day's mean "
        "concentrations plasma_* and portal_* (nM), linear in xs_* through the day-mean matrix "
        "(1/T) integral over the day of expm(K s) ds: piecewise constant over each day, "
        "sermsim's daily-mean drug input.",
        f"At each day's start a state or amount below {FLUSH_BELOW:g} in magnitude is set to 0 "
        "(zero in every output; CVODE fails as a decaying state such as postmenopausal gonadal "
        "output nears the underflow limit).",
        f"Doses are taken on days 0 to dose_until = {n_days} (change it to dose for longer or "
        "shorter; a schedule that does not repeat within it ends with its last dose).",
        "sermsim reports day d as the state at the start of day d with day d's mean input, "
        "i.e. the values just after the event at time d (libRoadRunner reports post-event "
        "values at an event time); sermsim's day 0 is the untreated baseline, before the first "
        "event.",
        "Omitted biomarkers: "
        + ("; ".join(f"{k} ({v})" for k, v in sorted(omitted.items())) or "none")
        + ".",
        f"Parameters from the data files {files} (parameters_sha256 {parameters_sha256()}).",
        "Numbers are written with libSBML's 15 significant digits.",
    ]


# ---------------------------------------------------------------------------------------------
# Running it


def simulate_sbml(
    text: str,
    days: Sequence[float] | NDArray[np.float64],
    outputs: Sequence[str],
    *,
    timing: dict[str, float] | None = None,
    rtol: float = RTOL,
    atol: float = ATOL,
) -> dict[str, NDArray[np.float64]]:
    """Simulate an exported document in libRoadRunner (CVODE at ``rtol``, ``atol``) and return
    ``outputs`` (biomarkers, or ``signal:<row>``) at ``days``, in the engine's convention: day
    0 is the untreated baseline (the state before the first dose event), day d > 0 the values
    just after the event at time d. An output the file omits is NaN. Days after the file's last
    day of dosing (``dose_until``) are refused: sermsim doses on every day it reports.
    ``timing`` receives the seconds spent loading (``load_s``) and simulating (``simulate_s``;
    CPU seconds: ``simulate_cpu_s``).
    """
    import roadrunner

    when = np.asarray(days, dtype=np.float64)
    if when.ndim != 1 or when.size == 0 or not np.all(np.isfinite(when)):
        raise SpecError("days", list(when.ravel()), "give finite days, at least one")
    if np.any(when < 0) or np.any(np.diff(when) <= 0):
        raise SpecError("days", list(when), "give increasing days from 0")
    start = time.perf_counter()
    rr = roadrunner.RoadRunner(text)
    loaded, loaded_cpu = time.perf_counter(), time.process_time()
    integrator = rr.getIntegrator()
    integrator.setValue("relative_tolerance", rtol)
    integrator.setValue("absolute_tolerance", atol)
    integrator.setValue("maximum_num_steps", MAX_STEPS)
    present = set(rr.model.getGlobalParameterIds())
    if _UNTIL in present and when[-1] > rr.getValue(_UNTIL):
        last = rr.getValue(_UNTIL)
        raise SpecError(
            "days",
            float(when[-1]),
            f"the file doses through day {last:g} (sermsim doses every day it reports): "
            f"export it for at least {when[-1] / DAYS_PER_YEAR:.6g} years",
        )
    ids = {name: _sid(name.replace(":", "_")) for name in outputs}
    selected = [name for name in outputs if ids[name] in present]
    result = {name: np.full(when.size, np.nan) for name in outputs}
    if when[0] == 0.0:  # the untreated baseline: the day-0 state with no drug
        snapshot = [s for s in present if s.startswith("xs_")]
        kept = {s: rr.getValue(s) for s in snapshot}
        for s in snapshot:
            rr.setValue(s, 0.0)
        for name in selected:
            result[name][0] = rr.getValue(ids[name])
        for s, v in kept.items():
            rr.setValue(s, v)
    later = when[when > 0]
    if later.size:
        rr.timeCourseSelections = ["time", *(ids[n] for n in selected)]
        rows = np.asarray(rr.simulate(times=[0.0, *later.tolist()]))[1:]
        if not np.allclose(rows[:, 0], later, rtol=0.0, atol=1e-9):
            raise NumericalError("libRoadRunner: output times differ from the days asked for")
        first = when.size - later.size
        for j, name in enumerate(selected):
            result[name][first:] = rows[:, j + 1]
    if timing is not None:
        timing["load_s"] = loaded - start
        timing["simulate_s"] = time.perf_counter() - loaded
        timing["simulate_cpu_s"] = time.process_time() - loaded_cpu
    return result
