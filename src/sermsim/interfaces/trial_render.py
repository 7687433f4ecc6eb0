"""Rendering of a virtual trial: a readable table, cumulative-incidence curves per arm, a
forest plot of the comparisons, and the files a trialist keeps (JSON, per-arm curves as CSV,
per-person expectations as Parquet). It holds no science: it only renders
:class:`sermsim.trials.run.TrialOutcome`.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from sermsim import DISCLAIMER
from sermsim.interfaces.simulation_render import _atomic
from sermsim.trials.run import TrialOutcome


def _cell(x: Any, digits: int = 3) -> str:
    if x is None:
        return "—"
    if isinstance(x, float):
        return f"{x:.{digits}g}"
    return str(x)


def trial_table(outcome: TrialOutcome) -> str:
    """The trial's endpoints per arm and its comparisons, as plain text."""
    r = outcome.result
    spec = outcome.spec
    arms = list(r["arms"])
    lines = [
        f"{r['name']}: {len(arms)} arms x {spec.n_per_arm:,} people, "
        f"{spec.duration_years:g} years of follow-up",
        "",
    ]
    width = max(28, *(len(e.key) + 2 for e in spec.endpoints))
    head = "endpoint".ljust(width) + "".join(a[:22].rjust(24) for a in arms)
    lines += [head, "-" * len(head)]
    for e in spec.endpoints:
        row = e.key.ljust(width)
        for a in arms:
            v = r["arms"][a]["endpoints"][e.key]
            if e.is_event:
                text = f"{v['events']} ({100 * v['expected_cumulative_incidence']:.2f}% exp)"
            else:
                text = f"{v['mean']:.3g} ± {v['sd']:.2g}"
            row += text.rjust(24)
        lines.append(row)
    failed = {a: v["failed"] for a, v in r["arms"].items() if v["failed"]["count"]}
    lines += [""]
    if failed:
        for a, f in failed.items():
            why = "; ".join(f"{k} ({n})" for k, n in f["reasons"].items())
            lines.append(f"{a}: {f['count']:,} people have no results and are left out: {why}")
    else:
        lines.append("Every person drawn solved (no failures).")
    for c in r["comparisons"]:
        lines += ["", f"{c['arm']} vs {c['reference']}"]
        for key, v in c["endpoints"].items():
            if "rr" in v:
                if v["rr"] is None:
                    text = f"RR — ({v.get('reason', '')}); expected {_cell(v['rr_expected'])}"
                else:
                    text = (
                        f"RR {_cell(v['rr'])} ({_cell(v['ci_low'])}–{_cell(v['ci_high'])}); "
                        f"expected {_cell(v['rr_expected'])}"
                    )
                    if "ci_low_total" in v and "rr_expected_ci_low" in v:
                        text += (
                            f" ({_cell(v['rr_expected_ci_low'])}–"
                            f"{_cell(v['rr_expected_ci_high'])}); with parameters "
                            f"{_cell(v['ci_low_total'])}–{_cell(v['ci_high_total'])}"
                        )
            else:
                text = (
                    f"difference {_cell(v['difference'])} "
                    f"({_cell(v['ci_low'])} to {_cell(v['ci_high'])})"
                )
            lines.append(f"  {key.ljust(width)}{text}")
    if "uncertainty" in r:
        ens = r["uncertainty"]["ensemble"]
        lines += [
            "",
            "RR (a–b): sampling only, the trial's chance; expected (c–d): the model's "
            f"expectation over {ens['members']} parameter-ensemble members ({ens['method']}); "
            "with parameters: sampling and parameter uncertainty combined. Not varied: "
            + r["uncertainty"]["not_varied"]
            + ".",
        ]
    else:
        lines += ["", "Intervals: sampling only (run without --sampling-only to add parameters)."]
    lines += ["", DISCLAIMER]
    return "\n".join(lines)


