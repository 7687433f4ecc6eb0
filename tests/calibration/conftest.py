"""The reduced calibration problem shared by the calibration tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

REDUCED = Path(__file__).parent / "data" / "reduced_targets.yaml"
# A reduced problem: the calibration trials' arms capped at 1,000 people (the objective and
# the shipped fit's objective are both computed on the same capped trials).
PEOPLE = 1000


@pytest.fixture(scope="session")
def perturbed_fit(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    """A calibration of the reduced problem started from the shipped values moved by +-30 %."""
    from sermsim.calibration.run import Settings, run_calibration

    out = tmp_path_factory.mktemp("calibrate")
    settings = Settings(registry=REDUCED, people_per_arm=PEOPLE, perturb=0.3, seed=3)
    return run_calibration(settings, out=out), out
