"""Calibration monitoring (group ``calibration``): thin assets over
:mod:`fusion_ops.calibration.monitoring`, one daily partition each.

``gr_reflectivity_offset``  GR - SR reflectivity offset (dB) from SR-GR volume matching of the
                            day's coincident GPM/TRMM overpasses, carried forward between them
``gr_zdr_offset``           GR ZDR offset (dB) from light rain in the day's gauge profiles
                            (dual-pol days), carried forward between estimates

Both are JSON records (offset, n, 95 % interval, where the offset comes from, whether it is
significant and what is applied); their numbers are float metadata, so the UI charts them across
partitions. Each reads the record of the day before through the IO manager (a self-dependency
orders backfills) to carry the offset forward. :func:`day_corrections` gives the calibration
assets the offsets to remove before MLP-1.
"""

import datetime as dt
import warnings
from typing import Any

import pandas as pd
import xarray as xr
from dagster import (
    AssetDep,
    AssetExecutionContext,
    AssetIn,
    AssetKey,
    Config,
    MetadataValue,
    TimeWindowPartitionMapping,
    asset,
)
from pydantic import Field

from fusion_ops.calibration import monitoring as M
from fusion_ops.radar.blocks import day_volume_urls
from fusion_ops.readers.errors import QuarantineRecord, quarantine_markdown
from fusion_ops.tables import fixed, markdown_table
from orchestration.runtime.config import resolve_env
from orchestration.runtime.metadata import summary_metadata
from orchestration.runtime.partitions import daily_partitions
from orchestration.runtime.sources import partition_sources

GROUP = "calibration"
Z_OFFSET = "gr_reflectivity_offset"
ZDR_OFFSET = "gr_zdr_offset"
#: How far back a day looks for the last stored record when the day before is missing.
CARRY_LOOKBACK_DAYS = 31
#: The network calibration target (dB; Protat et al. 2022): the metadata flags a larger one.
Z_TARGET_DB = 1.0