def plot_incidence(outcome: TrialOutcome, path: Path) -> None:
    """Expected cumulative incidence per arm over follow-up, one panel per event endpoint."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    events = [e.name for e in outcome.spec.endpoints if e.is_event]
    if not events:
        return
    cols = min(3, len(events))
    rows = math.ceil(len(events) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False)
    for ax, name in zip(axes.flat, events, strict=False):
        for arm in outcome.arms.values():
            ax.plot(outcome.grid, 100 * arm.curves[name], label=arm.name)
        ax.set_title(name.replace("_", " "), fontsize=9)
        ax.set_xlabel("years")
        ax.set_ylabel("expected cumulative incidence (%)")
    for ax in list(axes.flat)[len(events) :]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7)
    fig.suptitle(f"{outcome.spec.name}\n{DISCLAIMER}", fontsize=8)
    fig.tight_layout()
    with _atomic(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)


def plot_forest(outcome: TrialOutcome, path: Path) -> None:
    """Relative risks of every comparison, sampled (with 95% CI) and expected."""
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows: list[tuple[str, dict[str, Any]]] = []
    for c in outcome.result["comparisons"]:
        for key, v in c["endpoints"].items():
            if "rr" in v:
                rows.append((f"{key} ({c['arm']} vs {c['reference']})", v))
    if not rows:
        return
    fig, ax = plt.subplots(figsize=(8, 0.35 * len(rows) + 1.4))
    for i, (_, v) in enumerate(reversed(rows)):
        if v["rr"] is not None:
            ax.plot([v["ci_low"], v["ci_high"]], [i, i], color="0.4")
            ax.plot(v["rr"], i, "s", color="C0", label="sampled" if i == 0 else None)
        if v["rr_expected"] is not None:
            ax.plot(
                v["rr_expected"],
                i,
                "D",
                color="C3",
                mfc="none",
                label="expected" if i == 0 else None,
            )
    ax.axvline(1.0, color="k", lw=0.8)
    ax.set_xscale("log")
    ticks = [0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0]
    ax.xaxis.set_major_locator(matplotlib.ticker.FixedLocator(ticks))
    ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda x, _: f"{x:g}"))
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([r[0] for r in reversed(rows)], fontsize=7)
    ax.set_xlabel("relative risk (log scale)")
    ax.legend(fontsize=7, loc="best")
    ax.set_title(f"{outcome.spec.name}\n{DISCLAIMER}", fontsize=8)
    fig.tight_layout()
    with _atomic(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)


def write_trial_outputs(outcome: TrialOutcome, out: Path) -> list[Path]:
    """result.json, summary.txt, curves.csv, people.parquet and two PNGs in ``out``."""
    import pandas as pd

    out.mkdir(parents=True, exist_ok=True)
    written = []
    path = out / "result.json"
    with _atomic(path) as tmp:
        tmp.write_text(json.dumps(outcome.result, indent=2, allow_nan=False) + "\n", "utf-8")
    written.append(path)
    path = out / "summary.txt"
    with _atomic(path) as tmp:
        tmp.write_text(trial_table(outcome) + "\n", "utf-8")
    written.append(path)
    frames = []
    for arm in outcome.arms.values():
        frame = pd.DataFrame({"arm": arm.name, "years": outcome.grid})
        for name, curve in arm.curves.items():
            frame[name] = curve
        frames.append(frame)
    path = out / "curves.csv"
    with _atomic(path) as tmp:
        pd.concat(frames).to_csv(tmp, index=False)
    written.append(path)
    people = []
    for arm in outcome.arms.values():
        c = arm.population.columns
        frame = pd.DataFrame(
            {
                "arm": arm.name,
                "draw_index": arm.population.index,
                "age": c["age"].astype(float),
                "sex": np.where(np.asarray(c["female"], bool), "female", "male"),
            }
        )
        frame["status"] = "solved"
        for name, values in arm.expected.items():
            frame[f"expected_{name}"] = values
        people.append(frame)
        if arm.failures:  # everyone drawn has a row: the failures with the reason, no results
            people.append(
                pd.DataFrame(
                    {
                        "arm": arm.name,
                        "draw_index": np.array(list(arm.failures), dtype=np.int64),
                        "status": [f"failed: {why}" for why in arm.failures.values()],
                    }
                )
            )
    path = out / "people.parquet"
    with _atomic(path) as tmp:
        pd.concat(people).to_parquet(tmp, index=False)
    written.append(path)
    for name, plot in (("cumulative_incidence.png", plot_incidence), ("forest.png", plot_forest)):
        path = out / name
        plot(outcome, path)
        if path.exists():
            written.append(path)
    return written
