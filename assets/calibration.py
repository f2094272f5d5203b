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

Every output records the version (hash of weights + configuration) of the model that made it and
whether a fallback was used. Training and inference run on the compute resource's device and
carry the GPU pool and queue tags.
"""

import base64
import datetime as dt
import hashlib
import json
import os
import time
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

from fusion_ops.calibration import apply as A
from fusion_ops.calibration import evaluation as E
from fusion_ops.calibration import features as F
from fusion_ops.calibration import samples as S
from fusion_ops.calibration.baselines import FALLBACK_ZR
from fusion_ops.calibration.models import ModelSpec
from fusion_ops.calibration.training import TooFewSamplesError, TrainConfig, train_model
from fusion_ops.calibration.versioning import (
    load_model_or_fallback,
    save_fallback_bytes,
    save_model_bytes,
)
from fusion_ops.scores import pool, score_from_stats, sufficient_stats
from orchestration.runtime.io_managers import stored_path_of
from orchestration.runtime.partitions import daily_partitions
from orchestration.runtime.resources import ComputeResource, DomainResource
from orchestration.runtime.tags import GPU_OP_TAGS, GPU_POOL, critical_path_op_tags

GROUP = "calibration"
#: Every calibration step lies downstream of the radar ingest on the day's longest chain: ahead of
#: the independent imagery steps in a shared Celery queue (other executors ignore the tag).
PRIORITY_TAGS = critical_path_op_tags()
GPU_PRIORITY_TAGS = {**GPU_OP_TAGS, **PRIORITY_TAGS}

# Upstream (ingest) asset keys.
GAUGES = "gauge_hourly"
GR_GAUGE_PROFILES = "ground_radar_gauge_profiles"
GR_GRID_PROFILES = "ground_radar_grid_profiles"
SR_FOOTPRINTS = "spaceborne_profiles"
ABI_FEATURES = "satellite_features"

#: How many days before D a model asset may look back (the partition mapping must be static).
#: ``window_days + cadence_days - 1`` must fit; raise it for 90-day production windows.
LOOKBACK_DAYS = int(os.environ.get("RAINFUSE_CALIBRATION_LOOKBACK_DAYS", "45"))

FALLBACKS = {"mlp1": FALLBACK_ZR, "mlp2": "sr_standard", "mlp3": "tb_curve"}
TARGETS = {"mlp1": "gauge_rate_mm_h", "mlp2": "gr_rain_mm_h", "mlp3": "gr_rain_mm_h"}


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


def _window_mapping() -> TimeWindowPartitionMapping:
    with warnings.catch_warnings():
        # the flag is "beta" in Dagster 1.13; without it the first days could not run at all
        warnings.simplefilter("ignore")
        return TimeWindowPartitionMapping(
            start_offset=-LOOKBACK_DAYS, end_offset=-1, allow_nonexistent_upstream_partitions=True
        )


def _window_in(key: str) -> AssetIn:
    return AssetIn(
        key=AssetKey(key),
        partition_mapping=_window_mapping(),
        metadata={"allow_missing_partitions": True},
    )


def training_window(day: str, config: CalibrationConfig) -> list[str]:
    """Days whose samples train the model serving ``day`` (all strictly before its period)."""
    if config.window_days + config.cadence_days - 1 > LOOKBACK_DAYS:
        raise ValueError(
            f"window_days {config.window_days} + cadence_days {config.cadence_days} - 1 exceeds "
            f"the look-back of {LOOKBACK_DAYS} days (RAINFUSE_CALIBRATION_LOOKBACK_DAYS)"
        )
    first = daily_partitions.start.date()
    d = dt.date.fromisoformat(day)
    period_start = first + dt.timedelta(
        days=((d - first).days // config.cadence_days) * config.cadence_days
    )
    return [
        (period_start - dt.timedelta(days=k)).isoformat() for k in range(config.window_days, 0, -1)
    ]


def _window_frames(
    upstream: dict[str, Any] | pd.DataFrame | None, window: list[str], keys: list[str]
) -> pd.DataFrame:
    if isinstance(upstream, pd.DataFrame):  # the mapping held a single partition
        upstream = {keys[0]: upstream} if len(keys) == 1 else {}
    elif not isinstance(upstream, dict):
        upstream = {}
    frames = [upstream[k] for k in window if upstream.get(k) is not None and len(upstream[k])]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _md_png(png: bytes, title: str) -> MetadataValue:
    return MetadataValue.md(f"![{title}](data:image/png;base64,{base64.b64encode(png).decode()})")


def _spec(name: str, config: CalibrationConfig, train: pd.DataFrame) -> ModelSpec:
    hidden = tuple(config.hidden)
    if name == "mlp1":
        return F.mlp1_spec(hidden)
    if name == "mlp2":
        return F.mlp2_spec(hidden)
    return F.mlp3_spec(list(train.columns), hidden)


def _select_mlp1_training(train: pd.DataFrame, dry_fraction: float) -> pd.DataFrame:
    """Training gauges only; every wet hour and a reproducible share of the dry ones."""
    train = train[~train["heldout"].astype(bool)]
    if train.empty:
        return train
    dbz = train[F.level_names("dbz")].to_numpy()
    echo = np.nan_to_num(dbz, nan=-99.0).max(axis=1) >= 10.0
    grp = (
        train.assign(echo=echo)
        .groupby("group")
        .agg(wet=("gauge_rate_mm_h", "max"), echo=("echo", "max"))
    )
    h = np.array([int(hashlib.md5(g.encode()).hexdigest()[:6], 16) / 0xFFFFFF for g in grp.index])
    keep = (grp["wet"] > 0) | grp["echo"] | (h < dry_fraction)
    return train[train["group"].isin(grp.index[keep])]


def _train(
    context: AssetExecutionContext,
    name: str,
    upstream: dict[str, pd.DataFrame] | pd.DataFrame | None,
    config: CalibrationConfig,
    compute: ComputeResource,
) -> bytes:
    day = context.partition_key
    window = training_window(day, config)
    try:
        keys = list(context.asset_partition_keys_for_input("samples"))
    except Exception:  # noqa: BLE001 - no upstream partition at all (the first day)
        keys = []
    train = _window_frames(upstream, window, keys)
    if name == "mlp1" and len(train):
        train = _select_mlp1_training(train, config.dry_fraction)
    cfg = TrainConfig(epochs=config.epochs, min_groups=config.min_groups, members=config.members)
    info = {"window": window, "serves": day, "cadence_days": config.cadence_days}
    meta: dict[str, Any] = {
        "window": MetadataValue.json(window),
        "samples": MetadataValue.int(len(train)),
    }
    device = compute.torch_device()
    try:
        if train.empty:
            raise TooFewSamplesError(f"{name}: no samples in the window {window[0]}..{window[-1]}")
        spec = _spec(name, config, train)
        x = F.matrix(train, spec)
        if name == "mlp1":
            groups, y = S.group_targets(train, TARGETS[name])
        else:
            groups, y = None, train[TARGETS[name]].to_numpy()
        t0 = time.perf_counter()
        result = train_model(spec, x, y, groups, cfg, device)
        data = save_model_bytes(result.model, cfg.as_dict(), {**info, "n_groups": result.n_groups})
        _, loaded = load_model_or_fallback(data)
        meta.update(
            status=MetadataValue.text("trained"),
            model_version=MetadataValue.text(loaded["version"]),
            groups=MetadataValue.int(result.n_groups),
            train_seconds=MetadataValue.float(round(time.perf_counter() - t0, 2)),
            best_epoch=MetadataValue.int(result.best_epoch),
            member_best_epochs=MetadataValue.json(list(result.member_best_epochs)),
            members=MetadataValue.int(config.members),
            val_loss=MetadataValue.float(float(result.history[result.best_epoch]["val"])),
            device=MetadataValue.text(str(device)),
            features=MetadataValue.json(list(spec.features)),
        )
    except TooFewSamplesError as err:
        context.log.warning(f"{name} for {day}: {err}; using the fallback {FALLBACKS[name]}")
        data = save_fallback_bytes(name, FALLBACKS[name], str(err), info)
        _, loaded = load_model_or_fallback(data)
        meta.update(
            status=MetadataValue.text(f"fallback: {FALLBACKS[name]}"),
            model_version=MetadataValue.text(loaded["version"]),
            reason=MetadataValue.text(str(err)),
        )
    context.add_output_metadata(meta)
    return data


def _model_attrs(name: str, meta: dict[str, Any]) -> dict[str, str]:
    return {
        "model": name,
        "model_version": str(meta["version"]),
        "model_fallback": str(meta["fallback"] or ""),
        "model_versions": json.dumps({name: str(meta["version"])}),
    }


def _nan_stats(values: np.ndarray) -> dict[str, float]:
    finite = values[np.isfinite(values)]
    if not finite.size:
        return {"mean": float("nan"), "max": float("nan"), "wet_fraction": 0.0}
    return {
        "mean": float(finite.mean()),
        "max": float(finite.max()),
        "wet_fraction": float((finite > 0).mean()),
    }


def _storage_path(context: AssetExecutionContext, key: str, partition: str):
    """Where the IO manager stored ``key``'s partition (for inputs too large to load whole)."""
    return stored_path_of(context.resources.io_manager, key, partition, ".nc")


