"""Ingest assets (group ``ingest``): one daily partition per UTC day, one asset per source.

Each asset is thin: it lists the day's files through its archive resource (a local folder or
``s3://``), calls :mod:`fusion_ops`, and returns a DataFrame or Dataset for the IO manager.
Unreadable files become quarantine records: the asset still materializes from the rest, lists the
skipped files in its metadata and fails a WARN-severity ``quarantine`` check.  A day without any
file of a source gives a valid empty output and a failed WARN ``has_data`` check.
"""

import base64
import dataclasses
import datetime as dt
import io
import tempfile
from collections.abc import Iterator

import numpy as np
import pandas as pd
import xarray as xr
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetOut,
    Config,
    MetadataValue,
    OpDefinition,
    OpExecutionContext,
    Out,
    Output,
    asset,
    asset_check,
    config_mapping,
    graph_multi_asset,
    op,
)
from pydantic import Field
from upath import UPath

from fusion_ops.gauges.ingest import GaugeDay, ingest_gauge_day
from fusion_ops.gauges.qc import QCFlag, daily_totals, hourly_accumulations
from fusion_ops.radar.gridding import GaugePoints, LatLonGrid, cache_stats
from fusion_ops.radar.packing import FILL_CODE, PACKING
from fusion_ops.radar.profiles import RadarDay, concat_radar_days, ingest_radar_day
from fusion_ops.readers.errors import QuarantineRecord, quarantine_markdown, read_all
from fusion_ops.readers.ground_radar import list_volumes
from fusion_ops.readers.satellite import hourly_features, list_abi_files
from fusion_ops.readers.spaceborne import empty_footprints, read_2a
from orchestration.runtime.config import load_config, resolve_env
from orchestration.runtime.io_managers import atomic_write, read_value, stored_path_of
from orchestration.runtime.partitions import daily_partitions
from orchestration.runtime.resources import (
    ArchiveResource,
    DomainResource,
    RadarArchiveResource,
    SatelliteArchiveResource,
)
from orchestration.runtime.tags import critical_path_op_tags

GROUP = "ingest"
WARN = AssetCheckSeverity.WARN


# --------------------------------------------------------------------------- helpers


def product_grid(domain: DomainResource, heights_m: tuple[float, ...] | None = None) -> LatLonGrid:
    """The configured domain as a :class:`LatLonGrid` (same cell centres as ``product_grid``)."""
    lat, lon = domain.latitudes_deg(), domain.longitudes_deg()
    kw = {} if heights_m is None else {"heights_m": heights_m}
    return LatLonGrid(
        float(lat[0]), float(lat[-1]), float(lon[0]), float(lon[-1]), domain.grid_spacing_deg, **kw
    )


def _bbox(domain: DomainResource) -> tuple[float, float, float, float]:
    return (domain.lat_min_deg, domain.lat_max_deg, domain.lon_min_deg, domain.lon_max_deg)


def _opts(archive: ArchiveResource) -> dict:
    return resolve_env(dict(archive.storage_options))


def _checks(asset_name: str) -> list[AssetCheckSpec]:
    return [
        AssetCheckSpec(
            "quarantine", asset=asset_name, description="every file of the day was readable"
        ),
        AssetCheckSpec("has_data", asset=asset_name, description="the day has data of this source"),
    ]


def _check_results(
    asset_name: str, quarantine: list[QuarantineRecord], n_items: int, what: str
) -> list[AssetCheckResult]:
    return [
        AssetCheckResult(
            check_name="quarantine",
            asset_key=asset_name,
            passed=not quarantine,
            severity=WARN,
            metadata={
                "quarantined_files": MetadataValue.int(len(quarantine)),
                "files": MetadataValue.md(quarantine_markdown(quarantine)),
            },
        ),
        AssetCheckResult(
            check_name="has_data",
            asset_key=asset_name,
            passed=n_items > 0,
            severity=WARN,
            metadata={what: MetadataValue.int(n_items)},
        ),
    ]


def _png_md(fig) -> MetadataValue:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=60, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    b64 = base64.b64encode(buf.getvalue()).decode()
    return MetadataValue.md(f"![preview](data:image/png;base64,{b64})")


def _figure():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(4.5, 4))


