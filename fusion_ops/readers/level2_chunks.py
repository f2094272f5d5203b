"""NEXRAD Level II real-time chunks (``s3://unidata-nexrad-level2-chunks``) assembled into volumes.

Layout: ``{root}/SITE/VOLUME_NUMBER/YYYYMMDD-HHMMSS-CHUNK-T``, e.g. ``KLBB/123/20160601-150025-001-S``.
The volume number (1-999) is reused round-robin, so a volume is told by its number *and* the
start time that all its chunks carry; the chunk number orders the chunks.  ``T`` is the kind:

* ``S`` (start): the 24-byte Archive II volume header, then the first LDM record (metadata);
* ``I`` (intermediate) and ``E`` (end): one LDM record each, a 4-byte big-endian length and
  a bzip2 block of radial messages, exactly as the records of an archive file.

So the chunks of a volume, concatenated in order (``S`` first), are the archive file byte for
byte (tests check it on the real KLBB volume cut into chunks), and it is read by
:func:`~fusion_ops.readers.ground_radar.read_volume_bytes`.  A chunk that is a bare bzip2 block
(``BZh`` without the length) gets its length prepended.

A volume whose ``E`` chunk is not (yet) there or with a gap in the chunk numbers is read as far
as it goes: the chunks from ``S`` up to the first gap, its complete sweeps only (up to the last
radial that ends an elevation); the result says so (:attr:`ChunkVolumeRead.partial`,
``status == "partial"``, ``missing_chunks``).  A volume without its ``S`` chunk cannot be read:
:class:`UnreadableFileError` naming its chunk keys.

The daily ground-radar ingest reaches this module through
:func:`~fusion_ops.readers.ground_radar.list_volumes` (a chunk root lists one URL per volume,
:attr:`ChunkVolume.url`) and :func:`~fusion_ops.readers.ground_radar.read_volume_with_status`
(which hands such a URL to :func:`read_chunk_volume_url`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import struct
from collections.abc import Sequence

import pandas as pd

from fusion_ops.datamodel import RadarVolume
from fusion_ops.readers.errors import QuarantineRecord, UnreadableFileError, describe_exception
from fusion_ops.readers.ground_radar import (
    DEFAULT_FIELDS,
    _fs_and_path,
    _protocol_prefix,
    chunk_volume_key,
    read_volume_bytes,
)

READER = "level2_chunks"

#: ``YYYYMMDD-HHMMSS-NNN-S|I|E``
_CHUNK_NAME = re.compile(r"^(?P<date>\d{8})-(?P<time>\d{6})-(?P<number>\d{3,})-(?P<kind>[SIE])$")


@dataclasses.dataclass(frozen=True)
class Chunk:
    """One chunk key: its URL, number and kind (``"S"``, ``"I"`` or ``"E"``)."""

    url: str
    number: int
    kind: str


@dataclasses.dataclass(frozen=True)
class ChunkVolume:
    """The chunks listed for one volume (site, volume number, start time), ordered by number."""

    site: str
    volume_number: int
    start: pd.Timestamp
    folder: str  # URL of ``{root}/SITE/VOLUME_NUMBER``
    chunks: tuple[Chunk, ...]

    @property
    def url(self) -> str:
        """Name of the volume (inventory, quarantine): ``{folder}/YYYYMMDD-HHMMSS``."""
        return f"{self.folder}/{self.start:%Y%m%d-%H%M%S}"

    @property
    def has_start(self) -> bool:
        return any(c.kind == "S" for c in self.chunks)

    @property
    def has_end(self) -> bool:
        return any(c.kind == "E" for c in self.chunks)

    @property
    def missing_chunks(self) -> tuple[int, ...]:
        """Chunk numbers absent between 1 and the last chunk listed."""
        present = {c.number for c in self.chunks}
        last = max(present, default=0)
        return tuple(n for n in range(1, last + 1) if n not in present)

    @property
    def partial(self) -> bool:
        """Without its end chunk or with a gap in the chunk numbers."""
        return not self.has_end or bool(self.missing_chunks)

    def readable_chunks(self) -> tuple[Chunk, ...]:
        """The start chunk and those that follow it without a gap (nothing without ``S``)."""
        starts = [c for c in self.chunks if c.kind == "S"]
        if not starts:
            return ()
        out = [starts[0]]
        for c in self.chunks:
            if c.number == out[-1].number + 1 and c.kind != "S":
                out.append(c)
        return tuple(out)


@dataclasses.dataclass(frozen=True)
class ChunkVolumeRead:
    """A volume read from its chunks, with what was missing.

    ``status`` is ``"ok"`` (start to end, no gap) or ``"partial"``; ``reason`` says what is missing
    (empty when complete).  ``n_chunks`` chunks were read; ``missing_chunks`` are the numbers absent
    between 1 and the last chunk listed.
    """

    url: str
    volume: RadarVolume
    n_chunks: int
    missing_chunks: tuple[int, ...]
    has_end: bool
    reason: str = ""

    @property
    def partial(self) -> bool:
        return bool(self.reason)

    @property
    def status(self) -> str:
        return "partial" if self.partial else "ok"


def list_chunk_volumes(
    root_url: str,
    day: dt.date | str,
    site: str,
    storage_options: dict | None = None,
) -> list[ChunkVolume]:
    """A site's real-time volumes that start on one UTC day, in time order.

    Parameters
    ----------
    root_url : str
        Local folder or ``s3://bucket[/prefix]`` (``s3://unidata-nexrad-level2-chunks``).
    day : date or ``YYYY-MM-DD``
    site : str
        Four-letter site id (``KLBB``).
    storage_options : dict, optional
        fsspec options (``anon`` defaults to True for s3).

    Returns
    -------
    list of ChunkVolume
        Empty when the site folder does not exist.  Keys of other names are skipped.
    """
    day = pd.Timestamp(day).date()
    fs, root = _fs_and_path(root_url, storage_options)
    base = f"{root.rstrip('/')}/{site}"
    try:
        keys = fs.find(base)  # one recursive listing (paged on S3), not one per volume folder
    except (FileNotFoundError, OSError):
        return []
    return _group_chunks(keys, _protocol_prefix(fs), site, f"{day:%Y%m%d}")


def _group_chunks(
    keys: Sequence[str], prefix: str, site: str, date: str, start: str | None = None
) -> list[ChunkVolume]:
    """The chunk keys ``.../SITE/NUMBER/YYYYMMDD-HHMMSS-NNN-T`` of one day grouped into volumes.

    ``prefix`` is the protocol put before each listed key; ``start`` (``HHMMSS``) keeps one start
    time only.  Other keys are skipped; a chunk number listed twice keeps its first key.
    """
    groups: dict[tuple[str, int, str], dict[int, Chunk]] = {}
    for key in keys:
        parts = key.rstrip("/").rsplit("/", 3)
        if len(parts) < 3 or parts[-3] != site or not parts[-2].isdigit():
            continue
        m = _CHUNK_NAME.match(parts[-1])
        if not m or m["date"] != date or (start is not None and m["time"] != start):
            continue
        folder = key.rstrip("/").rsplit("/", 1)[0]
        group = groups.setdefault((folder, int(parts[-2]), f"{m['date']}T{m['time']}"), {})
        group.setdefault(int(m["number"]), Chunk(prefix + key, int(m["number"]), m["kind"]))
    volumes = [
        ChunkVolume(
            site=site,
            volume_number=number,
            start=pd.Timestamp(when, tz="UTC"),
            folder=prefix + folder,
            chunks=tuple(chunks[n] for n in sorted(chunks)),
        )
        for (folder, number, when), chunks in groups.items()
    ]
    return sorted(volumes, key=lambda v: (v.start, v.volume_number))


def chunk_volume_at(url: str, storage_options: dict | None = None) -> ChunkVolume:
    """The volume that a real-time volume URL names, with the chunks listed under it now.

    Parameters
    ----------
    url : str
        ``{root}/SITE/VOLUME_NUMBER/YYYYMMDD-HHMMSS`` (:attr:`ChunkVolume.url`, as
        :func:`~fusion_ops.readers.ground_radar.list_volumes` lists it).
    storage_options : dict, optional
        fsspec options (``anon`` defaults to True for s3).

    Returns
    -------
    ChunkVolume
        Its ``url`` is ``url``.

    Raises
    ------
    UnreadableFileError
        ``url`` is not of that form, or no chunk of the volume is listed.
    """
    key = chunk_volume_key(url)
    if key is None:
        raise UnreadableFileError(
            url, "not a real-time volume URL (.../SITE/VOLUME_NUMBER/YYYYMMDD-HHMMSS)", READER
        )
    fs, folder = _fs_and_path(key.folder, storage_options)
    try:
        # listed afresh (not from a cache of the day's listing): a real-time volume grows
        keys = fs.ls(folder, detail=False, refresh=True)
    except FileNotFoundError:
        keys = []
    except OSError as exc:
        raise UnreadableFileError(url, describe_exception(exc), READER) from exc
    found = _group_chunks(
        keys, _protocol_prefix(fs), key.site, f"{key.start:%Y%m%d}", f"{key.start:%H%M%S}"
    )
    if not found:
        raise UnreadableFileError(url, "no chunk of the volume is listed", READER)
    # the folder as the URL spells it, so that the volume keeps the name it was listed under
    return dataclasses.replace(found[0], folder=key.folder)


def read_chunk_volume_url(
    url: str,
    fields: Sequence[str] = DEFAULT_FIELDS,
    max_range_m: float | None = None,
    storage_options: dict | None = None,
) -> ChunkVolumeRead:
    """List, assemble and read the real-time volume a URL names (:func:`chunk_volume_at`).

    Raises
    ------
    UnreadableFileError
        No chunk listed, no start chunk, or nothing decodable (e.g. not one complete sweep yet).
    """
    return read_chunk_volume(
        chunk_volume_at(url, storage_options), fields, max_range_m, storage_options
    )


def _as_record(data: bytes) -> bytes:
    """An intermediate / end chunk as an LDM record (4-byte length, then the bzip2 block)."""
    if data[:3] == b"BZh":
        return struct.pack(">i", len(data)) + data
    return data


def assemble_chunks(
    volume: ChunkVolume, storage_options: dict | None = None
) -> tuple[bytes, tuple[Chunk, ...]]:
    """The volume's bytes: its start chunk and those following it without a gap, concatenated.

    Returns
    -------
    data : bytes
        An Archive II volume (header, then LDM records), as the archive file would be.
    used : tuple of Chunk
        The chunks in ``data``.

    Raises
    ------
    UnreadableFileError
        No start chunk (the reason names the chunk keys), or a start chunk that cannot be read
        or holds no Archive II volume header.
    """
    used = volume.readable_chunks()
    if not used:
        keys = ", ".join(c.url.rsplit("/", 1)[-1] for c in volume.chunks)
        raise UnreadableFileError(
            volume.url,
            f"no start chunk (S): the volume header and metadata are missing; chunks {keys}",
            READER,
        )
    fs, _ = _fs_and_path(used[0].url, storage_options)
    paths = [_fs_and_path(c.url, storage_options)[1] for c in used]
    try:
        blobs = fs.cat(paths, on_error="return")
    except OSError as exc:
        raise UnreadableFileError(volume.url, describe_exception(exc), READER) from exc
    parts: list[bytes] = []
    kept: list[Chunk] = []
    for chunk, path in zip(used, paths, strict=True):
        data = blobs.get(path)
        if isinstance(data, BaseException) or not data:
            if chunk.kind == "S":
                why = describe_exception(data) if isinstance(data, BaseException) else "empty"
                raise UnreadableFileError(chunk.url, f"start chunk unreadable: {why}", READER)
            break  # read as far as it goes
        if chunk.kind == "S":
            if data[:4] != b"AR2V" and data[:8] != b"ARCHIVE2":
                raise UnreadableFileError(
                    chunk.url, f"start chunk without Archive II header ({data[:8]!r})", READER
                )
            parts.append(data)
        else:
            parts.append(_as_record(data))
        kept.append(chunk)
    return b"".join(parts), tuple(kept)


def read_chunk_volume(
    volume: ChunkVolume,
    fields: Sequence[str] = DEFAULT_FIELDS,
    max_range_m: float | None = None,
    storage_options: dict | None = None,
) -> ChunkVolumeRead:
    """Assemble and read one real-time volume; a partial one gives its complete sweeps.

    Raises
    ------
    UnreadableFileError
        No start chunk, or nothing decodable (e.g. not one complete sweep yet).
    """
    data, used = assemble_chunks(volume, storage_options)
    complete = not volume.partial and len(used) == len(volume.chunks)
    vol = read_volume_bytes(
        data, volume.url, fields, max_range_m, drop_incomplete_sweeps=not complete
    )
    reason = ""
    if not complete:
        what = []
        if not volume.has_end:
            what.append("no end chunk (E)")
        if volume.missing_chunks:
            what.append(f"missing chunks {list(volume.missing_chunks)}")
        if len(used) < len(volume.chunks) - len(volume.missing_chunks) and not what:
            what.append("unreadable chunk")
        reason = (
            f"partial: {'; '.join(what) or 'chunks cut short'}; read chunks "
            f"{used[0].number}-{used[-1].number} of {volume.chunks[-1].number}, "
            f"{len(vol.sweeps)} complete sweeps"
        )
    return ChunkVolumeRead(
        url=volume.url,
        volume=vol,
        n_chunks=len(used),
        missing_chunks=volume.missing_chunks,
        has_end=volume.has_end,
        reason=reason,
    )


def read_chunk_day(
    root_url: str,
    day: dt.date | str,
    site: str,
    fields: Sequence[str] = DEFAULT_FIELDS,
    max_range_m: float | None = None,
    storage_options: dict | None = None,
) -> tuple[list[ChunkVolumeRead], list[QuarantineRecord]]:
    """Every real-time volume of a site and day: reads (complete or partial) and quarantine."""
    reads: list[ChunkVolumeRead] = []
    quarantine: list[QuarantineRecord] = []
    for volume in list_chunk_volumes(root_url, day, site, storage_options):
        try:
            reads.append(read_chunk_volume(volume, fields, max_range_m, storage_options))
        except UnreadableFileError as err:
            quarantine.append(QuarantineRecord.from_error(err))
    return reads, quarantine
