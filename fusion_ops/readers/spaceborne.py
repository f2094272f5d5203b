"""Spaceborne precipitation radar (GPM Ku/DPR, TRMM PR) 2A granules -> footprint profiles.

One structure for every layout, told apart by content (the file signature, then the groups):

* GPM 2A HDF5, V06/V05 (``NS`` swath): reflectivity ``NS/SLV/zFactorCorrected (nscan, nray, nbin)``;
* GPM 2A HDF5, V07 (``FS`` swath, TRMM reprocessed too): ``FS/SLV/zFactorFinal`` with a trailing
  frequency dimension (Ku, Ka) for DPR, bin heights in ``FS/PRE/height``;
* TRMM PR V7 2A25 (+ 2A23) HDF4: :mod:`fusion_ops.readers.spaceborne_trmm` (80 bins of 250 m).

Profiles are put on fixed heights above ground (bin height minus ``PRE/elevation``), averaging
the range bins that fall within half a level spacing, in dBZ (as the ground-radar profiles).
The bin spacing and count come from the product and are returned (``n_bin``, ``bin_spacing_m``
attributes): for GPM HDF5 the spacing is measured from ``PRE/height`` (to the metre) where the
file has it, else it is the swath's range resolution of the GPM 2A file specification
(:data:`GPM_SWATH_BIN_SPACING_M`). Where ``PRE/height`` is absent the bin heights come from the
geometry: bin ``i`` (1-based, counted from the top) lies
``(binEllipsoid - i) * bin_spacing + ellipsoidBinOffset`` along the ray above the ellipsoid,
times ``cos(localZenithAngle)`` for the vertical; ``binEllipsoid`` is the last bin.  Bins below
the clutter-free bottom (``binClutterFreeBottom``, 1-based) are masked.  Fill values: float
-9999.9, int -9999, int8 -99; a bright-band height or width of -1111.1 means "no bright band"
(NaN).
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

#: Range resolution (m) of the GPM 2A swaths (GPM 2A file specification: Ku/Ka ``NS``, ``MS``,
#: ``FS`` 176 bins of 125 m; Ka ``HS`` 88 bins of 250 m), used where ``PRE/height`` is absent.
GPM_SWATH_BIN_SPACING_M = {"NS": 125.0, "MS": 125.0, "FS": 125.0, "HS": 250.0}
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
HDF4_SIGNATURE = b"\x0e\x03\x13\x01"
PRECIP_TYPES = {0: "none", 1: "stratiform", 2: "convective", 3: "other"}


def file_format(head: bytes, url: str, reader: str) -> str:
    """``"hdf5"`` or ``"hdf4"`` from a file's first bytes; anything else is unreadable."""
    if not head:
        raise UnreadableFileError(url, "empty file", reader)
    if head.startswith(HDF5_SIGNATURE):
        return "hdf5"
    if head.startswith(HDF4_SIGNATURE):
        return "hdf4"
    raise UnreadableFileError(
        url, f"not an HDF5 file (neither HDF5 nor HDF4: starts with {head[:16]!r})", reader
    )


def parse_header(text: str | bytes) -> dict[str, str]:
    """``key=value;`` pairs of a GPM/TRMM header attribute (one per line or all on one line)."""
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    pairs = (kv.split("=", 1) for kv in str(text).replace("\n", ";").split(";") if "=" in kv)
    return {k.strip(): v.strip() for k, v in pairs}


def sniff_format(url: str, storage_options: dict | None = None, reader: str = "gpm_2a") -> str:
    """:func:`file_format` of ``url``, reading only its first bytes."""
    opts = fs_options(url, storage_options)
    try:
        with fsspec.open(str(url), "rb", **opts) as fh:
            head = fh.read(16)
    except FileNotFoundError as exc:
        raise UnreadableFileError(url, "file not found", reader) from exc
    except OSError as exc:
        raise UnreadableFileError(url, describe_exception(exc), reader) from exc
    return file_format(head, url, reader)


