"""Rendering of a comparison of options for one person (``sermsim compare``): the terminal
table, and a folder with ``result.json``, ``summary.txt``, a self-contained ``report.html``
(icon arrays, bar charts with 95% intervals, tissue-signal heatmaps, each option's explanation
and flags, the net-benefit weights, the sources of every number), the figures as PNG and a
``report.pdf``. It holds no science: it only renders the dict that
``sermsim.compare.compare(...).result`` returns (the JSON of ``sermsim compare --json``).
"""

from __future__ import annotations

import base64
import io
import json
import textwrap
from collections.abc import Mapping
from html import escape
from pathlib import Path
from typing import Any

from sermsim import DISCLAIMER
from sermsim.interfaces.compare_figures import (
    BMD,
    FLUSHES,
    all_figures,
    count_ci,
    endpoint_label,
    event_endpoints,
    icon_arrays_html,
    interval,
    key_events,
    num,
    options,
    people,
    signed,
    signed_ci,
    text_pages,
)
from sermsim.interfaces.simulation_render import _atomic

TABLE_WIDTH = 118  # columns of the terminal table and its notes
LABEL_WIDTH = 40  # a longer option label gets a line of its own above its numbers
CELL = 15
UNSUITABLE_MARK = "!"
#: Short column headers for the terminal table (the result's labels are used otherwise).
SHORT_HEADERS = {
    "invasive_breast_cancer": "Breast cancer",
    "hip_fracture": "Hip fracture",
    "vte": "VTE",
    "endometrial_cancer": "Endometrial ca",
    "stroke": "Stroke",
}
_STAGES = {"pre": "premenopausal", "peri": "perimenopausal", "post": "postmenopausal"}
_THROMBOPHILIA = {
    "factor_v_leiden_het": "factor V Leiden (heterozygous)",
    "factor_v_leiden_hom": "factor V Leiden (homozygous)",
    "prothrombin_g20210a": "prothrombin G20210A",
}


# ---------------------------------------------------------------------------- words


def describe_patient(patient: Mapping[str, Any]) -> str:
    """The person's profile in words.

    >>> describe_patient({"sex": "female", "age": 55, "menopause": "post", "uterus": True,
    ...                   "breast_cancer_5y_risk": 0.03, "thrombophilia": "none"})
    '55-year-old postmenopausal woman with a uterus, 5-year breast-cancer risk 3.0%'
    >>> describe_patient({"sex": "male", "age": 40.5, "prior_vte": True, "smoker": True})
    '40.5-year-old man; prior VTE, smoker'
    """
    age = f"{float(patient.get('age', 0)):g}-year-old"
    if patient.get("sex") == "male":
        words = f"{age} man"
    else:
        stage = _STAGES.get(str(patient.get("menopause")))
        words = f"{age} {stage} woman" if stage else f"{age} woman"
        if patient.get("uterus") is True:
            words += " with a uterus"
        elif patient.get("uterus") is False:
            words += " without a uterus"
    risk = patient.get("breast_cancer_5y_risk")
    if risk is not None:
        words += f", 5-year breast-cancer risk {100 * float(risk):.1f}%"
    extras = []
    if patient.get("surgical_menopause"):
        extras.append("surgical menopause")
    if patient.get("prior_vte"):
        extras.append("prior VTE")
    thrombophilia = patient.get("thrombophilia")
    if thrombophilia and thrombophilia != "none":
        extras.append(_THROMBOPHILIA.get(str(thrombophilia), str(thrombophilia)))
    if patient.get("smoker"):
        extras.append("smoker")
    if patient.get("prior_fragility_fracture"):
        extras.append("prior fragility fracture")
    for site in ("spine", "hip"):
        t = patient.get(f"bmd_t_score_{site}")
        if t is not None:
            extras.append(f"{site} T-score {float(t):+.1f}")
    cyp = patient.get("cyp2d6")
    if cyp and cyp != "normal":
        extras.append(f"CYP2D6 {cyp} metabolizer")
    return words + ("; " + ", ".join(extras) if extras else "")


def _flag_text(flag: Mapping[str, Any]) -> str:
    verified = "verified" if flag.get("verified") else "not verified"
    return f"{flag.get('reason', '')} (source: {flag.get('source', 'not given')}; {verified})"


