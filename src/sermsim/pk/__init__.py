"""PK layer: linear compartment models, exact multiple dosing, CYP2D6 phenotypes."""

from sermsim.pk.model import (
    PHENOTYPES,
    EnzymeActivity,
    LinearPK,
    Phenotype,
    build_pk,
    cyp2d6_activity,
)
from sermsim.pk.solve import (
    average_steady_state,
    cyclic_steady_state,
    dose_times,
    doses_taken,
    periodic_steady_state,
    simulate,
)

__all__ = [
    "PHENOTYPES",
    "EnzymeActivity",
    "LinearPK",
    "Phenotype",
    "average_steady_state",
    "build_pk",
    "cyclic_steady_state",
    "cyp2d6_activity",
    "dose_times",
    "doses_taken",
    "periodic_steady_state",
    "simulate",
]
