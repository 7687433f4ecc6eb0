"""`sermsim trial run` and `sermsim validate` as a user drives them: one clear line and exit
code 2 for every mistake in a spec; JSON on stdout, progress on stderr; files in --out."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from sermsim.interfaces.cli import main

SCHEMA = json.loads(
    (Path(__file__).parent.parent / "schemas" / "trial_result.schema.json").read_text()
)
SPEC = {
    "name": "cli trial",
    "seed": 3,
    "duration_years": 1,
    "physiology_anchors": 8,
    "population": {
        "sex": "female",
        "n_per_arm": 400,
        "age": {"distribution": "normal", "mean": 60, "sd": 5, "min": 50, "max": 75},
        "menopause": "post",
    },
    "arms": [
        {"name": "placebo", "regimen": []},
        {"name": "tamoxifen", "regimen": [{"agent": "tamoxifen", "dose_mg": 20}]},
    ],
    "endpoints": [
        "invasive_breast_cancer",
        "vte",
        {"name": "ldl_cholesterol_pct", "at_years": 0.5},
    ],
    "comparisons": [{"arm": "tamoxifen", "reference": "placebo"}],
}


def run(capsys, *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_:
        main(list(argv))
    out, err = capsys.readouterr()
    return int(exit_.value.code or 0), out, err


def write(tmp_path: Path, spec: dict, name: str = "spec.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    return path


def test_trial_run_json_and_files(capsys, tmp_path):
    code, out, err = run(
        capsys, "trial", "run", str(write(tmp_path, SPEC)), "--json", "--out", str(tmp_path / "o")
    )
    assert code == 0, err
    doc = json.loads(out)
    jsonschema.validate(doc, SCHEMA)
    assert "ldl_cholesterol_pct@0.5" in doc["arms"]["tamoxifen"]["endpoints"]
    assert "cli trial" in err  # progress went to stderr
    for name in (
        "result.json",
        "summary.txt",
        "curves.csv",
        "people.parquet",
        "forest.png",
        "cumulative_incidence.png",
    ):
        assert (tmp_path / "o" / name).exists(), name
    assert json.loads((tmp_path / "o" / "result.json").read_text()) == doc
    code, out, _ = run(capsys, "trial", "run", str(write(tmp_path, SPEC)))
    assert code == 0 and "not medical advice" in out and "RR" in out


def mutate(path: str, value: object) -> dict:
    spec = copy.deepcopy(SPEC)
    node = spec
    *parents, last = path.split(".")
    for p in parents:
        node = node[int(p)] if p.isdigit() else node[p]
    if last.isdigit():
        node[int(last)] = value
    else:
        node[last] = value
    return spec


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        (mutate("endpoints.0", "breast_cancer_everything"), "endpoints[0]"),
        (mutate("arms.1", {"name": "tamoxifen"}), "arms[1].regimen"),
        (
            mutate("comparisons.0", {"arm": "raloxifene", "reference": "placebo"}),
            "comparisons[0].arm",
        ),
        (mutate("population.n_per_arm", -10), "population.n_per_arm"),
        (mutate("population.age", {"distribution": "normal", "mean": 60}), "population.age.sd"),
        (mutate("inclusion", ["age >>= 50"]), "inclusion[0]"),
        ("name: [unclosed", "spec"),
        ("", "spec"),
    ],
)
def test_spec_mistakes_are_one_line_and_exit_2(capsys, tmp_path, spec, field):
    path = tmp_path / "bad.yaml"
    path.write_text(spec if isinstance(spec, str) else yaml.safe_dump(spec), encoding="utf-8")
    code, out, err = run(capsys, "trial", "run", str(path), "--json")
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"sermsim: error: {field}"), err
    assert "Traceback" not in err and out == ""


def test_missing_spec_file_is_one_line(capsys, tmp_path):
    code, _, err = run(capsys, "trial", "run", str(tmp_path / "nope.yaml"))
    assert code == 2 and err.strip().startswith("sermsim: error: spec")


def test_validate_names_an_unknown_spec(capsys):
    code, _, err = run(capsys, "validate", "--only", "p2")
    assert code == 2 and err.strip().startswith("sermsim: error: only")


def test_the_example_of_trial_spec_runs_as_written(capsys):
    """The public contract's own example, unchanged (examples/trial_spec_example.yaml)."""
    example = Path(__file__).resolve().parents[2] / "examples" / "trial_spec_example.yaml"
    code, out, err = run(capsys, "trial", "run", str(example), "--json")
    assert code == 0, err
    doc = json.loads(out)
    jsonschema.validate(doc, SCHEMA)
    assert set(doc["arms"]["placebo"]["endpoints"]) == {
        "invasive_breast_cancer",
        "bmd_lumbar_spine_pct@2",
    }
    comp = doc["comparisons"][0]["endpoints"]
    assert comp["invasive_breast_cancer"]["rr_expected"] < 0.6
    assert comp["bmd_lumbar_spine_pct@2"]["ci_low"] > 1.0
