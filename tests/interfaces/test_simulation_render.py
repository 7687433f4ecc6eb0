"""Rendering of a physiology simulation: summary JSON without NaN, the text table, CSV and
Parquet that agree, the PNG, atomic writes, and the no-treatment case."""

from __future__ import annotations

import json
import math
import os
import stat
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import xarray as xr

from sermsim import DISCLAIMER
from sermsim.interfaces.simulation_render import (
    biomarker_names,
    plot_simulation,
    simulation_table,
    summary,
    summary_json,
    summary_table,
    write_simulation_outputs,
)
from sermsim.receptor import TISSUES

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
NO_UTERUS = "no uterus (hysterectomy)"


def make_dataset(*, days: int = 30, moieties: tuple[str, ...] = ("raloxifene", "M1")) -> xr.Dataset:
    time = np.arange(days + 1, dtype=float)
    frac = time / days
    n_t, n_m = time.size, len(moieties)

    def bio(values: np.ndarray, units: str, long_name: str, panel: str, **extra: str):
        return ("time", values, {"units": units, "long_name": long_name, "panel": panel, **extra})

    data_vars = {
        "unbound_nM": (
            ("time", "moiety"),
            np.column_stack([np.r_[0.0, np.full(n_t - 1, 0.5 * (k + 1))] for k in range(n_m)])
            if n_m
            else np.zeros((n_t, 0)),
        ),
        "drug_occupancy": (("time", "tissue"), np.tile(0.4 * frac, (len(TISSUES), 1)).T),
        "signal": (("time", "tissue"), np.tile(0.5 - 0.2 * frac, (len(TISSUES), 1)).T),
        "lh_iu_l": bio(30.0 - 3.0 * frac, "IU/L", "LH", "hpg"),
        "bmd_lumbar_spine_g_cm2": bio(0.9 + 0.01 * frac, "g/cm2", "BMD lumbar spine", "bone"),
        "t_score_lumbar_spine": bio(-1.0 + 1.0 * frac, "SD", "T-score lumbar spine", "bone"),
        "ldl_mg_dl": bio(130.0 - 13.0 * frac, "mg/dL", "LDL cholesterol", "liver"),
        "endometrial_thickness_mm": bio(
            np.full(n_t, np.nan), "mm", "Endometrial thickness", "tissues", not_applicable=NO_UTERUS
        ),
        "hot_flushes_per_day": bio(2.0 + 1.0 / 3.0 * frac, "1/day", "Hot flushes", "symptoms"),
    }
    return xr.Dataset(
        data_vars,
        coords={"time": time, "tissue": list(TISSUES), "moiety": np.array(moieties, dtype=str)},
        attrs={
            "patient": "postmenopausal woman, 60 y",
            "regimen": "raloxifene:60",
            "disclaimer": DISCLAIMER,
            "sermsim_version": "0.1.0",
            "years": days / 365.25,
        },
    )


@pytest.fixture
def ds() -> xr.Dataset:
    return make_dataset()


def _no_constants(name: str) -> float:
    raise AssertionError(f"JSON contains {name}")


def strict_loads(text: str) -> dict:
    return json.loads(text, parse_constant=_no_constants)


def test_summary_numbers_rounded_and_relative_change(ds):
    s = summary(ds)
    assert s["patient"] == "postmenopausal woman, 60 y"
    assert s["regimen"] == "raloxifene:60"
    assert s["sermsim_version"] == "0.1.0"
    assert s["disclaimer"] == DISCLAIMER
    assert s["years"] == pytest.approx(30 / 365.25, rel=1e-3)
    ldl = s["biomarkers"]["ldl_mg_dl"]
    assert ldl == {
        "units": "mg/dL",
        "baseline": 130.0,
        "end": 117.0,
        "change": -13.0,
        "change_pct": -10.0,
    }
    flushes = s["biomarkers"]["hot_flushes_per_day"]
    assert flushes["end"] == 2.333  # 4 significant digits
    assert flushes["change"] == 0.3333


def test_change_pct_is_none_when_baseline_is_zero(ds):
    s = summary(ds)["biomarkers"]["t_score_lumbar_spine"]
    assert s["baseline"] == -1.0
    assert s["change_pct"] == 100.0  # relative to |baseline|: the sign follows the change
    ds2 = ds.assign(t_score_lumbar_spine=ds["t_score_lumbar_spine"] + 1.0)
    s2 = summary(ds2)["biomarkers"]["t_score_lumbar_spine"]
    assert s2["baseline"] == 0.0
    assert s2["change"] == 1.0
    assert s2["change_pct"] is None


def test_not_applicable_biomarker_gives_its_reason(ds):
    b = summary(ds)["biomarkers"]["endometrial_thickness_mm"]
    assert b == {"units": "mm", "not_applicable": NO_UTERUS}


def test_all_nan_without_attr_is_still_not_applicable(ds):
    ds["endometrial_thickness_mm"].attrs.pop("not_applicable")
    b = summary(ds)["biomarkers"]["endometrial_thickness_mm"]
    assert set(b) == {"units", "not_applicable"}
    assert b["not_applicable"]


