"""Rendering of profiles: plain-text table, JSON, CSV and the tissue × agent heatmap."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sermsim import DISCLAIMER
from sermsim.receptor.exposure import TISSUES
from sermsim.selectivity.profile import PROFILE_STAGES, Profile

SHORT_STAGE = {"postmenopausal": "post", "premenopausal": "pre"}
SYMBOL = {"agonist": "+", "antagonist": "-", "neutral": "0"}


def profile_json(profiles: Sequence[Profile], *, single: bool) -> str:
    """JSON text: one object for a single regimen, an array for ``--all``."""
    items: list[dict[str, Any]] = []
    for p in profiles:
        d = p.to_dict()
        d["disclaimer"] = DISCLAIMER
        items.append(d)
    return json.dumps(items[0] if single else items, indent=2)


def profile_table(profiles: Sequence[Profile]) -> str:
    """A fixed-width table: per regimen and tissue, intrinsic activity and the net change
    (with its action) in post- and premenopausal women."""
    lines = []
    head = (
        f"{'regimen':<44} {'tissue':<17} {'intrinsic':>9} {'net post':>9} {'':<11} "
        f"{'net pre':>8} {'':<11}"
    )
    lines.append(head)
    lines.append("-" * len(head))
    for p in profiles:
        for i, t in enumerate(TISSUES):
            tp = p.tissues[t]
            name = p.regimen if i == 0 else ""
            post, pre = (tp.net_change[s] for s in PROFILE_STAGES)
            a_post, a_pre = (tp.action[s] for s in PROFILE_STAGES)
            lines.append(
                f"{name:<44} {t:<17} {tp.intrinsic_activity:>+9.2f} {post:>+9.2f} {a_post:<11} "
                f"{pre:>+8.2f} {a_pre:<11}"
            )
        lines.append("")
    lines.append(
        "intrinsic: signal with the regimen saturating ER and no estradiol (0 = unliganded, "
        "1 = saturating estradiol); net: steady-state change with estradiol held at the life "
        "stage's typical level."
    )
    lines.append(DISCLAIMER)
    return "\n".join(lines)


def profile_csv(profiles: Sequence[Profile]) -> str:
    """One row per regimen and tissue; a first comment line carries the disclaimer."""
    buf = io.StringIO()
    buf.write(f"# {DISCLAIMER}\n")
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(
        ["agent", "regimen", "tissue", "intrinsic_activity"]
        + [f"net_change_{s}" for s in PROFILE_STAGES]
        + [f"action_{s}" for s in PROFILE_STAGES]
    )
    for p in profiles:
        for t in TISSUES:
            tp = p.tissues[t]
            w.writerow(
                [p.agent, p.regimen, t, f"{tp.intrinsic_activity:.4f}"]
                + [f"{tp.net_change[s]:.4f}" for s in PROFILE_STAGES]
                + [tp.action[s] for s in PROFILE_STAGES]
            )
    return buf.getvalue()


def profile_heatmap(profiles: Sequence[Profile], path: Path) -> None:
    """Tissues × regimens heatmap of net change, postmenopausal and premenopausal side by
    side, each cell marked with its action."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    labels = [p.regimen for p in profiles]
    fig, axes = plt.subplots(1, 2, figsize=(15, 7.5), sharey=True, constrained_layout=True)
    image = None
    for ax, stage in zip(axes, PROFILE_STAGES, strict=True):
        data = np.array([[p.tissues[t].net_change[stage] for p in profiles] for t in TISSUES])
        image = ax.imshow(data, cmap="RdBu_r", vmin=-1, vmax=1, aspect="auto")
        for i, t in enumerate(TISSUES):
            for j, p in enumerate(profiles):
                dark = abs(data[i, j]) > 0.6
                ax.text(
                    j,
                    i,
                    SYMBOL[p.tissues[t].action[stage]],
                    ha="center",
                    va="center",
                    fontsize=11,
                    color="white" if dark else "black",
                )
        ax.set_xticks(range(len(labels)), labels, rotation=60, ha="right", fontsize=8)
        ax.set_yticks(range(len(TISSUES)), TISSUES)
        ax.set_title(f"{stage} woman: net change in tissue signal")
    assert image is not None
    fig.colorbar(
        image, ax=axes, shrink=0.8, label="net change (+ agonist, - antagonist, 0 neutral)"
    )
    fig.text(0.01, 0.005, DISCLAIMER, fontsize=8, ha="left", va="bottom")
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_profile_outputs(profiles: Sequence[Profile], out: Path) -> list[Path]:
    """Write ``profile.json``, ``profile.csv`` and ``profile_heatmap.png`` into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "profile.json", out / "profile.csv", out / "profile_heatmap.png"]
    paths[0].write_text(profile_json(profiles, single=False) + "\n", encoding="utf-8")
    paths[1].write_text(profile_csv(profiles), encoding="utf-8")
    profile_heatmap(profiles, paths[2])
    return paths
