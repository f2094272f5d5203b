"""Bring the calibration chain's outputs, gauges and truth onto the product grid and day.

The products consume:

* hourly grids (GR rain from MLP-1, satellite rain from MLP-3): xarray Datasets with a rain
  rate variable ``(time, lat, lon)`` in mm/h on the product grid;
* the spaceborne rain along the swath (MLP-2): a table of footprints (``time``, ``lat``, ``lon``
  and a rain-rate column);
* the chain's held-out evaluation: hourly RMSEs per model, optionally per GR range bin;
* the synthetic truth: ``rain_daily_mm`` on the simulator's grid (interpolated here).

Every mismatch raises :class:`ProductInputError` naming the input.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from fusion_ops.products.errors import ProductInputError
from fusion_ops.products.merge import (
    SR_FOOTPRINT_RADIUS_KM,
    RangeErrorModel,
    footprints_to_grid,
    sampled_error_std,
)

RAIN_VARIABLES = ("rain_rate", "rain_mm_h", "rain_rate_mm_h", "rainfall_rate", "precip_mm_h")
SR_RAIN_COLUMNS = ("rain_mm_h", "mlp2_rain_mm_h", "rain_rate_mm_h", "rain_rate", "precip_mm_h")
GRID_TOLERANCE_DEG = 1e-4


def _day_start(day: str) -> pd.Timestamp:
    return pd.Timestamp(day)


def _naive_utc(times: Iterable[Any]) -> pd.DatetimeIndex:
    index = pd.DatetimeIndex(pd.to_datetime(list(times), utc=True))
    return index.tz_convert("UTC").tz_localize(None)


def hour_index(times: Sequence[Any], day: str, label: str = "auto") -> np.ndarray:
    """Hour of the day (0..23) of each time stamp; -1 outside the day.

    ``label`` says what the stamp marks: ``start`` of the hour (``[t, t + 1 h)``), ``end``
    (``(t - 1 h, t]``, the gauge/ISD convention), or ``auto``: ``end`` when a stamp falls on the
    next midnight, else ``start``.
    """
    if label not in ("start", "end", "auto"):
        raise ProductInputError("hour index", f"label must be start, end or auto, got {label!r}")
    t = _naive_utc(times)
    if label == "auto":
        next_midnight = _day_start(day) + pd.Timedelta(days=1)
        label = "end" if bool((t == next_midnight).any()) else "start"
    offset_h = (t - _day_start(day)) / pd.Timedelta(hours=1)
    offset = np.asarray(offset_h, float)
    idx = (np.ceil(offset) - 1 if label == "end" else np.floor(offset)).astype(int)
    return np.where((idx >= 0) & (idx < 24), idx, -1)


def _rain_variable(ds: xr.Dataset, what: str, names: Sequence[str] = RAIN_VARIABLES) -> str:
    for name in names:
        if name in ds.data_vars:
            return name
    raise ProductInputError(
        what, f"no rain-rate variable (looked for {list(names)}; has {list(ds.data_vars)})"
    )


def check_grid(ds: xr.Dataset, lat_deg: np.ndarray, lon_deg: np.ndarray, what: str) -> None:
    """Fail unless ``ds`` is on the product grid (same cell centres within 1e-4 degree)."""
    for name, expected in (("lat", lat_deg), ("lon", lon_deg)):
        if name not in ds.coords:
            raise ProductInputError(what, f"no {name!r} coordinate")
        got = np.asarray(ds[name].values, float)
        if got.shape != np.shape(expected) or np.max(np.abs(got - expected)) > GRID_TOLERANCE_DEG:
            raise ProductInputError(
                what,
                f"{name} is not the product grid ({got.size} cells from {got.min():.4f}, "
                f"expected {np.size(expected)} from {np.min(expected):.4f})",
            )


def hourly_cube(
    ds: xr.Dataset | None,
    day: str,
    lat_deg: np.ndarray,
    lon_deg: np.ndarray,
    what: str,
    time_label: str = "auto",
) -> np.ndarray | None:
    """``(24, lat, lon)`` hourly rain (mm/h) of ``day`` from an hourly grid; NaN in missing hours.

    Returns ``None`` when the source is absent (``None`` or no time step in the day).
    """
    if ds is None or ds.sizes.get("time", 0) == 0:
        return None
    check_grid(ds, lat_deg, lon_deg, what)
    var = _rain_variable(ds, what)
    data = ds[var].transpose("time", "lat", "lon").values.astype(float)
    hours = hour_index(ds["time"].values, day, time_label)
    if np.any(np.bincount(hours[hours >= 0], minlength=24) > 1):
        raise ProductInputError(what, f"several time steps fall in the same hour of {day}")
    cube = np.full((24, np.size(lat_deg), np.size(lon_deg)), np.nan)
    cube[hours[hours >= 0]] = data[hours >= 0]
    if "coverage" in ds.data_vars:  # the source's own footprint: outside it, no estimate
        cover = ds["coverage"].transpose("lat", "lon").values.astype(bool)
        cube[:, ~cover] = np.nan
    finite = cube[np.isfinite(cube)]
    if finite.size and finite.min() < -1e-6:
        raise ProductInputError(what, f"negative rain rate {finite.min():.3f} mm/h")
    if not finite.size:
        return None
    return np.clip(cube, 0.0, None)


def swath_hourly_cube(
    footprints: pd.DataFrame | None,
    day: str,
    lat_deg: np.ndarray,
    lon_deg: np.ndarray,
    what: str = "sr rain",
    radius_km: float = SR_FOOTPRINT_RADIUS_KM,
    rain_columns: Sequence[str] = SR_RAIN_COLUMNS,
) -> np.ndarray | None:
    """Grid the spaceborne footprints of each hour (nearest footprint within ``radius_km``).

    A footprint's instantaneous rate stands for its hour; several overpasses in one hour are
    gridded together. ``None`` when no footprint falls in the day.
    """
    if footprints is None or footprints.empty:
        return None
    missing = {"time", "lat", "lon"} - set(footprints.columns)
    if missing:
        raise ProductInputError(what, f"missing column(s) {sorted(missing)}")
    column = next((c for c in rain_columns if c in footprints.columns), None)
    if column is None:
        raise ProductInputError(
            what, f"no rain-rate column (looked for {list(rain_columns)}; has {list(footprints)})"
        )
    hours = hour_index(footprints["time"].to_numpy(), day, "start")
    cube = np.full((24, np.size(lat_deg), np.size(lon_deg)), np.nan)
    for h in np.unique(hours[hours >= 0]):
        rows = footprints.loc[hours == h]
        cube[h] = footprints_to_grid(
            rows["lat"].to_numpy(float),
            rows["lon"].to_numpy(float),
            rows[column].to_numpy(float),
            lat_deg,
            lon_deg,
            radius_km,
        )
    if not np.isfinite(cube).any():
        return None
    finite = cube[np.isfinite(cube)]
    if finite.min() < -1e-6:
        raise ProductInputError(what, f"negative rain rate {finite.min():.3f} mm/h")
    return np.clip(cube, 0.0, None)


def truth_daily_on_grid(
    truth: xr.Dataset, lat_deg: np.ndarray, lon_deg: np.ndarray, what: str = "truth"
) -> np.ndarray:
    """The truth's daily total (mm) linearly interpolated onto the product grid (NaN outside)."""
    if "rain_daily_mm" in truth.data_vars:
        daily = truth["rain_daily_mm"]
    elif "rain_hourly_mm" in truth.data_vars:
        daily = truth["rain_hourly_mm"].sum("time", min_count=1)
    else:
        raise ProductInputError(what, f"no rain_daily_mm / rain_hourly_mm (has {list(truth)})")
    if "time" in daily.dims:
        daily = daily.isel(time=0)
    on_grid = daily.interp(lat=np.asarray(lat_deg), lon=np.asarray(lon_deg), method="linear")
    return on_grid.transpose("lat", "lon").values.astype(float)


