"""One product day end to end: merge every hour, accumulate, adjust to gauges, verify.

:func:`fuse_day` is what the Dagster assets call; it only strings together the single-purpose
modules (:mod:`merge`, :mod:`accumulate`, :mod:`adjust`, :mod:`verify`) so a notebook gets exactly
the product the pipeline makes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import xarray as xr

from fusion_ops.products import SOURCES
from fusion_ops.products.accumulate import daily_total_mm
from fusion_ops.products.adjust import (
    AdjustConfig,
    AdjustResult,
    adjust_daily,
    apply_daily_factor,
    choose_adjustment,
    withheld_gauges,
)
from fusion_ops.products.errors import ProductInputError
from fusion_ops.products.merge import merge
from fusion_ops.products.verify import GaugeSet, verify_day


@dataclass(frozen=True)
class ScreeningConfig:
    """Gauge screening of the single sources before the merge.

    A source whose daily total at the adjusting gauges is off by more than a factor
    ``max_ratio`` (mean over the gauge pairs) *and* by more than ``min_difference_mm`` is left out
    of the day's merge and named in the product (``rainfuse_screening``): the evaluation-based
    weights assume a working source, and one broken input (a mis-decoded grid, a wrong model)
    would otherwise dominate the product. Needs ``min_gauges`` pairs; the verification still scores
    the excluded source.
    """

    max_ratio: float = 4.0
    min_difference_mm: float = 10.0
    min_gauges: int = 5


def at_gauges(
    field: np.ndarray, lat_deg: np.ndarray, lon_deg: np.ndarray, gauges: pd.DataFrame
) -> np.ndarray:
    """Values of a ``(lat, lon)`` field in the cells of the gauge table's rows (NaN outside)."""
    from fusion_ops.products.verify import nearest_cell_values

    return nearest_cell_values(
        field,
        lat_deg,
        lon_deg,
        gauges["lat_deg"].to_numpy(float),
        gauges["lon_deg"].to_numpy(float),
    )


def screen_sources(
    source_daily_mm: Mapping[str, np.ndarray | None],
    lat_deg: np.ndarray,
    lon_deg: np.ndarray,
    gauges: pd.DataFrame,
    config: ScreeningConfig | None = None,
) -> dict[str, str]:
    """Sources that disagree grossly with the adjusting gauges: ``{source: reason}``."""
    config = config or ScreeningConfig()
    excluded: dict[str, str] = {}
    if gauges is None or gauges.empty:
        return excluded
    g = gauges["daily_mm"].to_numpy(float)
    for name, estimate in source_daily_mm.items():
        if estimate is None:
            continue
        at = at_gauges(estimate, lat_deg, lon_deg, gauges)
        ok = np.isfinite(at) & np.isfinite(g)
        if ok.sum() < config.min_gauges:
            continue
        mean_src, mean_g = float(at[ok].mean()), float(g[ok].mean())
        ratio = (mean_src + 0.1) / (mean_g + 0.1)  # 0.1 mm keeps a dry day finite
        off = ratio > config.max_ratio or ratio < 1.0 / config.max_ratio
        if off and abs(mean_src - mean_g) > config.min_difference_mm:
            excluded[name] = (
                f"mean daily total {mean_src:.1f} mm at {int(ok.sum())} gauges that measured "
                f"{mean_g:.1f} mm"
            )
    return excluded


def _rmse_at_gauges(
    daily_mm: np.ndarray, lat_deg: np.ndarray, lon_deg: np.ndarray, gauges: pd.DataFrame
) -> tuple[float, int]:
    at = at_gauges(daily_mm, lat_deg, lon_deg, gauges)
    g = gauges["daily_mm"].to_numpy(float)
    ok = np.isfinite(at) & np.isfinite(g)
    if not ok.any():
        return float("nan"), 0
    return float(np.sqrt(np.mean((at[ok] - g[ok]) ** 2))), int(ok.sum())


