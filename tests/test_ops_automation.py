"""Schedules, the retraining automation, GPU routing and the executor of each profile."""

import datetime as dt

import pytest
from dagster import (
    AssetKey,
    DailyPartitionsDefinition,
    Definitions,
    asset,
    build_schedule_context,
    define_asset_job,
)

from orchestration.executors import (
    CELERY_POLL_INTERVAL_S,
    ProfileError,
    executor_for_profile,
    gpu_routing_problems,
)
from orchestration.runtime.tags import GPU_OP_TAGS, GPU_POOL
from orchestration.schedules import (
    AutomationConfigError,
    build_daily_schedule,
    build_retraining_automation,
    daily_run_time,
    training_asset_keys,
)

DAYS = DailyPartitionsDefinition(start_date="2024-01-01", timezone="UTC")


@asset(partitions_def=DAYS, group_name="ingest")
def day_input() -> dict:
    return {}


@asset(
    partitions_def=DAYS,
    group_name="calibration",
    kinds={"torch"},
    pool=GPU_POOL,
    op_tags=GPU_OP_TAGS,
)
def mlp_weights(day_input: dict) -> dict:
    return {}


@asset(partitions_def=DAYS, group_name="calibration", kinds={"pandas"})
def training_samples(day_input: dict) -> dict:
    return {}


@asset(
    partitions_def=DAYS, group_name="imagery", kinds={"torch"}, pool=GPU_POOL, op_tags=GPU_OP_TAGS
)
def pansharpened(day_input: dict) -> dict:
    return {}


@asset(
    partitions_def=DAYS,
    group_name="calibration",
    kinds={"xarray"},
    pool=GPU_POOL,
    op_tags=GPU_OP_TAGS,
)
def gr_rain_applied(day_input: dict) -> dict:
    """A GPU asset that applies a model: daily work, not retraining."""
    return {}


@asset(partitions_def=DAYS, group_name="calibration", kinds={"pytorch"})
def untagged_model(day_input: dict) -> dict:
    return {}


@asset(partitions_def=DAYS, group_name="products", op_tags={"dagster-celery/queue": "gpu"})
def half_tagged(day_input: dict) -> dict:
    return {}


def _tick(defs: Definitions, name: str, when: dt.datetime):
    context = build_schedule_context(
        scheduled_execution_time=when, repository_def=defs.get_repository_def()
    )
    return defs.resolve_schedule_def(name).evaluate_tick(context)


def test_daily_schedule_targets_previous_utc_day(monkeypatch):
    monkeypatch.setenv("RAINFUSE_DAILY_HOUR_UTC", "4")
    monkeypatch.delenv("RAINFUSE_DAILY_MINUTE", raising=False)
    job = define_asset_job("tiny_daily", selection=[day_input])
    defs = Definitions(assets=[day_input], jobs=[job], schedules=[build_daily_schedule(job)])
    schedule_def = defs.resolve_schedule_def("daily_schedule")
    assert schedule_def.cron_schedule == "15 4 * * *"
    assert schedule_def.execution_timezone == "UTC"
    (request,) = _tick(
        defs, "daily_schedule", dt.datetime(2024, 3, 1, 4, 15, tzinfo=dt.UTC)
    ).run_requests
    assert request.partition_key == "2024-02-29"  # leap day: the previous UTC day
    assert request.tags["rainfuse/trigger"] == "daily_schedule"


def test_daily_schedule_hour_from_argument_overrides_environment(monkeypatch):
    monkeypatch.setenv("RAINFUSE_DAILY_HOUR_UTC", "4")
    job = define_asset_job("tiny_daily", selection=[day_input])
    schedule = build_daily_schedule(job, hour_of_day=23, minute_of_hour=5)
    defs = Definitions(assets=[day_input], jobs=[job], schedules=[schedule])
    assert defs.resolve_schedule_def("daily_schedule").cron_schedule == "5 23 * * *"


@pytest.mark.parametrize(
    ("value", "message"),
    [("25", "outside 0..23"), ("six", "expected an integer")],
)
def test_bad_schedule_hour_names_the_variable(monkeypatch, value, message):
    monkeypatch.setenv("RAINFUSE_DAILY_HOUR_UTC", value)
    with pytest.raises(AutomationConfigError, match=f"RAINFUSE_DAILY_HOUR_UTC.*{message}"):
        daily_run_time()


def test_training_assets_are_torch_assets_of_training_groups():
    assets = [
        day_input,
        mlp_weights,
        training_samples,
        pansharpened,
        untagged_model,
        gr_rain_applied,
    ]
    assert training_asset_keys(assets) == [AssetKey("mlp_weights"), AssetKey("untagged_model")]


def test_retraining_schedule_requests_last_complete_day(monkeypatch):
    monkeypatch.setenv("RAINFUSE_RETRAIN_CRON", "0 3 * * 1")
    assets = [day_input, mlp_weights, training_samples]
    automation = build_retraining_automation(assets)
    (job,) = automation.jobs
    defs = Definitions(assets=assets, jobs=automation.jobs, schedules=automation.schedules)
    assert defs.resolve_job_def("retrain_job").asset_layer.executable_asset_keys == {
        AssetKey("mlp_weights")
    }
    schedule_def = defs.resolve_schedule_def("retraining_schedule")
    assert schedule_def.cron_schedule == "0 3 * * 1"
    # Monday 2024-01-15 03:00 UTC: retrain through Sunday the 14th, never a day ahead
    (request,) = _tick(
        defs, "retraining_schedule", dt.datetime(2024, 1, 15, 3, 0, tzinfo=dt.UTC)
    ).run_requests
    assert request.partition_key == "2024-01-14"
    assert job.name == "retrain_job"


