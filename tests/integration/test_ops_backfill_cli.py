"""`rainfuse backfill` without a daemon: what it records in the instance, and what it refuses."""

import datetime as dt
import warnings

import pytest
from dagster import (
    AssetIn,
    AssetKey,
    DailyPartitionsDefinition,
    Definitions,
    TimeWindowPartitionMapping,
    asset,
    define_asset_job,
)
from ops_location import defs as ops_defs

from bench.services import dagster_home
from orchestration.commands.backfill import (
    BackfillError,
    backfill_targets,
    cross_day_inputs,
    main,
    queue_keeps_days_in_order,
    workspace_location,
)

# A model trained on the days before D (like the calibration chain), for the tests below.
WINDOW_DAYS = DailyPartitionsDefinition(start_date="2024-01-01", end_date="2024-03-01")


@asset(partitions_def=WINDOW_DAYS)
def samples() -> dict:
    return {}


with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # allow_nonexistent_upstream_partitions is "beta"
    _WINDOW = TimeWindowPartitionMapping(
        start_offset=-3, end_offset=-1, allow_nonexistent_upstream_partitions=True
    )


@asset(partitions_def=WINDOW_DAYS, ins={"samples": AssetIn(partition_mapping=_WINDOW)})
def model(samples) -> dict:
    return {}


@asset(partitions_def=WINDOW_DAYS)
def applied(model: dict) -> dict:
    return {}


WINDOW_DEFS = Definitions(
    assets=[samples, model, applied],
    jobs=[define_asset_job("chain", selection=[samples, model, applied])],
)
FORKSERVER = {"forkserver": {"preload_modules": ["ops_location"]}}


def test_targets_are_the_jobs_assets_and_the_inclusive_day_range():
    keys, days = backfill_targets(
        ops_defs, "ops_daily_job", dt.date(2024, 1, 29), dt.date(2024, 1, 31)
    )
    assert [k.to_user_string() for k in keys] == ["ops_gpu_fit", "ops_ingest", "ops_product"]
    assert days == ["2024-01-29", "2024-01-30", "2024-01-31"]


@pytest.mark.parametrize(
    ("job", "start", "end", "message"),
    [
        ("ops_daily_job", "2024-01-10", "2024-01-09", "--end 2024-01-09 is before --start"),
        ("ops_daily_job", "2023-12-31", "2024-01-09", "before the first partition 2024-01-01"),
        (
            "ops_daily_job",
            "2024-01-30",
            "2024-02-02",
            "after the last complete partition 2024-01-31",
        ),
        ("no_such_job", "2024-01-01", "2024-01-09", "--job no_such_job"),
    ],
)
def test_bad_arguments_name_the_problem(job, start, end, message):
    with pytest.raises(BackfillError, match=message):
        backfill_targets(ops_defs, job, dt.date.fromisoformat(start), dt.date.fromisoformat(end))


def test_submit_records_one_run_per_day_job_backfill(tmp_path, monkeypatch, capsys):
    from dagster import DagsterInstance

    home = dagster_home(tmp_path, "local")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    code = main(
        ["--start", "2024-01-01", "--end", "2024-01-31", "--job", "ops_daily_job",
         "--definitions", "ops_location:defs", "--location", "rainfuse_ops", "--gpu-slots", "2"]
    )  # fmt: skip
    assert code == 0
    out, err = capsys.readouterr()
    backfill_id = out.strip()
    assert "no dagster-daemon heartbeat" in err  # nothing would launch the runs: say so
    assert "one run per day of the whole job at code location rainfuse_ops" in err
    with DagsterInstance.get() as instance:
        backfill = instance.get_backfill(backfill_id)
        assert backfill.status.value == "REQUESTED"
        # a job backfill: the whole job in every run, no asset subset
        assert backfill.asset_selection is None and not backfill.is_asset_backfill
        origin = backfill.partition_set_origin
        assert origin.partition_set_name == "ops_daily_job_partition_set"
        assert origin.repository_origin.code_location_origin.location_name == "rainfuse_ops"
        assert backfill.partition_names == [f"2024-01-{day:02d}" for day in range(1, 32)]
        assert backfill.tags["rainfuse/backfill_range"] == "2024-01-01..2024-01-31"
        # the ops job reads no other day: its runs need no date order
        assert "rainfuse/backfill_chain" not in backfill.tags
        # every run: two steps at a time, forked from a forkserver that preloaded the location
        config = backfill.run_config["execution"]["config"]["multiprocess"]
        assert config == {"max_concurrent": 2, "start_method": FORKSERVER}
        assert instance.event_log_storage.get_concurrency_info("gpu").slot_count == 2


def test_asset_backfill_on_request(tmp_path, monkeypatch, capsys):
    from dagster import DagsterInstance

    monkeypatch.setenv("DAGSTER_HOME", str(dagster_home(tmp_path, "local")))
    code = main(
        ["--start", "2024-01-01", "--end", "2024-01-31", "--job", "ops_daily_job",
         "--definitions", "ops_location:defs", "--asset-backfill"]
    )  # fmt: skip
    assert code == 0
    backfill_id = capsys.readouterr().out.strip()
    with DagsterInstance.get() as instance:
        backfill = instance.get_backfill(backfill_id)
        assert set(backfill.asset_selection) == {
            AssetKey("ops_ingest"), AssetKey("ops_gpu_fit"), AssetKey("ops_product")
        }  # fmt: skip
        subset = backfill.asset_backfill_data.target_subset
        assert subset.num_partitions_and_non_partitioned_assets == 3 * 31


