"""Applying the networks (or their flagged fallbacks) to whole days of inputs.

* GR rain per volume on the product grid (MLP-1 on the gridded profiles; fallback: fixed Z-R on
  the lowest valid level) and its hourly mean;
* SR rain along the swath (MLP-2 on the footprint profiles; fallback: ``precipRateNearSurface``);
* satellite rain hourly on the product grid (MLP-3 on the ABI features; fallback: the fixed
  Tb curve on band 14).

Inputs are the ingest's products: gridded GR profiles ``(time, height, lat, lon)`` with
``reflectivity`` (dBZ), ``differential_reflectivity``, ``specific_differential_phase`` and the
site position in the attributes; SR footprints ``(footprint, height)`` with ``zku_dbz``; hourly
ABI features ``(time, lat, lon)``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
import xarray as xr

from fusion_ops.calibration import features as F
from fusion_ops.calibration.baselines import fallback_gr_rain_rate, tb_curve_rain_rate
from fusion_ops.calibration.models import RainMLP, predict_rain_rate
from fusion_ops.calibration.samples import gr_coverage_mask, local_xy_km

GR_FIELDS = {
    "dbz": "reflectivity",
    "zdr": "differential_reflectivity",
    "kdp": "specific_differential_phase",
}
#: An hour needs this many GR volumes for its mean rain rate.
MIN_VOLUMES_PER_HOUR = 6
#: Most GR volumes loaded at once when a day of gridded profiles is converted block by block.
MAX_BLOCK_VOLUMES = 24


class ApplyInputError(ValueError):
    """An input dataset lacks what the application needs (message names it)."""


def site_of(profiles: xr.Dataset) -> tuple[float, float]:
    """GR site (lat, lon) from the gridded profiles' attributes."""
    try:
        return float(profiles.attrs["site_latitude_deg"]), float(
            profiles.attrs["site_longitude_deg"]
        )
    except KeyError:
        raise ApplyInputError(
            f"GR grid profiles: no site_latitude_deg/site_longitude_deg attribute "
            f"(has {sorted(profiles.attrs)})"
        ) from None


def as_time_dim(profiles: xr.Dataset) -> xr.Dataset:
    """Index the gridded GR profiles by ``time``.

    The ingest stacks the volumes along a ``volume`` dimension with a ``time`` coordinate;
    everything here selects volumes by time.
    """
    if "volume" in profiles.dims and "time" in profiles.coords:
        profiles = profiles.swap_dims({"volume": "time"})
    return profiles


def profile_site(profiles: xr.Dataset) -> tuple[float, float]:
    """GR site (lat, lon) of gridded profiles: from their attributes, else from the NEXRAD site id.

    Raises
    ------
    ApplyInputError
        When the profiles carry neither the site attributes nor a ``site_id`` coordinate.
    """
    if "site_latitude_deg" in profiles.attrs:
        return site_of(profiles)
    if "site_id" in profiles.coords and profiles["site_id"].size:
        # imported here: Py-ART is slow to import and only needed for ids without attributes
        from pyart.io.nexrad_common import get_nexrad_location

        site = str(profiles["site_id"].values.ravel()[0])
        lat, lon, _ = get_nexrad_location(site)
        return float(lat), float(lon)
    raise ApplyInputError("GR grid profiles: neither site attributes nor a site_id coordinate")


def grid_range_km(lat: np.ndarray, lon: np.ndarray, site: tuple[float, float]) -> np.ndarray:
    """``(nlat, nlon)`` ground distance (km) of the product-grid cells from the site."""
    glat, glon = np.meshgrid(lat, lon, indexing="ij")
    xy = local_xy_km(glat.ravel(), glon.ravel(), site[0], site[1])
    return np.hypot(xy[:, 0], xy[:, 1]).reshape(glat.shape)


