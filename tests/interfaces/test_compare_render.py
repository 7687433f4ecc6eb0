"""Rendering of a comparison for one person (``sermsim compare``): the terminal table, and the
folder of files (JSON, table, self-contained HTML report with icon arrays, PNGs, PDF), on a
dict built by hand to the compare module's JSON contract."""

from __future__ import annotations

import base64
import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest

from sermsim import DISCLAIMER
from sermsim.interfaces.compare_figures import heatmap_figure, icon_array_svg
from sermsim.interfaces.compare_render import (
    comparison_table,
    describe_patient,
    report_html,
    write_compare_outputs,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
TISSUES = ["bone", "breast", "endometrium", "liver", "hypothalamus", "thermoregulation", "vagina"]
EVENTS = {
    "invasive_breast_cancer": ("Invasive breast cancer", "life-threatening"),
    "hip_fracture": ("Hip fracture", "life-threatening"),
    "vertebral_fracture": ("Vertebral fracture", "other"),
    "vte": ("Venous thromboembolism (DVT or PE)", "other"),
    "dvt": ("Deep vein thrombosis", "severe"),
    "pulmonary_embolism": ("Pulmonary embolism", "life-threatening"),
    "stroke": ("Stroke", "life-threatening"),
    "endometrial_cancer": ("Endometrial cancer", "life-threatening"),
    "cataract": ("Cataract", "other"),
}
# Expected events per 1,000 over 5 years with no treatment (made-up round numbers).
BASE = {
    "invasive_breast_cancer": 30.0,
    "hip_fracture": 6.0,
    "vertebral_fracture": 12.0,
    "vte": 8.0,
    "dvt": 5.5,
    "pulmonary_embolism": 2.5,
    "stroke": 9.0,
    "endometrial_cancer": 4.0,
    "cataract": 40.0,
}
UNSUITABLE_REASON = "clomiphene induces ovulation: it has no use after menopause"
CAUTION_REASON = "uterus present: tamoxifen raises the risk of endometrial cancer"
LONG_LABEL = "Conjugated estrogens 0.45 mg + bazedoxifene 20 mg daily"


def _option(
    key: str,
    label: str,
    regimen: str,
    factors: dict[str, float],
    *,
    net: tuple[float, float, float] | None,
    bmd: float,
    flushes: float,
    signal: float,
    suitable: bool = True,
    flags: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    events = {}
    for name, base in BASE.items():
        v = base * factors.get(name, 1.0)
        event: dict[str, Any] = {"per_1000": v, "low": 0.6 * v, "high": 1.4 * v}
        if key != "none":
            d = v - base
            event["vs_none"] = {"difference": d, "low": d - 5.0, "high": d + 5.0}
        events[name] = event
    continuous: dict[str, Any] = {
        "bmd_lumbar_spine_pct": {"mean": bmd, "low": bmd - 2.5, "high": bmd + 2.5},
        "hot_flushes_per_day": {
            "mean": flushes,
            "low": flushes - 0.3,
            "high": flushes + 0.3,
            "baseline": 2.2,
            "change": flushes - 2.2,
        },
    }
    return {
        "key": key,
        "label": label,
        "regimen": regimen,
        "suitable": suitable,
        "flags": flags or [],
        "events": events,
        "continuous": continuous,
        "net_benefit": None
        if net is None
        else {"index": net[0], "low": net[1], "high": net[2], "prevented": 16.3, "caused": 5.1},
        "signals": {t: round(signal + 0.05 * i, 3) for i, t in enumerate(TISSUES)}
        | ({"breast": -0.66} if key == "raloxifene" else {}),
        "occupancy": {t: 0.0 if key == "none" else 0.8 for t in TISSUES},
        "explanation": f"{label}: breast ER signal and fracture risk change as the tissue signals "
        "show.",
    }


def make_result() -> dict[str, Any]:
    endpoints: dict[str, Any] = {
        k: {"label": label, "kind": "event", "severity": sev} for k, (label, sev) in EVENTS.items()
    }
    endpoints["bmd_lumbar_spine_pct"] = {
        "label": "Spine BMD change",
        "kind": "continuous",
        "unit": "%",
    }
    endpoints["hot_flushes_per_day"] = {
        "label": "Hot flushes per day",
        "kind": "continuous",
        "unit": "per day",
    }
    return {
        "patient": {
            "sex": "female",
            "age": 55,
            "menopause": "post",
            "years_since_menopause": 4.0,
            "uterus": True,
            "breast_cancer_5y_risk": 0.03,
            "bmi": 27.0,
            "thrombophilia": "none",
        },
        "years": 5.0,
        "per": 1000,
        "interval": {
            "level": 0.95,
            "sources": ["sampling"],
            "note": "95% interval of the count among 1,000 women like this one (binomial chance);"
            " parameter uncertainty is not included yet",
        },
        "weights": {
            "invasive_breast_cancer": 1.0,
            "hip_fracture": 1.0,
            "endometrial_cancer": 1.0,
            "stroke": 1.0,
            "pulmonary_embolism": 1.0,
            "dvt": 0.5,
            "vertebral_fracture": 0.0,
            "cataract": 0.0,
        },
        "weights_source": "Gail 1999 / Freedman 2011 scheme (life-threatening 1, severe 0.5)",
        "endpoints": endpoints,
        "tissues": TISSUES,
        "options": [
            _option(
                "none", "No treatment", "none", {}, net=None, bmd=-5.2, flushes=2.2, signal=0.05
            ),
            _option(
                "tamoxifen",
                "Tamoxifen 20 mg daily",
                "tamoxifen:20",
                {"invasive_breast_cancer": 0.51, "endometrial_cancer": 2.5, "vte": 1.9},
                net=(6.4, -12.0, 24.0),
                bmd=-1.0,
                flushes=3.1,
                signal=0.3,
                flags=[
                    {
                        "reason": CAUTION_REASON,
                        "source": "Fisher 1998 (NSABP P-1)",
                        "verified": True,
                    }
                ],
            ),
            _option(
                "raloxifene",
                "Raloxifene 60 mg daily",
                "raloxifene:60",
                {"invasive_breast_cancer": 0.47, "vte": 1.6, "hip_fracture": 0.9},
                net=(11.2, -5.0, 27.0),
                bmd=-1.4,
                flushes=2.5,
                signal=0.2,
            ),
            _option(
                "conjugated_estrogens+bazedoxifene",
                LONG_LABEL,
                "conjugated_estrogens:0.45+bazedoxifene:20",
                {"hip_fracture": 0.7},
                net=(1.3, -3.2, 5.9),
                bmd=1.5,
                flushes=0.6,
                signal=0.45,
            ),
            _option(
                "clomiphene",
                "Clomiphene 50 mg daily",
                "clomiphene:50",
                {"vte": 1.3, "stroke": 1.1},
                net=(-2.5, -9.0, 4.0),
                bmd=-4.0,
                flushes=2.9,
                signal=0.1,
                suitable=False,
                flags=[
                    {"reason": UNSUITABLE_REASON, "source": "Clomid US label", "verified": False}
                ],
            ),
        ],
        "sources": [
            {
                "what": "baseline breast cancer incidence",
                "source": "Gail model (BCRAT) rate tables",
                "verified": True,
            },
            {
                "what": "hip fracture incidence",
                "source": "FRAX-like age/T-score table",
                "verified": False,
                "file": "outcomes/outcomes.yaml",
                "value": 0.87,
                "unit": "per 1,000 woman-years",
                "calibrated_to": "MORE_Ettinger_1999 hip_fracture_RR",
            },
            {
                "what": "raloxifene breast cancer relative risk",
                "source": "MORE/CORE trials",
                "verified": True,
            },
        ],
        "provenance": {
            "sermsim_version": "0.1.0",
            "parameters_sha256": "ab12cd34ef56" * 5 + "abcd",
            "seed": 0,
            "seconds": 9.1,
        },
        "disclaimer": DISCLAIMER,
    }


@pytest.fixture(scope="module")
def result() -> dict[str, Any]:
    return make_result()


@pytest.fixture(scope="module")
def written(result: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return write_compare_outputs(copy.deepcopy(result), tmp_path_factory.mktemp("compare"))


# ---------------------------------------------------------------------------- table


def test_profile_in_words() -> None:
    assert describe_patient(make_result()["patient"]) == (
        "55-year-old postmenopausal woman with a uterus, 5-year breast-cancer risk 3.0%"
    )


def test_table_has_every_option_its_net_benefit_and_the_disclaimer(result: dict[str, Any]) -> None:
    table = comparison_table(result)
    for option in result["options"]:
        assert option["label"] in table
    for text in (
        "+6.4 (-12 to 24)",
        "+11 (-5.0 to 27)",
        "+1.3 (-3.2 to 5.9)",
        "-2.5 (-9.0 to 4.0)",
    ):
        assert text in table
    assert "30 (18–42)" in table  # no treatment, invasive breast cancer: 30 (0.6x–1.4x)
    assert table.rstrip().endswith(DISCLAIMER)
    assert result["interval"]["note"].split(";")[0] in table.replace("\n", " ")
    assert max(len(line) for line in table.splitlines()) <= 120


def test_table_marks_the_unsuitable_option_with_its_reason(result: dict[str, Any]) -> None:
    table = comparison_table(result)
    lines = table.splitlines()
    clomiphene = [line for line in lines if "Clomiphene 50 mg daily" in line]
    assert clomiphene and all(line.lstrip().startswith("!") for line in clomiphene[:2])
    assert any("NO, see [2]" in line for line in clomiphene)
    assert "[2] Clomiphene 50 mg daily: does not suit this person" in table
    assert UNSUITABLE_REASON in table.replace("\n      ", " ")
    assert "Clomid US label; not verified" in table
    # Suitable options are not marked; one with a caution points to its note.
    assert not any(line.startswith("! Raloxifene") for line in lines)
    assert "yes, caution [1]" in table


def test_a_long_label_gets_a_line_of_its_own(result: dict[str, Any]) -> None:
    lines = comparison_table(result).splitlines()
    i = next(i for i, line in enumerate(lines) if LONG_LABEL in line)
    assert lines[i].strip() == LONG_LABEL
    assert lines[i + 1].startswith(" " * 10) and "(" in lines[i + 1]


# ---------------------------------------------------------------------------- icon arrays


@pytest.mark.parametrize(
    ("base", "option", "prevented", "caused", "anyway"),
    [(30.0, 14.2, 16, 0, 14), (4.0, 10.4, 0, 6, 4), (0.2, 0.3, 0, 0, 0), (1000.0, 0.0, 1000, 0, 0)],
)
def test_icon_array_counts(
    base: float, option: float, prevented: int, caused: int, anyway: int
) -> None:
    svg = icon_array_svg(base, option, title="x")
    groups = dict(re.findall(r'<g fill="(#[0-9A-Fa-f]{6})">((?:<rect [^>]*/>)*)</g>', svg))
    counts = {colour: body.count("<rect ") for colour, body in groups.items()}
    assert svg.count("<rect ") == 1000
    assert counts.get("#0072B2", 0) == prevented
    assert counts.get("#D55E00", 0) == caused
    assert counts.get("#4d4d4d", 0) == anyway
    positions = set(re.findall(r'x="(\d+)" y="(\d+)"', svg))
    assert len(positions) == 1000  # no two icons on the same spot


# ---------------------------------------------------------------------------- files


def test_write_writes_the_files(written: list[Path]) -> None:
    names = {p.name for p in written}
    assert {"result.json", "summary.txt", "report.html", "report.pdf"} <= names
    pngs = [p for p in written if p.suffix == ".png"]
    assert {p.name for p in pngs} >= {
        "events_per_1000.png",
        "net_benefit.png",
        "tissue_signals.png",
        "era_occupancy.png",
    }
    for p in written:
        assert p.exists() and p.stat().st_size > 0
    for p in pngs:
        assert p.read_bytes().startswith(PNG_MAGIC)
    assert (written[0].parent / "report.pdf").read_bytes().startswith(b"%PDF")
    assert not list(written[0].parent.glob(".*.tmp"))  # no temporary file left behind


def test_result_json_round_trips(written: list[Path], result: dict[str, Any]) -> None:
    path = next(p for p in written if p.name == "result.json")
    assert json.loads(path.read_text("utf-8")) == result


def test_json_refuses_nan(tmp_path: Path) -> None:
    bad = make_result()
    bad["options"][1]["events"]["stroke"]["per_1000"] = float("nan")
    with pytest.raises(ValueError):
        write_compare_outputs(bad, tmp_path)


def test_summary_is_the_table(written: list[Path], result: dict[str, Any]) -> None:
    path = next(p for p in written if p.name == "summary.txt")
    assert path.read_text("utf-8") == comparison_table(result) + "\n"


def _html(written: list[Path]) -> str:
    return next(p for p in written if p.name == "report.html").read_text("utf-8")


def test_html_says_who_and_the_disclaimer_top_and_bottom(written: list[Path]) -> None:
    html = _html(written)
    assert "55-year-old postmenopausal woman with a uterus, 5-year breast-cancer risk 3.0%" in html
    body = html[html.index("<body") :]
    first, last = body.index(DISCLAIMER), body.rindex(DISCLAIMER)
    assert first < body.index("<svg") and last > body.rindex("<svg")
    assert first < len(body) // 10 and last > len(body) * 9 // 10


def test_html_icon_arrays_have_1000_icons_each(written: list[Path], result: dict[str, Any]) -> None:
    html = _html(written)
    arrays = re.findall(r'<svg class="icons".*?</svg>', html, flags=re.S)
    # Five key endpoints, each with an array per option (none omitted, the unsuitable included).
    assert len(arrays) == 5 * len(result["options"])
    for svg in arrays:
        assert svg.count("<rect ") == 1000
    assert "out of 1,000 women like you" in html.lower()
    # Raloxifene prevents 30 - 14 = 16 breast cancers (blue); tamoxifen causes 10 - 4 = 6
    # endometrial cancers (vermillion).
    for title, colour, n in (
        ("Raloxifene 60 mg daily: 14 of 1,000 with Invasive breast cancer", "#0072B2", 16),
        ("Tamoxifen 20 mg daily: 10 of 1,000 with Endometrial cancer", "#D55E00", 6),
    ):
        svg = next(a for a in arrays if f'aria-label="{title}' in a)
        group = re.search(rf'<g fill="{colour}">(.*?)</g>', svg)
        assert group is not None and group.group(1).count("<rect ") == n


def test_html_shows_flags_sources_weights_and_figures(
    written: list[Path], result: dict[str, Any]
) -> None:
    html = _html(written)
    assert UNSUITABLE_REASON in html and CAUTION_REASON in html
    assert "does not suit" in html
    for source in result["sources"]:
        assert re.search(
            rf"<td>{re.escape(source['what'])}</td>\s*<td>{re.escape(source['source'])}</td>"
            rf"\s*<td[^>]*>{'yes' if source['verified'] else 'no'}</td>",
            html,
        ), source
    assert result["provenance"]["parameters_sha256"] in html
    assert result["weights_source"] in html
    assert result["interval"]["note"] in html
    for option in result["options"]:
        assert option["explanation"] in html
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    assert len(images) >= 4
    for data in images:
        assert base64.b64decode(data).startswith(PNG_MAGIC)
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in html


def test_html_escapes_text() -> None:
    r = make_result()
    r["options"][4]["flags"][0]["reason"] = "<script>alert(1)</script> & more"
    html = report_html(r, {})
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; more" in html


def test_html_marks_the_caution_and_shows_source_details(
    written: list[Path], result: dict[str, Any]
) -> None:
    html = _html(written)
    tamoxifen = html[html.index("<h3>Tamoxifen 20 mg daily</h3>") :]
    assert "with a caution" in tamoxifen[: tamoxifen.index("<h3>", 5)]
    raloxifene = html[html.index("<h3>Raloxifene 60 mg daily</h3>") :]
    assert "caution" not in raloxifene[: raloxifene.index("<h3>", 5)]
    # A source's value, unit, file and what it was calibrated to are shown in its row.
    row = re.search(r"<tr><td>hip fracture incidence</td>.*?</tr>", html)
    assert row is not None
    for text in ("0.87 per 1,000 woman-years", "outcomes/outcomes.yaml", "MORE_Ettinger_1999"):
        assert text in row.group(0)
    assert "3 sourced numbers behind this comparison; 2 checked" in html


def test_a_rate_without_spread_is_shown_without_an_interval(result: dict[str, Any]) -> None:
    r = copy.deepcopy(result)
    flushes = r["options"][2]["continuous"]["hot_flushes_per_day"]
    flushes["low"] = flushes["high"] = flushes["mean"]
    html = report_html(r, {})
    assert '>2.5 <span class="ci"></span>' in html
    assert "2.5 (2.5 to 2.5)" not in html


def test_signals_below_zero_are_not_clipped(result: dict[str, Any]) -> None:
    fig = heatmap_figure(result, "signals", title="t", colourbar="c", diverging=True)
    norm = fig.axes[0].images[0].norm
    assert norm.vmin <= -0.66 and norm.vmax == -norm.vmin
    texts = {t.get_text() for t in fig.axes[0].texts}
    assert "-0.66" in texts


def test_an_endpoint_nobody_gets_has_no_icon_arrays(result: dict[str, Any]) -> None:
    r = copy.deepcopy(result)
    for option in r["options"]:  # as without a uterus
        option["events"]["endometrial_cancer"] = {"per_1000": 0.0, "low": 0.0, "high": 0.0}
    html = report_html(r, {})
    arrays = re.findall(r'<svg class="icons".*?</svg>', html, flags=re.S)
    assert len(arrays) == 4 * len(r["options"])
    assert not any("Endometrial cancer" in a for a in arrays)
    assert "Fewer than one in 1,000 with any option" in html
    assert '<td>Endometrial cancer</td><td class="n">0</td>' in html  # no "0 (0–0)"
