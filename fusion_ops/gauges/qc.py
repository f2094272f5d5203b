"""Gauge quality control that FLAGS (never drops) and the hourly accumulation table.

``qc_flags`` is a bit mask (0 = passed every check):

========  =====  =====================================================================
flag      bit    meaning
========  =====  =====================================================================
MISSING   1      no value (fill value / empty)
NEGATIVE  2      negative depth
RANGE     4      rate above the plausible maximum for its interval
SPIKE     8      isolated value far above both neighbours (tipping-bucket glitch)
STUCK     16     the same non-zero value repeated for ``stuck_run`` consecutive reports
DUPLICATE 32     a second report for the same station and end time
ORDER     64     end time earlier than the previous report in the file (out of order)
SOURCE    128    the data provider's own quality flag marks it as bad
          (``source_quality`` 1; ARM QC bits assessed Bad / Incorrect)
SUSPECT   256    the provider calls it suspect (``source_quality`` 2; ARM Indeterminate /
          Suspect): only flagged, like SPIKE and STUCK
========  =====  =====================================================================

The hourly table sums, per station and hour (interval ending at the hour), the reports that end
inside the hour and carry none of :data:`EXCLUDE_FROM_HOURLY`; SPIKE, STUCK and SUSPECT are only
flagged (they may be real) and propagate into the hourly ``qc_flags``.
"""

from __future__ import annotations

import dataclasses
import enum

import numpy as np
import pandas as pd

from fusion_ops.readers.gauges import empty_table


class QCFlag(enum.IntFlag):
    MISSING = 1
    NEGATIVE = 2
    RANGE = 4
    SPIKE = 8
    STUCK = 16
    DUPLICATE = 32
    ORDER = 64
    SOURCE = 128
    SUSPECT = 256


EXCLUDE_FROM_HOURLY = (
    QCFlag.MISSING | QCFlag.NEGATIVE | QCFlag.RANGE | QCFlag.DUPLICATE | QCFlag.SOURCE
)

#: Column name -> dtype of the hourly table, in column order.
HOURLY_DTYPES: dict[str, type | str] = {
    "station_id": str,
    "network": str,
    "time_end": "datetime64[ns, UTC]",
    "precip_mm": "float64",
    "coverage": "float64",
    "n_reports": "int64",
    "qc_flags": "int64",
    "lat": "float64",
    "lon": "float64",
    "elevation_m": "float64",
    "station_name": str,
}
HOURLY_COLUMNS: tuple[str, ...] = tuple(HOURLY_DTYPES)


@dataclasses.dataclass(frozen=True)
class GaugeQCConfig:
    """Thresholds.

    Attributes
    ----------
    max_rate_mm_h : float
        Plausible maximum mean rate over an interval of one hour or less (world records are
        ~300 mm/h over an hour, ~30 mm/min).
    max_rate_1min_mm : float
        Plausible maximum depth in one minute.
    spike_min_mm : float
        Spikes must exceed this depth...
    spike_factor : float
        ...and ``spike_factor`` times the larger neighbour.
    stuck_run : int
        Minimum number of consecutive identical non-zero reports that flag a stuck sensor...
    stuck_min_duration_s : float
        ...when they also last this long (a tipping bucket tipping once a minute for a few
        minutes in steady rain is not stuck).
    """

    max_rate_mm_h: float = 300.0
    max_rate_1min_mm: float = 30.0
    spike_min_mm: float = 5.0
    spike_factor: float = 10.0
    stuck_run: int = 6
    stuck_min_duration_s: float = 6 * 3600.0


