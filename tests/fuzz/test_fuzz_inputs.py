"""Fuzzing of the input parsers (patient, regimen, trial spec, the CLI's cheap failures).

The property everywhere: a parser either returns its object or raises :class:`SpecError` whose
message is one line starting with the field it names; never any other exception. Only parsing
runs here, never a simulation (the CLI is only given inputs its parsers reject).

``SERMSIM_FUZZ_EXAMPLES`` sets the examples per test (default 60, for ``make test``);
``make fuzz`` runs thousands and prints the tally of tests/fuzz/tally.py.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.errors import UnsatisfiedAssumption

from sermsim.agents import load_agents, parse_regimen, regimen_from_list
from sermsim.core.errors import SpecError
from sermsim.interfaces.cli import main
from sermsim.physiology.patient import Patient, load_patient, patient_from_mapping
from sermsim.trials.spec import _TOP_KEYS, load_trial, parse_trial
from tests.fuzz import tally

EXAMPLES = int(os.environ.get("SERMSIM_FUZZ_EXAMPLES", "60"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
AGENTS = load_agents()
ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_TRIAL = yaml.safe_load((ROOT / "examples" / "trial_spec_example.yaml").read_text())
PATIENT_KEYS = list(Patient.model_fields)


# --- the property ---------------------------------------------------------------------------


@contextlib.contextmanager
def _counted(test: str) -> Iterator[None]:
    """Count one executed example, and a failure when it breaks the property."""
    tally.TRIED[test] += 1
    try:
        yield
    except UnsatisfiedAssumption:
        tally.TRIED[test] -= 1  # a valid input the CLI test skips: not a case
        raise
    except BaseException:
        tally.FAILED[test] += 1
        raise


def _parses_or_spec_error(parse: Callable[[], object]) -> object | SpecError:
    """The parser's result or its SpecError; anything else propagates (a failure)."""
    try:
        return parse()
    except SpecError as err:
        message = str(err)
        assert "\n" not in message and "\r" not in message, f"multi-line error: {message!r}"
        assert isinstance(err.field, str) and err.field.strip(), f"no field named: {message!r}"
        assert message.startswith(f"{err.field}: "), (
            f"message does not lead with its field: {message!r}"
        )
        return err


# --- strategies -----------------------------------------------------------------------------

_WORDS = ["female", "male", "post", "pre", "peri", "none", "normal", "poor", "white", "true"]
_WORDS += ["null", "", " ", "\n", "raloxifene", "nan", "inf", "-1", "1e309", "ä", "\x00", "{", ":"]
_words = st.sampled_from(_WORDS)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-5, max_value=120),
    st.floats(),  # nan and +-inf included
    st.floats(min_value=-5, max_value=120),
    st.text(max_size=20),
    _words,
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.text(max_size=8), _words), inner, max_size=4),
    ),
    max_leaves=8,
)
_PLAUSIBLE: dict[str, st.SearchStrategy[Any]] = {
    "sex": st.sampled_from(["female", "male", "Female", "other"]),
    "menopause": st.sampled_from(["pre", "peri", "post", "POST"]),
    "thrombophilia": st.sampled_from(["none", "factor_v_leiden_het", "prothrombin_g20210a"]),
    "cyp2d6": st.sampled_from(["poor", "intermediate", "normal", "ultrarapid"]),
    "race": st.sampled_from(["white", "black", "hispanic", "asian", "other"]),
}


def _patient_value(key: str) -> st.SearchStrategy[Any]:
    return st.one_of(_PLAUSIBLE.get(key, st.floats(min_value=-10, max_value=120)), VALUES)


@st.composite
def patient_mappings(draw: st.DrawFn) -> dict[Any, Any]:
    keys = draw(st.lists(st.sampled_from(PATIENT_KEYS), unique=True, max_size=10))
    if draw(st.booleans()):
        keys = ["sex", "age", *[k for k in keys if k not in ("sex", "age")]]
    data: dict[Any, Any] = {key: draw(_patient_value(key)) for key in keys}
    if draw(st.integers(0, 9)) == 0:  # a stranger: a typo, a non-string key
        data[draw(st.one_of(st.text(max_size=10), st.integers(), st.none()))] = draw(VALUES)
    return data