def _notes(result: Mapping[str, Any]) -> dict[str, int]:
    """A footnote number per option with flags, in the options' order."""
    flagged = [o for o in options(result) if o.get("flags") or not o.get("suitable", True)]
    return {str(o.get("key")): i for i, o in enumerate(flagged, start=1)}


def _suits(option: Mapping[str, Any], notes: Mapping[str, int]) -> str:
    n = notes.get(str(option.get("key")))
    if not option.get("suitable", True):
        return f"NO, see [{n}]"
    return f"yes, caution [{n}]" if n is not None else "yes"


def weights_rule(result: Mapping[str, Any]) -> str:
    """The weights by severity, when every endpoint of a severity has the same weight
    (else the weights one by one).

    >>> weights_rule({"weights": {"a": 1.0, "b": 0.5, "c": 0.0},
    ...               "endpoints": {"a": {"severity": "life-threatening"},
    ...                             "b": {"severity": "severe"}, "c": {"severity": "other"}}})
    'life-threatening events weigh 1, severe 0.5, other 0'
    """
    weights: Mapping[str, float] = result.get("weights", {})
    by: dict[str, set[float]] = {}
    for key, w in weights.items():
        severity = str(result.get("endpoints", {}).get(key, {}).get("severity", "unrated"))
        by.setdefault(severity, set()).add(float(w))
    if by and all(len(ws) == 1 for ws in by.values()):
        order = ["life-threatening", "severe", "other"]
        keys = sorted(by, key=lambda s: order.index(s) if s in order else len(order))
        parts = [f"{s} {next(iter(by[s])):g}" for s in keys]
        return f"{parts[0].replace(' ', ' events weigh ', 1)}" + "".join(
            f", {p}" for p in parts[1:]
        )
    return ", ".join(f"{endpoint_label(result, k)} {w:g}" for k, w in weights.items())


def method_text(result: Mapping[str, Any]) -> str:
    """How the net-benefit index is computed, with the weights used and their source."""
    weights = ", ".join(
        f"{endpoint_label(result, k)} {float(w):g}" for k, w in result.get("weights", {}).items()
    )
    return (
        "Net-benefit index: events prevented minus events caused, each weighted, per "
        f"{int(result.get('per', 1000)):,} over {float(result.get('years', 0)):g} years "
        "(sum over endpoints of weight x (events with no treatment - events with the option); "
        f"> 0 favours the option). Weights: {weights_rule(result)} ({weights}). "
        f"Source of the weighting: {str(result.get('weights_source', 'not given')).rstrip('.')}."
    )


# ---------------------------------------------------------------------------- table


def _row(label: str, cells: list[str], widths: list[int], label_width: int) -> list[str]:
    """One table row; a label too long for its column goes on a line of its own."""
    body = "".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()
    if len(label) >= label_width:
        return [label, " " * label_width + body]
    return [(label.ljust(label_width) + body).rstrip()]


def _ruled(rows: list[list[str]]) -> list[str]:
    """The header row, a rule as wide as the widest line, then the other rows."""
    width = max(len(line) for row in rows for line in row)
    return [*rows[0], "-" * width, *(line for row in rows[1:] for line in row)]


