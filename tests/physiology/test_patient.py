"""The patient format of TRIAL_SPEC.md: defaults, bad input named by key, files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from sermsim.core.errors import SpecError
from sermsim.physiology.patient import Patient, load_patient, patient_from_mapping
from sermsim.receptor.exposure import LIFE_STAGES

# TRIAL_SPEC.md, section "Patient", verbatim.
SPEC_EXAMPLE = """\
sex: female                 # female | male                      (required)
age: 58                     # years, 18-100                       (required)
menopause: post             # pre | peri | post; women only       (default: post if age >= 52, else pre)
years_since_menopause: 6    # post only                           (default: max(age - 51, 0))
uterus: true                # intact uterus                       (default: true for women)
bmi: 27.0                   # kg/m2                               (default: 27)
smoker: false               #                                     (default: false)
prior_vte: false            #                                     (default: false)
thrombophilia: none         # none | factor_v_leiden_het | factor_v_leiden_hom | prothrombin_g20210a
bmd_t_score_spine: -1.0     #                                     (default: age/sex typical)
bmd_t_score_hip: -1.0       #                                     (default: age/sex typical)
prior_fragility_fracture: false
breast_cancer_5y_risk: 0.017  # absolute 5-year risk of invasive breast cancer (default: age typical)
cyp2d6: normal              # poor | intermediate | normal | ultrarapid
surgical_menopause: false   # bilateral oophorectomy (women)
# optional Gail-model (BCRAT) inputs, used when breast_cancer_5y_risk is not given
race: white                 # white | black | hispanic | asian | other
age_at_menarche: 13
age_at_first_birth: 26      # or null for nulliparous
first_degree_relatives_breast_cancer: 0
breast_biopsies: 0
atypical_hyperplasia: false
# optional measured baseline labs; when given, the person's HPG set points are fitted to them
estradiol_pg_ml: 20
testosterone_ng_dl: 250     # men: e.g. a hypogonadal man
lh_iu_l: 2.0
fsh_iu_l: 3.0
"""  # noqa: E501

WOMAN: dict[str, Any] = {"sex": "female", "age": 58}
MAN: dict[str, Any] = {"sex": "male", "age": 58}


def _write(tmp_path: Path, text: str | bytes, name: str = "patient.yaml") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


# --- the spec's example and round trips -------------------------------------------------


def test_spec_example_loads(tmp_path):
    p = load_patient(_write(tmp_path, SPEC_EXAMPLE))
    assert (p.sex, p.age, p.menopause, p.years_since_menopause) == ("female", 58, "post", 6)
    assert p.uterus is True and p.bmi == 27.0 and p.thrombophilia == "none"
    assert p.breast_cancer_5y_risk == 0.017 and p.cyp2d6 == "normal"
    assert (p.race, p.age_at_menarche, p.age_at_first_birth) == ("white", 13, 26)
    assert (p.estradiol_pg_ml, p.testosterone_ng_dl, p.lh_iu_l, p.fsh_iu_l) == (20, 250, 2, 3)
    assert p.life_stage == "postmenopausal"


def test_spec_example_is_json_too(tmp_path):
    p = load_patient(_write(tmp_path, SPEC_EXAMPLE))
    again = load_patient(_write(tmp_path, p.model_dump_json(), "patient.json"))
    assert again == p


@pytest.mark.parametrize(
    "data",
    [
        yaml.safe_load(SPEC_EXAMPLE),
        WOMAN,
        MAN,
        {"sex": "female", "age": 44, "surgical_menopause": True, "years_since_menopause": 3},
        {"sex": "male", "age": 30, "uterus": False, "surgical_menopause": False},
    ],
)
def test_dump_and_read_again_is_the_same_patient(data):
    p = patient_from_mapping(data)
    dumped = yaml.safe_load(yaml.safe_dump(p.model_dump()))
    assert patient_from_mapping(dumped) == p


# --- defaults -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("age", "menopause", "years"), [(51.9, "pre", None), (52, "post", 1.0), (70, "post", 19.0)]
)
def test_menopause_and_years_default_by_age(age, menopause, years):
    p = patient_from_mapping({"sex": "female", "age": age})
    assert (p.menopause, p.years_since_menopause) == (menopause, years)


def test_given_post_before_51_defaults_to_zero_years():
    p = patient_from_mapping({"sex": "female", "age": 45, "menopause": "post"})
    assert p.years_since_menopause == 0.0


def test_woman_defaults():
    p = patient_from_mapping(WOMAN)
    assert p.uterus is True and p.bmi == 27.0
    assert not (p.smoker or p.prior_vte or p.prior_fragility_fracture or p.surgical_menopause)
    assert (p.thrombophilia, p.cyp2d6) == ("none", "normal")
    assert p.bmd_t_score_spine is None and p.bmd_t_score_hip is None  # physiology fills them
    assert p.breast_cancer_5y_risk is None


def test_null_means_default():
    p = patient_from_mapping({**WOMAN, "menopause": None, "uterus": None})
    assert (p.menopause, p.uterus) == ("post", True)


def test_null_means_default_for_keys_with_a_value_default_too():
    # found by fuzzing: bmi: null (or an empty "bmi:" in YAML) was refused, unlike in a trial
    nulls = {"bmi": None, "smoker": None, "thrombophilia": None, "cyp2d6": None}
    p = patient_from_mapping({**WOMAN, **nulls, "surgical_menopause": None, "prior_vte": None})
    assert (p.bmi, p.smoker, p.thrombophilia, p.cyp2d6) == (27.0, False, "none", "normal")
    assert not (p.surgical_menopause or p.prior_vte)
    assert p.model_fields_set == set(WOMAN)  # null is left out, as the docstring says
    with pytest.raises(SpecError):
        patient_from_mapping({**WOMAN, "age": None})  # required: null is no default


def test_given_values_are_kept():
    p = patient_from_mapping({**WOMAN, "uterus": False, "menopause": "peri"})
    assert (p.uterus, p.menopause, p.years_since_menopause) == (False, "peri", None)


def test_man_has_no_female_keys_and_is_male():
    p = patient_from_mapping(MAN)
    assert (p.menopause, p.years_since_menopause, p.uterus) == (None, None, None)
    assert p.life_stage == "male"


def test_surgical_menopause_makes_a_young_woman_post():
    p = patient_from_mapping({"sex": "female", "age": 40, "surgical_menopause": True})
    assert (p.menopause, p.life_stage) == ("post", "postmenopausal")


@pytest.mark.parametrize(
    ("data", "stage"),
    [
        ({"sex": "female", "age": 30}, "premenopausal"),
        ({"sex": "female", "age": 49, "menopause": "peri"}, "perimenopausal"),
        ({"sex": "female", "age": 60}, "postmenopausal"),
        ({"sex": "male", "age": 60}, "male"),
    ],
)
def test_life_stage_is_a_receptor_life_stage(data, stage):
    assert patient_from_mapping(data).life_stage == stage
    assert stage in LIFE_STAGES


def test_patient_is_frozen():
    p = patient_from_mapping(WOMAN)
    with pytest.raises(ValueError):
        p.age = 60  # type: ignore[misc]


def test_nulliparous_is_told_from_unknown():
    nulliparous = patient_from_mapping({**WOMAN, "age_at_first_birth": None})
    unknown = patient_from_mapping(WOMAN)
    assert nulliparous.age_at_first_birth is None and unknown.age_at_first_birth is None
    assert "age_at_first_birth" in nulliparous.model_fields_set
    assert "age_at_first_birth" not in unknown.model_fields_set


def test_unquoted_yaml_yes_is_a_boolean(tmp_path):
    assert load_patient(_write(tmp_path, "sex: female\nage: 60\nsmoker: yes\n")).smoker is True


# --- bad input: each names its key, in one line -------------------------------------------


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"age": 58}, "patient.sex"),  # missing sex
        ({"sex": "female"}, "patient.age"),  # missing age
        ({"sex": "female", "age": 17}, "patient.age"),  # too young
        ({"sex": "female", "age": 101}, "patient.age"),  # too old
        ({"sex": "female", "age": "old"}, "patient.age"),  # a word for a number
        ({"sex": "female", "age": "58"}, "patient.age"),  # strict: a quoted number
        ({"sex": "female", "age": True}, "patient.age"),  # a boolean for a number
        ({"sex": "other", "age": 58}, "patient.sex"),
        ({**WOMAN, "bmii": 30}, "patient.bmii"),  # typo
        ({"sexx": "female", "age": 58}, "patient.sexx"),  # typo reported before 'missing'
        ({**MAN, "menopause": "post"}, "patient.menopause"),
        ({**MAN, "years_since_menopause": 3}, "patient.years_since_menopause"),
        ({**MAN, "uterus": True}, "patient.uterus"),
        ({**MAN, "surgical_menopause": True}, "patient.surgical_menopause"),
        ({**MAN, "age_at_menarche": 13}, "patient.age_at_menarche"),
        (
            {"sex": "female", "age": 40, "menopause": "pre", "years_since_menopause": 2},
            "patient.years_since_menopause",
        ),
        (
            {"sex": "female", "age": 40, "years_since_menopause": 2},  # default pre at 40
            "patient.years_since_menopause",
        ),
        (
            {"sex": "female", "age": 48, "menopause": "peri", "years_since_menopause": 1},
            "patient.years_since_menopause",
        ),
        (
            {"sex": "female", "age": 40, "menopause": "post", "years_since_menopause": 30},
            "patient.years_since_menopause",
        ),
        ({**WOMAN, "years_since_menopause": -1}, "patient.years_since_menopause"),
        (
            {"sex": "female", "age": 40, "menopause": "pre", "surgical_menopause": True},
            "patient.menopause",
        ),
        (
            {"sex": "female", "age": 47, "menopause": "peri", "surgical_menopause": True},
            "patient.menopause",
        ),
        ({**WOMAN, "menopause": "post-ish"}, "patient.menopause"),
        ({**WOMAN, "bmi": -5}, "patient.bmi"),
        ({**WOMAN, "bmi": float("nan")}, "patient.bmi"),
        ({**WOMAN, "thrombophilia": "lupus_anticoagulant"}, "patient.thrombophilia"),
        ({**WOMAN, "breast_cancer_5y_risk": 1.5}, "patient.breast_cancer_5y_risk"),
        ({**WOMAN, "breast_cancer_5y_risk": 0}, "patient.breast_cancer_5y_risk"),
        ({**WOMAN, "cyp2d6": "fast"}, "patient.cyp2d6"),
        ({**WOMAN, "bmd_t_score_spine": -7}, "patient.bmd_t_score_spine"),
        ({**WOMAN, "bmd_t_score_hip": 4.5}, "patient.bmd_t_score_hip"),
        ({**WOMAN, "smoker": "yes"}, "patient.smoker"),  # a quoted word for a boolean
        ({**WOMAN, "prior_vte": 1}, "patient.prior_vte"),  # a number for a boolean
        ({**WOMAN, "race": "martian"}, "patient.race"),
        ({**WOMAN, "age_at_menarche": 6}, "patient.age_at_menarche"),
        (
            {**WOMAN, "age_at_menarche": 14, "age_at_first_birth": 12},
            "patient.age_at_first_birth",
        ),
        ({"sex": "female", "age": 25, "age_at_first_birth": 30}, "patient.age_at_first_birth"),
        ({"sex": "female", "age": 18, "age_at_menarche": 19}, "patient.age_at_menarche"),
        (
            {**WOMAN, "first_degree_relatives_breast_cancer": -1},
            "patient.first_degree_relatives_breast_cancer",
        ),
        ({**WOMAN, "breast_biopsies": 1.5}, "patient.breast_biopsies"),
        ({**WOMAN, "estradiol_pg_ml": 0}, "patient.estradiol_pg_ml"),
        ({**WOMAN, "testosterone_ng_dl": 1e6}, "patient.testosterone_ng_dl"),
        ({**WOMAN, "lh_iu_l": -2}, "patient.lh_iu_l"),
        # found by fuzzing: a man's LH of 1e-305 made the run-in infinite
        ({**MAN, "lh_iu_l": 1e-305}, "patient.lh_iu_l"),
        ({**WOMAN, "estradiol_pg_ml": 5e-324}, "patient.estradiol_pg_ml"),
        ({**WOMAN, "fsh_iu_l": float("inf")}, "patient.fsh_iu_l"),
        ([WOMAN], "patient"),  # not a mapping
        ("sex: female", "patient"),  # not a mapping
    ],
)
def test_bad_patient_names_the_field_in_one_line(data, field):
    with pytest.raises(SpecError) as err:
        patient_from_mapping(data)
    assert err.value.field == field
    message = str(err.value)
    assert message.startswith(f"{field}: ") and "\n" not in message
    assert isinstance(err.value, ValueError)


def test_unknown_key_suggests_the_near_one():
    with pytest.raises(SpecError, match="did you mean bmi"):
        patient_from_mapping({**WOMAN, "bmii": 30})


def test_unknown_key_with_no_near_one_lists_the_keys():
    with pytest.raises(SpecError, match="use one of sex, age") as err:
        patient_from_mapping({**WOMAN, "favourite_colour": "blue"})
    assert "\n" not in str(err.value)


def test_man_with_a_uterus_is_told_why():
    with pytest.raises(SpecError, match="men have no uterus"):
        patient_from_mapping({**MAN, "uterus": True})


def test_missing_key_says_it_is_required():
    with pytest.raises(SpecError, match="sex is required"):
        patient_from_mapping({"age": 58})


def test_where_prefixes_the_field():
    with pytest.raises(SpecError) as err:
        patient_from_mapping({"sex": "female", "age": 10}, where="population")
    assert err.value.field == "population.age"


def test_direct_construction_validates_too():
    with pytest.raises(ValueError, match="men have no uterus"):
        Patient(sex="male", age=40, uterus=True)


# --- bad files ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "fix"),
    [
        ("sex: female\nage: [58\n", "not valid yaml at line"),  # unclosed flow sequence
        ("sex: female\n  age: 58\n", "not valid yaml at line 2"),  # bad indentation
        ("", "the file is empty"),
        ("# just a comment\n", "the file is empty"),
        ("- sex: female\n  age: 58\n", "not a mapping"),
        ("just words\n", "not a mapping"),
        (b"sex: female\nage: 58\nrace: \xff\n", "utf-8"),
    ],
)
def test_bad_file_is_one_line_naming_the_patient(tmp_path, text, fix):
    with pytest.raises(SpecError) as err:
        load_patient(_write(tmp_path, text))
    assert err.value.field == "patient"
    assert fix in str(err.value).lower() and "\n" not in str(err.value)


def test_missing_file(tmp_path):
    with pytest.raises(SpecError, match="no such file") as err:
        load_patient(tmp_path / "nobody.yaml")
    assert err.value.field == "patient" and "nobody.yaml" in str(err.value)


def test_directory_is_not_a_file(tmp_path):
    with pytest.raises(SpecError, match="directory") as err:
        load_patient(tmp_path)
    assert err.value.field == "patient"


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("sex: female\nage: 58\nbmi: .nan\n", "patient.bmi"),
        ("sex: female\nage: 58\nsmoker: 'yes'\n", "patient.smoker"),
        ("sex: male\nage: 58\nuterus: true\n", "patient.uterus"),
        ('{"sex": "female", "age": "58"}', "patient.age"),
    ],
)
def test_bad_value_in_a_file_names_the_field(tmp_path, text, field):
    with pytest.raises(SpecError) as err:
        load_patient(_write(tmp_path, text))
    assert err.value.field == field and "\n" not in str(err.value)
