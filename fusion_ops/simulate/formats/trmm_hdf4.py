"""TRMM PR Version 7 2A25 and 2A23 granules (HDF4 SD datasets), as the PPS archive holds them.

The layout is what :mod:`fusion_ops.readers.spaceborne_trmm` reads (``pyhdf``):

* every file: the ``FileHeader`` global attribute (PVL ``key=value;`` lines: ``AlgorithmID``,
  ``FileName``, ``StartGranuleDateTime``, ``GranuleNumber``, ``ProductVersion=7``, ...) by which
  a 2A25 finds its 2A23 (same ``GranuleNumber`` and start time), ``Latitude`` and ``Longitude``
  ``(nscan, 49)`` float32 and the scan time ``Year, Month, DayOfMonth, Hour, Minute, Second,
  MilliSecond, DayOfYear`` and ``scanTime_sec`` (seconds of the day, float64), per scan;
* 2A25: ``correctZFactor (nscan, 49, 80)`` int16, dBZ times its ``scale_factor`` 100, -8888 no
  echo and -9999 missing (80 bins of 250 m along the ray, the last one at the ellipsoid);
  ``nearSurfRain`` and ``e_SurfRain`` (mm/h), ``scLocalZenith`` (degrees) and ``freezH`` (m);
* 2A23: ``rainType`` int16 (100-170 stratiform, 200-291 convective, 300-313 other, -88 no rain,
  -99 missing), ``rainFlag`` int16, ``HBB`` and ``BBwidth`` int16 m (-1111 no bright band,
  -8888 no rain, -9999 missing) and ``status`` uint8.

Names are the real V7 ones, ``2A25.YYYYMMDD.OOOOO.7.HDF`` (:func:`trmm_v7_filename`).  pyhdf
writes only to a local path: the writers take a path; :func:`hdf4_bytes` runs one in a temporary
folder and returns the file's bytes (for an object store or an in-memory archive).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import numpy as np
from pyhdf.SD import SD, SDC

__all__ = [
    "NO_ECHO",
    "TRMM_V7_NBIN",
    "TRMM_V7_NRAY",
    "Z_MISSING",
    "Z_SCALE",
    "TrmmWriteError",
    "file_header",
    "hdf4_bytes",
    "put_sds",
    "put_scan_time",
    "trmm_v7_filename",
    "write_2a23",
    "write_2a25",
]

TRMM_V7_NRAY = 49
TRMM_V7_NBIN = 80
#: ``correctZFactor`` is dBZ times this (its ``scale_factor`` attribute).
Z_SCALE = 100.0
#: ``correctZFactor`` codes: no echo, missing.
NO_ECHO, Z_MISSING = -8888, -9999
#: 2A23 fill codes of ``HBB`` and ``BBwidth``.
NO_BRIGHT_BAND, NO_RAIN_CODE = -1111, -8888

_SDC_TYPES = {
    np.dtype(np.int8): SDC.INT8,
    np.dtype(np.uint8): SDC.UINT8,
    np.dtype(np.int16): SDC.INT16,
    np.dtype(np.int32): SDC.INT32,
    np.dtype(np.float32): SDC.FLOAT32,
    np.dtype(np.float64): SDC.FLOAT64,
}


class TrmmWriteError(ValueError):
    """A TRMM V7 granule cannot be written (names the file and the reason)."""


def trmm_v7_filename(algorithm: str, start: datetime, granule: int) -> str:
    """The V7 archive name: ``2A25.20090520.65749.7.HDF`` (date of the granule start, orbit)."""
    return f"{algorithm}.{_utc(start):%Y%m%d}.{int(granule):05d}.7.HDF"


def file_header(algorithm: str, granule: int, start: datetime, end: datetime) -> str:
    """The ``FileHeader`` attribute of a V7 granule (PVL ``key=value;`` lines)."""
    start, end = _utc(start), _utc(end)

    def iso(t: datetime) -> str:
        return f"{t:%Y-%m-%dT%H:%M:%S}.{t.microsecond // 1000:03d}Z"

    return (
        f"AlgorithmID={algorithm};\nAlgorithmVersion=7;\n"
        f"FileName={trmm_v7_filename(algorithm, start, granule)};\n"
        "SatelliteName=TRMM;\nInstrumentName=PR;\n"
        f"GenerationDateTime={iso(end)};\n"  # deterministic: the same granule, the same bytes
        f"StartGranuleDateTime={iso(start)};\nStopGranuleDateTime={iso(end)};\n"
        f"GranuleNumber={int(granule)};\nNumberOfSwaths=1;\nNumberOfGrids=0;\n"
        "GranuleStart=SOUTHERNMOST_LATITUDE;\nTimeInterval=ORBIT;\n"
        "ProcessingSystem=rainfuse-simulator;\nProductVersion=7;\nEmptyGranule=NOT_EMPTY;\n"
        "MissingData=0;\n"
    )


def put_sds(sd: SD, name: str, values: np.ndarray, kind: int | None = None, **attrs) -> None:
    """Create the SD dataset ``name`` with ``values`` (type from the dtype unless ``kind``)."""
    values = np.ascontiguousarray(values)
    if kind is None:
        if values.dtype not in _SDC_TYPES:
            raise TrmmWriteError(f"{name}: no HDF4 type for {values.dtype}")
        kind = _SDC_TYPES[values.dtype]
    ds = sd.create(name, kind, values.shape)
    ds[:] = values
    for key, value in attrs.items():
        setattr(ds, key, value)
    ds.endaccess()


def put_scan_time(sd: SD, times: Sequence[datetime]) -> None:
    """The per-scan time datasets of a V7 granule from the scans' UTC times."""
    times = [_utc(t) for t in times]
    parts = {
        "Year": (np.int16, [t.year for t in times]),
        "Month": (np.int8, [t.month for t in times]),
        "DayOfMonth": (np.int8, [t.day for t in times]),
        "Hour": (np.int8, [t.hour for t in times]),
        "Minute": (np.int8, [t.minute for t in times]),
        "Second": (np.int8, [t.second for t in times]),
        "MilliSecond": (np.int16, [t.microsecond // 1000 for t in times]),
        "DayOfYear": (np.int16, [t.timetuple().tm_yday for t in times]),
    }
    for name, (dtype, values) in parts.items():
        put_sds(sd, name, np.array(values, dtype))
    sec = [t.hour * 3600 + t.minute * 60 + t.second + t.microsecond / 1e6 for t in times]
    put_sds(sd, "scanTime_sec", np.array(sec, np.float64), units="s")


def write_2a25(
    path: str | os.PathLike,
    *,
    z_dbz: np.ndarray,
    latitude: np.ndarray,
    longitude: np.ndarray,
    times: Sequence[datetime],
    near_surface_rain_mm_h: np.ndarray,
    granule: int,
    surface_rain_mm_h: np.ndarray | None = None,
    local_zenith_deg: np.ndarray | None = None,
    freezing_height_m: np.ndarray | None = None,
    missing: np.ndarray | None = None,
) -> None:
    """Write a V7 2A25 granule to a local ``path``.

    Parameters
    ----------
    z_dbz : ``(nscan, 49, nbin)`` attenuation-corrected reflectivity (dBZ), NaN = no echo
        (written -8888); ``nbin`` is 80 in the real product.
    latitude, longitude : ``(nscan, 49)`` footprint centres (degrees; -9999.9 = missing).
    times : the ``nscan`` scan times (timezone-aware UTC).
    near_surface_rain_mm_h : ``(nscan, 49)`` ``nearSurfRain``.
    granule : orbit number (``GranuleNumber``, and the name's ``OOOOO``).
    surface_rain_mm_h : ``e_SurfRain`` (estimated surface rain); default the near-surface rain.
    local_zenith_deg : ``scLocalZenith`` ``(nscan, 49)``; left out when None.
    freezing_height_m : ``freezH`` ``(nscan, 49)``; left out when None.
    missing : boolean mask broadcastable to ``z_dbz``: bins written -9999 (missing).

    Raises
    ------
    TrmmWriteError
        Inconsistent shapes or an empty granule.
    """
    z = np.asarray(z_dbz, dtype=np.float64)
    shape = _check_swath(path, latitude, longitude, times)
    if z.ndim != 3 or z.shape[:2] != shape:
        raise TrmmWriteError(f"{path}: correctZFactor shape {z.shape}, want {shape} + (nbin,)")
    code = np.where(np.isfinite(z), np.rint(np.nan_to_num(z) * Z_SCALE), NO_ECHO)
    code = np.clip(code, np.iinfo(np.int16).min, np.iinfo(np.int16).max).astype(np.int16)
    if missing is not None:
        code = np.where(np.broadcast_to(missing, z.shape), Z_MISSING, code).astype(np.int16)
    rain = np.asarray(near_surface_rain_mm_h, np.float32)
    surface = rain if surface_rain_mm_h is None else np.asarray(surface_rain_mm_h, np.float32)
    sd = SD(os.fspath(path), SDC.WRITE | SDC.CREATE | SDC.TRUNC)
    try:
        sd.FileHeader = file_header("2A25", granule, times[0], times[-1])
        put_sds(sd, "correctZFactor", code, scale_factor=Z_SCALE, units="dBZ")
        _put_swath(sd, latitude, longitude, times)
        put_sds(sd, "nearSurfRain", rain, units="mm/hr")
        put_sds(sd, "e_SurfRain", surface, units="mm/hr")
        if local_zenith_deg is not None:
            zen = np.broadcast_to(np.asarray(local_zenith_deg, np.float32), shape)
            put_sds(sd, "scLocalZenith", zen, units="degree")
        if freezing_height_m is not None:
            put_sds(sd, "freezH", np.asarray(freezing_height_m, np.float32), units="m")
    finally:
        sd.end()


def write_2a23(
    path: str | os.PathLike,
    *,
    rain_type: np.ndarray,
    rain_flag: np.ndarray,
    bright_band_height_m: np.ndarray,
    bright_band_width_m: np.ndarray,
    status: np.ndarray,
    latitude: np.ndarray,
    longitude: np.ndarray,
    times: Sequence[datetime],
    granule: int,
) -> None:
    """Write the V7 2A23 companion of a granule to a local ``path``.

    Every array is ``(nscan, 49)`` with the 2A23 codes (see the module docstring): ``rain_type``
    and ``rain_flag`` int16, ``bright_band_height_m`` and ``bright_band_width_m`` int16 (m, or
    -1111 / -8888 / -9999), ``status`` uint8.  ``granule`` and ``times`` must be the 2A25's:
    they are how a reader pairs the two.
    """
    shape = _check_swath(path, latitude, longitude, times)
    arrays = {
        "rainType": (rain_type, np.int16),
        "rainFlag": (rain_flag, np.int16),
        "HBB": (bright_band_height_m, np.int16),
        "BBwidth": (bright_band_width_m, np.int16),
        "status": (status, np.uint8),
    }
    for name, (values, _) in arrays.items():
        if np.shape(values) != shape:
            raise TrmmWriteError(f"{path}: {name} shape {np.shape(values)}, want {shape}")
    sd = SD(os.fspath(path), SDC.WRITE | SDC.CREATE | SDC.TRUNC)
    try:
        sd.FileHeader = file_header("2A23", granule, times[0], times[-1])
        for name, (values, dtype) in arrays.items():
            units = {"HBB": "m", "BBwidth": "m"}.get(name)
            put_sds(
                sd, name, np.asarray(values).astype(dtype), **({"units": units} if units else {})
            )
        _put_swath(sd, latitude, longitude, times)
    finally:
        sd.end()


def hdf4_bytes(write: Callable[[str], None], name: str = "granule.HDF") -> bytes:
    """The bytes of the file ``write(path)`` creates, written in a temporary folder.

    pyhdf can only write to a local path; this gives the bytes for any other destination.  The
    HDF4 library stores the path a file was created under (the name of its netCDF-layer
    ``CDF0.0`` Vgroup); the random temporary folder in it is overwritten with ``./////...`` of
    the same length (a relative path to the bare file name), so that the same granule gives the
    same bytes in every process.
    """
    with tempfile.TemporaryDirectory(prefix="rainfuse-hdf4-") as folder:
        path = os.path.join(folder, os.path.basename(name))
        write(path)
        with open(path, "rb") as fh:
            data = fh.read()
    where = os.fsencode(folder)
    return data.replace(where, b"." + b"/" * (len(where) - 1))


def _check_swath(path, latitude, longitude, times) -> tuple[int, int]:
    shape = np.shape(latitude)
    if len(shape) != 2 or np.shape(longitude) != shape or len(times) != shape[0]:
        raise TrmmWriteError(
            f"{path}: Latitude {shape}, Longitude {np.shape(longitude)} and {len(times)} scan "
            "times do not agree"
        )
    if shape[0] == 0:
        raise TrmmWriteError(f"{path}: no scans")
    return shape


def _put_swath(sd: SD, latitude, longitude, times) -> None:
    put_sds(sd, "Latitude", np.asarray(latitude, np.float32), units="degrees")
    put_sds(sd, "Longitude", np.asarray(longitude, np.float32), units="degrees")
    put_scan_time(sd, times)


def _utc(t: datetime) -> datetime:
    if t.tzinfo is None:
        raise TrmmWriteError(f"scan time {t!r} must be timezone-aware (UTC)")
    return t.astimezone(UTC)