def comparison_table(result: dict[str, Any]) -> str:
    """The comparison as plain text (about 120 columns): per option the expected events per
    1,000 over the horizon with 95% intervals for the key endpoints; then spine BMD change,
    hot flushes per day, the net-benefit index with its interval and whether the option suits
    the person (an option that does not is marked ``!`` and its reasons are listed); then the
    weights, what the interval covers and the disclaimer.

    Parameters
    ----------
    result
        The comparison dict (``sermsim.compare.compare(...).result``).

    Returns
    -------
    str
        The table, lines joined by newlines, the disclaimer last.

    Examples
    --------
    >>> r = {"patient": {"sex": "female", "age": 60, "menopause": "post", "uterus": False},
    ...      "years": 5.0, "per": 1000, "endpoints": {}, "options": [], "weights": {}}
    >>> print(comparison_table(r).splitlines()[0])
    sermsim compare: 60-year-old postmenopausal woman without a uterus
    """
    opts = options(result)
    notes = _notes(result)
    years, per = float(result.get("years", 0)), int(result.get("per", 1000))
    names = [
        (f"{UNSUITABLE_MARK} " if not o.get("suitable", True) else "  ") + str(o.get("label"))
        for o in opts
    ]
    label_width = min(max([len(n) + 2 for n in names] + [10]), LABEL_WIDTH)
    keys = key_events(result)
    lines = [
        f"sermsim compare: {describe_patient(result.get('patient', {}))}",
        f"Expected events per {per:,} {people(result)} like this one over the next {years:g} "
        "years (95% interval)",
        "",
    ]
    widths = [CELL] * len(keys)
    heads = [SHORT_HEADERS.get(k, endpoint_label(result, k))[: CELL - 1] for k in keys]
    rows = [_row("  option", heads, widths, label_width)]
    for name, o in zip(names, opts, strict=True):
        cells = [count_ci(o.get("events", {}).get(k, {})) for k in keys]
        rows.append(_row(name, cells, widths, label_width))
    lines += _ruled(rows)
    lines += [
        "",
        f"Spine BMD change (%) and hot flushes a day at {years:g} years; net-benefit index per "
        f"{per:,} over {years:g} years (95% interval)",
        "",
    ]
    widths = [12, 15, 24, 18]
    heads = ["Spine BMD", "Hot flushes/d", "Net benefit", "Suits?"]
    rows = [_row("  option", heads, widths, label_width)]
    for name, o in zip(names, opts, strict=True):
        cont = o.get("continuous", {})
        bmd = cont.get(BMD, {}).get("mean")
        nb = o.get("net_benefit")
        cells = [
            "—" if bmd is None else f"{signed(bmd)}%",
            num(cont.get(FLUSHES, {}).get("mean")),
            signed_ci(nb.get("index"), nb.get("low"), nb.get("high")) if nb else "reference",
            _suits(o, notes),
        ]
        rows.append(_row(name, cells, widths, label_width))
    lines += [*_ruled(rows), ""]
    if any(not o.get("suitable", True) for o in opts):
        lines.append(
            f"{UNSUITABLE_MARK} = does not suit this person (computed and shown; reasons below)."
        )
    for o in opts:
        n = notes.get(str(o.get("key")))
        if n is None:
            continue
        verdict = "does not suit this person" if not o.get("suitable", True) else "caution"
        lines.append(f"[{n}] {o.get('label')}: {verdict}")
        for flag in o.get("flags", []):
            lines += textwrap.wrap(
                _flag_text(flag), TABLE_WIDTH, initial_indent="    - ", subsequent_indent="      "
            )
    lines.append("")
    for paragraph in (
        method_text(result),
        f"95% interval: {result.get('interval', {}).get('note', 'not given')}",
    ):
        lines += textwrap.wrap(paragraph, TABLE_WIDTH)
    lines.append(DISCLAIMER)
    return "\n".join(lines)


