"""Daily fused rainfall products (group ``products``): thin assets over :mod:`fusion_ops.products`.

One daily partition D:

``fused_rain_hourly``  merge GR (MLP-1), SR (MLP-2) and satellite (MLP-3) rain hour by hour with
                       inverse error variances from the chain's held-out evaluation, adjust to the
                       gauges not withheld that day (wradlib), CF-1.8 Dataset (time, lat, lon)
``fused_rain_daily``   the daily total, its uncertainty and source flags
``rain_product_files`` hourly + daily CF-NetCDF and the daily COG in the product store (atomic)
``product_verification``  scores of the fused product and each single source against the withheld
                       gauges and (synthetic scenario) truth; numbers as metadata, charted per
                       partition, with the day's map and verification scatter as images; the asset
                       check ``fused_product_skill`` fails below thresholds
``rain_product_map``   PNG map of the daily total with the gauges overlaid, in the product store

Upstream contract (asset keys below): hourly grids are xarray Datasets with ``rain_rate``
(time, lat, lon) in mm/h on the product grid (time = start of the hour, or its end when the time
coordinate's ``label`` attribute says ``end`` or a stamp falls on the next midnight); the SR swath is a DataFrame of footprints (``time``, ``lat``,
``lon``, rain-rate column); the evaluation is the chain's score record (``{"mlp1": {"rmse": ...},
...}``); the gauge table is the ingest hourly table (``station_id``, ``time_end``, ``precip_mm``,
``lat``, ``lon``).
"""

import warnings
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetExecutionContext,
    AssetIn,
    AssetKey,
    Config,
    MetadataValue,
    TimeWindowPartitionMapping,
    asset,
    asset_check,
)
from pydantic import Field

from fusion_ops.products import (
    adapters,
    fusion,
    merge,
    plots,
    uncertainty,
    verification_record,
    writers,
)
from fusion_ops.products.accumulate import HOURS_PER_DAY, REQUIRED_GAUGE_HOURS
from fusion_ops.products.merge import SR_FOOTPRINT_RADIUS_KM
from fusion_ops.products.pipeline import daily_dataset_from_hourly
from fusion_ops.products.provenance import configuration_hash
from fusion_ops.products.verify import DEFAULT_THRESHOLD_MM, RadarGeometry, SkillThresholds
from orchestration.runtime.config import resolve_env
from orchestration.runtime.metadata import png_markdown, summary_metadata
from orchestration.runtime.partitions import daily_partitions
from orchestration.runtime.resources import ArchiveResource, DomainResource, ProductStoreResource
from orchestration.runtime.sources import partition_sources
from orchestration.runtime.tags import critical_path_op_tags

GROUP = "products"

# Upstream asset keys (calibration chain and ingest).
GR_HOURLY = "gr_rain_hourly"
SR_SWATH = "sr_rain_swath"
SAT_HOURLY = "sat_rain_hourly"
EVALUATION = "calibration_evaluation"
GAUGES = "gauge_hourly"
SOURCE_KEYS = {"gr": GR_HOURLY, "sr": SR_SWATH, "sat": SAT_HOURLY}  # named in input errors

UPSTREAM_INS = {
    "gr_rain_hourly": AssetIn(key=AssetKey(GR_HOURLY)),
    "sr_rain_swath": AssetIn(key=AssetKey(SR_SWATH)),
    "sat_rain_hourly": AssetIn(key=AssetKey(SAT_HOURLY)),
    "gauge_hourly": AssetIn(key=AssetKey(GAUGES)),
}
MAP_PREVIEW_DPI = 40  # the small map rendered inline in the UI (the full map is the file)
#: Days of the chain's evaluation before D whose scores set D's merge weights: never D's own
#: evaluation, whose held-out gauges overlap the gauges the product withholds (issue 20). The
#: input also loads D's (its models' identity: versions and fallbacks for the quality flag).
EVALUATION_WINDOW_DAYS = 7


def _evaluation_window_in() -> AssetIn:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the flag is "beta" in Dagster 1.13
        mapping = TimeWindowPartitionMapping(
            start_offset=-EVALUATION_WINDOW_DAYS,
            end_offset=0,
            allow_nonexistent_upstream_partitions=True,
        )
    return AssetIn(
        key=AssetKey(EVALUATION),
        partition_mapping=mapping,
        metadata={"allow_missing_partitions": True},
    )


