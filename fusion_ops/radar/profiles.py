"""One ground-radar volume -> QC'd vertical profiles above gauges and on the product grid.

This is the per-volume ingest step (read + QC + KDP + profiles + gridding); a day is processed by
streaming volumes through :func:`ingest_volumes` so that only one volume is in memory at a time.
"""

from __future__ import annotations

import dataclasses
import os
import uuid
from collections.abc import Iterable, Iterator, Sequence

import numpy as np
import pandas as pd
import xarray as xr

from fusion_ops.datamodel import RadarVolume
from fusion_ops.grid import CartesianGrid, GaugePoints, ProductGrid
from fusion_ops.radar.gridding import PROFILE_COLUMNS, gauge_profiles, grid_volume
from fusion_ops.radar.qc import RadarQCConfig, derive_kdp, quality_control
from fusion_ops.readers.errors import QuarantineRecord, UnreadableFileError, describe_exception
from fusion_ops.readers.ground_radar import DEFAULT_FIELDS, read_volume_with_status

PROFILE_FIELDS: tuple[str, ...] = (
    "reflectivity",
    "differential_reflectivity",
    "specific_differential_phase",
)


@dataclasses.dataclass
class VolumeProducts:
    """What one volume contributes to the day."""

    source: str
    site_id: str
    time: pd.Timestamp
    grid: xr.Dataset | None
    profiles: pd.DataFrame
    qc: dict[str, int]
    max_reflectivity_dbz: float
    capability: str = ""  # "single" | "dual" polarisation (RadarVolume.capability)
    #: "ok" (whole volume) or "partial" (a real-time volume cut short, its complete sweeps only)
    status: str = "ok"
    reason: str = ""  # what a partial volume lacks


def max_needed_range_m(
    site_lat: float,
    site_lon: float,
    grid: ProductGrid | CartesianGrid | None,
    gauges: GaugePoints | None,
    margin_m: float = 5000.0,
) -> float:
    """Farthest slant range any target can use (gates beyond it are not decoded)."""
    import pyproj

    far = 0.0
    geod = pyproj.Geod(ellps="WGS84")
    if isinstance(grid, CartesianGrid):
        far = float(
            np.hypot(
                max(abs(grid.x_min_m), abs(grid.x_max_m)), max(abs(grid.y_min_m), abs(grid.y_max_m))
            )
        )
    elif isinstance(grid, ProductGrid):
        # the corner cell centres
        lat, lon = grid.lat, grid.lon
        lats = np.array([lat[0], lat[0], lat[-1], lat[-1]])
        lons = np.array([lon[0], lon[-1], lon[0], lon[-1]])
        _, _, d = geod.inv(np.full(4, site_lon), np.full(4, site_lat), lons, lats)
        far = float(np.max(d))
    if gauges is not None and gauges.station_id:
        n = len(gauges.station_id)
        _, _, d = geod.inv(np.full(n, site_lon), np.full(n, site_lat), gauges.lon, gauges.lat)
        far = max(far, float(np.max(d)) + gauges.radius_m)
    # ground distance is slightly shorter than slant range; the margin covers it
    return far + margin_m if far > 0 else 0.0


def process_volume(
    volume: RadarVolume,
    grid: ProductGrid | CartesianGrid | None,
    gauges: GaugePoints | None,
    qc_config: RadarQCConfig | None = None,
) -> VolumeProducts:
    """QC a read volume, derive KDP and extract gauge profiles and the gridded profiles."""
    capability = volume.capability  # as read, before QC touches the moments
    stats = quality_control(volume, qc_config)
    for sweep in volume.sweeps:
        derive_kdp(sweep)
    prof = gauge_profiles(volume, gauges) if gauges is not None else pd.DataFrame()
    gridded = grid_volume(volume, grid, PROFILE_FIELDS) if grid is not None else None
    return VolumeProducts(
        source=volume.source,
        site_id=volume.site_id,
        time=pd.Timestamp(volume.time),
        grid=gridded,
        profiles=prof,
        qc=stats,
        max_reflectivity_dbz=volume.max_reflectivity_dbz(),
        capability=capability,
    )


