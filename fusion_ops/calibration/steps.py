"""One function per daily calibration product: what each asset of the chain computes.

Each takes plain inputs (tables, datasets, model files as bytes, resolved paths, grids) and returns
the product with a ``summary``: plain values (counts, versions, statistics) that the orchestration
reports beside it. Model training is :func:`fusion_ops.calibration.fitting.fit_or_fallback` and
the held-out evaluation :func:`fusion_ops.calibration.evaluation.evaluate_day`.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
import pandas as pd
import torch
import xarray as xr

from fusion_ops.calibration import apply as A
from fusion_ops.calibration import features as F
from fusion_ops.calibration import samples as S
from fusion_ops.calibration.fitting import model_attrs
from fusion_ops.calibration.versioning import load_model_or_fallback
from fusion_ops.grid import ProductGrid

Summary = dict[str, Any]


class FilePath(Protocol):
    """A resolved storage path (e.g. a universal-pathlib ``UPath``): its fsspec file system and
    the path on it (credentials and other storage options live in the file system)."""

    fs: Any
    path: str


def mlp1_samples(
    profiles: pd.DataFrame | None, gauges: pd.DataFrame | None
) -> tuple[pd.DataFrame, Summary]:
    """MLP-1 training samples of a day (:func:`fusion_ops.calibration.samples.mlp1_samples`).

    Returns
    -------
    (samples, summary)
        The sample rows (an empty table with the sample columns when either input is missing or
        empty); ``pairs``, ``gauge_hours``, ``heldout_gauge_hours``, ``wet_gauge_hours`` and
        ``stations`` counts.
    """
    if profiles is None or profiles.empty or gauges is None or gauges.empty:
        out = S.empty_mlp1_samples()
    else:
        out = S.mlp1_samples(profiles, gauges)
    if len(out):
        groups = out["group"]
        summary = {
            "pairs": len(out),
            "gauge_hours": int(groups.nunique()),
            "heldout_gauge_hours": int(groups[out["heldout"].astype(bool)].nunique()),
            "wet_gauge_hours": int(groups[out["gauge_rate_mm_h"] > 0].nunique()),
            "stations": int(out["station_id"].nunique()),
        }
    else:
        summary = dict.fromkeys(
            ("pairs", "gauge_hours", "heldout_gauge_hours", "wet_gauge_hours", "stations"), 0
        )
    return out, summary


def gr_rain_volumes(
    profiles_path: FilePath,
    model_file: bytes,
    device: torch.device | str = "cpu",
    corrections: dict | None = None,
) -> tuple[xr.Dataset, Summary]:
    """GR rain rate (mm/h) per volume on the product grid from MLP-1 (or its fallback).

    Parameters
    ----------
    profiles_path : where the day's gridded GR profiles (NetCDF) are stored; read block by block
        (:func:`fusion_ops.calibration.apply.gr_rain_volumes_blockwise`), never whole.
    model_file : the MLP-1 model file serving the day.
    device : torch device of the inference.
    corrections : the day's GR calibration offsets removed from MLP-1's features
        (:func:`fusion_ops.calibration.monitoring.corrections_to_apply`); ``None``: none.

    Returns
    -------
    (volumes, summary)
        ``rain_rate`` (time, lat, lon) with ``coverage`` and the model attributes, encoded as
        uint16 hundredths of mm/h; ``volumes``, ``model_version``, ``fallback``,
        ``mean_rain_mm_h`` and ``wet_fraction``.
    """
    model, meta = load_model_or_fallback(model_file, "mlp1_model")
    with (
        profiles_path.fs.open(profiles_path.path, "rb") as handle,
        xr.open_dataset(handle, engine="h5netcdf") as profiles,
    ):
        out = A.gr_rain_volumes_blockwise(profiles, model, device, corrections=corrections)
    out.attrs.update(model_attrs("mlp1", meta))
    # 0.01 mm/h steps up to 655 mm/h: a quarter of the float32 size before compression
    out["rain_rate"].encoding.update(
        dtype="uint16", scale_factor=0.01, _FillValue=np.uint16(65535), zlib=True, complevel=4
    )
    stats = A.nan_stats(out["rain_rate"].values)
    return out, {
        "volumes": int(out.sizes["time"]),
        "model_version": meta["version"],
        "fallback": meta["fallback"] or "none",
        "mean_rain_mm_h": stats["mean"],
        "wet_fraction": stats["wet_fraction"],
    }


def gr_rain_hourly(
    volumes: xr.Dataset, min_volumes: int = A.MIN_VOLUMES_PER_HOUR
) -> tuple[xr.Dataset, Summary]:
    """Hourly mean GR rain (mm/h; time = start of the hour; hours with fewer than
    ``min_volumes`` volumes NaN).

    Returns
    -------
    (hourly, summary)
        The hourly rain with the volumes' attributes; ``hours``, ``model_version``,
        ``mean_rain_mm_h`` and ``max_rain_mm_h``.
    """
    out = A.hourly_mean(volumes, min_volumes)
    out.attrs.update(volumes.attrs)
    out["rain_rate"].encoding.update(zlib=True, complevel=4)
    stats = A.nan_stats(out["rain_rate"].values)
    return out, {
        "hours": int(out.sizes.get("time", 0)),
        "model_version": str(out.attrs.get("model_version", "")),
        "mean_rain_mm_h": stats["mean"],
        "max_rain_mm_h": stats["max"],
    }


def mlp2_samples(footprints: xr.Dataset, gr_volumes: xr.Dataset) -> tuple[pd.DataFrame, Summary]:
    """MLP-2 training samples: SR footprints with the GR rain (mm/h) over each.

    Returns
    -------
    (samples, summary)
        One row per matched footprint (always with a ``gr_rain_mm_h`` column); ``footprints``,
        ``matched`` and ``gr_model_version``.
    """
    frame = A.footprints_frame(footprints)
    out = S.mlp2_samples(frame, gr_volumes) if len(frame) else S.sr_feature_table(frame)
    if "gr_rain_mm_h" not in out:
        out["gr_rain_mm_h"] = pd.Series(dtype="float64")
    return out, {
        "footprints": len(frame),
        "matched": len(out),
        "gr_model_version": str(gr_volumes.attrs.get("model_version")),
    }


def sr_rain_swath(
    footprints: xr.Dataset, model_file: bytes, device: torch.device | str = "cpu"
) -> tuple[pd.DataFrame, Summary]:
    """SR rain (mm/h) along the swath from MLP-2 (or the standard product, flagged).

    Returns
    -------
    (swath, summary)
        Per footprint: time, position, ``precip_rate_near_surface_mm_h``, ``precip_type``,
        ``rain_mm_h`` (float32), ``model_version`` and ``fallback``; the model attributes in
        ``attrs``. Summary: ``footprints``, ``model_version``, ``fallback``, ``max_rain_mm_h``.
    """
    model, meta = load_model_or_fallback(model_file, "mlp2_model")
    frame = A.footprints_frame(footprints)
    rain = A.sr_rain(frame, model, device) if len(frame) else np.zeros(0)
    out = frame[["time", "lat", "lon", "precip_rate_near_surface_mm_h", "precip_type"]].copy()
    out["rain_mm_h"] = np.asarray(rain, dtype=np.float32)
    out["model_version"] = meta["version"]
    out["fallback"] = bool(meta["fallback"])
    out.attrs.update(model_attrs("mlp2", meta))
    return out, {
        "footprints": len(out),
        "model_version": meta["version"],
        "fallback": meta["fallback"] or "none",
        "max_rain_mm_h": float(out["rain_mm_h"].max()) if len(out) else 0.0,
    }


def mlp3_samples(abi: xr.Dataset, gr_hourly: xr.Dataset) -> tuple[pd.DataFrame, Summary]:
    """MLP-3 training samples: hourly ABI features with the hourly GR rain (mm/h) in the cell.

    The GR rain is taken on the features' grid (:func:`fusion_ops.calibration.samples.
    gr_hourly_on_grid`) and every pair gets its solar zenith angle (degrees).

    Returns
    -------
    (samples, summary)
        The pairs (an empty table without ABI hours or features); ``pairs``, ``raining_pairs``
        and ``features`` (the ABI features present).
    """
    names = [n for n in F.ABI_FEATURE_FILLS if n in abi.data_vars]
    if abi.sizes.get("time", 0) == 0 or not names:
        out = pd.DataFrame(columns=["time", "lat", "lon", "gr_rain_mm_h"])
    else:
        out = S.mlp3_samples(abi, S.gr_hourly_on_grid(gr_hourly, abi), names)
        if len(out):
            out["solar_zenith_deg"] = F.solar_zenith_of_rows(out)
    return out, {
        "pairs": len(out),
        "raining_pairs": int((out["gr_rain_mm_h"] > 0).sum()) if len(out) else 0,
        "features": names,
    }


def sat_rain_hourly(
    abi: xr.Dataset,
    model_file: bytes,
    grid: ProductGrid,
    device: torch.device | str = "cpu",
) -> tuple[xr.Dataset, Summary]:
    """Satellite rain (mm/h) hourly on the product grid from MLP-3 (or the Tb curve, flagged).

    Parameters
    ----------
    abi : hourly ABI features ``(time, lat, lon)``.
    model_file : the MLP-3 model file serving the day.
    grid : the product grid; features on another grid are taken from the nearest cell.
    device : torch device of the inference.

    Returns
    -------
    (rain, summary)
        ``rain_rate`` (time = start of the hour, lat, lon) with the model attributes; ``hours``,
        ``model_version``, ``fallback`` and ``mean_rain_mm_h``.
    """
    model, meta = load_model_or_fallback(model_file, "mlp3_model")
    lat_deg, lon_deg = grid.lat, grid.lon
    if abi.sizes.get("time", 0) == 0:
        shape = (0, lat_deg.size, lon_deg.size)
        out = xr.Dataset(
            {"rain_rate": (("time", "lat", "lon"), np.zeros(shape, np.float32))},
            coords={"time": np.zeros(0, "datetime64[ns]"), "lat": lat_deg, "lon": lon_deg},
        )
    else:
        out = A.sat_rain_hourly(abi, model, device)
        if out.sizes["lat"] != lat_deg.size or out.sizes["lon"] != lon_deg.size:
            out = out.interp(lat=lat_deg, lon=lon_deg, method="nearest")
        out = out.assign_coords(lat=lat_deg, lon=lon_deg)
    out["time"].attrs["label"] = "start"
    out["rain_rate"].attrs["units"] = "mm h-1"
    out.attrs.update(model_attrs("mlp3", meta))
    out["rain_rate"].encoding.update(zlib=True, complevel=4)
    stats = A.nan_stats(out["rain_rate"].values)
    return out, {
        "hours": int(out.sizes["time"]),
        "model_version": meta["version"],
        "fallback": meta["fallback"] or "none",
        "mean_rain_mm_h": stats["mean"],
    }
