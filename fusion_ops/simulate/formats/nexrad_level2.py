"""NEXRAD WSR-88D Level II (Archive II) encoder: message 31, and legacy message 1.

Written from the public Interface Control Documents: ICD 2620010 (Archive II/User) for the file
framing and ICD 2620002 (RDA/RPG) for the messages. A file is

* a 24-byte volume header: ``"AR2V0006."`` (or ``"AR2V0003."``, see below) + 3-character
  extension number, the NEXRAD modified Julian date (day 1 = 1970-01-01, big-endian uint32),
  milliseconds past midnight (uint32) and the 4-character ICAO;
* LDM records, each a 4-byte signed big-endian control word (the length of the compressed block,
  negative on the last record of the volume) and one bzip2 stream;
* in the first LDM record the 134 metadata messages, each a 2432-byte record (12-byte CTM
  prefix, 16-byte message header, payload, zero fill) in fixed slots: clutter filter map (15,
  77 records), clutter filter bypass map (13, 49 records), RDA adaptation data (18, 5 records),
  performance/maintenance data (3), volume coverage pattern (5) and RDA status (2);
* then message 31 radials, 120 per LDM record as the archive writes them, each a 12-byte CTM
  prefix, the 16-byte message header and the generic radial: the data header block (68 bytes,
  9 block pointers), the volume (VOL, 44 bytes), elevation (ELV, 12 bytes) and radial (RAD,
  28 bytes) constant blocks and one generic moment block (28-byte descriptor + gates) per moment.

Everything per sweep is laid out at once in a ``(n_rays, message_length)`` byte array (all
radials of a sweep share one layout), so a volume costs a few numpy assignments plus bzip2.

The archive variants of other eras (see :mod:`fusion_ops.eras`):

* the version number after ``AR2V00`` follows the volume (ICD 2620010: 03 super resolution
  before RDA Build 12, i.e. single-pol; 06 super resolution from Build 12, i.e. dual-pol), and
  the ``_V03`` / ``_V06`` of the key name with it (:func:`archive_version`);
* ``records="uncompressed"`` writes the records one after the other without the LDM bzip2
  framing, the way the archive held volumes before 2016-06-01 inside its whole-file gzip
  (:func:`gzip_file`, keys ending ``.gz``; TIN 16-12: from 2016-06-01 the archive keeps the
  internal bzip2 records);
* :func:`encode_level2_message1`: the legacy Digital Radar Data message (type 1, before Build 10
  in 2008), one fixed 2432-byte record per radial with reflectivity on 1 km gates and velocity
  and spectrum width on 250 m gates, behind an ``ARCHIVE2.`` volume header.  Such a volume
  holds no site position: readers take it from the NEXRAD site table by the header's ICAO.
"""

from __future__ import annotations

import bz2
import gzip
import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np

__all__ = [
    "VCP_ELEVATIONS_DEG",
    "MOMENT_CODING",
    "RANGE_FOLDED",
    "Level2EncodeError",
    "RadarVolume",
    "Sweep",
    "archive_version",
    "encode_level2",
    "encode_level2_message1",
    "gzip_file",
    "level2_filename",
]

#: Put this value in VEL or SW to write the range-folded code (1); NaN writes below threshold (0).
RANGE_FOLDED = np.inf

#: Standard moment coding (ICD 2620002 Table XVII-B): raw = round(value * scale + offset),
#: word size in bits. Raw 0 = below threshold, 1 = range folded, so the first valid code is 2.
MOMENT_CODING: dict[str, tuple[float, float, int]] = {
    "REF": (2.0, 66.0, 8),
    "VEL": (2.0, 129.0, 8),
    "SW": (2.0, 129.0, 8),
    "ZDR": (16.0, 128.0, 8),
    "PHI": (2.8361, 2.0, 16),
    "RHO": (300.0, -60.5, 8),
}
# PHI uses 10 of its 16 bits (ICD Table XVII-I); readers such as xradar mask the rest off.
_MAX_CODE = {"PHI": 1023}
#: Target elevation angles (degrees) of the common WSR-88D volume coverage patterns. The lowest
#: one or two (VCP 11/21) or three (VCP 12/212/215) angles are split cuts in the real RDA: one
#: surveillance sweep (REF + dual-pol) and one Doppler sweep (VEL, SW) at the same angle.
VCP_ELEVATIONS_DEG: dict[int, tuple[float, ...]] = {
    11: (0.5, 1.45, 2.4, 3.35, 4.3, 5.25, 6.2, 7.5, 8.7, 10.0, 12.0, 14.0, 16.7, 19.5),
    12: (0.5, 0.9, 1.3, 1.8, 2.4, 3.1, 4.0, 5.1, 6.4, 8.0, 10.0, 12.5, 15.6, 19.5),
    21: (0.5, 1.45, 2.4, 3.35, 4.3, 6.0, 9.9, 14.6, 19.5),
    31: (0.5, 1.5, 2.5, 3.5, 4.5),
    32: (0.5, 1.5, 2.5, 3.5, 4.5),
    212: (0.5, 0.9, 1.3, 1.8, 2.4, 3.1, 4.0, 5.1, 6.4, 8.0, 10.0, 12.5, 15.6, 19.5),
    215: (0.5, 0.9, 1.3, 1.8, 2.4, 3.1, 4.0, 5.1, 6.4, 8.0, 10.0, 12.0, 14.0, 16.7, 19.5),
}
_MOMENT_ORDER = ("REF", "VEL", "SW", "ZDR", "PHI", "RHO")
_DUAL_POL = {"ZDR", "PHI", "RHO"}
_MESSAGE1_MOMENTS = {"REF", "VEL", "SW"}
# Legacy message 1 (Table III): data header bytes, gate layout and binary angle scale.
_MSG1_HEADER_BYTES = 100
_MSG1_SIZE_HALFWORDS = 1208  # 16-byte header + 2400 bytes of data header and moments
_MSG1_REF_FIRST_M, _MSG1_REF_STEP_M, _MSG1_REF_MAX = 500, 1000, 460
_MSG1_DOP_FIRST_M, _MSG1_DOP_STEP_M, _MSG1_DOP_MAX = 125, 250, 920
_MSG1_ANGLE_SCALE = 32768.0 / 180.0  # coded angle = degrees * 8 * 4096 / 180