def grid_features(
    volume: xr.Dataset, range_km: np.ndarray, corrections: dict | None = None
) -> dict[str, np.ndarray]:
    """MLP-1 feature columns (flattened cells) of one gridded volume ``(height, lat, lon)``.

    ``corrections``: the day's GR calibration offsets (``reflectivity_db``, ``zdr_db``, as
    :func:`fusion_ops.calibration.monitoring.corrections_to_apply` gives them), removed from the
    reflectivity and ZDR features (:func:`fusion_ops.calibration.features.correct_gr_features`).
    """
    heights = np.round(volume["height"].to_numpy()).astype(int)
    cols: dict[str, np.ndarray] = {}
    for prefix, var in GR_FIELDS.items():
        if var not in volume:
            continue
        data = volume[var].transpose("height", "lat", "lon").to_numpy().astype(np.float32)
        for h, name in zip(F.PROFILE_HEIGHTS_M, F.level_names(prefix), strict=True):
            k = np.flatnonzero(heights == h)
            if k.size:
                cols[name] = data[k[0]].ravel()
    cols["range_km"] = range_km.ravel().astype(np.float32)
    cols["beam_height_km"] = F.beam_height_km(range_km.ravel()).astype(np.float32)
    z_db, zdr_db = correction_offsets(corrections)
    return F.correct_gr_features(cols, z_db, zdr_db)


def correction_offsets(corrections: dict | None) -> tuple[float, float]:
    """``(reflectivity_db, zdr_db)`` of a corrections mapping; ``(0, 0)`` for ``None``."""
    corrections = corrections or {}
    return (
        float(corrections.get("reflectivity_db") or 0.0),
        float(corrections.get("zdr_db") or 0.0),
    )


def gr_rain_volumes(
    profiles: xr.Dataset,
    model: RainMLP | None,
    device: torch.device | str = "cpu",
    max_range_km: float = F.MAX_GR_RANGE_KM,
    corrections: dict | None = None,
) -> xr.Dataset:
    """GR rain rate (mm/h) per volume on the product grid.

    ``model=None`` applies the flagged fallback (fixed Z-R on the lowest valid level). Cells
    beyond ``max_range_km`` are NaN; ``coverage`` marks the cells inside. ``corrections``: the
    GR calibration offsets removed from the features first (:func:`grid_features`).
    """
    if "reflectivity" not in profiles:
        raise ApplyInputError(f"GR grid profiles: no 'reflectivity' (has {list(profiles)})")
    site = site_of(profiles)
    lat, lon = profiles["lat"].to_numpy(), profiles["lon"].to_numpy()
    rng = grid_range_km(lat, lon, site)
    cover = rng <= max_range_km
    times = profiles["time"].to_numpy()
    out = np.full((times.size, lat.size, lon.size), np.nan, dtype=np.float32)
    cells = np.flatnonzero(cover.ravel())
    for i in range(times.size):
        vol = profiles.isel(time=i)
        cols = grid_features(vol, rng, corrections)
        if model is None:
            dbz = np.stack(
                [cols.get(n, np.full(rng.size, np.nan)) for n in F.level_names("dbz")], -1
            )
            rate = fallback_gr_rain_rate(F.lowest_valid(dbz[cells])).astype(np.float32)
        else:
            x = F.matrix({k: v[cells] for k, v in cols.items()}, model.spec)
            rate = predict_rain_rate(model, x, device)
        flat = out[i].reshape(-1)
        flat[cells] = rate
    ds = xr.Dataset(
        {
            "rain_rate": (("time", "lat", "lon"), out, {"units": "mm h-1"}),
            "coverage": (("lat", "lon"), cover),
        },
        coords={"time": times, "lat": lat, "lon": lon},
        attrs={"site_latitude_deg": site[0], "site_longitude_deg": site[1]},
    )
    return ds