def _open_h5(url: str, reader: str, storage_options: dict | None) -> h5py.File | None:
    """The HDF5 file, or None when the file is HDF4 (a TRMM V7 granule)."""
    opts = fs_options(url, storage_options)
    try:
        with fsspec.open(str(url), "rb", **opts) as fh:
            # the signature first: an HDF4 granule is left for the TRMM reader to fetch
            head = fh.read(16)
            if file_format(head, url, reader) == "hdf4":
                return None
            data = head + fh.read()
    except FileNotFoundError as exc:
        raise UnreadableFileError(url, "file not found", reader) from exc
    except OSError as exc:
        raise UnreadableFileError(url, describe_exception(exc), reader) from exc
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


#: The per-scan time fields of GPM ``ScanTime`` and of TRMM V7 SDS (same names in both).
SCAN_TIME_PARTS = ("Year", "Month", "DayOfMonth", "Hour", "Minute", "Second", "MilliSecond")


def scan_times_from_parts(parts: dict[str, np.ndarray]) -> np.ndarray:
    """Scan times (datetime64[ns]) from the :data:`SCAN_TIME_PARTS` arrays; NaT where any is
    negative (a fill value)."""
    frame = pd.DataFrame(
        {
            "year": parts["Year"].astype(np.int64),
            "month": parts["Month"].astype(np.int64),
            "day": parts["DayOfMonth"].astype(np.int64),
            "hour": parts["Hour"].astype(np.int64),
            "minute": parts["Minute"].astype(np.int64),
            "second": parts["Second"].astype(np.int64),
            "ms": parts["MilliSecond"].astype(np.int64),
        }
    )
    bad = (frame < 0).any(axis=1)
    times = pd.to_datetime(frame.where(~bad), errors="coerce")
    return times.to_numpy(dtype="datetime64[ns]")


def _scan_times(g: h5py.Group, url: str, reader: str) -> np.ndarray:
    st = g.get("ScanTime", None)
    if st is None:
        raise UnreadableFileError(url, f"missing {g.name}/ScanTime", reader)
    return scan_times_from_parts({k: np.asarray(st[k][...]) for k in SCAN_TIME_PARTS})


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
    nbin: int,
    ellipsoid_bin_offset_m: np.ndarray,
    local_zenith_deg: np.ndarray,
    bin_spacing_m: float,
) -> np.ndarray:
    """Heights above the ellipsoid (m) of bins 1..nbin, shape ``(..., nbin)``.

    Bin ``nbin`` is the ellipsoid bin (plus ``ellipsoid_bin_offset_m`` along the ray); bins are
    ``bin_spacing_m`` apart along the ray (the product's range resolution).
    """
    bins = np.arange(1, nbin + 1, dtype=np.float64)
    along = (nbin - bins) * float(bin_spacing_m) + ellipsoid_bin_offset_m[..., None]
    return along * np.cos(np.deg2rad(local_zenith_deg))[..., None]


def _gpm_bin_spacing(g: h5py.Group, swath: str, url: str, reader: str) -> float:
    """Range resolution (m) of a GPM 2A swath: from ``PRE/height`` where present, else the spec."""
    if "PRE/height" in g and "PRE/localZenithAngle" in g:
        n = min(int(g["PRE/height"].shape[0]), 8)
        hgt = np.asarray(g["PRE/height"][:n], dtype=np.float64)
        lza = np.asarray(g["PRE/localZenithAngle"][:n], dtype=np.float64)
        lza = lza[..., 0] if lza.ndim == 3 else lza
        hgt = np.where(hgt <= -9999.0, np.nan, hgt)
        lza = np.where(lza <= -9999.0, np.nan, lza)
        with np.errstate(invalid="ignore"):
            step = -np.diff(hgt, axis=-1) / np.cos(np.deg2rad(lza))[..., None]
        if np.isfinite(step).any():
            return float(np.round(np.nanmedian(step)))
    if swath not in GPM_SWATH_BIN_SPACING_M:
        raise UnreadableFileError(url, f"no bin spacing known for swath {swath}", reader)
    return GPM_SWATH_BIN_SPACING_M[swath]


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