_RECORD_BYTES = 2432  # one metadata record: CTM + header + payload + fill
_CTM_BYTES = 12
_HEADER_BYTES = 16
_SEGMENT_PAYLOAD = _RECORD_BYTES - _CTM_BYTES - _HEADER_BYTES
_RADIALS_PER_RECORD = 120
_METADATA_SLOTS = ((15, 77), (13, 49), (18, 5), (3, 1), (5, 1), (2, 1))  # 134 records
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS_PER_DAY = 86_400_000
_CHANNEL = 8  # message header "channel" byte the ORDA writes
_FEEDHORN_HEIGHT_M = 20
# Radial status codes (ICD 2620002 Table XVII-A).
_START_ELEVATION, _INTERMEDIATE, _END_ELEVATION, _START_VOLUME, _END_VOLUME = 0, 1, 2, 3, 4
# VCP waveform types (Table XI).
WAVEFORM_CS, WAVEFORM_CD, WAVEFORM_CDX, WAVEFORM_BATCH = 1, 2, 3, 4


class Level2EncodeError(ValueError):
    """A radar volume cannot be written as Level II (names the site, sweep and reason)."""


@dataclass
class Sweep:
    """One elevation cut, physical values on a regular (ray, gate) grid.

    Parameters
    ----------
    elevation_deg : target (fixed) elevation angle of the cut, degrees.
    azimuth_deg : (n_rays,) ray centre azimuths, degrees clockwise from north, 0-360.
    time_offset_s : (n_rays,) ray collection times, seconds since the volume start.
    first_gate_m, gate_spacing_m : range to the centre of gate 0 and between gates, metres.
    fields : moment name (REF, VEL, SW, ZDR, PHI, RHO) -> (n_rays, n_gates) float in dBZ, m/s,
        m/s, dB, degrees, unitless. NaN = below threshold; ``RANGE_FOLDED`` (+inf) = range folded.
    nyquist_velocity_ms, unambiguous_range_m : PRF-dependent limits written to the RAD block.
    elevation_ray_deg : optional (n_rays,) measured elevation per ray; default the fixed angle.
    waveform_type : optional VCP waveform code (1 CS, 2 CD, 3 CDX, 4 batch); default inferred
        from the moments present (surveillance-only cut = CS, Doppler-only = CD, both = batch).
    """

    elevation_deg: float
    azimuth_deg: np.ndarray
    time_offset_s: np.ndarray
    first_gate_m: float
    gate_spacing_m: float
    fields: dict[str, np.ndarray]
    nyquist_velocity_ms: float = 26.0
    unambiguous_range_m: float = 466000.0
    elevation_ray_deg: np.ndarray | None = None
    waveform_type: int | None = None


@dataclass
class RadarVolume:
    """One volume scan of one site (ICAO, antenna position, start time, VCP, sweeps)."""

    site: str
    latitude_deg: float
    longitude_deg: float
    height_m: float
    start_time: datetime
    vcp: int
    sweeps: list[Sweep] = field(default_factory=list)


def level2_filename(site: str, start_time: datetime, version: str = "V06", suffix: str = "") -> str:
    """Archive name of a volume, e.g. ``KMLB20090520_000000_V06`` or ``..._V03.gz``.

    ``version`` is the ``_V0x`` tag (``""`` for none, as legacy message-1 keys such as
    ``KMLB20050520_000000.gz`` have); ``suffix`` the end of the key (``".gz"`` or ``""``).
    """
    t = _as_utc(start_time)
    tag = f"_{version}" if version else ""
    return f"{site.upper()}{t:%Y%m%d_%H%M%S}{tag}{suffix}"


def archive_version(volume: RadarVolume) -> int:
    """The Archive II version of a message-31 volume: 6 with dual-pol moments, else 3.

    ICD 2620010: version 03 is super resolution before RDA Build 12 (single polarization),
    version 06 super resolution from Build 12 (the dual-polarization build).
    """
    dual = any(_DUAL_POL & set(sw.fields) for sw in volume.sweeps)
    return 6 if dual else 3


def gzip_file(data: bytes, compresslevel: int = 6) -> bytes:
    """A Level II file compressed whole with gzip, as the archive stored it before 2016-06-01.

    The gzip header's time stamp is 0, so the same volume always gives the same bytes.
    """
    return gzip.compress(data, compresslevel=compresslevel, mtime=0)


