"""`sermsim profile` as a user drives it: JSON against the public schema, tables, files,
and one-line errors with exit code 2."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from sermsim import DISCLAIMER
from sermsim.interfaces.cli import main

SCHEMAS = Path(__file__).parent.parent / "schemas"
SHARED = Path(__file__).resolve().parents[3] / "shared" / "schemas"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_:
        main(list(argv))
    out, err = capsys.readouterr()
    return int(exit_.value.code or 0), out, err


def schema() -> dict:
    return json.loads((SCHEMAS / "profile.schema.json").read_text())


@pytest.mark.skipif(not SHARED.exists(), reason="../shared/schemas not beside this checkout")
def test_vendored_schemas_match_the_shared_contract():
    for name in ("profile.schema.json", "trial_result.schema.json"):
        assert (SCHEMAS / name).read_text() == (SHARED / name).read_text()


def test_profile_json_validates_against_the_schema(capsys):
    code, out, _err = run(capsys, "profile", "raloxifene:120", "--json")
    assert code == 0
    doc = json.loads(out)
    jsonschema.validate(doc, schema())
    assert doc["agent"] == "raloxifene" and doc["regimen"] == "raloxifene:120"
    assert doc["disclaimer"] == DISCLAIMER


def test_combination_json_names_the_regimen_as_agent(capsys):
    _code, out, _ = run(capsys, "profile", "conjugated_estrogens:0.45+bazedoxifene:20", "--json")
    doc = json.loads(out)
    jsonschema.validate(doc, schema())
    assert doc["agent"] == "conjugated_estrogens:0.45+bazedoxifene:20"


def test_profile_all_json_and_files(capsys, tmp_path):
    code, out, _err = run(capsys, "profile", "--all", "--json", "--out", str(tmp_path))
    assert code == 0
    docs = json.loads(out)
    assert isinstance(docs, list) and len(docs) >= 11
    for doc in docs:
        jsonschema.validate(doc, schema())
    assert json.loads((tmp_path / "profile.json").read_text()) == docs
    rows = list(
        csv.DictReader(
            line
            for line in (tmp_path / "profile.csv").read_text().splitlines()
            if not line.startswith("#")
        )
    )
    assert len(rows) == 7 * len(docs)
    assert (tmp_path / "profile.csv").read_text().startswith(f"# {DISCLAIMER}")
    png = (tmp_path / "profile_heatmap.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000


def test_table_says_it_is_not_medical_advice(capsys):
    code, out, _ = run(capsys, "profile", "tamoxifen")
    assert code == 0
    assert "tamoxifen:20" in out and "antagonist" in out
    assert DISCLAIMER in out


@pytest.mark.parametrize(
    ("argv", "field"),
    [
        (["profile", "aspirin"], "regimen[0].agent"),
        (["profile", "raloxifene:-5"], "regimen[0].dose_mg"),
        (["profile", "raloxifene:sixty"], "regimen[0].dose_mg"),
        (["profile", "raloxifene", "--all"], "regimen"),
        (["profile"], "regimen"),
        (["profile", "none"], "regimen"),
    ],
)
def test_user_mistakes_are_one_line_and_exit_2(capsys, argv, field):
    code, out, err = run(capsys, *argv)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"sermsim: error: {field}")
    assert "Traceback" not in err and out == ""


def test_the_installed_command_runs(tmp_path):
    """The real entry point in a subprocess: JSON on stdout, exit 0; bad input, exit 2."""
    exe = Path(sys.executable).with_name("sermsim")
    ok = subprocess.run(
        [str(exe), "profile", "ospemifene", "--json"], capture_output=True, text=True, timeout=300
    )
    assert ok.returncode == 0, ok.stderr
    jsonschema.validate(json.loads(ok.stdout), schema())
    bad = subprocess.run(
        [str(exe), "profile", "ospemifene:0"], capture_output=True, text=True, timeout=300
    )
    assert bad.returncode == 2 and "Traceback" not in bad.stderr


# --- sermsim simulate ---------------------------------------------------------------------------


def test_simulate_writes_outputs_and_json(tmp_path, capsys):
    patient = tmp_path / "p.yaml"
    patient.write_text("sex: female\nage: 58\nmenopause: post\nyears_since_menopause: 6\n")
    out = tmp_path / "out"
    code, stdout, _ = run(
        capsys,
        "simulate",
        "--patient",
        str(patient),
        "--regimen",
        "raloxifene:60",
        "--years",
        "0.3",
        "--json",
        "--out",
        str(out),
    )
    assert code == 0
    summary = json.loads(stdout)
    assert "not medical advice" in summary["disclaimer"]
    assert summary["biomarkers"]["bmd_lumbar_spine_g_cm2"]["units"] == "g/cm2"
    for name in ("simulation.csv", "simulation.parquet", "simulation.png", "summary.json"):
        assert (out / name).exists()


@pytest.mark.parametrize(
    ("content", "field"),
    [
        ("sex: female\nage: 17\n", "patient.age"),
        ("sex: female\nage: 58\nbmii: 20\n", "patient.bmii"),
        ("age: 58\n", "patient.sex"),
        ("sex: male\nage: 50\nmenopause: post\n", "patient.menopause"),
        ("[1, 2]\n", "patient"),
    ],
)
def test_simulate_bad_patient_is_one_line_and_exit_2(tmp_path, capsys, content, field):
    patient = tmp_path / "p.yaml"
    patient.write_text(content)
    code, _, err = run(capsys, "simulate", "--patient", str(patient), "--years", "0.1")
    err = err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and field in err


def test_simulate_bad_regimen_and_missing_file(tmp_path, capsys):
    patient = tmp_path / "p.yaml"
    patient.write_text("sex: female\nage: 58\n")
    for argv in (
        ["--patient", str(patient), "--regimen", "raloxifen"],
        ["--patient", str(tmp_path / "none.yaml")],
        ["--patient", str(patient), "--years", "-1"],
    ):
        code, _, err = run(capsys, "simulate", *argv)
        assert code == 2 and len(err.strip().splitlines()) == 1


def test_simulate_usage_mistakes_are_one_line(tmp_path, capsys):
    patient = tmp_path / "p.yaml"
    patient.write_text("sex: female\nage: 58\n")
    for argv in (
        ["simulate", "--patient", str(patient), "--seed", "-5"],
        ["simulate"],
        ["simulate", "--patient", str(patient), "--out", str(patient)],
    ):
        code, _, err = run(capsys, *argv)
        assert code == 2 and len(err.strip().splitlines()) == 1, (argv, err)


def test_a_weight_named_across_lines_is_one_line(tmp_path, capsys):
    # found by fuzzing: --weight 'a<newline>b=1' printed the error on two lines
    patient = tmp_path / "p.yaml"
    patient.write_text("sex: female\nage: 58\n")
    code, _, err = run(capsys, "compare", "--patient", str(patient), "--weight", "a\nb=1")
    assert code == 2 and len(err.splitlines()) == 1 and err.startswith("sermsim: error: weight:")


def test_a_scheduler_address_across_lines_is_refused_before_any_progress(tmp_path, capsys):
    # found by fuzzing: 'connecting to a<newline>b' went to stderr before the refusal
    spec = Path(__file__).resolve().parents[2] / "examples" / "trial_spec_example.yaml"
    argv = ["trial", "run", str(spec), "--shards", "2", "--out", str(tmp_path)]
    code, _, err = run(capsys, *argv, "--scheduler", "a\nb")
    assert code == 2 and len(err.splitlines()) == 1
    assert err.startswith("sermsim: error: scheduler:")
