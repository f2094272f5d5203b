"""Ground-radar volumes: list a day's files per site, read NEXRAD Level II and ODIM_H5.

Level II is read with Py-ART (``pyart.io.read_nexrad_archive``) decoding only the moments we use;
ODIM_H5 with Py-ART where it accepts the file and with xradar (``open_odim_datatree``) where it
does not (e.g. files without a ``Conventions`` attribute).  Every reader returns a
:class:`~fusion_ops.datamodel.RadarVolume` (float32 + NaN, nominal azimuth bins) or raises
:class:`~fusion_ops.readers.errors.UnreadableFileError` naming the file and the reason.

Archive layout (NEXRAD on ``s3://unidata-nexrad-level2`` and the embedded default archive under a
``nexrad/`` prefix): ``{root}/YYYY/MM/DD/SITE/SITEYYYYMMDD_HHMMSS_V06``.  The root is an argument.
"""

from __future__ import annotations

import datetime as dt
import gzip
import io
import os
import re
import warnings
from collections.abc import Sequence

import fsspec
import numpy as np
import pandas as pd

from fusion_ops.datamodel import RadarVolume, Sweep, nominal_azimuth_res, to_nominal_azimuths
from fusion_ops.readers.errors import UnreadableFileError, describe_exception
from fusion_ops.readers.remote import fs_options

os.environ.setdefault("PYART_QUIET", "1")

#: Moments used downstream (QC + profiles); everything else is not decoded.
DEFAULT_FIELDS: tuple[str, ...] = (
    "reflectivity",
    "differential_reflectivity",
    "cross_correlation_ratio",
    "differential_phase",
    "specific_differential_phase",
)

#: ODIM quantity -> rainfuse (Py-ART style) field name.
ODIM_QUANTITIES: dict[str, str] = {
    "DBZH": "reflectivity",
    "ZDR": "differential_reflectivity",
    "RHOHV": "cross_correlation_ratio",
    "PHIDP": "differential_phase",
    "KDP": "specific_differential_phase",
}

_VOLUME_NAME = re.compile(
    r"^(?P<site>[A-Z0-9]{4})(?P<date>\d{8})_(?P<time>\d{6})(?:_V0\d)?(\.gz)?$"
)


def _fs_and_path(url: str, storage_options: dict | None) -> tuple[fsspec.AbstractFileSystem, str]:
    opts = fs_options(url, storage_options)
    fs, path = fsspec.core.url_to_fs(str(url), **opts)
    return fs, path


def _protocol_prefix(fs: fsspec.AbstractFileSystem) -> str:
    proto = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    return "" if proto in ("file", "local") else f"{proto}://"


def list_volumes(
    root_url: str,
    day: dt.date | str,
    site: str,
    storage_options: dict | None = None,
) -> list[str]:
    """URLs of a site's volumes for one UTC day, sorted by time.

    Parameters
    ----------
    root_url : str
        Archive root, local folder or ``s3://bucket[/prefix]`` (e.g. ``s3://unidata-nexrad-level2``
        or ``<archive>/nexrad``).
    day : date or ``YYYY-MM-DD``
    site : str
        Four-letter site id (``KLBB``).
    storage_options : dict, optional
        fsspec options (``anon`` defaults to True for s3, ``client_kwargs`` for an endpoint).

    Returns
    -------
    list of str
        Empty when the day or site folder does not exist (a missing source is not an error).
    """
    day = pd.Timestamp(day).date()
    fs, root = _fs_and_path(root_url, storage_options)
    folder = f"{root.rstrip('/')}/{day:%Y/%m/%d}/{site}"
    try:
        names = fs.ls(folder, detail=False)
    except (FileNotFoundError, OSError):
        return []
    out = []
    for name in names:
        base = name.rstrip("/").rsplit("/", 1)[-1]
        m = _VOLUME_NAME.match(base)
        if m and m["site"] == site and m["date"] == f"{day:%Y%m%d}":
            out.append(_protocol_prefix(fs) + name)
    return sorted(out, key=lambda u: u.rsplit("/", 1)[-1])