_agent_names = st.sampled_from([*sorted(AGENTS), "Raloxifene", "aspirin", "", "none"])
_num_text = st.one_of(
    st.sampled_from(["60", "0", "-1", "0.45", "1e309", "nan", "inf", "", " ", "1_0", "0x10"]),
    st.floats().map(repr),
    st.integers().map(str),
)


@st.composite
def regimen_texts(draw: st.DrawFn) -> str:
    """The short form AGENT[:DOSE[@INTERVAL_H]][[dA-B/C]]+..., built and then garbled."""
    if draw(st.integers(0, 4)) == 0:
        return draw(st.text(alphabet=st.sampled_from("abcnoe:@+[]d-/0123456789.x \n"), max_size=30))
    parts = []
    for _ in range(draw(st.integers(1, 3))):
        part = draw(_agent_names)
        if draw(st.booleans()):
            part += ":" + draw(_num_text)
            if draw(st.booleans()):
                part += "@" + draw(_num_text)
        if draw(st.booleans()):
            a, b, c = (draw(st.integers(-3, 40)) for _ in range(3))
            part += draw(st.sampled_from([f"[d{a}-{b}/{c}]", f"[d{a}-{b}]", "[", "]", f"[{a}]"]))
        parts.append(part)
    return draw(st.sampled_from(["+", " + ", "++"])).join(parts)


_DOSE_KEYS = ["agent", "dose_mg", "interval_h", "start_day", "days_on", "cycle_days", "adherence"]


@st.composite
def regimen_lists(draw: st.DrawFn) -> Any:
    if draw(st.integers(0, 6)) == 0:
        return draw(VALUES)
    items: list[Any] = []
    for _ in range(draw(st.integers(0, 3))):
        if draw(st.integers(0, 6)) == 0:
            items.append(draw(VALUES))
            continue
        keys = draw(st.lists(st.sampled_from([*_DOSE_KEYS, "dose"]), unique=True, max_size=7))
        item: dict[str, Any] = {}
        for key in keys:
            plausible = _agent_names if key == "agent" else st.floats(min_value=-2, max_value=60)
            item[key] = draw(st.one_of(plausible, VALUES))
        items.append(item)
    return items


