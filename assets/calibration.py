"""MLP calibration chain (group ``calibration``): thin assets over :mod:`fusion_ops.calibration`.

One daily partition D:

``mlp1_samples``      gauge/GR pairs: GR profiles above every gauge, matched to the gauge hour
``mlp1_model``        MLP-1 trained on the samples of a trailing window that ends before the
                      period serving D (no look-ahead), safetensors; flagged Z-R fallback
``gr_rain_volumes``   GR rain (mm/h) per volume on the product grid (MLP-1)
``gr_rain_hourly``    its hourly mean (time = start of the hour)
``mlp2_samples``      SR footprint / GR pairs (GR rain over the footprint, +-5 min)
``mlp2_model``        MLP-2, same windowing; fallback: the SR standard product
``sr_rain_swath``     SR rain along the swath (MLP-2) with the standard product beside it
``mlp3_samples``      ABI pixel / GR hourly rain pairs inside GR coverage
``mlp3_model``        MLP-3, same windowing; fallback: the fixed Tb curve
``sat_rain_hourly``   satellite rain hourly on the product grid (MLP-3)
``calibration_evaluation``  held-out scores of every model and baseline (held-out gauges for
                      MLP-1; days after the training window for all), scatter plots; checks

``mlp1_samples`` and ``gr_rain_volumes`` remove the day's significant GR reflectivity/ZDR
calibration offsets (:mod:`assets.monitoring`) from MLP-1's features first.

Each asset loads its inputs, calls one function of :mod:`fusion_ops.calibration` and reports the
summary it returns as metadata. Every output records the version (hash of weights + configuration)
of the model that made it and whether a fallback was used. Training and inference run on the
compute resource's device and carry the GPU pool and queue tags.
"""

import functools
import math
import os
import warnings
from collections.abc import Callable
from typing import Any

import pandas as pd
import xarray as xr
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetExecutionContext,
    AssetIn,
    AssetKey,
    AssetsDefinition,
    Config,
    MetadataValue,
    TimeWindowPartitionMapping,
    asset,
    asset_check,
)
from pydantic import Field

from assets.monitoring import Z_OFFSET, ZDR_OFFSET, day_corrections
from fusion_ops.calibration import evaluation as E
from fusion_ops.calibration import fitting, steps, windows
from fusion_ops.calibration import samples as S
from orchestration.runtime.io_managers import stored_path_of
from orchestration.runtime.metadata import png_markdown, summary_metadata
from orchestration.runtime.partitions import daily_partitions
from orchestration.runtime.resources import ComputeResource, DomainResource
from orchestration.runtime.sources import models_not_planned
from orchestration.runtime.tags import GPU_OP_TAGS, GPU_POOL, critical_path_op_tags

GROUP = "calibration"
#: Every calibration step lies downstream of the radar ingest on the day's longest chain: ahead of
#: the independent imagery steps in a shared Celery queue (other executors ignore the tag).
PRIORITY_TAGS = critical_path_op_tags()
GPU_PRIORITY_TAGS = {**GPU_OP_TAGS, **PRIORITY_TAGS}
#: Every asset of the group: daily partitions.
daily_asset = functools.partial(asset, group_name=GROUP, partitions_def=daily_partitions)

# Upstream (ingest) asset keys.
GAUGES = "gauge_hourly"
GR_GAUGE_PROFILES = "ground_radar_gauge_profiles"
GR_GRID_PROFILES = "ground_radar_grid_profiles"
SR_FOOTPRINTS = "spaceborne_profiles"
ABI_FEATURES = "satellite_features"

#: How many days before D a model asset may look back (the partition mapping must be static).
#: ``window_days + cadence_days - 1`` must fit; raise it for 90-day production windows.
LOOKBACK_DAYS = int(os.environ.get("RAINFUSE_CALIBRATION_LOOKBACK_DAYS", "45"))

TARGETS = fitting.TARGETS  # re-exported: the training benchmark names it here


