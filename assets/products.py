"""Daily fused rainfall products (group ``products``): thin assets over :mod:`fusion_ops.products`.

One daily partition D:

``fused_rain_hourly``  merge GR (MLP-1), SR (MLP-2) and satellite (MLP-3) rain hour by hour with
                       inverse error variances from the chain's held-out evaluation, adjust to the
                       gauges not withheld that day (wradlib), CF-1.8 Dataset (time, lat, lon)
``fused_rain_daily``   the daily total, its uncertainty and source flags
``rain_product_files`` hourly + daily CF-NetCDF and the daily COG in the product store (atomic)
``product_verification``  scores of the fused product and each single source against the withheld
                       gauges and (synthetic scenario) truth; numbers as metadata, charted per
                       partition; the asset check ``fused_product_skill`` fails below thresholds
``rain_product_map``   PNG map of the daily total with the gauges overlaid, in the product store

Upstream contract (asset keys below): hourly grids are xarray Datasets with ``rain_rate``
(time, lat, lon) in mm/h on the product grid (time = start of the hour, or its end when the time
coordinate's ``label`` attribute says ``end`` or a stamp falls on the next midnight); the SR swath is a DataFrame of footprints (``time``, ``lat``,
``lon``, rain-rate column); the evaluation is the chain's score record (``{"mlp1": {"rmse": ...},
...}``); the gauge table is the ingest hourly table (``station_id``, ``time_end``, ``precip_mm``,
``lat``, ``lon``).
"""

import base64
import datetime as dt
import hashlib
import io
import json
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
    asset,
    asset_check,
)
from pydantic import Field

from fusion_ops.products import SOURCES
from fusion_ops.products.accumulate import daily_total_mm, gauge_daily_totals
from fusion_ops.products.adjust import AdjustConfig
from fusion_ops.products.errors import ProductInputError
from fusion_ops.products.inputs import (
    hourly_cube,
    model_versions,
    source_errors,
    swath_hourly_cube,
    truth_daily_on_grid,
)
from fusion_ops.products.merge import range_from_site_km
from fusion_ops.products.pipeline import ScreeningConfig, daily_dataset_from_hourly, fuse_day
from fusion_ops.products.plots import daily_map_png
from fusion_ops.products.verify import (
    GaugeSet,
    SkillThresholds,
    skill_failures,
    summary,
    verify_day,
)
from fusion_ops.products.writers import (
    Provenance,
    hourly_product_dataset,
    product_relative_paths,
    software_version,
    write_cog,
    write_netcdf,
)
from orchestration.runtime.partitions import daily_partitions
from orchestration.runtime.resources import ArchiveResource, DomainResource, ProductStoreResource
from orchestration.runtime.tags import critical_path_op_tags

GROUP = "products"

# Upstream asset keys (calibration chain and ingest).
GR_HOURLY = "gr_rain_hourly"
SR_SWATH = "sr_rain_swath"
SAT_HOURLY = "sat_rain_hourly"
EVALUATION = "calibration_evaluation"
GAUGES = "gauge_hourly"

UPSTREAM_INS = {
    "gr_rain_hourly": AssetIn(key=AssetKey(GR_HOURLY)),
    "sr_rain_swath": AssetIn(key=AssetKey(SR_SWATH)),
    "sat_rain_hourly": AssetIn(key=AssetKey(SAT_HOURLY)),
    "gauge_hourly": AssetIn(key=AssetKey(GAUGES)),
}


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
    sr_footprint_radius_km: float = Field(3.0, gt=0)
    gauge_required_hours: int = Field(24, ge=1, le=24)
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

    threshold_mm: float = Field(1.0, gt=0, description="rain/no-rain threshold for POD/FAR/CSI")
    max_rmse_gauges_mm: float = 15.0
    max_rmse_truth_mm: float = 15.0
    min_corr_gauges: float = 0.6
    min_csi: float = 0.4
    must_beat_sources: bool = True
    gauge_required_hours: int = Field(24, ge=1, le=24)


def _time_label(obj: Any) -> str:
    """``start``/``end`` from the time coordinate's ``label`` attribute, else ``auto``."""
    if isinstance(obj, xr.Dataset) and "time" in obj.coords:
        label = str(obj["time"].attrs.get("label", "auto"))
        return label if label in ("start", "end") else "auto"
    return "auto"


