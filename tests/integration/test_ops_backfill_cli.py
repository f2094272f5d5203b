"""`rainfuse backfill` without a daemon: what it records in the instance, and what it refuses."""

import datetime as dt

import pytest
from dagster import AssetKey
from ops_location import defs as ops_defs

from bench.services import dagster_home
from orchestration.commands.backfill import BackfillError, backfill_targets, main


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


def test_submit_records_a_requested_backfill(tmp_path, monkeypatch, capsys):
    from dagster import AssetKey, DagsterInstance

    home = dagster_home(tmp_path, "local")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    code = main(
        ["--start", "2024-01-01", "--end", "2024-01-31", "--job", "ops_daily_job",
         "--definitions", "ops_location:defs", "--gpu-slots", "2"]
    )  # fmt: skip
    assert code == 0
    out, err = capsys.readouterr()
    backfill_id = out.strip()
    assert "no dagster-daemon heartbeat" in err  # nothing would launch the runs: say so
    with DagsterInstance.get() as instance:
        backfill = instance.get_backfill(backfill_id)
        assert backfill.status.value == "REQUESTED"
        assert set(backfill.asset_selection) == {
            AssetKey("ops_ingest"), AssetKey("ops_gpu_fit"), AssetKey("ops_product")
        }  # fmt: skip
        assert backfill.tags["rainfuse/backfill_range"] == "2024-01-01..2024-01-31"
        subset = backfill.asset_backfill_data.target_subset
        assert subset.num_partitions_and_non_partitioned_assets == 3 * 31
        assert instance.event_log_storage.get_concurrency_info("gpu").slot_count == 2


def test_unknown_definitions_module_exits_2(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DAGSTER_HOME", str(dagster_home(tmp_path, "local")))
    code = main(["--start", "2024-01-01", "--end", "2024-01-02", "--definitions", "nowhere:defs"])
    assert code == 2
    assert "cannot import nowhere" in capsys.readouterr().err


def test_trailing_window_inputs_do_not_stretch_the_backfill(tmp_path, monkeypatch):
    """A model trained on the days before D (like the calibration chain): the backfill of
    D1..D2 holds exactly D1..D2 of every asset, the model of D1 included, nothing after D2."""
    from dagster import (
        AssetIn,
        DagsterInstance,
        DailyPartitionsDefinition,
        Definitions,
        TimeWindowPartitionMapping,
        asset,
        define_asset_job,
    )

    from orchestration.commands.backfill import submit_backfill

    days = DailyPartitionsDefinition(start_date="2024-01-01", end_date="2024-03-01")

    @asset(partitions_def=days)
    def samples() -> dict:
        return {}

    @asset(
        partitions_def=days,
        ins={
            "samples": AssetIn(
                partition_mapping=TimeWindowPartitionMapping(
                    start_offset=-3, end_offset=-1, allow_nonexistent_upstream_partitions=True
                )
            )
        },
    )
    def model(samples) -> dict:
        return {}

    @asset(partitions_def=days)
    def applied(model: dict) -> dict:
        return {}

    window_defs = Definitions(
        assets=[samples, model, applied],
        jobs=[define_asset_job("chain", selection=[samples, model, applied])],
    )
    monkeypatch.setenv("DAGSTER_HOME", str(dagster_home(tmp_path, "local")))
    with DagsterInstance.get() as instance:
        backfill_id = submit_backfill(
            instance, window_defs, "chain", dt.date(2024, 1, 10), dt.date(2024, 1, 12)
        )
        subset = instance.get_backfill(backfill_id).asset_backfill_data.target_subset
    wanted = ["2024-01-10", "2024-01-11", "2024-01-12"]
    for name in ("samples", "model", "applied"):
        keys = sorted(subset.get_partitions_subset(AssetKey(name)).get_partition_keys())
        assert keys == wanted, name