def encode_level2(
    volume: RadarVolume,
    compresslevel: int = 2,
    threads: int = 1,
    extension: int = 1,
    *,
    version: int | None = None,
    records: str = "bzip2",
) -> bytes:
    """Encode a volume as an Archive II Level II file (bytes) of message-31 radials.

    Parameters
    ----------
    volume : the volume; every sweep needs consistent shapes (checked).
    compresslevel : bzip2 block size level 1-9 (the archive uses 9; 1-5 is much faster).
    threads : compress LDM records in this many threads (bz2 releases the GIL).
    extension : volume scan number written after ``AR2V00xx.`` (1-999).
    version : the ``xx`` of ``AR2V00xx`` (1-99); default :func:`archive_version` (6 for a
        dual-pol volume, 3 for a single-pol one).
    records : ``"bzip2"`` (LDM records, each a control word and a bzip2 stream, as transmitted
        and archived from 2016-06-01) or ``"uncompressed"`` (the records back to back, as the
        archive's whole-file gzip held them before; wrap with :func:`gzip_file`).

    Raises
    ------
    Level2EncodeError
        Unknown moment, wrong shapes, no sweeps, site not 4 characters, bad version or records.
    """
    _validate(volume)
    if version is None:
        version = archive_version(volume)
    if not 1 <= int(version) <= 99:
        raise Level2EncodeError(f"Level II volume {volume.site!r}: version {version} not 1-99")
    start = _as_utc(volume.start_time)
    start_ms = _epoch_ms(start)
    date, ms = _julian(start_ms)

    header = _volume_header(f"AR2V{int(version):04d}.", extension, date, ms, volume.site)
    seq = _SequenceCounter()
    records_out: list = [_metadata_record(volume, date, ms, seq)]
    radials = [_sweep_messages(volume, i, start_ms, seq) for i in range(len(volume.sweeps))]
    blob = np.concatenate([r.reshape(-1) for r in radials]) if radials else np.empty(0, np.uint8)
    msg_len = [r.shape[1] for r in radials]
    # Split into LDM records of 120 radials; sweeps can have different message lengths.
    offsets = np.concatenate([[0], np.cumsum([r.size for r in radials])])
    chunks: list[memoryview] = []
    for k, r in enumerate(radials):
        for j in range(0, r.shape[0], _RADIALS_PER_RECORD):
            n = min(_RADIALS_PER_RECORD, r.shape[0] - j)
            a = offsets[k] + j * msg_len[k]
            chunks.append(memoryview(blob[a : a + n * msg_len[k]]))
    records_out.extend(chunks)
    return _frame(header, records_out, records, compresslevel, threads, volume.site)


def encode_level2_message1(
    volume: RadarVolume,
    extension: int = 1,
    *,
    records: str = "uncompressed",
    compresslevel: int = 2,
) -> bytes:
    """Encode a single-pol volume as a legacy (pre-Build 10) Level II file of message-1 radials.

    Each radial is one 2432-byte record (ICD 2620002 before Build 10, Table III "Digital Radar
    Data"): the 12-byte CTM prefix, the 16-byte message header (1208 halfwords), the 100-byte
    data header and the moments as 8-bit codes: reflectivity on 1 km gates from 500 m (at most
    460), velocity and spectrum width on 250 m gates from 125 m (at most 920), so that the
    reflectivity gate centres fall on the 1.5th Doppler gate as in the legacy layout.  Every
    moment is taken from the sweep's own gates by the nearest gate (the simulator's volume has
    one gate spacing for all moments); gates beyond the sweep's last are below threshold.
    Velocity is coded at 0.5 m/s.

    The file starts with an ``ARCHIVE2.`` volume header and holds no metadata records (legacy
    volumes often carry no VCP message): the target elevation of a sweep is that of its rays.
    There is no site position in message 1; readers take it from the NEXRAD site table.

    Parameters
    ----------
    volume : REF, VEL and SW only, at most 400 rays a sweep (1 degree radials: super
        resolution came with Build 10).
    extension : volume scan number written after ``ARCHIVE2.`` (1-999).
    records : ``"uncompressed"`` (as the archive's whole-file gzip held them) or ``"bzip2"``.
    compresslevel : bzip2 level where ``records="bzip2"``.

    Raises
    ------
    Level2EncodeError
        Dual-pol moments, super-resolution sweeps, or what :func:`encode_level2` rejects.
    """
    _validate(volume)
    name = f"Level II volume {volume.site!r} {volume.start_time}"
    for i, sw in enumerate(volume.sweeps):
        extra = set(sw.fields) - _MESSAGE1_MOMENTS
        if extra:
            raise Level2EncodeError(
                f"{name} sweep {i}: message 1 has no {sorted(extra)} (dual-pol came with Build 12)"
            )
        if np.size(sw.azimuth_deg) > 400:
            raise Level2EncodeError(
                f"{name} sweep {i}: {np.size(sw.azimuth_deg)} rays; message 1 has 1-degree "
                "radials (super resolution came with Build 10)"
            )
    start_ms = _epoch_ms(_as_utc(volume.start_time))
    date, ms = _julian(start_ms)
    header = _volume_header("ARCHIVE2.", extension, date, ms, volume.site)
    seq = _SequenceCounter()
    radials = [_message1_sweep(volume, i, start_ms, seq) for i in range(len(volume.sweeps))]
    blob = np.concatenate(radials).reshape(-1)
    # LDM records of 120 radials, like message 31 (only the bzip2 framing tells them apart)
    step = _RADIALS_PER_RECORD * _RECORD_BYTES
    chunks = [memoryview(blob[a : a + step]) for a in range(0, blob.size, step)]
    return _frame(header, chunks, records, compresslevel, 1, volume.site)