class CalibrationConfig(Config):
    """Training window and cadence (demo-friendly defaults; production: 30-90 days, monthly)."""

    window_days: int = Field(3, ge=1, description="days of samples a model is trained on")
    cadence_days: int = Field(
        1, ge=1, description="retraining period; the window ends the day before the period starts"
    )
    min_groups: int = Field(50, ge=1, description="fewer training groups -> flagged fallback")
    epochs: int = Field(100, ge=1)
    hidden: list[int] = Field(default_factory=lambda: [64, 64])
    dry_fraction: float = Field(
        0.2, ge=0.0, le=1.0, description="share of dry MLP-1 gauge hours kept for training"
    )
    members: int = Field(
        3,
        ge=1,
        description="networks per model, trained from consecutive seeds, rates averaged (ensemble)",
    )

    def settings(self) -> fitting.FitSettings:
        """The same values as the library's plain settings."""
        return fitting.FitSettings(**{**self.model_dump(), "hidden": tuple(self.hidden)})


def training_window(day: str, config: CalibrationConfig) -> list[str]:
    """Days whose samples train the model serving ``day`` (all strictly before its period)."""
    first_day = daily_partitions.start.date()
    return windows.training_window(
        day, config.window_days, config.cadence_days, first_day, LOOKBACK_DAYS
    )


def _window_in(key: str) -> AssetIn:
    with warnings.catch_warnings():
        # the flag is "beta" in Dagster 1.13; without it the first days could not run at all
        warnings.simplefilter("ignore")
        mapping = TimeWindowPartitionMapping(
            start_offset=-LOOKBACK_DAYS, end_offset=-1, allow_nonexistent_upstream_partitions=True
        )
    return AssetIn(
        key=AssetKey(key), partition_mapping=mapping, metadata={"allow_missing_partitions": True}
    )


def _pairs_asset(
    name: str,
    observations_key: str,
    rain_key: str,
    step: Callable[[xr.Dataset, xr.Dataset], tuple[pd.DataFrame, dict[str, Any]]],
    description: str,
) -> AssetsDefinition:
    """The ``{name}_samples`` asset: one sensor's observations paired with the GR rain."""

    @daily_asset(
        name=f"{name}_samples",
        kinds={"pandas"},
        ins={
            "observations": AssetIn(key=AssetKey(observations_key)),
            "rain": AssetIn(key=AssetKey(rain_key)),
        },
        description=description,
        op_tags=PRIORITY_TAGS,
    )
    def pairs_asset(
        context: AssetExecutionContext, observations: xr.Dataset, rain: xr.Dataset
    ) -> pd.DataFrame:
        out, summary = step(observations, rain)
        context.add_output_metadata(summary_metadata(summary))
        return out

    return pairs_asset


def _model_asset(name: str, description: str) -> AssetsDefinition:
    """The ``{name}_model`` asset: the network trained on its samples' trailing window."""

    @daily_asset(
        name=f"{name}_model",
        kinds={"pytorch", "safetensors"},
        ins={"samples": _window_in(f"{name}_samples")},
        pool=GPU_POOL,
        op_tags=GPU_PRIORITY_TAGS,
        description=description,
    )
    def model_asset(
        context: AssetExecutionContext,
        config: CalibrationConfig,
        compute: ComputeResource,
        samples: Any,
    ) -> bytes:
        day = context.partition_key
        window = training_window(day, config)
        try:
            keys = list(context.asset_partition_keys_for_input("samples"))
        except Exception:  # noqa: BLE001 - no upstream partition at all (the first day)
            keys = []
        fit = fitting.fit_or_fallback(
            name,
            windows.window_samples(samples, window, keys),
            window,
            day,
            config.settings(),
            compute.torch_device(),
        )
        why = models_not_planned(day).get(name)
        if fit.fallback and why:
            context.log.info(f"{name} for {day}: not planned ({why}): {fit.fallback}")
        elif fit.fallback:
            context.log.warning(
                f"{name} for {day}: {fit.reason}; using the fallback {fit.fallback}"
            )
        context.add_output_metadata(summary_metadata(fit.summary))
        return fit.data

    return model_asset


