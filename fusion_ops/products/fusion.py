"""One product day from the upstream values: source cubes, error model, fusion and provenance.

:func:`fuse_hourly_product` is what the ``fused_rain_hourly`` asset runs, with the asset's run
configuration as :class:`FusionSettings`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from fusion_ops.grid import ProductGrid
from fusion_ops.products import SOURCES
from fusion_ops.products.adapters import SOURCE_LABELS, DayInputs, gauge_days, source_cubes
from fusion_ops.products.adjust import AdjustConfig
from fusion_ops.products.errors import ProductInputError
from fusion_ops.products.inputs import SourceErrors, source_errors
from fusion_ops.products.merge import range_from_site_km
from fusion_ops.products.pipeline import FusedDay, ScreeningConfig, fuse_day
from fusion_ops.products.provenance import (
    MODEL_CAPABILITY_ATTR,
    SOURCES_ATTR,
    chain_fallbacks,
    chain_model_versions,
    fusion_provenance,
    model_capabilities,
    product_quality,
    sources_record,
)
from fusion_ops.products.writers import hourly_product_dataset

WET_DAY_MM = 1.0
"""Daily total (mm) above which a pixel counts as wet in the daily product's summary."""


@dataclass(frozen=True)
class FusionSettings:
    """Merging and gauge adjustment settings (the asset's run configuration holds the defaults).

    Attributes
    ----------
    withheld_fraction : share of gauges withheld from the adjustment each day.
    adjust_method : wradlib adjustment (``mixed``, ``multiply``, ``add`` or ``auto``).
    adjust_nnearest : gauges in the IDW interpolation of the adjustment.
    sr_sampling_std_mm_h : hourly sampling error of one SR snapshot (mm/h).
    gr_reference_range_km, gr_growth_per_100km, gr_max_range_km : GR range error model.
    radar_lat_deg, radar_lon_deg : ground radar site (range of the GR error).
    sr_footprint_radius_km : search radius when gridding the SR footprints (km; the usual value
        is :data:`~fusion_ops.products.merge.SR_FOOTPRINT_RADIUS_KM`).
    gauge_required_hours : valid hours a gauge needs for a daily total (the usual value is
        :data:`~fusion_ops.products.accumulate.REQUIRED_GAUGE_HOURS`).
    screening_max_ratio, screening_min_difference_mm : gauge screening of the sources.
    merge_sources : sources merged (all are still verified).
    """

    withheld_fraction: float
    adjust_method: str
    adjust_nnearest: int
    sr_sampling_std_mm_h: float
    gr_reference_range_km: float
    gr_growth_per_100km: float
    gr_max_range_km: float
    radar_lat_deg: float
    radar_lon_deg: float
    sr_footprint_radius_km: float
    gauge_required_hours: int
    screening_max_ratio: float
    screening_min_difference_mm: float
    merge_sources: Sequence[str]


@dataclass(frozen=True)
class HourlyProduct:
    """The fused hourly product of one day and what went into it.

    Attributes
    ----------
    dataset : the CF-1.8 hourly product (the asset value and the file).
    fused : the day's fusion (:func:`fusion_ops.products.pipeline.fuse_day`).
    errors : the evaluation-based error model of the sources.
    gauges : the day's gauge totals (incomplete days included, ``daily_mm`` NaN).
    withheld_ids : station ids withheld from the adjustment, sorted.
    model_versions : model name -> version.
    sources_present : sources with an estimate that day, in :data:`SOURCES` order.
    fallbacks : calibration models that were their fallback, model name -> fallback estimator
        (:func:`~fusion_ops.products.provenance.chain_fallbacks`); empty: all trained.
    """

    dataset: xr.Dataset
    fused: FusedDay
    errors: SourceErrors
    gauges: pd.DataFrame
    withheld_ids: list[str]
    model_versions: dict[str, str]
    sources_present: list[str] = field(default_factory=list)
    fallbacks: dict[str, str] = field(default_factory=dict)