def _gauge_preview(totals: pd.DataFrame, domain: DomainResource) -> MetadataValue:
    fig, ax = _figure()
    if not totals.empty:
        sc = ax.scatter(totals["lon"], totals["lat"], c=totals["total_mm"], s=14, cmap="viridis")
        fig.colorbar(sc, ax=ax, label="daily total (mm)")
    ax.set_xlim(domain.lon_min_deg, domain.lon_max_deg)
    ax.set_ylim(domain.lat_min_deg, domain.lat_max_deg)
    ax.set_title(f"gauge totals ({len(totals)} stations)")
    return _png_md(fig)


def _reflectivity_preview(
    dbz: np.ndarray, grid: LatLonGrid, gauges: pd.DataFrame | None
) -> MetadataValue:
    fig, ax = _figure()
    extent = (grid.lon[0], grid.lon[-1], grid.lat[0], grid.lat[-1])
    im = ax.imshow(dbz, origin="lower", extent=extent, vmin=0, vmax=65, cmap="turbo")
    fig.colorbar(im, ax=ax, label="dBZ")
    if gauges is not None and not gauges.empty:
        ax.plot(gauges["lon"], gauges["lat"], "k.", ms=2)
    ax.set_title(f"max reflectivity at {grid.heights_m[0] / 1000:.1f} km")
    return _png_md(fig)


# --------------------------------------------------------------------------- gauges


def gauge_files(archive: ArchiveResource, day: dt.date, domain: DomainResource) -> list[str]:
    """URLs of the gauge files for ``day``.

    ISD keys ``YYYY/<USAF><WBAN>.csv`` (restricted, when ``isd-history.csv`` is at the root, to
    stations inside the domain) and any per-day files under ``YYYY/MM/DD/`` (ARM netCDF, GHCN or
    plain CSV; the format is inferred from the name).
    """
    rel = archive.glob(f"{day:%Y}/*.csv") + archive.glob(f"{day:%Y}/*.csv.gz")
    if rel and archive.exists("isd-history.csv"):
        try:
            with archive.open("isd-history.csv") as fh:
                hist = pd.read_csv(fh, dtype=str)
            lat = pd.to_numeric(hist["LAT"], errors="coerce")
            lon = pd.to_numeric(hist["LON"], errors="coerce")
            inside = lat.between(domain.lat_min_deg, domain.lat_max_deg) & lon.between(
                domain.lon_min_deg, domain.lon_max_deg
            )
            wanted = set(hist.loc[inside, "USAF"] + hist.loc[inside, "WBAN"])
            rel = [r for r in rel if r.rsplit("/", 1)[-1].split(".")[0] in wanted]
        except (KeyError, ValueError, OSError):
            pass  # an unreadable station list only costs speed: read every file
    rel += archive.glob(f"{day:%Y/%m/%d}/*")
    return [archive.url_of(r) for r in rel]


def gauge_day_in_domain(
    archive: ArchiveResource, day: dt.date, domain: DomainResource
) -> tuple[list[str], GaugeDay, pd.DataFrame, int]:
    """The day's gauge files, their ingest, the reports inside the domain and how many were not."""
    files = gauge_files(archive, day, domain)
    gd = ingest_gauge_day(files, day, storage_options=_opts(archive))
    native = gd.native
    la0, la1, lo0, lo1 = _bbox(domain)
    inside = native["lat"].between(la0, la1) & native["lon"].between(lo0, lo1)
    return files, gd, native[inside].reset_index(drop=True), int((~inside).sum())


def gauge_stations(native: pd.DataFrame) -> pd.DataFrame:
    """One row per station: ``station_id``, ``lat``, ``lon`` (its first report's position)."""
    return native.groupby("station_id", as_index=False)[["lat", "lon"]].first()