# --------------------------------------------------------------------------- MLP-1


@daily_asset(
    kinds={"pandas"},
    ins={
        "profiles": AssetIn(key=AssetKey(GR_GAUGE_PROFILES)),
        "gauges": AssetIn(key=AssetKey(GAUGES)),
    },
    # the day's GR calibration monitoring: its significant offsets are removed from the features
    deps=[AssetKey(Z_OFFSET), AssetKey(ZDR_OFFSET)],
    required_resource_keys={"io_manager"},
    description="MLP-1 training samples: GR profiles above each gauge per volume, matched to the "
    "gauge accumulation interval that contains the volume; held-out gauges flagged; significant "
    "GR reflectivity/ZDR calibration offsets of the day removed from the features.",
    op_tags=PRIORITY_TAGS,
)
def mlp1_samples(
    context: AssetExecutionContext, profiles: pd.DataFrame, gauges: pd.DataFrame
) -> pd.DataFrame:
    out, summary = steps.mlp1_samples(profiles, gauges)
    out, applied = S.correct_mlp1_samples(out, day_corrections(context))
    context.add_output_metadata(summary_metadata({**summary, **applied}))
    return out


mlp1_model = _model_asset(
    "mlp1",
    "MLP-1 (GR profile -> gauge rain) trained on the trailing window before the period it "
    "serves; safetensors bytes; fixed Z-R fallback (flagged) when samples are too few.",
)


@daily_asset(
    kinds={"xarray", "netcdf"},
    deps=[AssetKey(GR_GRID_PROFILES), AssetKey(Z_OFFSET), AssetKey(ZDR_OFFSET)],
    required_resource_keys={"io_manager", "compute"},
    pool=GPU_POOL,
    op_tags=GPU_PRIORITY_TAGS,
    description="GR rain rate (mm/h) per volume on the product grid from MLP-1 (read volume by "
    "volume from the gridded profiles; significant GR calibration offsets removed first).",
)
def gr_rain_volumes(context: AssetExecutionContext, mlp1_model: bytes) -> xr.Dataset:
    # read by path, block by block: a day of gridded profiles is too large to load whole
    io_manager, day = context.resources.io_manager, context.partition_key
    path = stored_path_of(io_manager, GR_GRID_PROFILES, day, ".nc")
    corrections = day_corrections(context)
    device = context.resources.compute.torch_device()
    out, summary = steps.gr_rain_volumes(path, mlp1_model, device, corrections=corrections)
    context.add_output_metadata(summary_metadata({**summary, **S.correction_summary(corrections)}))
    return out


class HourlyRainConfig(Config):
    """How many volumes make an hour of GR rain (VCPs scan every 4.5-10 min)."""

    min_volumes_per_hour: int = Field(
        6, ge=1, description="hours with fewer volumes are NaN (not a mean of one or two scans)"
    )


@daily_asset(
    kinds={"xarray", "netcdf"},
    description="Hourly GR rain (mm/h) on the product grid: mean of the hour's MLP-1 volumes "
    "(time = start of the hour; hours with fewer than 6 volumes, by default, are NaN).",
    op_tags=PRIORITY_TAGS,
)
def gr_rain_hourly(
    context: AssetExecutionContext, config: HourlyRainConfig, gr_rain_volumes: xr.Dataset
) -> xr.Dataset:
    out, summary = steps.gr_rain_hourly(gr_rain_volumes, config.min_volumes_per_hour)
    context.add_output_metadata(summary_metadata(summary))
    return out


# --------------------------------------------------------------------------- MLP-2


