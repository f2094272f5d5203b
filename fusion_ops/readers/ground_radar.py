"""Ground-radar volumes: list a day's files per site, read NEXRAD Level II and ODIM_H5.

Level II is read with Py-ART (``pyart.io.read_nexrad_archive``) decoding only the moments we use;
ODIM_H5 with Py-ART where it accepts the file and with xradar (``open_odim_datatree``) where it
does not (e.g. files without a ``Conventions`` attribute).  Every reader returns a
:class:`~fusion_ops.datamodel.RadarVolume` (float32 + NaN, nominal azimuth bins) or raises
:class:`~fusion_ops.readers.errors.UnreadableFileError` naming the file and the reason.

Archive layout (NEXRAD on ``s3://unidata-nexrad-level2`` and the embedded default archive under a
``nexrad/`` prefix): ``{root}/YYYY/MM/DD/SITE/SITEYYYYMMDD_HHMMSS_V06``.  The root is an argument.
A root in the real-time chunk layout (``s3://unidata-nexrad-level2-chunks``:
``{root}/SITE/VOLUME_NUMBER/YYYYMMDD-HHMMSS-NNN-S|I|E``) goes through the same two calls:
:func:`list_volumes` lists one URL per volume, ``{root}/SITE/VOLUME_NUMBER/YYYYMMDD-HHMMSS`` (the
prefix its chunks share), and :func:`read_volume` / :func:`read_volume_with_status` assemble the
chunks behind such a URL (:mod:`fusion_ops.readers.level2_chunks`).  Which layout a root holds is
told by its listing, and which kind of volume a URL names by its key form, never by a file name
written into the code.

Every archive variant goes through the same path.  Whole-file compression is recognised by the
first bytes (never by the name) and unwrapped first: gzip (``1f 8b``, the archive's ``.gz`` keys
before mid-2016), Unix compress (``1f 9d``, ``.Z``) and bzip2 (``BZh``).  Inside are bzip2 LDM
records or an uncompressed Archive II volume.  Message-31 volumes go through the fast decoder,
legacy message-1 volumes (before 2008) through Py-ART.  A volume without a site position (message
1) is placed from the NEXRAD site table (:mod:`fusion_ops.readers.nexrad_sites`), never at 0, 0.
"""

from __future__ import annotations

import bz2
import dataclasses
import datetime as dt
import gzip
import io
import os
import re
import warnings
import zlib
from collections.abc import Callable, Sequence

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

#: A volume key: ``KMLB20090520_000127_V03.gz``, ``KLBB20160601_150025_V06``, the older
#: ``KMLB20050520_000127.gz`` (no version); ``..._V06_MDM`` (model data messages) is not a volume.
_VOLUME_NAME = re.compile(
    r"^(?P<site>[A-Z0-9]{4})(?P<date>\d{8})_(?P<time>\d{6})(?:_V0[1-8])?(?:\.(?:gz|bz2|Z))?$"
)


#: A real-time volume as :func:`list_volumes` names it: ``.../SITE/VOLUME_NUMBER/YYYYMMDD-HHMMSS``,
#: the prefix shared by the volume's chunk keys (``...-NNN-S|I|E``); no object has this key.
_CHUNK_VOLUME_KEY = re.compile(
    r"(?:^|/)(?P<site>[A-Z0-9]{4})/(?P<number>\d+)/(?P<date>\d{8})-(?P<time>\d{6})$"
)


@dataclasses.dataclass(frozen=True)
class ChunkVolumeKey:
    """What the URL of a real-time volume says: site, volume number, start time and folder."""

    site: str
    volume_number: int
    start: pd.Timestamp
    folder: str  # URL of ``{root}/SITE/VOLUME_NUMBER``


