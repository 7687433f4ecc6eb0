"""A coarse time series of a simulation for the page's plots: one point a month.

Rendering only: the simulation's daily values are read at every month's start (no averaging,
no model). A biomarker that does not apply to the person is left out with its reason.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from sermsim.core.units import DAYS_PER_YEAR
from sermsim.interfaces import simulation_render as sr

if TYPE_CHECKING:
    import xarray as xr

#: Points per simulated year: monthly is as fine as a plot on a page shows, and keeps a
#: 30-year response to a few hundred points per curve.
POINTS_PER_YEAR = 12


def _values(values: Any) -> list[float | None]:
    """Rounded for JSON (4 significant digits, as the summary); ``None`` for a missing value."""
    digits = sr.SIGNIFICANT_DIGITS
    return [float(f"{v:.{digits}g}") if math.isfinite(v) else None for v in map(float, values)]


def monthly_series(ds: xr.Dataset) -> dict[str, Any]:
    """The biomarkers, tissue signals and ERα drug occupancy at the start of every month.

    >>> import xarray as xr
    >>> ds = xr.Dataset(
    ...     {"ldl_mg_dl": ("time", np.linspace(130.0, 120.0, 366), {"units": "mg/dL"})},
    ...     coords={"time": np.arange(366.0)},
    ... )
    >>> s = monthly_series(ds)
    >>> len(s["time_years"]), s["time_years"][-1], s["biomarkers"]["ldl_mg_dl"]["values"][0]
    (13, 0.9993, 130.0)
    """
    time = np.asarray(ds["time"].values, dtype=float)
    step = DAYS_PER_YEAR / POINTS_PER_YEAR
    wanted = np.arange(time[0], time[-1] + 1e-9, step)
    if wanted[-1] < time[-1]:
        wanted = np.append(wanted, time[-1])  # the last day, where the summary's "end" is
    idx = np.unique(np.clip(np.searchsorted(time, wanted - 1e-9), 0, time.size - 1))
    biomarkers: dict[str, Any] = {}
    skipped: dict[str, str] = {}
    for name in sr.biomarker_names(ds):
        reason = sr.not_applicable_reason(ds, name)
        if reason is not None:
            skipped[name] = reason
            continue
        var = ds[name]
        biomarkers[name] = {
            "units": str(var.attrs.get("units", "")),
            "label": str(var.attrs.get("long_name", name)),
            "values": _values(np.asarray(var.values, dtype=float)[idx]),
        }
    tissues = [str(t) for t in ds["tissue"].values] if "tissue" in ds.coords else []
    out: dict[str, Any] = {
        "time_years": [round(float(t) / DAYS_PER_YEAR, 4) for t in time[idx]],
        "biomarkers": biomarkers,
        "not_applicable": skipped,
    }
    for key in ("signal", "drug_occupancy"):
        if key in ds:
            data = np.asarray(ds[key].values, dtype=float)[idx]
            out[key] = {t: _values(data[:, j]) for j, t in enumerate(tissues)}
    return out