class FusionConfig(Config):
    """Merging and gauge adjustment settings (the defaults are the operational ones)."""

    withheld_fraction: float = Field(
        0.2, ge=0.0, lt=1.0, description="share of gauges withheld from adjustment each day"
    )
    adjust_method: str = Field(
        "auto",
        description="wradlib adjustment: mixed, multiply, add, or auto (the one, or none, with "
        "the lowest 5-fold cross-validated RMSE at the adjusting gauges that day)",
    )
    adjust_nnearest: int = Field(12, ge=1, description="gauges in the IDW interpolation")
    sr_sampling_std_mm_h: float = Field(
        2.0, gt=0, description="hourly sampling error of one SR snapshot (mm/h)"
    )
    gr_reference_range_km: float = Field(80.0, gt=0)
    gr_growth_per_100km: float = Field(0.6, ge=0)
    gr_max_range_km: float = Field(230.0, gt=0)
    radar_lat_deg: float = Field(28.113, description="ground radar site (range of GR error)")
    radar_lon_deg: float = Field(-80.654)
    sr_footprint_radius_km: float = Field(SR_FOOTPRINT_RADIUS_KM, gt=0)
    gauge_required_hours: int = Field(REQUIRED_GAUGE_HOURS, ge=1, le=HOURS_PER_DAY)
    screening_max_ratio: float = Field(
        4.0, gt=1.0, description="a source off the gauges by more than this factor is left out"
    )
    screening_min_difference_mm: float = Field(10.0, ge=0.0)
    merge_sources: list[str] = Field(
        default_factory=lambda: ["gr", "sr", "sat"],
        description="sources merged (all are still verified); e.g. drop 'sat' where it only hurts",
    )


class VerificationConfig(Config):
    """Skill thresholds of the fused daily product (the asset check fails below them)."""

    threshold_mm: float = Field(
        DEFAULT_THRESHOLD_MM, gt=0, description="rain/no-rain threshold for POD/FAR/CSI"
    )
    max_rmse_gauges_mm: float = 15.0
    max_rmse_truth_mm: float = 15.0
    min_corr_gauges: float = 0.6
    min_csi: float = 0.4
    must_beat_sources: bool = True
    gauge_required_hours: int = Field(REQUIRED_GAUGE_HOURS, ge=1, le=HOURS_PER_DAY)
    radar_lat_deg: float = Field(28.113, description="ground radar site (regional truth scores)")
    radar_lon_deg: float = Field(-80.654)
    gr_blocked_sector_deg: list[float] = Field(
        default_factory=lambda: [118.0, 134.0],
        description="azimuths (from, to; degrees from north) of the GR's blocked sector, scored "
        "apart against the truth (the simulator's KMLB blockage); [] for none",
    )
    gauge_only_method: str = Field("kriging", description="gauge-only baseline: kriging or idw")


#: Verification settings that are not skill thresholds.
VERIFICATION_SETTINGS = {
    "threshold_mm",
    "gauge_required_hours",
    "radar_lat_deg",
    "radar_lon_deg",
    "gr_blocked_sector_deg",
    "gauge_only_method",
}


def _upstream_files(context: AssetExecutionContext, keys: list[str], day: str) -> list[str]:
    """Where the upstream values of this partition were stored (from their materializations)."""
    from dagster import AssetRecordsFilter

    files: list[str] = []
    for key in keys:
        try:
            records = context.instance.fetch_materializations(
                AssetRecordsFilter(asset_key=AssetKey(key), asset_partitions=[day]), limit=1
            ).records
        except Exception:  # an instance without event records still gets a named input
            records = []
        metadata = records[0].asset_materialization.metadata if records else {}
        stored = str(metadata["stored_at"].value) if "stored_at" in metadata else None
        files.append(stored or f"asset:{key}/{day}")
    return files