@asset(
    group_name=GROUP,
    partitions_def=daily_partitions,
    kinds={"pandas", "parquet"},
    check_specs=_checks("gauge_observations"),
    # heads the day's critical path (gauges -> ground radar -> calibration): first in the queue
    op_tags=critical_path_op_tags(),
    description="QC-flagged gauge accumulations of the day at native resolution (ISD, GHCN-Daily, "
    "ARM, plain CSV), stations inside the domain; flags never drop a report.",
)
def gauge_observations(
    context: AssetExecutionContext, gauge_archive: ArchiveResource, domain: DomainResource
) -> Iterator:
    day = dt.date.fromisoformat(context.partition_key)
    files, gd, native, outside = gauge_day_in_domain(gauge_archive, day, domain)
    totals = daily_totals(native).merge(
        native.groupby("station_id", as_index=False)[["lat", "lon"]].first(), on="station_id"
    )
    flags = {f.name.lower(): int(((native["qc_flags"] & int(f)) > 0).sum()) for f in QCFlag}
    yield Output(
        native,
        metadata={
            "files": MetadataValue.int(len(files)),
            "stations": MetadataValue.int(int(native["station_id"].nunique())),
            "reports": MetadataValue.int(len(native)),
            "reports_outside_domain": MetadataValue.int(outside),
            "flagged_reports": MetadataValue.int(int((native["qc_flags"] > 0).sum())),
            "flags": MetadataValue.json(flags),
            "networks": MetadataValue.json(sorted(native["network"].unique().tolist())),
            "domain_mean_total_mm": MetadataValue.float(
                float(totals["total_mm"].mean()) if len(totals) else float("nan")
            ),
            "quarantined": MetadataValue.md(quarantine_markdown(gd.quarantine)),
            "preview": _gauge_preview(totals, domain),
        },
    )
    yield from _check_results(
        "gauge_observations", gd.quarantine, int(native["station_id"].nunique()), "stations"
    )


@asset(
    group_name=GROUP,
    partitions_def=daily_partitions,
    kinds={"pandas", "parquet"},
    # MLP-1's samples wait for it as much as for the radar: keep it ahead of the side branches
    op_tags=critical_path_op_tags(),
    description="Hourly gauge accumulations (hours ending in the day) from the QC'd reports of "
    "one hour or shorter; flagged-bad reports excluded, coverage per hour.",
)
def gauge_hourly(context: AssetExecutionContext, gauge_observations: pd.DataFrame) -> pd.DataFrame:
    hourly = hourly_accumulations(gauge_observations)
    context.add_output_metadata(
        {
            "station_hours": MetadataValue.int(len(hourly)),
            "stations": MetadataValue.int(int(hourly["station_id"].nunique())),
            "complete_hours": MetadataValue.int(int((hourly["coverage"] >= 0.99).sum())),
        }
    )
    return hourly


# --------------------------------------------------------------------------- ground radar


class GroundRadarConfig(Config):
    """Ground-radar ingest settings."""

    gauge_radius_m: float = Field(1500.0, description="neighbourhood radius of gauge profiles")
    heights_m: list[float] = Field(
        default_factory=lambda: [float(h) for h in np.arange(500.0, 8001.0, 500.0)],
        description="profile heights above the radar site (m)",
    )


#: Steps a day's volumes are ingested in: contiguous blocks of the day's volumes, one step each,
#: so that several workers share the longest step of the day (see docs/ingest.md). The number
#: shapes the graph, so it is read from the configuration when the code location loads
#: (``compute.ground_radar_blocks``, default 2).
GROUND_RADAR_BLOCKS = load_config().compute.ground_radar_blocks

# Blocks of a day's ingest lie under the asset storage, per day and run (two runs of a day never
# share them), until the day's outputs are stored; then they are removed.
BLOCKS_KEY = "ground_radar_blocks"


def _block_folder(context: OpExecutionContext) -> UPath:
    where = f"{context.partition_key}/{context.run_id}"
    return stored_path_of(context.resources.io_manager, BLOCKS_KEY, where, "")


