"""Fuzzing of the command line's options and of the inclusion language, in-process.

The property: an invalid option is exit code 2 and exactly one line on stderr that names it
(``sermsim: error: FIELD: ...`` or click's ``Invalid value for '--OPTION'``); a valid one parses
without a traceback. Nothing is simulated: an example whose options are all valid is checked by
the parsing functions the command calls, or the command is given a *guard*, an argument it
checks after the fuzzed ones and before any work (an unknown agent, a missing file), so that it
stops there; the error must then name the fuzzed option when that is invalid, and the guard (or
the option) otherwise.

``SERMSIM_FUZZ_EXAMPLES`` sets the examples per test (60 in ``make test``, 1500 in
``make fuzz``); the tally is tests/fuzz/tally.py's.
"""

from __future__ import annotations

import contextlib
import io
import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from sermsim.agents import load_agents, parse_regimen
from sermsim.compare.options import parse_options, resolve_weights
from sermsim.core.errors import SpecError
from sermsim.interfaces.cli import _weights, main
from sermsim.outcomes.ensemble import default_ensemble
from sermsim.physiology.patient import Patient, load_patient
from sermsim.physiology.simulate import MAX_YEARS
from sermsim.trials.inclusion import parse_condition
from sermsim.trials.population import inclusion_table, sample_arm
from sermsim.trials.shards import check_shards
from sermsim.trials.spec import MAX_DURATION_YEARS, PATIENT_KEYS, load_trial, parse_trial
from tests.fuzz.test_fuzz_valid import EXAMPLES, counted

FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
AGENTS = load_agents()
ROOT = Path(__file__).resolve().parents[2]
TRIAL = ROOT / "examples" / "trial_spec_example.yaml"
EXAMPLE_TRIAL = yaml.safe_load(TRIAL.read_text())
MEMBERS = len(default_ensemble())
MIN_MEMBERS = 2  # cli._ensemble: an ensemble of one has no spread
MIN_PEOPLE_PER_ARM = 10  # cli.calibrate's --people-per-arm floor


# --- running the CLI ----------------------------------------------------------------------------


def _cli(argv: list[str]) -> tuple[int | str | None, str, str]:
    stderr, stdout = io.StringIO(), io.StringIO()
    with (
        contextlib.redirect_stderr(stderr),
        contextlib.redirect_stdout(stdout),
        pytest.raises(SystemExit) as exit_,
    ):
        main(argv)
    return exit_.value.code, stdout.getvalue(), stderr.getvalue()


_CLICK = re.compile(r"^sermsim: error: Invalid value for '-*([\w-]+)'")
_OURS = re.compile(r"^sermsim: error: ([^:\s][^:]*): ")


def _culprit(line: str) -> str:
    """The field an error line names: click's option (without dashes) or our SpecError's
    field, up to its first dot or index (``weights.dvt`` -> ``weights``)."""
    m = _CLICK.match(line) or _OURS.match(line)
    assert m, f"the error names no field: {line!r}"
    return re.split(r"[.\[]", m.group(1))[0]


def _refused(argv: list[str], culprits: set[str]) -> str:
    """Run the CLI; it must exit 2 with one line naming one of ``culprits``."""
    code, out, err = _cli(argv)
    assert code == 2, f"exit {code!r} for {argv!r}: {err!r}"
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("sermsim: error: "), (argv, err)
    assert "Traceback" not in err and out == "", (argv, err, out)
    culprit = _culprit(lines[0])
    assert culprit in culprits, f"{argv!r}: names {culprit!r}, not one of {culprits}: {err!r}"
    return culprit


def _one_line_spec_error(call: Callable[[], object], prefix: str) -> object | SpecError:
    """``call()``'s result, or its SpecError: one line, its field starting with ``prefix``."""
    try:
        return call()
    except SpecError as err:
        text = str(err)
        assert "\n" not in text and "\r" not in text, f"multi-line: {text!r}"
        assert err.field.startswith(prefix) and text.startswith(f"{err.field}: "), text
        return err