# --------------------------------------------------------------------------- MLP-1


@asset(
    group_name=GROUP,
    partitions_def=daily_partitions,
    kinds={"pandas"},
    ins={
        "profiles": AssetIn(key=AssetKey(GR_GAUGE_PROFILES)),
        "gauges": AssetIn(key=AssetKey(GAUGES)),
    },
    description="MLP-1 training samples: GR profiles above each gauge per volume, matched to the "
    "gauge accumulation interval that contains the volume; held-out gauges flagged.",
    op_tags=PRIORITY_TAGS,
)
def mlp1_samples(
    context: AssetExecutionContext, profiles: pd.DataFrame, gauges: pd.DataFrame
) -> pd.DataFrame:
    if profiles is None or profiles.empty or gauges is None or gauges.empty:
        out = S._empty_mlp1()
    else:
        out = S.mlp1_samples(profiles, gauges)
    n_groups = int(out["group"].nunique()) if len(out) else 0
    held = int(out.loc[out["heldout"].astype(bool), "group"].nunique()) if len(out) else 0
    wet = int(out.loc[out["gauge_rate_mm_h"] > 0, "group"].nunique()) if len(out) else 0
    context.add_output_metadata(
        {
            "pairs": MetadataValue.int(len(out)),
            "gauge_hours": MetadataValue.int(n_groups),
            "heldout_gauge_hours": MetadataValue.int(held),
            "wet_gauge_hours": MetadataValue.int(wet),
            "stations": MetadataValue.int(int(out["station_id"].nunique()) if len(out) else 0),
        }
    )
    return out


