"""Rendering of a physiology simulation: summary (dict, JSON, text table), the wide daily
table (CSV and Parquet) and one multi-panel PNG.

The input is the ``xarray.Dataset`` returned by the physiology ``simulate`` function:
coordinates ``time`` (days), ``tissue`` and ``moiety``; data variables ``unbound_nM``
(time, moiety), ``drug_occupancy`` (time, tissue), ``signal`` (time, tissue) and one
variable of dims ``(time,)`` per biomarker, with attrs ``units``, ``long_name`` and
``panel``. A biomarker that does not apply to the patient is all-NaN and carries the attr
``not_applicable`` with the reason; it is skipped in plots and written as ``null`` with its
reason in JSON. This module holds no science: it only renders.
"""

from __future__ import annotations

import functools
import json
import math
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sermsim import DISCLAIMER, __version__
from sermsim.core.units import DAYS_PER_YEAR

if TYPE_CHECKING:
    import pandas as pd
    import xarray as xr

#: Panels in the order they are plotted; a biomarker with another panel goes last.
PANELS: tuple[str, ...] = ("hpg", "bone", "liver", "coagulation", "tissues", "symptoms")
SIGNIFICANT_DIGITS = 4
_OTHER_PANEL = "other"
_NOT_APPLICABLE_ALL_NAN = "no values in this simulation"

#: Draws one axis of :func:`plot_simulation` (the axis is a ``matplotlib.axes.Axes``).
Draw = Callable[[Any], None]


# ---------------------------------------------------------------------------- helpers


def _round(x: float) -> float | None:
    """Round to :data:`SIGNIFICANT_DIGITS` significant digits; ``None`` if not finite.

    >>> _round(123.456789), _round(-0.000123456), _round(float("nan")), _round(0.0)
    (123.5, -0.0001235, None, 0.0)
    """
    x = float(x)
    if not math.isfinite(x):
        return None
    return float(f"{x:.{SIGNIFICANT_DIGITS}g}")


def _fmt(x: float | None) -> str:
    """Text for a table cell: 4 significant digits, a dash for a missing number."""
    return "—" if x is None else f"{x:.{SIGNIFICANT_DIGITS}g}"


def _disclaimer(ds: xr.Dataset) -> str:
    return str(ds.attrs.get("disclaimer") or DISCLAIMER)


def _years(ds: xr.Dataset) -> float:
    if "years" in ds.attrs:
        return float(ds.attrs["years"])
    time = np.asarray(ds["time"].values, dtype=float)
    return float(time[-1] - time[0]) / DAYS_PER_YEAR if time.size else 0.0


def _labels(ds: xr.Dataset, coord: str) -> list[str]:
    if coord not in ds.coords:
        return []
    return [str(v) for v in np.asarray(ds[coord].values).tolist()]


def _panel(ds: xr.Dataset, name: str) -> str:
    panel = str(ds[name].attrs.get("panel", _OTHER_PANEL))
    return panel if panel in PANELS else _OTHER_PANEL


def biomarker_names(ds: xr.Dataset) -> list[str]:
    """The biomarker variables (data variables of dims ``(time,)``), grouped by panel in
    the order of :data:`PANELS`, keeping the dataset's order within a panel.

    >>> import xarray as xr
    >>> ds = xr.Dataset({
    ...     "ldl_mg_dl": ("time", [1.0, 2.0], {"panel": "liver"}),
    ...     "lh_iu_l": ("time", [1.0, 2.0], {"panel": "hpg"}),
    ... }, coords={"time": [0.0, 1.0]})
    >>> biomarker_names(ds)
    ['lh_iu_l', 'ldl_mg_dl']
    """
    names = [str(n) for n, v in ds.data_vars.items() if v.dims == ("time",)]
    order = {p: i for i, p in enumerate((*PANELS, _OTHER_PANEL))}
    return sorted(names, key=lambda n: order[_panel(ds, n)])  # sorted() is stable


def not_applicable_reason(ds: xr.Dataset, name: str) -> str | None:
    """Why biomarker ``name`` does not apply (its ``not_applicable`` attr, or a generic reason
    when it has no finite value at all); ``None`` when it applies."""
    reason = ds[name].attrs.get("not_applicable")
    if reason:
        return str(reason)
    values = np.asarray(ds[name].values, dtype=float)
    if not np.isfinite(values).any():
        return _NOT_APPLICABLE_ALL_NAN
    return None