def drop_sources_that_hurt(
    sources_mm_h: Mapping[str, np.ndarray | None],
    error_std_mm_h: Mapping[str, np.ndarray | float],
    lat_deg: np.ndarray,
    lon_deg: np.ndarray,
    gauges: pd.DataFrame,
    min_gauges: int = 10,
) -> dict[str, str]:
    """Sources whose inclusion makes the merged daily total worse at the adjusting gauges.

    The inverse-variance weights assume unbiased, independent errors; a source whose errors
    are conditional (a satellite's false alarms under cold anvils, a fallback model on a bad day)
    can still pull the merge away from the ground truth. Backward selection on the adjusting
    gauges (never the withheld ones): while leaving one source out lowers the RMSE of the merged
    daily total at the gauges, leave out the one whose absence helps most. At least one source
    always stays. Returns ``{source: reason}``.
    """
    dropped: dict[str, str] = {}
    if gauges is None or len(gauges) < min_gauges:
        return dropped
    active = {k: v for k, v in sources_mm_h.items() if v is not None}

    def score(names: list[str]) -> tuple[float, int]:
        merged = merge({k: active[k] for k in names}, error_std_mm_h)
        return _rmse_at_gauges(daily_total_mm(merged.rain_mm_h)[0], lat_deg, lon_deg, gauges)

    current, n = score(list(active))
    if n < min_gauges:
        return dropped
    while len(active) > 1:
        trials = {k: score([o for o in active if o != k])[0] for k in active}
        name = min(trials, key=lambda k: trials[k])
        if not trials[name] < current:
            break
        dropped[name] = (
            f"merged daily RMSE at {n} adjusting gauges {current:.2f} mm with it, "
            f"{trials[name]:.2f} mm without"
        )
        current = trials[name]
        del active[name]
    return dropped


FULL_DAY_SOURCES = ("gr", "sat")
"""Sources that observe every hour: their daily error at the gauges is a fair measure of skill."""


def gauge_scaled_error_std(
    source_daily_mm: Mapping[str, np.ndarray | None],
    error_std_mm_h: Mapping[str, np.ndarray | float],
    lat_deg: np.ndarray,
    lon_deg: np.ndarray,
    gauges: pd.DataFrame,
    min_gauges: int = 10,
    gr_range_km: np.ndarray | None = None,
    range_bin_km: float = 25.0,
) -> tuple[dict[str, np.ndarray | float], dict[str, str]]:
    """Rescale the evaluated error of the full-day sources to their daily error at the gauges.

    The chain's hourly RMSEs treat hours as independent, but a source's errors persist through a
    day (a satellite's false alarms under a cold anvil, a radar's range bias), so the daily
    error ratio between sources can be far larger than the hourly one and the hourly weights
    would let a poor source contaminate the product. For ``gr`` and ``sat`` the day's mean squared
    error at the *adjusting* gauges (never the withheld ones) sets the level, as an hourly
    equivalent ``sqrt(MSE_day / 24)``, and the evaluated error keeps its spatial shape (the GR
    range dependence) normalised to 1 at the gauges. Given ``gr_range_km`` (the range of every
    cell from the radar), the GR error's range dependence is itself refitted from the day's
    gauges (:meth:`RangeErrorModel.fitted` over ``range_bin_km`` bins): on a day of shallow rain
    the radar misses at long range, which the chain's evaluation of earlier days cannot know.
    With fewer than ``min_gauges`` pairs the evaluated error is kept. Returns the error fields
    and where each came from.
    """
    from fusion_ops.products.merge import RangeErrorModel

    out: dict[str, np.ndarray | float] = dict(error_std_mm_h)
    origin: dict[str, str] = {name: "evaluation" for name in error_std_mm_h}
    if gauges is None or gauges.empty:
        return out, origin
    g = gauges["daily_mm"].to_numpy(float)
    for name in FULL_DAY_SOURCES:
        estimate = source_daily_mm.get(name)
        if estimate is None or name not in error_std_mm_h:
            continue
        at = at_gauges(estimate, lat_deg, lon_deg, gauges)
        shape_field = np.broadcast_to(np.asarray(error_std_mm_h[name], float), np.shape(estimate))
        shape_at = at_gauges(shape_field, lat_deg, lon_deg, gauges)
        ok = np.isfinite(at) & np.isfinite(g) & np.isfinite(shape_at)
        if ok.sum() < min_gauges:
            continue
        mse_day = float(np.mean((at[ok] - g[ok]) ** 2))
        if name == "gr" and gr_range_km is not None:
            r_at = at_gauges(gr_range_km, lat_deg, lon_deg, gauges)[ok]
            sq = (at[ok] - g[ok]) ** 2 / 24.0  # hourly-equivalent squared error (mm/h)^2
            bins = np.floor(r_at / range_bin_km).astype(int)
            centres, rmse, counts = [], [], []
            for b in np.unique(bins):
                sel = bins == b
                if sel.sum() >= 5:
                    centres.append((b + 0.5) * range_bin_km)
                    rmse.append(float(np.sqrt(sq[sel].mean())))
                    counts.append(int(sel.sum()))
            if len(centres) >= 2:
                model = RangeErrorModel.fitted(centres, rmse, counts, floor_mm_h=1e-3)
                fitted = model.std_mm_h(np.asarray(gr_range_km, float))
                out[name] = np.where(np.isfinite(shape_field), fitted, np.nan)
                origin[name] = (
                    f"daily RMSE {np.sqrt(mse_day):.2f} mm at {int(ok.sum())} adjusting gauges, "
                    f"range dependence fitted in {len(centres)} bins"
                )
                continue
        level = max(np.sqrt(mse_day / 24.0), 1e-3)  # hourly equivalent (mm/h)
        out[name] = level * shape_field / float(np.mean(shape_at[ok]))
        origin[name] = f"daily RMSE {np.sqrt(mse_day):.2f} mm at {int(ok.sum())} adjusting gauges"
    return out, origin