def _paths(node: Any, here: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every place (a path of keys and indices) in a nest of dicts and lists."""
    yield here
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*here, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _paths(value, (*here, i))


def _at(node: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        node = node[step]
    return node


_TRIAL_WORDS = [*_TOP_KEYS, *PATIENT_KEYS, "distribution", "mean", "sd", "min", "max"]
_TRIAL_WORDS += ["median", "sd_log", "fraction_true", "choices", "n_per_arm", "regimen"]
_TRIAL_WORDS += ["name", "arm", "reference", "at_years", "agent", "dose_mg", "lognormal"]
_TRIAL_VALUES = st.one_of(
    VALUES,
    st.sampled_from(
        ["normal", "uniform", "placebo", "raloxifene_60", "invasive_breast_cancer", "age > 50"]
    ),
    st.sampled_from(
        ["bmd_lumbar_spine_pct", "not (", "age >", "uterus and or", "age == 'x'", "cataract"]
    ),
)


@st.composite
def mutated_trials(draw: st.DrawFn) -> Any:
    """The example trial with 1-4 random replacements, deletions and insertions."""
    raw = copy.deepcopy(EXAMPLE_TRIAL)
    for _ in range(draw(st.integers(1, 4))):
        places = list(_paths(raw))
        path = draw(st.sampled_from(places))
        action = draw(st.sampled_from(["replace", "delete", "insert"]))
        if not path:  # the top level itself
            if action == "replace":
                raw = draw(_TRIAL_VALUES)
            continue
        parent = _at(raw, path[:-1])
        if action == "replace":
            parent[path[-1]] = draw(_TRIAL_VALUES)
        elif action == "delete":
            del parent[path[-1]]
        else:
            target = _at(raw, path)
            if isinstance(target, dict):
                target[draw(st.one_of(st.sampled_from(_TRIAL_WORDS), st.text(max_size=8)))] = draw(
                    _TRIAL_VALUES
                )
            elif isinstance(target, list):
                target.insert(draw(st.integers(0, len(target))), draw(_TRIAL_VALUES))
            else:
                parent[path[-1]] = draw(_TRIAL_VALUES)
    return raw


def _dump(data: Any, as_json: bool) -> str:
    if as_json:
        return json.dumps(data)  # NaN/Infinity: non-standard JSON, which YAML reads as text
    return yaml.safe_dump(data, allow_unicode=True)


_garbage_text = st.one_of(
    st.text(max_size=60),
    st.sampled_from(["", "---", "[", "{a: 1", "- a\n- b", "a: [1, 2", "\t", "null", "42", "!!x"]),
)


# --- the parsers ----------------------------------------------------------------------------


@FUZZ
@given(data=patient_mappings())
def test_patient_from_mapping_returns_a_patient_or_one_line_spec_error(data: dict[Any, Any]):
    with _counted("patient"):
        result = _parses_or_spec_error(lambda: patient_from_mapping(data))
        assert isinstance(result, Patient | SpecError)


@FUZZ
@given(value=VALUES)
def test_patient_from_mapping_rejects_what_is_not_a_mapping_in_one_line(value: Any):
    with _counted("patient_any"):
        _parses_or_spec_error(lambda: patient_from_mapping(value))


@FUZZ
@given(text=regimen_texts())
def test_parse_regimen_short_form_returns_a_regimen_or_one_line_spec_error(text: str):
    with _counted("regimen_short"):
        result = _parses_or_spec_error(lambda: parse_regimen(text, AGENTS))
        assert isinstance(result, tuple | SpecError)


@FUZZ
@given(items=regimen_lists())
def test_regimen_list_form_returns_a_regimen_or_one_line_spec_error(items: Any):
    with _counted("regimen_list"):
        result = _parses_or_spec_error(lambda: regimen_from_list(items, AGENTS))
        assert isinstance(result, tuple | SpecError)


@FUZZ
@given(raw=mutated_trials())
def test_parse_trial_returns_a_spec_or_one_line_spec_error(raw: Any):
    with _counted("trial"):
        _parses_or_spec_error(lambda: parse_trial(raw, AGENTS))


# --- the CLI, only with inputs its parsers reject (nothing is simulated) --------------------


def _cli(argv: list[str]) -> tuple[int | str | None, str]:
    stderr, stdout = io.StringIO(), io.StringIO()
    with (
        contextlib.redirect_stderr(stderr),
        contextlib.redirect_stdout(stdout),
        pytest.raises(SystemExit) as exit_,
    ):
        main(argv)
    return exit_.value.code, stderr.getvalue()


def _assert_one_line_exit_2(argv: list[str]) -> None:
    code, err = _cli(argv)
    assert code == 2, f"exit {code!r} for {argv!r}: {err!r}"
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("sermsim: error: "), repr(err)


@FUZZ
@given(
    content=st.one_of(mutated_trials(), _garbage_text),
    as_json=st.booleans(),
)
def test_trial_run_rejects_an_invalid_spec_with_one_line_and_exit_2(content: Any, as_json: bool):
    text = content if isinstance(content, str) else _dump(content, as_json)
    with _counted("cli_trial_run"), tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / ("trial.json" if as_json else "trial.yaml")
        path.write_text(text, encoding="utf-8")
        try:
            load_trial(path, AGENTS)
        except SpecError:
            pass  # invalid: what the CLI must reject in one line
        else:
            assume(False)  # valid: running it would simulate
        _assert_one_line_exit_2(["trial", "run", str(path)])


_years = st.one_of(
    st.sampled_from(["5", "0", "-1", "nan", "inf", "", "five", "1e999", "--json", "5 years"]),
    st.text(max_size=10),
    st.floats().map(repr),
)


@FUZZ
@given(
    content=st.one_of(patient_mappings(), VALUES, _garbage_text),
    as_json=st.booleans(),
    years=_years,
)
def test_compare_rejects_an_invalid_patient_or_years_with_one_line_and_exit_2(
    content: Any, as_json: bool, years: str
):
    text = content if isinstance(content, str) else _dump(content, as_json)
    with _counted("cli_compare"), tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / ("patient.json" if as_json else "patient.yaml")
        path.write_text(text, encoding="utf-8")
        try:
            load_patient(path)
            float(years)
        except (SpecError, ValueError):
            pass  # an invalid patient, or --years that is not a number: no simulation
        else:
            assume(False)  # both valid: compare would simulate
        _assert_one_line_exit_2(["compare", "--patient", str(path), "--years", years])