mlp2_samples = _pairs_asset(
    "mlp2",
    SR_FOOTPRINTS,
    "gr_rain_volumes",
    steps.mlp2_samples,
    "MLP-2 training samples: SR footprint profiles with the MLP-1 GR rain averaged over the "
    "footprint and the volumes within +-5 minutes.",
)


mlp2_model = _model_asset(
    "mlp2",
    "MLP-2 (SR profile -> GR rain) trained on the trailing window; the SR standard "
    "product (flagged) when samples are too few.",
)


@daily_asset(
    kinds={"pandas"},
    ins={"footprints": AssetIn(key=AssetKey(SR_FOOTPRINTS))},
    pool=GPU_POOL,
    op_tags=GPU_PRIORITY_TAGS,
    description="SR rain along the swath: MLP-2 rain (rain_mm_h) per footprint, the standard "
    "precipRateNearSurface beside it, model version and fallback flag per row.",
)
def sr_rain_swath(
    context: AssetExecutionContext,
    compute: ComputeResource,
    footprints: xr.Dataset,
    mlp2_model: bytes,
) -> pd.DataFrame:
    out, summary = steps.sr_rain_swath(footprints, mlp2_model, compute.torch_device())
    context.add_output_metadata(summary_metadata(summary))
    return out


# --------------------------------------------------------------------------- MLP-3


mlp3_samples = _pairs_asset(
    "mlp3",
    ABI_FEATURES,
    "gr_rain_hourly",
    steps.mlp3_samples,
    "MLP-3 training samples: hourly ABI features in a grid cell with the MLP-1 hourly GR rain "
    "there, inside GR coverage (all raining cells, a lattice of dry ones).",
)


mlp3_model = _model_asset(
    "mlp3",
    "MLP-3 (ABI features -> GR rain) trained on the trailing window; the fixed Tb "
    "curve (flagged) when samples are too few.",
)


@daily_asset(
    kinds={"xarray", "netcdf"},
    ins={"abi": AssetIn(key=AssetKey(ABI_FEATURES))},
    pool=GPU_POOL,
    op_tags=GPU_PRIORITY_TAGS,
    description="Satellite rain (mm/h) hourly on the product grid from MLP-3 (time = start of "
    "the hour).",
)
def sat_rain_hourly(
    context: AssetExecutionContext,
    compute: ComputeResource,
    domain: DomainResource,
    abi: xr.Dataset,
    mlp3_model: bytes,
) -> xr.Dataset:
    out, summary = steps.sat_rain_hourly(abi, mlp3_model, domain.grid(), compute.torch_device())
    context.add_output_metadata(summary_metadata(summary))
    return out


# --------------------------------------------------------------------------- evaluation


def _stored_samples(context: AssetExecutionContext) -> E.SampleLoader:
    """``(network, day) -> samples``: a training day's stored samples through the IO manager
    (``None`` when that day has none). The fitted baselines read their model's window with it:
    those partitions exist, since the model serving D was trained on them."""
    io_manager = context.resources.io_manager

    def load(name: str, day: str) -> pd.DataFrame | None:
        if not hasattr(io_manager, "load_partition"):
            return None
        try:
            return io_manager.load_partition(f"{name}_samples", day)
        except FileNotFoundError:
            return None

    return load