# ---------------------------------------------------------------------------- summary


def summary(ds: xr.Dataset) -> dict[str, Any]:
    """Per biomarker: units, baseline (day 0), end (last day), change and relative change
    in percent, rounded to 4 significant digits; a biomarker that does not apply gives its
    units and the reason instead. No value in the result is NaN or infinite.

    Parameters
    ----------
    ds
        A simulation dataset (see the module docstring).

    Returns
    -------
    dict
        ``{"patient", "regimen", "years", "disclaimer", "biomarkers", "sermsim_version"}``.

    Examples
    --------
    >>> import xarray as xr
    >>> ds = xr.Dataset(
    ...     {"ldl_mg_dl": ("time", [130.0, 125.0, 117.0],
    ...                    {"units": "mg/dL", "long_name": "LDL cholesterol", "panel": "liver"})},
    ...     coords={"time": [0.0, 1.0, 2.0]},
    ...     attrs={"patient": "woman, 60 y", "regimen": "raloxifene:60", "years": 2 / 365.25},
    ... )
    >>> summary(ds)["biomarkers"]["ldl_mg_dl"]
    {'units': 'mg/dL', 'baseline': 130.0, 'end': 117.0, 'change': -13.0, 'change_pct': -10.0}
    """
    biomarkers: dict[str, dict[str, Any]] = {}
    for name in biomarker_names(ds):
        units = str(ds[name].attrs.get("units", ""))
        reason = not_applicable_reason(ds, name)
        if reason is not None:
            biomarkers[name] = {"units": units, "not_applicable": reason}
            continue
        values = np.asarray(ds[name].values, dtype=float)
        baseline, end = float(values[0]), float(values[-1])
        change = end - baseline
        # Relative to |baseline| so that the sign follows the change (T-scores are negative).
        change_pct = 100.0 * change / abs(baseline) if baseline != 0.0 else None
        biomarkers[name] = {
            "units": units,
            "baseline": _round(baseline),
            "end": _round(end),
            "change": _round(change),
            "change_pct": None if change_pct is None else _round(change_pct),
        }
    return {
        "patient": str(ds.attrs.get("patient", "")),
        "regimen": str(ds.attrs.get("regimen", "")),
        "years": _round(_years(ds)),
        "disclaimer": _disclaimer(ds),
        "biomarkers": biomarkers,
        "sermsim_version": str(ds.attrs.get("sermsim_version", __version__)),
    }


def summary_json(ds: xr.Dataset) -> str:
    """:func:`summary` as JSON text (indent 2); never contains ``NaN`` or ``Infinity``."""
    return json.dumps(summary(ds), indent=2, allow_nan=False, ensure_ascii=False)


def summary_table(ds: xr.Dataset) -> str:
    """A fixed-width table of the summary (biomarker, units, baseline, end, change, change
    in percent), a line per not-applicable biomarker with its reason, and the disclaimer."""
    s = summary(ds)
    lines = [f"patient: {s['patient']}   regimen: {s['regimen']}   years: {_fmt(s['years'])}"]
    head = (
        f"{'biomarker':<28} {'units':<12} {'baseline':>10} {'end':>10} {'change':>10} "
        f"{'change %':>9}"
    )
    lines += [head, "-" * len(head)]
    for name, b in s["biomarkers"].items():
        if "not_applicable" in b:
            lines.append(f"{name:<28} {b['units']:<12} not applicable: {b['not_applicable']}")
            continue
        lines.append(
            f"{name:<28} {b['units']:<12} {_fmt(b['baseline']):>10} {_fmt(b['end']):>10} "
            f"{_fmt(b['change']):>10} {_fmt(b['change_pct']):>9}"
        )
    lines.append("")
    lines.append("baseline: day 0; end: last simulated day; change: end - baseline.")
    lines.append(s["disclaimer"])
    return "\n".join(lines)


# ---------------------------------------------------------------------------- table


