"""Ingest assets (group ``ingest``): one daily partition per UTC day, one asset per source.

Each asset is thin: it resolves its archive resource (a local folder or ``s3://``) to a URL and
fsspec options, calls :mod:`fusion_ops`, and returns a DataFrame or Dataset for the IO manager.
Unreadable files become quarantine records: the asset still materializes from the rest, lists the
skipped files in its metadata and fails a WARN-severity ``quarantine`` check.  A day without any
file of a source gives a valid empty output and a failed WARN ``has_data`` check.

The ground radar's graph has one step per block of volumes: see :func:`build_ground_radar_assets`.
"""

import datetime as dt
import tempfile
from collections.abc import Iterator

import pandas as pd
import xarray as xr
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetOut,
    AssetsDefinition,
    Backoff,
    Config,
    Jitter,
    MetadataValue,
    OpDefinition,
    OpExecutionContext,
    Out,
    Output,
    RetryPolicy,
    asset,
    asset_check,
    config_mapping,
    graph_multi_asset,
    op,
)
from pydantic import Field

from fusion_ops import previews
from fusion_ops.gauges import archive as gauge_days
from fusion_ops.gauges.qc import hourly_accumulations
from fusion_ops.grid import DEFAULT_HEIGHTS_M
from fusion_ops.radar import blocks as radar_blocks
from fusion_ops.radar.gridding import cache_stats
from fusion_ops.radar.profiles import usable_volumes
from fusion_ops.readers import satellite, spaceborne
from fusion_ops.readers.errors import QuarantineRecord, quarantine_markdown
from orchestration.runtime.config import resolve_env
from orchestration.runtime.io_managers import atomic_write, read_value, stored_path_of
from orchestration.runtime.metadata import png_markdown
from orchestration.runtime.partitions import daily_partitions
from orchestration.runtime.resources import (
    ArchiveResource,
    DomainResource,
    SatelliteArchiveResource,
)
from orchestration.runtime.sources import satellite_archive_url, satellite_plan
from orchestration.runtime.tags import critical_path_op_tags

GROUP = "ingest"
WARN = AssetCheckSeverity.WARN
#: The steps that read an archive run again when they fail: archive reads fail transiently (an
#: S3 503 or dropped connection past the client's own retries, a listing that timed out). Twice at
#: most, after about 5 s then 10 s, +-50 % so that the steps of a backfill do not retry in step.
#: Unreadable files are not failures (they are quarantined), so a retry repeats a whole read only.
ARCHIVE_RETRY = RetryPolicy(
    max_retries=2, delay=5, backoff=Backoff.EXPONENTIAL, jitter=Jitter.PLUS_MINUS
)


# --------------------------------------------------------------------------- helpers


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


def _quarantined(quarantine: list[QuarantineRecord]) -> MetadataValue:
    return MetadataValue.md(quarantine_markdown(quarantine))


def _check_results(
    asset_name: str,
    quarantine: list[QuarantineRecord],
    n_items: int,
    what: str,
    not_planned: str = "",
) -> list[AssetCheckResult]:
    """The ``quarantine`` and ``has_data`` results (WARN) of an asset's day.

    ``not_planned``: why the era table plans no data of this source that day (then an empty day
    is what is expected: ``has_data`` passes and says why).
    """
    found = {"quarantined_files": len(quarantine), "files": _quarantined(quarantine)}
    has_data: dict = {what: n_items}
    if not_planned:
        has_data["not_planned"] = MetadataValue.text(not_planned)
    return [
        AssetCheckResult(
            check_name=name, asset_key=asset_name, passed=passed, severity=WARN, metadata=meta
        )
        for name, passed, meta in (
            ("quarantine", not quarantine, found),
            ("has_data", n_items > 0 or bool(not_planned), has_data),
        )
    ]


# --------------------------------------------------------------------------- gauges


