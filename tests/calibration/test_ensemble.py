"""The parameter ensemble: widening a parameter's prior widens the intervals of the outcomes
it drives, and only those; the shipped ensemble is sound; trials carry both sources."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sermsim.calibration.ensemble import laplace_ensemble, posterior_covariance
from sermsim.calibration.fit import BlockFit
from sermsim.calibration.free import free_parameters, load_blocks, with_prior_sd
from sermsim.compare import compare
from sermsim.outcomes.ensemble import Ensemble, default_ensemble, ensemble_from_document
from sermsim.physiology.patient import load_patient
from tests.calibration.conftest import REDUCED

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
BREAST = ("breast.growth_neutral_signal", "breast.regression_rate")
# Prior standard deviations of the breast block's parameters, narrow to wide (the last is
# the registry's own, a quarter of the bounds).
WIDTHS = (0.002, 0.02, None)


def _ensemble(fits: list[BlockFit], width: float | None) -> Ensemble:
    blocks = load_blocks(REDUCED)
    if width is not None:
        blocks = with_prior_sd(blocks, {name: width for name in BREAST})
    return ensemble_from_document(laplace_ensemble(fits, blocks, members=60, seed=11))


@pytest.fixture(scope="module")
def compared(perturbed_fit: tuple[dict[str, Any], Path]) -> list[dict[str, Any]]:
    """The 55-year-old's tamoxifen comparison with the breast prior narrow to wide."""
    _, out = perturbed_fit
    fits = [
        BlockFit.from_json(json.loads((out / "blocks" / f"{b}.json").read_text()))
        for b in ("breast", "stroke")
    ]
    person = load_patient(EXAMPLES / "woman_55_uterus_risk3.yaml")
    return [
        compare(person, years=5, options="tamoxifen", ensemble=_ensemble(fits, w)).result
        for w in WIDTHS
    ]


def _option(result: dict[str, Any], key: str) -> dict[str, Any]:
    return next(o for o in result["options"] if o["key"] == key)


def _width(entry: dict[str, Any]) -> float:
    return float(entry["high"] - entry["low"])


def test_widening_the_breast_prior_widens_the_breast_intervals(
    compared: list[dict[str, Any]],
) -> None:
    diffs = [
        _width(_option(r, "tamoxifen")["events"]["invasive_breast_cancer"]["vs_none"])
        for r in compared
    ]
    index = [_width(_option(r, "tamoxifen")["net_benefit"]) for r in compared]
    counts = [_width(_option(r, "tamoxifen")["events"]["invasive_breast_cancer"]) for r in compared]
    assert diffs[0] < diffs[1] < diffs[2], diffs
    assert index[0] < index[1] < index[2], index
    assert counts[0] <= counts[1] <= counts[2] and counts[0] < counts[2], counts


def test_widening_the_breast_prior_leaves_other_outcomes_alone(
    compared: list[dict[str, Any]],
) -> None:
    for endpoint in ("hip_fracture", "stroke", "dvt", "endometrial_cancer"):
        entries = [_option(r, "tamoxifen")["events"][endpoint] for r in compared]
        assert all(e == entries[0] for e in entries), endpoint


def test_the_comparison_says_its_intervals_carry_parameters(
    compared: list[dict[str, Any]],
) -> None:
    interval = compared[0]["interval"]
    assert interval["sources"] == ["sampling", "parameters"]
    assert "parameter" in interval["note"] and interval["ensemble"]["members"] == 60


def test_a_prior_bounds_the_posterior() -> None:
    """Where the targets say nothing (a zero column of J) the posterior is the prior."""
    jac = np.array([[2.0, 0.0], [1.0, 0.0]])
    cov = posterior_covariance(jac, np.array([10.0, 0.5]))
    assert cov[1, 1] == pytest.approx(0.25)
    assert cov[0, 0] < 1 / 5.0  # the data's 1 / (J^T J) = 0.2 bounds the first


def test_the_shipped_ensemble_is_within_bounds_and_spread() -> None:
    ens = default_ensemble()
    free = {p.name: p for p in free_parameters("outcomes")}
    assert set(ens.names) == set(free)
    assert len(ens) >= 100
    for j, name in enumerate(ens.names):
        column = ens.members[:, j]
        assert np.all(column >= free[name].lower) and np.all(column <= free[name].upper), name
        assert np.std(column) > 0, name