def source_error_std(errors: SourceErrors, gr_range_km: np.ndarray) -> dict[str, Any]:
    """Hourly error standard deviation (mm/h) of each source: GR per pixel, SR and sat scalars."""
    return {
        "gr": errors.gr_model.std_mm_h(gr_range_km),
        "sr": errors.sr_std_mm_h,
        "sat": errors.sat_std_mm_h,
    }


def fuse_sources(
    day: str,
    lat_deg: np.ndarray,
    lon_deg: np.ndarray,
    cubes: Mapping[str, np.ndarray | None],
    evaluation: Mapping[str, Any] | None,
    gauges: pd.DataFrame,
    settings: FusionSettings,
) -> tuple[FusedDay, SourceErrors]:
    """Fuse the source cubes of one day with the evaluation's error model and the settings.

    Parameters
    ----------
    day : ISO date of the UTC day.
    lat_deg, lon_deg : 1-D product grid (cell centres, degrees).
    cubes : ``gr``/``sr``/``sat`` -> ``(24, lat, lon)`` hourly rain (mm/h) or ``None``
        (:func:`~fusion_ops.products.adapters.source_cubes`).
    evaluation : the chain's held-out score record (``{"mlp1": {"rmse": ...}, ...}``).
    gauges : the day's gauge totals (:func:`~fusion_ops.products.adapters.gauge_days`); only
        complete days take part.
    settings : merging and adjustment settings; sources not in ``merge_sources`` are left out.

    Returns
    -------
    fused : FusedDay
        :func:`~fusion_ops.products.pipeline.fuse_day`; ``withheld`` is aligned with the gauges
        that have a daily total.
    errors : SourceErrors
        The evaluation-based error model of the sources.
    """
    s = settings
    errors = source_errors(
        evaluation,
        s.sr_sampling_std_mm_h,
        s.gr_reference_range_km,
        s.gr_growth_per_100km,
        s.gr_max_range_km,
    )
    range_km = range_from_site_km(lat_deg, lon_deg, s.radar_lat_deg, s.radar_lon_deg)
    unknown = set(s.merge_sources) - set(SOURCES)
    if unknown:
        raise ProductInputError(
            "FusionConfig.merge_sources", f"unknown source(s) {sorted(unknown)}"
        )
    fused = fuse_day(
        day,
        lat_deg,
        lon_deg,
        {k: (v if k in s.merge_sources else None) for k, v in cubes.items()},
        source_error_std(errors, range_km),
        gauges.dropna(subset=["daily_mm"]),
        s.withheld_fraction,
        AdjustConfig(method=s.adjust_method, nnearest=s.adjust_nnearest),  # type: ignore[arg-type]
        ScreeningConfig(s.screening_max_ratio, s.screening_min_difference_mm),
        gr_range_km=range_km,
    )
    return fused, errors


def withheld_station_ids(gauges: pd.DataFrame, fused: FusedDay) -> list[str]:
    """Sorted ids of the stations withheld from the adjustment (``gauges`` as in fuse_sources)."""
    complete = gauges.dropna(subset=["daily_mm"])
    return sorted(complete.index[fused.withheld].astype(str))