@asset(
    group_name=GROUP,
    partitions_def=daily_partitions,
    kinds={"pandas", "parquet"},
    check_specs=_checks("gauge_observations"),
    retry_policy=ARCHIVE_RETRY,
    # heads the day's critical path (gauges -> ground radar -> calibration): first in the queue
    op_tags=critical_path_op_tags(),
    description="QC-flagged gauge accumulations of the day at native resolution (ISD, GHCN-Daily, "
    "ARM, plain CSV), stations inside the domain; flags never drop a report.",
)
def gauge_observations(
    context: AssetExecutionContext, gauge_archive: ArchiveResource, domain: DomainResource
) -> Iterator:
    day = dt.date.fromisoformat(context.partition_key)
    bbox = _bbox(domain)
    gday = gauge_days.gauge_day_in_domain(gauge_archive.url, day, bbox, _opts(gauge_archive))
    totals = gauge_days.station_daily_totals(gday.native)
    figures = gauge_days.gauge_day_figures(gday, totals)
    quarantine = gday.gauge_day.quarantine
    preview = png_markdown(previews.gauge_totals_png(totals, bbox), "preview")
    md = {"quarantined": _quarantined(quarantine), "preview": preview}
    yield Output(gday.native, metadata={**figures, **md})
    yield from _check_results("gauge_observations", quarantine, figures["stations"], "stations")


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
    context.add_output_metadata(gauge_days.hourly_figures(hourly))
    return hourly


# --------------------------------------------------------------------------- ground radar


class GroundRadarConfig(Config):
    """Ground-radar ingest settings."""

    gauge_radius_m: float = Field(1500.0, description="neighbourhood radius of gauge profiles")
    heights_m: list[float] = Field(
        default_factory=lambda: list(DEFAULT_HEIGHTS_M),
        description="profile heights above the radar site (m)",
    )


# Blocks of a day's ingest lie under the asset storage, per day and run (two runs of a day never
# share them), until the day's outputs are stored; then they are removed.
BLOCKS_KEY = "ground_radar_blocks"


def _block_store(context: OpExecutionContext) -> radar_blocks.BlockStore:
    where = f"{context.partition_key}/{context.run_id}"
    folder = stored_path_of(context.resources.io_manager, BLOCKS_KEY, where, "")
    return radar_blocks.BlockStore(folder, atomic_write, read_value, tempfile.gettempdir())


def _ingest_block_step(
    context: OpExecutionContext, config: GroundRadarConfig, index: int, n_blocks: int
) -> dict:
    """Ingest block ``index`` of ``n_blocks`` of the day's volumes into block files.

    The block needs no upstream step (it reads the gauge archive for the gauges' positions
    itself), so every block is ready when the run starts: with two workers both blocks start at
    once instead of one waiting behind whatever step the idle worker took first.
    """
    res = context.resources
    radar, gauges, domain = res.radar_archive, res.gauge_archive, res.domain
    day = dt.date.fromisoformat(context.partition_key)
    opts = _opts(radar)
    urls = radar_blocks.day_volume_urls(radar.url, day, radar.sites, opts)
    # the same stations, from the same files and function, as gauge_observations
    gday = gauge_days.gauge_day_in_domain(gauges.url, day, _bbox(domain), _opts(gauges))
    stations = gauge_days.gauge_stations(gday.native)
    grid = domain.grid(config.heights_m)
    store, radius_m = _block_store(context), config.gauge_radius_m
    block = radar_blocks.ingest_block(urls, index, n_blocks, grid, stations, radius_m, store, opts)
    context.log.info(
        f"{day} block {index + 1}/{n_blocks}: {block.n_ok} of {block.n_volumes} volumes "
        f"ingested ({block.n_partial} partial; {len(urls)} in the day), "
        f"{len(block.record['quarantine'])} quarantined"
    )
    return block.record


