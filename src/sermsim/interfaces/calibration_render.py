"""Rendering of `sermsim calibrate`: the fit per target and per block, as a text table.
It holds no science: it renders :func:`sermsim.calibration.run.run_calibration`'s JSON."""

from __future__ import annotations

from typing import Any

from sermsim import DISCLAIMER


def calibration_table(result: dict[str, Any]) -> str:
    lines = [
        f"{'target':34s} {'block':24s} {'simulated':>10s} {'published':>10s}  "
        f"{'interval':>18s} {'z':>6s}  within  (shipped fit)",
        "-" * 124,
    ]
    for r in result["targets"]:
        interval = f"[{r['ci_low']:g}, {r['ci_high']:g}]"
        was = "yes" if r["shipped_within"] else "no"
        lines.append(
            f"{r['id'][:33]:34s} {r['block'][:23]:24s} {r['simulated']:10.4g} "
            f"{r['published']:10.4g}  {interval:>18s} {r['z']:+6.2f}  "
            f"{'yes' if r['within'] else 'NO':6s}  ({r['shipped_simulated']:.4g}, {was})"
        )
    lines += [
        "",
        f"{'block':24s} {'objective':>10s} {'start':>10s} {'shipped':>10s} evals  seconds",
    ]
    for b in result["blocks"]:
        lines.append(
            f"{b['block'][:23]:24s} {b['objective']:10.4g} {b['start_objective']:10.4g} "
            f"{b['shipped_objective']:10.4g} {b['evaluations']:5d} {b['seconds']:8.1f}"
        )
        for name, value in b["values"].items():
            lines.append(
                f"    {name:44s} {value:12.5g}  (start {b['start'][name]:.5g}, "
                f"shipped {b['shipped'][name]:.5g})"
            )
    check = result["check"]
    ratio = check["objective_ratio"]
    lines += [
        "",
        f"objective (0.5 sum z^2): {result['objective']:.5g}; shipped fit: "
        f"{result['shipped_objective']:.5g}"
        + (f" (ratio {ratio:.4g}; within 5 %: {check['objective_within_5pct']})" if ratio else ""),
        f"targets met by the shipped fit: {check['targets_met_by_shipped']}, still met: "
        f"{check['still_met']}" + (f"; lost: {', '.join(check['lost'])}" if check["lost"] else ""),
    ]
    if result.get("ensemble"):
        e = result["ensemble"]
        lines.append(f"ensemble: {e['members']} members ({e['method']}):")
        for name, p in e["posterior"].items():
            lines.append(
                f"    {name:44s} fit {p['fit']:<10.5g} posterior sd {p['sd']:<10.4g} "
                f"prior sd {p['prior_sd']:.4g}"
            )
    lines.append(DISCLAIMER)
    return "\n".join(lines)
