"""Figures of a comparison of options for one person (``sermsim compare``): icon arrays as
inline SVG (and the report's HTML section that holds them), and matplotlib figures (events
per 1,000 with their 95% intervals, the net-benefit index, spine BMD and hot flushes, the
tissue-signal and ERα-occupancy heatmaps, text pages for the PDF). It holds no science: it
only draws the numbers of the comparison dict (the JSON of ``sermsim compare``).

The matplotlib figures are :class:`matplotlib.figure.Figure` objects made without pyplot, so
no global figure registry holds them (nothing to close) and saving a PNG uses the Agg canvas.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Callable, Mapping, Sequence
from html import escape
from typing import TYPE_CHECKING, Any

from sermsim import DISCLAIMER

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

#: Endpoints shown first (the table's columns and the icon arrays), when the result has them.
KEY_EVENTS: tuple[str, ...] = (
    "invasive_breast_cancer",
    "hip_fracture",
    "vte",
    "endometrial_cancer",
    "stroke",
)
BMD = "bmd_lumbar_spine_pct"
FLUSHES = "hot_flushes_per_day"

#: Icon-array colours (Okabe–Ito, distinguishable with the common colour-vision deficiencies).
ANYWAY, PREVENTED, CAUSED, NO_EVENT = "#4d4d4d", "#0072B2", "#D55E00", "#dddddd"
ICON_COLUMNS = 40
ICON_PITCH = 6  # px between icon origins
ICON_SIZE = 5  # px

UNSUITABLE_COLOUR = "#b00000"
_NONE_COLOUR = "#9a9a9a"
_OPTION_COLOURS = (
    "#0072B2",
    "#E69F00",
    "#009E73",
    "#CC79A7",
    "#56B4E9",
    "#D55E00",
    "#6A3D9A",
    "#4D4D4D",
)
_TEXT_LINES_PER_PAGE = 56  # monospace lines on one landscape A4 text page at 8 pt


# ---------------------------------------------------------------------------- numbers


def num(x: float | None) -> str:
    """A count or change as text: whole numbers from 10 on, one decimal below, ``0`` for
    less than 0.05 in size, a dash for a missing number.

    >>> num(14.1), num(2.06), num(0.01), num(None), num(-5.04), num(9.96), num(1234.0)
    ('14', '2.1', '0', '—', '-5.0', '10', '1,234')
    """
    if x is None or not math.isfinite(float(x)):
        return "—"
    x = float(x)
    if abs(x) < 0.05:
        return "0"
    return f"{x:,.0f}" if abs(x) >= 9.95 else f"{x:.1f}"


def signed(x: float | None) -> str:
    """:func:`num` with a ``+`` on positive numbers.

    >>> signed(11.2), signed(-5.0), signed(0.0)
    ('+11', '-5.0', '0')
    """
    text = num(x)
    return "+" + text if x is not None and text not in ("0", "—") and float(x) > 0 else text


def _whole(x: float | None) -> str:
    """An interval bound that counts people: a whole number."""
    return "—" if x is None or not math.isfinite(float(x)) else f"{float(x):,.0f}"


def count_ci(v: Mapping[str, Any]) -> str:
    """Expected events per 1,000 with the 95% interval (whole counts of people).

    >>> count_ci({"per_1000": 14.1, "low": 7.0, "high": 22.0}), count_ci({"per_1000": 0.0})
    ('14 (7–22)', '0')
    """
    value = num(v.get("per_1000"))
    low, high = (_whole(v.get(k)) for k in ("low", "high"))
    if value == "—" or (low in (value, "—") and high in (value, "—")):
        return value  # no spread to show
    return f"{value} ({low}–{high})"


def signed_ci(value: float | None, low: float | None, high: float | None) -> str:
    """A signed number with its 95% interval (``to``: the bounds may be negative).

    >>> signed_ci(11.2, -5.0, 27.0)
    '+11 (-5.0 to 27)'
    """
    return interval(value, low, high, sign=True)


def interval(
    value: float | None, low: float | None, high: float | None, *, sign: bool = False
) -> str:
    """A number (signed if ``sign``) with its 95% interval; a dash if there is no number.

    >>> interval(2.2, 1.9, 2.5), interval(None, None, None), interval(2.2, 2.2, 2.2)
    ('2.2 (1.9 to 2.5)', '—', '2.2')
    """
    if value is None:
        return "—"
    text = signed(value) if sign else num(value)
    if low is None or high is None or num(low) == num(high) == num(value):
        return text  # no spread to show
    return f"{text} ({num(low)} to {num(high)})"


# ---------------------------------------------------------------------------- result access


def options(result: Mapping[str, Any]) -> list[dict[str, Any]]:
    return list(result.get("options", []))


def event_endpoints(result: Mapping[str, Any]) -> list[str]:
    """The event endpoints of the result: :data:`KEY_EVENTS` first, then the others in the
    result's order."""
    events = [k for k, e in result.get("endpoints", {}).items() if e.get("kind") == "event"]
    return [k for k in KEY_EVENTS if k in events] + [k for k in events if k not in KEY_EVENTS]