def test_no_training_assets_no_retraining_job():
    automation = build_retraining_automation([day_input, training_samples])
    assert list(automation.jobs) == [] and list(automation.schedules) == []


def test_gpu_routing_check_accepts_tagged_and_names_every_gap():
    tagged = [day_input, mlp_weights, pansharpened, training_samples, gr_rain_applied]
    assert gpu_routing_problems(tagged) == []
    problems = gpu_routing_problems([untagged_model, half_tagged])
    assert problems == [
        "untagged_model: not in the 'gpu' concurrency pool",
        "untagged_model: no 'dagster-celery/queue: gpu' op tag",
        "untagged_model: no nvidia.com/gpu limit in its dagster-k8s/config",
        "half_tagged: not in the 'gpu' concurrency pool",
        "half_tagged: no nvidia.com/gpu limit in its dagster-k8s/config",
    ]


def test_every_gpu_asset_of_the_code_location_reaches_a_gpu():
    from orchestration.definitions import defs

    assets = list(defs.assets or [])
    assert gpu_routing_problems(assets) == []
    # the contract itself: pool, Celery queue and Kubernetes request, node selector, toleration
    k8s = GPU_OP_TAGS["dagster-k8s/config"]
    assert GPU_OP_TAGS["dagster-celery/queue"] == "gpu"
    assert k8s["container_config"]["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert k8s["pod_spec_config"]["node_selector"] == {"rainfuse/accelerator": "nvidia-gpu"}


def test_code_location_wires_automation():
    from orchestration.definitions import defs

    schedule_names = {s.name for s in defs.schedules or []}
    sensor_names = {s.name for s in defs.sensors or []}
    assert "daily_schedule" in schedule_names
    assert {"archive_arrival_sensor", "run_failure_alert"} <= sensor_names
    daily = defs.resolve_schedule_def("daily_schedule")
    assert daily.job_name == "daily_job"


@pytest.mark.parametrize(
    ("profile", "executor_name"),
    [
        ("local", None),
        ("production", None),
        ("celery", "celery_executor"),
        ("k8s", "k8s_job_executor"),
    ],
)
def test_executor_of_each_profile(profile, executor_name):
    executor = executor_for_profile(profile)
    assert (executor.name if executor else None) == executor_name
    if profile == "celery":
        import dagster_celery.core_execution_loop as celery_loop

        # the run coordinator polls step results every 0.1 s instead of dagster-celery's 1 s
        assert celery_loop.TICK_SECONDS == CELERY_POLL_INTERVAL_S < 1


def test_unknown_profile_is_refused(monkeypatch):
    monkeypatch.setenv("RAINFUSE_PROFILE", "cloud")
    with pytest.raises(ProfileError, match="RAINFUSE_PROFILE='cloud'"):
        executor_for_profile()


def test_ingest_backfill_policy_from_environment(monkeypatch):
    from orchestration.backfill_policy import BackfillPolicyError, ingest_backfill_policy

    monkeypatch.delenv("RAINFUSE_BACKFILL_PARTITIONS_PER_RUN", raising=False)
    assert ingest_backfill_policy().max_partitions_per_run == 1
    monkeypatch.setenv("RAINFUSE_BACKFILL_PARTITIONS_PER_RUN", "31")
    assert ingest_backfill_policy().max_partitions_per_run == 31
    assert ingest_backfill_policy(7).max_partitions_per_run == 7
    monkeypatch.setenv("RAINFUSE_BACKFILL_PARTITIONS_PER_RUN", "0")
    with pytest.raises(BackfillPolicyError, match="RAINFUSE_BACKFILL_PARTITIONS_PER_RUN: 0"):
        ingest_backfill_policy()


def test_automation_default_status_follows_environment(monkeypatch):
    from dagster import DefaultScheduleStatus, DefaultSensorStatus

    from orchestration.sensors import build_archive_sensor

    job = define_asset_job("tiny_daily", selection=[day_input])
    monkeypatch.delenv("RAINFUSE_AUTOMATION_DEFAULT", raising=False)
    assert build_archive_sensor(job, DAYS).default_status == DefaultSensorStatus.STOPPED
    monkeypatch.setenv("RAINFUSE_AUTOMATION_DEFAULT", "running")
    assert build_archive_sensor(job, DAYS).default_status == DefaultSensorStatus.RUNNING
    defs = Definitions(assets=[day_input], jobs=[job], schedules=[build_daily_schedule(job)])
    assert (
        defs.resolve_schedule_def("daily_schedule").default_status == DefaultScheduleStatus.RUNNING
    )
    monkeypatch.setenv("RAINFUSE_AUTOMATION_DEFAULT", "sometimes")
    with pytest.raises(AutomationConfigError, match="RAINFUSE_AUTOMATION_DEFAULT"):
        build_archive_sensor(job, DAYS)