@dataclass(frozen=True)
class SourceErrors:
    """Hourly error standard deviations of the sources, and where each number came from."""

    gr_model: RangeErrorModel
    sr_std_mm_h: float
    sat_std_mm_h: float
    origin: dict[str, str]


DEFAULT_RMSE_MM_H = {"mlp1": 1.5, "mlp2": 2.5, "mlp3": 3.0}


def _rmse(evaluation: Mapping[str, Any], key: str) -> float | None:
    entry = evaluation.get(key)
    if isinstance(entry, Mapping):
        value = entry.get("rmse")
        if value is not None and np.isfinite(value) and value > 0:
            return float(value)
    return None


def source_errors(
    evaluation: Mapping[str, Any] | None,
    sr_sampling_std_mm_h: float = 2.0,
    gr_reference_range_km: float = 80.0,
    gr_growth_per_100km: float = 0.6,
    gr_max_range_km: float = 230.0,
) -> SourceErrors:
    """Error model of each source from the calibration chain's held-out evaluation.

    ``evaluation`` is the chain's score record (``{"mlp1": {"rmse": ...}, "mlp2": ..., "mlp3":
    ...}``). MLP-1 is scored against gauges (its RMSE is the GR error); MLP-2 and MLP-3 against
    GR rain, so their error against the ground adds the GR error in quadrature (errors taken as
    independent). A per-range table ``mlp1.rmse_by_range = {"range_km": [...], "rmse": [...],
    "n": [...]}`` is fitted with :meth:`RangeErrorModel.fitted` (error growing with the square
    of range); otherwise the single MLP-1 RMSE anchors :meth:`RangeErrorModel.parametric`.
    A missing number falls back to a documented default and says so in ``origin``.
    """
    evaluation = evaluation or {}
    origin: dict[str, str] = {}
    values: dict[str, float] = {}
    for key, default in DEFAULT_RMSE_MM_H.items():
        value = _rmse(evaluation, key)
        origin[key] = "evaluation" if value is not None else f"default {default} mm/h"
        values[key] = value if value is not None else default
    by_range = (evaluation.get("mlp1") or {}).get("rmse_by_range")
    if isinstance(by_range, Mapping) and by_range.get("range_km"):
        gr_model = RangeErrorModel.fitted(
            by_range["range_km"], by_range["rmse"], by_range.get("n"), gr_max_range_km
        )
        origin["mlp1"] = "evaluation by range bin (quadratic fit)"
    else:
        gr_model = RangeErrorModel.parametric(
            values["mlp1"], gr_reference_range_km, gr_growth_per_100km, gr_max_range_km
        )
    gr_mean = values["mlp1"]
    sr = sampled_error_std(float(np.hypot(values["mlp2"], gr_mean)), sr_sampling_std_mm_h)
    sat = float(np.hypot(values["mlp3"], gr_mean))
    return SourceErrors(gr_model, sr, sat, origin)


def model_versions(*datasets: Any, keys: Sequence[str] = ("model_version",)) -> dict[str, str]:
    """Model versions recorded by the chain in its outputs' attributes.

    Looks at ``attrs`` of Datasets/DataFrames for ``model_version`` (with ``model`` naming it) or a
    JSON ``model_versions`` mapping.
    """
    out: dict[str, str] = {}
    for obj in datasets:
        attrs = getattr(obj, "attrs", None) or {}
        if "model_versions" in attrs:
            mv = attrs["model_versions"]
            mv = json.loads(mv) if isinstance(mv, str) else dict(mv)
            out.update({str(k): str(v) for k, v in mv.items()})
        for key in keys:
            if key in attrs:
                name = str(attrs.get("model", attrs.get("model_name", key)))
                out[name] = str(attrs[key])
    return out