@asset(
    group_name=GROUP,
    partitions_def=daily_partitions,
    kinds={"pytorch", "safetensors"},
    ins={"samples": _window_in("mlp1_samples")},
    pool=GPU_POOL,
    op_tags=GPU_PRIORITY_TAGS,
    description="MLP-1 (GR profile -> gauge rain) trained on the trailing window before the "
    "period it serves; safetensors bytes; fixed Z-R fallback (flagged) when samples are too few.",
)
def mlp1_model(
    context: AssetExecutionContext,
    config: CalibrationConfig,
    compute: ComputeResource,
    samples: Any,
) -> bytes:
    return _train(context, "mlp1", samples, config, compute)


@asset(
    group_name=GROUP,
    partitions_def=daily_partitions,
    kinds={"xarray", "netcdf"},
    deps=[AssetKey(GR_GRID_PROFILES)],
    required_resource_keys={"io_manager", "compute"},
    pool=GPU_POOL,
    op_tags=GPU_PRIORITY_TAGS,
    description="GR rain rate (mm/h) per volume on the product grid from MLP-1 (read volume by "
    "volume from the gridded profiles).",
)
def gr_rain_volumes(context: AssetExecutionContext, mlp1_model: bytes) -> xr.Dataset:
    compute: ComputeResource = context.resources.compute
    model, meta = load_model_or_fallback(mlp1_model, "mlp1_model")
    path = _storage_path(context, GR_GRID_PROFILES, context.partition_key)
    device = compute.torch_device()
    parts = []
    with path.fs.open(path.path, "rb") as handle, xr.open_dataset(handle, engine="h5netcdf") as ds:
        profiles = _as_time_dim(ds)
        site = _site(profiles)
        profiles.attrs.update(site_latitude_deg=site[0], site_longitude_deg=site[1])
        n = profiles.sizes.get("time", 0)
        # read whole compression chunks along the volume axis: one volume at a time would
        # decompress each chunk once per volume it holds
        chunks = profiles["reflectivity"].encoding.get("chunksizes") or (1,)
        block = int(max(1, min(chunks[0], 24)))
        for start in range(0, n, block):
            loaded = profiles.isel(time=slice(start, start + block)).load()
            for i in range(loaded.sizes["time"]):
                parts.append(A.gr_rain_volumes(loaded.isel(time=[i]), model, device))
            del loaded
        if not parts:
            parts.append(A.gr_rain_volumes(profiles.isel(time=slice(0, 0)).load(), model, device))
    out = xr.concat(parts, dim="time", data_vars="minimal", coords="minimal", join="override")
    out["coverage"] = parts[0]["coverage"]
    out.attrs.update(parts[0].attrs, **_model_attrs("mlp1", meta))
    out["rain_rate"].encoding.update(
        dtype="uint16", scale_factor=0.01, _FillValue=np.uint16(65535), zlib=True, complevel=4
    )
    stats = _nan_stats(out["rain_rate"].values)
    context.add_output_metadata(
        {
            "volumes": MetadataValue.int(int(out.sizes["time"])),
            "model_version": MetadataValue.text(meta["version"]),
            "fallback": MetadataValue.text(meta["fallback"] or "none"),
            "mean_rain_mm_h": MetadataValue.float(stats["mean"]),
            "wet_fraction": MetadataValue.float(stats["wet_fraction"]),
        }
    )
    return out


