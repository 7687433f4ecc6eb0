"""The ligands a person's receptors see: endogenous estradiol plus every moiety of a regimen.

A :class:`LigandSet` holds, as arrays over ligands, what the receptor and selectivity layers
need: the fraction of plasma concentration available to receptors, tissue partition,
dissociation constants at ERα and ERβ, and the coregulator signature of each
ligand–receptor complex. Estradiol is always ligand 0; an estradiol moiety of a regimen
(oral estradiol, or estradiol formed from conjugated estrogens) is the same ligand, so its
concentration adds to the endogenous one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from sermsim.agents.model import RECEPTORS, Agent, Moiety
from sermsim.core.errors import DataError
from sermsim.core.params import as_param, data_dir, load_yaml

ESTRADIOL = "estradiol"
ESTRADIOL_AGENT = "estradiol"
RBA_OF_ESTRADIOL = 100.0  # the relative binding affinity scale: estradiol = 100


@dataclass(frozen=True)
class LigandSet:
    """Ligand properties as arrays; index 0 is estradiol."""

    ids: tuple[str, ...]
    molecular_weight: NDArray[np.float64]  # (L,) g/mol
    available_fraction: NDArray[np.float64]  # (L,) of plasma, available to receptors
    tissue_partition: NDArray[np.float64]  # (L,) total tissue / total plasma
    kd: NDArray[np.float64]  # (L, 2) nM at ERα, ERβ; inf where a ligand does not bind
    coactivator: NDArray[np.float64]  # (L, 2)
    corepressor: NDArray[np.float64]  # (L, 2)

    def index(self, ligand_id: str) -> int:
        return self.ids.index(ligand_id)

    @property
    def n(self) -> int:
        return len(self.ids)


def estradiol_kd() -> NDArray[np.float64]:
    """Estradiol's dissociation constants (nM) at ERα and ERβ, from ``data/receptor.yaml``."""
    raw = load_yaml(data_dir() / "receptor.yaml")["estradiol_kd"]
    return np.array([as_param(raw[r], f"receptor.estradiol_kd.{r}").value for r in RECEPTORS])


def _row(m: Moiety, kd_e2: NDArray[np.float64]) -> tuple[list[float], list[float], list[float]]:
    kd, coact, corep = [], [], []
    for r, k_e2 in zip(RECEPTORS, kd_e2, strict=True):
        b = m.binding.get(r)
        if b is None or b.rba <= 0:
            kd.append(np.inf)
            coact.append(0.0)
            corep.append(0.0)
        else:
            kd.append(k_e2 * RBA_OF_ESTRADIOL / b.rba)
            coact.append(b.coactivator)
            corep.append(b.corepressor)
    return kd, coact, corep


def ligand_set(agents: Mapping[str, Agent], agent_ids: Sequence[str] = ()) -> LigandSet:
    """Estradiol plus every moiety of the named agents, each moiety once.

    >>> from sermsim.agents import load_agents
    >>> ligand_set(load_agents(), ["tamoxifen"]).ids[:2]
    ('estradiol', 'tamoxifen')
    """
    if ESTRADIOL_AGENT not in agents:
        raise DataError("the estradiol agent file is required: it defines endogenous estradiol")
    moieties: dict[str, Moiety] = {ESTRADIOL: agents[ESTRADIOL_AGENT].moiety(ESTRADIOL)}
    for agent_id in agent_ids:
        for m in agents[agent_id].moieties:
            moieties.setdefault(m.id, m)
    kd_e2 = estradiol_kd()
    rows = [_row(m, kd_e2) for m in moieties.values()]
    return LigandSet(
        ids=tuple(moieties),
        molecular_weight=np.array([m.molecular_weight for m in moieties.values()]),
        available_fraction=np.array([m.available_fraction for m in moieties.values()]),
        tissue_partition=np.array([m.tissue_partition for m in moieties.values()]),
        kd=np.array([r[0] for r in rows]),
        coactivator=np.array([r[1] for r in rows]),
        corepressor=np.array([r[2] for r in rows]),
    )
