"""Global sensitivity (``sermsim sensitivity``): the sampled ranges, what can and cannot move
each outcome (by the model's structure), the baseline against a direct simulation, the
files, and one-line errors with exit code 2."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sermsim import DISCLAIMER
from sermsim.agents import load_agents, parse_regimen
from sermsim.calibration.free import free_parameters, posterior_sd, shipped_values
from sermsim.calibration.sensitivity import (
    _problem,
    _sample,
    sampled_parameters,
    sensitivity,
)
from sermsim.interfaces.cli import main
from sermsim.interfaces.sensitivity_render import sensitivity_table, write_sensitivity_outputs
from sermsim.physiology.patient import Patient, load_patient
from sermsim.physiology.simulate import simulate

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
WOMAN = EXAMPLES / "postmenopausal_55.yaml"


def _by_name(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["name"]: row for row in result["parameters"]}


@pytest.fixture(scope="module")
def woman() -> Patient:
    return load_patient(WOMAN)


@pytest.fixture(scope="module")
def spine(woman: Patient) -> dict[str, Any]:
    return sensitivity(woman, "raloxifene:60", "bmd_lumbar_spine_pct", years=1, trajectories=2)


@pytest.fixture(scope="module")
def breast(woman: Patient) -> dict[str, Any]:
    return sensitivity(woman, "tamoxifen:20", "invasive_breast_cancer", years=1, trajectories=2)


@pytest.mark.parametrize("basis", ["prior", "posterior"])
def test_ranges_are_the_basis_sd_within_the_bounds(basis):
    shipped = shipped_values()
    sd = posterior_sd() if basis == "posterior" else {p.name: p.prior_sd for p in free_parameters()}
    wide = {p.name: p for p in sampled_parameters(2.0, basis)}
    narrow = {p.name: p for p in sampled_parameters(1.0, basis)}
    assert set(wide) == {p.name for p in free_parameters()}
    for p in free_parameters():
        w, n = wide[p.name], narrow[p.name]
        assert p.lower <= w.low <= n.low <= shipped[p.name] <= n.high <= w.high <= p.upper
        assert w.low == pytest.approx(max(p.lower, shipped[p.name] - 2 * sd[p.name]))
        assert w.high == pytest.approx(min(p.upper, shipped[p.name] + 2 * sd[p.name]))


def test_the_posterior_is_narrower_than_the_prior_where_the_targets_speak():
    """The liver block has 8 targets for its 7 parameters: each posterior sd is far below
    its prior's (a quarter of the bounds)."""
    post = posterior_sd()
    for p in free_parameters():
        assert post[p.name] <= p.prior_sd * (1 + 1e-3), p.name
        if p.block == "physiology_liver":
            assert post[p.name] < 0.1 * p.prior_sd, p.name


def test_the_sample_is_set_by_the_seed():
    problem = _problem(sampled_parameters())
    a, b = _sample("morris", problem, 3, 7), _sample("morris", problem, 3, 7)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, _sample("morris", problem, 3, 8))
    # every Morris step moves exactly one parameter
    steps = np.diff(a.reshape(3, len(problem["names"]) + 1, -1), axis=1)
    assert np.all(np.count_nonzero(steps, axis=2) == 1)


def test_spine_bmd_moves_with_bone_physiology_never_with_hazard_links(woman, spine):
    rows = _by_name(spine)
    assert len(rows) == len(free_parameters())
    for p in free_parameters("outcomes"):  # hazards cannot feed back into BMD
        row = rows[p.name]
        assert row["mu_star"] == 0.0 and row["sigma"] == 0.0
        assert row["oat_low"] == row["oat_high"] == spine["baseline"]
    top = spine["parameters"][0]
    assert top["layer"] == "physiology" and top["block"] == "physiology_bone"
    assert top["mu_star"] > 0
    assert spine["runs"]["global"] == 2 * (len(rows) + 1)
    # fewer physiology simulations than runs: steps that move a hazard link reuse them
    n_outcome = len(free_parameters("outcomes"))
    assert spine["runs"]["physiology_simulations"] < spine["runs"]["global"] + 2 * len(rows) + 1
    assert (
        spine["runs"]["physiology_simulations"]
        <= spine["runs"]["global"] + 2 * (len(rows) - n_outcome) + 1
    )
    # the baseline is the person's own simulation at the horizon
    ds = simulate(woman, parse_regimen("raloxifene:60", load_agents()), 1.0)
    series = ds["bmd_lumbar_spine_g_cm2"].values
    assert spine["baseline"] == pytest.approx(100 * (series[-1] / series[0] - 1), rel=1e-5)


def test_breast_risk_moves_with_breast_links_not_with_unrelated_tissues(breast):
    rows = _by_name(breast)
    assert breast["outcome"]["kind"] == "event"
    assert 0 < breast["baseline"] < 1  # tamoxifen's antagonism in breast lowers the risk
    assert breast["parameters"][0]["block"] == "breast"
    assert all(rows[n]["mu_star"] > 0 for n in ("breast.growth_neutral_signal",))
    for name, row in rows.items():
        if name.startswith(("vagina.", "men.", "liver.", "bone.", "fracture.", "vte.")):
            assert row["mu_star"] == 0.0, name
    # a less negative neutral signal means less regression: the protective effect shrinks
    growth = rows["breast.growth_neutral_signal"]
    assert growth["oat_low"] < breast["baseline"] < growth["oat_high"] or (
        growth["oat_low"] > breast["baseline"] > growth["oat_high"]
    )


def test_outputs_carry_the_disclaimer(spine, tmp_path):
    text = sensitivity_table(spine)
    assert DISCLAIMER in text and spine["parameters"][0]["name"] in text
    paths = write_sensitivity_outputs(spine, tmp_path)
    assert {p.name for p in paths} == {"result.json", "table.txt", "tornado.png"}
    again = json.loads((tmp_path / "result.json").read_text())
    assert again == spine and again["disclaimer"] == DISCLAIMER
    assert (tmp_path / "tornado.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        (["--outcome", "bone_density", "--regimen", "raloxifene:60"], "outcome"),
        (["--outcome", "vte", "--regimen", "aspirin:100"], "regimen[0].agent"),
        (["--outcome", "vte", "--regimen", "raloxifene", "--trajectories", "1"], "trajectories"),
        (["--outcome", "vte", "--regimen", "raloxifene", "--method", "fast"], "method"),
        (["--outcome", "vte", "--regimen", "raloxifene", "--method", "sobol"], "trajectories"),
        (["--outcome", "vte", "--regimen", "none"], "regimen"),
        (["--outcome", "testosterone_ng_dl", "--regimen", "raloxifene"], "outcome"),
    ],
)
def test_user_mistakes_are_one_line_and_exit_2(capsys, extra, field):
    with pytest.raises(SystemExit) as exit_:
        main(["sensitivity", "--patient", str(WOMAN), *extra])
    out, err = capsys.readouterr()
    assert exit_.value.code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"sermsim: error: {field}"), err
    assert out == ""


def test_a_bad_patient_file_is_one_line_and_exit_2(tmp_path, capsys):
    bad = tmp_path / "p.yaml"
    bad.write_text("sex: female\nage: -3\n")
    with pytest.raises(SystemExit) as exit_:
        main(["sensitivity", "--patient", str(bad), "--regimen", "raloxifene", "--outcome", "vte"])
    _, err = capsys.readouterr()
    assert exit_.value.code == 2 and len(err.strip().splitlines()) == 1