def _gauge_days(table: pd.DataFrame | None, day: str, required_hours: int) -> pd.DataFrame:
    if table is None or table.empty:
        return pd.DataFrame({"lat_deg": [], "lon_deg": [], "daily_mm": [], "n_hours": []})
    return gauge_daily_totals(
        table,
        day,
        time_column="time_end",
        lat_column="lat",
        lon_column="lon",
        required_hours=required_hours,
    )


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
        stored = None
        if records:
            metadata = records[0].asset_materialization.metadata
            if "stored_at" in metadata:
                stored = str(metadata["stored_at"].value)
        files.append(stored or f"asset:{key}/{day}")
    return files


def _config_hash(config: Config, domain: DomainResource) -> str:
    from orchestration.runtime.config import load_config

    text = json.dumps(
        {
            "rainfuse": load_config().fingerprint(),
            "products": config.model_dump(mode="json"),
            "grid": domain.model_dump(mode="json"),
        },
        sort_keys=True,
    )
    return hashlib.sha256(text.encode()).hexdigest()[:12]


@asset(
    group_name=GROUP,
    partitions_def=daily_partitions,
    kinds={"xarray", "netcdf"},
    ins={**UPSTREAM_INS, "calibration_evaluation": AssetIn(key=AssetKey(EVALUATION))},
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
    calibration_evaluation: dict,
    gauge_hourly: pd.DataFrame,
) -> xr.Dataset:
    day = context.partition_key
    lat, lon = domain.latitudes_deg(), domain.longitudes_deg()
    errors = source_errors(
        calibration_evaluation,
        config.sr_sampling_std_mm_h,
        config.gr_reference_range_km,
        config.gr_growth_per_100km,
        config.gr_max_range_km,
    )
    range_km = range_from_site_km(lat, lon, config.radar_lat_deg, config.radar_lon_deg)
    sources = {
        "gr": hourly_cube(gr_rain_hourly, day, lat, lon, GR_HOURLY, _time_label(gr_rain_hourly)),
        "sr": swath_hourly_cube(
            sr_rain_swath, day, lat, lon, SR_SWATH, config.sr_footprint_radius_km
        ),
        "sat": hourly_cube(
            sat_rain_hourly, day, lat, lon, SAT_HOURLY, _time_label(sat_rain_hourly)
        ),
    }
    error_std = {
        "gr": errors.gr_model.std_mm_h(range_km),
        "sr": errors.sr_std_mm_h,
        "sat": errors.sat_std_mm_h,
    }
    unknown = set(config.merge_sources) - set(SOURCES)
    if unknown:
        raise ProductInputError(
            "FusionConfig.merge_sources", f"unknown source(s) {sorted(unknown)}"
        )
    gauges = _gauge_days(gauge_hourly, day, config.gauge_required_hours)
    complete = gauges.dropna(subset=["daily_mm"])
    fused = fuse_day(
        day,
        lat,
        lon,
        {k: (v if k in config.merge_sources else None) for k, v in sources.items()},
        error_std,
        complete,
        config.withheld_fraction,
        AdjustConfig(method=config.adjust_method, nnearest=config.adjust_nnearest),  # type: ignore[arg-type]
        ScreeningConfig(config.screening_max_ratio, config.screening_min_difference_mm),
        gr_range_km=range_km,
    )
    for name, reason in fused.excluded.items():
        context.log.warning(f"{name} left out of the merge on {day}: {reason}")
    versions = model_versions(gr_rain_hourly, sr_rain_swath, sat_rain_hourly)
    for name, entry in (calibration_evaluation or {}).items():
        if isinstance(entry, dict) and entry.get("model_version"):
            versions.setdefault(name, str(entry["model_version"]))
    withheld_ids = sorted(complete.index[fused.withheld].astype(str))
    provenance = Provenance(
        model_versions=versions,
        input_files=_upstream_files(
            context, [GR_HOURLY, SR_SWATH, SAT_HOURLY, EVALUATION, GAUGES], day
        ),
        software_version=software_version(),
        configuration_hash=_config_hash(config, domain),
        extra={
            "rainfuse_withheld_gauges": json.dumps(withheld_ids),
            "rainfuse_adjustment": json.dumps(
                {
                    "method": fused.adjustment_method,
                    "configured": config.adjust_method,
                    "cv_rmse_mm": fused.adjustment_cv_rmse_mm,
                    "applied": fused.adjusted,
                    "n_gauges": fused.n_adjusting_gauges,
                    "library": "wradlib.adjust",
                }
            ),
            "rainfuse_screening": json.dumps(fused.excluded, sort_keys=True),
            "rainfuse_error_model": json.dumps(
                {
                    "origin": errors.origin,
                    "weights_from": fused.error_origin,
                    "sr_std_mm_h": errors.sr_std_mm_h,
                    "sat_std_mm_h": errors.sat_std_mm_h,
                }
            ),
        },
    )
    ds = hourly_product_dataset(
        day, lat, lon, fused.hourly_mm_h, fused.hourly_std_mm_h, fused.hourly_flag, provenance
    )
    present = [s for s in SOURCES if sources[s] is not None]
    context.add_output_metadata(
        {
            "sources_present": MetadataValue.json(present),
            "sources_excluded": MetadataValue.json(fused.excluded),
            "domain_mean_mm": MetadataValue.float(float(np.nanmean(fused.daily_mm))),
            "domain_max_mm": MetadataValue.float(float(np.nanmax(fused.daily_mm))),
            "adjusting_gauges": MetadataValue.int(fused.n_adjusting_gauges),
            "withheld_gauges": MetadataValue.int(len(withheld_ids)),
            "gauges_incomplete_day": MetadataValue.int(int(gauges["daily_mm"].isna().sum())),
            "adjusted": MetadataValue.bool(bool(fused.adjusted)),
            "adjust_method": MetadataValue.text(fused.adjustment_method),
            "mean_adjust_factor": MetadataValue.float(float(np.mean(fused.adjust_factor))),
            "error_model_origin": MetadataValue.json(errors.origin),
            "weights_from": MetadataValue.json(fused.error_origin),
            "model_versions": MetadataValue.json(versions),
        }
    )
    return ds