# --------------------------------------------------------------------------------------------
# helpers


def _volume_header(tape: str, extension: int, date: int, ms: int, site: str) -> bytes:
    """The 24-byte Archive II volume header: tape name, extension, date, time, ICAO."""
    return (
        tape.encode("ascii")
        + f"{extension % 1000:03d}".encode()
        + np.array([date, ms], ">u4").tobytes()
        + site.upper().encode("ascii")
    )


def _frame(
    header: bytes,
    records: list,
    framing: str,
    compresslevel: int,
    threads: int,
    site: str,
) -> bytes:
    """Header + records: bzip2 LDM records with control words, or the records back to back."""
    if framing == "uncompressed":
        return b"".join([header, *(bytes(r) for r in records)])
    if framing != "bzip2":
        raise Level2EncodeError(
            f"Level II volume {site!r}: records must be 'bzip2' or 'uncompressed', not {framing!r}"
        )

    def compress(buf: bytes | memoryview) -> bytes:
        return bz2.compress(buf, compresslevel)

    if threads > 1:
        with ThreadPoolExecutor(threads) as pool:
            compressed = list(pool.map(compress, records))
    else:
        compressed = [compress(r) for r in records]
    out = [header]
    for i, c in enumerate(compressed):
        n = len(c) if i < len(compressed) - 1 else -len(c)  # negative marks the last record
        out.append(np.array([n], ">i4").tobytes())
        out.append(c)
    return b"".join(out)


class _SequenceCounter:
    """Message sequence numbers (ICD: 0-32767, wrapping)."""

    def __init__(self) -> None:
        self.next = 1

    def take(self, n: int) -> np.ndarray:
        seq = (np.arange(self.next, self.next + n) % 32768).astype(np.int64)
        self.next = (self.next + n) % 32768
        return seq


def _as_utc(t: datetime) -> datetime:
    if t.tzinfo is None:
        raise Level2EncodeError(f"start_time {t!r} must be timezone-aware (UTC)")
    return t.astimezone(UTC)


def _epoch_ms(t: datetime) -> int:
    delta = t - _EPOCH
    return (delta.days * 86400 + delta.seconds) * 1000 + delta.microseconds // 1000


def _julian(epoch_ms: np.ndarray | int) -> tuple:
    """NEXRAD modified Julian date (1 = 1970-01-01) and ms past midnight."""
    return epoch_ms // _MS_PER_DAY + 1, epoch_ms % _MS_PER_DAY


def _validate(volume: RadarVolume) -> None:
    name = f"Level II volume {volume.site!r} {volume.start_time}"
    if len(volume.site) != 4 or not volume.site.isascii():
        raise Level2EncodeError(f"{name}: site must be a 4-character ICAO")
    if not volume.sweeps:
        raise Level2EncodeError(f"{name}: no sweeps")
    if len(volume.sweeps) > 255:
        raise Level2EncodeError(f"{name}: {len(volume.sweeps)} sweeps, at most 255")
    for i, sw in enumerate(volume.sweeps):
        where = f"{name} sweep {i}"
        n_rays = np.shape(sw.azimuth_deg)[0] if np.ndim(sw.azimuth_deg) == 1 else -1
        if n_rays < 1 or np.shape(sw.time_offset_s) != (n_rays,):
            raise Level2EncodeError(f"{where}: azimuth_deg and time_offset_s must be (n_rays,)")
        if not sw.fields:
            raise Level2EncodeError(f"{where}: no moments")
        shapes = set()
        for m, v in sw.fields.items():
            if m not in MOMENT_CODING:
                raise Level2EncodeError(f"{where}: unknown moment {m!r}; use {_MOMENT_ORDER}")
            if np.ndim(v) != 2 or np.shape(v)[0] != n_rays:
                raise Level2EncodeError(f"{where}: {m} shape {np.shape(v)}, want (n_rays, n_gates)")
            shapes.add(np.shape(v))
        if len(shapes) != 1:
            raise Level2EncodeError(f"{where}: moments have different shapes {sorted(shapes)}")
        if not (0 <= sw.first_gate_m < 32768 and 0 < sw.gate_spacing_m < 32768):
            raise Level2EncodeError(f"{where}: gate geometry out of the 16-bit metre range")
        if sw.elevation_ray_deg is not None and np.shape(sw.elevation_ray_deg) != (n_rays,):
            raise Level2EncodeError(f"{where}: elevation_ray_deg must be (n_rays,)")
        if np.any(np.asarray(sw.time_offset_s) < 0):
            raise Level2EncodeError(f"{where}: negative time_offset_s")