def flag_accumulations(native: pd.DataFrame, cfg: GaugeQCConfig | None = None) -> pd.DataFrame:
    """Return ``native`` with a ``qc_flags`` column (rows kept, in file order per station).

    Parameters
    ----------
    native : DataFrame
        The native accumulation table of :mod:`fusion_ops.readers.gauges`.
    """
    cfg = cfg or GaugeQCConfig()
    df = native.copy()
    flags = np.zeros(len(df), dtype=np.int64)
    if df.empty:
        df["qc_flags"] = flags
        return df
    p = df["precip_mm"].to_numpy(dtype=np.float64)
    period_h = np.maximum(df["period_s"].to_numpy(dtype=np.float64), 1.0) / 3600.0
    flags |= np.where(~np.isfinite(p), QCFlag.MISSING, 0)
    with np.errstate(invalid="ignore"):
        flags |= np.where(p < 0, QCFlag.NEGATIVE, 0)
        # rate limit: per hour for sub-daily intervals; long intervals allow 24 h at a lower
        # mean rate (scaled by sqrt of duration, heavy rain does not persist at peak rate)
        limit = np.where(
            period_h <= 1.0,
            np.maximum(cfg.max_rate_mm_h * period_h, cfg.max_rate_1min_mm * period_h * 60.0).clip(
                max=cfg.max_rate_mm_h
            ),
            cfg.max_rate_mm_h * np.sqrt(period_h),
        )
        flags |= np.where(p > limit, QCFlag.RANGE, 0)
    source = df["source_quality"].to_numpy()
    flags |= np.where((source != 0) & (source != 2), QCFlag.SOURCE, 0)
    flags |= np.where(source == 2, QCFlag.SUSPECT, 0)

    # per-station sequence checks, in the order rows appear (file order)
    keys = df["station_id"].astype(str) + "|" + df["network"].astype(str)
    t_end = df["time_end"].to_numpy()
    for _, idx in keys.groupby(keys, sort=False).indices.items():
        idx = np.asarray(idx)
        t = t_end[idx]
        # duplicates: same end time seen before in this station's rows
        dup = pd.Series(t).duplicated(keep="first").to_numpy()
        flags[idx[dup]] |= QCFlag.DUPLICATE
        if idx.size > 1:
            running_max = np.maximum.accumulate(t)
            order = np.zeros(idx.size, dtype=bool)
            order[1:] = t[1:] < running_max[:-1]
            flags[idx[order]] |= QCFlag.ORDER
        # spike/stuck on the time-sorted, de-duplicated series
        srt = idx[np.argsort(t, kind="stable")]
        srt = srt[~pd.Series(t_end[srt]).duplicated().to_numpy()]
        v = p[srt]
        if v.size >= 3:
            prev = np.r_[np.nan, v[:-1]]
            nxt = np.r_[v[1:], np.nan]
            neigh = np.fmax(np.nan_to_num(prev, nan=0.0), np.nan_to_num(nxt, nan=0.0))
            with np.errstate(invalid="ignore"):
                spike = (v > cfg.spike_min_mm) & (v > cfg.spike_factor * np.maximum(neigh, 0.1))
            flags[srt[spike]] |= QCFlag.SPIKE
        per = df["period_s"].to_numpy(dtype=np.float64)[srt]
        if v.size >= cfg.stuck_run:
            same = np.r_[False, (v[1:] == v[:-1]) & (v[1:] > 0)]
            # length of the run of equal values ending at each position
            run_id = np.cumsum(~same)
            run_len = pd.Series(1, index=run_id).groupby(level=0).transform("sum").to_numpy()
            run_dur = pd.Series(per, index=run_id).groupby(level=0).transform("sum").to_numpy()
            stuck = (run_len >= cfg.stuck_run) & (run_dur >= cfg.stuck_min_duration_s)
            flags[srt[stuck]] |= QCFlag.STUCK
    df["qc_flags"] = flags
    return df


def hourly_accumulations(flagged: pd.DataFrame) -> pd.DataFrame:
    """Hourly table from QC'd native reports of one hour or shorter.

    Columns :data:`HOURLY_COLUMNS`; ``coverage`` is the fraction of the hour covered by usable
    reports (1.0 = complete); ``precip_mm`` is NaN where no usable report falls in the hour.
    """
    cols = list(HOURLY_COLUMNS)
    if flagged.empty:
        return empty_table(HOURLY_DTYPES)
    sub = flagged[flagged["period_s"] <= 3600].copy()
    if sub.empty:
        return empty_table(HOURLY_DTYPES)
    sub["hour_end"] = sub["time_end"].dt.ceil("h")
    usable = (sub["qc_flags"].to_numpy() & int(EXCLUDE_FROM_HOURLY)) == 0
    sub["p_ok"] = np.where(usable, sub["precip_mm"], np.nan)
    sub["s_ok"] = np.where(usable, sub["period_s"], 0)
    g = sub.groupby(["station_id", "network", "hour_end"], sort=True)
    out = g.agg(
        precip_mm=("p_ok", lambda s: s.sum(min_count=1)),
        covered_s=("s_ok", "sum"),
        n_reports=("p_ok", "count"),
        qc_flags=("qc_flags", lambda s: int(np.bitwise_or.reduce(s.to_numpy()))),
        lat=("lat", "first"),
        lon=("lon", "first"),
        elevation_m=("elevation_m", "first"),
        station_name=("station_name", "first"),
    ).reset_index()
    out["coverage"] = (out["covered_s"] / 3600.0).clip(upper=1.0)
    out = out.rename(columns={"hour_end": "time_end"})
    out["qc_flags"] = out["qc_flags"].astype("int64")
    out["n_reports"] = out["n_reports"].astype("int64")
    return out[cols]


def station_table(native: pd.DataFrame) -> pd.DataFrame:
    """One row per station: ``station_id, network, lat, lon, elevation_m, station_name``."""
    cols = ["station_id", "network", "lat", "lon", "elevation_m", "station_name"]
    if native.empty:
        return pd.DataFrame(columns=cols)
    return native.groupby(["station_id", "network"], sort=True, as_index=False)[cols[2:]].first()


def daily_totals(flagged: pd.DataFrame) -> pd.DataFrame:
    """Per-station total of usable depth (mm) over the rows given (e.g. one day)."""
    usable = (flagged["qc_flags"].to_numpy() & int(EXCLUDE_FROM_HOURLY)) == 0
    sub = flagged[usable & (flagged["period_s"] <= 86400)]
    return (
        sub.groupby(["station_id", "network"], as_index=False)["precip_mm"]
        .sum(min_count=1)
        .rename(columns={"precip_mm": "total_mm"})
    )