def fuse_hourly_product(
    day: str,
    grid: ProductGrid,
    inputs: DayInputs,
    evaluation: Mapping[str, Any] | None,
    settings: FusionSettings,
    input_files: Sequence[str],
    config_hash: str,
    labels: Mapping[str, str] = SOURCE_LABELS,
    source_plan: Mapping[str, Any] | None = None,
) -> HourlyProduct:
    """Merge, gauge-adjust and package one UTC day as the hourly product.

    The product's provenance names the model versions and, as its quality flag, whether any
    calibration model was a fallback (:func:`~fusion_ops.products.provenance.chain_fallbacks`
    of the evaluation and the sources: ``rainfuse_quality_flag`` ``cold_start`` or ``ok``).

    Parameters
    ----------
    day : ISO date of the UTC day.
    grid : the product grid.
    inputs : the day's upstream values.
    evaluation : the chain's held-out score record (``{"mlp1": {"rmse": ...}, ...}``).
    settings : merging and adjustment settings.
    input_files : where each upstream value was read from (recorded in the product).
    config_hash : configuration hash recorded in the product.
    labels : ``gr``/``sr``/``sat`` -> the name an input error gives the source.
    source_plan : the era table's plan of the day (:func:`fusion_ops.eras.sources_available`);
        the product records it with what was used (``rainfuse_sources``) and the calibration
        models' input capability (``rainfuse_model_capability``).

    Raises
    ------
    ProductInputError
        An input is off the product grid or malformed, or ``merge_sources`` names an unknown one.
    """
    s = settings
    lat_deg, lon_deg = grid.lat, grid.lon
    cubes = source_cubes(inputs, day, lat_deg, lon_deg, s.sr_footprint_radius_km, labels)
    gauges = gauge_days(inputs.gauge_table, day, s.gauge_required_hours)
    fused, errors = fuse_sources(day, lat_deg, lon_deg, cubes, evaluation, gauges, s)
    sources = (inputs.gr_hourly, inputs.sr_swath, inputs.sat_hourly)
    versions = chain_model_versions(evaluation, *sources)
    fallbacks = chain_fallbacks(evaluation, *sources)
    withheld_ids = withheld_station_ids(gauges, fused)
    present = [name for name in SOURCES if cubes[name] is not None]
    n_gauges = int(gauges["daily_mm"].notna().sum()) if "daily_mm" in gauges else len(gauges)
    sources_used = sources_record(source_plan, present, fused.excluded, n_gauges)
    provenance = fusion_provenance(
        fused,
        errors,
        versions,
        input_files,
        config_hash,
        s.adjust_method,
        withheld_ids,
        s.sr_footprint_radius_km,
        fallbacks,
        sources_used,
        model_capabilities(*sources),
    )
    hourly = (fused.hourly_mm_h, fused.hourly_std_mm_h, fused.hourly_flag)
    dataset = hourly_product_dataset(day, lat_deg, lon_deg, *hourly, provenance)
    return HourlyProduct(dataset, fused, errors, gauges, withheld_ids, versions, present, fallbacks)


def hourly_product_summary(product: HourlyProduct) -> dict[str, Any]:
    """The numbers an hourly product is charted and checked by, as plain values.

    Returns
    -------
    dict
        Sources present and excluded, the domain mean and maximum daily total (mm), the gauge
        counts, the adjustment, the error model's origin and the model versions.
    """
    fused = product.fused
    return {
        "sources_present": product.sources_present,
        "sources_excluded": fused.excluded,
        "domain_mean_mm": float(np.nanmean(fused.daily_mm)),
        "domain_max_mm": float(np.nanmax(fused.daily_mm)),
        "adjusting_gauges": int(fused.n_adjusting_gauges),
        "withheld_gauges": len(product.withheld_ids),
        "gauges_incomplete_day": int(product.gauges["daily_mm"].isna().sum()),
        "adjusted": bool(fused.adjusted),
        "adjust_method": fused.adjustment_method,
        "mean_adjust_factor": float(np.mean(fused.adjust_factor)),
        "error_model_origin": product.errors.origin,
        "weights_from": fused.error_origin,
        "model_versions": product.model_versions,
        "sources": json.loads(product.dataset.attrs.get(SOURCES_ATTR, "{}")),
        "model_capability": json.loads(product.dataset.attrs.get(MODEL_CAPABILITY_ATTR, "{}")),
    }


def quality_summary(product: xr.Dataset) -> dict[str, Any]:
    """``quality_flag`` and ``fallback_models`` a product (hourly or daily) records, as plain
    values for its metadata; empty for a product written before the flag existed."""
    return product_quality(product.attrs) or {}


def daily_product_summary(daily: xr.Dataset, wet_day_mm: float = WET_DAY_MM) -> dict[str, float]:
    """Domain mean daily total (mm) and the fraction of pixels at or above ``wet_day_mm``."""
    total = daily["rainfall_amount"].values
    return {
        "domain_mean_mm": float(np.nanmean(total)),
        "wet_fraction_1mm": float(np.nanmean(total >= wet_day_mm)),
    }
