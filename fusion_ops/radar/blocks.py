"""A day of ground-radar volumes ingested in blocks, stored, joined back and summarised.

A day's volumes can be ingested in several steps (e.g. on several workers), each over a
contiguous block of them (:func:`block_urls`).  Each block's :class:`RadarDay` is stored as three
values (inventory, gauge profiles, grid codes) in a :class:`BlockStore` folder shared by the day's
blocks; the block's *record* (a JSON-compatible dict) says where they are and carries the gauge
stations and heights.  :func:`join_blocks` reads every block back and joins them
(:func:`~fusion_ops.radar.profiles.concat_radar_days`) into what one
:func:`~fusion_ops.radar.profiles.ingest_radar_day` over the whole day gives.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from upath import UPath

from fusion_ops.grid import GaugePoints, ProductGrid
from fusion_ops.radar.packing import FILL_CODE, max_over_volumes
from fusion_ops.radar.profiles import (
    RadarDay,
    concat_radar_days,
    ingest_radar_day,
    usable_volumes,
)
from fusion_ops.readers.errors import QuarantineRecord
from fusion_ops.readers.ground_radar import list_volumes

#: Stores a value at a path (suffix added by type); returns the stored path.
WriteValue = Callable[[Any, UPath], UPath]
#: Loads a stored value from its path without suffix; the flag is ``mask_and_scale``.
ReadValue = Callable[[UPath, bool], Any]

#: Compression level of a block's stored grid: it is read back once, by the join.
BLOCK_GRID_COMPLEVEL = 1


@dataclasses.dataclass(frozen=True)
class BlockStore:
    """Where a day's blocks are stored, and how.

    Attributes
    ----------
    folder : UPath
        Folder of the day's blocks (one per day and run); part ``p`` of block ``i`` is stored
        at ``block_<iii>_<p>`` plus the suffix ``write`` chose.
    write : callable
        ``write(value, path) -> stored path``: stores a DataFrame or Dataset at ``path`` plus a
        suffix chosen by its type.
    read : callable
        ``read(path, mask_and_scale) -> value``: loads it back from the path without suffix
        (a grid with ``mask_and_scale=False`` as its uint8 codes, lazily).
    scratch_dir : path, optional
        Local folder where grid codes are spilled while a block is ingested or joined; None
        keeps them in memory.
    """

    folder: UPath
    write: WriteValue
    read: ReadValue
    scratch_dir: str | os.PathLike | None = None


def day_volume_urls(
    archive_url: str, day: dt.date, sites: Iterable[str], storage_options: dict | None = None
) -> list[str]:
    """URLs of the day's volumes of every site, site by site, each site's in time order.

    Parameters
    ----------
    archive_url : str
        Root of the ground-radar archive: ``YYYY/MM/DD/SITE/`` files, or real-time chunks
        ``SITE/VOLUME_NUMBER/`` (one URL per chunk volume), told by the listing
        (:func:`~fusion_ops.readers.ground_radar.list_volumes`).
    day : date
        UTC day.
    sites : iterable of str
        ICAO site identifiers, in the order their volumes are listed.
    storage_options : dict, optional
        fsspec options, secrets already resolved.

    Returns
    -------
    list of str
    """
    return [u for site in sites for u in list_volumes(archive_url, day, site, storage_options)]


def block_urls(urls: Sequence[str], index: int, n_blocks: int) -> list[str]:
    """Block ``index`` of ``n_blocks`` contiguous blocks of ``urls`` (``numpy.array_split``).

    Parameters
    ----------
    urls : sequence of str
        The day's volumes in order.
    index : int
        Block, ``0 <= index < n_blocks``.
    n_blocks : int
        Number of blocks; the first ``len(urls) % n_blocks`` blocks hold one volume more, and
        blocks beyond the number of volumes are empty.

    Returns
    -------
    list of str
    """
    return [str(u) for u in np.array_split(np.asarray(urls, dtype=object), n_blocks)[index]]


@dataclasses.dataclass
class IngestedBlock:
    """What :func:`ingest_block` stored, and how many of its volumes were read.

    ``n_ok`` counts the volumes in the products: whole ones and ``n_partial`` real-time volumes
    read from their complete sweeps (inventory status ``ok`` or ``partial``).
    """

    record: dict
    n_volumes: int
    n_ok: int
    n_partial: int = 0


def ingest_block(
    urls: Sequence[str],
    index: int,
    n_blocks: int,
    grid: ProductGrid,
    stations: pd.DataFrame,
    gauge_radius_m: float,
    store: BlockStore,
    storage_options: dict | None = None,
) -> IngestedBlock:
    """Ingest block ``index`` of ``n_blocks`` of the day's volumes and store it.

    With a ``store.scratch_dir`` the block's grid codes are spilled to a scratch file there and
    streamed into its stored grid, so the step holds one chunk of volumes, not the whole block.

    Parameters
    ----------
    urls : sequence of str
        All the day's volumes, in order (:func:`day_volume_urls`).
    index, n_blocks : int
        Which block (:func:`block_urls`).
    grid : ProductGrid
        The product grid, with the profile heights.
    stations : DataFrame
        Gauge stations (``station_id, lat, lon``) whose profiles are extracted.
    gauge_radius_m : float
        Neighbourhood radius of the gauge profiles (m).
    store : BlockStore
        Where the block's parts go.
    storage_options : dict, optional
        fsspec options of the radar archive, secrets already resolved.

    Returns
    -------
    IngestedBlock
        ``record``: ``index``, ``heights_m``, ``stations`` (columns as lists), ``files`` (part
        -> stored file name) and ``quarantine`` (records as dicts).
    """
    mine = block_urls(urls, index, n_blocks)
    heights_m = tuple(float(h) for h in grid.heights_m)
    gauges = GaugePoints.from_stations(stations, gauge_radius_m, heights_m)
    rday = ingest_radar_day(
        mine, grid, gauges, storage_options=storage_options, scratch_dir=store.scratch_dir
    )
    for name in rday.grid.data_vars:
        rday.grid[name].encoding["complevel"] = BLOCK_GRID_COMPLEVEL
    files = {}
    for part, value in (
        ("inventory", rday.inventory),
        ("profiles", rday.profiles),
        ("grid", rday.grid),
    ):
        stored = store.write(value, store.folder / f"block_{index:03d}_{part}")
        files[part] = stored.name  # the join finds them in the same folder
    rday.close()
    record = {
        "index": index,
        "heights_m": list(heights_m),
        "stations": {k: stations[k].tolist() for k in ("station_id", "lat", "lon")},
        "files": files,
        "quarantine": [dataclasses.asdict(q) for q in rday.quarantine],
    }
    n_ok = int(usable_volumes(rday.inventory).sum())
    n_partial = int((rday.inventory["status"] == "partial").sum())
    return IngestedBlock(record, len(mine), n_ok, n_partial)


def load_block(record: dict, store: BlockStore) -> RadarDay:
    """A block's :class:`RadarDay` read back from its stored parts (grid as uint8 codes, lazily).

    Parameters
    ----------
    record : dict
        The block's :attr:`IngestedBlock.record`.
    store : BlockStore
        Where the day's blocks are.

    Returns
    -------
    RadarDay
    """
    files = {k: (store.folder / name).with_suffix("") for k, name in record["files"].items()}
    return RadarDay(
        inventory=store.read(files["inventory"], True),
        profiles=store.read(files["profiles"], True),
        # lazily indexed, not dask: the join reads whole blocks of volumes, and dask over the
        # file's small compression chunks costs 8x the read itself
        grid=store.read(files["grid"], False),
        quarantine=[QuarantineRecord(**q) for q in record["quarantine"]],
    )


@dataclasses.dataclass
class JoinedBlocks:
    """The day joined from its blocks, with the heights and stations the blocks used."""

    day: RadarDay
    heights_m: tuple[float, ...]
    stations: pd.DataFrame


def join_blocks(records: Sequence[dict], store: BlockStore) -> JoinedBlocks:
    """Join the stored blocks of a day, in block order, into the day's :class:`RadarDay`.

    Parameters
    ----------
    records : sequence of dict
        The blocks' records, in any order.
    store : BlockStore
        Where the day's blocks are; the joined codes are spilled to its ``scratch_dir``.

    Returns
    -------
    JoinedBlocks
        The joined day does not read the blocks' files: the folder can be removed.
    """
    records = sorted(records, key=lambda b: b["index"])
    parts = [load_block(b, store) for b in records]
    day = concat_radar_days(parts, scratch_dir=store.scratch_dir)
    for part in parts:
        part.grid.close()
    heights_m = tuple(records[0]["heights_m"])
    return JoinedBlocks(day, heights_m, pd.DataFrame(records[0]["stations"]))


def remove_block_folder(folder: UPath) -> None:
    """Remove a run's block folder, and the day's folder above it when that is left empty.

    Parameters
    ----------
    folder : UPath
        ``<day>/<run>`` folder of the blocks.
    """
    if folder.fs.exists(folder.path):
        folder.fs.rm(folder.path, recursive=True)
    day_folder = folder.parent
    if day_folder.fs.exists(day_folder.path) and not day_folder.fs.ls(day_folder.path):
        day_folder.fs.rmdir(day_folder.path)  # local folders; object stores have none to remove


def inventory_quarantine(inventory: pd.DataFrame) -> list[QuarantineRecord]:
    """Quarantine records of the volumes of an inventory that were not read.

    A ``partial`` volume (a real-time volume cut short) was read, from its complete sweeps: it
    is in the day's products, not in quarantine; its status and reason stay in the inventory.

    Parameters
    ----------
    inventory : DataFrame
        ``url, status, reason`` per volume.

    Returns
    -------
    list of QuarantineRecord
    """
    bad = inventory[~usable_volumes(inventory)]
    return [
        QuarantineRecord(file=str(url), reason=str(reason), reader="ground_radar")
        for url, reason in zip(bad["url"], bad["reason"], strict=True)
    ]


@dataclasses.dataclass
class RadarDaySummary:
    """Figures of an ingested day of ground-radar volumes.

    ``n_volumes_ok`` counts the volumes in the products (status ``ok`` or ``partial``), of which
    ``n_volumes_partial`` are real-time volumes read from their complete sweeps.
    """

    n_volumes_ok: int
    sites: list[str]
    max_reflectivity_dbz: float
    profile_rows: int
    gauges_seen: int
    #: ``(lat, lon)`` day's maximum at the lowest level (dBZ); NaN where none.
    lowest_level_max_dbz: np.ndarray
    lowest_level_coverage: float
    n_volumes_partial: int = 0


def summarize_radar_day(rday: RadarDay, grid: ProductGrid) -> RadarDaySummary:
    """Summarise an ingested day; its lowest-level maximum comes straight from the uint8 codes.

    Parameters
    ----------
    rday : RadarDay
        The day (``grid`` as uint8 codes).
    grid : ProductGrid
        Its product grid.

    Returns
    -------
    RadarDaySummary
        ``max_reflectivity_dbz`` NaN without a volume read.
    """
    inventory, prof, gridded = rday.inventory, rday.profiles, rday.grid
    ok = inventory[usable_volumes(inventory)]
    n_ok = len(ok)
    shape = (1, grid.lat.size, grid.lon.size)
    low = (
        gridded["reflectivity"].isel(height=0).values
        if n_ok
        else np.full(shape, FILL_CODE, np.uint8)
    )
    low_dbz = max_over_volumes(low, "reflectivity")
    return RadarDaySummary(
        n_volumes_ok=n_ok,
        sites=sorted(set(ok["site_id"])),
        max_reflectivity_dbz=float(ok["max_reflectivity_dbz"].max()) if n_ok else float("nan"),
        profile_rows=len(prof),
        gauges_seen=int(prof["station_id"].nunique()) if len(prof) else 0,
        lowest_level_max_dbz=low_dbz,
        lowest_level_coverage=float(np.isfinite(low_dbz).mean()),
        n_volumes_partial=int((ok["status"] == "partial").sum()),
    )
