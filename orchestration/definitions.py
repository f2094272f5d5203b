"""The rainfuse code location: a table of contents of assets, checks, jobs, automation and resources."""

from __future__ import annotations

from dagster import Definitions, load_asset_checks_from_modules, load_assets_from_modules

from assets import calibration, imagery, ingest, monitoring, products, reference
from orchestration.executors import executor_for_profile
from orchestration.jobs import all_jobs, daily_job
from orchestration.runtime.config import load_config
from orchestration.runtime.partitions import daily_partitions
from orchestration.runtime.resources import build_resources
from orchestration.schedules import build_daily_schedule, build_retraining_automation
from orchestration.sensors import build_archive_sensor, run_failure_alert

ASSET_MODULES = [reference, ingest, monitoring, calibration, products, imagery]
CONFIG = load_config()

ASSETS = [
    *load_assets_from_modules(ASSET_MODULES),
    # the ground radar's graph: one step per block of the day's volumes, as configured
    ingest.build_ground_radar_assets(CONFIG.compute.ground_radar_blocks),
]
# Model retraining: a job over the training assets of ASSETS and its schedule (empty until they land).
RETRAINING = build_retraining_automation(ASSETS)

defs = Definitions(
    assets=ASSETS,
    asset_checks=load_asset_checks_from_modules(ASSET_MODULES),
    jobs=[*all_jobs, *RETRAINING.jobs],
    schedules=[build_daily_schedule(daily_job), *RETRAINING.schedules],
    sensors=[build_archive_sensor(daily_job, daily_partitions), run_failure_alert],
    resources=build_resources(CONFIG),
    executor=executor_for_profile(),
)