@asset(
    group_name=GROUP,
    partitions_def=daily_partitions,
    kinds={"xarray", "netcdf"},
    ins={**UPSTREAM_INS, "calibration_evaluation": _evaluation_window_in()},
    op_tags=critical_path_op_tags(),
    description="Hourly fused rain rate (mm/h): inverse-error-variance merge of GR/SR/satellite "
    "rain, gauge-adjusted with wradlib; uncertainty and source flag per pixel (CF-1.8).",
)
def fused_rain_hourly(
    context: AssetExecutionContext,
    config: FusionConfig,
    domain: DomainResource,
    gr_rain_hourly: xr.Dataset,
    sr_rain_swath: pd.DataFrame,
    sat_rain_hourly: xr.Dataset,
    calibration_evaluation: Any,
    gauge_hourly: pd.DataFrame,
) -> xr.Dataset:
    from orchestration.runtime.config import load_config  # the run's configuration, not import's

    day = context.partition_key
    # weights from the days before D only; D's own evaluation gives its models' identity
    evaluation = merge.evaluation_for_day(calibration_evaluation, day)
    product = fusion.fuse_hourly_product(
        day,
        domain.grid(),
        adapters.DayInputs(gr_rain_hourly, sr_rain_swath, sat_rain_hourly, gauge_hourly),
        evaluation,
        fusion.FusionSettings(**config.model_dump()),
        input_files=_upstream_files(context, [*SOURCE_KEYS.values(), EVALUATION, GAUGES], day),
        config_hash=configuration_hash(
            load_config().fingerprint(),
            config.model_dump(mode="json"),
            domain.model_dump(mode="json"),
        ),
        labels=SOURCE_KEYS,
        source_plan=partition_sources(day),
    )
    for name, reason in product.fused.excluded.items():
        context.log.warning(f"{name} left out of the merge on {day}: {reason}")
    dataset, sigma = uncertainty.recalibrated_hourly_product(product, config.adjust_nnearest)
    summary = {**fusion.hourly_product_summary(product), **fusion.quality_summary(product.dataset)}
    summary.update(sigma_scale=sigma["scale"], error_model_window=evaluation["error_model_window"])
    context.add_output_metadata(summary_metadata(summary))
    return dataset


@asset(
    group_name=GROUP,
    partitions_def=daily_partitions,
    kinds={"xarray", "netcdf"},
    description="Daily fused rain total (mm), its uncertainty and source flags (CF-1.8).",
)
def fused_rain_daily(context: AssetExecutionContext, fused_rain_hourly: xr.Dataset) -> xr.Dataset:
    ds = daily_dataset_from_hourly(fused_rain_hourly)
    context.add_output_metadata(
        summary_metadata({**fusion.daily_product_summary(ds), **fusion.quality_summary(ds)})
    )
    return ds


@asset(
    group_name=GROUP,
    partitions_def=daily_partitions,
    kinds={"netcdf", "geotiff"},
    description="The day's product files in the product store: hourly and daily CF-1.8 NetCDF and "
    "a Cloud Optimized GeoTIFF of the daily total, each written atomically.",
)
def rain_product_files(
    context: AssetExecutionContext,
    product_store: ProductStoreResource,
    domain: DomainResource,
    fused_rain_hourly: xr.Dataset,
    fused_rain_daily: xr.Dataset,
) -> dict:
    paths = writers.product_relative_paths(context.partition_key, domain.name)
    with product_store.atomic_local_file(paths["hourly_nc"]) as local:
        writers.write_netcdf(fused_rain_hourly, local)
    with product_store.atomic_local_file(paths["daily_nc"]) as local:
        writers.write_netcdf(fused_rain_daily, local)
    with product_store.atomic_local_file(paths["daily_cog"]) as local:
        writers.write_daily_cog(fused_rain_daily, local)
    urls = {k: product_store.url_of(v) for k, v in paths.items() if k != "map_png"}
    quality = summary_metadata(fusion.quality_summary(fused_rain_daily))
    context.add_output_metadata({**{k: MetadataValue.path(v) for k, v in urls.items()}, **quality})
    return urls


