"""Rendering of a global sensitivity analysis (``sermsim sensitivity``): a ranked table, a
tornado figure (the global index with its confidence interval, and the one-at-a-time swings
around the outcome at the shipped values) and the files (result.json, table.txt,
tornado.png). It holds no science: it only draws the JSON object of
:func:`sermsim.calibration.sensitivity.sensitivity`.
"""

from __future__ import annotations

import io
import json
import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sermsim import DISCLAIMER
from sermsim.interfaces.simulation_render import _atomic

if TYPE_CHECKING:
    from matplotlib.figure import Figure

SPAN = 100.0  # a panel switches to a log axis when its bars span more than this factor
TOP = 15  # parameters drawn in the tornado (the rest have smaller indices; the table has all)


def _g(x: float, digits: int = 3) -> str:
    return "0" if x == 0 else f"{x:.{digits}g}"


def _columns(result: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(key, header) of the index columns of this method."""
    if result["method"] == "morris":
        return [("mu_star", "mu*"), ("mu_star_conf", "± conf"), ("sigma", "sigma"), ("mu", "mu")]
    return [("ST", "ST"), ("ST_conf", "± conf"), ("S1", "S1"), ("S1_conf", "± conf")]


def _title(result: Mapping[str, Any]) -> str:
    o = result["outcome"]
    return (
        f"{o['name']} ({o['unit']}) on {result['regimen']} over {result['years']:g} years: "
        f"{_g(result['baseline'], 4)} at the shipped values"
    )


def sensitivity_table(result: Mapping[str, Any]) -> str:
    """Every parameter ranked by the global index, with its range and one-at-a-time swing."""
    from rich.console import Console
    from rich.table import Table

    cols = _columns(result)
    table = Table(title=_title(result), title_justify="left", show_lines=False)
    table.add_column("#", justify="right")
    table.add_column("parameter", no_wrap=True)
    table.add_column("layer")
    for _, header in cols:
        table.add_column(header, justify="right")
    table.add_column("range sampled", justify="right", no_wrap=True)
    table.add_column("outcome at low / high", justify="right")
    for i, row in enumerate(result["parameters"], 1):
        table.add_row(
            str(i),
            row["name"],
            row["layer"],
            *(_g(row[key]) for key, _ in cols),
            f"{_g(row['low'])} – {_g(row['high'])} (shipped {_g(row['shipped'])})",
            f"{_g(row['oat_low'], 4)} / {_g(row['oat_high'], 4)}",
        )
    buffer = io.StringIO()
    Console(file=buffer, width=170, no_color=True, highlight=False).print(table)
    runs = result["runs"]
    notes = [
        f"method: {runs['design']} ({runs['global']} runs, plus {runs['one_at_a_time']} "
        f"one at a time; {runs['physiology_simulations']} physiology simulations), "
        f"seed {result['seed']}",
        f"sampling: {result['sampling']['rule']}",
        result["indices_note"],
        result["oat_note"],
        DISCLAIMER,
    ]
    return buffer.getvalue().rstrip() + "\n\n" + "\n".join(textwrap.fill(n, 110) for n in notes)


def tornado_figure(result: Mapping[str, Any], top: int = TOP) -> Figure:
    """Left: the global index of the ``top`` parameters with its confidence half-width.
    Right: the classic tornado, the outcome with each parameter at the low and high end of
    its range (others shipped), around the outcome at the shipped values."""
    from matplotlib.figure import Figure

    rows = result["parameters"][:top][::-1]
    key, conf = ("mu_star", "mu_star_conf") if result["method"] == "morris" else ("ST", "ST_conf")
    names = [r["name"] for r in rows]
    n = len(rows)
    fig = Figure(figsize=(12.5, 1.6 + 0.32 * n + 0.9), layout="constrained")
    left, right = fig.subplots(1, 2, sharey=True)
    y = list(range(n))
    colours = ["#2a6f97" if r["layer"] == "physiology" else "#c05621" for r in rows]
    left.barh(y, [r[key] for r in rows], xerr=[r[conf] for r in rows], color=colours, capsize=3)
    left.set_yticks(y, names, fontsize=8)
    left.set_xlabel(
        "Morris mu* (outcome change per sampled range), ± 95% bootstrap"
        if key == "mu_star"
        else "total Sobol index ST, ± 95% bootstrap",
        fontsize=8,
    )
    values = [r[key] for r in rows if r[key] > 0]
    if values and max(values) > SPAN * min(values):  # a few orders of magnitude: log axis
        left.set_xscale("log")
        left.set_title(
            "global, log scale; zero not drawn (blue: physiology, orange: links)", fontsize=9
        )
    else:
        left.set_xlim(left=0)
        left.set_title("global (blue: physiology, orange: outcome links)", fontsize=9)
    base = float(result["baseline"])
    for i, r in enumerate(rows):
        right.barh(i, float(r["oat_low"]) - base, color="#8da9c4", height=0.7)
        right.barh(i, float(r["oat_high"]) - base, color="#134074", height=0.7)
    right.axvline(0, color="black", lw=0.8)
    swings = sorted(abs(float(r[k]) - base) for r in rows for k in ("oat_low", "oat_high"))
    swings = [x for x in swings if x > 0]
    if swings and swings[-1] > SPAN * swings[len(swings) // 2]:
        right.set_xscale("symlog", linthresh=swings[len(swings) // 2])
    right.set_xlabel(
        f"change from {_g(base, 4)} (the shipped values), {result['outcome']['unit']}", fontsize=8
    )
    right.set_title("one at a time: light = low end, dark = high end", fontsize=9)
    fig.suptitle(textwrap.fill(_title(result), 130), fontsize=10)
    runs = result["runs"]
    footer = (
        f"{runs['design']}; seed {result['seed']}. Sampling: {result['sampling']['rule']}.\n"
        f"{DISCLAIMER}"
    )
    wrapped = "\n".join(textwrap.fill(line, 170) for line in footer.splitlines())
    from matplotlib.layout_engine import ConstrainedLayoutEngine

    engine = fig.get_layout_engine()
    if isinstance(engine, ConstrainedLayoutEngine):
        bottom = (0.12 + 0.14 * (wrapped.count("\n") + 1)) / fig.get_figheight()
        engine.set(rect=(0.0, bottom, 1.0, 1.0 - bottom))
    fig.text(0.01, 0.01, wrapped, fontsize=7, ha="left", va="bottom", color="#7a0000")
    return fig


def write_sensitivity_outputs(result: Mapping[str, Any], out: Path) -> list[Path]:
    """result.json, table.txt and tornado.png in ``out`` (created if needed)."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    path = out / "result.json"
    with _atomic(path) as tmp:
        tmp.write_text(json.dumps(result, indent=2, allow_nan=False) + "\n", "utf-8")
    written.append(path)
    path = out / "table.txt"
    with _atomic(path) as tmp:
        tmp.write_text(sensitivity_table(result) + "\n", "utf-8")
    written.append(path)
    path = out / "tornado.png"
    fig = tornado_figure(result)
    with _atomic(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    written.append(path)
    return written
