"""The shipped parameter ensemble (``data/calibration/ensemble.yaml``): outcome parameter sets
that the calibration data allow, built offline by ``sermsim calibrate --ensemble`` (see
:mod:`sermsim.calibration.ensemble` for the method). Trials and comparisons rerun their
hazards once per member to put parameter uncertainty into their intervals.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from sermsim.core.errors import DataError
from sermsim.core.params import data_dir, load_yaml
from sermsim.outcomes.parameters import OutcomeParameters, load_outcome_parameters

FloatArray = NDArray[np.float64]


def ensemble_path() -> Path:
    return data_dir() / "calibration" / "ensemble.yaml"


@dataclass(frozen=True)
class Ensemble:
    names: tuple[str, ...]
    members: FloatArray  # (members, parameters)
    method: str
    source: str
    meta: Mapping[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.members.shape[0])

    def overrides(self, i: int) -> dict[str, float]:
        return dict(zip(self.names, map(float, self.members[i]), strict=True))

    def parameters(self, i: int) -> OutcomeParameters:
        """Member ``i`` as outcome parameters (the shipped values for everything else)."""
        return load_outcome_parameters(self.overrides(i))

    def take(self, n: int) -> Ensemble:
        """The first ``n`` members (members are independent draws, so any n of them are)."""
        return Ensemble(self.names, self.members[:n], self.method, self.source, self.meta)

    def describe(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "members": len(self),
            "parameters": list(self.names),
            "source": self.source,
        }


def ensemble_from_document(doc: Mapping[str, Any]) -> Ensemble:
    names = tuple(str(n) for n in doc["parameters"])
    members = np.asarray(doc["members"], dtype=float).reshape(-1, len(names))
    if len(members) == 0:
        raise DataError("ensemble: no members")
    if not np.all(np.isfinite(members)):
        raise DataError("ensemble: a member has a value that is not finite")
    known = set(load_outcome_parameters().values)
    unknown = set(names) - known
    if unknown:
        raise DataError(f"ensemble: not outcome parameters: {sorted(unknown)}")
    meta = {k: doc[k] for k in ("built", "posterior", "note") if k in doc}
    return Ensemble(names, members, str(doc["method"]), str(doc["source"]), meta)


# How close the ensemble's recorded fit must be to the data files' values (the file keeps 6
# significant digits, the data files 4).
FIT_TOLERANCE = 1e-3


def load_ensemble(path: Path | None = None) -> Ensemble:
    """The ensemble file, refused when it was built around other values than the data files
    hold now (after a refit: rebuild it with ``make ensemble``)."""
    path = path or ensemble_path()
    ensemble = ensemble_from_document(load_yaml(path))
    shipped = load_outcome_parameters()
    for name, record in dict(ensemble.meta.get("posterior", {})).items():
        fit, now = float(record["fit"]), float(shipped[name])
        if abs(fit - now) > FIT_TOLERANCE * max(abs(now), 1e-12):
            raise DataError(
                f"{path.name}: built around {name} = {fit:g}, the data files hold {now:g}; "
                "rebuild it (make ensemble)"
            )
    return ensemble


@lru_cache(maxsize=1)
def default_ensemble() -> Ensemble:
    return load_ensemble()