def _encode_moment(values: np.ndarray, moment: str) -> np.ndarray:
    """Physical values -> raw codes (0 below threshold, 1 range folded, 2.. valid)."""
    scale, offset, bits = MOMENT_CODING[moment]
    top = _MAX_CODE.get(moment, (1 << bits) - 1)
    v = np.asarray(values, dtype=np.float32)
    raw = np.rint(v * np.float32(scale) + np.float32(offset))
    valid = np.isfinite(raw)
    out = np.where(valid, np.clip(np.where(valid, raw, 0), 2, top), 0)
    out = np.where(np.isposinf(v), 1, out)
    return out.astype(">u2" if bits == 16 else np.uint8)


def _put(buf: np.ndarray, off: int, values, dtype: str) -> None:
    """Write big-endian values (scalar or one per row) at byte ``off`` of every row."""
    dt = np.dtype(dtype)
    arr = np.broadcast_to(np.asarray(values, dtype=dt), (buf.shape[0],))
    buf[:, off : off + dt.itemsize] = (
        np.ascontiguousarray(arr).view(np.uint8).reshape(-1, dt.itemsize)
    )


def _const_block(fields: list[tuple[str, object]]) -> bytes:
    """Pack a constant block from (dtype, value) pairs."""
    return b"".join(np.array([v], np.dtype(dt)).tobytes() for dt, v in fields)


def _waveform(sweep: Sweep) -> int:
    if sweep.waveform_type is not None:
        return int(sweep.waveform_type)
    has_dop = "VEL" in sweep.fields
    has_surv = "REF" in sweep.fields
    if has_surv and not has_dop:
        return WAVEFORM_CS
    if has_dop and not (has_surv and _DUAL_POL & set(sweep.fields)):
        return WAVEFORM_CD
    return WAVEFORM_BATCH


def _azimuth_resolution_code(azimuth_deg: np.ndarray) -> int:
    """1 = 0.5 degree radials (super resolution), 2 = 1 degree."""
    n = azimuth_deg.size
    return 1 if n > 540 else 2


