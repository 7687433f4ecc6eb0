"""Linear compartment PK of an agent and its metabolites, as one matrix.

State: the gut depot of the dose, then the amount (nmol) of each moiety in its apparent
central volume. ``d x/dt = K x``; an oral dose adds ``F * dose`` (in moles of the labelled
form) to the depot, which empties at rate ``ka`` into the administered moieties (both
isomers of clomiphene, say). A
metabolite forms from its precursor at ``fraction * CL_precursor / V_precursor`` per hour; an
enzyme's pathway is scaled by the person's activity of that enzyme (CYP2D6 phenotype), which
changes both the metabolite's formation and the precursor's total clearance.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from sermsim.agents.model import Agent
from sermsim.core.errors import SpecError
from sermsim.core.params import as_param, data_dir, load_yaml
from sermsim.core.units import mg_to_nmol

Phenotype = Literal["poor", "intermediate", "normal", "ultrarapid"]
PHENOTYPES: tuple[Phenotype, ...] = ("poor", "intermediate", "normal", "ultrarapid")


@dataclass(frozen=True)
class EnzymeActivity:
    """Activity of each drug-metabolising enzyme relative to a normal metaboliser (1.0)."""

    relative: Mapping[str, float] = field(default_factory=dict)

    def of(self, enzyme: str) -> float:
        return self.relative.get(enzyme, 1.0)


def cyp2d6_activity(phenotype: str) -> EnzymeActivity:
    """CYP2D6 activity of a phenotype, from ``data/pk/cyp2d6.yaml``.

    >>> cyp2d6_activity("normal").of("CYP2D6")
    1.0
    """
    table = load_yaml(data_dir() / "pk" / "cyp2d6.yaml")["activity"]
    if phenotype not in table:
        raise SpecError("cyp2d6", phenotype, f"use one of: {', '.join(PHENOTYPES)}")
    value = as_param(table[phenotype], f"cyp2d6.activity.{phenotype}").value
    return EnzymeActivity({"CYP2D6": value})


@dataclass(frozen=True)
class LinearPK:
    """The linear system of one agent for one person."""

    agent_id: str
    moieties: tuple[str, ...]  # state i+1 holds moiety i; state 0 is the gut depot
    K: NDArray[np.float64]  # (n, n) rate matrix, 1/h
    volumes: NDArray[np.float64]  # (n_moieties,) L
    fraction_unbound: NDArray[np.float64]  # (n_moieties,)
    bioavailability: float
    dose_mw: float  # g/mol of the labelled form the dose is weighed in

    @property
    def n_states(self) -> int:
        return int(self.K.shape[0])

    def dose_vector(self, dose_mg: float) -> NDArray[np.float64]:
        """State increment of one oral dose, in nmol."""
        b = np.zeros(self.n_states)
        b[0] = self.bioavailability * mg_to_nmol(dose_mg, self.dose_mw)
        return b

    def concentrations(self, amounts: NDArray[np.float64]) -> NDArray[np.float64]:
        """Total plasma concentrations (nM) of each moiety from states (..., n)."""
        return np.asarray(amounts)[..., 1:] / self.volumes

    def unbound_concentrations(self, amounts: NDArray[np.float64]) -> NDArray[np.float64]:
        """Unbound plasma concentrations (nM) of each moiety from states (..., n).

        >>> from sermsim.agents import load_agents
        >>> from sermsim.pk import average_steady_state
        >>> pk = build_pk(load_agents()["tamoxifen"])
        >>> x = average_steady_state(pk, 20.0, 24.0)
        >>> round(float(pk.unbound_concentrations(x)[0]), 1)  # 1 % of about 290 nM
        2.9
        """
        return self.concentrations(amounts) * self.fraction_unbound


def build_pk(agent: Agent, activity: EnzymeActivity | None = None) -> LinearPK:
    """Assemble the rate matrix of ``agent`` for a person with ``activity``.

    >>> from sermsim.agents import load_agents
    >>> pk = build_pk(load_agents()["raloxifene"])
    >>> pk.moieties
    ('raloxifene',)
    """
    activity = activity or EnzymeActivity()
    ids = agent.moiety_ids()
    n = len(ids) + 1
    index = {m: i + 1 for i, m in enumerate(ids)}
    K = np.zeros((n, n))
    K[0, 0] = -agent.ka
    for moiety_id, fraction in agent.administered:
        K[index[moiety_id], 0] += agent.ka * fraction
    for m in agent.moieties:
        i = index[m.id]
        outflows = [
            (index[met.id], f)
            for met in agent.moieties
            for f in met.formed_from
            if f.precursor == m.id
        ]
        # Partial clearances (L/h): each pathway scaled by its enzyme's activity; the rest of
        # the clearance (to inactive products and excretion) is unchanged.
        unassigned = 1.0 - sum(f.fraction for _, f in outflows)
        total = m.clearance * unassigned
        for j, f in outflows:
            cl_path = m.clearance * f.fraction * activity.of(f.enzyme)
            K[j, i] += cl_path / m.volume
            total += cl_path
        K[i, i] -= total / m.volume
    return LinearPK(
        agent_id=agent.id,
        moieties=ids,
        K=K,
        volumes=np.array([m.volume for m in agent.moieties]),
        fraction_unbound=np.array([m.fraction_unbound for m in agent.moieties]),
        bioavailability=agent.bioavailability,
        dose_mw=agent.dose_molecular_weight,
    )
