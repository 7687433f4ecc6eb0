"""The calibration targets of the selectivity layer (``data/selectivity_targets.yaml``),
evaluated with the shipped parameters through the same code as ``sermsim profile``.

``scripts/calibrate_selectivity.py`` fits the parameters; this module says whether the
shipped ones meet each target, so a test fails when they stop doing so.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sermsim.agents.model import Agent
from sermsim.agents.regimen import parse_regimen
from sermsim.core.params import data_dir, load_yaml
from sermsim.receptor.exposure import TISSUES
from sermsim.selectivity.profile import Context, steady_state_plasma
from sermsim.selectivity.signal import tissue_params


@dataclass(frozen=True)
class TargetResult:
    regimen: str
    tissue: str
    quantity: str
    where: str
    value: float
    low: float
    high: float
    source: str

    @property
    def met(self) -> bool:
        return self.low <= self.value <= self.high


def _estradiol(target: Mapping[str, Any], ctx: Context) -> tuple[float, str]:
    if "estradiol_pg_ml" in target:
        return float(target["estradiol_pg_ml"]), f"E2 {target['estradiol_pg_ml']} pg/mL"
    stage = str(target.get("stage", ""))
    return (ctx.stage_estradiol_pg_ml[stage] if stage else 0.0), stage


@dataclass(frozen=True)
class RelationResult:
    greater: str
    lesser: str
    ratio: float
    ratio_at_least: float
    source: str

    @property
    def met(self) -> bool:
        return self.ratio >= self.ratio_at_least


def evaluate_relations() -> list[RelationResult]:
    """Every parameter relation of the targets file with the shipped parameters' ratio."""
    tissues = tissue_params()
    out = []
    for r in load_yaml(data_dir() / "selectivity_targets.yaml").get("relations", []):
        values = []
        for name in (r["greater"], r["lesser"]):
            tissue, field = name.split(".")
            values.append(float(getattr(tissues, field)[TISSUES.index(tissue)]))
        out.append(
            RelationResult(
                r["greater"],
                r["lesser"],
                values[0] / values[1],
                float(r["ratio_at_least"]),
                r["source"],
            )
        )
    return out


def evaluate_targets(agents: Mapping[str, Agent]) -> list[TargetResult]:
    """Every target with the model's value for it."""
    ctx = Context.load(agents)
    out = []
    for tg in load_yaml(data_dir() / "selectivity_targets.yaml")["targets"]:
        t = TISSUES.index(tg["tissue"])
        e2, where = _estradiol(tg, ctx)
        quantity = tg["quantity"]
        if quantity == "baseline_signal":
            value = ctx.estradiol_signal(e2)[t]
        else:
            drug = steady_state_plasma(parse_regimen(tg["regimen"], agents), agents)
            if quantity == "intrinsic_activity":
                value = ctx.intrinsic_activity(drug)[t]
            else:
                value = ctx.regimen_signal(drug, e2)[0][t] - ctx.estradiol_signal(e2)[t]
                if quantity == "net_change_relative":
                    stage = ctx.stage_estradiol_pg_ml
                    drop = ctx.estradiol_signal(stage["premenopausal"]) - ctx.estradiol_signal(
                        stage["postmenopausal"]
                    )
                    value = value / drop[t]
        out.append(
            TargetResult(
                tg["regimen"],
                tg["tissue"],
                quantity,
                where,
                float(value),
                float(tg["low"]),
                float(tg["high"]),
                tg["source"],
            )
        )
    return out
