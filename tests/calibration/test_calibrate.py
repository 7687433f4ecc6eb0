"""`sermsim calibrate`: a fit started away from the shipped values comes back to it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from sermsim.calibration import fit as fit_module
from sermsim.calibration.free import load_blocks, shipped_values
from sermsim.calibration.run import Settings, run_calibration
from sermsim.interfaces.cli import main
from tests.calibration.conftest import PEOPLE, REDUCED


def test_a_perturbed_start_returns_to_the_shipped_objective(
    perturbed_fit: tuple[dict[str, Any], Path],
) -> None:
    result, _ = perturbed_fit
    shipped = shipped_values()
    # Every parameter really started away from its shipped value.
    for block in result["blocks"]:
        for name, start in block["start"].items():
            assert start != pytest.approx(shipped[name], rel=0.2, abs=1e-9), name
    assert result["objective"] <= 1.05 * result["shipped_objective"]
    assert result["check"]["objective_within_5pct"]
    # The start was worse: the test would fail if the optimizer did nothing.
    assert sum(b["start_objective"] for b in result["blocks"]) > 1.5 * result["objective"]


def test_every_target_the_shipped_fit_meets_is_still_met(
    perturbed_fit: tuple[dict[str, Any], Path],
) -> None:
    result, _ = perturbed_fit
    met = [t for t in result["targets"] if t["shipped_within"]]
    assert met, "the shipped fit meets none of the reduced targets"
    assert all(t["within"] for t in met), [t["id"] for t in met if not t["within"]]
    assert result["check"]["lost"] == []


def test_the_parameter_file_says_what_each_value_was_fitted_to(
    perturbed_fit: tuple[dict[str, Any], Path],
) -> None:
    result, out = perturbed_fit
    params = yaml.safe_load((out / "parameters.yaml").read_text())
    blocks = load_blocks(REDUCED)
    fitted = {b["block"]: b["values"] for b in result["blocks"]}
    for name, block in blocks.items():
        for p in block.parameters:
            node: Any = params[block.layer]
            for part in p.name.split("."):
                node = node[part]
            assert node["value"] == pytest.approx(fitted[name][p.name], rel=1e-5)
            assert node["source"] == "calibrated" and node["verified"] is False
            assert node["unit"]
            for target in block.targets if block.layer == "physiology" else []:
                assert target in node["calibrated_to"]
    # Outcome blocks name each target's trial and endpoint (from trials.yaml).
    assert (
        "NSABP_P1_1998 stroke_RR"
        in params["outcomes"]["stroke"]["arterial_exponent"]["calibrated_to"]
    )
    assert json.loads((out / "fit.json").read_text())["objective"] == result["objective"]


def test_a_rerun_resumes_from_the_finished_blocks(
    perturbed_fit: tuple[dict[str, Any], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    result, out = perturbed_fit

    def refuse(*_args: Any, **_kwargs: Any) -> None:
        raise AssertionError("a finished block was fitted again")

    monkeypatch.setattr(fit_module, "fit_block", refuse)
    settings = Settings(registry=REDUCED, people_per_arm=PEOPLE, perturb=0.3, seed=3)
    again = run_calibration(settings, out=out)
    assert again["objective"] == result["objective"]
    assert [b["values"] for b in again["blocks"]] == [b["values"] for b in result["blocks"]]
    # Another start is another problem: the saved blocks do not apply.
    other = Settings(registry=REDUCED, people_per_arm=PEOPLE, perturb=0.3, seed=4)
    with pytest.raises(AssertionError, match="fitted again"):
        run_calibration(other, out=out)


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["--perturb", "1.5"], "perturb"),
        (["--block", "nonsense"], "blocks"),
        (["--starts", "0"], "starts"),
        (["--targets", "no/such/file.yaml"], "targets"),
    ],
)
def test_bad_options_are_one_line_and_exit_2(
    args: list[str], field: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["calibrate", *args])
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and field in err[0], err


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (lambda r: r.pop("prior_rule"), "prior_rule"),
        (lambda r: r["blocks"]["stroke"]["parameters"].update({"stroke.nonsense": {}}), "nonsense"),
        (lambda r: r["blocks"]["stroke"].update(targets=["no_such_target"]), "targets"),
        (
            lambda r: r["blocks"]["stroke"]["parameters"].update(
                {"stroke.arterial_exponent": {"lower": 2.0, "upper": 1.0}}
            ),
            "lower",
        ),
    ],
)
def test_a_broken_registry_is_one_line_and_exit_2(
    edit: Any, field: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    raw = yaml.safe_load(REDUCED.read_text())
    edit(raw)
    path = tmp_path / "registry.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(SystemExit) as exit_:
        main(["calibrate", "--targets", str(path), "--no-fit"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and field in err[0], err
