"""`sermsim bench` as a user drives it: the JSON the issue names, the agreement judged from
the measured differences, one line and exit code 2 for a bad option. Timings are never
asserted (the bench measures them; the README records them)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sermsim.interfaces.bench import AGREEMENT, max_relative_difference
from sermsim.interfaces.cli import main


def test_max_relative_difference_ignores_values_below_their_absolute_tolerance():
    # LH's absolute tolerance is 1e-6 x its typical 10 IU/L = 1e-5 IU/L.
    theirs = {"lh_iu_l": np.array([10.0, 20.0, 1e-6]), "ldl_mg_dl": np.zeros(3)}
    ours = {"lh_iu_l": np.array([10.0, 20.02, 5e-6]), "ldl_mg_dl": np.full(3, 1e-9)}
    rel, where = max_relative_difference(ours, theirs)
    # 1e-6 is below LH's tolerance and all LDL values are 0: only the 1e-3 difference counts.
    assert rel == pytest.approx(1e-3) and where == "lh_iu_l"
    ours["lh_iu_l"][0] = np.nan
    assert max_relative_difference(ours, theirs)[0] == float("inf")


def test_bench_json_names_every_figure(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(
            [
                "bench",
                "--json",
                "--patients",
                "8",
                "--years",
                "0.25",
                "--roadrunner-patients",
                "2",
                "--scipy-patients",
                "1",
            ]
        )
    assert exit_.value.code == 0
    out = json.loads(capsys.readouterr().out)
    for tool in ("engine", "roadrunner", "scipy"):
        assert out[tool]["patient_years_per_s"] > 0
        assert out[tool]["per_core"] == pytest.approx(
            out[tool]["patient_years_per_s"] / out[tool]["cores"]
        )
    assert out["ratio_vs_roadrunner"] == pytest.approx(
        out["engine"]["per_core"] / out["roadrunner"]["per_core"]
    )
    assert out["agreement_ok"] == out["roadrunner"]["agreement_ok"]
    # The engine, libRoadRunner and SciPy solve one model: they agree within the bar.
    assert out["max_rel_diff"] <= AGREEMENT
    assert out["scipy"]["max_rel_diff_vs_engine"] <= AGREEMENT
    assert out["engine"]["compile_s"] > 0 and out["engine"]["peak_memory_mb"] > 0
    assert set(out["engine"]["profile_s"]) == {"arguments", "compile", "run_in", "treatment"}
    assert "not medical advice" in out["disclaimer"]


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["--patients", "0"], "patients"),
        (["--years", "-1"], "years"),
        (["--roadrunner-patients", "0"], "roadrunner-patients"),
    ],
)
def test_bad_options_are_one_line_and_exit_2(args, field, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["bench", *args])
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and field in err[0]


def test_bench_trial_says_where_the_time_goes(tmp_path, capsys):
    import yaml

    spec = {
        "name": "bench trial",
        "seed": 1,
        "duration_years": 1,
        "physiology_anchors": 8,
        "population": {"sex": "female", "n_per_arm": 50, "age": 62, "menopause": "post"},
        "arms": [
            {"name": "placebo", "regimen": []},
            {"name": "raloxifene", "regimen": [{"agent": "raloxifene", "dose_mg": 60}]},
        ],
        "endpoints": ["vte"],
    }
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    with pytest.raises(SystemExit) as exit_:
        main(["bench", "--trial", str(path), "--json"])
    assert exit_.value.code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["people"] == 100 and out["wall_s"] > 0
    stages = out["stages_s"]
    assert any(k.startswith("physiology") for k in stages)
    assert sum(stages.values()) == pytest.approx(out["wall_s"], rel=1e-6)
