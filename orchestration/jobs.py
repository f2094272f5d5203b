"""Jobs: the daily job runs every daily-partitioned asset for one UTC day; the calibration history
job only what the models of later days train on (a fresh deployment's spin-up days).

A daily job's run of one day carries ``dagster/priority`` from :func:`day_order_tags`: an earlier
day ranks higher in the run queue. A backfill's runs of consecutive days therefore leave the queue
in date order however the daemon submitted them (a threaded backfill loop creates them in any
order), which the calibration models need: day D's models train on the samples of days before D.
"""

from __future__ import annotations

import datetime as dt

from dagster import AssetSelection, PartitionedConfig, PartitionsDefinition, define_asset_job

from orchestration.runtime.partitions import daily_partitions

#: Dagster's run-queue priority tag (higher leaves the queue first; the default is 0).
PRIORITY_TAG = "dagster/priority"
_EPOCH = dt.date(1970, 1, 1)


def day_order_tags(partition_key: str) -> dict[str, str]:
    """Run-queue priority of the run of day ``partition_key``: minus its days since 1970-01-01.

    2009-05-20 ranks -14384, the next day -14385: of two queued runs the earlier day's leaves the
    queue first. Runs of other jobs (priority 0) keep ranking above the daily runs; the queue's
    limits, not the priority, decide whether a run may start at all.
    """
    day = dt.date.fromisoformat(partition_key[:10])
    return {PRIORITY_TAG: str(-(day - _EPOCH).days)}


def _no_run_config(partition_key: str) -> dict:
    # a day brings no run config of its own: a backfill's run config (the executor's, see
    # orchestration.executors.multiprocess_run_config) or the launchpad's stands
    return {}


def in_day_order(partitions_def: PartitionsDefinition) -> PartitionedConfig:
    """The partitioned config of a daily job: no run config, the day's queue priority as tags."""
    return PartitionedConfig(
        partitions_def=partitions_def,
        run_config_for_partition_key_fn=_no_run_config,
        tags_for_partition_key_fn=day_order_tags,
    )


daily_job = define_asset_job(
    "daily_job",
    selection=AssetSelection.all() - AssetSelection.groups("reference"),
    partitions_def=daily_partitions,
    config=in_day_order(daily_partitions),
    description="Everything of one UTC day: ingest, calibration, products, imagery.",
)

#: The daily assets the networks' training samples need: ingest, the day's (fallback or trained)
#: rain estimates and the samples themselves, without products, evaluation or imagery.
TRAINING_SAMPLE_ASSETS = ("mlp1_samples", "mlp2_samples", "mlp3_samples")

calibration_history_job = define_asset_job(
    "calibration_history_job",
    selection=(
        AssetSelection.assets(*TRAINING_SAMPLE_ASSETS).upstream().required_multi_asset_neighbors()
        - AssetSelection.groups("reference")
    ),
    partitions_def=daily_partitions,
    config=in_day_order(daily_partitions),
    description="Ingest and training samples of one UTC day, no products: run it over the days "
    "before the first product day so that day's models are trained networks, not fallbacks.",
)

reference_job = define_asset_job(
    "reference_job",
    selection=AssetSelection.groups("reference"),
    description="Unpartitioned reference assets (the product grid).",
)

all_jobs = [daily_job, calibration_history_job, reference_job]