@dataclass
class FusedDay:
    """Everything one day of fusion produces, on the product grid.

    Hourly arrays are ``(24, lat, lon)``; daily arrays ``(lat, lon)``. ``source_daily_mm`` holds the
    single-source daily estimates (``None`` when a source is absent that day) for verification.
    ``withheld`` is aligned with the rows of the gauge table that was given.
    """

    day: str
    lat_deg: np.ndarray
    lon_deg: np.ndarray
    hourly_mm_h: np.ndarray
    hourly_std_mm_h: np.ndarray
    hourly_flag: np.ndarray
    daily_mm: np.ndarray
    daily_std_mm: np.ndarray
    daily_flag: np.ndarray
    hours_observed: np.ndarray
    merged_daily_mm: np.ndarray
    adjust_factor: np.ndarray
    adjusted: bool
    n_adjusting_gauges: int
    withheld: np.ndarray
    source_daily_mm: dict[str, np.ndarray | None] = field(default_factory=dict)
    excluded: dict[str, str] = field(default_factory=dict)
    error_origin: dict[str, str] = field(default_factory=dict)
    adjustment_method: str = ""
    adjustment_cv_rmse_mm: dict[str, float] = field(default_factory=dict)


def _check_source(name: str, values: np.ndarray | None, shape: tuple[int, ...]) -> None:
    if values is None:
        return
    if np.shape(values) != shape:
        raise ProductInputError(
            f"{name} hourly rain", f"shape {np.shape(values)} differs from the product {shape}"
        )
    finite = np.asarray(values)[np.isfinite(values)]
    if finite.size and finite.min() < 0:
        raise ProductInputError(f"{name} hourly rain", f"negative rain rate {finite.min():.3f}")


