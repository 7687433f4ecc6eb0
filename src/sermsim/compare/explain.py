"""A short explanation per option: which tissue signals moved, and what followed from them.

The words come from the numbers of the comparison itself: each tissue's mean signal with the
option against the same person untreated (agonist, antagonist or neutral by the profile's
neutral band), and the events and measures that the outcome layer drives from that tissue.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sermsim.agents import Agent
from sermsim.agents.regimen import Regimen
from sermsim.physiology.patient import Patient
from sermsim.selectivity import classify, neutral_band

# Differences smaller than this many events per 1,000 are called "about the same": a
# presentation threshold (a twentieth of an event per 1,000), not science.
SAME_PER_1000 = 0.05


def option_label(regimen: Regimen, agents: Mapping[str, Agent]) -> str:
    """Words for an option: 'No treatment', 'Raloxifene 60 mg daily', 'Clomiphene 50 mg daily
    on days 5-9 of each 28-day cycle', combinations joined by ' + '.

    >>> from sermsim.agents import load_agents, parse_regimen
    >>> option_label(parse_regimen("raloxifene", load_agents()), load_agents())
    'Raloxifene 60 mg daily'
    """
    if not regimen:
        return "No treatment"
    parts = []
    for d in regimen:
        name = agents[d.agent].name if d.agent in agents else d.agent
        dose = f"{d.dose_mg:g} mg"
        if d.interval_h == 24.0:
            how = "daily"
        elif d.interval_h % 24.0 == 0:
            how = f"every {d.interval_h / 24.0:g} days"
        else:
            how = f"every {d.interval_h:g} h"
        if d.days_on is not None and d.cycle_days is not None:
            first = d.start_day + 1
            how += (
                f" on days {first:g}-{first + d.days_on - 1:g} of each {d.cycle_days:g}-day cycle"
            )
        parts.append(f"{name} {dose} {how}")
    text = " + ".join(parts)
    return text[0].upper() + text[1:]


def _count(d: float, noun: str) -> str:
    if abs(d) < SAME_PER_1000:
        return f"no change in {noun}"
    return f"{abs(d):.1f} {'fewer' if d < 0 else 'more'} {noun}"


def _signal(option: Mapping[str, Any], none: Mapping[str, Any], tissue: str) -> str:
    s, s0 = option["signals"][tissue], none["signals"][tissue]
    action = classify(s - s0, neutral_band())
    return f"{tissue} ER signal {s:.2f} vs {s0:.2f} untreated ({action})"


def _diff(option: Mapping[str, Any], name: str) -> float:
    return float(option["events"][name].get("vs_none", {}).get("difference", 0.0))


def explanation(
    option: Mapping[str, Any], none: Mapping[str, Any], patient: Patient, years: float
) -> str:
    """One paragraph naming the tissue signals behind an option's numbers (per 1,000 over
    ``years``; the measures at ``years``)."""
    if option is none:
        return (
            "The person's own course without treatment: her or his baseline risks (age, "
            "breast-cancer risk, bone density, clotting risk) and the untreated physiology."
        )
    clauses = [
        f"Breast: {_signal(option, none, 'breast')}: "
        f"{_count(_diff(option, 'invasive_breast_cancer'), 'invasive breast cancers')}.",
    ]
    bmd = option["continuous"].get("bmd_lumbar_spine_pct")
    bmd0 = none["continuous"].get("bmd_lumbar_spine_pct")
    bone = f"Bone: {_signal(option, none, 'bone')}"
    if bmd is not None and bmd0 is not None:
        bone += f": spine BMD {bmd['mean']:+.1f}% vs {bmd0['mean']:+.1f}% at {years:g} years"
    bone += (
        f"; {_count(_diff(option, 'hip_fracture'), 'hip fractures')}, "
        f"{_count(_diff(option, 'vertebral_fracture'), 'vertebral fractures')}."
    )
    clauses.append(bone)
    if patient.sex == "female" and patient.uterus:
        clauses.append(
            f"Endometrium: {_signal(option, none, 'endometrium')}: "
            f"{_count(_diff(option, 'endometrial_cancer'), 'endometrial cancers')}."
        )
    clauses.append(
        f"Liver (clotting factors, lipids): {_signal(option, none, 'liver')}: "
        f"{_count(_diff(option, 'vte'), 'venous thromboembolisms')}, "
        f"{_count(_diff(option, 'stroke'), 'strokes')}."
    )
    hf, hf0 = (
        option["continuous"].get("hot_flushes_per_day"),
        none["continuous"].get("hot_flushes_per_day"),
    )
    if hf is not None and hf0 is not None:
        clauses.append(
            f"Thermoregulation: {_signal(option, none, 'thermoregulation')}: "
            f"{hf['mean']:.1f} hot flushes a day at {years:g} years vs {hf0['mean']:.1f}."
        )
    cataract = _diff(option, "cataract")
    if abs(cataract) >= SAME_PER_1000:
        clauses.append(
            f"Eye: {_count(cataract, 'cataracts')} (an off-target effect of the agent, not an "
            "ER signal)."
        )
    return " ".join(clauses) + f" Events per 1,000 people like this one over {years:g} years."