def ingest_volume(
    url: str,
    grid: ProductGrid | CartesianGrid | None,
    gauges: GaugePoints | None,
    site_lat_lon: tuple[float, float] | None = None,
    qc_config: RadarQCConfig | None = None,
    storage_options: dict | None = None,
) -> VolumeProducts:
    """Read + QC + profiles + gridding of one volume (a file or a real-time chunk volume).

    ``site_lat_lon`` (known from the site table) lets the reader drop gates beyond the farthest
    target before converting them; without it the whole range is decoded.  A real-time volume
    cut short gives products of its complete sweeps, with ``status == "partial"`` and the reason.
    """
    max_range = None
    if site_lat_lon is not None:
        max_range = max_needed_range_m(site_lat_lon[0], site_lat_lon[1], grid, gauges) or None
    read = read_volume_with_status(url, DEFAULT_FIELDS, max_range, storage_options)
    volume = read.volume
    if site_lat_lon is None:
        # The first volume of a site is read whole (its position was unknown); cutting it to the
        # same range as the later ones keeps every volume's products (e.g. the inventory's
        # maximum reflectivity) independent of where a day's block of volumes starts.
        needed = max_needed_range_m(volume.latitude_deg, volume.longitude_deg, grid, gauges)
        if needed:
            volume = truncate_range(volume, needed)
    products = process_volume(volume, grid, gauges, qc_config)
    return dataclasses.replace(products, status=read.status, reason=read.reason)


def truncate_range(volume: RadarVolume, max_range_m: float) -> RadarVolume:
    """The volume without the gates beyond ``max_range_m`` (plus one), as the readers cut them."""
    sweeps = []
    for sweep in volume.sweeps:
        ngate = int(np.searchsorted(sweep.range_m, max_range_m) + 1)
        if ngate >= sweep.range_m.size:
            sweeps.append(sweep)
            continue
        sweeps.append(
            dataclasses.replace(
                sweep,
                range_m=sweep.range_m[:ngate],
                fields={k: v[:, :ngate] for k, v in sweep.fields.items()},
            )
        )
    return dataclasses.replace(volume, sweeps=sweeps)


def ingest_volumes(
    urls: Iterable[str],
    grid: ProductGrid | CartesianGrid | None,
    gauges: GaugePoints | None,
    site_lat_lon: tuple[float, float] | None = None,
    qc_config: RadarQCConfig | None = None,
    storage_options: dict | None = None,
    quarantine: list[QuarantineRecord] | None = None,
) -> Iterator[VolumeProducts]:
    """Stream volumes: yields products one at a time; unreadable files go to ``quarantine``."""
    for url in urls:
        try:
            yield ingest_volume(url, grid, gauges, site_lat_lon, qc_config, storage_options)
        except UnreadableFileError as err:
            if quarantine is not None:
                quarantine.append(QuarantineRecord.from_error(err))
        except Exception as exc:  # noqa: BLE001 - one bad volume must not stop the day
            if quarantine is not None:
                quarantine.append(
                    QuarantineRecord(str(url), describe_exception(exc), "ground_radar")
                )


def empty_profiles_frame() -> pd.DataFrame:
    """The gauge-profile table with no rows (a day without radar data)."""
    return pd.DataFrame(columns=list(PROFILE_COLUMNS))


__all__ = [
    "PROFILE_COLUMNS",
    "VolumeProducts",
    "empty_profiles_frame",
    "INVENTORY_COLUMNS",
    "USABLE_STATUSES",
    "RadarDay",
    "concat_radar_days",
    "ingest_radar_day",
    "ingest_volume",
    "ingest_volumes",
    "max_needed_range_m",
    "process_volume",
    "truncate_range",
    "usable_volumes",
]


INVENTORY_COLUMNS: tuple[str, ...] = (
    "url",
    "site_id",
    "time",
    "status",  # "ok" | "partial" | "quarantined" (USABLE_STATUSES went into the products)
    "reason",  # why a volume is partial or quarantined; "" for an ok one
    "max_reflectivity_dbz",
    "valid_gates_before_qc",
    "valid_gates_after_qc",
    "capability",  # "single" | "dual" polarisation; "" for a quarantined volume
)

