"""Adapters from the upstream values of one product day to the arrays of the product library.

The products read the calibration chain's hourly grids and spaceborne swath, the ingest hourly
gauge table, the fused hourly product's own attributes (which gauges it withheld, how it gridded
the swath) and the synthetic truth archive. Every function takes plain values (datasets, tables,
attribute mappings, URLs with resolved storage options), so it runs in a test or a notebook as
it runs in an asset.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import fsspec
import numpy as np
import pandas as pd
import xarray as xr

from fusion_ops.products.accumulate import REQUIRED_GAUGE_HOURS, gauge_daily_totals
from fusion_ops.products.errors import ProductInputError
from fusion_ops.products.inputs import hourly_cube, swath_hourly_cube
from fusion_ops.products.merge import SR_FOOTPRINT_RADIUS_KM

SOURCE_LABELS: dict[str, str] = {
    "gr": "ground radar hourly rain",
    "sr": "spaceborne rain swath",
    "sat": "satellite hourly rain",
}
"""How each source is named in a :class:`ProductInputError` unless the caller names it."""

WITHHELD_GAUGES_ATTR = "rainfuse_withheld_gauges"
"""Hourly product attribute: JSON list of the station ids withheld from the adjustment."""
SR_FOOTPRINT_RADIUS_ATTR = "rainfuse_sr_footprint_radius_km"
"""Hourly product attribute: the footprint radius (km) the fusion gridded the SR swath with."""

GAUGE_DAY_COLUMNS = ("lat_deg", "lon_deg", "daily_mm", "n_hours")


@dataclass(frozen=True)
class DayInputs:
    """The upstream values of one product day (``None`` for an absent one).

    Attributes
    ----------
    gr_hourly : ground radar rain (MLP-1), ``rain_rate (time, lat, lon)`` in mm/h.
    sr_swath : spaceborne footprints (MLP-2): ``time``, ``lat``, ``lon`` and a rain-rate column.
    sat_hourly : satellite rain (MLP-3), ``rain_rate (time, lat, lon)`` in mm/h.
    gauge_table : ingest hourly gauge table (``station_id``, ``time_end``, ``precip_mm``, ``lat``,
        ``lon``).
    """

    gr_hourly: xr.Dataset | None
    sr_swath: pd.DataFrame | None
    sat_hourly: xr.Dataset | None
    gauge_table: pd.DataFrame | None


def time_label(obj: Any) -> str:
    """``start``/``end`` from the time coordinate's ``label`` attribute, else ``auto``.

    Parameters
    ----------
    obj : an hourly grid (anything that is not a Dataset with a ``time`` coordinate is ``auto``).

    Returns
    -------
    str
        The ``label`` argument of :func:`fusion_ops.products.inputs.hour_index`.
    """
    if isinstance(obj, xr.Dataset) and "time" in obj.coords:
        label = str(obj["time"].attrs.get("label", "auto"))
        return label if label in ("start", "end") else "auto"
    return "auto"


def source_cubes(
    inputs: DayInputs,
    day: str,
    lat_deg: np.ndarray,
    lon_deg: np.ndarray,
    sr_footprint_radius_km: float = SR_FOOTPRINT_RADIUS_KM,
    labels: Mapping[str, str] = SOURCE_LABELS,
) -> dict[str, np.ndarray | None]:
    """The ``(24, lat, lon)`` hourly rain (mm/h) of each source on the product grid.

    Parameters
    ----------
    inputs : the day's upstream values.
    day : ISO date of the UTC day.
    lat_deg, lon_deg : 1-D product grid (cell centres, degrees).
    sr_footprint_radius_km : search radius when gridding the spaceborne footprints (km).
    labels : ``gr``/``sr``/``sat`` -> the name an input error gives the source.

    Returns
    -------
    dict
        ``gr``, ``sr``, ``sat`` -> hourly cube, NaN in hours or pixels without an estimate;
        ``None`` for a source absent that day.
    """
    gr, sat = inputs.gr_hourly, inputs.sat_hourly
    return {
        "gr": hourly_cube(gr, day, lat_deg, lon_deg, labels["gr"], time_label(gr)),
        "sr": swath_hourly_cube(
            inputs.sr_swath, day, lat_deg, lon_deg, labels["sr"], sr_footprint_radius_km
        ),
        "sat": hourly_cube(sat, day, lat_deg, lon_deg, labels["sat"], time_label(sat)),
    }


def gauge_days(
    table: pd.DataFrame | None, day: str, required_hours: int = REQUIRED_GAUGE_HOURS
) -> pd.DataFrame:
    """Daily gauge totals of ``day`` from the ingest hourly gauge table.

    Parameters
    ----------
    table : ingest hourly table (``station_id``, ``time_end``, ``precip_mm``, ``lat``, ``lon``);
        ``None`` or empty gives an empty result.
    day : ISO date of the UTC day.
    required_hours : valid hours a station needs for a total (fewer: ``daily_mm`` is NaN).

    Returns
    -------
    DataFrame
        Indexed by station id, with ``lat_deg``, ``lon_deg``, ``daily_mm`` and ``n_hours``.
    """
    if table is None or table.empty:
        return pd.DataFrame({name: [] for name in GAUGE_DAY_COLUMNS})
    return gauge_daily_totals(
        table,
        day,
        time_column="time_end",
        lat_column="lat",
        lon_column="lon",
        required_hours=required_hours,
    )


def withheld_gauge_days(
    hourly_attrs: Mapping[str, Any],
    table: pd.DataFrame | None,
    day: str,
    required_hours: int = REQUIRED_GAUGE_HOURS,
) -> tuple[pd.DataFrame, np.ndarray]:
    """The day's gauge totals and which of them the fusion withheld from the adjustment.

    Parameters
    ----------
    hourly_attrs : global attributes of the fused hourly product (``rainfuse_withheld_gauges``).
    table, day, required_hours : as :func:`gauge_days`.

    Returns
    -------
    gauges : DataFrame
        :func:`gauge_days` of the table.
    withheld : ndarray of bool
        Aligned with the rows of ``gauges``: ``True`` for a withheld station.
    """
    gauges = gauge_days(table, day, required_hours)
    ids = set(json.loads(hourly_attrs.get(WITHHELD_GAUGES_ATTR, "[]")))
    withheld = np.array([str(s) in ids for s in gauges.index], dtype=bool)
    return gauges, withheld


def fusion_sr_footprint_radius_km(hourly_attrs: Mapping[str, Any]) -> float:
    """The footprint radius (km) the fusion gridded the SR swath with, so the verification grids
    it the same way; :data:`SR_FOOTPRINT_RADIUS_KM` for a product that does not record it."""
    value = hourly_attrs.get(SR_FOOTPRINT_RADIUS_ATTR)
    return SR_FOOTPRINT_RADIUS_KM if value is None else float(json.loads(str(value)))


def truth_relative_path(day: str) -> str:
    """Path of a day's synthetic truth inside the truth archive (``YYYY/MM/DD/truth_rain_*.nc``)."""
    d = dt.date.fromisoformat(day)
    return f"{d:%Y/%m/%d}/truth_rain_{d:%Y%m%d}.nc"


def read_truth(url: str, storage_options: Mapping[str, Any] | None = None) -> xr.Dataset | None:
    """The synthetic truth at ``url`` loaded into memory; ``None`` when there is none.

    Parameters
    ----------
    url : local path or fsspec URL of the truth file.
    storage_options : fsspec options, secrets already resolved.

    Raises
    ------
    ProductInputError
        The file exists but cannot be read (a corrupt truth is named, never skipped silently).
    """
    fs, path = fsspec.core.url_to_fs(url, **dict(storage_options or {}))
    if not fs.exists(path):
        return None
    data = fs.cat_file(path)
    try:
        with xr.open_dataset(io.BytesIO(data)) as ds:
            return ds.load()
    except Exception as error:
        raise ProductInputError(url, f"unreadable truth: {error}") from error