def volume_time_from_name(url: str) -> pd.Timestamp | None:
    """Scan start time encoded in a Level II key, or None."""
    m = _VOLUME_NAME.match(str(url).rstrip("/").rsplit("/", 1)[-1])
    if not m:
        return None
    return pd.Timestamp(f"{m['date']}T{m['time']}", tz="UTC")


def _read_bytes(url: str, storage_options: dict | None, reader: str) -> bytes:
    try:
        fs, path = _fs_and_path(url, storage_options)
        with fs.open(path, "rb") as fh:
            data = fh.read()
    except FileNotFoundError as exc:
        raise UnreadableFileError(url, "file not found", reader) from exc
    except OSError as exc:
        raise UnreadableFileError(url, describe_exception(exc), reader) from exc
    if len(data) == 0:
        raise UnreadableFileError(url, "empty file", reader)
    return data


def _sniff(data: bytes) -> str:
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError):
            return "corrupt-gzip"
    if data[:4] == b"AR2V" or data[:8] == b"ARCHIVE2":
        return "nexrad_level2"
    if data[:8] == b"\x89HDF\r\n\x1a\n":
        return "odim_h5"
    return "unknown"


def read_volume(
    url: str,
    fields: Sequence[str] = DEFAULT_FIELDS,
    max_range_m: float | None = None,
    storage_options: dict | None = None,
) -> RadarVolume:
    """Read one ground-radar volume (Level II or ODIM_H5, detected from its first bytes).

    Parameters
    ----------
    url : str
        Local path or fsspec URL.
    fields : sequence of str
        Moments to decode (Py-ART names); missing ones are simply absent.
    max_range_m : float, optional
        Drop gates beyond this range (saves memory/time when the domain is smaller).

    Raises
    ------
    UnreadableFileError
        Empty, truncated, corrupt or unknown-format file.
    """
    data = _read_bytes(url, storage_options, "ground_radar")
    kind = _sniff(data)
    if kind == "nexrad_level2":
        return read_nexrad_level2(url, fields, max_range_m, data=data)
    if kind == "odim_h5":
        return read_odim_h5(url, fields, max_range_m, data=data)
    raise UnreadableFileError(url, f"unknown format (first bytes {data[:8]!r})", "ground_radar")


def _validate_sweeps(url: str, vol: RadarVolume, reader: str, ray_counts: list[int]) -> None:
    if not vol.sweeps:
        raise UnreadableFileError(url, "no sweeps decoded", reader)
    for i, (s, n) in enumerate(zip(vol.sweeps, ray_counts, strict=True)):
        # A sweep cut short (file truncated at a record boundary) has far fewer rays than
        # its nominal azimuth grid; accept a few missing rays, not a partial sweep.
        if n < 0.9 * s.n_azimuth:
            raise UnreadableFileError(
                url, f"truncated: sweep {i} has {n} of {s.n_azimuth} rays", reader
            )
    if "reflectivity" not in vol.field_names():
        raise UnreadableFileError(url, "no reflectivity moment", reader)


def _radar_time(radar, seconds: float | None = None, unit: str = "s") -> np.datetime64:
    """The time ``seconds`` after the epoch of ``radar.time`` (default: its first ray)."""
    units = radar.time["units"]
    start = pd.Timestamp(units.split("since", 1)[1].strip()).tz_localize(None)
    if seconds is None:
        seconds = float(radar.time["data"][0])
    return np.datetime64(start + pd.to_timedelta(seconds, unit="s"), unit)