def footprint_dataset(
    *,
    z_ku: np.ndarray,
    z_ka: np.ndarray | None,
    height_above_ground_m: np.ndarray,
    clutter_free_bottom_bin: np.ndarray,
    scan_i: np.ndarray,
    ray_i: np.ndarray,
    lat: np.ndarray,
    lon: np.ndarray,
    times: np.ndarray,
    rate: np.ndarray,
    precip_type: np.ndarray,
    bb_height: np.ndarray,
    elevation: np.ndarray,
    zero_deg: np.ndarray,
    zenith: np.ndarray,
    heights_m: Sequence[float],
    attrs: dict,
) -> xr.Dataset:
    """The footprint dataset of :func:`read_2a` from one granule's selected footprints.

    Per-footprint arrays are ``(n,)`` or ``(n, nbin)`` (bin 0 at the top); ``lat, lon`` are the
    granule's ``(nscan, nray)`` and ``times`` its ``(nscan,)``. ``bb_height`` and ``zero_deg``
    are above the ellipsoid (NaN = none) and are returned above ground; bins below the
    clutter-free bottom (1-based, 0 = unknown) are masked.
    """
    levels = np.asarray(heights_m, dtype=np.float64)
    n, nbin = z_ku.shape
    hagl = height_above_ground_m
    cfb = clutter_free_bottom_bin.astype(np.int64)
    bins = np.arange(1, nbin + 1)
    below = (cfb[:, None] > 0) & (bins[None, :] > cfb[:, None])
    cfb_idx = np.clip(cfb - 1, 0, nbin - 1)
    cfb_h = np.where(cfb > 0, hagl[np.arange(n), cfb_idx], np.nan)
    zk = np.where(below, np.nan, z_ku)
    data_vars = {"zku_dbz": (("footprint", "height"), profiles_on_levels(zk, hagl, levels))}
    if z_ka is not None:
        za = np.where(below, np.nan, z_ka)
        data_vars["zka_dbz"] = (("footprint", "height"), profiles_on_levels(za, hagl, levels))
    data_vars.update(
        precip_rate_near_surface_mm_h=("footprint", rate.astype(np.float32)),
        precip_type=("footprint", precip_type.astype(np.int8)),
        bright_band_height_m=("footprint", (bb_height - elevation).astype(np.float32)),
        clutter_free_bottom_m=("footprint", cfb_h.astype(np.float32)),
        surface_elevation_m=("footprint", elevation.astype(np.float32)),
        zero_deg_height_m=("footprint", (zero_deg - elevation).astype(np.float32)),
        local_zenith_deg=("footprint", zenith.astype(np.float32)),
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
        attrs=attrs,
    )
    ds["height"].attrs = {"units": "m", "long_name": "height above ground"}
    ds["precip_type"].attrs = {
        "flag_values": "0 1 2 3",
        "flag_meanings": "none stratiform convective other",
    }
    return ds


def _no_bright_band(values: np.ndarray) -> np.ndarray:
    """NaN where the file says "no bright band" (-1111.1) or has a fill value."""
    return np.where(values <= -1000.0, np.nan, values)