def _sweep_messages(
    volume: RadarVolume, index: int, start_ms: int, seq: _SequenceCounter
) -> np.ndarray:
    """All message 31 radials of one sweep as a (n_rays, 12 + 16 + radial_length) uint8 array."""
    sw = volume.sweeps[index]
    n_sweeps = len(volume.sweeps)
    az = np.mod(np.asarray(sw.azimuth_deg, dtype=np.float64), 360.0)
    n_rays = az.size
    moments = [m for m in _MOMENT_ORDER if m in sw.fields]
    n_gates = np.shape(sw.fields[moments[0]])[1]

    # Layout of one radial (offsets from the start of the data header block).
    blocks_at = [68, 68 + 44, 68 + 44 + 12]
    pos = 68 + 44 + 12 + 28
    moment_at = []
    for m in moments:
        moment_at.append(pos)
        width = n_gates * (MOMENT_CODING[m][2] // 8)
        pos += 28 + width + (width & 1)  # keep every block on a halfword boundary
    radial_length = pos
    total = _CTM_BYTES + _HEADER_BYTES + radial_length
    if total // 2 > 65535:
        raise Level2EncodeError(
            f"Level II volume {volume.site} sweep {index}: radial of {total} bytes is too long"
        )
    buf = np.zeros((n_rays, total), np.uint8)

    t_ms = start_ms + np.rint(np.asarray(sw.time_offset_s, np.float64) * 1000.0).astype(np.int64)
    date, ms = _julian(t_ms)

    # 16-byte message header (ICD 2620002 Table II); size counts halfwords after the CTM.
    h = _CTM_BYTES
    _put(buf, h + 0, (total - _CTM_BYTES) // 2, ">u2")
    buf[:, h + 2] = _CHANNEL
    buf[:, h + 3] = 31
    _put(buf, h + 4, seq.take(n_rays), ">u2")
    _put(buf, h + 6, date, ">u2")
    _put(buf, h + 8, ms, ">u4")
    _put(buf, h + 12, 1, ">u2")
    _put(buf, h + 14, 1, ">u2")

    # Data header block (Table XVII-A).
    d = _CTM_BYTES + _HEADER_BYTES
    buf[:, d : d + 4] = np.frombuffer(volume.site.upper().encode("ascii"), np.uint8)
    _put(buf, d + 4, ms, ">u4")
    _put(buf, d + 8, date, ">u2")
    _put(buf, d + 10, np.arange(1, n_rays + 1), ">u2")
    _put(buf, d + 12, az, ">f4")
    buf[:, d + 16] = 0  # compression indicator: uncompressed
    _put(buf, d + 18, radial_length, ">u2")
    res_code = _azimuth_resolution_code(az)
    buf[:, d + 20] = res_code
    status = np.full(n_rays, _INTERMEDIATE, np.uint8)
    status[0] = _START_VOLUME if index == 0 else _START_ELEVATION
    if n_rays > 1:
        status[-1] = _END_VOLUME if index == n_sweeps - 1 else _END_ELEVATION
    buf[:, d + 21] = status
    buf[:, d + 22] = index + 1
    buf[:, d + 23] = 1  # cut sector
    elev = sw.elevation_deg if sw.elevation_ray_deg is None else sw.elevation_ray_deg
    _put(buf, d + 24, elev, ">f4")
    buf[:, d + 28] = 0  # spot blanking
    buf[:, d + 29] = 25 if res_code == 1 else 50  # azimuth indexing, 0.01 degree
    _put(buf, d + 30, 3 + len(moments), ">u2")
    for k, p in enumerate(blocks_at + moment_at):
        _put(buf, d + 32 + 4 * k, p, ">u4")

    # VOL, ELV and RAD constant blocks (Tables XVII-E, F, H).
    site_height = int(round(volume.height_m)) - _FEEDHORN_HEIGHT_M
    vol = _const_block(
        [
            ("S1", b"R"),
            ("S3", b"VOL"),
            (">u2", 44),
            ("u1", 2),
            ("u1", 0),
            (">f4", volume.latitude_deg),
            (">f4", volume.longitude_deg),
            (">i2", site_height),
            (">u2", _FEEDHORN_HEIGHT_M),
            (">f4", -44.4),  # reflectivity calibration constant, dB
            (">f4", 230.0),  # horizontal transmitter power, kW
            (">f4", 225.0),  # vertical transmitter power, kW
            (">f4", 0.0),  # system ZDR, dB
            (">f4", 60.0),  # initial system PHIDP, degrees
            (">u2", volume.vcp),
            (">u2", 0),  # processing status
        ]
    )
    elv = _const_block([("S1", b"R"), ("S3", b"ELV"), (">u2", 12), (">i2", -12), (">f4", -44.4)])
    rad = _const_block(
        [
            ("S1", b"R"),
            ("S3", b"RAD"),
            (">u2", 28),
            (">i2", int(round(sw.unambiguous_range_m / 100.0))),  # 0.1 km
            (">f4", -80.9),  # horizontal noise, dBm
            (">f4", -80.7),  # vertical noise, dBm
            (">i2", int(round(sw.nyquist_velocity_ms * 100.0))),  # 0.01 m/s
            (">u2", 0),  # radial flags
            (">f4", -44.4),  # horizontal calibration constant, dBZ
            (">f4", -44.4),  # vertical calibration constant, dBZ
        ]
    )
    for p, blk in zip(blocks_at, (vol, elv, rad), strict=True):
        buf[:, d + p : d + p + len(blk)] = np.frombuffer(blk, np.uint8)

    # Generic moment blocks (Table XVII-B).
    for m, p in zip(moments, moment_at, strict=True):
        scale, offset, bits = MOMENT_CODING[m]
        desc = _const_block(
            [
                ("S1", b"D"),
                ("S3", m.encode().ljust(3)),
                (">u4", 0),
                (">u2", n_gates),
                (">i2", int(round(sw.first_gate_m))),
                (">i2", int(round(sw.gate_spacing_m))),
                (">i2", 50),  # TOVER threshold, 0.1 dB
                (">i2", 16),  # SNR threshold, 0.125 dB
                ("u1", 0),  # control flags
                ("u1", bits),
                (">f4", scale),
                (">f4", offset),
            ]
        )
        a = d + p
        buf[:, a : a + 28] = np.frombuffer(desc, np.uint8)
        raw = _encode_moment(sw.fields[m], m)
        width = n_gates * raw.dtype.itemsize
        buf[:, a + 28 : a + 28 + width] = raw.view(np.uint8).reshape(n_rays, width)
    return buf


def _resample_gates(sweep: Sweep, moment: str, first_m: float, step_m: float, n: int) -> np.ndarray:
    """A moment on another gate layout: the nearest of the sweep's gates, NaN beyond its last."""
    values = np.asarray(sweep.fields[moment], dtype=np.float32)
    target = first_m + step_m * np.arange(n)
    idx = np.rint((target - sweep.first_gate_m) / sweep.gate_spacing_m).astype(np.int64)
    inside = (idx >= 0) & (idx < values.shape[1])
    out = values[:, np.clip(idx, 0, values.shape[1] - 1)]
    out[:, ~inside] = np.nan
    return out


def _message1_sweep(
    volume: RadarVolume, index: int, start_ms: int, seq: _SequenceCounter
) -> np.ndarray:
    """All message-1 radials of one sweep as a (n_rays, 2432) uint8 array (one record each)."""
    sw = volume.sweeps[index]
    n_sweeps = len(volume.sweeps)
    az = np.mod(np.asarray(sw.azimuth_deg, dtype=np.float64), 360.0)
    n_rays = az.size
    n_gates = np.shape(next(iter(sw.fields.values())))[1]
    last_m = sw.first_gate_m + sw.gate_spacing_m * (n_gates - 1)
    n_ref = int(np.clip((last_m - _MSG1_REF_FIRST_M) // _MSG1_REF_STEP_M + 1, 0, _MSG1_REF_MAX))
    n_dop = int(np.clip((last_m - _MSG1_DOP_FIRST_M) // _MSG1_DOP_STEP_M + 1, 0, _MSG1_DOP_MAX))
    has_ref = "REF" in sw.fields and n_ref > 0
    has_vel = "VEL" in sw.fields and n_dop > 0
    has_sw = "SW" in sw.fields and n_dop > 0
    n_dop_out = n_dop if (has_vel or has_sw) else 0
    buf = np.zeros((n_rays, _RECORD_BYTES), np.uint8)

    t_ms = start_ms + np.rint(np.asarray(sw.time_offset_s, np.float64) * 1000.0).astype(np.int64)
    date, ms = _julian(t_ms)

    # 16-byte message header; message 1 always fills its 2432-byte record.
    h = _CTM_BYTES
    _put(buf, h + 0, _MSG1_SIZE_HALFWORDS, ">u2")
    buf[:, h + 3] = 1
    _put(buf, h + 4, seq.take(n_rays), ">u2")
    _put(buf, h + 6, date, ">u2")
    _put(buf, h + 8, ms, ">u4")
    _put(buf, h + 12, 1, ">u2")
    _put(buf, h + 14, 1, ">u2")

    # Digital radar data header (Table III), offsets from its first byte.
    d = _CTM_BYTES + _HEADER_BYTES
    _put(buf, d + 0, ms, ">u4")
    _put(buf, d + 4, date, ">u2")
    _put(buf, d + 6, int(round(sw.unambiguous_range_m / 100.0)), ">i2")  # 0.1 km
    _put(buf, d + 8, np.rint(az * _MSG1_ANGLE_SCALE).astype(np.int64) % 65536, ">u2")
    _put(buf, d + 10, np.arange(1, n_rays + 1), ">u2")
    status = np.full(n_rays, _INTERMEDIATE, np.int64)
    status[0] = _START_VOLUME if index == 0 else _START_ELEVATION
    if n_rays > 1:
        status[-1] = _END_VOLUME if index == n_sweeps - 1 else _END_ELEVATION
    _put(buf, d + 12, status, ">u2")
    elev = sw.elevation_deg if sw.elevation_ray_deg is None else sw.elevation_ray_deg
    elev_code = np.rint(np.mod(np.asarray(elev, np.float64), 360.0) * _MSG1_ANGLE_SCALE)
    _put(buf, d + 14, elev_code.astype(np.int64) % 65536, ">u2")
    _put(buf, d + 16, index + 1, ">u2")
    _put(buf, d + 18, _MSG1_REF_FIRST_M, ">u2")
    _put(buf, d + 20, _MSG1_DOP_FIRST_M, ">u2")
    _put(buf, d + 22, _MSG1_REF_STEP_M, ">u2")
    _put(buf, d + 24, _MSG1_DOP_STEP_M, ">u2")
    _put(buf, d + 26, n_ref if has_ref else 0, ">u2")
    _put(buf, d + 28, n_dop_out, ">u2")
    _put(buf, d + 30, 1, ">u2")  # cut sector
    _put(buf, d + 32, -44.4, ">f4")  # calibration constant, dB
    pos = _MSG1_HEADER_BYTES
    pointers = {}
    for m, n in (("REF", n_ref), ("VEL", n_dop), ("SW", n_dop)):
        present = {"REF": has_ref, "VEL": has_vel, "SW": has_sw}[m]
        pointers[m] = pos if present else 0
        pos += n if present else 0
    _put(buf, d + 36, pointers["REF"], ">u2")
    _put(buf, d + 38, pointers["VEL"], ">u2")
    _put(buf, d + 40, pointers["SW"], ">u2")
    _put(buf, d + 42, 2, ">u2")  # Doppler velocity resolution: 2 = 0.5 m/s
    _put(buf, d + 44, volume.vcp, ">u2")
    _put(buf, d + 60, int(round(sw.nyquist_velocity_ms * 100.0)), ">i2")  # 0.01 m/s
    _put(buf, d + 62, -12, ">i2")  # atmospheric attenuation, 0.001 dB/km
    _put(buf, d + 64, 60, ">i2")  # TOVER threshold, 0.1 dB
    layout = (
        ("REF", _MSG1_REF_FIRST_M, _MSG1_REF_STEP_M, n_ref),
        ("VEL", _MSG1_DOP_FIRST_M, _MSG1_DOP_STEP_M, n_dop),
        ("SW", _MSG1_DOP_FIRST_M, _MSG1_DOP_STEP_M, n_dop),
    )
    for m, first, step, n in layout:
        if pointers[m]:
            raw = _encode_moment(_resample_gates(sw, m, first, step, n), m)
            a = d + pointers[m]
            buf[:, a : a + n] = raw
    return buf


def _segments(msg_type: int, payload: bytes, date: int, ms: int, seq: _SequenceCounter) -> list:
    """Split a message into 2432-byte records with CTM prefix and per-segment headers."""
    n_seg = max(1, math.ceil(len(payload) / _SEGMENT_PAYLOAD))
    out = []
    for k in range(n_seg):
        part = payload[k * _SEGMENT_PAYLOAD : (k + 1) * _SEGMENT_PAYLOAD]
        if len(part) & 1:
            part += b"\0"
        head = _const_block(
            [
                (">u2", (_HEADER_BYTES + len(part)) // 2),
                ("u1", _CHANNEL),
                ("u1", msg_type),
                (">u2", int(seq.take(1)[0])),
                (">u2", date),
                (">u4", ms),
                (">u2", n_seg),
                (">u2", k + 1),
            ]
        )
        rec = bytes(_CTM_BYTES) + head + part
        out.append(rec + bytes(_RECORD_BYTES - len(rec)))
    return out


def _clutter_filter_map(date: int, ms: int) -> bytes:
    """Message 15: per elevation segment and 360 radials, range zones (op code, end range km).

    Two elevation segments; each radial has one zone: clutter filter forced on (op code 2)
    out to 30 km, then bypass-map controlled (1) to 511 km, as a plausible default.
    """
    radial = np.array([2, 2, 30, 1, 511], ">u2").tobytes()  # n_zones, (op, end) x 2
    seg = radial * 360
    minutes = ms // 60000
    return np.array([date, minutes, 2], ">u2").tobytes() + seg * 2


def _bypass_map(date: int, ms: int) -> bytes:
    """Message 13: per elevation segment, 360 radials x 32 halfwords of range-bin bits."""
    minutes = ms // 60000
    out = [np.array([date, minutes, 2], ">u2").tobytes()]
    bits = np.zeros((360, 32), ">u2")
    bits[:, :2] = 0xFFFF  # clutter expected within the first 32 bins (~32 km)
    for s in (1, 2):
        out.append(np.array([s], ">u2").tobytes() + bits.tobytes())
    return b"".join(out)


def _adaptation_data(volume: RadarVolume) -> bytes:
    """Message 18 payload: site name, position and a few RDA adaptation constants."""
    name = volume.site.upper().encode("ascii")
    fields = [
        ("S12", b"adapt_v1.0"),
        ("S4", name),
        (">f4", volume.latitude_deg),
        (">f4", volume.longitude_deg),
        (">i4", int(round(volume.height_m))),
        (">f4", 2.8e9),  # nominal transmitter frequency, Hz
        (">f4", 0.925),  # beam width, degrees
    ]
    return _const_block(fields) + bytes(9468 - 36)


def _vcp_message(volume: RadarVolume) -> bytes:
    """Message 5 (Table XI): VCP header and one 46-byte elevation cut record per sweep."""
    n = len(volume.sweeps)
    dop_res = 2  # 0.5 m/s velocity resolution
    head = _const_block(
        [
            (">u2", 11 + 23 * n),  # message size, halfwords
            (">u2", 2),  # pattern type: constant elevation cut
            (">u2", volume.vcp),
            (">u2", n),
            ("u1", 0),  # VCP version
            ("u1", 1),  # clutter map group
            ("u1", dop_res),
            ("u1", 2),  # pulse width: short
            ("S10", b""),
        ]
    )
    cuts = []
    for sw in volume.sweeps:
        wf = _waveform(sw)
        az = np.asarray(sw.azimuth_deg)
        t = np.asarray(sw.time_offset_s, np.float64)
        span = float(t.max() - t.min()) if t.size > 1 else 0.0
        rate = 360.0 / span * (az.size - 1) / az.size if span > 0 else 18.0
        half_deg = _azimuth_resolution_code(az) == 1
        super_res = (1 if half_deg else 0) | (2 if sw.gate_spacing_m <= 250 else 0) | 4
        super_res |= 8 if _DUAL_POL & set(sw.fields) else 0
        # Elevation coded in 16-bit binary angle with 13 significant bits (0.0439 degree).
        elev_code = (int(round(sw.elevation_deg % 360.0 * 8192 / 360.0)) % 8192) << 3
        surveillance_prf = 1 if wf == WAVEFORM_CS else 0
        doppler = (0, 4, 75) if wf in (WAVEFORM_CD, WAVEFORM_BATCH) else (0, 0, 0)
        cuts.append(
            _const_block(
                [
                    (">u2", elev_code),
                    ("u1", 0),  # channel configuration: constant phase
                    ("u1", wf),
                    ("u1", super_res),
                    ("u1", surveillance_prf),
                    (">u2", 28 if surveillance_prf else 0),
                    (">u2", int(round(rate * 16384 / 22.5)) & 0xFFFF),
                    (">i2", 16),
                    (">i2", 16),
                    (">i2", 16),
                    (">i2", 16),
                    (">i2", 16),
                    (">i2", 16),
                    *[
                        item
                        for edge in (0.0, 120.0, 240.0)
                        for item in (
                            (">u2", int(edge * 65536 / 360.0) if wf == WAVEFORM_BATCH else 0),
                            (">u2", doppler[1]),
                            (">u2", doppler[2]),
                            (">u2", 0),
                        )
                    ],
                ]
            )
        )
    return head + b"".join(cuts)


def _rda_status(volume: RadarVolume) -> bytes:
    """Message 2 (Table IV), the leading halfwords: operate, online, local control, VCP."""
    return np.array(
        [2, 2, 2, 0, 0, 1000, 0, 0, 0, 0, 2, volume.vcp, 4, 1900, 4, 2, 0, 0], ">i2"
    ).tobytes() + bytes(96 - 36)


def _performance_data() -> bytes:
    """Message 3 payload: performance/maintenance data, zero (no faults)."""
    return bytes(_SEGMENT_PAYLOAD)


def _metadata_record(volume: RadarVolume, date: int, ms: int, seq: _SequenceCounter) -> bytes:
    """The 134 metadata records of the first LDM record, each message in its fixed slot."""
    payloads = {
        15: _clutter_filter_map(date, ms),
        13: _bypass_map(date, ms),
        18: _adaptation_data(volume),
        3: _performance_data(),
        5: _vcp_message(volume),
        2: _rda_status(volume),
    }
    out = []
    for msg_type, slots in _METADATA_SLOTS:
        recs = _segments(msg_type, payloads[msg_type], date, ms, seq)
        if len(recs) > slots:
            raise Level2EncodeError(f"message {msg_type} needs {len(recs)} > {slots} records")
        out.extend(recs)
        out.extend([bytes(_RECORD_BYTES)] * (slots - len(recs)))
    return b"".join(out)
