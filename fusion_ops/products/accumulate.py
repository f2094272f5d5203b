"""Accumulation of hourly rain rates into daily totals, for grids and for gauges.

One rule serves every source: the daily total is ``24 h x`` the mean rate over the hours the source
observed. With all 24 hours present this is the plain sum of the hourly accumulations; a source
that saw a pixel in only some hours (the spaceborne radar, one overpass a day) gives the classic
sampling estimate of the daily total, whose large error the verification then shows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from fusion_ops.products.errors import ProductInputError

HOURS_PER_DAY = 24
REQUIRED_GAUGE_HOURS = HOURS_PER_DAY
"""Valid hourly reports a gauge needs for a daily total (fewer: NaN). The one home of this number:
the fusion, the verification and the product map all default to it."""


def daily_total_mm(
    hourly_rate_mm_h: np.ndarray, min_hours: int = 1, axis: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Daily total (mm) and number of observed hours from hourly rates (mm/h) along ``axis``.

    Pixels observed in fewer than ``min_hours`` hours are NaN.
    """
    x = np.asarray(hourly_rate_mm_h, dtype=float)
    if x.shape[axis] > HOURS_PER_DAY:
        raise ProductInputError("daily_total_mm", f"{x.shape[axis]} hourly steps in one day")
    n_hours = np.isfinite(x).sum(axis=axis)
    with np.errstate(invalid="ignore"):
        total = HOURS_PER_DAY * np.nansum(x, axis=axis) / np.maximum(n_hours, 1)
    return np.where(n_hours >= max(min_hours, 1), total, np.nan), n_hours


def gauge_daily_totals(
    accumulations: pd.DataFrame,
    day: str,
    station_column: str = "station_id",
    time_column: str = "time",
    amount_column: str = "precip_mm",
    lat_column: str = "lat_deg",
    lon_column: str = "lon_deg",
    required_hours: int = REQUIRED_GAUGE_HOURS,
    coverage_column: str = "coverage",
    min_coverage: float = 0.99,
) -> pd.DataFrame:
    """Daily gauge totals (mm) of one UTC day from hourly accumulations.

    ``time_column`` is the end of each one-hour accumulation interval (UTC); hours ending in
    ``(day 00:00, day+1 00:00]`` belong to ``day``. A station with fewer than ``required_hours``
    valid hours has a NaN total (kept in the table with its hour count, never dropped silently).
    Where the table has a ``coverage_column`` (fraction of the hour covered by usable reports), an
    hour counts as valid only when it is at least ``min_coverage``.

    Returns
    -------
    DataFrame indexed by station with ``lat_deg``, ``lon_deg``, ``daily_mm`` and ``n_hours``.
    """
    missing = {station_column, time_column, amount_column, lat_column, lon_column} - set(
        accumulations.columns
    )
    if missing:
        raise ProductInputError(
            "gauge accumulations", f"missing column(s) {sorted(missing)} for day {day}"
        )
    start = pd.Timestamp(day, tz="UTC")
    times = pd.to_datetime(accumulations[time_column], utc=True)
    in_day = (times > start) & (times <= start + pd.Timedelta(days=1))
    table = accumulations.loc[in_day, [station_column, amount_column, lat_column, lon_column]]
    valid = np.isfinite(table[amount_column].to_numpy(dtype=float))
    if coverage_column in accumulations.columns:
        valid &= accumulations.loc[in_day, coverage_column].to_numpy(dtype=float) >= min_coverage
    table = table.assign(
        **{amount_column: np.where(valid, table[amount_column], np.nan)}, _valid=valid
    )
    grouped = table.groupby(station_column, sort=True)
    out = pd.DataFrame(
        {
            "lat_deg": grouped[lat_column].first(),
            "lon_deg": grouped[lon_column].first(),
            "daily_mm": grouped[amount_column].sum(min_count=1),
            "n_hours": grouped["_valid"].sum().astype(int),
        }
    )
    out.index.name = "station_id"
    out.loc[out["n_hours"] < required_hours, "daily_mm"] = np.nan
    return out