#: Inventory statuses of the volumes whose products are in the day (profiles, one grid volume
#: each): whole volumes ("ok") and real-time volumes cut short, read from their complete sweeps
#: ("partial").  A "quarantined" volume gave nothing.
USABLE_STATUSES: tuple[str, ...] = ("ok", "partial")


def usable_volumes(inventory: pd.DataFrame) -> pd.Series:
    """Which inventory rows are volumes in the day's products (status in :data:`USABLE_STATUSES`).

    Parameters
    ----------
    inventory : DataFrame
        With a ``status`` column (:data:`INVENTORY_COLUMNS`).

    Returns
    -------
    Series of bool
        Aligned with ``inventory``; the day's grid holds one volume per True row, in order.
    """
    return inventory["status"].isin(USABLE_STATUSES)


@dataclasses.dataclass
class RadarDay:
    """A day of ground-radar volumes, reduced (see :func:`ingest_radar_day`)."""

    inventory: pd.DataFrame
    profiles: pd.DataFrame
    grid: xr.Dataset
    quarantine: list[QuarantineRecord]
    _store: object = dataclasses.field(default=None, repr=False)

    def close(self) -> None:
        """Remove the scratch file behind a spilled ``grid`` now (no-op when it is in memory).

        ``grid`` can no longer be read afterwards; without this call the file goes when ``grid``
        (and every array derived from it) is garbage-collected.
        """
        if self._store is not None:
            self._store.close()


def ingest_radar_day(
    urls: Sequence[str],
    grid: ProductGrid,
    gauges: GaugePoints | None,
    qc_config: RadarQCConfig | None = None,
    storage_options: dict | None = None,
    scratch_dir: str | os.PathLike | None = None,
) -> RadarDay:
    """Stream a day of volumes into gauge profiles and uint8-packed grid profiles.

    Only one decoded volume is in memory at a time; the day's grid is uint8 codes
    (``(volume, height, lat, lon)`` per moment) carrying CF ``scale_factor``/``add_offset``/
    ``_FillValue`` attributes: writing it with xarray stores the codes (compressed), and opening
    the file decodes floats.  Open it lazily and select volumes (``isel``) rather than loading a
    whole day as float32 (4x the codes' memory).

    With ``scratch_dir`` the codes are spilled to a file there in blocks of
    :data:`~fusion_ops.radar.spill.VOLUME_BLOCK` volumes and ``grid`` holds lazy (dask) arrays
    reading them back, so memory stays at one block whatever the number of volumes (a 5-minute
    day in memory is about 1.1 GB of codes); writing ``grid`` with ``to_netcdf`` streams it.  The
    file is removed when the last array reading it is garbage-collected (or at
    :meth:`RadarDay.close`).  Without it the codes are NumPy arrays in memory.  The values, and
    the file ``to_netcdf`` writes, are the same either way.

    ``urls`` are files or real-time chunk volumes, as
    :func:`~fusion_ops.readers.ground_radar.list_volumes` lists them.  The inventory has one row
    per URL: status ``"ok"``, ``"partial"`` (a real-time volume cut short, in the products from
    its complete sweeps; ``reason`` says what it lacks) or ``"quarantined"`` (unreadable, not in
    the products; also in ``quarantine``).
    """
    from fusion_ops.radar.packing import FILL_CODE, PACKING, pack
    from fusion_ops.radar.spill import VolumeCodeStore
    from fusion_ops.readers.ground_radar import volume_site_from_name, volume_time_from_name

    heights = tuple(float(h) for h in grid.heights_m)
    ny, nx = grid.lat.size, grid.lon.size
    moments = [m for m in PROFILE_FIELDS if m in PACKING]
    scratch = None
    if scratch_dir is not None:
        os.makedirs(scratch_dir, exist_ok=True)
        scratch = os.path.join(scratch_dir, f"rainfuse-grid-codes-{uuid.uuid4().hex}.h5")
    store = VolumeCodeStore(moments, (len(heights), ny, nx), FILL_CODE, len(urls), scratch)
    quarantine: list[QuarantineRecord] = []
    rows: list[dict] = []
    profiles: list[pd.DataFrame] = []
    site_pos: dict[str, tuple[float, float]] = {}
    site_meta: dict[str, object] = {}  # first site's location, as the per-volume products carry
    n_ok = 0
    for url in urls:
        # a real-time volume URL ends in its start time, not in the site: read the key form
        site = volume_site_from_name(url) or str(url).rsplit("/", 1)[-1][:4]
        before = len(quarantine)
        prods = list(
            ingest_volumes(
                [url], grid, gauges, site_pos.get(site), qc_config, storage_options, quarantine
            )
        )
        if not prods:
            rows.append(
                {
                    "url": url,
                    "site_id": site,
                    "time": volume_time_from_name(url),
                    "status": "quarantined",
                    "reason": quarantine[before].reason if len(quarantine) > before else "",
                    "capability": "",
                }
            )
            continue
        p = prods[0]
        ds = p.grid
        site_pos.setdefault(site, (ds.attrs["site_latitude_deg"], ds.attrs["site_longitude_deg"]))
        if not site_meta:
            site_meta.update(
                site_id=p.site_id,
                site_latitude_deg=float(ds.attrs["site_latitude_deg"]),
                site_longitude_deg=float(ds.attrs["site_longitude_deg"]),
                site_altitude_m=float(ds.attrs["site_altitude_m"]),
            )
        store.append({m: pack(ds[m].values[0], *PACKING[m]) for m in moments if m in ds})
        profiles.append(p.profiles)
        rows.append(
            {
                "url": url,
                "site_id": p.site_id,
                "time": p.time.tz_localize("UTC") if p.time.tzinfo is None else p.time,
                "status": p.status,
                "reason": p.reason,
                "max_reflectivity_dbz": p.max_reflectivity_dbz,
                "valid_gates_before_qc": p.qc["valid_before"],
                "valid_gates_after_qc": p.qc["valid_after"],
                "capability": p.capability,
            }
        )
        n_ok += 1
        del p, prods, ds
    inventory = pd.DataFrame(rows, columns=list(INVENTORY_COLUMNS))
    inventory["time"] = pd.to_datetime(inventory["time"], utc=True).dt.as_unit("ns")
    ok = inventory[usable_volumes(inventory)]
    prof = _with_ns_times(
        pd.concat(profiles, ignore_index=True) if profiles else empty_profiles_frame()
    )
    gridded = _day_grid(store, ok, heights, grid.lat, grid.lon, site_meta)
    return RadarDay(
        inventory=inventory, profiles=prof, grid=gridded, quarantine=quarantine, _store=store
    )


