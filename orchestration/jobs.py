"""Jobs: the daily job runs every daily-partitioned asset for one UTC day; the calibration history
job only what the models of later days train on (a fresh deployment's spin-up days)."""

from __future__ import annotations

from dagster import AssetSelection, define_asset_job

from orchestration.runtime.partitions import daily_partitions

daily_job = define_asset_job(
    "daily_job",
    selection=AssetSelection.all() - AssetSelection.groups("reference"),
    partitions_def=daily_partitions,
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
    description="Ingest and training samples of one UTC day, no products: run it over the days "
    "before the first product day so that day's models are trained networks, not fallbacks.",
)

reference_job = define_asset_job(
    "reference_job",
    selection=AssetSelection.groups("reference"),
    description="Unpartitioned reference assets (the product grid).",
)

all_jobs = [daily_job, calibration_history_job, reference_job]