@daily_asset(
    kinds={"json"},
    pool=GPU_POOL,
    op_tags=GPU_PRIORITY_TAGS,
    required_resource_keys={"io_manager", "compute"},
    description="Held-out scores of the chain for the day (models trained before it): MLP-1, "
    "the fixed Z-R relations, the Z-R with the training window's mean-field bias and the "
    "CSU-HIDRO dual-pol blend at held-out gauges (hourly; the calibration corrections of the "
    "samples apply to all), MLP-2 and precipRateNearSurface, MLP-3 and the Tb curve refitted on "
    "the training window against GR rain; sufficient statistics for exact pooling, MLP-1's "
    "ratio to its best baseline; scatter plots.",
)
def calibration_evaluation(
    context: AssetExecutionContext,
    mlp1_samples: pd.DataFrame,
    mlp1_model: bytes,
    mlp2_samples: pd.DataFrame,
    mlp2_model: bytes,
    mlp3_samples: pd.DataFrame,
    mlp3_model: bytes,
) -> dict:
    ev = E.evaluate_day(
        context.partition_key,
        {"mlp1": mlp1_samples, "mlp2": mlp2_samples, "mlp3": mlp3_samples},
        {"mlp1": mlp1_model, "mlp2": mlp2_model, "mlp3": mlp3_model},
        context.resources.compute.torch_device(),
        sample_loader=_stored_samples(context),
    )
    # what the era table planned: a network without its source that day is not a failed check
    ev.record["not_planned"] = models_not_planned(context.partition_key)
    versus = ev.record["mlp1_vs_best_baseline"]
    meta: dict[str, Any] = {
        "table": MetadataValue.md(E.score_markdown(ev.record)),
        **summary_metadata(E.rmse_summary(ev.record)),
        # charted: -1 where undefined (no pairs), as the RMSEs
        "mlp1_vs_best_baseline": MetadataValue.float(
            float(versus["ratio"]) if math.isfinite(versus["ratio"]) else -1.0
        ),
        "best_baseline": MetadataValue.text(str(versus["baseline"])),
        "zr_mfb_params": MetadataValue.json(ev.record["zr_mfb"]["params"]),
        "tb_curve_params": MetadataValue.json(ev.record["tb_curve"]["params"]),
        "model_versions": MetadataValue.json(ev.model_versions),
        "fallbacks": MetadataValue.json(ev.fallbacks),
    }
    if ev.panels:
        meta["scatter"] = png_markdown(E.scatter_png(ev.panels), "held-out scatter")
    context.add_output_metadata(meta)
    return ev.record


def _check(record: dict, model: str, baselines: list[str], need_corr: bool) -> AssetCheckResult:
    """The library's decision as a check result: an undecided check (a fallback in use: no trained
    model yet; too few pairs) warns, a failed one errs."""
    if reason := (record.get("not_planned") or {}).get(model):
        return AssetCheckResult(
            passed=True,
            description=f"not planned: {reason}",
            metadata={"not_planned": MetadataValue.text(reason)},
        )
    outcome = E.check_against_baselines(record, model, baselines, need_corr)
    meta = summary_metadata({**outcome.rmse, "cold_start": outcome.cold_start})
    if outcome.reason is not None:
        meta["reason"] = MetadataValue.text(outcome.reason)
    return AssetCheckResult(
        passed=outcome.passed,
        severity=AssetCheckSeverity[outcome.severity.upper()],
        description=outcome.reason,
        metadata=meta,
    )


@asset_check(
    asset=calibration_evaluation,
    partitions_def=daily_partitions,
    description="MLP-1 has a lower held-out hourly RMSE at gauges than every fixed Z-R.",
)
def mlp1_beats_fixed_zr(calibration_evaluation: dict) -> AssetCheckResult:
    return _check(calibration_evaluation, "mlp1", ["zr_200_1.6", "zr_300_1.4", "zr_250_1.2"], False)


@asset_check(
    asset=calibration_evaluation,
    partitions_def=daily_partitions,
    description="MLP-2 has a lower RMSE against GR rain than precipRateNearSurface.",
)
def mlp2_beats_sr_standard(calibration_evaluation: dict) -> AssetCheckResult:
    return _check(calibration_evaluation, "mlp2", ["sr_standard"], False)


@asset_check(
    asset=calibration_evaluation,
    partitions_def=daily_partitions,
    description="MLP-3 has a lower RMSE and a higher correlation against GR rain than the Tb "
    "curve.",
)
def mlp3_beats_tb_curve(calibration_evaluation: dict) -> AssetCheckResult:
    return _check(calibration_evaluation, "mlp3", ["tb_curve"], True)