def _block_op(index: int, n_blocks: int) -> OpDefinition:
    @op(
        name=f"ingest_ground_radar_block_{index}",
        required_resource_keys={"radar_archive", "gauge_archive", "domain", "io_manager"},
        tags=critical_path_op_tags(),
        retry_policy=ARCHIVE_RETRY,
        description=f"Ingest block {index + 1} of {n_blocks} of the day's ground-radar volumes "
        "(read, QC, gauge and grid profiles) into block files.",
    )
    def _ingest(context: OpExecutionContext, config: GroundRadarConfig) -> dict:
        return _ingest_block_step(context, config, index, n_blocks)

    return _ingest


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
    store = _block_store(context)
    joined = radar_blocks.join_blocks(blocks, store)
    rday, grid = joined.day, context.resources.domain.grid(joined.heights_m)
    summary = radar_blocks.summarize_radar_day(rday, grid)
    preview = previews.max_reflectivity_png(summary.lowest_level_max_dbz, grid, joined.stations)
    volumes = {
        "volumes": summary.n_volumes_ok,
        "partial_volumes": summary.n_volumes_partial,
        "quarantined": _quarantined(rday.quarantine),
        "sites": summary.sites,
        "max_reflectivity_dbz": summary.max_reflectivity_dbz,
        "gate_map_cache": cache_stats(),
    }
    profiles = {"rows": summary.profile_rows, "gauges_seen": summary.gauges_seen}
    grid_profiles = {
        "volumes": summary.n_volumes_ok,
        "lowest_level_coverage": summary.lowest_level_coverage,
        "preview": png_markdown(preview, "preview"),
    }
    yield Output(rday.inventory, output_name="ground_radar_volumes", metadata=volumes)
    yield Output(rday.profiles, output_name="ground_radar_gauge_profiles", metadata=profiles)
    yield Output(rday.grid, output_name="ground_radar_grid_profiles", metadata=grid_profiles)
    # every output is stored once the last one has been yielded
    radar_blocks.remove_block_folder(store.folder)


