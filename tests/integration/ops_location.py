"""A tiny code location for the operations tests: the shape of rainfuse, none of its weight.

Three daily assets in the groups rainfuse uses (``ingest`` -> ``calibration`` (GPU, torch) ->
``products``), each with a multi-run ``BackfillPolicy``, stored by the project's IO manager, run by
the executor of ``RAINFUSE_PROFILE`` (or in process when ``RAINFUSE_OPS_IN_PROCESS=1``). Services
and workers load this file by path, as they would load ``orchestration.definitions``.

Environment read at load time:

- ``RAINFUSE_OPS_STORAGE``: IO-manager base URL (folder or ``s3://bucket/prefix``);
- ``RAINFUSE_OPS_S3_ENDPOINT``: S3 endpoint for that URL (credentials from ``AWS_*`` variables);
- ``RAINFUSE_OPS_GPU_SECONDS``: how long the GPU step holds its slot (to expose overlaps);
- ``RAINFUSE_OPS_ARCHIVE``: a NEXRAD-layout folder; when set, an archive sensor (running by
  default) requests ``ops_volume_job`` for the days whose volumes are there, and the run-failure
  alert watches every run.
"""

import datetime as dt
import os
import time
from typing import Any

from dagster import (
    AssetExecutionContext,
    DailyPartitionsDefinition,
    DefaultSensorStatus,
    Definitions,
    MetadataValue,
    asset,
    define_asset_job,
    in_process_executor,
)

from orchestration.backfill_policy import ingest_backfill_policy
from orchestration.executors import executor_for_profile
from orchestration.runtime.io_managers import UniversalIOManager
from orchestration.runtime.resources import RadarArchiveResource
from orchestration.runtime.tags import GPU_OP_TAGS, GPU_POOL
from orchestration.sensors import NEXRAD_WATCH, build_archive_sensor, build_run_failure_alert

# One month: January 2024 (end is exclusive).
PARTITIONS = DailyPartitionsDefinition(
    start_date="2024-01-01", end_date="2024-02-01", timezone="UTC"
)
PARTITIONS_PER_RUN = 8
POLICY = ingest_backfill_policy(PARTITIONS_PER_RUN)


def _per_partition(context: AssetExecutionContext, make) -> Any:
    """One value per partition: the value itself for one, a dict keyed by partition for several."""
    keys = list(context.partition_keys)
    values = {key: make(key) for key in keys}
    return values[keys[0]] if len(keys) == 1 else values


def _as_dict(context: AssetExecutionContext, loaded: Any) -> dict[str, Any]:
    keys = list(context.partition_keys)
    return loaded if len(keys) > 1 else {keys[0]: loaded}


@asset(
    group_name="ingest",
    partitions_def=PARTITIONS,
    backfill_policy=POLICY,
    kinds={"python"},
    description="Stand-in ingest: one small record per day.",
)
def ops_ingest(context: AssetExecutionContext) -> Any:
    return _per_partition(context, lambda key: {"day": key, "rain_mm": float(int(key[-2:]) % 7)})


@asset(
    group_name="calibration",
    partitions_def=PARTITIONS,
    backfill_policy=POLICY,
    kinds={"torch"},
    pool=GPU_POOL,
    op_tags=GPU_OP_TAGS,
    description="Stand-in GPU training step: records where and when it ran.",
)
def ops_gpu_fit(context: AssetExecutionContext, ops_ingest: Any) -> Any:
    started = time.time()
    time.sleep(float(os.environ.get("RAINFUSE_OPS_GPU_SECONDS", "0")))
    ended = time.time()
    worker = os.environ.get("RAINFUSE_WORKER_NAME", "in-process")
    inputs = _as_dict(context, ops_ingest)
    context.add_output_metadata(
        {
            "worker": worker,
            "pid": os.getpid(),
            "started_at": MetadataValue.float(started),
            "ended_at": MetadataValue.float(ended),
        }
    )
    return _per_partition(
        context,
        lambda key: {"day": key, "gain": 1.0 + inputs[key]["rain_mm"] / 10.0, "worker": worker},
    )