def _as_time_dim(ds: xr.Dataset) -> xr.Dataset:
    """The ingest stacks volumes along ``volume`` with a ``time`` coordinate: index by time."""
    if "volume" in ds.dims and "time" in ds.coords:
        ds = ds.swap_dims({"volume": "time"})
    return ds


def _site(profiles: xr.Dataset) -> tuple[float, float]:
    if "site_latitude_deg" in profiles.attrs:
        return A.site_of(profiles)
    if "site_id" in profiles.coords and profiles["site_id"].size:
        from pyart.io.nexrad_common import get_nexrad_location

        site = str(profiles["site_id"].values.ravel()[0])
        lat, lon, _ = get_nexrad_location(site)
        return float(lat), float(lon)
    raise A.ApplyInputError("GR grid profiles: neither site attributes nor a site_id coordinate")


@asset(
    group_name=GROUP,
    partitions_def=daily_partitions,
    kinds={"xarray", "netcdf"},
    description="Hourly GR rain (mm/h) on the product grid: mean of the hour's MLP-1 volumes "
    "(time = start of the hour; hours with fewer than 6 volumes are NaN).",
    op_tags=PRIORITY_TAGS,
)
def gr_rain_hourly(context: AssetExecutionContext, gr_rain_volumes: xr.Dataset) -> xr.Dataset:
    out = A.hourly_mean(gr_rain_volumes)
    out.attrs.update(gr_rain_volumes.attrs)
    out["rain_rate"].encoding.update(zlib=True, complevel=4)
    stats = _nan_stats(out["rain_rate"].values)
    context.add_output_metadata(
        {
            "hours": MetadataValue.int(int(out.sizes.get("time", 0))),
            "model_version": MetadataValue.text(str(out.attrs.get("model_version", ""))),
            "mean_rain_mm_h": MetadataValue.float(stats["mean"]),
            "max_rain_mm_h": MetadataValue.float(stats["max"]),
        }
    )
    return out


# --------------------------------------------------------------------------- MLP-2


