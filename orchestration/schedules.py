"""Schedules: the daily run for the previous UTC day, and model retraining at the chain's cadence.

Both are built against jobs and asset groups, not asset names, so they follow the assets as they land.

Environment (until the configuration file grows an ``automation`` section):

========================================  ==============  ==============================================
variable                                  default         meaning
========================================  ==============  ==============================================
``RAINFUSE_DAILY_HOUR_UTC``               ``6``           hour (UTC) the daily run for yesterday starts;
                                                          late enough for the archives to fill the day
``RAINFUSE_DAILY_MINUTE``                 ``15``          minute of that hour
``RAINFUSE_RETRAIN_CRON``                 ``0 3 * * 1``   cron (UTC) of model retraining (weekly, Monday)
``RAINFUSE_AUTOMATION_DEFAULT``           ``stopped``     ``running`` starts schedules and archive
                                                          sensors as soon as the daemon loads the code
========================================  ==============  ==============================================
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from dagster import (
    AssetKey,
    AssetsDefinition,
    DefaultScheduleStatus,
    PartitionsDefinition,
    RunRequest,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    SkipReason,
    build_schedule_from_partitioned_job,
    define_asset_job,
    partition_loading_context,
    schedule,
)

if TYPE_CHECKING:
    from dagster._core.definitions.unresolved_asset_job_definition import (
        UnresolvedAssetJobDefinition,
    )

DAILY_HOUR_ENV = "RAINFUSE_DAILY_HOUR_UTC"
DAILY_MINUTE_ENV = "RAINFUSE_DAILY_MINUTE"
RETRAIN_CRON_ENV = "RAINFUSE_RETRAIN_CRON"
AUTOMATION_DEFAULT_ENV = "RAINFUSE_AUTOMATION_DEFAULT"

DEFAULT_DAILY_HOUR_UTC = 6
DEFAULT_DAILY_MINUTE = 15
DEFAULT_RETRAIN_CRON = "0 3 * * 1"
# Groups whose torch assets train models; their GPU assets are what the retraining job refreshes.
TRAINING_GROUPS: tuple[str, ...] = ("calibration", "training", "models")
TRAINING_KINDS: frozenset[str] = frozenset({"torch", "pytorch"})


class AutomationConfigError(ValueError):
    """An automation setting from the environment is invalid (the message names the variable)."""


def _int_env(name: str, default: int, low: int, high: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise AutomationConfigError(f"{name}: expected an integer, got {raw!r}") from None
    if not low <= value <= high:
        raise AutomationConfigError(f"{name}: {value} is outside {low}..{high}")
    return value


def daily_run_time() -> tuple[int, int]:
    """(hour, minute) UTC of the daily run, from the environment."""
    return (
        _int_env(DAILY_HOUR_ENV, DEFAULT_DAILY_HOUR_UTC, 0, 23),
        _int_env(DAILY_MINUTE_ENV, DEFAULT_DAILY_MINUTE, 0, 59),
    )


def automation_running_by_default() -> bool:
    """True when ``RAINFUSE_AUTOMATION_DEFAULT=running`` (production profiles set it)."""
    value = os.environ.get(AUTOMATION_DEFAULT_ENV, "stopped").strip().lower()
    if value not in ("running", "stopped"):
        raise AutomationConfigError(
            f"{AUTOMATION_DEFAULT_ENV}: expected 'running' or 'stopped', got {value!r}"
        )
    return value == "running"


def build_daily_schedule(
    job: UnresolvedAssetJobDefinition,
    hour_of_day: int | None = None,
    minute_of_hour: int | None = None,
    name: str = "daily_schedule",
) -> ScheduleDefinition:
    """The daily job for the previous UTC day, at ``hour_of_day:minute_of_hour`` UTC.

    A daily-partitioned schedule evaluated at 06:15 on day D targets partition D-1: the last
    partition that is complete at that time.
    """
    default_hour, default_minute = daily_run_time()
    status = (
        DefaultScheduleStatus.RUNNING
        if automation_running_by_default()
        else DefaultScheduleStatus.STOPPED
    )
    return build_schedule_from_partitioned_job(
        job,
        name=name,
        hour_of_day=default_hour if hour_of_day is None else hour_of_day,
        minute_of_hour=default_minute if minute_of_hour is None else minute_of_hour,
        default_status=status,
        tags={"rainfuse/trigger": "daily_schedule"},
        description="Materializes every daily asset for the previous UTC day.",
    )


def _kinds_of(assets_def: AssetsDefinition, key: AssetKey) -> set[str]:
    spec = assets_def.specs_by_key[key]
    kinds = set(spec.kinds or ())
    # node_def: an op, or the graph of a graph-backed asset (assets_def.op fails for those)
    compute_kind = (
        (assets_def.node_def.tags or {}).get("dagster/compute_kind")
        if assets_def.is_executable
        else None
    )
    if compute_kind:
        kinds.add(str(compute_kind))
    return {k.lower() for k in kinds}


def training_asset_keys(assets: Iterable[object]) -> list[AssetKey]:
    """Keys of the assets that train models: torch assets in a training group.

    An asset qualifies when its group is one of :data:`TRAINING_GROUPS` and its kinds include
    ``torch`` or ``pytorch`` (the model assets); GPU assets that only apply a model (kinds
    ``xarray``, ``pandas``) run with the daily job instead.
    """
    keys: list[AssetKey] = []
    for assets_def in assets:
        if not isinstance(assets_def, AssetsDefinition) or not assets_def.is_executable:
            continue
        for key in assets_def.keys:
            group = assets_def.group_names_by_key.get(key)
            if group not in TRAINING_GROUPS:
                continue
            if _kinds_of(assets_def, key) & TRAINING_KINDS:
                keys.append(key)
    return sorted(keys, key=lambda k: k.to_user_string())


@dataclass(frozen=True)
class RetrainingAutomation:
    """The retraining job and its schedule; both empty until training assets exist."""

    jobs: Sequence[UnresolvedAssetJobDefinition] = field(default_factory=tuple)
    schedules: Sequence[ScheduleDefinition] = field(default_factory=tuple)


def _partitions_def_of(
    assets: Iterable[object], keys: Sequence[AssetKey]
) -> PartitionsDefinition | None:
    wanted = set(keys)
    found: dict[str, PartitionsDefinition | None] = {}
    for assets_def in assets:
        if isinstance(assets_def, AssetsDefinition) and wanted & set(assets_def.keys):
            found[str(assets_def.partitions_def)] = assets_def.partitions_def
    return next(iter(found.values())) if len(found) == 1 else None


def build_retraining_automation(
    assets: Sequence[object], cron_schedule: str | None = None
) -> RetrainingAutomation:
    """A ``retrain_job`` over :func:`training_asset_keys` and a schedule at the chain's cadence.

    Training assets that share one partitioning get one job; the schedule then requests the last
    complete partition (the trailing window of the model ends the day before). When the training
    assets are partitioned differently, only the largest consistently partitioned set is scheduled,
    so a new asset can never break loading of the code location.
    """
    keys = training_asset_keys(assets)
    if not keys:
        return RetrainingAutomation()
    by_partitioning: dict[str, list[AssetKey]] = {}
    for key in keys:
        partitions_def = _partitions_def_of(assets, [key])
        by_partitioning.setdefault(str(partitions_def), []).append(key)
    keys = max(by_partitioning.values(), key=len)
    partitions_def = _partitions_def_of(assets, keys)
    job = define_asset_job(
        "retrain_job",
        selection=keys,
        tags={"rainfuse/purpose": "retraining"},
        description="Retrains the calibration-chain models on their trailing window.",
    )
    cron = cron_schedule or os.environ.get(RETRAIN_CRON_ENV, DEFAULT_RETRAIN_CRON)
    status = (
        DefaultScheduleStatus.RUNNING
        if automation_running_by_default()
        else DefaultScheduleStatus.STOPPED
    )

    @schedule(
        name="retraining_schedule",
        job=job,
        cron_schedule=cron,
        execution_timezone="UTC",
        default_status=status,
        description=f"Retrains {len(keys)} model asset(s) on cron {cron!r} (UTC).",
    )
    def retraining_schedule(context: ScheduleEvaluationContext):
        tick = context.scheduled_execution_time
        if partitions_def is None:
            return RunRequest(run_key=f"retrain-{tick.isoformat()}")
        with partition_loading_context(effective_dt=tick):
            last = partitions_def.get_last_partition_key()
        if last is None:
            return SkipReason(f"no complete partition before {tick.isoformat()}")
        return RunRequest(run_key=f"retrain-{last}", partition_key=last)

    return RetrainingAutomation(jobs=(job,), schedules=(retraining_schedule,))