# ---------------------------------------------------------------------------- HTML

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;
max-width:1400px;margin:0 auto;padding:1em 2em;color:#222;line-height:1.45}
h1{font-size:1.6em;margin-bottom:.2em} h2{margin-top:1.8em;border-bottom:1px solid #ccc}
.disclaimer{border:3px solid #b00000;background:#fff0f0;color:#7a0000;font-weight:bold;
font-size:1.2em;padding:.7em 1em;margin:1em 0;border-radius:4px}
table{border-collapse:collapse;font-size:.88em;margin:.6em 0}
th,td{border:1px solid #ccc;padding:.3em .55em;text-align:left;vertical-align:top}
th{background:#f3f3f3} td.n{white-space:nowrap} .ci{color:#555;font-size:.85em}
tr.unsuitable td{background:#fff1e6} .mark{color:#b00000;font-weight:bold}
.no{color:#b00000;font-weight:bold} .arrays{display:flex;flex-wrap:wrap;gap:18px 22px}
figure{margin:0} figcaption{font-size:.82em}
figure.unsuitable svg{outline:2px dashed #b00000;outline-offset:3px}
.legend{font-size:.9em;margin:.4em 0 .8em}
.sw{display:inline-block;width:.9em;height:.9em;margin:0 .3em 0 1em;vertical-align:-.1em}
img{max-width:100%;height:auto} .wide{overflow-x:auto} table.numbers{font-size:.8em}
table.sources{font-size:.8em} table.sources td{overflow-wrap:anywhere;min-width:5em}
.caution{color:#8a5a00;font-weight:bold} .flags li{margin:.2em 0} code{font-size:.9em}
"""


def _e(x: Any) -> str:
    return escape(str(x))


def _disclaimer_html() -> str:
    return f'<div class="disclaimer" role="note">{_e(DISCLAIMER)}</div>'


def _img(images: Mapping[str, bytes], name: str, alt: str) -> str:
    if name not in images:
        return ""
    data = base64.b64encode(images[name]).decode("ascii")
    return f'<p><img src="data:image/png;base64,{data}" alt="{_e(alt)}"></p>'


def _cell_ci(text: str) -> str:
    """``14 (7–22)`` as the number and a smaller interval."""
    value, _, interval = text.partition(" ")
    return f'<td class="n">{_e(value)} <span class="ci">{_e(interval)}</span></td>'


def _name(option: Mapping[str, Any]) -> str:
    """The option's label, after a mark when it does not suit the person or has a caution."""
    if not option.get("suitable", True):
        mark = '<span class="mark">✗ does not suit</span> '
    elif option.get("flags"):
        mark = '<span class="caution">⚠ caution</span> '
    else:
        mark = ""
    return f"{mark}{_e(option.get('label'))}"


def _summary_html(result: Mapping[str, Any]) -> str:
    keys = key_events(result)
    heads = "".join(f"<th>{_e(endpoint_label(result, k))}</th>" for k in keys)
    rows = []
    for o in options(result):
        cont = o.get("continuous", {})
        bmd, fl = cont.get(BMD, {}), cont.get(FLUSHES, {})
        nb = o.get("net_benefit")
        cls = "" if o.get("suitable", True) else ' class="unsuitable"'
        cells = "".join(_cell_ci(count_ci(o.get("events", {}).get(k, {}))) for k in keys)
        bmd_text = interval(bmd.get("mean"), bmd.get("low"), bmd.get("high"), sign=True)
        fl_text = interval(fl.get("mean"), fl.get("low"), fl.get("high"))
        nb_text = signed_ci(nb.get("index"), nb.get("low"), nb.get("high")) if nb else "reference"
        rows.append(
            f"<tr{cls}><td>{_name(o)}</td>{cells}{_cell_ci(bmd_text)}{_cell_ci(fl_text)}"
            f"{_cell_ci(nb_text)}</tr>"
        )
    return (
        f"<table><tr><th>Option</th>{heads}<th>Spine BMD change (%) at the horizon</th>"
        "<th>Hot flushes per day at the horizon</th><th>Net-benefit index</th></tr>"
        + "".join(rows)
        + "</table>"
    )


def _all_numbers_html(result: Mapping[str, Any]) -> str:
    opts = options(result)
    heads = "".join(f"<th>{_name(o)}</th>" for o in opts)
    rows = []
    for k in event_endpoints(result):
        cells = []
        for o in opts:
            v = o.get("events", {}).get(k, {})
            diff = ""
            if d := v.get("vs_none"):
                vs = signed_ci(d.get("difference"), d.get("low"), d.get("high"))
                diff = f'<br><span class="ci">vs none {_e(vs)}</span>'
            cells.append(f'<td class="n">{_e(count_ci(v))}{diff}</td>')
        rows.append(f"<tr><td>{_e(endpoint_label(result, k))}</td>{''.join(cells)}</tr>")
    return (
        '<div class="wide"><table class="numbers"><tr><th>Endpoint (per 1,000)</th>'
        f"{heads}</tr>{''.join(rows)}</table></div>"
    )


def _options_html(result: Mapping[str, Any]) -> str:
    parts = []
    for o in options(result):
        if not o.get("suitable", True):
            verdict = '<span class="no">✗ does not suit this person</span> (computed and shown)'
        elif o.get("flags"):
            verdict = 'suits this person, <span class="caution">⚠ with a caution</span>'
        else:
            verdict = "suits this person"
        flags = "".join(
            f"<li>{_e(f.get('reason', ''))} <span class='ci'>(source: {_e(f.get('source', ''))};"
            f" {'verified' if f.get('verified') else 'not verified'})</span></li>"
            for f in o.get("flags", [])
        )
        parts.append(
            f"<h3>{_e(o.get('label'))}</h3><p><code>{_e(o.get('regimen', ''))}</code> — "
            f"{verdict}</p><p>{_e(o.get('explanation', ''))}</p>"
            + (f"<p>Flags:</p><ul class='flags'>{flags}</ul>" if flags else "")
        )
    return "".join(parts)


def _weights_html(result: Mapping[str, Any]) -> str:
    rows = "".join(
        f"<tr><td>{_e(endpoint_label(result, k))}</td>"
        f"<td>{_e(result.get('endpoints', {}).get(k, {}).get('severity', ''))}</td>"
        f"<td>{float(w):g}</td></tr>"
        for k, w in result.get("weights", {}).items()
    )
    nb_rows = "".join(
        f"<tr><td>{_e(o.get('label'))}</td><td>{_e(num(nb.get('prevented')))}</td>"
        f"<td>{_e(num(nb.get('caused')))}</td>"
        f"<td>{_e(signed_ci(nb.get('index'), nb.get('low'), nb.get('high')))}</td></tr>"
        for o in options(result)
        if (nb := o.get("net_benefit"))
    )
    return (
        f"<p>{_e(method_text(result))}</p>"
        f"<table><tr><th>Endpoint</th><th>Severity</th><th>Weight</th></tr>{rows}</table>"
        "<table><tr><th>Option</th><th>Weighted events prevented</th>"
        "<th>Weighted events caused</th><th>Net-benefit index (95% interval)</th></tr>"
        f"{nb_rows}</table>"
    )


def _value(v: Any) -> str:
    """A profile value as text: yes/no for booleans, a dash for none."""
    if isinstance(v, bool):
        return "yes" if v else "no"
    return "—" if v is None else str(v)


def _sources_html(result: Mapping[str, Any]) -> str:
    sources = list(result.get("sources", []))
    shown = ("what", "source", "verified", "value", "unit")
    extra = list(dict.fromkeys(k for s in sources for k in s if k not in shown))
    has_value = any("value" in s for s in sources)
    heads = "<th>What</th><th>Source</th><th>Verified</th>" + (
        "<th>Value</th>" if has_value else ""
    )
    heads += "".join(f"<th>{_e(k.replace('_', ' ').capitalize())}</th>" for k in extra)
    rows = []
    for s in sources:
        verified = "<td>yes</td>" if s.get("verified") else '<td class="no">no</td>'
        value = (
            f"<td>{_e(_value(s.get('value')))} {_e(s.get('unit', ''))}</td>" if has_value else ""
        )
        others = "".join(f"<td>{_e(_value(s.get(k)))}</td>" for k in extra)
        rows.append(
            f"<tr><td>{_e(s.get('what', ''))}</td><td>{_e(s.get('source', ''))}</td>"
            f"{verified}{value}{others}</tr>"
        )
    n_verified = sum(1 for s in sources if s.get("verified"))
    prov = "".join(
        f"<tr><td>{_e(k)}</td><td><code>{_e(v)}</code></td></tr>"
        for k, v in result.get("provenance", {}).items()
    )
    patient = "".join(
        f"<tr><td>{_e(k)}</td><td>{_e(_value(v))}</td></tr>"
        for k, v in result.get("patient", {}).items()
    )
    return (
        f"<p>{len(sources)} sourced numbers behind this comparison; {n_verified} checked against "
        f"their source (verified), {len(sources) - n_verified} not yet.</p>"
        f'<div class="wide"><table class="sources"><tr>{heads}</tr>{"".join(rows)}</table></div>'
        f"<h3>Provenance</h3><table>{prov}</table>"
        f"<h3>The profile as given and resolved</h3><table>{patient}</table>"
    )


def report_html(result: dict[str, Any], images: Mapping[str, bytes]) -> str:
    """The report as one self-contained HTML page: ``images`` (file name -> PNG bytes, as
    :func:`write_compare_outputs` makes them) are embedded as base64; no external file, font
    or script is referenced.

    >>> html = report_html({"patient": {"sex": "male", "age": 40}, "years": 5.0}, {})
    >>> html.count("research and education only") >= 2
    True
    """
    who = describe_patient(result.get("patient", {}))
    years = float(result.get("years", 0))
    title = f"What each option would likely do over the next {years:g} years"
    note = result.get("interval", {}).get("note", "not given")
    body = [
        f"<h1>{_e(title)}</h1><p><b>For: {_e(who)}</b></p>",
        _disclaimer_html(),
        f"<p>For each option, the expected number of events among {int(result.get('per', 1000)):,}"
        f" {people(result)} like this one over the next {years:g} years, with 95% intervals "
        "(what they cover: see below). Options that do not suit this person are computed and "
        "shown, marked <span class='mark'>✗ does not suit</span>; options with a caution are "
        "marked <span class='caution'>⚠ caution</span>. The reasons, with their sources, are "
        "under <a href='#options'>each option</a>.</p>",
        "<h2>Summary</h2>",
        _summary_html(result),
        icon_arrays_html(result),
        "<h2>Expected events per 1,000, with 95% intervals</h2>",
        _img(images, "events_per_1000.png", "Expected events per 1,000 per option"),
        _all_numbers_html(result),
        "<h2>Net-benefit index</h2>",
        _img(images, "net_benefit.png", "Net-benefit index per option"),
        _weights_html(result),
        "<h2>Spine BMD and hot flushes</h2>",
        _img(images, "bmd_hot_flushes.png", "Spine BMD change and hot flushes per option"),
        "<h2>Why: the tissue signals</h2>",
        "<p>Mean estrogen-receptor signal in each tissue over treatment (1 = saturating "
        "estradiol, 0 = the unliganded receptor; below 0 the drug holds the receptor below its "
        "unliganded activity), and the fraction of ERα held by the drug(s). The explanations "
        "below say which signal drives which number.</p>",
        _img(images, "tissue_signals.png", "Tissue signal per option and tissue"),
        _img(images, "era_occupancy.png", "ERα occupancy by the drug per option and tissue"),
        "<h2 id='options'>Each option: explanation and flags</h2>",
        _options_html(result),
        "<h2>What the 95% interval covers</h2>",
        f"<p>{_e(note)}</p>",
        "<h2>Sources of every number</h2>",
        _sources_html(result),
        _disclaimer_html(),
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}: {_e(who)}</title><style>{_CSS}</style></head>\n<body>\n"
        + "\n".join(p for p in body if p)
        + "\n</body></html>\n"
    )


# ---------------------------------------------------------------------------- files


def write_compare_outputs(result: dict[str, Any], out: Path) -> list[Path]:
    """Write the comparison into folder ``out`` (created if needed), each file atomically:
    ``result.json`` (the dict; NaN refused), ``summary.txt`` (:func:`comparison_table`), the
    figures as PNG, ``report.html`` (self-contained: :func:`report_html`) and ``report.pdf``
    (the table as text pages, then the figures; the icon arrays are in the HTML only).

    Returns
    -------
    list of Path
        The files written: result.json, summary.txt, the PNGs, report.html, report.pdf.
    """
    from matplotlib.backends.backend_pdf import PdfPages

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    text = json.dumps(result, indent=2, allow_nan=False, ensure_ascii=False) + "\n"
    table = comparison_table(result)
    written = []
    for name, content in (("result.json", text), ("summary.txt", table + "\n")):
        path = out / name
        with _atomic(path) as tmp:
            tmp.write_text(content, encoding="utf-8")
        written.append(path)
    figures = all_figures(result)
    images: dict[str, bytes] = {}
    for name, fig in figures:
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=110)
        images[name] = buffer.getvalue()
        path = out / name
        with _atomic(path) as tmp:
            tmp.write_bytes(images[name])
        written.append(path)
    path = out / "report.html"
    with _atomic(path) as tmp:
        tmp.write_text(report_html(result, images), encoding="utf-8")
    written.append(path)
    path = out / "report.pdf"
    title = f"sermsim compare: {describe_patient(result.get('patient', {}))}"
    with _atomic(path) as tmp, PdfPages(tmp) as pdf:
        for fig in [*text_pages(table, title=title), *(f for _, f in figures)]:
            pdf.savefig(fig)
        info = pdf.infodict()
        info["Title"], info["Subject"] = title, DISCLAIMER
    written.append(path)
    return written
