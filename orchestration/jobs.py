"""Jobs: the daily job runs every daily-partitioned asset for one UTC day."""

from __future__ import annotations

from dagster import AssetSelection, define_asset_job

from orchestration.partitions import daily_partitions

daily_job = define_asset_job(
    "daily_job",
    selection=AssetSelection.all() - AssetSelection.groups("reference"),
    partitions_def=daily_partitions,
    description="Everything of one UTC day: ingest, calibration, products, imagery.",
)

reference_job = define_asset_job(
    "reference_job",
    selection=AssetSelection.groups("reference"),
    description="Unpartitioned reference assets (the product grid).",
)

all_jobs = [daily_job, reference_job]