def gr_rain_volumes_blockwise(
    profiles: xr.Dataset,
    model: RainMLP | None,
    device: torch.device | str = "cpu",
    max_block_volumes: int = MAX_BLOCK_VOLUMES,
    corrections: dict | None = None,
) -> xr.Dataset:
    """:func:`gr_rain_volumes` of a lazily opened day of gridded profiles, read block by block.

    A day of gridded volumes does not fit in memory at once: the volumes are loaded in blocks of
    whole compression chunks along the volume axis (at most ``max_block_volumes``), and each
    volume is converted on its own.

    Parameters
    ----------
    profiles : gridded GR profiles ``(volume or time, height, lat, lon)``, lazily opened; the
        site comes from the attributes or the ``site_id`` coordinate (:func:`profile_site`).
    model : MLP-1, or ``None`` for the flagged fallback (fixed Z-R).
    device : torch device of the inference.
    max_block_volumes : most volumes loaded at once.
    corrections : the day's GR calibration offsets (``reflectivity_db``, ``zdr_db``) removed
        from the features before MLP-1 (or the fallback); ``None``: none.

    Returns
    -------
    xarray.Dataset
        ``rain_rate`` (mm/h, ``time, lat, lon``), ``coverage``, the site attributes and the
        offsets removed (``gr_reflectivity_correction_db``, ``gr_zdr_correction_db``).
    """
    profiles = as_time_dim(profiles)
    site = profile_site(profiles)
    profiles = profiles.assign_attrs(site_latitude_deg=site[0], site_longitude_deg=site[1])
    n_volumes = profiles.sizes.get("time", 0)
    # whole compression chunks along the volume axis: one volume at a time would decompress each
    # chunk once per volume it holds
    chunks = profiles["reflectivity"].encoding.get("chunksizes") or (1,)
    block = int(max(1, min(chunks[0], max_block_volumes)))
    parts = []
    for start in range(0, n_volumes, block):
        loaded = profiles.isel(time=slice(start, start + block)).load()
        for i in range(loaded.sizes["time"]):
            parts.append(
                gr_rain_volumes(loaded.isel(time=[i]), model, device, corrections=corrections)
            )
        del loaded
    if not parts:  # an empty day still yields the grid, its coverage and the site
        parts.append(gr_rain_volumes(profiles.isel(time=slice(0, 0)).load(), model, device))
    out = xr.concat(parts, dim="time", data_vars="minimal", coords="minimal", join="override")
    out["coverage"] = parts[0]["coverage"]
    out.attrs.update(parts[0].attrs)
    z_db, zdr_db = correction_offsets(corrections)
    out.attrs.update(gr_reflectivity_correction_db=z_db, gr_zdr_correction_db=zdr_db)
    return out


def nan_stats(values: np.ndarray) -> dict[str, float]:
    """Mean and maximum (mm/h) of the finite values, and the fraction of them above zero.

    NaN mean and maximum and a zero wet fraction when no value is finite.
    """
    finite = values[np.isfinite(values)]
    if not finite.size:
        return {"mean": float("nan"), "max": float("nan"), "wet_fraction": 0.0}
    return {
        "mean": float(finite.mean()),
        "max": float(finite.max()),
        "wet_fraction": float((finite > 0).mean()),
    }


def hourly_mean(volumes: xr.Dataset, min_volumes: int = MIN_VOLUMES_PER_HOUR) -> xr.Dataset:
    """Hourly mean rain rate; ``time`` labels the start of the hour; thin hours are NaN."""
    if volumes.sizes.get("time", 0) == 0:
        empty = volumes["rain_rate"].isel(time=slice(0, 0))
        return xr.Dataset({"rain_rate": empty, "coverage": volumes["coverage"]})
    rain = volumes["rain_rate"]
    hours = rain["time"].dt.floor("h")
    mean = rain.groupby(hours).mean("time")
    count = rain.groupby(hours).count("time")
    mean = mean.where(count >= min_volumes).rename(
        {"floor": "time"} if "floor" in mean.dims else {}
    )
    ds = xr.Dataset({"rain_rate": mean.astype(np.float32), "coverage": volumes["coverage"]})
    ds["rain_rate"].attrs["units"] = "mm h-1"
    ds["time"].attrs["label"] = "start"
    ds.attrs.update(volumes.attrs)
    return ds