def ingest_block(
    context: OpExecutionContext, config: GroundRadarConfig, index: int, n_blocks: int
) -> dict:
    """Ingest block ``index`` of ``n_blocks`` of the day's volumes into block files.

    The block needs no upstream step (it reads the gauge archive for the gauges' positions
    itself), so every block is ready when the run starts: with two workers both blocks start at
    once instead of one waiting behind whatever step the idle worker took first.
    """
    radar_archive: RadarArchiveResource = context.resources.radar_archive
    domain: DomainResource = context.resources.domain
    day = dt.date.fromisoformat(context.partition_key)
    opts = _opts(radar_archive)
    urls = [
        u for site in radar_archive.sites for u in list_volumes(radar_archive.url, day, site, opts)
    ]
    mine = [str(u) for u in np.array_split(np.asarray(urls, dtype=object), n_blocks)[index]]
    # the same stations, from the same files and function, as gauge_observations
    _, _, native, _ = gauge_day_in_domain(context.resources.gauge_archive, day, domain)
    stations = gauge_stations(native)
    heights = tuple(float(h) for h in config.heights_m)
    grid = product_grid(domain, heights)
    gauges = GaugePoints(
        tuple(stations["station_id"].astype(str)),
        tuple(stations["lat"].astype(float)),
        tuple(stations["lon"].astype(float)),
        radius_m=config.gauge_radius_m,
        heights_m=heights,
    )
    # The block's grid codes are spilled to a scratch file and streamed into its block file, so
    # the step holds one chunk of volumes, not the whole block.
    rday = ingest_radar_day(
        mine, grid, gauges, storage_options=opts, scratch_dir=tempfile.gettempdir()
    )
    for name in rday.grid.data_vars:
        # read back once, by the join step: the fast compression level
        rday.grid[name].encoding["complevel"] = 1
    folder = _block_folder(context)
    files = {}
    for part, value in (
        ("inventory", rday.inventory),
        ("profiles", rday.profiles),
        ("grid", rday.grid),
    ):
        stored = atomic_write(value, folder / f"block_{index:03d}_{part}")
        files[part] = stored.name  # the join step finds them in the same folder
    rday.close()
    n_ok = int((rday.inventory["status"] == "ok").sum())
    context.log.info(
        f"{day} block {index + 1}/{n_blocks}: {n_ok} of {len(mine)} volumes ingested "
        f"({len(urls)} in the day), {len(rday.quarantine)} quarantined"
    )
    return {
        "index": index,
        "heights_m": list(heights),
        "stations": {k: stations[k].tolist() for k in ("station_id", "lat", "lon")},
        "files": files,
        "quarantine": [dataclasses.asdict(q) for q in rday.quarantine],
    }


def _block_op(index: int, n_blocks: int) -> OpDefinition:
    @op(
        name=f"ingest_ground_radar_block_{index}",
        required_resource_keys={"radar_archive", "gauge_archive", "domain", "io_manager"},
        tags=critical_path_op_tags(),
        description=f"Ingest block {index + 1} of {n_blocks} of the day's ground-radar volumes "
        "(read, QC, gauge and grid profiles) into block files.",
    )
    def _ingest(context: OpExecutionContext, config: GroundRadarConfig) -> dict:
        return ingest_block(context, config, index, n_blocks)

    return _ingest


BLOCK_OPS = [_block_op(i, GROUND_RADAR_BLOCKS) for i in range(GROUND_RADAR_BLOCKS)]


def _load_block(block: dict, folder: UPath) -> RadarDay:
    """A block's RadarDay read back from its files (the grid as uint8 codes, lazily)."""
    files = {k: (folder / name).with_suffix("") for k, name in block["files"].items()}
    return RadarDay(
        inventory=read_value(files["inventory"]),
        profiles=read_value(files["profiles"]),
        # lazily indexed, not dask: the join reads whole blocks of volumes, and dask over the
        # file's small compression chunks costs 8x the read itself
        grid=read_value(files["grid"], mask_and_scale=False),
        quarantine=[QuarantineRecord(**q) for q in block["quarantine"]],
    )


@op(
    out={
        "ground_radar_volumes": Out(pd.DataFrame),
        "ground_radar_gauge_profiles": Out(pd.DataFrame),
        "ground_radar_grid_profiles": Out(xr.Dataset),
    },
    required_resource_keys={"domain", "io_manager"},
    tags=critical_path_op_tags(),
)
def join_ground_radar_blocks(context: OpExecutionContext, blocks: list[dict]) -> Iterator:
    """Join the blocks into the day's outputs, store them, then remove the block files."""
    blocks = sorted(blocks, key=lambda b: b["index"])
    folder = _block_folder(context)
    parts = [_load_block(b, folder) for b in blocks]
    rday = concat_radar_days(parts, scratch_dir=tempfile.gettempdir())
    for part in parts:
        part.grid.close()
    grid = product_grid(context.resources.domain, tuple(blocks[0]["heights_m"]))
    stations = pd.DataFrame(blocks[0]["stations"])
    yield from _ground_radar_outputs(rday, grid, stations)
    # every output is stored once the last one has been yielded
    if folder.fs.exists(folder.path):
        folder.fs.rm(folder.path, recursive=True)
    day_folder = folder.parent
    if day_folder.fs.exists(day_folder.path) and not day_folder.fs.ls(day_folder.path):
        day_folder.fs.rmdir(day_folder.path)  # local folders; object stores have none to remove


