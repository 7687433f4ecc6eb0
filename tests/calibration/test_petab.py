"""The PEtab export: libpetab-python's linter accepts it, its tables are the registry's free
parameters and the published targets, and the exported model, simulated in libRoadRunner,
gives sermsim's own values of those targets at the shipped parameters."""

from __future__ import annotations

import contextlib
import io
import math
from pathlib import Path

import libsbml
import pandas as pd
import petab.v1 as petab_v1
import pytest
import roadrunner
from petab.v1.math import sympify_petab

from sermsim import DISCLAIMER
from sermsim.calibration.free import free_parameters, load_blocks, shipped_values
from sermsim.calibration.petab import _measured, export_petab, lint
from sermsim.interfaces.cli import main
from sermsim.physiology.simulate import default_engine
from sermsim.physiology.targets import evaluate, load_targets
from sermsim.trials.run import Z95


def _cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with (
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
        pytest.raises(SystemExit) as exit_,
    ):
        main(list(argv))
    return int(exit_.value.code or 0), out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The default export (every physiology block), written by the command."""
    folder = tmp_path_factory.mktemp("petab") / "problem"
    code, out, err = _cli("export", "petab", str(folder))
    assert code == 0, err
    return folder, out


def _table(folder: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(folder / name, sep="\t")


def test_the_export_passes_the_petab_linter(exported):
    folder, out = exported
    assert DISCLAIMER in out and DISCLAIMER in (folder / "README.md").read_text()
    petab_v1.yaml.validate(str(folder / "problem.yaml"))
    problem = petab_v1.Problem.from_yaml(str(folder / "problem.yaml"))
    tables = (problem.condition_df, problem.observable_df, problem.measurement_df)
    assert problem.model is not None and all(t is not None and len(t) for t in tables)
    assert problem.parameter_df is not None and len(problem.parameter_df)
    assert petab_v1.lint.lint_problem(problem) is False  # True means errors
    assert lint(folder / "problem.yaml") == []


def test_the_linter_catches_a_broken_export(exported, tmp_path):
    """The check above can fail: the same problem with an observable the model lacks."""
    folder, _ = exported
    for f in folder.iterdir():
        (tmp_path / f.name).write_bytes(f.read_bytes())
    obs = _table(tmp_path, "observables.tsv")
    obs.loc[0, "observableFormula"] = "no_such_entity + 1"
    obs.to_csv(tmp_path / "observables.tsv", sep="\t", index=False)
    assert lint(tmp_path / "problem.yaml")


def test_estimated_parameters_are_free_parameters_of_the_sbml(exported):
    folder, _ = exported
    params = _table(folder, "parameters.tsv")
    model = libsbml.readSBMLFromFile(str(folder / "model.xml")).getModel()
    free = {p.name: p for p in free_parameters("physiology")}
    nominal = shipped_values("physiology")
    assert len(params) and set(params["estimate"]) == {1}
    for row in params.itertuples():
        p = free[row.parameterName]
        sbml = model.getParameter(row.parameterId)
        assert sbml is not None and sbml.getName() == p.name and sbml.getConstant()
        assert (row.lowerBound, row.upperBound) == (p.lower, p.upper)
        assert math.isclose(row.nominalValue, nominal[p.name])
        assert math.isclose(sbml.getValue(), nominal[p.name], rel_tol=1e-12)
        mean, sd = (float(x) for x in row.objectivePriorParameters.split(";"))
        assert row.objectivePriorType == "normal"
        assert math.isclose(mean, nominal[p.name]) and math.isclose(sd, p.prior_sd)


def test_measurements_are_the_published_targets(exported):
    folder, _ = exported
    meas = _table(folder, "measurements.tsv")
    obs = _table(folder, "observables.tsv").set_index("observableId")
    targets = {t.id: t for t in load_targets()}
    fitted = {tid for b in load_blocks().values() if b.layer == "physiology" for tid in b.targets}
    assert len(meas) == len(obs) and meas["observableId"].is_unique
    for row in meas.itertuples():
        t = targets[row.observableId.removeprefix("obs_")]
        assert t.id in fitted and not t.check_only
        assert row.measurement == t.value
        assert row.time == math.ceil(t.years * 365.25)
        sd = float(obs.loc[row.observableId, "noiseFormula"])
        assert math.isclose(sd, (t.high - t.low) / 2 / Z95)  # none of these is a ratio


def test_a_ratio_is_measured_on_the_log_scale():
    target = next(t for t in load_targets() if t.quantity["kind"] == "ratio")
    m = _measured(target, "c")
    assert m.transformation == "log"
    assert math.isclose(m.noise_sd, math.log(target.high / target.low) / 2 / Z95)
    assert "placebo_" in m.formula


def test_the_exported_model_reproduces_sermsim(exported):
    """Each condition simulated in libRoadRunner (the model's dose parameters set as the
    condition table says), each observable evaluated at its time, against sermsim's own
    evaluation of the target: within a thousandth of the target's interval."""
    folder, _ = exported
    conditions = _table(folder, "conditions.tsv").set_index("conditionId")
    obs = _table(folder, "observables.tsv").set_index("observableId")
    meas = _table(folder, "measurements.tsv")
    rr = roadrunner.RoadRunner(str(folder / "model.xml"))
    exported_values: dict[str, float] = {}
    for cid, row in conditions.drop(columns="conditionName").iterrows():
        rr.resetAll()
        for sid, value in row.items():
            rr.setValue(str(sid), float(value))
        rr.getIntegrator().setValue("relative_tolerance", 1e-6)
        rr.getIntegrator().setValue("absolute_tolerance", 1e-12)
        done = 0.0
        for m in meas[meas["simulationConditionId"] == cid].sort_values("time").itertuples():
            if m.time > done:
                rr.simulate(done, m.time, 2)
                done = m.time
            expr = sympify_petab(obs.loc[m.observableId, "observableFormula"])
            value = expr.subs({s: rr.getValue(str(s)) for s in expr.free_symbols})
            exported_values[m.observableId.removeprefix("obs_")] = float(value)
    engine, cache = default_engine(), {}
    targets = [t for t in load_targets() if t.id in exported_values]
    assert len(targets) == len(meas)
    for t in targets:
        simulated = evaluate(t, engine, cache).simulated
        assert abs(exported_values[t.id] - simulated) <= 1e-3 * (t.high - t.low), t.id


def test_other_blocks_are_another_person_and_lint(tmp_path):
    """Two doses of one agent as two conditions of one dose line."""
    result = export_petab(tmp_path, ["physiology_vagina", "physiology_endometrium"])
    assert {p.block for p in result.estimated} == {"physiology_vagina", "physiology_endometrium"}
    doses = sorted(v for c in result.conditions.values() for v in c.values())
    assert len(result.conditions) == 2 and len(set(doses)) == 2
    assert "premenopausal_endometrium" in result.left_out_targets
    assert lint(tmp_path / "problem.yaml") == []


@pytest.mark.parametrize(
    ("blocks", "words"),
    [("breast", "relative risks"), ("bone_physiology", "no such block"), (",", "at least one")],
)
def test_bad_blocks_are_one_line_and_exit_2(tmp_path, blocks, words):
    code, out, err = _cli("export", "petab", str(tmp_path / "p"), "--blocks", blocks)
    assert code == 2 and out == "" and err.count("\n") == 1 and words in err
    assert not (tmp_path / "p").exists()