def footprints_frame(footprints: xr.Dataset) -> pd.DataFrame:
    """SR footprint dataset ``(footprint, height)`` -> one row per footprint with ``zku_h*``."""
    n = footprints.sizes.get("footprint", 0)
    frame: dict[str, np.ndarray] = {}
    for name in ("time", "lat", "lon"):
        if name not in footprints.variables:
            raise ApplyInputError(f"SR footprints: no {name!r} (has {list(footprints.variables)})")
        frame[name] = footprints[name].to_numpy()
    heights = np.round(footprints["height"].to_numpy()).astype(int) if n else np.array([], int)
    z = footprints["zku_dbz"].transpose("footprint", "height").to_numpy() if n else None
    for h, name in zip(F.PROFILE_HEIGHTS_M, F.level_names("zku"), strict=True):
        k = np.flatnonzero(heights == h)
        frame[name] = z[:, k[0]] if (z is not None and k.size) else np.full(n, np.nan)
    for name in (
        "precip_rate_near_surface_mm_h",
        "precip_type",
        "bright_band_height_m",
        "clutter_free_bottom_m",
        "local_zenith_deg",
    ):
        frame[name] = footprints[name].to_numpy() if name in footprints else np.full(n, np.nan)
    out = pd.DataFrame(frame)
    out["time"] = pd.to_datetime(out["time"], utc=True)
    return out


def sr_rain(frame: pd.DataFrame, model: RainMLP | None, device="cpu") -> np.ndarray:
    """MLP-2 rain (mm/h) per footprint; fallback: the SR standard product."""
    if model is None:
        return frame["precip_rate_near_surface_mm_h"].to_numpy(dtype=np.float32)
    from fusion_ops.calibration.samples import sr_feature_table

    return predict_rain_rate(model, F.matrix(sr_feature_table(frame), model.spec), device)


def abi_frame(abi_hour: xr.Dataset) -> dict[str, np.ndarray]:
    """Feature columns (flattened cells) of one hour of ABI features, solar zenith added."""
    lat, lon = abi_hour["lat"].to_numpy(), abi_hour["lon"].to_numpy()
    glat, glon = np.meshgrid(lat, lon, indexing="ij")
    cols = {
        name: abi_hour[name].transpose("lat", "lon").to_numpy().ravel()
        for name in F.ABI_FEATURE_FILLS
        if name in abi_hour
    }
    cols["solar_zenith_deg"] = F.solar_zenith_deg(
        abi_hour["time"].to_numpy(), glat.ravel(), glon.ravel()
    )
    return cols


def sat_rain_hourly(abi: xr.Dataset, model: RainMLP | None, device="cpu") -> xr.Dataset:
    """Satellite rain (mm/h) per hour on the product grid; fallback: the fixed Tb curve."""
    lat, lon = abi["lat"].to_numpy(), abi["lon"].to_numpy()
    times = abi["time"].to_numpy()
    out = np.full((times.size, lat.size, lon.size), np.nan, dtype=np.float32)
    for i in range(times.size):
        cols = abi_frame(abi.isel(time=i))
        if model is None:
            if F.TB_CURVE_BAND not in cols:
                continue
            rate = tb_curve_rain_rate(cols[F.TB_CURVE_BAND])
        else:
            x = F.matrix(cols, model.spec)
            # no IR at all: no estimate (a missing scan), rather than the fill values' guess
            ir = [j for j, n in enumerate(model.spec.features) if n.startswith("bt_")]
            rate = predict_rain_rate(model, x, device).astype(np.float64)
            rate[np.isnan(x[:, ir]).all(axis=1)] = np.nan
        out[i] = rate.reshape(lat.size, lon.size)
    ds = xr.Dataset(
        {"rain_rate": (("time", "lat", "lon"), out, {"units": "mm h-1"})},
        coords={"time": times, "lat": lat, "lon": lon},
    )
    ds["time"].attrs["label"] = "start"
    return ds


def coverage_for(lat: np.ndarray, lon: np.ndarray, site: tuple[float, float]) -> np.ndarray:
    """GR coverage on a grid (re-exported for the assets)."""
    return gr_coverage_mask(lat, lon, site[0], site[1])
