"""The SBML export: a valid document that libRoadRunner simulates to sermsim's own answer on
every biomarker and day, and `sermsim export sbml` as a user drives it."""

from __future__ import annotations

import math
from pathlib import Path

import libsbml
import numpy as np
import pytest

from sermsim.agents.regimen import parse_regimen
from sermsim.core.errors import SpecError
from sermsim.interfaces.cli import main
from sermsim.physiology import sbml
from sermsim.physiology.patient import load_patient, patient_from_mapping
from sermsim.physiology.reference import ABSOLUTE_FRACTION, AGREEMENT, TYPICAL_SIZE
from sermsim.physiology.simulate import BIOMARKERS, day_zero, default_engine, simulate

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "postmenopausal_55.yaml"

# Agreement of libRoadRunner on the exported file with sermsim's engine, per biomarker and day:
# |diff| <= RTOL * |value| + ATOL_FRACTION * TYPICAL[biomarker] (sermsim.physiology.reference,
# shared with `sermsim bench`).
RTOL = AGREEMENT
ATOL_FRACTION = ABSOLUTE_FRACTION
TYPICAL = TYPICAL_SIZE

CASES = {
    "postmenopausal woman, raloxifene 60 mg/day, 5 years": ("example", "raloxifene:60", 5.0),
    "premenopausal woman, tamoxifen 20 mg/day, 5 years": (
        {"sex": "female", "age": 42, "menopause": "pre"},
        "tamoxifen:20",
        5.0,
    ),
    "premenopausal woman, clomiphene days 5-9 of 28, 100 days": (
        {"sex": "female", "age": 32, "menopause": "pre"},
        "clomiphene",
        100 / 365.25,
    ),
}


def _patient(spec: object):
    return load_patient(EXAMPLE) if spec == "example" else patient_from_mapping(spec)


def test_typical_sizes_cover_every_biomarker():
    assert set(TYPICAL) == set(BIOMARKERS)


@pytest.fixture(scope="module")
def raloxifene_doc() -> libsbml.SBMLDocument:
    engine = default_engine()
    return sbml.build_sbml(
        load_patient(EXAMPLE), parse_regimen("raloxifene:60", engine.agents), 5.0
    )


def test_the_document_passes_libsbml_consistency_checks(raloxifene_doc):
    doc = raloxifene_doc
    doc.checkConsistency()  # units included: only warnings, for undeclared parameter units
    errors = [
        doc.getError(i).getMessage()
        for i in range(doc.getNumErrors())
        if doc.getError(i).getSeverity() >= libsbml.LIBSBML_SEV_ERROR
    ]
    assert errors == []
    m = doc.getModel()
    assert (m.getLevel(), m.getVersion(), m.getTimeUnits()) == (3, 2, "day")
    assert m.getNumEvents() == 1
    ids = {m.getParameter(i).getId() for i in range(m.getNumParameters())}
    assert set(BIOMARKERS) - {"testosterone_ng_dl"} <= ids  # NaN in women: omitted
    assert "testosterone_ng_dl" not in ids


def test_named_parameters_carry_their_source(raloxifene_doc):
    m = raloxifene_doc.getModel()
    notes = m.getParameter("time_scales_endometrium").getNotesString()
    assert "Bakos" in notes and "verified: True" in notes
    model_notes = m.getNotesString()
    assert "parameters_sha256" in model_notes and "not medical advice" in model_notes


@pytest.mark.parametrize("case", sorted(CASES))
def test_roadrunner_on_the_export_agrees_with_sermsim(case):
    spec, regimen_text, years = CASES[case]
    engine = default_engine()
    patient = _patient(spec)
    regimen = parse_regimen(regimen_text, engine.agents)
    day0 = np.asarray(day_zero([patient], engine)[0])
    text = sbml.export_sbml(patient, regimen, years, engine=engine, day0=day0)
    ours = simulate(patient, regimen, years, engine=engine)
    days = ours.time.values
    theirs = sbml.simulate_sbml(text, days, tuple(BIOMARKERS))
    for name in BIOMARKERS:
        a, b = ours[name].values, theirs[name]
        if np.all(np.isnan(a)):  # not applicable to this person: omitted from the file
            assert np.all(np.isnan(b)), name
            continue
        assert np.all(np.isfinite(b)), name
        bound = RTOL * np.abs(a) + ATOL_FRACTION * TYPICAL[name]
        worst = int(np.argmax(np.abs(a - b) - bound))
        assert abs(a[worst] - b[worst]) <= bound[worst], (name, days[worst], a[worst], b[worst])


def test_day_zero_is_the_untreated_baseline_and_later_days_follow_the_event():
    engine = default_engine()
    patient = load_patient(EXAMPLE)
    text = sbml.export_sbml(patient, parse_regimen("estradiol:1", engine.agents), 10 / 365.25)
    untreated = sbml.export_sbml(patient, (), 10 / 365.25)
    days = np.arange(4.0)
    on = sbml.simulate_sbml(text, days, ("estradiol_pg_ml",))["estradiol_pg_ml"]
    off = sbml.simulate_sbml(untreated, days, ("estradiol_pg_ml",))["estradiol_pg_ml"]
    assert on[0] == pytest.approx(off[0], rel=1e-12)  # day 0: before the first dose
    assert np.all(on[1:] > 2.0 * off[1:])  # from day 1, the day's mean includes the doses
    with pytest.raises(SpecError, match="doses through day 10"):  # sermsim doses every day
        sbml.simulate_sbml(text, [0.0, 11.0], ("estradiol_pg_ml",))


def test_irregular_schedules_are_refused():
    engine = default_engine()
    regimen = parse_regimen("raloxifene:60", engine.agents)
    missed = (regimen[0].model_copy(update={"adherence": 0.8}),)
    with pytest.raises(SpecError, match=r"regimen\[0\]\.adherence"):
        sbml.build_sbml(load_patient(EXAMPLE), missed, 1.0, day0=np.zeros(21))


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_:
        main(list(argv))
    out, err = capsys.readouterr()
    return int(exit_.value.code or 0), out, err


def test_cli_writes_a_valid_file(capsys, tmp_path):
    path = tmp_path / "model.xml"
    code, out, _ = _run(
        capsys, "export", "sbml", str(path), "--patient", str(EXAMPLE), "--years", "1"
    )
    assert code == 0 and str(path) in out
    doc = libsbml.readSBMLFromFile(str(path))
    assert doc.getNumErrors(libsbml.LIBSBML_SEV_ERROR) == 0
    assert f"{math.ceil(365.25)}" in doc.getModel().getNotesString()  # dosed through day 366


def test_cli_bad_regimen_is_one_line_and_exit_2(capsys, tmp_path):
    path = tmp_path / "model.xml"
    code, out, err = _run(capsys, "export", "sbml", str(path), "--regimen", "raloxifen:60")
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "regimen[0].agent" in err and "raloxifene" in err
    assert not path.exists()
