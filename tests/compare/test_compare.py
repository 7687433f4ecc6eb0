"""`sermsim compare`: one person, every option against no treatment.

The comparisons are computed once per module (the engine compiles once per process); each test
reads them. The must-show of issue 6: for a 55-year-old postmenopausal woman with a uterus and a
5-year breast-cancer risk of 3%, raloxifene's net-benefit index beats tamoxifen's; after a
hysterectomy the two are close (Freedman 2011's qualitative finding).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
import yaml

from sermsim import DISCLAIMER
from sermsim.compare import compare, default_weights
from sermsim.compare.benefit import count_interval, net_benefit
from sermsim.core.errors import SpecError
from sermsim.interfaces.cli import main
from sermsim.physiology.patient import load_patient, patient_from_mapping

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
EVENTS = (
    "invasive_breast_cancer",
    "hip_fracture",
    "vertebral_fracture",
    "vte",
    "dvt",
    "pulmonary_embolism",
    "stroke",
    "endometrial_cancer",
    "cataract",
)


@pytest.fixture(scope="module")
def with_uterus() -> dict[str, Any]:
    return compare(load_patient(EXAMPLES / "woman_55_uterus_risk3.yaml")).result


@pytest.fixture(scope="module")
def hysterectomy() -> dict[str, Any]:
    return compare(load_patient(EXAMPLES / "woman_55_hysterectomy_risk3.yaml")).result


@pytest.fixture(scope="module")
def prior_vte() -> dict[str, Any]:
    return compare(load_patient(EXAMPLES / "woman_68_osteoporosis_prior_vte.yaml")).result


def option(result: dict[str, Any], key: str) -> dict[str, Any]:
    return next(o for o in result["options"] if o["key"] == key)


def index_gap(result: dict[str, Any], a: str, b: str) -> tuple[float, float]:
    """Index of ``a`` minus index of ``b``, and the standard error of that difference among
    two independent groups of ``per`` people (the none arm cancels): sum of w^2 n p (1 - p)."""
    per, w = result["per"], result["weights"]
    gap = option(result, a)["net_benefit"]["index"] - option(result, b)["net_benefit"]["index"]
    var = 0.0
    for name, weight in w.items():
        for key in (a, b):
            p = option(result, key)["events"][name]["per_1000"] / per
            var += weight**2 * per * p * (1.0 - p)
    return gap, math.sqrt(var)


def test_raloxifene_beats_tamoxifen_with_a_uterus_and_they_are_close_without(
    with_uterus: dict[str, Any], hysterectomy: dict[str, Any]
) -> None:
    gap_u, se_u = index_gap(with_uterus, "raloxifene", "tamoxifen")
    gap_h, se_h = index_gap(hysterectomy, "raloxifene", "tamoxifen")
    # With a uterus raloxifene is ahead by more than the chance among 1,000 women's counts
    # makes likely (one standard error) ...
    assert gap_u > se_u, (gap_u, se_u)
    # ... after a hysterectomy the gap is within one standard error and under half of it.
    assert abs(gap_h) < se_h, (gap_h, se_h)
    assert abs(gap_h) < 0.5 * gap_u, (gap_h, gap_u)
    # What closes the gap is the endometrium: tamoxifen's extra endometrial cancers.
    tam_u = option(with_uterus, "tamoxifen")["events"]["endometrial_cancer"]["vs_none"]
    assert tam_u["difference"] > 1.0
    for o in hysterectomy["options"]:
        assert o["events"]["endometrial_cancer"]["per_1000"] == 0.0


def test_untreated_breast_cancer_matches_the_stated_five_year_risk(
    with_uterus: dict[str, Any],
) -> None:
    # The person's stated 5-year risk (3%) is what the untreated arm must show over 5 years.
    none = option(with_uterus, "none")["events"]["invasive_breast_cancer"]
    assert none["per_1000"] == pytest.approx(30.0, rel=0.02)
    assert none["low"] < none["per_1000"] < none["high"]


def test_every_option_has_every_endpoint_with_an_interval(with_uterus: dict[str, Any]) -> None:
    r = with_uterus
    keys = [o["key"] for o in r["options"]]
    assert keys[0] == "none"
    assert {"tamoxifen", "raloxifene", "bazedoxifene", "lasofoxifene", "ospemifene"} <= set(keys)
    assert "conjugated_estrogens+bazedoxifene" in keys
    assert "clomiphene" in keys
    for o in r["options"]:
        assert set(o["events"]) == set(EVENTS)
        for name, e in o["events"].items():
            assert 0.0 <= e["low"] <= e["per_1000"] <= e["high"] <= r["per"], (o["key"], name)
            if o["key"] != "none":
                v = e["vs_none"]
                assert v["low"] <= v["difference"] <= v["high"]
        assert set(o["continuous"]) == {"bmd_lumbar_spine_pct", "hot_flushes_per_day"}
        assert set(o["signals"]) == set(r["tissues"]) == set(o["occupancy"])
        assert o["explanation"]
    assert r["interval"]["sources"] == ["sampling", "parameters"]
    assert r["interval"]["ensemble"]["members"] >= 100
    assert "also carry parameter uncertainty" in r["interval"]["note"]
    assert r["disclaimer"] == DISCLAIMER
    json.dumps(r, allow_nan=False)  # no NaN or infinity anywhere


def test_the_mechanism_explains_the_numbers(with_uterus: dict[str, Any]) -> None:
    none, tam, ral = (option(with_uterus, k) for k in ("none", "tamoxifen", "raloxifene"))
    # Both are breast antagonists and bone agonists; tamoxifen alone is an endometrial agonist.
    for o in (tam, ral):
        assert o["signals"]["breast"] < none["signals"]["breast"]
        assert o["signals"]["bone"] > none["signals"]["bone"]
        assert o["occupancy"]["breast"] > 0.1  # the drug holds a good share of ERα
        assert "Breast: breast ER signal" in o["explanation"]
        assert "fewer invasive breast cancers" in o["explanation"]
    assert tam["signals"]["endometrium"] > none["signals"]["endometrium"] + 0.05
    assert ral["signals"]["endometrium"] < none["signals"]["endometrium"]
    assert "more endometrial cancers" in tam["explanation"]
    assert "no change in endometrial cancers" in ral["explanation"]
    assert none["occupancy"]["breast"] == 0.0


def test_unsuitable_options_are_flagged_not_hidden(
    with_uterus: dict[str, Any], prior_vte: dict[str, Any], hysterectomy: dict[str, Any]
) -> None:
    clomiphene = option(with_uterus, "clomiphene")
    assert not clomiphene["suitable"]
    assert clomiphene["flags"][0]["id"] == "clomiphene_after_menopause"
    assert clomiphene["net_benefit"] is not None  # computed and shown all the same
    assert option(with_uterus, "raloxifene")["suitable"]
    # After a VTE: every estrogen-containing option and every SERM with a VTE warning is out.
    for key in ("raloxifene", "bazedoxifene", "lasofoxifene", "ospemifene", "tamoxifen"):
        o = option(prior_vte, key)
        assert not o["suitable"], key
        assert any("DVT or PE" in f["reason"] for f in o["flags"]), key
    tsec = option(prior_vte, "conjugated_estrogens+bazedoxifene")
    assert any(f["id"] == "estrogen_prior_vte" for f in tsec["flags"])
    assert option(prior_vte, "none")["suitable"]
    # A caution does not make an option unsuitable.
    tsec_h = option(hysterectomy, "conjugated_estrogens+bazedoxifene")
    assert tsec_h["suitable"] and [f["id"] for f in tsec_h["flags"]] == ["tsec_no_uterus"]


def test_osteoporosis_and_prior_vte_raise_the_baseline_risks(
    prior_vte: dict[str, Any], with_uterus: dict[str, Any]
) -> None:
    old, young = option(prior_vte, "none")["events"], option(with_uterus, "none")["events"]
    assert old["hip_fracture"]["per_1000"] > 3 * young["hip_fracture"]["per_1000"]
    assert old["vte"]["per_1000"] > 2 * young["vte"]["per_1000"]


def test_weights_are_shown_and_changeable(with_uterus: dict[str, Any]) -> None:
    assert with_uterus["weights"] == default_weights()
    assert with_uterus["weights"]["dvt"] == 0.5
    # The index is the weighted sum of the per-1,000 differences.
    ral = option(with_uterus, "raloxifene")
    recomputed = sum(
        -w * ral["events"][name]["vs_none"]["difference"]
        for name, w in with_uterus["weights"].items()
    )
    assert ral["net_benefit"]["index"] == pytest.approx(recomputed, abs=0.01)
    # Changing a weight changes the index by that weight times the events it weighs.
    p = {e: 0.01 for e in EVENTS}
    p0 = {**p, "vertebral_fracture": 0.02}
    base = net_benefit(p, p0, default_weights(), 1000, 0.95)["index"]
    heavier = net_benefit(p, p0, {**default_weights(), "vertebral_fracture": 0.5}, 1000, 0.95)
    assert heavier["index"] - base == pytest.approx(5.0)


def test_binomial_interval() -> None:
    lo, hi = count_interval(0.0, 1000, 0.95)
    assert (lo, hi) == (0.0, 0.0)
    lo, hi = count_interval(0.5, 1000, 0.95)
    assert lo < 500 < hi and hi - lo == pytest.approx(2 * 1.96 * math.sqrt(250), abs=2)


def test_a_man_is_compared_without_womens_measures() -> None:
    man = patient_from_mapping({"sex": "male", "age": 60})
    r = compare(man, options="tamoxifen,raloxifene").result
    assert "hot_flushes_per_day" not in option(r, "tamoxifen")["continuous"]
    assert not option(r, "raloxifene")["suitable"]  # postmenopausal women only
    assert option(r, "tamoxifen")["events"]["endometrial_cancer"]["per_1000"] == 0.0


def test_weights_override_reaches_the_index(with_uterus: dict[str, Any]) -> None:
    person = load_patient(EXAMPLES / "woman_55_uterus_risk3.yaml")
    r = compare(person, options=["raloxifene"], weights={"vertebral_fracture": 1.0}).result
    ral, ral0 = option(r, "raloxifene"), option(with_uterus, "raloxifene")
    prevented = -ral["events"]["vertebral_fracture"]["vs_none"]["difference"]
    assert prevented > 1.0
    assert ral["net_benefit"]["index"] == pytest.approx(
        ral0["net_benefit"]["index"] + prevented, abs=0.01
    )
    assert r["weights"]["vertebral_fracture"] == 1.0


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"options": "raloxifene,aspirin"}, "agents"),
        ({"options": ""}, "agents"),
        ({"weights": {"headache": 1.0}}, "weights.headache"),
        ({"weights": {"stroke": -1.0}}, "weights.stroke"),
        ({"years": 0}, "years"),
        ({"years": 31}, "years"),
    ],
)
def test_bad_requests_name_the_field(kwargs: dict[str, Any], field: str) -> None:
    person = patient_from_mapping({"sex": "female", "age": 60})
    with pytest.raises(SpecError) as info:
        compare(person, **kwargs)
    assert info.value.field == field


def test_cli_json_and_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], with_uterus: dict[str, Any]
) -> None:
    patient = tmp_path / "p.yaml"
    patient.write_text(
        yaml.safe_dump(
            {
                "sex": "female",
                "age": 55,
                "breast_cancer_5y_risk": 0.03,
                "years_since_menopause": 4,
                "menopause": "post",
            }
        )
    )
    with pytest.raises(SystemExit) as done:
        main(["compare", "--patient", str(patient), "--agents", "raloxifene", "--json"])
    assert done.value.code == 0
    out = json.loads(capsys.readouterr().out)
    assert [o["key"] for o in out["options"]] == ["none", "raloxifene"]
    # The same person as the example file: the same numbers as the full comparison.
    assert option(out, "raloxifene")["events"] == option(with_uterus, "raloxifene")["events"]
    with pytest.raises(SystemExit) as done:
        main(["compare", "--patient", str(patient), "--agents", "aspirin"])
    assert done.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "agents" in err[0] and "aspirin" in err[0]
    with pytest.raises(SystemExit) as done:
        main(["compare", "--patient", str(patient), "--weight", "stroke"])
    assert done.value.code == 2
    assert "ENDPOINT=W" in capsys.readouterr().err


def test_a_vte_weight_is_refused_as_double_counting() -> None:
    person = patient_from_mapping({"sex": "female", "age": 60})
    with pytest.raises(SpecError) as info:
        compare(person, options="raloxifene", weights={"vte": 1.0})
    assert info.value.field == "weights.vte" and "dvt and pulmonary_embolism" in info.value.fix
    assert "vte" not in default_weights()


def test_unopposed_estrogen_and_enclomiphene_are_flagged() -> None:
    woman = patient_from_mapping({"sex": "female", "age": 60, "uterus": True})
    r = compare(
        woman,
        options="estradiol:1,enclomiphene,conjugated_estrogens:0.45+"
        "medroxyprogesterone_acetate:2.5",
    ).result
    assert [f["id"] for f in option(r, "estradiol")["flags"]] == ["unopposed_estrogen"]
    assert not option(r, "estradiol")["suitable"]
    assert not option(r, "enclomiphene")["suitable"]
    opposed = option(r, "conjugated_estrogens+medroxyprogesterone_acetate")
    assert opposed["suitable"] and not opposed["flags"]  # a progestogen opposes the estrogen


def test_an_explicit_nulliparous_birth_history_is_kept() -> None:
    gail = {
        "sex": "female",
        "age": 60,
        "race": "white",
        "age_at_menarche": 12,
        "first_degree_relatives_breast_cancer": 1,
        "breast_biopsies": 0,
    }
    nulliparous = compare(
        patient_from_mapping({**gail, "age_at_first_birth": None}), options="raloxifene"
    ).result
    unknown = compare(patient_from_mapping(gail), options="raloxifene").result
    assert nulliparous["patient"]["age_at_first_birth"] is None
    assert "age_at_first_birth" not in unknown["patient"]
    # BCRAT: nulliparity with a first-degree relative carries its own relative risk.
    p0, p1 = (
        option(r, "none")["events"]["invasive_breast_cancer"]["per_1000"]
        for r in (nulliparous, unknown)
    )
    assert p0 != p1


def test_the_report_renders_the_real_comparison(
    with_uterus: dict[str, Any], tmp_path: Path
) -> None:
    from sermsim.interfaces.compare_render import comparison_table, write_compare_outputs

    table = comparison_table(with_uterus)
    for o in with_uterus["options"]:
        assert o["label"] in table
    assert DISCLAIMER in table
    written = {p.name for p in write_compare_outputs(with_uterus, tmp_path)}
    assert {"result.json", "summary.txt", "report.html"} <= written
    html = (tmp_path / "report.html").read_text()
    assert html.count(DISCLAIMER) >= 2
    assert option(with_uterus, "clomiphene")["flags"][0]["reason"] in html
    assert json.loads((tmp_path / "result.json").read_text()) == with_uterus