def _from_pyart(
    radar, url: str, fields: Sequence[str], max_range_m: float | None
) -> tuple[RadarVolume, list[int]]:
    rng = np.asarray(radar.range["data"], dtype=np.float64)
    ngate = rng.size if max_range_m is None else int(np.searchsorted(rng, max_range_m) + 1)
    ngate = min(ngate, rng.size)
    sweeps = []
    counts = []
    azimuths = np.asarray(radar.azimuth["data"], dtype=np.float64)
    for i in range(radar.nsweeps):
        sl = radar.get_slice(i)
        az = azimuths[sl]
        res = nominal_azimuth_res(az)
        fdict = {}
        for name in fields:
            if name not in radar.fields:
                continue
            arr = radar.fields[name]["data"][sl, :ngate]
            if np.ma.isMaskedArray(arr):
                if arr.count() == 0:
                    continue  # e.g. dual-pol moments absent in a Doppler split cut
                arr = np.ma.filled(arr.astype(np.float32), np.nan)
            fdict[name] = to_nominal_azimuths(az, np.asarray(arr, dtype=np.float32), res)
        sweeps.append(
            Sweep(
                elevation_deg=float(radar.fixed_angle["data"][i]),
                azimuth_res_deg=res,
                range_m=rng[:ngate].copy(),
                fields=fdict,
                start_time=_radar_time(radar, float(np.min(radar.time["data"][sl])), "ns"),
            )
        )
        counts.append(int(az.size))
    site = str(radar.metadata.get("instrument_name", "") or "").strip()
    if not site or site.lower() in ("none", "unknown"):
        site = str(url).rsplit("/", 1)[-1][:4]
    bw = 1.0
    ip = radar.instrument_parameters or {}
    if "radar_beam_width_h" in ip:
        try:
            bw = float(np.ravel(ip["radar_beam_width_h"]["data"])[0])
        except (IndexError, TypeError, ValueError):
            bw = 1.0
    vol = RadarVolume(
        site_id=site,
        latitude_deg=float(np.ravel(radar.latitude["data"])[0]),
        longitude_deg=float(np.ravel(radar.longitude["data"])[0]),
        altitude_m=float(np.ravel(radar.altitude["data"])[0]),
        time=_radar_time(radar),
        sweeps=sweeps,
        beamwidth_deg=bw if np.isfinite(bw) and bw > 0 else 1.0,
        source=str(url),
    )
    return vol, counts


def read_nexrad_level2(
    url: str,
    fields: Sequence[str] = DEFAULT_FIELDS,
    max_range_m: float | None = None,
    data: bytes | None = None,
    storage_options: dict | None = None,
    decoder: str = "fast",
) -> RadarVolume:
    """Read a NEXRAD Level II volume, decoding only ``fields`` (and gates within ``max_range_m``).

    Parameters
    ----------
    decoder : {"fast", "pyart"}
        ``"fast"``: the vectorised message-31 decoder of :mod:`fusion_ops.readers.level2`
        (identical values to Py-ART, about 2-3x faster), falling back to Py-ART for layouts it
        does not handle (e.g. legacy message 1); ``"pyart"``: ``pyart.io.read_nexrad_archive``.
    """
    reader = "nexrad_level2"
    if data is None:
        data = _read_bytes(url, storage_options, reader)
    if _sniff(data) != "nexrad_level2":
        raise UnreadableFileError(url, f"not a Level II file (first bytes {data[:8]!r})", reader)
    fast_error: str | None = None
    if decoder == "fast" and data[:2] != b"\x1f\x8b":
        from fusion_ops.readers.level2 import Level2FormatError, decode_level2

        try:
            vol, counts = decode_level2(data, fields, max_range_m, source=str(url))
            _validate_sweeps(url, vol, reader, counts)
            return vol
        except Level2FormatError as exc:
            fast_error = str(exc)
            if fast_error.startswith(("truncated", "corrupt")):
                raise UnreadableFileError(url, fast_error, reader) from exc
    import pyart  # heavy import: keep it out of module import time

    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*deprecat.*")
            warnings.filterwarnings("ignore", category=DeprecationWarning)
            radar = pyart.io.read_nexrad_archive(
                io.BytesIO(data), include_fields=list(fields), delay_field_loading=True
            )
            vol, counts = _from_pyart(radar, url, fields, max_range_m)
    except Exception as exc:  # noqa: BLE001 - Py-ART raises many types on corrupt input
        reason = describe_exception(exc)
        if fast_error:
            reason = f"{fast_error}; Py-ART: {reason}"
        raise UnreadableFileError(url, reason, reader) from exc
    _validate_sweeps(url, vol, reader, counts)
    return vol