def fuse_day(
    day: str,
    lat_deg: np.ndarray,
    lon_deg: np.ndarray,
    sources_mm_h: Mapping[str, np.ndarray | None],
    error_std_mm_h: Mapping[str, np.ndarray | float],
    gauges: pd.DataFrame | None,
    withheld_fraction: float = 0.2,
    adjust_config: AdjustConfig | None = None,
    screening: ScreeningConfig | None = None,
    scale_errors_by_gauges: bool = True,
    select_sources: bool = True,
    gr_range_km: np.ndarray | None = None,
) -> FusedDay:
    """Merge, accumulate and gauge-adjust one UTC day.

    Parameters
    ----------
    day : ISO date of the UTC day.
    lat_deg, lon_deg : 1-D product grid.
    sources_mm_h : ``gr``/``sr``/``sat`` -> ``(24, lat, lon)`` hourly rain (mm/h), NaN where the
        source has no estimate; ``None`` when the source is absent all day.
    error_std_mm_h : per-source hourly error standard deviation (see :func:`merge.merge`).
    gauges : daily gauge totals indexed by station id with ``lat_deg``, ``lon_deg``, ``daily_mm``
        (NaN for an incomplete day); ``None`` or empty: no adjustment.
    withheld_fraction : share of gauges kept out of the adjustment for verification.
    adjust_config : wradlib adjustment parameters.
    screening : gauge screening of the sources (:func:`screen_sources`).
    scale_errors_by_gauges : set the error level of the full-day sources from their daily error
        at the adjusting gauges (:func:`gauge_scaled_error_std`).
    select_sources : leave out sources that make the merge worse at the adjusting gauges
        (:func:`drop_sources_that_hurt`); they are named in ``excluded``.
    gr_range_km : ``(lat, lon)`` range from the ground radar; lets the day's gauges set the GR
        error's range dependence (see :func:`gauge_scaled_error_std`).
    """
    lat = np.asarray(lat_deg, float)
    lon = np.asarray(lon_deg, float)
    shape = (24, lat.size, lon.size)
    for name, values in sources_mm_h.items():
        _check_source(name, values, shape)
    if all(v is None for v in sources_mm_h.values()):
        raise ProductInputError(day, "no source has any rain estimate this day")
    source_daily: dict[str, np.ndarray | None] = {}
    for name in SOURCES:
        values = sources_mm_h.get(name)
        daily_src = None if values is None else daily_total_mm(values)[0]
        source_daily[name] = (
            daily_src if daily_src is not None and np.isfinite(daily_src).any() else None
        )

    if gauges is None or gauges.empty:
        gauges = pd.DataFrame({"lat_deg": [], "lon_deg": [], "daily_mm": []})
    withheld = withheld_gauges(list(gauges.index.astype(str)), day, withheld_fraction)
    adjusting = gauges.loc[~withheld]
    excluded = screen_sources(source_daily, lat, lon, adjusting, screening)
    usable = {k: (None if k in excluded else v) for k, v in sources_mm_h.items()}
    if all(v is None for v in usable.values()):
        # Every source disagrees with the gauges: merge them all rather than make nothing.
        excluded = {k: f"{v} (kept: every source failed screening)" for k, v in excluded.items()}
        usable = dict(sources_mm_h)
    if scale_errors_by_gauges:
        error_std_mm_h, error_origin = gauge_scaled_error_std(
            {k: (None if usable.get(k) is None else v) for k, v in source_daily.items()},
            error_std_mm_h,
            lat,
            lon,
            adjusting,
            gr_range_km=gr_range_km,
        )
    else:
        error_origin = {name: "evaluation" for name in error_std_mm_h}
    if select_sources:
        hurt = drop_sources_that_hurt(usable, error_std_mm_h, lat, lon, adjusting)
        excluded.update(hurt)
        usable = {k: (None if k in hurt else v) for k, v in usable.items()}
    merged = merge(usable, error_std_mm_h)
    merged_daily, n_hours = daily_total_mm(merged.rain_mm_h)
    gauge_args = (
        adjusting["lat_deg"].to_numpy(float),
        adjusting["lon_deg"].to_numpy(float),
        adjusting["daily_mm"].to_numpy(float),
    )
    merged_daily = np.where(np.isfinite(merged_daily), merged_daily, np.nan)
    adjust_config = adjust_config or AdjustConfig()
    choice = None
    if adjust_config.method == "auto":
        choice = choose_adjustment(merged_daily, lat, lon, *gauge_args, base=adjust_config)
        adjust_config = choice.config
    if adjust_config is None:
        result = AdjustResult(
            merged_daily.copy(), np.ones_like(merged_daily), len(adjusting), False
        )
    else:
        result = adjust_daily(merged_daily, lat, lon, *gauge_args, adjust_config)
    hourly = apply_daily_factor(merged.rain_mm_h, result.factor)
    hourly_std = apply_daily_factor(merged.std_mm_h, result.factor)
    daily, _ = daily_total_mm(hourly)
    # Hourly errors taken as independent: the daily variance is the sum of hourly variances (mm^2).
    daily_std = np.sqrt(np.nansum(hourly_std**2, axis=0))
    daily_std = np.where(n_hours > 0, daily_std, np.nan)
    daily_flag = np.bitwise_or.reduce(merged.source_flag, axis=0)
    return FusedDay(
        day=day,
        lat_deg=lat,
        lon_deg=lon,
        hourly_mm_h=hourly,
        hourly_std_mm_h=hourly_std,
        hourly_flag=merged.source_flag,
        daily_mm=daily,
        daily_std_mm=daily_std,
        daily_flag=daily_flag,
        hours_observed=n_hours,
        merged_daily_mm=merged_daily,
        adjust_factor=result.factor,
        adjusted=result.applied,
        n_adjusting_gauges=result.n_gauges,
        withheld=withheld,
        source_daily_mm=source_daily,
        excluded=excluded,
        error_origin=error_origin,
        adjustment_method="none" if adjust_config is None else adjust_config.method,
        adjustment_cv_rmse_mm={} if choice is None else choice.cv_rmse_mm,
    )


