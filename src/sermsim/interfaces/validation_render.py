"""Rendering of `sermsim validate`: a table, forest plots per trial, and an HTML report.
It holds no science: it renders :class:`sermsim.trials.validate.Comparison` rows."""

from __future__ import annotations

import base64
import html
import io
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from sermsim import DISCLAIMER, __version__
from sermsim.interfaces.simulation_render import _atomic
from sermsim.trials.validate import Comparison, not_compared, validation_json


def validation_table(comparisons: list[Comparison]) -> str:
    lines = [
        f"{'target':34s} {'trial':30s} {'simulated':>10s} {'published':>10s}  "
        f"{'interval':>18s}  within",
        "-" * 112,
    ]
    for c in comparisons:
        t = c.target
        mark = "yes" if c.within else "NO"
        flags = ("*" if t.must_show else " ") + ("f" if t.fitted else " ")
        interval = f"[{t.ci_low:g}, {t.ci_high:g}]"
        lines.append(
            f"{t.id[:33]:34s} {t.trial[:29]:30s} {c.simulated:10.4g} {t.published:10.4g}  "
            f"{interval:>18s}  {mark} {flags}"
        )
    doc = validation_json(comparisons)
    must = doc["must_show"]
    lines += [
        "",
        f"within: {doc['n_within']} of {doc['n_total']} targets; of the outcomes issue's "
        f"list (*): {must['n_within']} of {must['n_total']}. f: fitted to it (the rest are "
        f"predictions). Not compared (qualitative or not modelled): {len(not_compared())}.",
        DISCLAIMER,
    ]
    return "\n".join(lines)


def _forest_png(rows: list[Comparison], title: str) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 0.42 * len(rows) + 1.2))
    for i, c in enumerate(reversed(rows)):
        t = c.target
        # Each row on its own scale: the interval mapped to [0, 1].
        span = (t.ci_high - t.ci_low) or 1.0
        x = (c.simulated - t.ci_low) / span
        ax.plot([0, 1], [i, i], color="0.5", lw=2)
        ax.plot((t.published - t.ci_low) / span, i, "|", color="k", ms=12)
        ax.plot(min(max(x, -0.5), 1.5), i, "o", color="C2" if c.within else "C3")
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([c.target.id for c in reversed(rows)], fontsize=7)
    ax.set_xlim(-0.6, 1.6)
    ax.set_xticks([0, 1])
    ax.set_xticklabels(["CI low", "CI high"])
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return buf.getvalue()


def validation_html(comparisons: list[Comparison]) -> str:
    doc = validation_json(comparisons)
    by_trial: dict[str, list[Comparison]] = defaultdict(list)
    for c in comparisons:
        by_trial[c.target.trial].append(c)
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>sermsim validation</title>",
        "<style>body{font-family:sans-serif;max-width:1100px;margin:auto}"
        "table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:3px 6px}"
        ".no{background:#fdd}.disc{background:#ffe;padding:8px;border:1px solid #cc8}</style>",
        "</head><body>",
        f"<p class='disc'><b>{html.escape(DISCLAIMER)}</b></p>",
        f"<h1>sermsim {html.escape(__version__)}: validation against the calibration targets</h1>",
        f"<p>{doc['n_within']} of {doc['n_total']} targets within their interval; "
        f"outcomes issue's list: {doc['must_show']['n_within']} of "
        f"{doc['must_show']['n_total']}. The model's expectation (no sampling noise) is "
        "compared; intervals are the published 95 % CI or a stated tolerance. In each forest "
        "plot a row's interval is drawn from 0 to 1, the published value as a bar and the "
        "model as a dot (green within, red outside).</p>",
    ]
    for trial, rows in by_trial.items():
        png = base64.b64encode(_forest_png(rows, trial)).decode()
        parts.append(f"<h2>{html.escape(trial)}</h2>")
        parts.append(
            f"<img alt='forest plot {html.escape(trial)}' src='data:image/png;base64,{png}'>"
        )
        parts.append(
            "<table><tr><th>target</th><th>endpoint</th><th>simulated</th><th>published</th>"
            "<th>interval</th><th>within</th><th>why this interval</th></tr>"
        )
        for c in rows:
            t = c.target
            cls = "" if c.within else " class='no'"
            parts.append(
                f"<tr{cls}><td>{html.escape(t.id)}{' (fitted)' if t.fitted else ''}</td>"
                f"<td>{html.escape(t.endpoint)}</td><td>{c.simulated:.4g}</td>"
                f"<td>{t.published:g}</td><td>[{t.ci_low:g}, {t.ci_high:g}]</td>"
                f"<td>{'yes' if c.within else 'no'}</td><td>{html.escape(t.interval)}</td></tr>"
            )
        parts.append("</table>")
    parts.append(
        "<h2>Not compared</h2><table><tr><th>trial</th><th>endpoint</th><th>reason</th></tr>"
    )
    for row in not_compared():
        parts.append(
            f"<tr><td>{html.escape(str(row['trial']))}</td><td>{html.escape(str(row['endpoint']))}"
            f"</td><td>{html.escape(str(row['reason']))}</td></tr>"
        )
    parts += ["</table>", f"<p class='disc'>{html.escape(DISCLAIMER)}</p></body></html>"]
    return "\n".join(parts)


def write_validation_outputs(comparisons: list[Comparison], out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    outputs: dict[str, Any] = {
        "validation.json": json.dumps(validation_json(comparisons), indent=2) + "\n",
        "validation.txt": validation_table(comparisons) + "\n",
        "validation.html": validation_html(comparisons),
    }
    for name, text in outputs.items():
        path = out / name
        with _atomic(path) as tmp:
            tmp.write_text(text, "utf-8")
        written.append(path)
    return written