@asset(
    group_name=GROUP,
    partitions_def=daily_partitions,
    kinds={"json"},
    ins=UPSTREAM_INS,
    description="Verification of the daily fused product and of each single source against the "
    "withheld gauges and the synthetic truth: RMSE, bias, correlation, POD/FAR/CSI at 1 mm/day; "
    "the day's map and the product-versus-withheld-gauges scatter as images.",
)
def product_verification(
    context: AssetExecutionContext,
    config: VerificationConfig,
    domain: DomainResource,
    truth_archive: ArchiveResource,
    product_store: ProductStoreResource,
    fused_rain_hourly: xr.Dataset,
    fused_rain_daily: xr.Dataset,
    gr_rain_hourly: xr.Dataset,
    sr_rain_swath: pd.DataFrame,
    sat_rain_hourly: xr.Dataset,
    gauge_hourly: pd.DataFrame,
) -> dict:
    day = context.partition_key
    truth_url = truth_archive.url_of(adapters.truth_relative_path(day))
    radar = RadarGeometry(
        config.radar_lat_deg,
        config.radar_lon_deg,
        tuple(config.gr_blocked_sector_deg[:2]) or None,  # type: ignore[arg-type]
    )
    record = verification_record.verify_product_day(
        day,
        domain.grid(),
        fused_rain_hourly,
        fused_rain_daily,
        adapters.DayInputs(gr_rain_hourly, sr_rain_swath, sat_rain_hourly, gauge_hourly),
        adapters.read_truth(truth_url, resolve_env(truth_archive.storage_options)),
        truth_url,
        config.threshold_mm,
        SkillThresholds(**config.model_dump(exclude=VERIFICATION_SETTINGS)),
        config.gauge_required_hours,
        labels=SOURCE_KEYS,
        radar=radar,
        gauge_method=config.gauge_only_method,
    )
    metadata = summary_metadata(verification_record.verification_numbers(record))
    metadata["table"] = MetadataValue.md(verification_record.verification_markdown(record))
    if png := verification_record.reliability_diagram(record):
        where = verification_record.reliability_relative_path(day, domain.name)
        metadata["reliability_png"] = MetadataValue.path(product_store.write_bytes(where, png))
        metadata["reliability"] = png_markdown(png, "reliability of the product's sigma")
    previews = plots.product_day_previews(
        fused_rain_daily,
        fused_rain_hourly.attrs,
        gauge_hourly,
        day,
        config.gauge_required_hours,
        radar=plots.RadarOverlay.of_geometry(radar),
    )
    metadata.update({name: png_markdown(png, name) for name, png in previews.items()})
    context.add_output_metadata(metadata)
    return record


@asset_check(
    asset=product_verification,
    partitions_def=daily_partitions,
    description="Fails when the fused product's skill drops below the configured thresholds "
    "(RMSE, correlation, CSI) or when it does not beat every single source on RMSE; a warning, "
    "not an error, on a cold start (a fallback calibration model: no trained model yet).",
)
def fused_product_skill(product_verification: dict) -> AssetCheckResult:
    decision = verification_record.record_skill_check(product_verification)
    fused = (product_verification.get("summary") or {}).get("fused") or {}
    return AssetCheckResult(
        passed=decision.passed,
        severity=AssetCheckSeverity[decision.severity.upper()],
        description=decision.description,
        metadata={
            "failures": MetadataValue.json(list(product_verification.get("failures", []))),
            "cold_start": MetadataValue.bool(decision.cold_start),
            "fallback_models": MetadataValue.json(list(decision.fallback_models)),
            "fused_rmse_gauges": MetadataValue.float(float(fused.get("rmse_gauges") or np.nan)),
            "thresholds": MetadataValue.json(product_verification.get("thresholds", {})),
        },
    )


@asset(
    group_name=GROUP,
    partitions_def=daily_partitions,
    kinds={"png"},
    ins={"gauge_hourly": AssetIn(key=AssetKey(GAUGES))},
    description="PNG map of the daily fused total with the adjusting and withheld gauges overlaid "
    "on its colour scale, coastlines, state lines, the radar's range ring and blocked sector.",
)
def rain_product_map(
    context: AssetExecutionContext,
    product_store: ProductStoreResource,
    domain: DomainResource,
    fused_rain_hourly: xr.Dataset,
    fused_rain_daily: xr.Dataset,
    gauge_hourly: pd.DataFrame,
) -> dict:
    day = context.partition_key
    gauges, withheld = adapters.withheld_gauge_days(fused_rain_hourly.attrs, gauge_hourly, day)
    drawn = plots.product_map(
        fused_rain_daily, gauges, withheld, day, radar=plots.scenario_radar_overlay()
    )
    png = drawn.png(plots.MAP_DPI)
    url = product_store.write_bytes(
        writers.product_relative_paths(day, domain.name)["map_png"], png
    )
    preview = drawn.png(MAP_PREVIEW_DPI)
    context.add_output_metadata(
        {
            "path": MetadataValue.path(url),
            "preview": png_markdown(preview, "daily total"),
            "bytes": MetadataValue.int(len(png)),
        }
    )
    return {"png": url}