def test_location_name_comes_from_the_daemons_workspace(tmp_path):
    workspace = tmp_path / "workspace.yaml"
    workspace.write_text(
        "load_from:\n"
        "  - python_file:\n      relative_path: /somewhere/ops_location.py\n"
        "      location_name: rainfuse_ops\n"
        "  - python_module:\n      module_name: orchestration.definitions\n"
        "      location_name: rainfuse\n"
        "  - python_module: other.module\n"
    )
    assert workspace_location(workspace, "ops_location:defs") == "rainfuse_ops"
    assert workspace_location(workspace, "orchestration.definitions:defs") == "rainfuse"
    assert workspace_location(workspace, "other.module:defs") == "other.module"
    with pytest.raises(BackfillError, match="give --location NAME"):
        workspace_location(workspace, "elsewhere:defs")
    with pytest.raises(BackfillError, match="no such file"):
        workspace_location(tmp_path / "missing.yaml", "ops_location:defs")


def test_days_reading_earlier_days_need_a_queue_that_keeps_their_order(
    tmp_path, monkeypatch, capsys
):
    from dagster import DagsterInstance

    assert cross_day_inputs(WINDOW_DEFS, "chain") == ["model <- samples"]
    assert cross_day_inputs(ops_defs, "ops_daily_job") == []
    argv = ["--start", "2024-01-10", "--end", "2024-01-12", "--job", "chain"]
    argv += ["--definitions", "test_ops_backfill_cli:WINDOW_DEFS", "--location", "here"]

    # the local profile keeps a chain's runs one at a time: one run per day, tagged as a chain
    monkeypatch.setenv("DAGSTER_HOME", str(dagster_home(tmp_path / "local", "local")))
    assert main(argv) == 0
    backfill_id = capsys.readouterr().out.strip()
    with DagsterInstance.get() as instance:
        assert queue_keeps_days_in_order(instance)
        backfill = instance.get_backfill(backfill_id)
        assert backfill.partition_names == ["2024-01-10", "2024-01-11", "2024-01-12"]
        assert backfill.tags["rainfuse/backfill_chain"] == "here"

    # a queue that runs several backfill runs at once would start later days before earlier
    # ones had ended: an asset backfill instead (Dagster orders its runs by dependencies)
    home = tmp_path / "parallel"
    home.mkdir()
    (home / "dagster.yaml").write_text(
        "concurrency:\n  runs:\n    max_concurrent_runs: 4\n    tag_concurrency_limits:\n"
        "      - {key: dagster/backfill, limit: 3}\n"
    )
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    assert main(argv) == 0
    out, err = capsys.readouterr()
    assert "submitting an asset backfill" in err and "rainfuse/backfill_chain" in err
    with DagsterInstance.get() as instance:
        assert not queue_keeps_days_in_order(instance)
        assert instance.get_backfill(out.strip()).is_asset_backfill


def test_unknown_definitions_module_exits_2(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DAGSTER_HOME", str(dagster_home(tmp_path, "local")))
    code = main(["--start", "2024-01-01", "--end", "2024-01-02", "--definitions", "nowhere:defs"])
    assert code == 2
    assert "cannot import nowhere" in capsys.readouterr().err


def test_definitions_outside_the_workspace_exit_2(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DAGSTER_HOME", str(dagster_home(tmp_path, "local")))
    code = main(
        ["--start", "2024-01-01", "--end", "2024-01-02", "--job", "ops_daily_job",
         "--definitions", "ops_location:defs"]
    )  # fmt: skip
    assert code == 2  # the checkout's workspace.yaml loads orchestration.definitions only
    assert "give --location NAME" in capsys.readouterr().err


def test_executor_run_config_forkserver_two_steps(monkeypatch):
    from orchestration.executors import multiprocess_run_config

    monkeypatch.delenv("RAINFUSE_RUN_MAX_CONCURRENT", raising=False)
    block = {"max_concurrent": 2, "start_method": {"forkserver": {"preload_modules": ["m"]}}}
    assert multiprocess_run_config("multi_or_in_process_executor", ["m"]) == {
        "execution": {"config": {"multiprocess": block}}
    }
    assert multiprocess_run_config("multiprocess", ["m"]) == {"execution": {"config": block}}
    # Celery, Kubernetes and in-process executors keep their own config
    for name in ("celery_executor", "k8s_job_executor", "in_process"):
        assert multiprocess_run_config(name, ["m"]) is None
    monkeypatch.setenv("RAINFUSE_RUN_MAX_CONCURRENT", "4")
    config = multiprocess_run_config("multiprocess", ["m"])
    assert config["execution"]["config"]["max_concurrent"] == 4


def test_trailing_window_inputs_do_not_stretch_the_backfill(tmp_path, monkeypatch):
    """The asset backfill of D1..D2 holds exactly D1..D2 of every asset, the model of D1
    included, nothing after D2."""
    from dagster import DagsterInstance

    from orchestration.commands.backfill import submit_backfill

    monkeypatch.setenv("DAGSTER_HOME", str(dagster_home(tmp_path, "local")))
    with DagsterInstance.get() as instance:
        backfill_id = submit_backfill(
            instance, WINDOW_DEFS, "chain", dt.date(2024, 1, 10), dt.date(2024, 1, 12)
        )
        subset = instance.get_backfill(backfill_id).asset_backfill_data.target_subset
    wanted = ["2024-01-10", "2024-01-11", "2024-01-12"]
    for name in ("samples", "model", "applied"):
        keys = sorted(subset.get_partitions_subset(AssetKey(name)).get_partition_keys())
        assert keys == wanted, name