def verify_fused_day(
    fused: FusedDay,
    gauges: pd.DataFrame | None,
    truth_daily_mm: np.ndarray | None,
    threshold_mm: float = 1.0,
) -> dict[str, dict[str, dict[str, float | int | None]] | None]:
    """Scores of the fused product and every single source against withheld gauges and truth."""
    withheld_set = None
    if gauges is not None and not gauges.empty and fused.withheld.any():
        kept = gauges.loc[fused.withheld]
        withheld_set = GaugeSet(
            kept["lat_deg"].to_numpy(float),
            kept["lon_deg"].to_numpy(float),
            kept["daily_mm"].to_numpy(float),
        )
    estimates = {"fused": fused.daily_mm, **fused.source_daily_mm}
    return verify_day(
        estimates, fused.lat_deg, fused.lon_deg, withheld_set, truth_daily_mm, threshold_mm
    )


def daily_dataset_from_hourly(hourly: xr.Dataset) -> xr.Dataset:
    """The daily product of an hourly product dataset (sum, root-sum-square std, OR of flags).

    Provenance attributes are carried over, so both files of a day say what they were made from.
    """
    from fusion_ops.products.writers import Provenance, daily_product_dataset

    rate = hourly["rainfall_rate"].transpose("time", "lat", "lon").values.astype(float)
    std = hourly["rainfall_rate_stddev"].transpose("time", "lat", "lon").values.astype(float)
    flag = hourly["source_flag"].transpose("time", "lat", "lon").values
    daily, n_hours = daily_total_mm(rate)
    daily_std = np.where(n_hours > 0, np.sqrt(np.nansum(std**2, axis=0)), np.nan)
    provenance = Provenance(
        model_versions=json.loads(hourly.attrs.get("model_versions", "{}")),
        input_files=json.loads(hourly.attrs.get("input_files", "[]")),
        software_version=str(hourly.attrs.get("software_version", "")),
        configuration_hash=str(hourly.attrs.get("configuration_hash", "")),
        extra={
            k: v
            for k, v in hourly.attrs.items()
            if k.startswith("rainfuse_") and isinstance(v, str)
        },
    )
    return daily_product_dataset(
        str(hourly.attrs["product_day"]),
        hourly["lat"].values,
        hourly["lon"].values,
        daily,
        daily_std,
        np.bitwise_or.reduce(flag, axis=0),
        n_hours,
        provenance,
    )
