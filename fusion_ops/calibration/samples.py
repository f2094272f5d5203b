"""Training samples of the calibration chain: matching each target with its inputs.

* MLP-1 (:func:`mlp1_samples`): GR profiles above a gauge, one row per radar volume, each row
  carrying the gauge accumulation of the interval that contains the volume's start time
  (``interval_start <= t < interval_end``: a volume stamped t samples ``[t, t + 5 min)``, the
  same hours as ``gr_rain_hourly``). The rows of one (station, interval) form a training
  group whose mean predicted rate is compared with the gauge (accumulation / duration).
* MLP-2 (:func:`mlp2_samples`): SR footprints with their profiles, and the GR rain rate averaged
  over the footprint (grid cells within :data:`FOOTPRINT_RADIUS_KM` of its centre) and over the
  GR volumes within +-:data:`SR_GR_MAX_DT_S` of the footprint time.
* MLP-3 (:func:`mlp3_samples`): ABI features in a product-grid cell and hour, with the hourly
  GR rain in that cell, inside GR coverage.

Held-out gauges (:func:`is_heldout_station`) never enter MLP-1 training: a fixed, hash-based
fraction of station ids, the same on every day, so their scores are honest out-of-sample numbers.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import xarray as xr
from scipy.spatial import cKDTree

from fusion_ops.calibration.features import (
    MAX_GR_RANGE_KM,
    PROFILE_HEIGHTS_M,
    SR_TYPE_CODES,
    beam_height_km,
    correct_gr_features,
    level_names,
)

HELDOUT_FRACTION = 0.25
FOOTPRINT_RADIUS_KM = 2.5
SR_GR_MAX_DT_S = 300.0
#: An interval needs this fraction of its expected radar volumes to be a fair match.
MIN_VOLUME_COVERAGE = 0.6
EARTH_RADIUS_KM = 6371.0

#: Gauge accumulations: the ingest hourly table (``station_id, time_end, precip_mm[, coverage,
#: qc_flags, period_s]``) or the native one (``time_start, time_end``) or explicit bounds.
GAUGE_COLUMNS = ("station_id", "time_end", "precip_mm")
#: An hourly gauge value needs this fraction of its hour covered by usable reports.
MIN_GAUGE_COVERAGE = 0.9
PROFILE_COLUMNS = ("station_id", "time", "height_m", "reflectivity_dbz", "gauge_range_m")


class SampleInputError(ValueError):
    """An input table lacks a column the matching needs (the message names table and column)."""


def _require(df: pd.DataFrame, columns, what: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise SampleInputError(f"{what}: missing column(s) {missing}; has {list(df.columns)}")


def is_heldout_station(station_id, fraction: float = HELDOUT_FRACTION) -> np.ndarray:
    """True for the stations reserved for evaluation (stable hash of the id, same every day)."""
    ids = np.atleast_1d(np.asarray(station_id, dtype=str))
    scores = np.array(
        [int(hashlib.sha256(f"rainfuse-heldout:{s}".encode()).hexdigest()[:8], 16) for s in ids]
    )
    return scores / 0xFFFFFFFF < fraction


def _utc(values) -> pd.Series:
    return pd.to_datetime(pd.Series(values), utc=True)


def _utc_ns(times: pd.Series) -> np.ndarray:
    """UTC times as naive ``datetime64[ns]`` (fast comparisons; no Timestamp objects)."""
    return _utc(times).dt.tz_convert("UTC").dt.tz_localize(None).to_numpy(dtype="datetime64[ns]")


def profiles_wide(profiles: pd.DataFrame) -> pd.DataFrame:
    """Long GR profiles (one row per station, time, height) -> one row per station and volume.

    Columns: ``station_id, time, range_km, beam_height_km`` and the MLP-1 level features
    ``dbz_h*``, ``zdr_h*``, ``kdp_h*`` (NaN where the level had no valid gate).
    """
    _require(profiles, PROFILE_COLUMNS, "GR gauge profiles")
    df = profiles.copy()
    # .array, not .to_numpy(): a tz-aware column to NumPy is an object array of Timestamps
    # (seconds for a day's profiles), and positional like it
    df["time"] = _utc(df["time"]).array
    df["height_m"] = df["height_m"].round().astype(int)
    df = df[df["height_m"].isin(PROFILE_HEIGHTS_M)]
    parts = []
    for src, prefix in (("reflectivity_dbz", "dbz"), ("zdr_db", "zdr"), ("kdp_deg_km", "kdp")):
        if src not in df.columns:
            continue
        wide = df.pivot_table(
            index=["station_id", "time"],
            columns="height_m",
            values=src,
            aggfunc="mean",
            dropna=False,
        )
        wide = wide.reindex(columns=list(PROFILE_HEIGHTS_M))
        wide.columns = level_names(prefix)
        parts.append(wide)
    out = pd.concat(parts, axis=1)
    rng = df.groupby(["station_id", "time"])["gauge_range_m"].first() / 1000.0
    out["range_km"] = rng
    out["beam_height_km"] = beam_height_km(out["range_km"].to_numpy())
    return out.reset_index()


def normalise_gauges(gauges: pd.DataFrame) -> pd.DataFrame:
    """Gauge accumulations with UTC interval bounds, a rate and a ``qc_ok`` flag.

    Input: ``station_id, time_end, precip_mm`` and optionally ``time_start`` (else ``time_end``
    minus ``period_s``, else one hour), ``qc_flags`` (0 = passed every check; rows stay, flagged)
    or ``qc_ok``, and ``coverage`` (fraction of the hour with usable reports). Output adds
    ``interval_start, interval_end, duration_h, gauge_rate_mm_h, qc_ok``.
    """
    _require(gauges, GAUGE_COLUMNS, "gauge accumulations")
    g = gauges.copy()
    g["interval_end"] = _utc(g["time_end"]).array
    if "time_start" in g.columns:
        g["interval_start"] = _utc(g["time_start"]).array
    else:
        period = g["period_s"] if "period_s" in g.columns else 3600.0
        g["interval_start"] = g["interval_end"] - pd.to_timedelta(period, unit="s")
    g["duration_h"] = (g["interval_end"] - g["interval_start"]).dt.total_seconds() / 3600.0
    if (g["duration_h"] <= 0).any():
        bad = g.loc[g["duration_h"] <= 0, "station_id"].iloc[0]
        raise SampleInputError(f"gauge accumulations: time_end <= time_start at station {bad}")
    g["gauge_rate_mm_h"] = g["precip_mm"] / g["duration_h"]
    ok = pd.Series(True, index=g.index)
    if "qc_ok" in g.columns:
        ok &= g["qc_ok"].astype(bool)
    if "qc_flags" in g.columns:
        ok &= g["qc_flags"].fillna(1).astype(int) == 0
    if "coverage" in g.columns:
        ok &= g["coverage"].fillna(0) >= MIN_GAUGE_COVERAGE
    g["qc_ok"] = ok & g["precip_mm"].notna() & (g["precip_mm"] >= 0)
    return g


def mlp1_samples(
    profiles: pd.DataFrame,
    gauges: pd.DataFrame,
    volume_interval_s: float | None = None,
    min_coverage: float = MIN_VOLUME_COVERAGE,
) -> pd.DataFrame:
    """Gauge/GR pairs matched to the gauge accumulation interval.

    Parameters
    ----------
    profiles : long GR profiles above gauges (ingest schema: ``station_id, time, height_m,
        reflectivity_dbz, zdr_db, kdp_deg_km, gauge_range_m``).
    gauges : accumulations (see :func:`normalise_gauges`).
    volume_interval_s : nominal time between volumes (to judge the coverage of an interval);
        by default the median spacing of the day's volume times.
    min_coverage : fraction of the expected volumes an interval needs.

    Returns
    -------
    pandas.DataFrame
        One row per (station, volume) inside a QC-good, well-covered interval: ``station_id,
        time, interval_start, interval_end, group, gauge_rate_mm_h, heldout`` + MLP-1 features.
    """
    wide = profiles_wide(profiles)
    if volume_interval_s is None:
        volume_interval_s = median_volume_interval_s(wide["time"])
    g = normalise_gauges(gauges)
    g = g[g["qc_ok"]]
    rows = []
    for sid, gw in wide.groupby("station_id", sort=False):
        gs = g[g["station_id"] == sid].sort_values("interval_end")
        if gs.empty:
            continue
        t = _utc_ns(gw["time"])
        ends = _utc_ns(gs["interval_end"])
        k = np.searchsorted(ends, t, side="right")  # first interval whose end > t
        ok = k < len(gs)
        k = np.where(ok, k, 0)
        starts = _utc_ns(gs["interval_start"])[k]
        ok &= t >= starts
        if not ok.any():
            continue
        sel = gw[ok].copy()
        matched = gs.iloc[k[ok]]
        sel["interval_start"] = matched["interval_start"].array
        sel["interval_end"] = matched["interval_end"].array
        sel["gauge_rate_mm_h"] = matched["gauge_rate_mm_h"].to_numpy()
        sel["duration_h"] = matched["duration_h"].to_numpy()
        rows.append(sel)
    if not rows:
        return empty_mlp1_samples()
    out = pd.concat(rows, ignore_index=True)
    out["group"] = out["station_id"].astype(str) + "|" + out["interval_end"].astype(str)
    counts = out.groupby("group")["time"].transform("size")
    expected = out["duration_h"] * 3600.0 / volume_interval_s
    out = out[counts >= np.floor(min_coverage * expected)].copy()
    out["heldout"] = is_heldout_station(out["station_id"].to_numpy())
    return out.drop(columns=["duration_h"]).reset_index(drop=True)


def correction_summary(corrections: dict | None) -> dict:
    """What a day's GR calibration corrections apply, as plain values.

    Parameters
    ----------
    corrections : :func:`fusion_ops.calibration.monitoring.corrections_to_apply` of the day
        (``reflectivity_db``, ``zdr_db`` and what each rests on), or ``None``.

    Returns
    -------
    dict
        ``z_correction_db`` and ``zdr_correction_db`` (0.0: none) and, for an applied one, its
        ``*_source_date`` (the day it was estimated) and ``*_n`` (its samples).
    """
    corrections = corrections or {}
    summary: dict = {}
    for key, name in (("z", "reflectivity"), ("zdr", "zdr")):
        summary[f"{key}_correction_db"] = float(corrections.get(f"{name}_db") or 0.0)
        info = corrections.get(name) or {}
        if info.get("applied"):
            summary[f"{key}_correction_source_date"] = str(info.get("source_date"))
            summary[f"{key}_correction_n"] = int(info.get("n") or 0)
    return summary


def correct_mlp1_samples(
    samples: pd.DataFrame, corrections: dict | None
) -> tuple[pd.DataFrame, dict]:
    """MLP-1 samples with the day's GR calibration corrections removed from their reflectivity
    and ZDR features (:func:`fusion_ops.calibration.features.correct_gr_features`).

    Returns
    -------
    (samples, summary)
        The samples (the same table when nothing applies) and :func:`correction_summary`.
    """
    summary = correction_summary(corrections)
    out = correct_gr_features(samples, summary["z_correction_db"], summary["zdr_correction_db"])
    return out, summary


def median_volume_interval_s(times) -> float:
    """Median spacing of the distinct volume times (s); 300 s when fewer than two volumes."""
    t = np.unique(pd.to_datetime(pd.Series(times), utc=True).to_numpy())
    if t.size < 2:
        return 300.0
    return float(np.median(np.diff(t) / np.timedelta64(1, "s")))


def empty_mlp1_samples() -> pd.DataFrame:
    """An MLP-1 sample table without rows (all columns float64): a day without pairs."""
    cols = [
        "station_id",
        "time",
        "interval_start",
        "interval_end",
        "group",
        "gauge_rate_mm_h",
        "heldout",
        *level_names("dbz"),
        *level_names("zdr"),
        *level_names("kdp"),
        "range_km",
        "beam_height_km",
    ]
    return pd.DataFrame({c: pd.Series(dtype="float64") for c in cols})


def group_targets(samples: pd.DataFrame, target: str) -> tuple[np.ndarray, np.ndarray]:
    """``(group label per row, target per unique group)`` in ``np.unique`` order."""
    codes, first = np.unique(samples["group"].to_numpy(), return_index=True)
    return samples["group"].to_numpy(), samples[target].to_numpy()[first]


# --------------------------------------------------------------------------- MLP-2


def local_xy_km(lat, lon, lat0: float, lon0: float) -> np.ndarray:
    """Equirectangular km around (lat0, lon0): accurate to < 0.1 % over a radar domain."""
    lat = np.asarray(lat, dtype=np.float64)
    lon = np.asarray(lon, dtype=np.float64)
    x = np.deg2rad(lon - lon0) * EARTH_RADIUS_KM * np.cos(np.deg2rad(lat0))
    y = np.deg2rad(lat - lat0) * EARTH_RADIUS_KM
    return np.column_stack([x, y])


def footprint_average(
    rain: np.ndarray,
    lat: np.ndarray,
    lon: np.ndarray,
    fp_lat: np.ndarray,
    fp_lon: np.ndarray,
    radius_km: float = FOOTPRINT_RADIUS_KM,
    min_fraction: float = 0.5,
) -> np.ndarray:
    """Mean of a gridded field ``rain (..., nlat, nlon)`` over the cells within ``radius_km``.

    Leading dimensions (for example volumes) are averaged too. NaN cells are skipped; a footprint
    with fewer than ``min_fraction`` of its cells valid gets NaN.
    """
    lat0, lon0 = float(np.mean(lat)), float(np.mean(lon))
    glat, glon = np.meshgrid(lat, lon, indexing="ij")
    tree = cKDTree(local_xy_km(glat.ravel(), glon.ravel(), lat0, lon0))
    flat = np.asarray(rain, dtype=np.float64).reshape(-1, glat.size)
    out = np.full(len(fp_lat), np.nan)
    members = tree.query_ball_point(local_xy_km(fp_lat, fp_lon, lat0, lon0), radius_km)
    for i, cells in enumerate(members):
        if not cells:
            continue
        vals = flat[:, cells]
        if np.isfinite(vals).mean() >= min_fraction:
            out[i] = np.nanmean(vals)
    return out


SR_COLUMNS = ("time", "lat", "lon", "precip_rate_near_surface_mm_h")


def mlp2_samples(footprints: pd.DataFrame, gr_rain: xr.Dataset) -> pd.DataFrame:
    """SR footprint / GR rain pairs (GR averaged over the footprint and +-5 min).

    Parameters
    ----------
    footprints : SR footprints in the domain (``time, lat, lon, precip_rate_near_surface_mm_h``,
        ``zku_h*`` levels, ``precip_type`` (1 stratiform, 2 convective, 3 other),
        ``bright_band_height_m``, ``clutter_free_bottom_m``, ``local_zenith_deg``).
    gr_rain : GR rain per volume on the product grid, variable ``rain_rate`` (time, lat, lon).

    Returns
    -------
    pandas.DataFrame
        The footprints that have a GR match, with MLP-2 features and ``gr_rain_mm_h``.
    """
    _require(footprints, SR_COLUMNS, "SR footprints")
    fp = sr_feature_table(footprints)
    if fp.empty or gr_rain.sizes.get("time", 0) == 0:
        return fp.assign(gr_rain_mm_h=pd.Series(dtype="float64")).iloc[0:0]
    vt = pd.to_datetime(gr_rain["time"].to_numpy(), utc=True).tz_localize(None).to_numpy()
    fp_t = _utc(fp["time"]).dt.tz_localize(None).to_numpy(dtype="datetime64[ns]")
    target = np.full(len(fp), np.nan)
    # footprints of one overpass share a few volumes: group by the set of matching volumes
    dt_s = np.abs((fp_t[:, None] - vt[None, :]) / np.timedelta64(1, "s"))
    within = dt_s <= SR_GR_MAX_DT_S
    keys = [tuple(np.flatnonzero(r)) for r in within]
    for key in set(keys):
        if not key:
            continue
        idx = np.array([i for i, k in enumerate(keys) if k == key])
        field = gr_rain["rain_rate"].isel(time=list(key)).to_numpy()
        target[idx] = footprint_average(
            field,
            gr_rain["lat"].to_numpy(),
            gr_rain["lon"].to_numpy(),
            fp["lat"].to_numpy()[idx],
            fp["lon"].to_numpy()[idx],
        )
    fp["gr_rain_mm_h"] = target
    return fp[np.isfinite(target)].reset_index(drop=True)


def sr_feature_table(footprints: pd.DataFrame) -> pd.DataFrame:
    """Add the MLP-2 derived features (type one-hot, heights in km) to a footprint table."""
    fp = footprints.copy()
    ptype = fp.get("precip_type", pd.Series(np.nan, index=fp.index)).to_numpy()
    for code, name in SR_TYPE_CODES.items():
        fp[f"type_{name}"] = (ptype == code).astype(np.float32)
    fp["bright_band_height_km"] = fp.get("bright_band_height_m", np.nan) / 1000.0
    fp["clutter_free_bottom_km"] = fp.get("clutter_free_bottom_m", np.nan) / 1000.0
    if "local_zenith_deg" not in fp.columns:
        fp["local_zenith_deg"] = np.nan
    return fp


# --------------------------------------------------------------------------- MLP-3


def gr_coverage_mask(
    lat: np.ndarray,
    lon: np.ndarray,
    site_lat: float,
    site_lon: float,
    max_range_km: float = MAX_GR_RANGE_KM,
) -> np.ndarray:
    """``(nlat, nlon)`` True where a product-grid cell is within GR coverage."""
    glat, glon = np.meshgrid(lat, lon, indexing="ij")
    xy = local_xy_km(glat.ravel(), glon.ravel(), site_lat, site_lon)
    return (np.hypot(xy[:, 0], xy[:, 1]) <= max_range_km).reshape(glat.shape)


def gr_hourly_on_grid(gr_hourly: xr.Dataset, grid: xr.Dataset) -> xr.Dataset:
    """Hourly GR rain on the grid of ``grid`` (e.g. the ABI features, possibly coarser).

    Parameters
    ----------
    gr_hourly : ``rain_rate`` (mm/h, ``time, lat, lon``) and the boolean ``coverage``.
    grid : any dataset with ``lat`` and ``lon`` coordinates (degrees).

    Returns
    -------
    xarray.Dataset
        ``gr_hourly`` itself when the grids agree; else its ``rain_rate`` and ``coverage`` taken
        from the nearest cell (a cell outside ``gr_hourly`` is not covered).
    """
    same = (
        gr_hourly.sizes.get("lat") == grid.sizes.get("lat")
        and np.allclose(gr_hourly["lat"].values, grid["lat"].values)
        and np.allclose(gr_hourly["lon"].values, grid["lon"].values)
    )
    if same:
        return gr_hourly
    rain = gr_hourly["rain_rate"].interp(lat=grid["lat"], lon=grid["lon"], method="nearest")
    cover = (
        gr_hourly["coverage"]
        .astype(float)
        .interp(lat=grid["lat"], lon=grid["lon"], method="nearest")
    )
    return xr.Dataset({"rain_rate": rain, "coverage": cover.fillna(0) > 0.5})


def mlp3_samples(
    abi: xr.Dataset,
    gr_hourly: xr.Dataset,
    feature_names: list[str],
    stride: int = 3,
    seed: int = 0,
    max_pairs: int = 40_000,
) -> pd.DataFrame:
    """ABI pixel / GR hourly rain pairs, in the same hour, inside GR coverage.

    Every raining cell is kept; dry cells are subsampled on a ``stride`` x ``stride`` lattice
    (their count would otherwise swamp the rain). A day is capped at ``max_pairs`` (half raining,
    half dry, drawn reproducibly) so that a 30-day window stays quick to train. ``gr_hourly`` has
    ``rain_rate`` (time, lat, lon) and the boolean ``coverage`` (lat, lon).
    """
    hours = np.intersect1d(abi["time"].to_numpy(), gr_hourly["time"].to_numpy())
    present = [n for n in feature_names if n in abi.data_vars]
    if hours.size == 0 or not present:
        return pd.DataFrame(columns=["time", "lat", "lon", *present, "gr_rain_mm_h"])
    lat = gr_hourly["lat"].to_numpy()
    lon = gr_hourly["lon"].to_numpy()
    cover = gr_hourly["coverage"].to_numpy().astype(bool)
    lattice = np.zeros_like(cover)
    rng = np.random.default_rng(seed)
    oy, ox = rng.integers(0, stride, size=2)
    lattice[oy::stride, ox::stride] = True
    glat, glon = np.meshgrid(lat, lon, indexing="ij")
    parts = []
    for t in hours:
        rain = gr_hourly["rain_rate"].sel(time=t).to_numpy()
        keep = cover & np.isfinite(rain) & ((rain > 0) | lattice)
        frame = {"time": np.repeat(t, keep.sum()), "lat": glat[keep], "lon": glon[keep]}
        a = abi.sel(time=t)
        for n in present:
            frame[n] = a[n].to_numpy()[keep].astype(np.float32)
        frame["gr_rain_mm_h"] = rain[keep].astype(np.float32)
        parts.append(pd.DataFrame(frame))
    out = pd.concat(parts, ignore_index=True)
    out["time"] = pd.to_datetime(out["time"], utc=True)
    if len(out) > max_pairs:
        wet = np.flatnonzero(out["gr_rain_mm_h"].to_numpy() > 0)
        dry = np.flatnonzero(out["gr_rain_mm_h"].to_numpy() <= 0)
        n_wet = min(wet.size, max_pairs // 2)
        n_dry = min(dry.size, max_pairs - n_wet)
        keep = np.sort(
            np.r_[rng.choice(wet, n_wet, replace=False), rng.choice(dry, n_dry, replace=False)]
        )
        out = out.iloc[keep].reset_index(drop=True)
    return out