@config_mapping
def _ground_radar_config(config: GroundRadarConfig) -> dict:
    """One GroundRadarConfig for the whole graph: every block ingests with the same settings."""
    settings = {"gauge_radius_m": config.gauge_radius_m, "heights_m": list(config.heights_m)}
    return {block.name: {"config": settings} for block in BLOCK_OPS}


@graph_multi_asset(
    group_name=GROUP,
    partitions_def=daily_partitions,
    outs={
        "ground_radar_volumes": AssetOut(
            kinds={"pandas"}, description="inventory of the day's volumes (time, site, QC counts)"
        ),
        "ground_radar_gauge_profiles": AssetOut(
            kinds={"pandas"},
            description="QC'd vertical profiles (Z, ZDR, KDP) above every gauge, every volume",
        ),
        "ground_radar_grid_profiles": AssetOut(
            kinds={"xarray", "netcdf"},
            description="QC'd profiles on the product grid, every volume, uint8 0.5 dB codes",
        ),
    },
    config=_ground_radar_config,
)
def ground_radar():
    """The day's ground-radar volumes, ingested in blocks (one step each, so several workers can
    share the longest step of the day's critical path) and joined into the day's outputs."""
    blocks = [ingest() for ingest in BLOCK_OPS]
    volumes, gauge_profiles, grid_profiles = join_ground_radar_blocks(blocks)
    return {
        "ground_radar_volumes": volumes,
        "ground_radar_gauge_profiles": gauge_profiles,
        "ground_radar_grid_profiles": grid_profiles,
    }


@asset_check(
    asset="ground_radar_volumes",
    name="quarantine",
    partitions_def=daily_partitions,
    description="every file of the day was readable",
)
def ground_radar_quarantine(ground_radar_volumes: pd.DataFrame) -> AssetCheckResult:
    records = _inventory_quarantine(ground_radar_volumes)
    return _check_results("ground_radar_volumes", records, 0, "volumes")[0]


@asset_check(
    asset="ground_radar_volumes",
    name="has_data",
    partitions_def=daily_partitions,
    description="the day has data of this source",
)
def ground_radar_has_data(ground_radar_volumes: pd.DataFrame) -> AssetCheckResult:
    n_ok = int((ground_radar_volumes["status"] == "ok").sum())
    return _check_results("ground_radar_volumes", [], n_ok, "volumes")[1]


def _inventory_quarantine(inventory: pd.DataFrame) -> list[QuarantineRecord]:
    bad = inventory[inventory["status"] != "ok"]
    return [
        QuarantineRecord(file=str(url), reason=str(reason), reader="ground_radar")
        for url, reason in zip(bad["url"], bad["reason"], strict=True)
    ]


