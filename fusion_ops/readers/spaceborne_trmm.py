"""TRMM PR V7 2A25 (+ its 2A23) HDF4 -> the footprint structure of the GPM 2A reader.

TRMM Version 7 PR products are HDF4 files of SD datasets (read with ``pyhdf``):

* 2A25: ``correctZFactor (nscan, 49, 80)`` int16, dBZ times its ``scale_factor`` (100), values
  below 0 (-8888 no echo, -9999 missing) are no data; ``Latitude``, ``Longitude``
  ``(nscan, 49)``; per-scan ``Year, Month, DayOfMonth, Hour, Minute, Second, MilliSecond``;
  ``nearSurfRain`` (else ``e_SurfRain``) ``(nscan, 49)`` in mm/h; ``scLocalZenith`` where present,
  ``freezH`` (0 degC height, m) where present.
* 2A23: ``rainType`` (100-170 stratiform, 200-291 convective, 300-313 other, -88 no rain,
  -99 missing), ``rainFlag``, ``HBB`` (bright-band height, m; -1111 no bright band, -8888 no
  rain, -9999 missing), ``BBwidth`` (m, same codes) and ``status`` ``(nscan, 49)``.

The range bins are 250 m along the ray, 80 of them, the last one at the ellipsoid: the bin
geometry comes from the file (the bin count from ``correctZFactor``, the spacing from
:data:`TRMM_V7_BIN_SPACING_M`, the 2A25 product's range resolution) and is returned with the
data (``n_bin``, ``bin_spacing_m``), as the GPM reader does.

What the V7 layout does not give is documented in the returned attributes (``note``): the
surface elevation (0: heights above ground are heights above the ellipsoid), the clutter-free
bottom (every bin kept) and, without ``scLocalZenith``, the local zenith angle (approximated
from the ray index, 0.71 degree steps from -17.04 degrees, as wradlib's TRMM examples do).

A 2A25 finds its 2A23 by content (:func:`find_2a23`): the ``GranuleNumber`` (orbit) and the
granule start time in the ``FileHeader`` attribute, among the files of a listing. Without a
2A23 the footprints are still read; precipitation type is 0 ("none"), bright band NaN and the
``note`` attribute says so.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator, Sequence

import fsspec
import numpy as np
import xarray as xr
from pyhdf.error import HDF4Error
from pyhdf.SD import SD, SDC

from fusion_ops.grid import DEFAULT_HEIGHTS_M
from fusion_ops.readers.errors import UnreadableFileError, describe_exception
from fusion_ops.readers.remote import fs_options
from fusion_ops.readers.spaceborne import (
    HDF4_SIGNATURE,
    SCAN_TIME_PARTS,
    bin_heights_from_geometry,
    footprint_dataset,
    parse_header,
    scan_times_from_parts,
)

__all__ = [
    "TRMM_V7_BIN_SPACING_M",
    "find_2a23",
    "hdf4_header",
    "read_2a_trmm_v7",
    "read_2a_trmm_v7_bins",
]

READER = "trmm_2a25_v7"
#: Range resolution of the TRMM PR V7 2A25 ``correctZFactor`` bins (m, along the ray).
TRMM_V7_BIN_SPACING_M = 250.0
#: ``correctZFactor`` is stored as dBZ times this when the dataset has no ``scale_factor``.
DEFAULT_Z_SCALE = 100.0
#: Ray geometry when the file has no ``scLocalZenith``: 49 rays, 0.71 degree apart.
RAY0_DEG, RAY_STEP_DEG = -17.04, 0.71
NOTE_NO_2A23 = "no 2A23 found: precip_type 0 (none), bright band NaN"


def _local_path(url: str) -> str | None:
    """The local file name of ``url``, or None for a remote URL."""
    url = str(url)
    if url.startswith("file://"):
        return url[len("file://") :]
    return None if "://" in url else url


@contextlib.contextmanager
def open_sd(url: str, reader: str = READER, storage_options: dict | None = None) -> Iterator[SD]:
    """An HDF4 SD interface on ``url`` (remote files are copied to a temporary file first)."""
    path = _local_path(url)
    tmp = None
    try:
        if path is None:
            with fsspec.open(str(url), "rb", **fs_options(url, storage_options)) as fh:
                data = fh.read()
            fd, tmp = tempfile.mkstemp(suffix=".HDF")
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            path = tmp
        elif not os.path.exists(path):
            raise UnreadableFileError(url, "file not found", reader)
        with open(path, "rb") as fh:
            head = fh.read(8)
        if not head:
            raise UnreadableFileError(url, "empty file", reader)
        if not head.startswith(HDF4_SIGNATURE):
            raise UnreadableFileError(url, f"not an HDF4 file: starts with {head!r}", reader)
        try:
            sd = SD(path, SDC.READ)
        except HDF4Error as exc:
            raise UnreadableFileError(url, f"corrupt or truncated HDF4: {exc}", reader) from exc
        try:
            yield sd
        finally:
            sd.end()
    except FileNotFoundError as exc:
        raise UnreadableFileError(url, "file not found", reader) from exc
    except OSError as exc:
        raise UnreadableFileError(url, describe_exception(exc), reader) from exc
    finally:
        if tmp is not None:
            os.unlink(tmp)


def _header(sd: SD) -> dict[str, str]:
    attrs = sd.attributes()
    return parse_header(attrs.get("FileHeader", ""))


def _kind(sd: SD, header: dict[str, str]) -> str:
    """``2A25``, ``2A23`` or what the header says (from the datasets where it says nothing)."""
    algo = header.get("AlgorithmID", "")
    if algo:
        return algo
    names = sd.datasets()
    if "correctZFactor" in names:
        return "2A25"
    if "rainType" in names and "HBB" in names:
        return "2A23"
    return ""


def hdf4_header(
    url: str, storage_options: dict | None = None, reader: str = READER
) -> dict[str, str]:
    """The ``FileHeader`` of an HDF4 TRMM file, with ``kind`` (``2A25``, ``2A23``, ...) added."""
    with open_sd(url, reader, storage_options) as sd:
        header = _header(sd)
        header["kind"] = _kind(sd, header)
        return header


def _same_granule(a: dict[str, str], b: dict[str, str]) -> bool:
    keys = [k for k in ("GranuleNumber", "StartGranuleDateTime") if a.get(k) and b.get(k)]
    return bool(keys) and all(a[k] == b[k] for k in keys)


def find_2a23(header_2a25: dict[str, str], headers: dict[str, dict[str, str]]) -> str | None:
    """The URL of the 2A23 of the same granule (orbit number and start time), or None.

    Parameters
    ----------
    header_2a25 : dict
        :func:`hdf4_header` of the 2A25.
    headers : dict
        URL -> :func:`hdf4_header` of the files of the listing.
    """
    for url, header in headers.items():
        if header.get("kind") == "2A23" and _same_granule(header_2a25, header):
            return url
    return None


def _sds(sd: SD, name: str, url: str, reader: str) -> np.ndarray:
    try:
        return np.asarray(sd.select(name).get())
    except HDF4Error as exc:
        if name not in sd.datasets():
            raise UnreadableFileError(url, f"missing dataset {name}", reader) from exc
        raise UnreadableFileError(url, f"cannot read {name}: {exc}", reader) from exc


def _opt_sds(sd: SD, name: str, url: str, reader: str) -> np.ndarray | None:
    return _sds(sd, name, url, reader) if name in sd.datasets() else None


def _float(values: np.ndarray, floor: float = -9000.0) -> np.ndarray:
    """Float64 with the fill values (at or below ``floor``) as NaN."""
    out = values.astype(np.float64)
    return np.where(out <= floor, np.nan, out)


def _scan_times(sd: SD, url: str, reader: str) -> np.ndarray:
    return scan_times_from_parts({k: _sds(sd, k, url, reader) for k in SCAN_TIME_PARTS})


def _reflectivity(sd: SD, url: str, reader: str) -> np.ndarray:
    """``correctZFactor`` in dBZ ``(nscan, nray, nbin)`` float32; NaN where below 0 (no data)."""
    raw = _sds(sd, "correctZFactor", url, reader)
    if raw.ndim != 3:
        raise UnreadableFileError(url, f"correctZFactor has shape {raw.shape}", reader)
    scale = sd.select("correctZFactor").attributes().get("scale_factor", DEFAULT_Z_SCALE)
    scale = float(np.ravel(scale)[0]) or DEFAULT_Z_SCALE
    z = raw.astype(np.float32) / np.float32(scale)
    return np.where(raw < 0, np.nan, z).astype(np.float32)


def _major_type(rain_type: np.ndarray) -> np.ndarray:
    """2A23 ``rainType`` -> 0 none, 1 stratiform, 2 convective, 3 other."""
    t = rain_type.astype(np.int64)
    out = np.zeros(t.shape, np.int8)
    out[(t >= 100) & (t < 200)] = 1
    out[(t >= 200) & (t < 300)] = 2
    out[t >= 300] = 3
    return out


def _bb_quality(status: np.ndarray) -> np.ndarray:
    """2A23 ``status`` -> bright-band quality as wradlib reads TRMM: 1 good (< 50), 2 (50-108)."""
    s = status.astype(np.int64)
    q = np.zeros(s.shape, np.int64)
    q[(s >= 0) & (s < 50)] = 1
    q[(s >= 50) & (s < 109)] = 2
    return q


class _Granule:
    """The arrays of a 2A25 (+ 2A23) pair on ``(scan, ray[, bin])``, fill values as NaN."""

    def __init__(self, url: str, url_2a23: str | None, storage_options: dict | None) -> None:
        reader = READER
        notes = []
        with open_sd(url, reader, storage_options) as sd:
            header = _header(sd)
            self.header = header
            self.z = _reflectivity(sd, url, reader)
            self.lat = _float(_sds(sd, "Latitude", url, reader))
            self.lon = _float(_sds(sd, "Longitude", url, reader))
            self.time = _scan_times(sd, url, reader)
            rate = _opt_sds(sd, "nearSurfRain", url, reader)
            self.rate_variable = "nearSurfRain"
            if rate is None:
                rate = _sds(sd, "e_SurfRain", url, reader)
                self.rate_variable = "e_SurfRain"
            self.rate = np.where(rate < 0, np.nan, rate.astype(np.float64))
            lza = _opt_sds(sd, "scLocalZenith", url, reader)
            if lza is None:
                nray = self.lat.shape[1]
                ray = np.abs(RAY0_DEG + np.arange(nray) * RAY_STEP_DEG)
                lza = np.broadcast_to(ray, self.lat.shape)
                notes.append("local zenith from the ray index (no scLocalZenith)")
            self.zenith = _float(np.asarray(lza))
            frz = _opt_sds(sd, "freezH", url, reader)
            self.zero_deg = (
                np.where(frz <= 0, np.nan, frz.astype(np.float64))
                if frz is not None
                else np.full(self.lat.shape, np.nan)
            )
        shape = self.lat.shape
        if self.z.shape[:2] != shape or self.lon.shape != shape or self.time.size != shape[0]:
            raise UnreadableFileError(url, f"inconsistent shapes {self.z.shape}/{shape}", reader)
        self.elevation = np.zeros(shape)
        notes.append("no surface elevation in 2A25: heights above the ellipsoid")
        notes.append("no clutter-free bottom read: every bin kept")
        self.precip_type = np.zeros(shape, np.int8)
        self.bb_height = np.full(shape, np.nan)
        self.bb_width = np.full(shape, np.nan)
        self.bb_quality = np.zeros(shape, np.int64)
        self.url_2a23 = ""
        if url_2a23 is None:
            notes.append(NOTE_NO_2A23)
        else:
            self._read_2a23(url_2a23, storage_options, shape)
        self.note = "; ".join(notes)

    def _read_2a23(self, url: str, storage_options: dict | None, shape: tuple) -> None:
        reader = "trmm_2a23_v7"
        with open_sd(url, reader, storage_options) as sd:
            rain_type = _sds(sd, "rainType", url, reader)
            hbb = _sds(sd, "HBB", url, reader).astype(np.float64)
            width = _sds(sd, "BBwidth", url, reader).astype(np.float64)
            status = _sds(sd, "status", url, reader)
        if rain_type.shape != shape or hbb.shape != shape:
            raise UnreadableFileError(
                url, f"2A23 shape {rain_type.shape} is not the 2A25's {shape}", reader
            )
        self.precip_type = _major_type(rain_type)
        # -1111 no bright band, -8888 no rain, -9999 missing
        self.bb_height = np.where(hbb <= 0, np.nan, hbb)
        self.bb_width = np.where(width <= 0, np.nan, width)
        self.bb_quality = _bb_quality(status)
        self.url_2a23 = str(url)

    def attrs(self, url: str) -> dict:
        return {
            "source": str(url),
            "swath": "NS",
            "reflectivity_variable": "correctZFactor",
            "product_version": self.header.get("ProductVersion", ""),
            "satellite": "TRMM",
            "instrument": "PR",
            "n_scan": int(self.lat.shape[0]),
            "n_ray": int(self.lat.shape[1]),
            "n_bin": int(self.z.shape[2]),
            "bin_spacing_m": TRMM_V7_BIN_SPACING_M,
            "companion_2a23": self.url_2a23,
            "note": self.note,
        }


def read_2a_trmm_v7(
    url_2a25: str,
    url_2a23: str | None = None,
    bbox: tuple[float, float, float, float] | None = None,
    heights_m: Sequence[float] = DEFAULT_HEIGHTS_M,
    storage_options: dict | None = None,
) -> xr.Dataset:
    """Read a TRMM PR V7 2A25 (and its 2A23) into the footprint dataset of ``read_2a``.

    Same variables, dims and units as :func:`fusion_ops.readers.spaceborne.read_2a`; attributes
    add ``bin_spacing_m``, ``companion_2a23`` (the 2A23 read, or ``""``) and ``note``.
    """
    g = _Granule(url_2a25, url_2a23, storage_options)
    inside = np.isfinite(g.lat) & np.isfinite(g.lon)
    if bbox is not None:
        la0, la1, lo0, lo1 = bbox
        inside &= (g.lat >= la0) & (g.lat <= la1) & (g.lon >= lo0) & (g.lon <= lo1)
    si, ri = np.nonzero(inside)
    nbin = g.z.shape[2]
    hgt = bin_heights_from_geometry(
        nbin, np.zeros(si.size), g.zenith[si, ri], TRMM_V7_BIN_SPACING_M
    )
    return footprint_dataset(
        z_ku=g.z[si, ri],
        z_ka=None,
        height_above_ground_m=hgt - g.elevation[si, ri][:, None],
        clutter_free_bottom_bin=np.full(si.size, nbin, np.int64),
        scan_i=si,
        ray_i=ri,
        lat=g.lat,
        lon=g.lon,
        times=g.time,
        rate=g.rate[si, ri],
        precip_type=g.precip_type[si, ri],
        bb_height=g.bb_height[si, ri],
        elevation=g.elevation[si, ri],
        zero_deg=g.zero_deg[si, ri],
        zenith=g.zenith[si, ri],
        heights_m=heights_m,
        attrs=g.attrs(url_2a25),
    )


def read_2a_trmm_v7_bins(
    url_2a25: str, url_2a23: str | None = None, storage_options: dict | None = None
) -> xr.Dataset:
    """A TRMM PR V7 2A25 (+ 2A23) on its native bins, as ``read_2a_bins`` gives GPM.

    Dims ``scan, ray, bin`` (80 bins of 250 m, bin 0 at the top, the last at the ellipsoid);
    ``clutter_free_bottom_bin`` is the last bin (the layout read has none); bright-band height
    and width from ``HBB``/``BBwidth`` (NaN without a 2A23), ``bright_band_quality`` 1 where the
    2A23 ``status`` is below 50.
    """
    g = _Granule(url_2a25, url_2a23, storage_options)
    sr = ("scan", "ray")
    nbin = g.z.shape[2]
    attrs = g.attrs(url_2a25)
    return xr.Dataset(
        {
            "zku_dbz": (("scan", "ray", "bin"), g.z),
            "lat": (sr, g.lat),
            "lon": (sr, g.lon),
            "local_zenith_deg": (sr, g.zenith),
            "precip_type": (sr, g.precip_type),
            "clutter_free_bottom_bin": (sr, np.full(g.lat.shape, nbin, np.int64)),
            "bright_band_height_m": (sr, g.bb_height),
            "bright_band_width_m": (sr, g.bb_width),
            "bright_band_quality": (sr, g.bb_quality),
        },
        coords={"time": ("scan", g.time)},
        attrs={
            k: attrs[k]
            for k in (
                "source",
                "swath",
                "reflectivity_variable",
                "n_bin",
                "bin_spacing_m",
                "companion_2a23",
                "note",
            )
        },
    )
