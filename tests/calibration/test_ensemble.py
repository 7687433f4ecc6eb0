"""The parameter ensemble: widening a parameter's prior widens the intervals of the outcomes
it drives, and only those; the shipped ensemble is sound; trials carry both sources."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sermsim.agents import load_agents
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


MEMBERS = 60


def _ensemble(fit: BlockFit, width: float | None) -> Ensemble:
    """The breast block's members rebuilt with its prior sd at ``width`` (None: the
    registry's), beside the shipped members of every other hazard link (so that hip
    fracture, VTE, stroke and endometrial cancer vary too)."""
    blocks = load_blocks(REDUCED)
    if width is not None:
        blocks = with_prior_sd(blocks, {name: width for name in BREAST})
    breast = ensemble_from_document(laplace_ensemble([fit], blocks, members=MEMBERS, seed=11))
    shipped = default_ensemble().take(MEMBERS)
    columns = [
        breast.members[:, breast.names.index(n)] if n in BREAST else shipped.members[:, j]
        for j, n in enumerate(shipped.names)
    ]
    return Ensemble(shipped.names, np.column_stack(columns), breast.method, breast.source)


@pytest.fixture(scope="module")
def compared(perturbed_fit: tuple[dict[str, Any], Path]) -> list[dict[str, Any]]:
    """The 55-year-old's tamoxifen comparison with the breast prior narrow to wide."""
    _, out = perturbed_fit
    fit = BlockFit.from_json(json.loads((out / "blocks" / "breast.json").read_text()))
    person = load_patient(EXAMPLES / "woman_55_uterus_risk3.yaml")
    return [
        compare(person, years=5, options="tamoxifen", ensemble=_ensemble(fit, w)).result
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
    # Those endpoints do carry parameter uncertainty (their links vary in every ensemble):
    # their intervals are wider than with sampling alone.
    person = load_patient(EXAMPLES / "woman_55_uterus_risk3.yaml")
    alone = compare(person, years=5, options="tamoxifen", parameter_uncertainty=False).result
    for endpoint in ("hip_fracture", "stroke", "dvt"):
        with_members = _option(compared[0], "tamoxifen")["events"][endpoint]["vs_none"]
        sampling = _option(alone, "tamoxifen")["events"][endpoint]["vs_none"]
        assert _width(with_members) > _width(sampling), endpoint


def test_the_comparison_says_its_intervals_carry_parameters(
    compared: list[dict[str, Any]],
) -> None:
    interval = compared[0]["interval"]
    assert interval["sources"] == ["sampling", "parameters"]
    assert "parameter" in interval["note"] and interval["ensemble"]["members"] == MEMBERS


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


@pytest.mark.parametrize(
    "argv",
    [
        ["trial", "run", str(EXAMPLES / "flagship_trial.yaml"), "--members", "1"],
        ["compare", "--patient", str(EXAMPLES / "woman_55_uterus_risk3.yaml"), "--members", "0"],
    ],
)
def test_too_few_members_is_one_line_and_exit_2(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    from sermsim.interfaces.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "members" in err[0], err


def test_a_member_at_a_bound_is_drawn_from_the_half_normal() -> None:
    """The truncated normal at a bound: every draw inside, the spread of a half-normal."""
    from sermsim.calibration.ensemble import _draw

    rng = np.random.default_rng(5)
    draws = _draw(np.array([0.0]), np.array([[4.0]]), np.array([0.0]), np.array([10.0]), 4000, rng)
    assert np.all(draws >= 0.0) and np.all(draws <= 10.0)
    assert np.std(draws) == pytest.approx(2.0 * np.sqrt(1 - 2 / np.pi), rel=0.05)
    assert np.mean(draws) == pytest.approx(2.0 * np.sqrt(2 / np.pi), rel=0.05)


def test_the_mixture_interval_matches_draws_from_the_mixture() -> None:
    from sermsim.compare.benefit import mixture_interval

    ps = np.array([0.005, 0.02, 0.06])
    lo, hi = mixture_interval(ps, 1000, 0.95)
    rng = np.random.default_rng(9)
    counts = rng.binomial(1000, rng.choice(ps, 200_000))
    assert abs(lo - np.percentile(counts, 2.5)) <= 1
    assert abs(hi - np.percentile(counts, 97.5)) <= 1


def test_sampling_and_parameter_variances_add_on_the_log_scale() -> None:
    from sermsim.trials.spec import parse_trial
    from sermsim.trials.uncertainty import Z95, ParameterSpread, add_parameter_uncertainty

    spec = parse_trial(
        {
            "name": "t",
            "seed": 1,
            "duration_years": 1,
            "population": {"sex": "female", "age": 60, "n_per_arm": 10},
            "arms": [
                {"name": "a", "regimen": [{"agent": "raloxifene", "dose_mg": 60}]},
                {"name": "b", "regimen": []},
            ],
            "endpoints": ["stroke"],
            "comparisons": [{"arm": "a", "reference": "b"}],
        },
        load_agents(),
    )
    result: dict[str, Any] = {
        "arms": {k: {"endpoints": {"stroke": {}}} for k in ("a", "b")},
        "comparisons": [
            {
                "arm": "a",
                "reference": "b",
                "endpoints": {"stroke": {"rr": 1.5, "ci_low": 1.0, "ci_high": 2.25}},
            }
        ],
    }
    ratios = np.array([1.2, 1.5, 1.9, 1.4])
    spread = ParameterSpread(
        default_ensemble().take(4),
        500,
        {"a": {"stroke": 0.01 * ratios}, "b": {"stroke": np.full(4, 0.01)}},
    )
    add_parameter_uncertainty(result, spec, spread)
    entry = result["comparisons"][0]["endpoints"]["stroke"]
    se_sampling = np.log(2.25 / 1.0) / (2 * Z95)
    se = np.sqrt(se_sampling**2 + np.var(np.log(ratios), ddof=1))
    assert entry["ci_low_total"] == pytest.approx(1.5 * np.exp(-Z95 * se), rel=1e-5)
    assert entry["ci_high_total"] == pytest.approx(1.5 * np.exp(Z95 * se), rel=1e-5)
    assert entry["rr_expected_ci_low"] == pytest.approx(np.percentile(ratios, 2.5), rel=1e-5)
    assert result["uncertainty"]["sources"] == ["sampling", "parameters"]