def _with_ns_times(profiles: pd.DataFrame) -> pd.DataFrame:
    """Profiles with nanosecond times, whatever unit the volumes (or a Parquet file) gave."""
    if len(profiles):
        profiles["time"] = pd.to_datetime(profiles["time"]).dt.as_unit("ns")
    return profiles


def _day_grid(
    store: object,
    ok: pd.DataFrame,
    heights_m: Sequence[float],
    lat: object,
    lon: object,
    site_meta: dict,
) -> xr.Dataset:
    """The day's packed grid profiles from a filled code store (one volume per ``ok`` row).

    ``ok`` holds the inventory rows of the volumes in the store (:func:`usable_volumes`: whole and
    partial ones), in the store's order.
    """
    from fusion_ops.radar.packing import cf_code_attrs
    from fusion_ops.radar.spill import VOLUME_BLOCK, spatial_chunks

    codes = store.arrays()
    moments = list(store.moments)
    data_vars = {
        m: (("volume", "height", "lat", "lon"), codes[m], cf_code_attrs(m)) for m in moments
    }
    gridded = xr.Dataset(
        data_vars,
        coords={
            "time": ("volume", ok["time"].dt.tz_localize(None).to_numpy(dtype="datetime64[ns]")),
            "site_id": ("volume", ok["site_id"].to_numpy(dtype=str)),
            "height": ("height", np.asarray(heights_m, np.float32), {"units": "m"}),
            "lat": lat,
            "lon": lon,
        },
        attrs={
            "packing": "uint8 codes: value = code_offset + code_scale * code, code_fill = no data"
        },
    )
    gridded.attrs.update(site_meta)
    n_ok = store.n_volumes
    for m in moments:
        # level 2: a third of level 4's compression time for 16 % more bytes; the day's grid is
        # written on the critical path of every daily run
        gridded[m].encoding.update(zlib=True, complevel=2)
        if n_ok:
            # chunks of whole blocks of volumes: readers take VOLUME_BLOCK volumes at a time
            gridded[m].encoding["chunksizes"] = (
                min(n_ok, VOLUME_BLOCK),
                *spatial_chunks(len(heights_m), gridded.sizes["lat"], gridded.sizes["lon"]),
            )
    return gridded


