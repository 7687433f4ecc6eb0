"""Agents layer: one sourced data file per agent, and the regimens that dose them."""

from sermsim.agents.model import RECEPTORS, Agent, Binding, Formation, Moiety, load_agents
from sermsim.agents.regimen import (
    Dose,
    Regimen,
    check_agents,
    parse_regimen,
    regimen_from_list,
    regimen_label,
)

__all__ = [
    "RECEPTORS",
    "Agent",
    "Binding",
    "Dose",
    "Formation",
    "Moiety",
    "Regimen",
    "check_agents",
    "load_agents",
    "parse_regimen",
    "regimen_from_list",
    "regimen_label",
]