def chunk_volume_key(url: str) -> ChunkVolumeKey | None:
    """The parts of a real-time volume URL (``.../SITE/NUMBER/YYYYMMDD-HHMMSS``), else None."""
    url = str(url).rstrip("/")
    m = _CHUNK_VOLUME_KEY.search(url)
    if not m:
        return None
    return ChunkVolumeKey(
        site=m["site"],
        volume_number=int(m["number"]),
        start=pd.Timestamp(f"{m['date']}T{m['time']}", tz="UTC"),
        folder=url.rsplit("/", 1)[0],
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

    The root's layout is told by what it lists: the archive's ``YYYY/MM/DD/SITE/`` folder of the
    day, else the real-time chunk folders ``SITE/VOLUME_NUMBER/``.  A chunk volume is listed as
    ``{root}/SITE/VOLUME_NUMBER/YYYYMMDD-HHMMSS`` (every volume that starts on the day, complete
    or not, with its start chunk or not: :func:`read_volume_with_status` says which).  A root
    holds one layout; where a day had keys in both, the archive's whole files are taken.

    Parameters
    ----------
    root_url : str
        Archive root, local folder or ``s3://bucket[/prefix]`` (e.g. ``s3://unidata-nexrad-level2``,
        ``s3://unidata-nexrad-level2-chunks`` or ``<archive>/nexrad``).
    day : date or ``YYYY-MM-DD``
    site : str
        Four-letter site id (``KLBB``).
    storage_options : dict, optional
        fsspec options (``anon`` defaults to True for s3, ``client_kwargs`` for an endpoint).

    Returns
    -------
    list of str
        Empty when neither the day's folder nor the site's chunk folders exist (a missing source
        is not an error).  Keys that are no volume (``_MDM`` model data, other days or sites)
        are skipped.
    """
    day = pd.Timestamp(day).date()
    fs, root = _fs_and_path(root_url, storage_options)
    urls = _list_archive_day(fs, root, day, site)
    if urls:
        return urls
    # the chunk module builds on this one (it reads assembled bytes with read_volume_bytes):
    # imported where it is used, so that neither module imports the other at import time
    from fusion_ops.readers.level2_chunks import list_chunk_volumes

    return [v.url for v in list_chunk_volumes(root_url, day, site, storage_options)]


def _list_archive_day(
    fs: fsspec.AbstractFileSystem, root: str, day: dt.date, site: str
) -> list[str]:
    """The volume keys of ``{root}/YYYY/MM/DD/SITE``, by time; empty without that folder."""
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
    return sorted(out, key=lambda u: (volume_time_from_name(u), u.rsplit("/", 1)[-1]))


def is_chunk_volume_url(url: str) -> bool:
    """Whether ``url`` names a real-time volume by its chunks' prefix (see :func:`list_volumes`)."""
    return chunk_volume_key(url) is not None


def volume_time_from_name(url: str) -> pd.Timestamp | None:
    """Scan start time encoded in a Level II key or a real-time volume URL, or None."""
    m = _VOLUME_NAME.match(str(url).rstrip("/").rsplit("/", 1)[-1])
    if m:
        return pd.Timestamp(f"{m['date']}T{m['time']}", tz="UTC")
    key = chunk_volume_key(url)
    return key.start if key else None


def volume_site_from_name(url: str) -> str | None:
    """Site id encoded in a Level II key or a real-time volume URL, or None."""
    m = _VOLUME_NAME.match(str(url).rstrip("/").rsplit("/", 1)[-1])
    if m:
        return m["site"]
    key = chunk_volume_key(url)
    return key.site if key else None


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


def _uncompress_z(data: bytes) -> bytes:
    import unlzw3

    return unlzw3.unlzw(data)


#: Whole-file compression, recognised by its first bytes: (magic, name, decompress).
_WRAPPERS: tuple[tuple[bytes, str, Callable[[bytes], bytes]], ...] = (
    (b"\x1f\x8b", "gzip", gzip.decompress),
    (b"\x1f\x9d", "Unix compress (.Z)", _uncompress_z),
    (b"BZh", "bzip2", bz2.decompress),
)


def unwrap(data: bytes, url: str, reader: str = "ground_radar") -> bytes:
    """The bytes of a file without its whole-file compression (gzip, Unix compress, bzip2).

    Detected from the first bytes, never from the name; layers are unwrapped until none is left
    (a Level II volume inside keeps its own bzip2 LDM records).  Data without a wrapper is
    returned as it is.

    Raises
    ------
    UnreadableFileError
        A wrapper that does not decompress (truncated or corrupt) or holds nothing.
    """
    for _ in range(4):
        found = [(name, fn) for magic, name, fn in _WRAPPERS if data.startswith(magic)]
        if not found:
            return data
        name, decompress = found[0]
        try:
            data = decompress(data)
        except EOFError as exc:
            raise UnreadableFileError(url, f"truncated {name} file: {exc}", reader) from exc
        except (OSError, ValueError, zlib.error, IndexError) as exc:
            reason = f"corrupt {name} file: {describe_exception(exc)}"
            raise UnreadableFileError(url, reason, reader) from exc
        if not data:
            raise UnreadableFileError(url, f"empty {name} file", reader)
    raise UnreadableFileError(url, "corrupt: more than 4 nested compression layers", reader)


def _first_bytes(data: bytes) -> str:
    return f"first bytes {data[:8]!r} (hex {data[:8].hex(' ')})"


def _sniff(data: bytes) -> str:
    if data[:4] == b"AR2V" or data[:8] == b"ARCHIVE2":
        return "nexrad_level2"
    if data[:8] == b"\x89HDF\r\n\x1a\n":
        return "odim_h5"
    return "unknown"


@dataclasses.dataclass(frozen=True)
class VolumeRead:
    """A volume as read, and whether it is whole.

    ``status`` is ``"ok"`` (a whole file, or a real-time volume with all its chunks) or
    ``"partial"`` (a real-time volume cut short: its complete sweeps only); ``reason`` says what
    was missing (empty when whole).
    """

    volume: RadarVolume
    status: str = "ok"
    reason: str = ""


def read_volume_with_status(
    url: str,
    fields: Sequence[str] = DEFAULT_FIELDS,
    max_range_m: float | None = None,
    storage_options: dict | None = None,
) -> VolumeRead:
    """Read one volume that :func:`list_volumes` listed, saying whether it is partial.

    A file is read by :func:`read_volume_bytes`; a real-time volume URL
    (``.../SITE/VOLUME_NUMBER/YYYYMMDD-HHMMSS``) is assembled from the chunks listed under it now
    (:func:`~fusion_ops.readers.level2_chunks.read_chunk_volume_url`).

    Raises
    ------
    UnreadableFileError
        Empty, truncated, corrupt or unknown-format file; a real-time volume without its start
        chunk or without one complete sweep.
    """
    if is_chunk_volume_url(url):
        from fusion_ops.readers.level2_chunks import read_chunk_volume_url  # see list_volumes

        read = read_chunk_volume_url(url, fields, max_range_m, storage_options)
        return VolumeRead(read.volume, read.status, read.reason)
    data = _read_bytes(url, storage_options, "ground_radar")
    return VolumeRead(read_volume_bytes(data, url, fields, max_range_m))


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
        Local path or fsspec URL; or a real-time volume URL from :func:`list_volumes`, assembled
        from its chunks (a partial one gives its complete sweeps; :func:`read_volume_with_status`
        says so).
    fields : sequence of str
        Moments to decode (Py-ART names); missing ones are simply absent.
    max_range_m : float, optional
        Drop gates beyond this range (saves memory/time when the domain is smaller).

    Raises
    ------
    UnreadableFileError
        Empty, truncated, corrupt or unknown-format file.
    """
    return read_volume_with_status(url, fields, max_range_m, storage_options).volume


def read_volume_bytes(
    data: bytes,
    url: str,
    fields: Sequence[str] = DEFAULT_FIELDS,
    max_range_m: float | None = None,
    *,
    drop_incomplete_sweeps: bool = False,
) -> RadarVolume:
    """Read a volume held in memory as :func:`read_volume` reads a file (``url`` names it).

    Used for volumes assembled from real-time chunks (:mod:`fusion_ops.readers.level2_chunks`).
    ``drop_incomplete_sweeps`` is for a Level II volume known to be cut short (a real-time volume
    without its end chunk): it is read up to the last radial that ends an elevation, so its
    complete sweeps are kept and the elevation in progress is dropped, where a whole file would
    raise "truncated".
    """
    data = unwrap(data, url)
    kind = _sniff(data)
    if kind == "nexrad_level2":
        if drop_incomplete_sweeps:
            return _read_level2_complete_sweeps(url, fields, max_range_m, data)
        return read_nexrad_level2(url, fields, max_range_m, data=data)
    if kind == "odim_h5":
        return read_odim_h5(url, fields, max_range_m, data=data)
    raise UnreadableFileError(
        url,
        f"unknown format: {_first_bytes(data)} are neither gzip, Unix compress nor bzip2, "
        "nor a NEXRAD Level II or ODIM_H5 volume",
        "ground_radar",
    )


#: Radial status (message 31, RDA/RPG ICD 2620002) of the last radial of an elevation: "end of
#: elevation" and "end of volume scan".
_END_OF_ELEVATION = (2, 4)


def _read_level2_complete_sweeps(
    url: str, fields: Sequence[str], max_range_m: float | None, data: bytes
) -> RadarVolume:
    """A message-31 volume cut short: its complete sweeps only.

    The messages are cut after the last radial that ends an elevation (radial status), so the
    elevation in progress when the volume was cut is not decoded.  Its rays cannot be told by
    their number: a part of a turn is binned as a whole turn at a coarser azimuth spacing
    (120 rays of a 0.5-deg sweep as a 3-deg sweep), which the 90 %-of-rays check then accepts.
    """
    from fusion_ops.readers.level2 import Level2FormatError, decode_level2, decompress_records

    reader = "nexrad_level2"
    try:
        messages = decompress_records(data)
    except Level2FormatError as exc:
        raise UnreadableFileError(url, str(exc), reader) from exc
    end = _end_of_last_elevation(messages)
    if end is None:
        raise UnreadableFileError(url, "no complete sweep: no radial ends an elevation", reader)
    # header + decompressed messages: an uncompressed Archive II volume, not decompressed again
    data = data[:24] + messages[:end]
    try:
        vol, counts = decode_level2(data, fields, max_range_m, source=str(url))
    except Level2FormatError as exc:
        raise UnreadableFileError(url, str(exc), reader) from exc
    kept = [(s, n) for s, n in zip(vol.sweeps, counts, strict=True) if n >= 0.9 * s.n_azimuth]
    if not kept:
        raise UnreadableFileError(url, f"no complete sweep among {len(counts)} decoded", reader)
    vol = dataclasses.replace(vol, sweeps=[s for s, _ in kept])
    _validate_sweeps(url, vol, reader, [n for _, n in kept])
    return _placed(vol, url, data, reader)


def _end_of_last_elevation(messages: bytes) -> int | None:
    """Byte offset just after the last message-31 radial that ends an elevation, or None.

    ``messages`` are the decompressed Level II messages: a message 31 spans its own size, every
    other message a fixed 2432-byte slot (as :func:`~fusion_ops.readers.level2.decode_level2`
    walks them).
    """
    from fusion_ops.readers.level2 import _CTM, _FIXED_MSG_BYTES, _MSG31_HDR, _MSG_HDR

    end = None
    pos, n = 0, len(messages)
    while pos + _CTM + _MSG_HDR.size <= n:
        size_hw, _, mtype, *_ = _MSG_HDR.unpack_from(messages, pos + _CTM)
        if mtype != 31:
            pos += _FIXED_MSG_BYTES
            continue
        head = pos + _CTM + _MSG_HDR.size
        if size_hw == 0 or head + _MSG31_HDR.size > n:
            break  # a corrupt or cut header: what follows cannot be walked
        step = _CTM + 2 * size_hw
        if _MSG31_HDR.unpack_from(messages, head)[9] in _END_OF_ELEVATION and pos + step <= n:
            end = pos + step
        pos += step
    return end


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

    Whole-file gzip, Unix compress and bzip2 are unwrapped first (:func:`unwrap`).  A volume
    without a site position (message 1) takes the NEXRAD site table's (:func:`_placed`).

    Raises
    ------
    UnreadableFileError
        Truncated, corrupt or not Level II, or a volume whose site cannot be found.
    """
    reader = "nexrad_level2"
    if data is None:
        data = _read_bytes(url, storage_options, reader)
    data = unwrap(data, url, reader)
    if _sniff(data) != "nexrad_level2":
        raise UnreadableFileError(url, f"not a Level II file ({_first_bytes(data)})", reader)
    fast_error: str | None = None
    if decoder == "fast":
        from fusion_ops.readers.level2 import Level2FormatError, decode_level2

        try:
            vol, counts = decode_level2(data, fields, max_range_m, source=str(url))
            _validate_sweeps(url, vol, reader, counts)
            return _placed(vol, url, data, reader)
        except Level2FormatError as exc:
            fast_error = str(exc)
            if fast_error.startswith(("truncated", "corrupt")):
                raise UnreadableFileError(url, fast_error, reader) from exc
    import pyart  # heavy import: keep it out of module import time

    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*deprecat.*")
            warnings.filterwarnings("ignore", category=DeprecationWarning)
            # message-1 volumes often have no VCP message; fixed angles come from the rays
            warnings.filterwarnings("ignore", message="No MSG5 detected")
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
    return _placed(vol, url, data, reader)


def _placed(vol: RadarVolume, url: str, data: bytes, reader: str) -> RadarVolume:
    """The volume with its site id and position: from the file, else from the NEXRAD site table.

    Message-31 volumes carry their position (volume data block); message-1 volumes do not, and
    Py-ART reports 0, 0 for them.  Those are placed from the site table by the ICAO of the volume
    header, else of the file name; a volume placed by neither raises (never 0, 0).
    """
    from fusion_ops.readers.nexrad_sites import find_site, icao_from_header, icao_from_name, is_icao

    lat, lon = vol.latitude_deg, vol.longitude_deg
    if np.isfinite(lat) and np.isfinite(lon) and not (lat == 0.0 and lon == 0.0):
        if is_icao(vol.site_id):
            return vol
        site_id = icao_from_header(data) or icao_from_name(url)
        return dataclasses.replace(vol, site_id=site_id) if site_id else vol
    site = find_site(data, url)
    if site is None:
        raise UnreadableFileError(
            url,
            "site unknown: the volume holds no site position and no NEXRAD site of the site "
            f"table is named by its header (ICAO {data[20:24]!r}) or its file name",
            reader,
        )
    return dataclasses.replace(
        vol,
        site_id=site.icao,
        latitude_deg=site.latitude_deg,
        longitude_deg=site.longitude_deg,
        altitude_m=site.altitude_m,
    )


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
    data = unwrap(data, url, reader)
    if _sniff(data) != "odim_h5":
        raise UnreadableFileError(url, f"not an HDF5 file ({_first_bytes(data)})", reader)
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