def read_2a(
    url: str,
    bbox: tuple[float, float, float, float] | None = None,
    heights_m: Sequence[float] = DEFAULT_HEIGHTS_M,
    storage_options: dict | None = None,
    url_2a23: str | None = None,
) -> xr.Dataset:
    """Read a 2A Ku/DPR/PR granule: footprints inside ``bbox`` with profiles on ``heights_m``.

    Parameters
    ----------
    bbox : (lat_min, lat_max, lon_min, lon_max), optional
    heights_m : levels above ground (m)
    url_2a23 : str, optional
        For a TRMM V7 2A25 (HDF4): its 2A23 (:func:`read_2a_day` finds it in the day's files);
        without one, precipitation type and bright band are missing.

    Returns
    -------
    xarray.Dataset
        Dim ``footprint`` (coords ``lat, lon, time, scan, ray``) and ``height``; variables
        ``zku_dbz`` (``zka_dbz`` for DPR), ``precip_rate_near_surface_mm_h``, ``precip_type``
        (0 none, 1 stratiform, 2 convective, 3 other), ``bright_band_height_m`` (NaN where the
        file has none), ``clutter_free_bottom_m``, ``surface_elevation_m``,
        ``zero_deg_height_m``, ``local_zenith_deg``.  Zero footprints when none is inside.
        Attributes include ``n_bin`` and ``bin_spacing_m``, the product's bin geometry.

    The format is told by content: HDF5 (GPM 2A layouts) or HDF4 (TRMM V7 2A25,
    :func:`fusion_ops.readers.spaceborne_trmm.read_2a_trmm_v7`); anything else raises
    :class:`UnreadableFileError` ("neither HDF5 nor HDF4").
    """
    reader = "gpm_2a"
    h5 = _open_h5(url, reader, storage_options)
    if h5 is None:
        from fusion_ops.readers.spaceborne_trmm import read_2a_trmm_v7

        return read_2a_trmm_v7(url, url_2a23, bbox, heights_m, storage_options)
    try:
        swath, g, zname, zds = _swath(h5, url, reader)
        lat = _get(g, "Latitude", url, reader)
        lon = _get(g, "Longitude", url, reader)
        inside = np.isfinite(lat) & np.isfinite(lon)
        if bbox is not None:
            la0, la1, lo0, lo1 = bbox
            inside &= (lat >= la0) & (lat <= la1) & (lon >= lo0) & (lon <= lo1)
        scan_i, ray_i = np.nonzero(inside)
        zall = _reflectivity(zds, zname, url, reader)
        nbin = zall.shape[2]
        spacing = _gpm_bin_spacing(g, swath, url, reader)
        z = zall[scan_i, ray_i]  # (n, nbin[, nfreq])
        elev = _get(g, "PRE/elevation", url, reader)[scan_i, ray_i]
        lza = _zenith(g, url, reader)[scan_i, ray_i]
        if "PRE/height" in g:
            hgt = _get(g, "PRE/height", url, reader)[scan_i, ray_i]
        else:
            off = _get(g, "PRE/ellipsoidBinOffset", url, reader)
            off = (off[..., 0] if off.ndim == 3 else off)[scan_i, ray_i]
            hgt = bin_heights_from_geometry(nbin, off, lza, spacing)
        cfb = _get(g, "PRE/binClutterFreeBottom", url, reader, None)[scan_i, ray_i]
        zero = _opt(g, "VER/heightZeroDeg", url, reader)
        zero = zero[scan_i, ray_i] if zero is not None else np.full(scan_i.size, np.nan)
        header = parse_header(h5.attrs.get("FileHeader", b""))
        return footprint_dataset(
            z_ku=z[..., 0] if z.ndim == 3 else z,
            z_ka=z[..., 1] if z.ndim == 3 and z.shape[2] > 1 else None,
            height_above_ground_m=hgt - elev[:, None],
            clutter_free_bottom_bin=cfb,
            scan_i=scan_i,
            ray_i=ray_i,
            lat=lat,
            lon=lon,
            times=_scan_times(g, url, reader),
            rate=_get(g, "SLV/precipRateNearSurface", url, reader)[scan_i, ray_i],
            precip_type=_major_precip_type(g, url, reader)[scan_i, ray_i],
            bb_height=_no_bright_band(_get(g, "CSF/heightBB", url, reader)[scan_i, ray_i]),
            elevation=elev,
            zero_deg=zero,
            zenith=lza,
            heights_m=heights_m,
            attrs={
                "source": str(url),
                "swath": swath,
                "reflectivity_variable": zname,
                "product_version": header.get("ProductVersion", ""),
                "satellite": header.get("SatelliteName", ""),
                "instrument": header.get("InstrumentName", ""),
                "n_scan": int(lat.shape[0]),
                "n_ray": int(lat.shape[1]),
                "n_bin": int(nbin),
                "bin_spacing_m": spacing,
            },
        )
    except UnreadableFileError:
        raise
    except (KeyError, OSError, RuntimeError, ValueError) as exc:
        raise UnreadableFileError(url, describe_exception(exc), reader) from exc
    finally:
        h5.close()


