"""The outcome parameters (``data/outcomes/outcomes.yaml``): sourced values and age tables.

Overrides (for calibration and sensitivity) replace values by dotted name, e.g.
``{"vte.prothrombotic_exponent": 2.0}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from numpy.typing import NDArray

from sermsim.core.errors import DataError
from sermsim.core.params import as_param, data_dir, is_param, load_yaml


@lru_cache(maxsize=1)
def raw_outcomes() -> dict[str, Any]:
    return load_yaml(data_dir() / "outcomes" / "outcomes.yaml")


def _flatten(node: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    out: dict[str, float] = {}
    for key, child in node.items():
        name = f"{prefix}{key}"
        if is_param(child):
            out[name] = as_param(child, name).value
        elif isinstance(child, Mapping):
            out.update(_flatten(child, name + "."))
    return out


@dataclass(frozen=True)
class OutcomeParameters:
    values: Mapping[str, float]
    tables: Mapping[str, Mapping[str, Any]]

    def __getitem__(self, key: str) -> float:
        return self.values[key]

    def step(self, table: str, column: str, age: NDArray[np.float64]) -> NDArray[np.float64]:
        """A banded table's value at each age (the band that contains it; clamped)."""
        t = self.tables[table]
        edges = np.asarray(t["lower_edges"], dtype=float)
        idx = np.clip(np.searchsorted(edges, age, side="right") - 1, 0, len(edges) - 1)
        return np.asarray(t[column], dtype=float)[idx]


def load_outcome_parameters(overrides: Mapping[str, float] | None = None) -> OutcomeParameters:
    raw = raw_outcomes()
    values = _flatten(raw)
    for key, value in (overrides or {}).items():
        if key not in values:
            raise DataError(f"outcome parameter override {key!r}: no such parameter")
        values[key] = float(value)
    tables = {
        "mortality": raw["mortality"]["table"],
        "hip": raw["fracture"]["hip_incidence"],
        "cataract": raw["cataract"]["incidence"],
        "endometrial_cancer": raw["endometrium"]["cancer_incidence"],
    }
    return OutcomeParameters(values, tables)


@lru_cache(maxsize=1)
def default_outcome_parameters() -> OutcomeParameters:
    return load_outcome_parameters()
