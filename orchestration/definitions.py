"""The rainfuse code location: a table of contents of assets, checks, jobs, automation and resources."""

from __future__ import annotations

from dagster import Definitions, load_asset_checks_from_modules, load_assets_from_modules

from assets import reference
from orchestration.config import load_config
from orchestration.jobs import all_jobs
from orchestration.resources import build_resources

ASSET_MODULES = [reference]

defs = Definitions(
    assets=load_assets_from_modules(ASSET_MODULES),
    asset_checks=load_asset_checks_from_modules(ASSET_MODULES),
    jobs=all_jobs,
    resources=build_resources(load_config()),
)