def simulation_table(ds: xr.Dataset) -> pd.DataFrame:
    """The wide daily table: one row per time point, columns ``time_days``, ``time_years``,
    each biomarker (NaN where not applicable), ``signal_<tissue>``,
    ``drug_occupancy_<tissue>`` and ``unbound_nM_<moiety>``."""
    import pandas as pd

    time = np.asarray(ds["time"].values, dtype=float)
    columns: dict[str, np.ndarray] = {"time_days": time, "time_years": time / DAYS_PER_YEAR}
    for name in biomarker_names(ds):
        columns[name] = np.asarray(ds[name].values, dtype=float)
    for var, coord in (
        ("signal", "tissue"),
        ("drug_occupancy", "tissue"),
        ("unbound_nM", "moiety"),
    ):
        if var not in ds.data_vars:
            continue
        da = ds[var].transpose("time", coord)
        values = np.asarray(da.values, dtype=float)
        for j, label in enumerate(_labels(ds, coord)):
            columns[f"{var}_{label}"] = values[:, j]
    return pd.DataFrame(columns)


def simulation_csv(ds: xr.Dataset) -> str:
    """:func:`simulation_table` as CSV text; a first comment line carries the disclaimer and
    a missing value is an empty cell."""
    body = simulation_table(ds).to_csv(index=False, lineterminator="\n", na_rep="")
    return f"# {_disclaimer(ds)}\n{body}"


def _parquet_metadata(ds: xr.Dataset) -> dict[bytes, bytes]:
    meta = {
        "disclaimer": _disclaimer(ds),
        "patient": str(ds.attrs.get("patient", "")),
        "regimen": str(ds.attrs.get("regimen", "")),
        "years": repr(_years(ds)),
        "sermsim_version": str(ds.attrs.get("sermsim_version", __version__)),
    }
    return {k.encode(): v.encode() for k, v in meta.items()}


# ---------------------------------------------------------------------------- plot