SITE_ATTRS: tuple[str, ...] = (
    "site_id",
    "site_latitude_deg",
    "site_longitude_deg",
    "site_altitude_m",
)


def concat_radar_days(
    parts: Sequence[RadarDay], scratch_dir: str | os.PathLike | None = None
) -> RadarDay:
    """Join the RadarDays of consecutive blocks of a day's volumes into one.

    A day can be ingested in several steps (e.g. on several workers), each over a contiguous
    block of the day's volumes; joining their RadarDays in time order gives what one
    :func:`ingest_radar_day` over all the volumes gives: the same inventory, gauge profiles,
    quarantine records and grid codes, attributes and encoding.  ``parts`` may hold grids read
    back from files (opened with ``mask_and_scale=False``, so that they are codes).

    The joined codes are copied into a new store (spilled to ``scratch_dir`` as in
    :func:`ingest_radar_day`, one block of volumes in memory at a time), so the result does not
    read the parts' files: they can be removed once this returns.
    """
    from fusion_ops.radar.packing import FILL_CODE
    from fusion_ops.radar.spill import VOLUME_BLOCK, VolumeCodeStore

    if not parts:
        raise ValueError("concat_radar_days: no parts to join")
    first = parts[0].grid
    moments = [m for m in PROFILE_FIELDS if m in first.data_vars]
    shape = (first.sizes["height"], first.sizes["lat"], first.sizes["lon"])
    for part in parts[1:]:
        other = (part.grid.sizes["height"], part.grid.sizes["lat"], part.grid.sizes["lon"])
        if other != shape or [m for m in PROFILE_FIELDS if m in part.grid.data_vars] != moments:
            raise ValueError(
                f"concat_radar_days: parts on different grids ({other} vs {shape}) or moments"
            )
    n_total = sum(int(p.grid.sizes["volume"]) for p in parts)
    scratch = None
    if scratch_dir is not None:
        os.makedirs(scratch_dir, exist_ok=True)
        scratch = os.path.join(scratch_dir, f"rainfuse-grid-codes-{uuid.uuid4().hex}.h5")
    store = VolumeCodeStore(moments, shape, FILL_CODE, n_total, scratch)
    site_meta: dict = {}
    for part in parts:
        n = int(part.grid.sizes["volume"])
        if n and not site_meta:
            site_meta = {k: part.grid.attrs[k] for k in SITE_ATTRS if k in part.grid.attrs}
        for start in range(0, n, VOLUME_BLOCK):
            block = {
                m: np.asarray(part.grid[m].isel(volume=slice(start, start + VOLUME_BLOCK)).values)
                for m in moments
            }
            for i in range(block[moments[0]].shape[0]):
                store.append({m: block[m][i] for m in moments})
    # an empty block (more blocks than volumes) has untyped columns: left out, they cannot turn
    # the day's string columns into objects
    inventories = [p.inventory for p in parts if len(p.inventory)] or [parts[0].inventory]
    inventory = pd.concat(inventories, ignore_index=True)
    inventory["time"] = pd.to_datetime(inventory["time"], utc=True).dt.as_unit("ns")
    frames = [p.profiles for p in parts if len(p.profiles)]
    profiles = _with_ns_times(
        pd.concat(frames, ignore_index=True) if frames else empty_profiles_frame()
    )
    ok = inventory[usable_volumes(inventory)]
    if len(ok) != store.n_volumes:
        raise ValueError(
            f"concat_radar_days: {len(ok)} volumes read in the inventories but {store.n_volumes} "
            "in the grids"
        )
    gridded = _day_grid(store, ok, first["height"].values, first["lat"], first["lon"], site_meta)
    return RadarDay(
        inventory=inventory,
        profiles=profiles,
        grid=gridded,
        quarantine=[q for p in parts for q in p.quarantine],
        _store=store,
    )