def key_events(result: Mapping[str, Any]) -> list[str]:
    return [k for k in KEY_EVENTS if k in result.get("endpoints", {})]


def endpoint_label(result: Mapping[str, Any], key: str) -> str:
    return str(result.get("endpoints", {}).get(key, {}).get("label", key.replace("_", " ")))


def people(result: Mapping[str, Any]) -> str:
    """``women``, ``men`` or ``people``, after the patient's sex."""
    sex = result.get("patient", {}).get("sex")
    return {"female": "women", "male": "men"}.get(str(sex), "people")


def _option_label(option: Mapping[str, Any], width: int = 30) -> str:
    label = str(option.get("label", option.get("key", "")))
    if not option.get("suitable", True):
        label += " (does not suit)"
    return textwrap.fill(label, width)


def _colours(opts: Sequence[Mapping[str, Any]]) -> list[str]:
    colours, k = [], 0
    for o in opts:
        if o.get("key") == "none":
            colours.append(_NONE_COLOUR)
        else:
            colours.append(_OPTION_COLOURS[k % len(_OPTION_COLOURS)])
            k += 1
    return colours


# ---------------------------------------------------------------------------- icon arrays


def icon_array_svg(base: float, option: float, *, per: int = 1000, title: str = "") -> str:
    """An inline SVG of ``per`` small squares (40 a row) out of ``per`` people like this one:
    dark grey for events that happen with and without the option, blue for events the option
    prevents, vermillion for events it causes, light grey for no event. Counts are the expected
    numbers rounded to whole people.

    >>> svg = icon_array_svg(30.0, 14.2, title="Raloxifene")
    >>> svg.count("<rect "), svg.count(PREVENTED), svg.count(CAUSED)
    (1000, 1, 0)
    """
    n_base = min(max(round(base), 0), per)
    n_option = min(max(round(option), 0), per)
    groups = (
        (ANYWAY, min(n_base, n_option)),
        (PREVENTED, max(n_base - n_option, 0)),
        (CAUSED, max(n_option - n_base, 0)),
        (NO_EVENT, per - max(n_base, n_option)),
    )
    rows = math.ceil(per / ICON_COLUMNS)
    width, height = ICON_COLUMNS * ICON_PITCH, rows * ICON_PITCH
    parts = [
        f'<svg class="icons" xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
    ]
    i = 0
    for colour, n in groups:
        if n <= 0:
            continue
        parts.append(f'<g fill="{colour}">')
        for _ in range(n):
            x, y = (i % ICON_COLUMNS) * ICON_PITCH, (i // ICON_COLUMNS) * ICON_PITCH
            parts.append(f'<rect x="{x}" y="{y}" width="{ICON_SIZE}" height="{ICON_SIZE}"/>')
            i += 1
        parts.append("</g>")
    parts.append("</svg>")
    return "".join(parts)


def icon_arrays_html(result: Mapping[str, Any]) -> str:
    """The report's icon-array section: a legend, then per key endpoint one array of
    ``per`` people per option (no treatment first; an unsuitable option outlined and marked)."""
    per = int(result.get("per", 1000))
    who = people(result)
    opts = options(result)
    none = next((o for o in opts if o.get("key") == "none"), None)
    legend = (
        '<p class="legend">'
        f'<span class="sw" style="background:{ANYWAY}"></span>has the event with or without '
        "the option"
        f'<span class="sw" style="background:{PREVENTED}"></span>event prevented by the option'
        f'<span class="sw" style="background:{CAUSED}"></span>extra event caused by the option'
        f'<span class="sw" style="background:{NO_EVENT};border:1px solid #bbb"></span>no event'
        "</p>"
    )
    parts = [
        f"<h2>Out of {per:,} {who} like you</h2>",
        f"<p>Each square is one of {per:,} {who} like this one over the next "
        f"{float(result.get('years', 0)):g} years; the expected numbers are rounded to whole "
        "people (the table gives them exactly, with 95% intervals).</p>",
        legend,
    ]
    for k in key_events(result):
        base = float((none or {}).get("events", {}).get(k, {}).get("per_1000") or 0.0)
        parts.append(f"<h3>{escape(endpoint_label(result, k))}</h3>")
        counts = [round(float(o.get("events", {}).get(k, {}).get("per_1000") or 0.0)) for o in opts]
        if not any(counts):
            parts.append(
                f"<p>Fewer than one in {per:,} with any option (none of the {per:,} squares "
                "would be coloured), so no array is drawn.</p>"
            )
            continue
        parts.append("<div class='arrays'>")
        for o in opts:
            v = float(o.get("events", {}).get(k, {}).get("per_1000") or 0.0)
            n_base, n_opt = round(base), round(v)
            if o is none:
                change = "the reference"
            elif n_opt < n_base:
                change = f"{n_base - n_opt} prevented"
            elif n_opt > n_base:
                change = f"{n_opt - n_base} caused"
            else:
                change = "as many as with no treatment"
            label = str(o.get("label"))
            title = f"{label}: {n_opt} of {per:,} with {endpoint_label(result, k)}, {change}"
            cls = "" if o.get("suitable", True) else ' class="unsuitable"'
            mark = (
                "" if o.get("suitable", True) else '<br><span class="mark">✗ does not suit</span>'
            )
            parts.append(
                f'<figure{cls} style="width:{ICON_COLUMNS * ICON_PITCH}px">'
                f"{icon_array_svg(base, v, per=per, title=title)}"
                f"<figcaption><b>{escape(label)}</b>: {n_opt} with the event ({escape(change)})"
                f"{mark}</figcaption></figure>"
            )
        parts.append("</div>")
    return "".join(parts)


# ---------------------------------------------------------------------------- matplotlib


def _figure(width: float, height: float) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _footer(fig: Figure, text: str) -> None:
    """Leave room at the bottom of a constrained-layout figure and write ``text`` there."""
    from matplotlib.layout_engine import ConstrainedLayoutEngine

    wrapped = "\n".join(textwrap.fill(line, 160) for line in text.splitlines())
    engine = fig.get_layout_engine()
    if isinstance(engine, ConstrainedLayoutEngine):
        bottom = (0.12 + 0.14 * (wrapped.count("\n") + 1)) / fig.get_figheight()
        engine.set(rect=(0.0, bottom, 1.0, 1.0 - bottom))
    fig.text(0.01, 0.01, wrapped, fontsize=7, ha="left", va="bottom", color="#7a0000")


def _horizon(result: Mapping[str, Any]) -> str:
    return f"per {int(result.get('per', 1000)):,} over {float(result.get('years', 0)):g} years"


def _barh(
    ax: Axes,
    values: Sequence[float | None],
    lows: Sequence[float | None],
    highs: Sequence[float | None],
    opts: Sequence[Mapping[str, Any]],
    colours: Sequence[str],
    texts: Sequence[str],
) -> None:
    """Horizontal bars with 95%-interval whiskers, unsuitable options hatched, each bar's
    numbers written beside it; the first option on top."""
    for i, (v, lo, hi, o, c, t) in enumerate(
        zip(values, lows, highs, opts, colours, texts, strict=True)
    ):
        if v is None:
            continue
        suitable = bool(o.get("suitable", True))
        ax.barh(
            i,
            v,
            color=c if suitable else "white",
            edgecolor=c,
            hatch=None if suitable else "///",
            height=0.7,
        )
        if lo is not None and hi is not None and hi > lo:
            xerr = [[max(v - lo, 0.0)], [max(hi - v, 0.0)]]
            ax.errorbar(v, i, xerr=xerr, fmt="none", color="black", capsize=2.5, lw=0.9)
        end = max(v, hi if hi is not None else v, 0.0)
        ax.text(
            end,
            i,
            "  " + t,
            va="center",
            ha="left",
            fontsize=6.5,
            bbox={"fc": "white", "ec": "none", "alpha": 0.7, "pad": 0.3},
        )
    ax.set_yticks(range(len(opts)))
    ax.set_ylim(len(opts) - 0.5, -0.5)
    ax.margins(x=0.35)
    ax.grid(axis="x", alpha=0.3)
    ax.tick_params(labelsize=7)


def _ytick_labels(
    ax: Axes, labels: Sequence[str], opts: Sequence[Mapping[str, Any]], fontsize: float = 7
) -> None:
    """Option labels on the y axis, those of unsuitable options in red."""
    ax.set_yticklabels(labels, fontsize=fontsize)
    for tick, o in zip(ax.get_yticklabels(), opts, strict=False):  # none when shared
        if not o.get("suitable", True):
            tick.set_color(UNSUITABLE_COLOUR)


def events_figure(result: Mapping[str, Any]) -> Figure:
    """Expected events per 1,000 with 95%-interval whiskers: a panel per event endpoint
    (key endpoints first), every option in each, the no-treatment value as a dashed line."""
    opts = options(result)
    keys = event_endpoints(result)
    ncols = min(2, max(len(keys), 1))
    nrows = max(math.ceil(len(keys) / ncols), 1)
    fig = _figure(6.2 * ncols + 1.0, (0.36 * len(opts) + 1.0) * nrows + 1.1)
    axes = fig.subplots(nrows, ncols, squeeze=False, sharey=True)
    labels = [_option_label(o) for o in opts]
    colours = _colours(opts)
    for ax, key in zip(axes.flat, keys, strict=False):
        ev = [o.get("events", {}).get(key, {}) for o in opts]
        _barh(
            ax,
            [e.get("per_1000") for e in ev],
            [e.get("low") for e in ev],
            [e.get("high") for e in ev],
            opts,
            colours,
            [count_ci(e) if e else "" for e in ev],
        )
        none = next((e for o, e in zip(opts, ev, strict=True) if o.get("key") == "none"), None)
        if none and none.get("per_1000") is not None:
            ax.axvline(none["per_1000"], color="black", ls="--", lw=0.8, zorder=3)
        _ytick_labels(ax, labels, opts)
        ax.set_title(endpoint_label(result, key), fontsize=9)
        ax.set_xlabel(f"expected events {_horizon(result)}", fontsize=7)
        ax.set_xlim(left=0.0)
    for ax in list(axes.flat)[len(keys) :]:
        ax.set_axis_off()
    fig.suptitle(
        f"Expected events among {int(result.get('per', 1000)):,} {people(result)} like this one "
        f"over {float(result.get('years', 0)):g} years\n(whiskers: 95% interval; hatched: does "
        "not suit this person; dashed line: no treatment)",
        fontsize=10,
    )
    _footer(fig, f"{result.get('interval', {}).get('note', '')}\n{DISCLAIMER}")
    return fig


def net_benefit_figure(result: Mapping[str, Any]) -> Figure:
    """The net-benefit index per option with its 95% interval (no treatment is the zero
    line); unsuitable options hatched."""
    opts = [o for o in options(result) if o.get("net_benefit")]
    colours = _colours(opts)
    fig = _figure(9.5, 0.42 * len(opts) + 1.9)
    ax = fig.subplots()
    nb = [o["net_benefit"] for o in opts]
    _barh(
        ax,
        [n.get("index") for n in nb],
        [n.get("low") for n in nb],
        [n.get("high") for n in nb],
        opts,
        colours,
        [signed_ci(n.get("index"), n.get("low"), n.get("high")) for n in nb],
    )
    _ytick_labels(ax, [_option_label(o, 40) for o in opts], opts, fontsize=8)
    ax.axvline(0.0, color="black", lw=0.9)
    ax.set_xlabel(
        f"net-benefit index: weighted events prevented minus caused {_horizon(result)} "
        "(> 0: benefit; 0: as no treatment)",
        fontsize=8,
    )
    ax.set_title("Net-benefit index (whiskers: 95% interval; hatched: does not suit)", fontsize=10)
    _footer(fig, DISCLAIMER)
    return fig


def continuous_figure(result: Mapping[str, Any]) -> Figure | None:
    """Spine BMD change and hot flushes per day (mean, 95% interval) per option; ``None``
    when the result has neither."""
    keys = [k for k in (BMD, FLUSHES) if k in result.get("endpoints", {})]
    if not keys:
        return None
    opts = options(result)
    colours = _colours(opts)
    fig = _figure(5.5 * len(keys) + 1.2, 0.3 * len(opts) + 1.9)
    axes = fig.subplots(1, len(keys), squeeze=False, sharey=True)
    for ax, key in zip(axes.flat, keys, strict=True):
        cs = [o.get("continuous", {}).get(key, {}) for o in opts]
        _barh(
            ax,
            [c.get("mean") for c in cs],
            [c.get("low") for c in cs],
            [c.get("high") for c in cs],
            opts,
            colours,
            [interval(c.get("mean"), c.get("low"), c.get("high"), sign=key == BMD) for c in cs],
        )
        ax.axvline(0.0, color="black", lw=0.8)
        _ytick_labels(ax, [_option_label(o) for o in opts], opts)
        ax.set_title(endpoint_label(result, key), fontsize=9)
        ax.set_xlabel(str(result["endpoints"][key].get("unit", "")), fontsize=7)
    fig.suptitle(
        f"Spine BMD change and hot flushes a day at {float(result.get('years', 0)):g} years (mean; "
        "whiskers: 95% interval; hatched: does not suit this person)",
        fontsize=10,
    )
    _footer(fig, DISCLAIMER)
    return fig


def heatmap_figure(
    result: Mapping[str, Any],
    field: str,
    *,
    title: str,
    colourbar: str,
    scale: float = 1.0,
    diverging: bool = False,
) -> Figure:
    """Options × tissues heatmap of ``options[i][field]``, each cell's value written in it;
    unsuitable options' labels in red with "(does not suit)". Sequential colours from 0 to 1,
    or (``diverging``) blue below 0 and red above, symmetric about 0 and reaching at least 1."""
    import numpy as np

    opts = options(result)
    tissues = list(result.get("tissues", []))
    data = np.array(
        [[float(o.get(field, {}).get(t, np.nan)) for t in tissues] for o in opts], dtype=float
    ).reshape(len(opts), len(tissues))
    fig = _figure(scale * (1.1 * len(tissues) + 4.2), scale * (0.42 * len(opts) + 1.9))
    ax = fig.subplots()
    if diverging:
        top = max(1.0, float(np.nanmax(np.abs(data), initial=0.0)))
        image = ax.imshow(data, cmap="RdBu_r", vmin=-top, vmax=top, aspect="auto")
        dark = np.abs(data) > 0.6 * top
    else:
        image = ax.imshow(data, cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto")
        dark = ~(data >= 0.55)
    for i in range(len(opts)):
        for j in range(len(tissues)):
            v = data[i, j]
            ax.text(
                j,
                i,
                "—" if not np.isfinite(v) else f"{v:.2f}",
                ha="center",
                va="center",
                fontsize=7.5 * scale**0.5,
                color="white" if dark[i, j] else "black",
            )
    ax.set_xticks(range(len(tissues)), tissues, rotation=30, ha="right", fontsize=8)
    ax.set_yticks(range(len(opts)))
    _ytick_labels(ax, [_option_label(o, 40) for o in opts], opts, fontsize=8)
    fig.colorbar(image, ax=ax, label=colourbar, shrink=0.9)
    ax.set_title(title, fontsize=10)
    _footer(fig, DISCLAIMER)
    return fig


def all_figures(result: Mapping[str, Any]) -> list[tuple[str, Figure]]:
    """The report's figures with their PNG file names, in the report's order."""
    makers: list[tuple[str, Callable[[], Figure | None]]] = [
        ("events_per_1000.png", lambda: events_figure(result)),
        ("net_benefit.png", lambda: net_benefit_figure(result)),
        ("bmd_hot_flushes.png", lambda: continuous_figure(result)),
        (
            "tissue_signals.png",
            lambda: heatmap_figure(
                result,
                "signals",
                title="Tissue ER signal (mean over treatment; 1 = saturating estradiol, "
                "0 = unliganded receptor)",
                colourbar="signal (> 0 agonist-like, < 0 below the unliganded receptor)",
                diverging=True,
            ),
        ),
        (
            "era_occupancy.png",
            lambda: heatmap_figure(
                result,
                "occupancy",
                title="ERα held by the drug(s) (mean over treatment)",
                colourbar="fraction of ERα",
                scale=0.8,
            ),
        ),
    ]
    return [(name, fig) for name, make in makers if (fig := make()) is not None]


def text_pages(text: str, *, title: str) -> list[Figure]:
    """Landscape A4 pages of monospace ``text`` (for the PDF); long lines are wrapped."""
    lines: list[str] = []
    for line in text.splitlines():
        lines += textwrap.wrap(line, 125, subsequent_indent="    ") or [""]
    pages = []
    for start in range(0, max(len(lines), 1), _TEXT_LINES_PER_PAGE):
        fig = _figure(11.69, 8.27)
        fig.text(0.04, 0.96, title, fontsize=11, va="top", weight="bold")
        fig.text(
            0.04,
            0.92,
            "\n".join(lines[start : start + _TEXT_LINES_PER_PAGE]),
            fontsize=8,
            family="monospace",
            va="top",
        )
        fig.text(0.04, 0.02, DISCLAIMER, fontsize=8, color="#7a0000")
        pages.append(fig)
    return pages