@asset(
    group_name=GROUP,
    partitions_def=daily_partitions,
    kinds={"xarray", "netcdf"},
    description="Daily fused rain total (mm), its uncertainty and source flags (CF-1.8).",
)
def fused_rain_daily(context: AssetExecutionContext, fused_rain_hourly: xr.Dataset) -> xr.Dataset:
    ds = daily_dataset_from_hourly(fused_rain_hourly)
    total = ds["rainfall_amount"].values
    context.add_output_metadata(
        {
            "domain_mean_mm": MetadataValue.float(float(np.nanmean(total))),
            "wet_fraction_1mm": MetadataValue.float(float(np.nanmean(total >= 1.0))),
        }
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
    day = context.partition_key
    paths = product_relative_paths(day, domain.name)
    with product_store.atomic_local_file(paths["hourly_nc"]) as local:
        write_netcdf(fused_rain_hourly, local)
    with product_store.atomic_local_file(paths["daily_nc"]) as local:
        write_netcdf(fused_rain_daily, local)
    tags = {
        k: str(fused_rain_daily.attrs[k])
        for k in ("model_versions", "software_version", "configuration_hash", "product_day")
        if k in fused_rain_daily.attrs
    }
    with product_store.atomic_local_file(paths["daily_cog"]) as local:
        write_cog(
            fused_rain_daily["rainfall_amount"].isel(time=0).values,
            fused_rain_daily["lat"].values,
            fused_rain_daily["lon"].values,
            local,
            tags=tags,
        )
    urls = {k: product_store.url_of(v) for k, v in paths.items() if k != "map_png"}
    context.add_output_metadata({k: MetadataValue.path(v) for k, v in urls.items()})
    return urls


def _withheld_gauges(
    hourly: xr.Dataset, gauge_hourly: pd.DataFrame | None, day: str, required: int
) -> tuple[pd.DataFrame, np.ndarray]:
    gauges = _gauge_days(gauge_hourly, day, required)
    ids = set(json.loads(hourly.attrs.get("rainfuse_withheld_gauges", "[]")))
    withheld = np.array([str(s) in ids for s in gauges.index], dtype=bool)
    return gauges, withheld


def _read_truth(truth_archive: ArchiveResource, day: str) -> tuple[xr.Dataset | None, str]:
    d = dt.date.fromisoformat(day)
    relative = f"{d:%Y/%m/%d}/truth_rain_{d:%Y%m%d}.nc"
    if not truth_archive.exists(relative):
        return None, truth_archive.url_of(relative)
    data = truth_archive.read_bytes(relative)
    try:
        with xr.open_dataset(io.BytesIO(data)) as ds:
            return ds.load(), truth_archive.url_of(relative)
    except Exception as error:  # a corrupt truth file is named, never skipped silently
        raise ProductInputError(
            truth_archive.url_of(relative), f"unreadable truth: {error}"
        ) from error


@asset(
    group_name=GROUP,
    partitions_def=daily_partitions,
    kinds={"json"},
    ins=UPSTREAM_INS,
    description="Verification of the daily fused product and of each single source against the "
    "withheld gauges and the synthetic truth: RMSE, bias, correlation, POD/FAR/CSI at 1 mm/day.",
)
def product_verification(
    context: AssetExecutionContext,
    config: VerificationConfig,
    domain: DomainResource,
    truth_archive: ArchiveResource,
    fused_rain_hourly: xr.Dataset,
    fused_rain_daily: xr.Dataset,
    gr_rain_hourly: xr.Dataset,
    sr_rain_swath: pd.DataFrame,
    sat_rain_hourly: xr.Dataset,
    gauge_hourly: pd.DataFrame,
) -> dict:
    day = context.partition_key
    lat, lon = domain.latitudes_deg(), domain.longitudes_deg()
    cubes = {
        "gr": hourly_cube(gr_rain_hourly, day, lat, lon, GR_HOURLY, _time_label(gr_rain_hourly)),
        "sr": swath_hourly_cube(sr_rain_swath, day, lat, lon, SR_SWATH),
        "sat": hourly_cube(
            sat_rain_hourly, day, lat, lon, SAT_HOURLY, _time_label(sat_rain_hourly)
        ),
    }
    estimates: dict[str, np.ndarray | None] = {
        "fused": fused_rain_daily["rainfall_amount"].isel(time=0).values.astype(float)
    }
    for name, cube in cubes.items():
        estimates[name] = None if cube is None else daily_total_mm(cube)[0]
    gauges, withheld = _withheld_gauges(
        fused_rain_hourly, gauge_hourly, day, config.gauge_required_hours
    )
    kept = gauges.loc[withheld]
    gauge_set = (
        GaugeSet(
            kept["lat_deg"].to_numpy(float),
            kept["lon_deg"].to_numpy(float),
            kept["daily_mm"].to_numpy(float),
        )
        if len(kept)
        else None
    )
    truth_ds, truth_url = _read_truth(truth_archive, day)
    truth = None if truth_ds is None else truth_daily_on_grid(truth_ds, lat, lon, truth_url)
    scores = verify_day(estimates, lat, lon, gauge_set, truth, config.threshold_mm)
    thresholds = SkillThresholds(
        config.max_rmse_gauges_mm,
        config.max_rmse_truth_mm,
        config.min_corr_gauges,
        config.min_csi,
        config.must_beat_sources,
    )
    failures = skill_failures(scores, thresholds)
    compact = summary(scores)
    record = {
        "day": day,
        "summary": compact,
        "scores": scores,
        "withheld_gauges": int(withheld.sum()),
        "withheld_gauges_complete": int(np.isfinite(kept["daily_mm"].to_numpy(float)).sum()),
        "truth": truth_url if truth is not None else None,
        "thresholds": thresholds.__dict__,
        "failures": failures,
    }
    metadata: dict[str, Any] = {
        "withheld_gauges": MetadataValue.int(record["withheld_gauges_complete"]),
        "skill_ok": MetadataValue.bool(not failures),
    }
    for name, entry in compact.items():
        for key, value in (entry or {}).items():
            if value is not None:  # numbers only: the UI charts them across partitions
                metadata[f"{name}_{key}"] = MetadataValue.float(float(value))
    for name, entry in scores.items():
        for ref in ("truth", "gauges"):
            same = (entry or {}).get(f"fused_same_support_{ref}") or {}
            if same.get("rmse") is not None:  # the fused product on a partial source's support
                metadata[f"fused_on_{name}_support_rmse_{ref}"] = MetadataValue.float(same["rmse"])
    for name, entry in scores.items():
        diff = (entry or {}).get("fused_minus_source_gauges") or {}
        for key in ("difference_mm", "low_mm", "high_mm"):
            if diff.get(key) is not None:  # charted: is the day's margin over the source real?
                metadata[f"fused_minus_{name}_rmse_gauges_{key}"] = MetadataValue.float(diff[key])
    metadata["table"] = MetadataValue.md(
        score_markdown(compact) + "\n\n" + difference_markdown(scores)
    )
    context.add_output_metadata(metadata)
    return record


def score_markdown(compact: dict[str, dict[str, float | None] | None]) -> str:
    """A markdown table of the compact scores (one row per estimate)."""
    keys = ["rmse_truth", "rmse_gauges", "bias_gauges", "corr_gauges", "csi_1mm"]
    lines = ["| estimate | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
    for name, entry in compact.items():
        cells = ["-" if entry is None or entry.get(k) is None else f"{entry[k]:.3f}" for k in keys]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def difference_markdown(scores: dict) -> str:
    """Fused RMSE minus each source's at the withheld gauges, with the bootstrap interval."""
    lines = [
        "| fused minus | RMSE difference at the withheld gauges (mm) | 95 % bootstrap interval |"
        " gauges |",
        "|---|---|---|---|",
    ]
    for name, entry in scores.items():
        diff = (entry or {}).get("fused_minus_source_gauges") or {}
        if diff.get("difference_mm") is None:
            continue
        low, high = diff.get("low_mm"), diff.get("high_mm")
        interval = "-" if low is None or high is None else f"[{low:+.3f}, {high:+.3f}]"
        lines.append(f"| {name} | {diff['difference_mm']:+.3f} | {interval} | {diff['n']} |")
    return "\n".join(lines)


@asset_check(
    asset=product_verification,
    partitions_def=daily_partitions,
    description="Fails when the fused product's skill drops below the configured thresholds "
    "(RMSE, correlation, CSI) or when it does not beat every single source on RMSE.",
)
def fused_product_skill(product_verification: dict) -> AssetCheckResult:
    failures = list(product_verification.get("failures", []))
    fused = (product_verification.get("summary") or {}).get("fused") or {}
    return AssetCheckResult(
        passed=not failures,
        severity=AssetCheckSeverity.ERROR,
        metadata={
            "failures": MetadataValue.json(failures),
            "fused_rmse_gauges": MetadataValue.float(float(fused.get("rmse_gauges") or np.nan)),
            "thresholds": MetadataValue.json(product_verification.get("thresholds", {})),
        },
    )


@asset(
    group_name=GROUP,
    partitions_def=daily_partitions,
    kinds={"png"},
    ins={"gauge_hourly": AssetIn(key=AssetKey(GAUGES))},
    description="PNG map of the daily fused total with the adjusting and withheld gauges overlaid.",
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
    gauges, withheld = _withheld_gauges(fused_rain_hourly, gauge_hourly, day, 24)
    args = (
        fused_rain_daily["rainfall_amount"].isel(time=0).values,
        fused_rain_daily["lat"].values,
        fused_rain_daily["lon"].values,
        gauges["lat_deg"].to_numpy(float),
        gauges["lon_deg"].to_numpy(float),
        gauges["daily_mm"].to_numpy(float),
        withheld,
        f"rainfuse fused daily rainfall {day}",
    )
    png = daily_map_png(*args)
    relative = product_relative_paths(day, domain.name)["map_png"]
    url = product_store.write_bytes(relative, png)
    # A small rendering inline in the UI; the full map is the file.
    preview = base64.b64encode(daily_map_png(*args, dpi=40)).decode()
    context.add_output_metadata(
        {
            "path": MetadataValue.path(url),
            "preview": MetadataValue.md(f"![daily total](data:image/png;base64,{preview})"),
            "bytes": MetadataValue.int(len(png)),
        }
    )
    return {"png": url}