def _ground_radar_outputs(rday: RadarDay, grid: LatLonGrid, stations: pd.DataFrame) -> Iterator:
    """The ground_radar outputs (and checks) of an ingested day."""
    inventory, prof, gridded, quarantine = rday.inventory, rday.profiles, rday.grid, rday.quarantine
    ok = inventory[inventory["status"] == "ok"]
    n_ok = len(ok)
    # preview: the day's maximum at the lowest level, straight from the uint8 codes
    shape = (1, grid.lat.size, grid.lon.size)
    low = (
        gridded["reflectivity"].isel(height=0).values
        if n_ok
        else np.full(shape, FILL_CODE, np.uint8)
    )
    low_max = np.where(low == FILL_CODE, 0, low).max(axis=0)
    low_dbz = np.where(low_max > 0, PACKING["reflectivity"][1] + 0.5 * low_max, np.nan)
    coverage = float(np.isfinite(low_dbz).mean())
    yield Output(
        inventory,
        output_name="ground_radar_volumes",
        metadata={
            "volumes": MetadataValue.int(n_ok),
            "quarantined": MetadataValue.md(quarantine_markdown(quarantine)),
            "sites": MetadataValue.json(sorted(set(ok["site_id"]))),
            "max_reflectivity_dbz": MetadataValue.float(
                float(ok["max_reflectivity_dbz"].max()) if n_ok else float("nan")
            ),
            "gate_map_cache": MetadataValue.json(cache_stats()),
        },
    )
    yield Output(
        prof,
        output_name="ground_radar_gauge_profiles",
        metadata={
            "rows": MetadataValue.int(len(prof)),
            "gauges_seen": MetadataValue.int(int(prof["station_id"].nunique()) if len(prof) else 0),
        },
    )
    yield Output(
        gridded,
        output_name="ground_radar_grid_profiles",
        metadata={
            "volumes": MetadataValue.int(n_ok),
            "lowest_level_coverage": MetadataValue.float(coverage),
            "preview": _reflectivity_preview(low_dbz, grid, stations),
        },
    )


# --------------------------------------------------------------------------- spaceborne


@asset(
    group_name=GROUP,
    partitions_def=daily_partitions,
    kinds={"xarray", "netcdf"},
    check_specs=_checks("spaceborne_profiles"),
    description="GPM/TRMM 2A footprints inside the domain: reflectivity profiles on the ground-"
    "radar height levels, precipitation type, bright band, clutter-free bottom, surface rain.",
)
def spaceborne_profiles(
    context: AssetExecutionContext, spaceborne_archive: ArchiveResource, domain: DomainResource
) -> Iterator:
    day = dt.date.fromisoformat(context.partition_key)
    files = [spaceborne_archive.url_of(r) for r in spaceborne_archive.glob(f"{day:%Y/%m/%d}/*")]
    opts = _opts(spaceborne_archive)
    results, quarantine = read_all(
        files, lambda u: read_2a(u, _bbox(domain), storage_options=opts), "gpm_2a"
    )
    parts = []
    for url, ds in results:
        if ds.sizes["footprint"]:
            ds = ds.assign_coords(
                granule=("footprint", np.full(ds.sizes["footprint"], url.rsplit("/", 1)[-1]))
            )
            ds.attrs = {}
            parts.append(ds)
    out = xr.concat(parts, dim="footprint") if parts else empty_footprints()
    if "granule" not in out.coords:
        out = out.assign_coords(granule=("footprint", np.zeros(out.sizes["footprint"], dtype=str)))
    n = int(out.sizes["footprint"])
    rate = out["precip_rate_near_surface_mm_h"].values
    yield Output(
        out,
        metadata={
            "granules": MetadataValue.int(len(results)),
            "footprints": MetadataValue.int(n),
            "raining_footprints": MetadataValue.int(int(np.nansum(rate > 0)) if n else 0),
            "max_rate_mm_h": MetadataValue.float(
                float(np.nanmax(rate)) if n and np.isfinite(rate).any() else 0.0
            ),
            "quarantined": MetadataValue.md(quarantine_markdown(quarantine)),
        },
    )
    yield from _check_results("spaceborne_profiles", quarantine, n, "footprints")


# --------------------------------------------------------------------------- satellite


class SatelliteConfig(Config):
    """Which ABI product to ingest ("auto": the first of RadC, RadM, RadF with files)."""

    product: str = Field("auto", description="ABI-L1b-RadC | ABI-L1b-RadM | ABI-L1b-RadF | auto")
    feature_spacing_deg: float = Field(
        0.0, ge=0.0, description="grid spacing of the features; 0 = the product grid's"
    )


def abi_day_files(archive: SatelliteArchiveResource, day: dt.date, product: str) -> list[str]:
    """ABI files of the day for the configured platform (``_G16_`` etc. in the name)."""
    products = ["ABI-L1b-RadC", "ABI-L1b-RadM", "ABI-L1b-RadF"] if product == "auto" else [product]
    for prod in products:
        files = list_abi_files(archive.url, day, prod, storage_options=_opts(archive))
        files = [f for f in files if f"_{archive.platform}_" in f.rsplit("/", 1)[-1]]
        if files:
            return files
    return []