@asset(
    group_name=GROUP,
    partitions_def=daily_partitions,
    kinds={"pandas"},
    ins={"footprints": AssetIn(key=AssetKey(SR_FOOTPRINTS))},
    description="MLP-2 training samples: SR footprint profiles with the MLP-1 GR rain averaged "
    "over the footprint and the volumes within +-5 minutes.",
    op_tags=PRIORITY_TAGS,
)
def mlp2_samples(
    context: AssetExecutionContext, footprints: xr.Dataset, gr_rain_volumes: xr.Dataset
) -> pd.DataFrame:
    frame = A.footprints_frame(footprints)
    out = S.mlp2_samples(frame, gr_rain_volumes) if len(frame) else S.sr_feature_table(frame)
    if "gr_rain_mm_h" not in out:
        out["gr_rain_mm_h"] = pd.Series(dtype="float64")
    context.add_output_metadata(
        {
            "footprints": MetadataValue.int(len(frame)),
            "matched": MetadataValue.int(len(out)),
            "gr_model_version": MetadataValue.text(str(gr_rain_volumes.attrs.get("model_version"))),
        }
    )
    return out


@asset(
    group_name=GROUP,
    partitions_def=daily_partitions,
    kinds={"pytorch", "safetensors"},
    ins={"samples": _window_in("mlp2_samples")},
    pool=GPU_POOL,
    op_tags=GPU_PRIORITY_TAGS,
    description="MLP-2 (SR profile -> GR rain) trained on the trailing window; the SR standard "
    "product (flagged) when samples are too few.",
)
def mlp2_model(
    context: AssetExecutionContext,
    config: CalibrationConfig,
    compute: ComputeResource,
    samples: Any,
) -> bytes:
    return _train(context, "mlp2", samples, config, compute)


