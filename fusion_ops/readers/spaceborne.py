"""Spaceborne precipitation radar (GPM Ku/DPR, TRMM PR) 2A HDF5 -> footprint profiles.

One reader for both layouts:

* V06/V05 (``NS`` swath): reflectivity ``NS/SLV/zFactorCorrected (nscan, nray, nbin)``;
* V07 (``FS`` swath, TRMM reprocessed too): ``FS/SLV/zFactorFinal`` with a trailing frequency
  dimension (Ku, Ka) for DPR, bin heights in ``FS/PRE/height``.

Profiles are put on fixed heights above ground (bin height minus ``PRE/elevation``), averaging
the 125 m bins that fall within half a level spacing, in dBZ (as the ground-radar profiles).
Where ``PRE/height`` is absent the bin heights come from the geometry: bin ``i`` (1-based,
counted from the top) lies ``(binEllipsoid - i) * 125 m + ellipsoidBinOffset`` along the ray
above the ellipsoid, times ``cos(localZenithAngle)`` for the vertical; ``binEllipsoid`` is the
last bin (176 for the 125 m, 176-bin products).  Bins below the clutter-free bottom
(``binClutterFreeBottom``, 1-based) are masked.  Fill values: float -9999.9, int -9999, int8 -99.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import fsspec
import h5py
import numpy as np
import pandas as pd
import xarray as xr

from fusion_ops.grid import DEFAULT_HEIGHTS_M
from fusion_ops.readers.errors import (
    QuarantineRecord,
    UnreadableFileError,
    describe_exception,
    read_all,
)
from fusion_ops.readers.remote import fs_options

BIN_SPACING_M = 125.0
PRECIP_TYPES = {0: "none", 1: "stratiform", 2: "convective", 3: "other"}


def _open_h5(url: str, reader: str, storage_options: dict | None) -> h5py.File:
    opts = fs_options(url, storage_options)
    try:
        with fsspec.open(str(url), "rb", **opts) as fh:
            data = fh.read()
    except FileNotFoundError as exc:
        raise UnreadableFileError(url, "file not found", reader) from exc
    except OSError as exc:
        raise UnreadableFileError(url, describe_exception(exc), reader) from exc
    if not data:
        raise UnreadableFileError(url, "empty file", reader)
    if data[:8] != b"\x89HDF\r\n\x1a\n":
        raise UnreadableFileError(url, f"not an HDF5 file (first bytes {data[:8]!r})", reader)
    try:
        return h5py.File(io.BytesIO(data), "r")
    except OSError as exc:
        raise UnreadableFileError(url, f"corrupt or truncated HDF5: {exc}", reader) from exc


def _get(g: h5py.Group, path: str, url: str, reader: str, dtype=np.float64) -> np.ndarray:
    try:
        arr = np.asarray(g[path][...])
    except KeyError as exc:
        raise UnreadableFileError(url, f"missing dataset {g.name}/{path}", reader) from exc
    except (OSError, RuntimeError, ValueError) as exc:
        raise UnreadableFileError(url, f"cannot read {g.name}/{path}: {exc}", reader) from exc
    if np.issubdtype(arr.dtype, np.floating):
        arr = np.where(arr <= -9999.0, np.nan, arr)
    return arr.astype(dtype) if dtype is not None else arr


def _opt(g: h5py.Group, path: str, url: str, reader: str, dtype=np.float64):
    return _get(g, path, url, reader, dtype) if path in g else None


def _scan_times(g: h5py.Group, url: str, reader: str) -> np.ndarray:
    st = g.get("ScanTime", None)
    if st is None:
        raise UnreadableFileError(url, f"missing {g.name}/ScanTime", reader)
    parts = {
        k: np.asarray(st[k][...]).astype(np.int64)
        for k in ("Year", "Month", "DayOfMonth", "Hour", "Minute", "Second", "MilliSecond")
    }
    frame = pd.DataFrame(
        {
            "year": parts["Year"],
            "month": parts["Month"],
            "day": parts["DayOfMonth"],
            "hour": parts["Hour"],
            "minute": parts["Minute"],
            "second": parts["Second"],
            "ms": parts["MilliSecond"],
        }
    )
    bad = (frame < 0).any(axis=1)
    times = pd.to_datetime(frame.where(~bad), errors="coerce")
    return times.to_numpy(dtype="datetime64[ns]")


def _swath(h5: h5py.File, url: str, reader: str) -> tuple[str, h5py.Group, str, h5py.Dataset]:
    """The swath group (``FS``/``NS``/``MS``/``HS``) and its reflectivity dataset (name too)."""
    swath = next((s for s in ("FS", "NS", "MS", "HS") if s in h5), None)
    if swath is None:
        raise UnreadableFileError(url, "no FS/NS/MS/HS swath group", reader)
    g = h5[swath]
    zname = "SLV/zFactorFinal" if "SLV/zFactorFinal" in g else "SLV/zFactorCorrected"
    zds = g.get(zname, None)
    if zds is None:
        raise UnreadableFileError(url, f"no reflectivity in {swath}/SLV", reader)
    return swath, g, zname, zds


def _reflectivity(zds: h5py.Dataset, zname: str, url: str, reader: str) -> np.ndarray:
    """``(nscan, nray, nbin[, nfreq])`` float32 dBZ, NaN at fill values (<= -100)."""
    try:
        zall = np.asarray(zds[...], dtype=np.float32)
    except (OSError, RuntimeError) as exc:
        raise UnreadableFileError(url, f"cannot read {zname}: {exc}", reader) from exc
    return np.where(zall <= -100.0, np.nan, zall)


def _zenith(g: h5py.Group, url: str, reader: str) -> np.ndarray:
    """Local zenith angle ``(nscan, nray)`` (Ku for DPR)."""
    lza = _get(g, "PRE/localZenithAngle", url, reader)
    return lza[..., 0] if lza.ndim == 3 else lza


def _major_precip_type(g: h5py.Group, url: str, reader: str) -> np.ndarray:
    """``CSF/typePrecip`` reduced to its major type (0 none, 1 stratiform, 2 convective, 3 other)."""
    ptype = _get(g, "CSF/typePrecip", url, reader, None).astype(np.int64)
    return np.where(ptype > 0, ptype // 10_000_000, 0).astype(np.int8)


def bin_heights_from_geometry(
    nbin: int, ellipsoid_bin_offset_m: np.ndarray, local_zenith_deg: np.ndarray
) -> np.ndarray:
    """Heights above the ellipsoid (m) of bins 1..nbin, shape ``(..., nbin)``."""
    bins = np.arange(1, nbin + 1, dtype=np.float64)
    along = (nbin - bins) * BIN_SPACING_M + ellipsoid_bin_offset_m[..., None]
    return along * np.cos(np.deg2rad(local_zenith_deg))[..., None]


def profiles_on_levels(z_dbz: np.ndarray, height_m: np.ndarray, levels_m: np.ndarray) -> np.ndarray:
    """Average bins (dBZ, NaN = none) within half a level spacing of each level.

    ``z_dbz`` and ``height_m`` are ``(n, nbin)``; returns ``(n, nlevel)``.
    """
    n, _ = z_dbz.shape
    nl = levels_m.size
    dz = float(np.min(np.diff(levels_m))) if nl > 1 else 500.0
    hfin = np.where(np.isfinite(height_m), height_m, -1e9)
    k = np.rint((hfin - levels_m[0]) / dz).astype(np.int64)
    ok = np.isfinite(z_dbz) & np.isfinite(height_m) & (k >= 0) & (k < nl)
    ok &= np.abs(height_m - (levels_m[0] + np.clip(k, 0, nl - 1) * dz)) <= dz / 2.0
    fp = np.broadcast_to(np.arange(n)[:, None], z_dbz.shape)
    idx = fp[ok] * nl + k[ok]
    s = np.bincount(idx, weights=z_dbz[ok], minlength=n * nl)
    c = np.bincount(idx, minlength=n * nl)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = s / c
    out[c == 0] = np.nan
    return out.reshape(n, nl).astype(np.float32)


def read_2a(
    url: str,
    bbox: tuple[float, float, float, float] | None = None,
    heights_m: Sequence[float] = DEFAULT_HEIGHTS_M,
    storage_options: dict | None = None,
) -> xr.Dataset:
    """Read a 2A Ku/DPR/PR granule: footprints inside ``bbox`` with profiles on ``heights_m``.

    Parameters
    ----------
    bbox : (lat_min, lat_max, lon_min, lon_max), optional
    heights_m : levels above ground (m)

    Returns
    -------
    xarray.Dataset
        Dim ``footprint`` (coords ``lat, lon, time, scan, ray``) and ``height``; variables
        ``zku_dbz`` (``zka_dbz`` for DPR), ``precip_rate_near_surface_mm_h``, ``precip_type``
        (0 none, 1 stratiform, 2 convective, 3 other), ``bright_band_height_m``,
        ``clutter_free_bottom_m``, ``surface_elevation_m``, ``zero_deg_height_m``,
        ``local_zenith_deg``.  Zero footprints when none is inside.
    """
    reader = "gpm_2a"
    levels = np.asarray(heights_m, dtype=np.float64)
    h5 = _open_h5(url, reader, storage_options)
    try:
        swath, g, zname, zds = _swath(h5, url, reader)
        lat = _get(g, "Latitude", url, reader)
        lon = _get(g, "Longitude", url, reader)
        inside = np.isfinite(lat) & np.isfinite(lon)
        if bbox is not None:
            la0, la1, lo0, lo1 = bbox
            inside &= (lat >= la0) & (lat <= la1) & (lon >= lo0) & (lon <= lo1)
        scan_i, ray_i = np.nonzero(inside)
        times = _scan_times(g, url, reader)
        zall = _reflectivity(zds, zname, url, reader)
        nbin = zall.shape[2]
        z = zall[scan_i, ray_i]  # (n, nbin[, nfreq])
        elev = _get(g, "PRE/elevation", url, reader)[scan_i, ray_i]
        lza = _zenith(g, url, reader)[scan_i, ray_i]
        if "PRE/height" in g:
            hgt = _get(g, "PRE/height", url, reader)[scan_i, ray_i]
        else:
            off = _get(g, "PRE/ellipsoidBinOffset", url, reader)
            off = (off[..., 0] if off.ndim == 3 else off)[scan_i, ray_i]
            hgt = bin_heights_from_geometry(nbin, off, lza)
        hagl = hgt - elev[:, None]
        cfb = _get(g, "PRE/binClutterFreeBottom", url, reader, None).astype(np.int64)
        cfb = cfb[scan_i, ray_i]
        bins = np.arange(1, nbin + 1)
        below = (cfb[:, None] > 0) & (bins[None, :] > cfb[:, None])
        cfb_idx = np.clip(cfb - 1, 0, nbin - 1)
        cfb_h = np.where(cfb > 0, hagl[np.arange(cfb.size), cfb_idx], np.nan)
        zk = z[..., 0] if z.ndim == 3 else z
        zk = np.where(below, np.nan, zk)
        data_vars = {"zku_dbz": (("footprint", "height"), profiles_on_levels(zk, hagl, levels))}
        if z.ndim == 3 and z.shape[2] > 1:
            za = np.where(below, np.nan, z[..., 1])
            data_vars["zka_dbz"] = (("footprint", "height"), profiles_on_levels(za, hagl, levels))
        rate = _get(g, "SLV/precipRateNearSurface", url, reader)[scan_i, ray_i]
        major = _major_precip_type(g, url, reader)[scan_i, ray_i]
        bb = _get(g, "CSF/heightBB", url, reader)[scan_i, ray_i]
        zero = _opt(g, "VER/heightZeroDeg", url, reader)
        zero = zero[scan_i, ray_i] if zero is not None else np.full(scan_i.size, np.nan)
        data_vars.update(
            precip_rate_near_surface_mm_h=("footprint", rate.astype(np.float32)),
            precip_type=("footprint", major),
            bright_band_height_m=("footprint", (bb - elev).astype(np.float32)),
            clutter_free_bottom_m=("footprint", cfb_h.astype(np.float32)),
            surface_elevation_m=("footprint", elev.astype(np.float32)),
            zero_deg_height_m=("footprint", (zero - elev).astype(np.float32)),
            local_zenith_deg=("footprint", lza.astype(np.float32)),
        )
        ds = xr.Dataset(
            data_vars,
            coords={
                "lat": ("footprint", lat[scan_i, ray_i].astype(np.float32)),
                "lon": ("footprint", lon[scan_i, ray_i].astype(np.float32)),
                "time": ("footprint", times[scan_i]),
                "scan": ("footprint", scan_i.astype(np.int32)),
                "ray": ("footprint", ray_i.astype(np.int32)),
                "height": ("height", levels.astype(np.float32)),
            },
        )
        header = h5.attrs.get("FileHeader", b"")
        header = header.decode(errors="replace") if isinstance(header, bytes) else str(header)
        meta = dict(kv.strip().rstrip(";").split("=", 1) for kv in header.splitlines() if "=" in kv)
        ds.attrs.update(
            source=str(url),
            swath=swath,
            reflectivity_variable=zname,
            product_version=meta.get("ProductVersion", ""),
            satellite=meta.get("SatelliteName", ""),
            instrument=meta.get("InstrumentName", ""),
            n_scan=int(lat.shape[0]),
            n_ray=int(lat.shape[1]),
            n_bin=int(nbin),
        )
        ds["height"].attrs = {"units": "m", "long_name": "height above ground"}
        ds["precip_type"].attrs = {
            "flag_values": "0 1 2 3",
            "flag_meanings": "none stratiform convective other",
        }
        return ds
    except UnreadableFileError:
        raise
    except (KeyError, OSError, RuntimeError, ValueError) as exc:
        raise UnreadableFileError(url, describe_exception(exc), reader) from exc
    finally:
        h5.close()


def read_2a_bins(url: str, storage_options: dict | None = None) -> xr.Dataset:
    """Read a 2A Ku/DPR/PR granule on its native range bins: every footprint, no averaging.

    What the spaceborne/ground radar volume matching (:mod:`fusion_ops.calibration.srgr`) needs;
    :func:`read_2a` gives the footprint profiles the pipeline uses. Same layouts, swath choice,
    reflectivity variable and fill rule as :func:`read_2a`.

    Returns
    -------
    xarray.Dataset
        Dims ``scan, ray, bin`` (bin 0 at the top of the ray, the last bin at the ellipsoid),
        coordinate ``time (scan)``; variables ``zku_dbz (scan, ray, bin)`` (Ku, NaN = no data),
        ``lat, lon, local_zenith_deg, precip_type`` (0 none, 1 stratiform, 2 convective,
        3 other), ``clutter_free_bottom_bin`` (1-based, as in the file),
        ``bright_band_height_m, bright_band_width_m`` (above the ellipsoid; NaN where the file
        has none, its ``-1111.1``, or a fill value) and ``bright_band_quality``, all
        ``(scan, ray)``. Attributes: ``source, swath, reflectivity_variable, n_bin`` and
        ``bin_spacing_m`` (:data:`BIN_SPACING_M`).
    """
    reader = "gpm_2a"
    h5 = _open_h5(url, reader, storage_options)
    try:
        swath, g, zname, zds = _swath(h5, url, reader)
        z = _reflectivity(zds, zname, url, reader)
        z = z[..., 0] if z.ndim == 4 else z  # DPR: (scan, ray, bin, frequency), Ku first
        sr = ("scan", "ray")

        def bright_band(name: str) -> tuple[tuple[str, str], np.ndarray]:
            values = _get(g, name, url, reader)
            return sr, np.where(values <= -1000.0, np.nan, values)  # -1111.1: no bright band

        ds = xr.Dataset(
            {
                "zku_dbz": (("scan", "ray", "bin"), z),
                "lat": (sr, _get(g, "Latitude", url, reader)),
                "lon": (sr, _get(g, "Longitude", url, reader)),
                "local_zenith_deg": (sr, _zenith(g, url, reader)),
                "precip_type": (sr, _major_precip_type(g, url, reader)),
                "clutter_free_bottom_bin": (
                    sr,
                    _get(g, "PRE/binClutterFreeBottom", url, reader, None).astype(np.int64),
                ),
                "bright_band_height_m": bright_band("CSF/heightBB"),
                "bright_band_width_m": bright_band("CSF/widthBB"),
                "bright_band_quality": (
                    sr,
                    _get(g, "CSF/qualityBB", url, reader, None).astype(np.int64),
                ),
            },
            coords={"time": ("scan", _scan_times(g, url, reader))},
            attrs={
                "source": str(url),
                "swath": swath,
                "reflectivity_variable": zname,
                "n_bin": int(z.shape[2]),
                "bin_spacing_m": BIN_SPACING_M,
            },
        )
        return ds
    except UnreadableFileError:
        raise
    except (KeyError, OSError, RuntimeError, ValueError) as exc:
        raise UnreadableFileError(url, describe_exception(exc), reader) from exc
    finally:
        h5.close()


def empty_footprints(heights_m: Sequence[float] = DEFAULT_HEIGHTS_M) -> xr.Dataset:
    """A footprint dataset with no footprints (a day without an overpass)."""
    n = 0
    lv = np.asarray(heights_m, dtype=np.float32)
    f = ("footprint",)
    return xr.Dataset(
        {
            "zku_dbz": (("footprint", "height"), np.zeros((n, lv.size), np.float32)),
            "precip_rate_near_surface_mm_h": (f, np.zeros(n, np.float32)),
            "precip_type": (f, np.zeros(n, np.int8)),
            "bright_band_height_m": (f, np.zeros(n, np.float32)),
            "clutter_free_bottom_m": (f, np.zeros(n, np.float32)),
            "surface_elevation_m": (f, np.zeros(n, np.float32)),
            "zero_deg_height_m": (f, np.zeros(n, np.float32)),
            "local_zenith_deg": (f, np.zeros(n, np.float32)),
        },
        coords={
            "lat": (f, np.zeros(n, np.float32)),
            "lon": (f, np.zeros(n, np.float32)),
            "time": (f, np.zeros(n, "datetime64[ns]")),
            "scan": (f, np.zeros(n, np.int32)),
            "ray": (f, np.zeros(n, np.int32)),
            "height": ("height", lv),
        },
    )


def concat_granules(granules: Sequence[tuple[str, xr.Dataset]]) -> xr.Dataset:
    """Join the footprints of a day's granules, in the order given, each tagged with its file.

    Parameters
    ----------
    granules : sequence of (url, Dataset)
        :func:`read_2a` results; granules without footprints are left out.

    Returns
    -------
    xarray.Dataset
        Dim ``footprint`` with a ``granule`` coordinate (the file name); attributes dropped.
        :func:`empty_footprints` (with an empty ``granule``) when no granule has footprints.
    """
    parts = []
    for url, ds in granules:
        if ds.sizes["footprint"]:
            ds = ds.assign_coords(
                granule=("footprint", np.full(ds.sizes["footprint"], url.rsplit("/", 1)[-1]))
            )
            ds.attrs = {}
            parts.append(ds)
    out = xr.concat(parts, dim="footprint") if parts else empty_footprints()
    if "granule" not in out.coords:
        out = out.assign_coords(granule=("footprint", np.zeros(out.sizes["footprint"], dtype=str)))
    return out


def read_2a_day(
    urls: Sequence[str],
    bbox: tuple[float, float, float, float],
    storage_options: dict | None = None,
) -> tuple[xr.Dataset, int, list[QuarantineRecord]]:
    """Read a day's 2A granules (:func:`read_2a`) and join their footprints in ``bbox``.

    Parameters
    ----------
    urls : sequence of str
        The day's granules.
    bbox : tuple of float
        ``(lat_min, lat_max, lon_min, lon_max)`` in degrees.
    storage_options : dict, optional
        fsspec options, secrets already resolved.

    Returns
    -------
    footprints : xarray.Dataset
        :func:`concat_granules` of the readable granules.
    n_granules : int
        Granules read.
    quarantine : list of QuarantineRecord
        The unreadable granules.
    """
    results, quarantine = read_all(
        urls, lambda u: read_2a(u, bbox, storage_options=storage_options), "gpm_2a"
    )
    return concat_granules(results), len(results), quarantine


def footprint_figures(footprints: xr.Dataset) -> dict:
    """Figures of a footprint dataset, as plain values.

    Parameters
    ----------
    footprints : xarray.Dataset
        With ``precip_rate_near_surface_mm_h`` (e.g. :func:`read_2a_day`).

    Returns
    -------
    dict
        ``footprints`` and ``raining_footprints`` (rate above 0), int; ``max_rate_mm_h``, the
        largest near-surface rate (0 without a footprint or a finite rate).
    """
    n = int(footprints.sizes["footprint"])
    rate = footprints["precip_rate_near_surface_mm_h"].values
    return {
        "footprints": n,
        "raining_footprints": int(np.nansum(rate > 0)) if n else 0,
        "max_rate_mm_h": float(np.nanmax(rate)) if n and np.isfinite(rate).any() else 0.0,
    }