@asset(
    group_name=GROUP,
    partitions_def=daily_partitions,
    kinds={"xarray", "netcdf"},
    check_specs=_checks("satellite_features"),
    # feeds MLP-3 on the day's chain; when the run starts it is the only long step a free worker
    # could take instead of a ground-radar block, which then waits for it (see docs/operations.md)
    op_tags=critical_path_op_tags(),
    description="Hourly GOES ABI features on the product grid (calibrated BT/reflectance through "
    "satpy, pyresample nearest neighbour): band means, coldest C13, BT differences.",
)
def satellite_features(
    context: AssetExecutionContext,
    config: SatelliteConfig,
    satellite_archive: SatelliteArchiveResource,
    domain: DomainResource,
) -> Iterator:
    day = dt.date.fromisoformat(context.partition_key)
    files = abi_day_files(satellite_archive, day, config.product)
    grid = product_grid(domain)
    if config.feature_spacing_deg > 0:
        grid = LatLonGrid(
            grid.lat_min, grid.lat_max, grid.lon_min, grid.lon_max, config.feature_spacing_deg
        )
    feats, quarantine = hourly_features(files, grid, storage_options=_opts(satellite_archive))
    n_hours = int(feats.sizes.get("time", 0))
    meta = {
        "files": MetadataValue.int(len(files)),
        "hours": MetadataValue.int(n_hours),
        "scenes": MetadataValue.int(int(feats["n_scenes"].sum()) if n_hours else 0),
        "bands": MetadataValue.json(
            sorted(v for v in feats.data_vars if v.startswith(("bt_", "refl_")))
        ),
        "quarantined": MetadataValue.md(quarantine_markdown(quarantine)),
    }
    if n_hours and "bt_c13" in feats:
        meta["c13_coverage"] = MetadataValue.float(float(np.isfinite(feats["bt_c13"]).mean()))
    yield Output(feats, metadata=meta)
    yield from _check_results("satellite_features", quarantine, n_hours, "hours")


class NativeSceneConfig(Config):
    """Which scan of the day is kept at native resolution for the imagery fusion products."""

    hour_utc: float = Field(18.0, ge=0.0, lt=24.0, description="keep the scan nearest this hour")
    product: str = Field("auto", description="ABI-L1b-RadC | ABI-L1b-RadM | ABI-L1b-RadF | auto")


@asset(
    group_name=GROUP,
    partitions_def=daily_partitions,
    kinds={"xarray", "netcdf"},
    check_specs=_checks("satellite_native_scene"),
    description="One ABI scan of the day with every band at its native resolution (0.5/1/2 km), "
    "calibrated; the multi-resolution input of the imagery fusion products.",
)
def satellite_native_scene(
    context: AssetExecutionContext,
    config: NativeSceneConfig,
    satellite_archive: SatelliteArchiveResource,
) -> Iterator:
    from fusion_ops.readers.satellite import native_scene_dataset, scan_start

    day = dt.date.fromisoformat(context.partition_key)
    files = abi_day_files(satellite_archive, day, config.product)
    by_scan: dict[pd.Timestamp, list[str]] = {}
    for f in files:
        t = scan_start(f)
        if t is not None:
            by_scan.setdefault(t, []).append(f)
    quarantine: list[QuarantineRecord] = []
    ds = xr.Dataset()
    if by_scan:
        target = pd.Timestamp(day, tz="UTC") + pd.Timedelta(hours=config.hour_utc)
        scan = min(by_scan, key=lambda t: abs(t - target))
        ds, quarantine = native_scene_dataset(
            by_scan[scan], storage_options=_opts(satellite_archive)
        )
    n_bands = len(ds.data_vars)
    yield Output(
        ds,
        metadata={
            "bands": MetadataValue.int(n_bands),
            "scan_start": MetadataValue.text(str(ds.attrs.get("scan_start", ""))),
            "shapes": MetadataValue.json({v: list(ds[v].shape) for v in ds.data_vars}),
            "quarantined": MetadataValue.md(quarantine_markdown(quarantine)),
        },
    )
    yield from _check_results("satellite_native_scene", quarantine, n_bands, "bands")