@asset(
    group_name=GROUP,
    partitions_def=daily_partitions,
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
    model, meta = load_model_or_fallback(mlp2_model, "mlp2_model")
    frame = A.footprints_frame(footprints)
    rain = A.sr_rain(frame, model, compute.torch_device()) if len(frame) else np.zeros(0)
    out = frame[["time", "lat", "lon", "precip_rate_near_surface_mm_h", "precip_type"]].copy()
    out["rain_mm_h"] = np.asarray(rain, dtype=np.float32)
    out["model_version"] = meta["version"]
    out["fallback"] = bool(meta["fallback"])
    out.attrs.update(_model_attrs("mlp2", meta))
    context.add_output_metadata(
        {
            "footprints": MetadataValue.int(len(out)),
            "model_version": MetadataValue.text(meta["version"]),
            "fallback": MetadataValue.text(meta["fallback"] or "none"),
            "max_rain_mm_h": MetadataValue.float(
                float(out["rain_mm_h"].max()) if len(out) else 0.0
            ),
        }
    )
    return out


# --------------------------------------------------------------------------- MLP-3


def _gr_on(gr_hourly: xr.Dataset, abi: xr.Dataset) -> xr.Dataset:
    """GR hourly rain on the ABI feature grid (the features may be on a coarser grid)."""
    same = (
        gr_hourly.sizes.get("lat") == abi.sizes.get("lat")
        and np.allclose(gr_hourly["lat"].values, abi["lat"].values)
        and np.allclose(gr_hourly["lon"].values, abi["lon"].values)
    )
    if same:
        return gr_hourly
    rain = gr_hourly["rain_rate"].interp(lat=abi["lat"], lon=abi["lon"], method="nearest")
    cover = (
        gr_hourly["coverage"].astype(float).interp(lat=abi["lat"], lon=abi["lon"], method="nearest")
    )
    return xr.Dataset({"rain_rate": rain, "coverage": cover.fillna(0) > 0.5})


@asset(
    group_name=GROUP,
    partitions_def=daily_partitions,
    kinds={"pandas"},
    ins={"abi": AssetIn(key=AssetKey(ABI_FEATURES))},
    description="MLP-3 training samples: hourly ABI features in a grid cell with the MLP-1 hourly "
    "GR rain there, inside GR coverage (all raining cells, a lattice of dry ones).",
    op_tags=PRIORITY_TAGS,
)
def mlp3_samples(
    context: AssetExecutionContext, abi: xr.Dataset, gr_rain_hourly: xr.Dataset
) -> pd.DataFrame:
    names = [n for n in F.ABI_FEATURE_FILLS if n in abi.data_vars]
    if abi.sizes.get("time", 0) == 0 or not names:
        out = pd.DataFrame(columns=["time", "lat", "lon", "gr_rain_mm_h"])
    else:
        out = S.mlp3_samples(abi, _gr_on(gr_rain_hourly, abi), names)
        if len(out):
            sza = np.empty(len(out), dtype=np.float32)
            for t, idx in out.groupby("time").indices.items():
                sza[idx] = F.solar_zenith_deg(
                    t, out["lat"].to_numpy()[idx], out["lon"].to_numpy()[idx]
                )
            out["solar_zenith_deg"] = sza
    context.add_output_metadata(
        {
            "pairs": MetadataValue.int(len(out)),
            "raining_pairs": MetadataValue.int(
                int((out["gr_rain_mm_h"] > 0).sum()) if len(out) else 0
            ),
            "features": MetadataValue.json(names),
        }
    )
    return out


@asset(
    group_name=GROUP,
    partitions_def=daily_partitions,
    kinds={"pytorch", "safetensors"},
    ins={"samples": _window_in("mlp3_samples")},
    pool=GPU_POOL,
    op_tags=GPU_PRIORITY_TAGS,
    description="MLP-3 (ABI features -> GR rain) trained on the trailing window; the fixed Tb "
    "curve (flagged) when samples are too few.",
)
def mlp3_model(
    context: AssetExecutionContext,
    config: CalibrationConfig,
    compute: ComputeResource,
    samples: Any,
) -> bytes:
    return _train(context, "mlp3", samples, config, compute)


@asset(
    group_name=GROUP,
    partitions_def=daily_partitions,
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
    model, meta = load_model_or_fallback(mlp3_model, "mlp3_model")
    lat, lon = domain.latitudes_deg(), domain.longitudes_deg()
    if abi.sizes.get("time", 0) == 0:
        out = xr.Dataset(
            {"rain_rate": (("time", "lat", "lon"), np.zeros((0, lat.size, lon.size), np.float32))},
            coords={"time": np.zeros(0, "datetime64[ns]"), "lat": lat, "lon": lon},
        )
    else:
        out = A.sat_rain_hourly(abi, model, compute.torch_device())
        if out.sizes["lat"] != lat.size or out.sizes["lon"] != lon.size:
            out = out.interp(lat=lat, lon=lon, method="nearest")
        out = out.assign_coords(lat=lat, lon=lon)
    out["time"].attrs["label"] = "start"
    out["rain_rate"].attrs["units"] = "mm h-1"
    out.attrs.update(_model_attrs("mlp3", meta))
    out["rain_rate"].encoding.update(zlib=True, complevel=4)
    stats = _nan_stats(out["rain_rate"].values)
    context.add_output_metadata(
        {
            "hours": MetadataValue.int(int(out.sizes["time"])),
            "model_version": MetadataValue.text(meta["version"]),
            "fallback": MetadataValue.text(meta["fallback"] or "none"),
            "mean_rain_mm_h": MetadataValue.float(stats["mean"]),
        }
    )
    return out


# --------------------------------------------------------------------------- evaluation


@asset(
    group_name=GROUP,
    partitions_def=daily_partitions,
    kinds={"json"},
    pool=GPU_POOL,
    op_tags=GPU_PRIORITY_TAGS,
    description="Held-out scores of the chain for the day (models trained before it): MLP-1 and "
    "the fixed Z-R relations at held-out gauges (hourly), MLP-2 and precipRateNearSurface and "
    "MLP-3 and the Tb curve against GR rain; sufficient statistics for exact pooling; scatter "
    "plots.",
)
def calibration_evaluation(
    context: AssetExecutionContext,
    compute: ComputeResource,
    mlp1_samples: pd.DataFrame,
    mlp1_model: bytes,
    mlp2_samples: pd.DataFrame,
    mlp2_model: bytes,
    mlp3_samples: pd.DataFrame,
    mlp3_model: bytes,
) -> dict:
    device = compute.torch_device()
    models = {
        name: load_model_or_fallback(data, f"{name}_model")
        for name, data in (("mlp1", mlp1_model), ("mlp2", mlp2_model), ("mlp3", mlp3_model))
    }
    held = mlp1_samples[mlp1_samples["heldout"].astype(bool)] if len(mlp1_samples) else mlp1_samples
    h1 = E.mlp1_hourly(held, models["mlp1"][0], device)
    p2 = E.mlp2_pairs(mlp2_samples, models["mlp2"][0], device)
    p3 = E.mlp3_pairs(mlp3_samples, models["mlp3"][0], device)
    pairs = {"mlp1": (h1, "gauge"), "mlp2": (p2, "gr"), "mlp3": (p3, "gr")}
    record: dict[str, Any] = {"day": context.partition_key}
    for est in E.ESTIMATORS:
        owner = (
            "mlp1"
            if est == "mlp1" or est.startswith("zr_")
            else ("mlp2" if est in ("mlp2", "sr_standard") else "mlp3")
        )
        frame, ref = pairs[owner]
        stats = sufficient_stats(frame[est], frame[ref]) if len(frame) else pool([])
        _, meta = models[owner]
        record[est] = {
            **score_from_stats(stats),
            "stats": stats,
            "model": owner,
            "model_version": meta["version"] if est == owner else None,
            "fallback": meta["fallback"],
        }
    if len(h1):
        record["mlp1"]["rmse_by_range"] = E.rmse_by_range(h1)
    panels = {}
    for est, (frame, ref, label) in {
        "mlp1": (h1, "gauge", "gauge"),
        "zr_300_1.4": (h1, "gauge", "gauge"),
        "mlp2": (p2, "gr", "GR"),
        "sr_standard": (p2, "gr", "GR"),
        "mlp3": (p3, "gr", "GR"),
        "tb_curve": (p3, "gr", "GR"),
    }.items():
        if len(frame):
            panels[est] = (frame[est].to_numpy(float), frame[ref].to_numpy(float), label)
    meta_out: dict[str, Any] = {
        "table": MetadataValue.md(_score_markdown(record)),
        **{
            f"{est}_rmse": MetadataValue.float(float(np.nan_to_num(record[est]["rmse"], nan=-1)))
            for est in E.ESTIMATORS
        },
        "model_versions": MetadataValue.json({k: v[1]["version"] for k, v in models.items()}),
        "fallbacks": MetadataValue.json({k: v[1]["fallback"] for k, v in models.items()}),
    }
    if panels:
        meta_out["scatter"] = _md_png(E.scatter_png(panels), "held-out scatter")
    context.add_output_metadata(meta_out)
    return record


def _score_markdown(record: dict) -> str:
    lines = [
        "| estimator | rmse (mm/h) | corr | nbias | n | fallback |",
        "|---|---|---|---|---|---|",
    ]
    for est in E.ESTIMATORS:
        s = record[est]
        lines.append(
            f"| {est} | {s['rmse']:.3f} | {s['corr']:.3f} | {s['nbias']:.3f} | {s['n']} | "
            f"{s['fallback'] or ''} |"
        )
    return "\n".join(lines)


def _check(record: dict, model: str, baselines: list[str], need_corr: bool) -> AssetCheckResult:
    s = record[model]
    meta = {
        f"{k}_rmse": MetadataValue.float(float(np.nan_to_num(record[k]["rmse"], nan=-1)))
        for k in [model, *baselines]
    }
    if s.get("fallback"):
        return AssetCheckResult(
            passed=False,
            severity=AssetCheckSeverity.WARN,
            metadata={**meta, "reason": MetadataValue.text(f"fallback {s['fallback']} in use")},
        )
    if s["n"] < 20:
        return AssetCheckResult(
            passed=False,
            severity=AssetCheckSeverity.WARN,
            metadata={**meta, "reason": MetadataValue.text(f"only {s['n']} held-out pairs")},
        )
    best = min(record[b]["rmse"] for b in baselines)
    ok = s["rmse"] < best
    if need_corr:
        ok &= s["corr"] > max(record[b]["corr"] for b in baselines)
    return AssetCheckResult(passed=bool(ok), severity=AssetCheckSeverity.ERROR, metadata=meta)


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