def _day_before() -> TimeWindowPartitionMapping:
    """The partition mapping of a self-dependency on the day before (none before the first)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the flag is "beta" in Dagster 1.13
        mapping = TimeWindowPartitionMapping(
            start_offset=-1, end_offset=-1, allow_nonexistent_upstream_partitions=True
        )
    return mapping


def _previous_record(context: AssetExecutionContext, key: str) -> dict | None:
    """The latest stored record of ``key`` before the partition (at most
    :data:`CARRY_LOOKBACK_DAYS` back), or ``None``."""
    io_manager = context.resources.io_manager
    if not hasattr(io_manager, "load_partition"):
        context.log.warning(f"{key}: the IO manager cannot load a partition; nothing carried")
        return None
    day = dt.date.fromisoformat(context.partition_key)
    first = daily_partitions.start.date()
    # look for the file first (cheap) where the IO manager can say where it is
    can_look = hasattr(io_manager, "stored_path")
    for back in range(1, CARRY_LOOKBACK_DAYS + 1 if can_look else 2):
        earlier = (day - dt.timedelta(days=back)).isoformat()
        if earlier < first.isoformat():
            break
        if can_look and not io_manager.stored_path(key, earlier, ".json").exists():
            continue
        try:
            return io_manager.load_partition(key, earlier)
        except FileNotFoundError:
            continue
        except Exception as error:  # noqa: BLE001 - a damaged record: look further back
            context.log.warning(f"{key} {earlier}: unreadable ({error}); looking further back")
    return None


def stored_record(context: AssetExecutionContext, key: str) -> dict | None:
    """The record of ``key`` for the partition being run, ``None`` when none is stored."""
    io_manager = context.resources.io_manager
    if not hasattr(io_manager, "load_partition"):
        return None
    try:
        return io_manager.load_partition(key, context.partition_key)
    except FileNotFoundError:
        return None


def day_corrections(context: AssetExecutionContext) -> dict[str, Any]:
    """The GR calibration offsets to remove before MLP-1 on the partition's day
    (:func:`fusion_ops.calibration.monitoring.corrections_to_apply` of the stored records;
    nothing applied where a record is missing)."""
    corrections = M.corrections_to_apply(
        stored_record(context, Z_OFFSET), stored_record(context, ZDR_OFFSET)
    )
    for name in ("reflectivity", "zdr"):
        info = corrections[name]
        if info["applied"]:
            context.log.info(
                f"{name} correction {corrections[name + '_db']:+.2f} dB removed "
                f"(estimated {info['source_date']}, n = {info['n']})"
            )
    return corrections


def _record_metadata(record: dict[str, Any]) -> dict[str, MetadataValue]:
    """Charted numbers (float) and the decision of an offset record."""
    lo, hi = record["ci95_db"]
    numbers = {
        "offset_db": record["offset_db"],
        "n": float(record["n"]),
        "ci95_lo_db": lo,
        "ci95_hi_db": hi,
        "applied_db": float(record["apply_db"]),
    }
    meta = {k: MetadataValue.float(float(v)) for k, v in numbers.items() if v is not None}
    return {
        **meta,
        **summary_metadata(
            {
                "significant": bool(record["significant"]),
                "source": record["source"],
                "source_date": record["source_date"],
                "age_days": record["age_days"],
                "reason": record["reason"],
            }
        ),
    }


def _overpass_table(overpasses: list[dict[str, Any]]) -> str:
    if not overpasses:
        return "No spaceborne granule that day."
    rows = [
        [
            o.get("sr_time") or "-",
            o.get("site", "-"),
            o.get("gr_time") or "-",
            o.get("n", 0),
            o.get("median_db"),
            "{} .. {}".format(*[fixed(2)(x) for x in o.get("ci95_db", [None, None])]),
            o["status"],
        ]
        for o in overpasses
    ]
    header = ["SR time", "site", "GR volume", "n", "median GR-SR (dB)", "95 %", "status"]
    return markdown_table(header, rows, fixed(2))


class ReflectivityOffsetConfig(Config):
    """SR-GR matching window of the monitoring (the matcher's defaults)."""

    max_time_diff_s: float = Field(
        600.0, gt=0, description="GR sweeps further from the SR: skipped"
    )
    max_range_km: float = Field(150.0, gt=0, description="GR range of the matched SR profiles")


@asset(
    name=Z_OFFSET,
    group_name=GROUP,
    partitions_def=daily_partitions,
    kinds={"json"},
    deps=[AssetDep(Z_OFFSET, partition_mapping=_day_before())],
    required_resource_keys={"radar_archive", "spaceborne_archive", "domain", "io_manager"},
    description="GR reflectivity offset (GR - SR, dB, S band) from SR-GR volume matching of the "
    "day's coincident GPM/TRMM overpasses: per overpass n, median, 95 %; the day's pooled median "
    "with n and 95 %, carried forward on days without one; applied before MLP-1 when significant.",
)
def gr_reflectivity_offset(
    context: AssetExecutionContext, config: ReflectivityOffsetConfig
) -> dict:
    res, day = context.resources, context.partition_key
    radar, spaceborne, domain = res.radar_archive, res.spaceborne_archive, res.domain
    radar_opts = resolve_env(dict(radar.storage_options))
    date = dt.date.fromisoformat(day)
    gr_urls = {s: day_volume_urls(radar.url, date, [s], radar_opts) for s in radar.sites}
    sr_urls = [spaceborne.url_of(r) for r in spaceborne.glob(f"{day.replace('-', '/')}/*")]
    record = M.reflectivity_offset_day(
        day,
        sr_urls,
        gr_urls,
        (domain.lat_min_deg, domain.lat_max_deg, domain.lon_min_deg, domain.lon_max_deg),
        previous=_previous_record(context, Z_OFFSET),
        sr_storage_options=resolve_env(dict(spaceborne.storage_options)),
        gr_storage_options=radar_opts,
        max_time_diff_s=config.max_time_diff_s,
        max_range_m=config.max_range_km * 1000.0,
    )
    context.log.info(f"{Z_OFFSET} {day}: {record['offset_db']} dB ({record['reason']})")
    quarantine = [QuarantineRecord(**q) for q in record["quarantine"]]
    meta = {
        **_record_metadata(record),
        # beyond the network target (operational radars aim at +-1 dB): said, not a failed check
        "beyond_target": MetadataValue.bool(
            bool(record["significant"] and abs(record["apply_db"]) > Z_TARGET_DB)
        ),
        "n_overpasses": MetadataValue.int(int(record.get("n_overpasses", 0))),
        "overpasses": MetadataValue.md(_overpass_table(record["overpasses"])),
        "quarantined_files": MetadataValue.int(len(quarantine)),
        "quarantined": MetadataValue.md(quarantine_markdown(quarantine)),
    }
    context.add_output_metadata(meta)
    return record


def _capability(day: str) -> str:
    """The configured sites' polarization on ``day`` (era table): dual when any is."""
    radars = partition_sources(day)["ground_radar"].values()
    found = {r.get("capability", "") for r in radars if r.get("available")}
    if "dual" in found:
        return "dual"
    return "single" if found == {"single"} else "unknown"


@asset(
    name=ZDR_OFFSET,
    group_name=GROUP,
    partitions_def=daily_partitions,
    kinds={"json"},
    ins={
        "profiles": AssetIn(key=AssetKey("ground_radar_gauge_profiles")),
        "footprints": AssetIn(key=AssetKey("spaceborne_profiles")),
        "z_offset": AssetIn(key=AssetKey(Z_OFFSET)),
    },
    deps=[AssetDep(ZDR_OFFSET, partition_mapping=_day_before())],
    required_resource_keys={"io_manager"},
    description="GR ZDR offset (measured - intrinsic, dB) from light rain (20-28 dBZ after the "
    "reflectivity correction, below 1.5 km and the SR bright band) in the day's gauge profiles, "
    "dual-pol days; n, bootstrap 95 % over volumes; carried forward; applied before MLP-1 when "
    "significant.",
)
def gr_zdr_offset(
    context: AssetExecutionContext,
    profiles: pd.DataFrame,
    footprints: xr.Dataset,
    z_offset: dict,
) -> dict:
    day = context.partition_key
    bright_band = (
        footprints["bright_band_height_m"].values if "bright_band_height_m" in footprints else None
    )
    record = M.zdr_offset_day(
        day,
        profiles,
        _capability(day),
        bright_band,
        z_offset,
        previous=_previous_record(context, ZDR_OFFSET),
    )
    context.log.info(f"{ZDR_OFFSET} {day}: {record['offset_db']} dB ({record['reason']})")
    context.add_output_metadata(
        {
            **_record_metadata(record),
            **summary_metadata(
                {
                    "n_volumes": int(record.get("n_volumes", 0)),
                    "capability": record["capability"],
                    "max_height_km": record["max_height_km"],
                    "z_correction_db": record["z_correction_db"],
                }
            ),
        }
    )
    return record