# --- numbers as the CLI reads them ----------------------------------------------------------------

SPECIALS = [
    *("nan", "NaN", "inf", "-inf", "Infinity", "-0", "0", "-1", "1e308", "-1e308", "1e999"),
    *("5e-324", "99999999999999999999", "1.5", "", " ", "0x10", "1_000", "\u0661", "+5"),
]


def _as_float(text: str) -> float | None:
    """The number Python reads: the CLI reads no more (its parser may be stricter, see
    :func:`_plain`), so what Python refuses, the CLI must refuse too."""
    try:
        return float(text)
    except ValueError:
        return None


def _as_int(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        value = _as_float(text)
        return int(value) if value is not None and value.is_integer() else None


_PLAIN = re.compile(r"[-+]?(\d+(\.\d*)?|nan|inf|infinity)", re.IGNORECASE | re.ASCII)


def _plain(text: str) -> bool:
    """A number written plainly. The CLI may refuse other forms that Python reads ('1_0',
    ' 5', digits other than ASCII, '1e3' for a whole number), so for those it may name the
    option even where Python reads a valid value."""
    return bool(_PLAIN.fullmatch(text))


def _real_in(text: str, low: float, high: float, *, open_low: bool = True) -> bool:
    x = _as_float(text)
    return x is not None and math.isfinite(x) and (low < x if open_low else low <= x) and x <= high


def _whole_in(text: str, low: int, high: float = math.inf) -> bool:
    x = _as_int(text)
    return x is not None and low <= x <= high


_numbers = st.one_of(
    st.sampled_from(SPECIALS),
    st.floats().map(repr),
    st.integers(-(10**25), 10**25).map(str),
    st.floats(0, 100).map(lambda x: f"{x:g}"),
    st.text(max_size=6),
)


# --- files the commands read ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("cli")
    patient = tmp / "patient.yaml"
    patient.write_text("sex: female\nage: 58\n", encoding="utf-8")
    tiny = {**EXAMPLE_TRIAL, "population": {**EXAMPLE_TRIAL["population"], "n_per_arm": 4}}
    spec = tmp / "trial.yaml"
    spec.write_text(yaml.safe_dump(tiny), encoding="utf-8")
    bad_spec = tmp / "bad_trial.yaml"
    bad_spec.write_text(yaml.safe_dump({**tiny, "colour": "blue"}), encoding="utf-8")
    a_file = tmp / "a_file.txt"
    a_file.write_text("not a folder", encoding="utf-8")
    return {
        "patient": patient,
        "spec": spec,
        "bad_spec": bad_spec,
        "a_file": a_file,
        "folder": tmp,
        "missing": tmp / "missing.yaml",
    }


# --- simulate --regimen / --years / --seed --------------------------------------------------------

_AGENT_WORDS = [*sorted(AGENTS), "Raloxifene", " tamoxifen ", "aspirin", "", "none", "NONE", "all"]


@st.composite
def short_forms(draw: st.DrawFn) -> str:
    """The short form AGENT[:DOSE[@INTERVAL_H]][[dA-B/C]] joined by '+': mostly well formed,
    with valid and invalid numbers; sometimes a soup of its characters."""
    if draw(st.integers(0, 5)) == 0:
        alphabet = st.sampled_from("ralxifenom:@+[]d-/0123456789.e \t\n\u00b2\u0661")
        return draw(st.text(alphabet=alphabet, max_size=30))
    parts = []
    for _ in range(draw(st.integers(1, 3))):
        part = draw(st.sampled_from(_AGENT_WORDS))
        if draw(st.booleans()):
            part += ":" + draw(st.one_of(st.floats(0.01, 10_000).map(lambda x: f"{x:g}"), _numbers))
            if draw(st.booleans()):
                part += "@" + draw(
                    st.one_of(st.sampled_from(["24", "48", "0.25", "8766"]), _numbers)
                )
        if draw(st.booleans()):
            a, b, c = (
                draw(st.one_of(st.integers(0, 40), st.integers(0, 10**400))) for _ in range(3)
            )
            part += draw(st.sampled_from([f"[d{a}-{b}/{c}]", f"[d{a}-{b}]", "[", f"[{a}]"]))
        parts.append(part)
    return draw(st.sampled_from(["+", " + ", "++"])).join(parts)


_years = st.one_of(st.sampled_from(["5", "0.25", "60", "60.0001"]), _numbers)
_seeds = st.one_of(st.sampled_from(["0", "7", "-0", "-1", str(2**64), "1.5", "x"]), _numbers)


@FUZZ
@given(regimen=short_forms(), years=_years, seed=_seeds)
def test_simulate_options_are_parsed_or_refused_in_one_line(
    files: dict[str, Path], regimen: str, years: str, seed: str
) -> None:
    note(f"regimen={regimen!r} years={years!r} seed={seed!r}")
    with counted("cli_simulate"):
        parsed = _one_line_spec_error(lambda: parse_regimen(regimen, AGENTS), "regimen")
        bad = set()
        if isinstance(parsed, SpecError) and regimen.strip().lower() != "all":
            bad.add("regimen")
        if not _real_in(years, 0.0, MAX_YEARS):
            bad.add("years")
        if not _whole_in(seed, 0):
            bad.add("seed")
        if not bad:
            return  # all valid: simulate would run; the parsers above returned
        argv = ["simulate", "--patient", str(files["patient"]), "--regimen", regimen]
        maybe = {k for k, t in (("years", years), ("seed", seed)) if not _plain(t)}
        _refused([*argv, "--years", years, "--seed", seed], bad | maybe)


# --- compare --years / --members / --weight / --agents -------------------------------------------

_endpoint_names = st.sampled_from(
    ["dvt", "vte", "hip_fracture", "cataract", "invasive_breast_cancer", "x", "", " dvt ", "a\nb"]
)
_weight_items = st.one_of(
    st.builds(lambda n, v: f"{n}={v}", _endpoint_names, st.one_of(_numbers, st.just("0.5"))),
    st.text(max_size=12),
)
_agent_lists = st.one_of(
    st.none(),
    st.lists(
        st.sampled_from([*sorted(AGENTS), "aspirin", "none", "raloxifene:60", ""]), max_size=4
    ).map(",".join),
    short_forms(),
)


def _compare_bad(
    years: str, members: str | None, weights: list[str], agents: str | None, on: bool
) -> set[str]:
    bad = set()
    try:
        resolve_weights(_weights(weights))
    except SpecError as err:
        bad.add(_culprit(f"sermsim: error: {err}"))
    if members is not None:
        m = _as_int(members)
        if m is None or m < MIN_MEMBERS or (on and m > MEMBERS):
            bad.add("members")
    if not _real_in(years, 0.0, MAX_DURATION_YEARS):
        bad.add("years")
    result = _one_line_spec_error(lambda: parse_options(agents, AGENTS), "agents")
    if isinstance(result, SpecError):
        bad.add("agents")
    return bad


@FUZZ
@given(
    years=_years,
    members=st.one_of(st.none(), st.sampled_from(["2", "200", "201", "1"]), _numbers),
    weights=st.lists(_weight_items, max_size=3),
    agents=_agent_lists,
    on=st.booleans(),
)
def test_compare_options_are_parsed_or_refused_in_one_line(
    files: dict[str, Path],
    years: str,
    members: str | None,
    weights: list[str],
    agents: str | None,
    on: bool,
) -> None:
    note(f"years={years!r} members={members!r} weights={weights!r} agents={agents!r} on={on}")
    with counted("cli_compare_options"):
        bad = _compare_bad(years, members, weights, agents, on)
        if not bad:
            return  # all valid: compare would run; the parsers above returned
        argv = ["compare", "--patient", str(files["patient"]), "--years", years]
        argv += ["--parameter-uncertainty" if on else "--sampling-only"]
        argv += [] if members is None else ["--members", members]
        argv += [a for w in weights for a in ("--weight", w)]
        argv += [] if agents is None else ["--agents", agents]
        maybe = {k for k, t in (("years", years), ("members", members or "2")) if not _plain(t)}
        _refused(argv, bad | maybe)


# --- trial run --shards / --members / --dask-local -----------------------------------------------


_addresses = st.sampled_from(["tcp://127.0.0.1:8786", "a\nb", "", " ", "\x00", "h\u2028"])


@FUZZ
@given(
    shards=st.one_of(st.none(), st.sampled_from(["1", "4", "5"]), _numbers),
    out=st.booleans(),
    members=st.one_of(st.none(), _numbers),
    on=st.booleans(),
    dask_local=st.one_of(st.none(), st.sampled_from(["1", "2", "0"]), _numbers),
    scheduler=st.one_of(st.none(), _addresses, st.text(max_size=8)),
)
def test_trial_run_options_are_parsed_or_refused_in_one_line(
    files: dict[str, Path],
    shards: str | None,
    out: bool,
    members: str | None,
    on: bool,
    dask_local: str | None,
    scheduler: str | None,
) -> None:
    note(f"shards={shards!r} out={out} members={members!r} on={on}")
    note(f"dask_local={dask_local!r} scheduler={scheduler!r}")
    with counted("cli_trial_options"):
        bad = set()
        n_shards = None if shards is None else _as_int(shards)
        if shards is not None and (n_shards is None or n_shards < 1 or not out):
            bad.add("shards")
        if dask_local is not None:
            k = _as_int(dask_local)
            if k is None or k < 1 or shards is None:
                bad.add("dask-local")
        if scheduler is not None:
            printable = scheduler.strip() and scheduler.isprintable()
            if not printable or dask_local is not None or shards is None:
                bad.add("scheduler")
        if members is not None:
            m = _as_int(members)
            if m is None or m < MIN_MEMBERS or (on and m > MEMBERS):
                bad.add("members")
        if not bad and n_shards is not None:  # what the command checks after reading the spec
            trial = load_trial(files["spec"], AGENTS)
            _one_line_spec_error(lambda: check_shards(n_shards, trial), "shards")
        # the guard: a spec the command refuses after these options, before any work
        argv = ["trial", "run", str(files["bad_spec"])]
        argv += [] if shards is None else ["--shards", shards]
        argv += ["--out", str(files["folder"] / "out")] if out else []
        argv += [] if members is None else ["--members", members]
        argv += ["--parameter-uncertainty" if on else "--sampling-only"]
        argv += [] if dask_local is None else ["--dask-local", dask_local]
        argv += [] if scheduler is None else ["--scheduler", scheduler]
        texts = (("shards", shards), ("members", members), ("dask-local", dask_local))
        maybe = {k for k, t in texts if t is not None and not _plain(t)}
        _refused(argv, (bad or {"colour"}) | maybe)


# --- every numeric option, with nan, inf, -0, 1e308 and friends ----------------------------------

Check = Callable[[str], bool]
# (command, option, valid?, guard: arguments the command checks after the option, and the
# field it names); every command stops at the guard when the option is valid.
_OPTIONS: list[tuple[list[str], str, Check, list[str], str]] = [
    (
        ["simulate"],
        "--years",
        lambda t: _real_in(t, 0, MAX_YEARS),
        ["--regimen", "aspirin"],
        "regimen",
    ),
    (["simulate"], "--seed", lambda t: _whole_in(t, 0), ["--regimen", "aspirin"], "regimen"),
    (
        ["compare"],
        "--years",
        lambda t: _real_in(t, 0, MAX_DURATION_YEARS),
        ["--agents", "aspirin"],
        "agents",
    ),
    (
        ["compare"],
        "--members",
        lambda t: _whole_in(t, MIN_MEMBERS, MEMBERS),
        ["--agents", "aspirin"],
        "agents",
    ),
    (["sensitivity"], "--years", lambda t: _real_in(t, 0, MAX_YEARS), ["--range", "x"], "range"),
    (["sensitivity"], "--trajectories", lambda t: _whole_in(t, 2), ["--range", "x"], "range"),
    (["sensitivity"], "--width", lambda t: _real_in(t, 0, math.inf), ["--range", "x"], "range"),
    (["sensitivity"], "--seed", lambda t: _whole_in(t, 0), ["--range", "x"], "range"),
    (["bench"], "--patients", lambda t: _whole_in(t, 1), ["--out", "{a_file}"], "out"),
    (["bench"], "--roadrunner-patients", lambda t: _whole_in(t, 1), ["--out", "{a_file}"], "out"),
    (["bench"], "--scipy-patients", lambda t: _whole_in(t, 1), ["--out", "{a_file}"], "out"),
    (["bench"], "--years", lambda t: _real_in(t, 0, MAX_YEARS), ["--out", "{a_file}"], "out"),
    (
        ["calibrate"],
        "--perturb",
        lambda t: _real_in(t, 0, 1 - 1e-300, open_low=False),
        ["--targets", "{missing}"],
        "targets",
    ),
    (["calibrate"], "--seed", lambda t: _whole_in(t, 0), ["--targets", "{missing}"], "targets"),
    (["calibrate"], "--starts", lambda t: _whole_in(t, 1), ["--targets", "{missing}"], "targets"),
    (
        ["calibrate"],
        "--people-per-arm",
        lambda t: _whole_in(t, MIN_PEOPLE_PER_ARM),
        ["--targets", "{missing}"],
        "targets",
    ),
    (["calibrate"], "--ensemble", lambda t: _whole_in(t, 0), ["--targets", "{missing}"], "targets"),
    (["export", "sbml", "{folder}"], "--years", lambda t: _real_in(t, 0, MAX_YEARS), [], "file"),
    (["serve"], "--port", lambda t: _whole_in(t, 1, 65535), [], "port"),
]
_NEEDS_PATIENT = {"simulate", "compare", "sensitivity", "export"}


@FUZZ
@given(
    option=st.sampled_from(range(len(_OPTIONS))),
    text=st.one_of(st.sampled_from(SPECIALS), _numbers),
)
def test_every_numeric_option_refuses_nan_inf_and_out_of_range_in_one_line(
    files: dict[str, Path], option: int, text: str
) -> None:
    command, name, valid, guard, guard_field = _OPTIONS[option]
    note(f"{command} {name} {text!r}")
    with counted("cli_numeric_options"):
        if name == "--port" and valid(text):
            return  # a valid port would start the server: nothing to check here
        names = {k: str(v) for k, v in files.items()}
        argv = [c.format(**names) for c in command]
        if command[0] in _NEEDS_PATIENT:
            argv += ["--patient", names["patient"]]
        if command[0] == "sensitivity":
            argv += ["--regimen", "raloxifene:60", "--outcome", "bmd_lumbar_spine_pct"]
        argv += [name, text, *(g.format(**names) for g in guard)]
        fuzzed = name.lstrip("-")
        _refused(argv, {fuzzed} if not valid(text) else {fuzzed, guard_field})


# --- YAML values: the same numbers written in patient and trial files ---------------------------

YAML_NUMBERS = [
    *(".nan", ".NaN", ".inf", "-.inf", "+.inf", "1e308", "1.0e+308", "-1.0e+308", "1.0e999"),
    *("-0", "-0.0", "0", "5.0e-324", "0x10", "0o17", "1_000", "1:30", "~", "null", "true"),
    *("'5'", "99999999999999999999", "-1", "0.5", "2", "25", "60"),
]
_SENTINEL = "SERMSIM_FUZZ_VALUE"


def _yaml_with(data: Any, raw: str) -> str:
    """``data`` as YAML with the sentinel string replaced by ``raw`` written as is."""
    text = yaml.safe_dump(data, allow_unicode=True)
    assert text.count(_SENTINEL) == 1
    return text.replace(_SENTINEL, raw)


@FUZZ
@given(key=st.sampled_from(sorted(Patient.model_fields)), raw=st.sampled_from(YAML_NUMBERS))
def test_a_special_number_in_a_patient_file_parses_or_names_its_key(
    files: dict[str, Path], key: str, raw: str
) -> None:
    note(f"{key}: {raw}")
    with counted("yaml_patient_numbers"):
        data: dict[str, Any] = {"sex": "female", "age": 58}
        data[key] = _SENTINEL
        path = files["folder"] / "special_patient.yaml"
        path.write_text(_yaml_with(data, raw), encoding="utf-8")
        result = _one_line_spec_error(lambda: load_patient(path), "patient")
        if isinstance(result, SpecError):
            assert result.field == f"patient.{key}", str(result)
            _refused(["compare", "--patient", str(path)], {"patient"})


def _numeric_places(node: Any, here: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in a nest of dicts and lists that holds a number (not a boolean)."""
    if isinstance(node, dict):
        return [p for k, v in node.items() for p in _numeric_places(v, (*here, k))]
    if isinstance(node, list):
        return [p for i, v in enumerate(node) for p in _numeric_places(v, (*here, i))]
    return [here] if isinstance(node, int | float) and not isinstance(node, bool) else []


_RICH_TRIAL = {
    **EXAMPLE_TRIAL,
    "physiology_anchors": 8,
    "arms": [
        {"name": "placebo", "regimen": []},
        {
            "name": "raloxifene_60",
            "treatment_years": 2,
            "regimen": [
                {"agent": "raloxifene", "dose_mg": 60, "interval_h": 24, "adherence": 0.9},
                {
                    "agent": "clomiphene",
                    "dose_mg": 50,
                    "start_day": 4,
                    "days_on": 5,
                    "cycle_days": 28,
                },
            ],
        },
    ],
    "population": {
        **EXAMPLE_TRIAL["population"],
        "cyp2d6": {"choices": {"poor": 0.1, "normal": 0.9}},
        "bmi": 27.5,
        "first_degree_relatives_breast_cancer": 1,
    },
}
_TRIAL_PLACES = _numeric_places(_RICH_TRIAL)


def _field_of(path: tuple[Any, ...]) -> str:
    """A place as the spec's errors name it: population.age.mean, arms[1].regimen[0].dose_mg."""
    out = ""
    for step in path:
        out += f"[{step}]" if isinstance(step, int) else (f".{step}" if out else str(step))
    return out


@FUZZ
@given(place=st.sampled_from(_TRIAL_PLACES), raw=st.sampled_from(YAML_NUMBERS))
def test_a_special_number_in_a_trial_spec_parses_or_names_its_place(
    files: dict[str, Path], place: tuple[Any, ...], raw: str
) -> None:
    note(f"{place}: {raw}")
    with counted("yaml_trial_numbers"):
        data: Any = yaml.safe_load(yaml.safe_dump(_RICH_TRIAL))
        node = data
        for step in place[:-1]:
            node = node[step]
        node[place[-1]] = _SENTINEL
        path = files["folder"] / "special_trial.yaml"
        path.write_text(_yaml_with(data, raw), encoding="utf-8")
        result = _one_line_spec_error(lambda: load_trial(path, AGENTS), "")
        if isinstance(result, SpecError):
            assert result.field, str(result)
            if place[0] != "duration_years":  # a shorter follow-up is other keys' mistake
                # the place, what holds it (a dose's days overrun its cycle) or a sibling
                # (a min above the max is the max's mistake)
                parent = _field_of(place[:-1])
                assert result.field.startswith(parent) or parent.startswith(result.field), (
                    f"{_field_of(place)}: {result}"
                )
            _refused(["trial", "run", str(path)], {_culprit(f"sermsim: error: {result}")})


# --- the inclusion language on its own ------------------------------------------------------------

_TOKENS = [
    *("age", "bmi", "uterus", "smoker", "cyp2d6", "sex", "menopause", "race", "thrombophilia"),
    *("and", "or", "not", "true", "false", "(", ")", "<", "<=", ">", ">=", "==", "!=", "="),
    *("poor", "female", "post", "none", "white", "nan", "inf", "60", "-2.5", "1e999", "-0"),
    *("9" * 400, ".5", "1e-400", "\u0665\u0660", "\u00e4ge", "\u00b2", "'", '"', ";", "__import__"),
    *("\t", "\n", "\u2028", "\x00", " ", "agee", "age_", "AGE"),
]


@st.composite
def conditions(draw: st.DrawFn) -> str:
    """Token soups, deep nests of parentheses and not, huge numbers and unicode."""
    kind = draw(st.integers(0, 4))
    if kind == 0:
        return draw(st.text(max_size=40))
    if kind == 1:  # deep: up to well past the parser's bound
        depth = draw(st.one_of(st.integers(0, 60), st.integers(0, 20_000)))
        inner = draw(st.sampled_from(["uterus", "age > 60", "cyp2d6 == poor"]))
        wrap = draw(st.sampled_from(["paren", "not", "both"]))
        left = {"paren": "(", "not": "not ", "both": "not ("}[wrap]
        right = {"paren": ")", "not": "", "both": ")"}[wrap]
        close = draw(st.sampled_from([depth, max(depth - 1, 0)]))
        return left * depth + inner + right * close
    tokens = draw(st.lists(st.sampled_from(_TOKENS), max_size=12))
    return draw(st.sampled_from([" ", "", "  "])).join(tokens)


@pytest.fixture(scope="module")
def table() -> dict[str, np.ndarray]:
    """Real candidates' covariates, as the inclusion language sees them (every key)."""
    from sermsim.physiology.simulate import default_engine

    raw = {
        "name": "t",
        "duration_years": 1,
        "population": {
            "sex": {"choices": {"female": 0.7, "male": 0.3}},
            "age": {"distribution": "uniform", "min": 18, "max": 100},
            "n_per_arm": 64,
            "breast_cancer_5y_risk": {"distribution": "lognormal", "median": 0.02, "sd_log": 1},
            "estradiol_pg_ml": 20,
            "race": {"choices": {"white": 0.5, "black": 0.5}},
        },
        "arms": [{"name": "a", "regimen": []}],
        "endpoints": ["vte"],
    }
    spec = parse_trial(raw, AGENTS)
    values = default_engine().physiology.values
    return inclusion_table(sample_arm(spec, "a", values).columns)


@FUZZ
@given(text=conditions())
def test_an_inclusion_condition_parses_and_screens_or_names_inclusion(
    table: dict[str, np.ndarray], text: str
) -> None:
    note(f"condition: {text!r}")
    with counted("inclusion"):
        rule = _one_line_spec_error(
            lambda: parse_condition(text, "inclusion[0]", PATIENT_KEYS), "inclusion[0]"
        )
        if isinstance(rule, SpecError):
            return
        assert callable(rule)
        screened = _one_line_spec_error(lambda: rule(table), "inclusion[0]")
        if not isinstance(screened, SpecError):
            ok = np.broadcast_to(np.asarray(screened), (len(table["age"]),))
            assert ok.dtype == np.bool_, (text, ok.dtype)


@FUZZ
@given(text=conditions())
def test_a_trial_spec_with_any_inclusion_parses_or_names_inclusion(text: str) -> None:
    note(f"condition: {text!r}")
    with counted("inclusion_in_spec"):
        raw = {**EXAMPLE_TRIAL, "inclusion": [text]}
        _one_line_spec_error(lambda: parse_trial(raw, AGENTS), "inclusion")