def test_summary_json_parses_without_nan_and_has_disclaimer(ds):
    text = summary_json(ds)
    assert "NaN" not in text and "Infinity" not in text and "nan" not in text.lower()
    data = strict_loads(text)
    assert data["disclaimer"] == DISCLAIMER
    assert data["biomarkers"]["endometrial_thickness_mm"]["not_applicable"] == NO_UTERUS
    assert text.startswith("{\n  ")  # indent 2


def test_biomarkers_are_grouped_by_panel(ds):
    assert biomarker_names(ds) == [
        "lh_iu_l",
        "bmd_lumbar_spine_g_cm2",
        "t_score_lumbar_spine",
        "ldl_mg_dl",
        "endometrial_thickness_mm",
        "hot_flushes_per_day",
    ]


def test_summary_table_is_readable_and_ends_with_disclaimer(ds):
    text = summary_table(ds)
    assert text.splitlines()[-1] == DISCLAIMER
    assert "nan" not in text.lower()
    assert "raloxifene:60" in text
    ldl = next(line for line in text.splitlines() if line.startswith("ldl_mg_dl"))
    assert ldl.split() == ["ldl_mg_dl", "mg/dL", "130", "117", "-13", "-10"]
    endo = next(line for line in text.splitlines() if line.startswith("endometrial"))
    assert "not applicable" in endo and NO_UTERUS in endo


def test_table_columns(ds):
    df = simulation_table(ds)
    assert len(df) == 31
    assert list(df.columns[:2]) == ["time_days", "time_years"]
    assert df["time_years"].iloc[-1] == pytest.approx(30 / 365.25)
    for t in TISSUES:
        assert f"signal_{t}" in df.columns
        assert f"drug_occupancy_{t}" in df.columns
    assert "unbound_nM_raloxifene" in df.columns and "unbound_nM_M1" in df.columns
    assert df["endometrial_thickness_mm"].isna().all()


def test_written_outputs(ds, tmp_path):
    out = tmp_path / "new" / "run"
    paths = write_simulation_outputs(ds, out)
    names = [p.name for p in paths]
    assert names == ["simulation.csv", "simulation.parquet", "simulation.png", "summary.json"]
    assert all(p.is_file() for p in paths)
    assert sorted(p.name for p in out.iterdir()) == sorted(names)  # no temporary files left

    csv_path, parquet_path, png_path, json_path = paths
    text = csv_path.read_text(encoding="utf-8")
    assert text.startswith(f"# {DISCLAIMER}\n")
    assert "nan" not in text.lower()
    from_csv = pd.read_csv(csv_path, comment="#")
    expected = simulation_table(ds)
    pd.testing.assert_frame_equal(from_csv, expected)

    table = pq.read_table(parquet_path)
    assert table.schema.metadata[b"disclaimer"].decode() == DISCLAIMER
    assert table.schema.metadata[b"regimen"] == b"raloxifene:60"
    pd.testing.assert_frame_equal(table.to_pandas(), from_csv)

    assert png_path.read_bytes()[:8] == PNG_MAGIC
    data = strict_loads(json_path.read_text(encoding="utf-8"))
    assert data["disclaimer"] == DISCLAIMER


def test_zero_moieties_works(tmp_path):
    ds = make_dataset(moieties=())
    assert ds.sizes["moiety"] == 0
    paths = write_simulation_outputs(ds, tmp_path)
    df = pd.read_csv(paths[0], comment="#")
    assert not any(c.startswith("unbound_nM_") for c in df.columns)
    assert paths[2].read_bytes()[:8] == PNG_MAGIC
    assert strict_loads(paths[3].read_text())["regimen"] == "raloxifene:60"


def test_plot_with_every_biomarker_not_applicable(tmp_path):
    ds = make_dataset(moieties=("raloxifene",))
    for name in biomarker_names(ds):
        ds[name] = ds[name] * np.nan
        ds[name].attrs.update(units="u", long_name=name, panel="hpg", not_applicable="test")
    path = tmp_path / "p.png"
    plot_simulation(ds, path)
    assert path.read_bytes()[:8] == PNG_MAGIC
    assert all(math.isnan(v) for v in simulation_table(ds)["lh_iu_l"])


def test_failed_write_leaves_previous_file_and_no_temporary(ds, tmp_path, monkeypatch):
    write_simulation_outputs(ds, tmp_path)
    before = (tmp_path / "summary.json").read_text()

    def boom(_ds: xr.Dataset) -> str:
        raise RuntimeError("disk full")

    import sermsim.interfaces.simulation_render as sr

    monkeypatch.setattr(sr, "summary_json", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        write_simulation_outputs(ds.assign_attrs(regimen="tamoxifen:20"), tmp_path)
    assert (tmp_path / "summary.json").read_text() == before
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_paths_are_in_the_output_dir(ds, tmp_path):
    paths = write_simulation_outputs(ds, str(tmp_path))
    assert all(isinstance(p, Path) and p.parent == tmp_path for p in paths)


def test_outputs_get_the_usual_permissions_not_mkstemp_s(ds, tmp_path):
    """The temporary file of an atomic write is 0600; the output takes the umask's mode."""
    old = os.umask(0o027)
    try:
        import sermsim.interfaces.simulation_render as sr

        sr._file_mode.cache_clear()
        paths = write_simulation_outputs(ds, tmp_path)
    finally:
        os.umask(old)
        sr._file_mode.cache_clear()
    assert {stat.S_IMODE(p.stat().st_mode) for p in paths} == {0o640}