@asset(
    group_name="products",
    partitions_def=PARTITIONS,
    backfill_policy=POLICY,
    kinds={"python"},
    description="Stand-in product: ingest times the fitted gain.",
)
def ops_product(context: AssetExecutionContext, ops_ingest: Any, ops_gpu_fit: Any) -> Any:
    rain = _as_dict(context, ops_ingest)
    fit = _as_dict(context, ops_gpu_fit)
    return _per_partition(
        context,
        lambda key: {"day": key, "rain_mm": rain[key]["rain_mm"] * fit[key]["gain"]},
    )


class TruncatedVolumeError(ValueError):
    """A radar volume in the archive is too short to be a Level II file."""


@asset(
    group_name="ingest",
    partitions_def=PARTITIONS,
    kinds={"python"},
    required_resource_keys={"radar_archive"},
    description="Stand-in radar check: counts the day's volumes, refuses a truncated one.",
)
def ops_volume_check(context: AssetExecutionContext) -> Any:
    archive = context.resources.radar_archive
    day = context.partition_key.replace("-", "/")
    volumes = archive.glob(f"{day}/KMLB/*_V06")
    for name in volumes:
        size = len(archive.read_bytes(name))
        if size < 32:
            raise TruncatedVolumeError(f"{name}: truncated volume ({size} bytes)")
    return {"day": context.partition_key, "volumes": len(volumes)}


def _storage_options() -> dict[str, Any]:
    endpoint = os.environ.get("RAINFUSE_OPS_S3_ENDPOINT")
    if not endpoint:
        return {}
    # Secrets stay references: resolved by the IO manager when the filesystem opens.
    return {
        "key": "${AWS_ACCESS_KEY_ID}",
        "secret": "${AWS_SECRET_ACCESS_KEY}",
        "client_kwargs": {"endpoint_url": endpoint},
    }


ops_daily_job = define_asset_job("ops_daily_job", selection=[ops_ingest, ops_gpu_fit, ops_product])

resources: dict[str, Any] = {
    "io_manager": UniversalIOManager(
        base_url=os.environ.get("RAINFUSE_OPS_STORAGE", "/tmp/rainfuse-ops-storage"),
        storage_options=_storage_options(),
    )
}
assets: list[Any] = [ops_ingest, ops_gpu_fit, ops_product]
jobs: list[Any] = [ops_daily_job]
sensors = []
if os.environ.get("RAINFUSE_OPS_ARCHIVE"):
    # The archive sensor as the daemon runs it, on a NEXRAD-layout folder, with a clock fixed
    # inside the month so that its trailing window (Jan 6..10) falls in these partitions; and the
    # run-failure alert, quicker than in production.
    resources["radar_archive"] = RadarArchiveResource(
        url=os.environ["RAINFUSE_OPS_ARCHIVE"], sites=["KMLB"]
    )
    ops_volume_job = define_asset_job("ops_volume_job", selection=[ops_volume_check])
    assets.append(ops_volume_check)
    jobs.append(ops_volume_job)
    sensors.append(
        build_archive_sensor(
            ops_volume_job,
            PARTITIONS,
            watches=(NEXRAD_WATCH,),
            name="ops_archive_sensor",
            lookback_days=5,
            minimum_interval_seconds=5,
            now=lambda: dt.datetime(2024, 1, 11, 10, 0, tzinfo=dt.UTC),
            default_status=DefaultSensorStatus.RUNNING,
        )
    )
    sensors.append(build_run_failure_alert(minimum_interval_seconds=5))

executor = (
    in_process_executor
    if os.environ.get("RAINFUSE_OPS_IN_PROCESS") == "1"
    else executor_for_profile()
)

defs = Definitions(
    assets=assets,
    jobs=jobs,
    sensors=sensors,
    resources=resources,
    executor=executor,
)


def ops_daily_job_reconstructable():
    """The resolved job, for ``reconstructable`` (Celery workers rebuild it from this file)."""
    return defs.resolve_job_def("ops_daily_job")