def plot_simulation(ds: xr.Dataset, path: Path | str) -> None:
    """One PNG: a small axis per applicable biomarker, each panel starting a new row, then the
    tissue signals, the ERα occupancy by drug and the unbound drug concentrations (log scale
    where positive) over time in years. Not-applicable biomarkers are listed, not plotted."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.layout_engine import ConstrainedLayoutEngine

    ncols = 6
    years = np.asarray(ds["time"].values, dtype=float) / DAYS_PER_YEAR
    moieties = _labels(ds, "moiety")
    tissues = _labels(ds, "tissue")

    # Rows of plotting callbacks: each panel starts a row, wrapping at ncols.
    rows: list[list[Draw]] = []
    skipped: list[str] = []
    by_panel: dict[str, list[str]] = {}
    for name in biomarker_names(ds):
        reason = not_applicable_reason(ds, name)
        if reason is not None:
            skipped.append(f"{ds[name].attrs.get('long_name', name)} ({reason})")
            continue
        by_panel.setdefault(_panel(ds, name), []).append(name)

    def biomarker_axis(name: str, panel: str) -> Draw:
        def draw(ax: Any) -> None:
            da = ds[name]
            y = np.asarray(da.values, dtype=float)
            ax.plot(years, y, lw=1.2)
            ax.ticklabel_format(axis="y", useOffset=False)
            centre = float(np.nanmean(y))
            if np.nanmax(y) - np.nanmin(y) <= 1e-4 * max(abs(centre), 1.0):  # flat: show it so
                pad = max(0.05 * abs(centre), 1e-3)
                ax.set_ylim(centre - pad, centre + pad)
            ax.set_title(f"{panel} · {da.attrs.get('long_name', name)}", fontsize=8)
            ax.set_ylabel(str(da.attrs.get("units", "")), fontsize=7)

        return draw

    for panel, names in by_panel.items():
        draws = [biomarker_axis(n, panel) for n in names]
        rows += [draws[i : i + ncols] for i in range(0, len(draws), ncols)]

    def per_tissue(var: str, title: str, ylabel: str) -> Draw:
        def draw(ax: Any) -> None:
            values = np.asarray(ds[var].transpose("time", "tissue").values, dtype=float)
            for j, t in enumerate(tissues):
                ax.plot(years, values[:, j], lw=1.0, label=t)
            ax.set_title(title, fontsize=8)
            ax.set_ylabel(ylabel, fontsize=7)
            ax.legend(fontsize=5, ncols=2)

        return draw

    def unbound(ax: Any) -> None:
        values = np.asarray(ds["unbound_nM"].transpose("time", "moiety").values, dtype=float)
        positive = np.where(values > 0.0, values, np.nan)
        for j, m in enumerate(moieties):
            ax.plot(years, positive[:, j], lw=1.0, label=m)
        if np.isfinite(positive).any():
            ax.set_yscale("log")
        ax.set_title("unbound drug concentration", fontsize=8)
        ax.set_ylabel("nM", fontsize=7)
        ax.legend(fontsize=5)

    last: list[Draw] = []
    if "signal" in ds.data_vars and tissues:
        last.append(per_tissue("signal", "ERα signal by tissue", "signal"))
    if moieties and "drug_occupancy" in ds.data_vars and tissues:
        last.append(per_tissue("drug_occupancy", "ERα occupancy by drug", "fraction"))
    if moieties and "unbound_nM" in ds.data_vars:
        last.append(unbound)
    if last:
        rows.append(last)

    nrows = max(len(rows), 1)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(3.0 * ncols, 2.3 * nrows + 0.8), squeeze=False, layout="constrained"
    )
    for i in range(nrows):
        for j in range(ncols):
            ax = axes[i][j]
            if i < len(rows) and j < len(rows[i]):
                rows[i][j](ax)
                ax.tick_params(which="both", labelsize=6)
                ax.set_xlabel("years", fontsize=7)
                ax.grid(alpha=0.3)
            else:
                ax.set_axis_off()
    fig.suptitle(f"{ds.attrs.get('regimen', '')} — {ds.attrs.get('patient', '')}", fontsize=12)
    footer = _disclaimer(ds)
    if skipped:
        footer = "not applicable: " + "; ".join(skipped) + "\n" + footer
    engine = fig.get_layout_engine()
    if isinstance(engine, ConstrainedLayoutEngine):  # leave room for the footer
        bottom = (0.25 + 0.15 * (footer.count("\n") + 1)) / fig.get_figheight()  # inches
        engine.set(rect=(0.0, bottom, 1.0, 1.0 - bottom))  # (left, bottom, width, height)
    fig.text(0.01, 0.005, footer, fontsize=7, ha="left", va="bottom", wrap=True)
    fig.savefig(path, dpi=100, format="png")
    plt.close(fig)


# ---------------------------------------------------------------------------- files


@functools.cache
def _file_mode() -> int:
    """The mode a new file gets under this process's umask (mkstemp's own is 0600)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