def read_odim_h5(
    url: str,
    fields: Sequence[str] = DEFAULT_FIELDS,
    max_range_m: float | None = None,
    data: bytes | None = None,
    storage_options: dict | None = None,
) -> RadarVolume:
    """Read an ODIM_H5 polar volume: Py-ART first, xradar where Py-ART rejects the file."""
    import pyart

    reader = "odim_h5"
    if data is None:
        data = _read_bytes(url, storage_options, reader)
    if _sniff(data) != "odim_h5":
        raise UnreadableFileError(url, f"not an HDF5 file (first bytes {data[:8]!r})", reader)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            radar = pyart.aux_io.read_odim_h5(io.BytesIO(data), include_fields=list(fields))
        vol, counts = _from_pyart(radar, url, fields, max_range_m)
    except Exception as pyart_exc:  # noqa: BLE001 - fall back to xradar
        try:
            vol, counts = _odim_with_xradar(url, data, fields, max_range_m)
        except Exception as exc:  # noqa: BLE001
            raise UnreadableFileError(
                url,
                f"Py-ART ({describe_exception(pyart_exc)}) and xradar "
                f"({describe_exception(exc)}) both failed",
                reader,
            ) from exc
    _validate_sweeps(url, vol, reader, counts)
    return vol


def _odim_with_xradar(
    url: str, data: bytes, fields: Sequence[str], max_range_m: float | None
) -> tuple[RadarVolume, list[int]]:
    import xradar

    wanted = {q: n for q, n in ODIM_QUANTITIES.items() if n in fields}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tree = xradar.io.open_odim_datatree(io.BytesIO(data))
    root = tree.to_dataset() if hasattr(tree, "to_dataset") else tree.ds
    sweeps, counts = [], []
    n_sweeps = int(root.sizes.get("sweep", 0)) or len([k for k in tree.children if "sweep" in k])
    for i in range(n_sweeps):
        ds = tree[f"sweep_{i}"].to_dataset()
        az = np.asarray(ds["azimuth"].values, dtype=np.float64)
        rng = np.asarray(ds["range"].values, dtype=np.float64)
        ngate = rng.size if max_range_m is None else int(np.searchsorted(rng, max_range_m) + 1)
        ngate = min(ngate, rng.size)
        res = nominal_azimuth_res(az)
        fdict = {}
        for q, name in wanted.items():
            if q in ds:
                arr = np.asarray(ds[q].values[:, :ngate], dtype=np.float32)
                fdict[name] = to_nominal_azimuths(az, arr, res)
        sweeps.append(
            Sweep(
                elevation_deg=float(ds["sweep_fixed_angle"].values),
                azimuth_res_deg=res,
                range_m=rng[:ngate].copy(),
                fields=fdict,
                start_time=ds["time"].values.min(),
            )
        )
        counts.append(int(az.size))
    t0 = pd.Timestamp(str(root["time_coverage_start"].values)).tz_localize(None)
    site = str(url).rsplit("/", 1)[-1].split("_")[0]
    vol = RadarVolume(
        site_id=site,
        latitude_deg=float(root["latitude"].values),
        longitude_deg=float(root["longitude"].values),
        altitude_m=float(root["altitude"].values),
        time=np.datetime64(t0, "s"),
        sweeps=sweeps,
        beamwidth_deg=1.0,
        source=str(url),
    )
    return vol, counts