def build_ground_radar_assets(n_blocks: int) -> AssetsDefinition:
    """The ``ground_radar`` graph asset: ``n_blocks`` block steps and their join.

    A day's volumes are ingested in ``n_blocks`` contiguous blocks, one step each, so that
    several workers share the longest step of the day (see docs/ingest.md); the code location
    passes ``compute.ground_radar_blocks``.  Its checks are module-level asset checks.
    """
    block_ops = [_block_op(i, n_blocks) for i in range(n_blocks)]

    @config_mapping
    def _ground_radar_config(config: GroundRadarConfig) -> dict:
        """One GroundRadarConfig for the whole graph: every block ingests with the same settings."""
        settings = {"gauge_radius_m": config.gauge_radius_m, "heights_m": list(config.heights_m)}
        return {block.name: {"config": settings} for block in block_ops}

    @graph_multi_asset(
        group_name=GROUP,
        partitions_def=daily_partitions,
        outs={
            "ground_radar_volumes": AssetOut(
                kinds={"pandas"},
                description="inventory of the day's volumes (time, site, QC counts)",
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
        blocks = [ingest() for ingest in block_ops]
        volumes, gauge_profiles, grid_profiles = join_ground_radar_blocks(blocks)
        return {
            "ground_radar_volumes": volumes,
            "ground_radar_gauge_profiles": gauge_profiles,
            "ground_radar_grid_profiles": grid_profiles,
        }

    return ground_radar


@asset_check(
    asset="ground_radar_volumes",
    name="quarantine",
    partitions_def=daily_partitions,
    description="every file of the day was readable",
)
def ground_radar_quarantine(ground_radar_volumes: pd.DataFrame) -> AssetCheckResult:
    records = radar_blocks.inventory_quarantine(ground_radar_volumes)
    return _check_results("ground_radar_volumes", records, 0, "volumes")[0]


@asset_check(
    asset="ground_radar_volumes",
    name="has_data",
    partitions_def=daily_partitions,
    description="the day has data of this source",
)
def ground_radar_has_data(ground_radar_volumes: pd.DataFrame) -> AssetCheckResult:
    n_usable = len(usable_volumes(ground_radar_volumes))  # complete and partial volumes
    return _check_results("ground_radar_volumes", [], n_usable, "volumes")[1]


# --------------------------------------------------------------------------- spaceborne


@asset(
    group_name=GROUP,
    partitions_def=daily_partitions,
    kinds={"xarray", "netcdf"},
    check_specs=_checks("spaceborne_profiles"),
    retry_policy=ARCHIVE_RETRY,
    description="GPM/TRMM 2A footprints inside the domain: reflectivity profiles on the ground-"
    "radar height levels, precipitation type, bright band, clutter-free bottom, surface rain.",
)
def spaceborne_profiles(
    context: AssetExecutionContext, spaceborne_archive: ArchiveResource, domain: DomainResource
) -> Iterator:
    day = dt.date.fromisoformat(context.partition_key)
    files = [spaceborne_archive.url_of(r) for r in spaceborne_archive.glob(f"{day:%Y/%m/%d}/*")]
    opts = _opts(spaceborne_archive)
    out, n_granules, quarantine = spaceborne.read_2a_day(files, _bbox(domain), opts)
    counts = {"granules": n_granules, **spaceborne.footprint_figures(out)}
    yield Output(out, metadata={**counts, "quarantined": _quarantined(quarantine)})
    yield from _check_results("spaceborne_profiles", quarantine, counts["footprints"], "footprints")


# --------------------------------------------------------------------------- satellite


class SatelliteConfig(Config):
    """Which ABI product to ingest ("auto": the first of RadC, RadM, RadF with files)."""

    product: str = Field("auto", description="ABI-L1b-RadC | ABI-L1b-RadM | ABI-L1b-RadF | auto")
    feature_spacing_deg: float = Field(
        0.0, ge=0.0, description="grid spacing of the features; 0 = the product grid's"
    )


def _abi_files(
    archive: SatelliteArchiveResource, day: dt.date, product: str
) -> tuple[list[str], str]:
    """The day's ABI files of the planned platform, and why none are planned (else ``""``)."""
    plan = satellite_plan(archive.platform, day)
    if not plan["available"]:
        return [], plan["reason"]
    url = satellite_archive_url(archive.url, plan["bucket"])
    files = satellite.abi_day_files(url, day, product, plan["platform"], _opts(archive))
    return files, ""


def _plan_metadata(not_planned: str) -> dict:
    return {"not_planned": MetadataValue.text(not_planned)} if not_planned else {}


@asset(
    group_name=GROUP,
    partitions_def=daily_partitions,
    kinds={"xarray", "netcdf"},
    check_specs=_checks("satellite_features"),
    retry_policy=ARCHIVE_RETRY,
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
    files, not_planned = _abi_files(satellite_archive, day, config.product)
    if not_planned:
        context.log.info(f"satellite_features {day}: no ABI planned ({not_planned})")
    grid = satellite.feature_grid(domain.grid(), config.feature_spacing_deg)
    opts = _opts(satellite_archive)
    feats, quarantine = satellite.hourly_features(files, grid, storage_options=opts)
    figures = satellite.feature_figures(feats)
    metadata = {"files": len(files), **figures, "quarantined": _quarantined(quarantine)}
    if (coverage := satellite.c13_coverage(feats)) is not None:
        metadata["c13_coverage"] = coverage
    yield Output(feats, metadata={**metadata, **_plan_metadata(not_planned)})
    yield from _check_results(
        "satellite_features", quarantine, figures["hours"], "hours", not_planned
    )


class NativeSceneConfig(Config):
    """Which scan of the day is kept at native resolution for the imagery fusion products."""

    hour_utc: float = Field(18.0, ge=0.0, lt=24.0, description="keep the scan nearest this hour")
    product: str = Field("auto", description="ABI-L1b-RadC | ABI-L1b-RadM | ABI-L1b-RadF | auto")


@asset(
    group_name=GROUP,
    partitions_def=daily_partitions,
    kinds={"xarray", "netcdf"},
    check_specs=_checks("satellite_native_scene"),
    retry_policy=ARCHIVE_RETRY,
    description="One ABI scan of the day with every band at its native resolution (0.5/1/2 km), "
    "calibrated; the multi-resolution input of the imagery fusion products.",
)
def satellite_native_scene(
    context: AssetExecutionContext,
    config: NativeSceneConfig,
    satellite_archive: SatelliteArchiveResource,
) -> Iterator:
    day = dt.date.fromisoformat(context.partition_key)
    files, not_planned = _abi_files(satellite_archive, day, config.product)
    opts = _opts(satellite_archive)
    ds, quarantine = satellite.native_scene_near(files, day, config.hour_utc, opts)
    figures = satellite.scene_figures(ds)
    metadata = {**figures, "quarantined": _quarantined(quarantine), **_plan_metadata(not_planned)}
    yield Output(ds, metadata=metadata)
    yield from _check_results(
        "satellite_native_scene", quarantine, figures["bands"], "bands", not_planned
    )