@contextmanager
def _atomic(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success flush it to disk and move it onto
    ``path`` with :func:`os.replace` (a reader sees the old file or the whole new one, even
    after a kill or a power cut), on failure remove it. The file gets the usual permissions."""
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fchmod(fh.fileno(), _file_mode())
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_simulation_outputs(ds: xr.Dataset, out_dir: Path | str) -> list[Path]:
    """Write ``simulation.csv``, ``simulation.parquet``, ``simulation.png`` and
    ``summary.json`` into ``out_dir`` (created if needed), each atomically (a temporary file
    in the same folder, then :func:`os.replace`). Returns the paths in that order.

    The Parquet file holds the same table as the CSV; its schema metadata carries the
    disclaimer, patient, regimen, years and sermsim version."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    csv_path, parquet_path = out / "simulation.csv", out / "simulation.parquet"
    png_path, json_path = out / "simulation.png", out / "summary.json"

    with _atomic(csv_path) as tmp:
        tmp.write_text(simulation_csv(ds), encoding="utf-8")
    table = pa.Table.from_pandas(simulation_table(ds), preserve_index=False)
    table = table.replace_schema_metadata(
        {**(table.schema.metadata or {}), **_parquet_metadata(ds)}
    )
    with _atomic(parquet_path) as tmp:
        pq.write_table(table, tmp)
    with _atomic(png_path) as tmp:
        plot_simulation(ds, tmp)
    with _atomic(json_path) as tmp:
        tmp.write_text(summary_json(ds) + "\n", encoding="utf-8")
    return [csv_path, parquet_path, png_path, json_path]


# Key biomarkers of the comparison across regimens: (name, how the change is shown).
COMPARISON: tuple[tuple[str, str], ...] = (
    ("bmd_lumbar_spine_g_cm2", "pct"),
    ("bmd_total_hip_g_cm2", "pct"),
    ("ctx_ng_ml", "pct"),
    ("ldl_mg_dl", "pct"),
    ("hdl_mg_dl", "pct"),
    ("prothrombotic_index", "end"),
    ("breast_ki67_pct", "end"),
    ("endometrial_thickness_mm", "end"),
    ("hot_flushes_per_day", "end"),
    ("vaginal_ph", "end"),
    ("fsh_iu_l", "end"),
    ("estradiol_pg_ml", "end"),
)


def _change(ds: xr.Dataset, name: str, how: str) -> float | None:
    x = ds[name].values
    if not_applicable_reason(ds, name) is not None or not np.all(np.isfinite(x[[0, -1]])):
        return None
    if how == "pct":
        return float(100.0 * (x[-1] / x[0] - 1.0))
    return float(x[-1])


def comparison_table(datasets: list[xr.Dataset]) -> str:
    """One row per regimen: percent change (%) or end value of the key biomarkers."""
    heads = [
        "spine %",
        "hip %",
        "CTX %",
        "LDL %",
        "HDL %",
        "PTI",
        "Ki67",
        "endo mm",
        "HF/d",
        "vag pH",
        "FSH",
        "E2",
    ]
    width = max([len(str(ds.attrs.get("regimen", ""))) for ds in datasets] + [7])
    lines = [f"{'regimen':<{width}} " + " ".join(f"{h:>8}" for h in heads)]
    lines.append("-" * len(lines[0]))
    for ds in datasets:
        cells = []
        for name, how in COMPARISON:
            v = _change(ds, name, how)
            cells.append(
                f"{'n/a' if v is None else f'{v:+.2f}' if how == 'pct' else f'{v:.2f}':>8}"
            )
        lines.append(f"{ds.attrs.get('regimen', ''):<{width}} " + " ".join(cells))
    first = datasets[0] if datasets else None
    if first is not None:
        lines.append(
            f"{first.attrs.get('patient', '')}, {_years(first):g} years; % = change from "
            "baseline, others = value at the end; PTI = prothrombotic index (1 = untreated "
            "postmenopausal)."
        )
    lines.append(_disclaimer(first) if first is not None else DISCLAIMER)
    return "\n".join(lines)


def plot_comparison(datasets: list[xr.Dataset], path: Path | str) -> None:
    """Key biomarkers over time, one line per regimen, in one PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ncols = 4
    nrows = math.ceil(len(COMPARISON) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 2.9 * nrows), squeeze=False)
    colours = list(plt.get_cmap("tab20")(np.linspace(0.0, 1.0, 20)))  # distinct, then dashes
    for ax, (name, _) in zip(axes.ravel(), COMPARISON, strict=False):
        for k, ds in enumerate(datasets):
            if not_applicable_reason(ds, name) is not None:
                continue
            ax.plot(
                ds["time"].values / DAYS_PER_YEAR,
                ds[name].values,
                lw=1.2,
                color=colours[(2 * k + k // 10) % len(colours)],
                ls="--" if k >= 10 else "-",
                label=str(ds.attrs.get("regimen", "")),
            )
        first = datasets[0][name]
        ax.set_title(str(first.attrs.get("long_name", name)), fontsize=9)
        ax.set_ylabel(str(first.attrs.get("units", "")), fontsize=8)
        ax.set_xlabel("years", fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in axes.ravel()[len(COMPARISON) :]:
        ax.axis("off")
    handles, labels = axes.ravel()[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=4, fontsize=8, frameon=False)
    patient = datasets[0].attrs.get("patient", "") if datasets else ""
    fig.suptitle(f"sermsim: {patient} on each regimen", fontsize=11)
    fig.text(
        0.5, 0.005, _disclaimer(datasets[0]) if datasets else DISCLAIMER, ha="center", fontsize=7
    )
    fig.tight_layout(rect=(0, 0.08, 1, 0.96))
    with _atomic(Path(path)) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