def read_2a_bins(
    url: str, storage_options: dict | None = None, url_2a23: str | None = None
) -> xr.Dataset:
    """Read a 2A Ku/DPR/PR granule on its native range bins: every footprint, no averaging.

    What the spaceborne/ground radar volume matching (:mod:`fusion_ops.calibration.srgr`) needs;
    :func:`read_2a` gives the footprint profiles the pipeline uses. Same layouts, format
    detection, swath choice, reflectivity variable and fill rule as :func:`read_2a` (a TRMM V7
    2A25 goes to :func:`fusion_ops.readers.spaceborne_trmm.read_2a_trmm_v7_bins`, with
    ``url_2a23`` its 2A23).

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
        ``bin_spacing_m`` (the product's range resolution, m).
    """
    reader = "gpm_2a"
    h5 = _open_h5(url, reader, storage_options)
    if h5 is None:
        from fusion_ops.readers.spaceborne_trmm import read_2a_trmm_v7_bins

        return read_2a_trmm_v7_bins(url, url_2a23, storage_options)
    try:
        swath, g, zname, zds = _swath(h5, url, reader)
        z = _reflectivity(zds, zname, url, reader)
        z = z[..., 0] if z.ndim == 4 else z  # DPR: (scan, ray, bin, frequency), Ku first
        sr = ("scan", "ray")

        def bright_band(name: str) -> tuple[tuple[str, str], np.ndarray]:
            return sr, _no_bright_band(_get(g, name, url, reader))

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
                "bin_spacing_m": _gpm_bin_spacing(g, swath, url, reader),
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


def pair_trmm_companions(
    urls: Sequence[str], storage_options: dict | None = None
) -> tuple[list[str], dict[str, str]]:
    """Split a listing into the granules to read and the 2A23 of each TRMM V7 2A25, by content.

    HDF4 files are told apart by their ``FileHeader`` (``AlgorithmID``); a 2A25 gets the 2A23 of
    the same ``GranuleNumber`` and granule start time (:func:`~fusion_ops.readers.
    spaceborne_trmm.find_2a23`), whatever the file names. 2A23 files are companions, not
    granules, and are left out of the granules. A file whose format or header cannot be read
    stays a granule, so that reading it reports why.

    Returns
    -------
    granules : list of str
        In listing order.
    companions : dict
        2A25 URL -> 2A23 URL, for the 2A25 whose 2A23 is in the listing.
    """
    from fusion_ops.readers.spaceborne_trmm import find_2a23, hdf4_header

    headers: dict[str, dict[str, str]] = {}
    for url in urls:
        try:
            if sniff_format(url, storage_options) == "hdf4":
                headers[url] = hdf4_header(url, storage_options)
        except UnreadableFileError:
            continue
    granules = [u for u in urls if headers.get(u, {}).get("kind") != "2A23"]
    companions = {}
    for url in granules:
        if headers.get(url, {}).get("kind") == "2A25":
            found = find_2a23(headers[url], headers)
            if found is not None:
                companions[url] = found
    return granules, companions


def read_2a_day(
    urls: Sequence[str],
    bbox: tuple[float, float, float, float],
    storage_options: dict | None = None,
) -> tuple[xr.Dataset, int, list[QuarantineRecord]]:
    """Read a day's 2A granules (:func:`read_2a`) and join their footprints in ``bbox``.

    GPM HDF5 and TRMM V7 HDF4 granules may be mixed; each TRMM 2A25 is read with the 2A23 of
    the same granule found among ``urls`` (:func:`pair_trmm_companions`).

    Parameters
    ----------
    urls : sequence of str
        The day's files.
    bbox : tuple of float
        ``(lat_min, lat_max, lon_min, lon_max)`` in degrees.
    storage_options : dict, optional
        fsspec options, secrets already resolved.

    Returns
    -------
    footprints : xarray.Dataset
        :func:`concat_granules` of the readable granules.
    n_granules : int
        Granules read (a 2A25 and its 2A23 count as one).
    quarantine : list of QuarantineRecord
        The unreadable granules.
    """
    granules, companions = pair_trmm_companions(urls, storage_options)
    results, quarantine = read_all(
        granules,
        lambda u: read_2a(u, bbox, storage_options=storage_options, url_2a23=companions.get(u)),
        "gpm_2a",
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
