"""``rainfuse backfill`` of days that read earlier days: one run per day, in date order.

The local profile's instance (its dagster.yaml as shipped: SQLite, the run queue and its limits)
and a stand-in chain shaped like rainfuse's day: ``bf_ingest`` and ``bf_side`` need nothing,
``bf_model`` of day D trains on ``bf_ingest`` of D-2..D-1 (a trailing window, as the calibration
models), ``bf_product`` reads the day's ingest and model. A 3-day backfill is submitted with
``rainfuse backfill`` (its ``main``).

- Without a daemon (a few seconds): Dagster's own backfill iteration, run here on the code location
  loaded in process, queues one run per day, each planning every step of the job with the run
  config of the forkserver executor; the run queue would start the first day alone, and nothing
  else while it runs.
- With a real ``dagster-daemon`` (about a minute on the loaded 2-core machine): the runs ran one at a
  time in date order (each started after the previous day's had ended) and each day's model saw the
  earlier days' ingest; every step ran in a process forked from the run's forkserver, two at a
  time (the two steps without inputs overlapped).

This module is also the code location the daemon and the runs load (by file).
"""

import os
import time
import warnings
from pathlib import Path

import pytest
from dagster import (
    AssetExecutionContext,
    AssetIn,
    DailyPartitionsDefinition,
    Definitions,
    FilesystemIOManager,
    TimeWindowPartitionMapping,
    asset,
    define_asset_job,
)

from orchestration.jobs import in_day_order

pytestmark = pytest.mark.integration

PARTITIONS = DailyPartitionsDefinition(start_date="2024-01-01", end_date="2024-02-01")
DAYS = ["2024-01-03", "2024-01-04", "2024-01-05"]
STORAGE_ENV = "RAINFUSE_BF_STORAGE"
#: How long a step without inputs waits for the other one to run beside it.
MEET_TIMEOUT_S = 20.0
LOCATION = "rainfuse_bf"


def _stamp(context: AssetExecutionContext, started: float, **extra) -> dict:
    """Where and when the step ran, as output metadata."""
    parent = Path(f"/proc/{os.getppid()}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    meta = {
        "pid": os.getpid(),
        "forked_by": "forkserver" if "forkserver" in parent else parent[:200],
        "started_at": started,
        "ended_at": time.time(),
        **extra,
    }
    context.add_output_metadata(meta)
    return {"day": context.partition_key}


def _meet(context: AssetExecutionContext, me: str, other: str) -> bool:
    """Leave a mark, then wait (bounded) for the other step's: True when both ran at once."""
    folder = Path(os.environ.get(STORAGE_ENV, "/tmp/rainfuse-bf-storage"), "meet")
    folder = folder / context.run_id
    folder.mkdir(parents=True, exist_ok=True)
    (folder / me).touch()
    deadline = time.monotonic() + MEET_TIMEOUT_S
    while time.monotonic() < deadline:
        if (folder / other).exists():
            return True
        time.sleep(0.05)
    return False


@asset(partitions_def=PARTITIONS)
def bf_ingest(context: AssetExecutionContext) -> dict:
    started = time.time()
    return _stamp(context, started, met=_meet(context, "bf_ingest", "bf_side"))


@asset(partitions_def=PARTITIONS)
def bf_side(context: AssetExecutionContext) -> dict:
    started = time.time()
    return _stamp(context, started, met=_meet(context, "bf_side", "bf_ingest"))


with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # allow_nonexistent_upstream_partitions is "beta"
    _WINDOW = TimeWindowPartitionMapping(
        start_offset=-2, end_offset=-1, allow_nonexistent_upstream_partitions=True
    )


@asset(
    partitions_def=PARTITIONS,
    ins={
        "bf_ingest": AssetIn(partition_mapping=_WINDOW, metadata={"allow_missing_partitions": True})
    },
)
def bf_model(context: AssetExecutionContext, bf_ingest) -> dict:
    # the window's days that were materialized (a window of two days loads as a dict by day)
    started = time.time()
    return _stamp(context, started, window=",".join(sorted(bf_ingest or {})))


@asset(partitions_def=PARTITIONS)
def bf_product(context: AssetExecutionContext, bf_ingest: dict, bf_model: dict) -> dict:
    started = time.time()
    return _stamp(context, started)


ASSETS = [bf_ingest, bf_side, bf_model, bf_product]
STEPS = {a.key.path[0] for a in ASSETS}
# as orchestration.jobs builds the daily job: each day's run carries its queue priority
bf_job = define_asset_job("bf_job", selection=ASSETS, config=in_day_order(PARTITIONS))
defs = Definitions(
    assets=ASSETS,
    jobs=[bf_job],
    resources={
        "io_manager": FilesystemIOManager(
            base_dir=os.environ.get(STORAGE_ENV, "/tmp/rainfuse-bf-storage")
        )
    },
)

# ---------------------------------------------------------------------------------------------


def _forkserver_run_config(module: str) -> dict:
    return {
        "execution": {
            "config": {
                "multiprocess": {
                    "max_concurrent": 2,
                    "start_method": {"forkserver": {"preload_modules": [module]}},
                }
            }
        }
    }


def test_submission_queues_one_run_per_day_of_the_whole_job(tmp_path, monkeypatch, capsys):
    import logging

    from dagster import DagsterInstance, RunsFilter
    from dagster._core.events import DagsterEvent, DagsterEventType
    from dagster._core.execution.job_backfill import execute_job_backfill_iteration
    from dagster._core.remote_origin import InProcessCodeLocationOrigin
    from dagster._core.test_utils import create_test_daemon_workspace_context
    from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
    from dagster._core.workspace.load_target import InProcessWorkspaceLoadTarget
    from dagster._daemon.run_coordinator.queued_run_coordinator_daemon import (
        QueuedRunCoordinatorDaemon,
    )

    from bench.services import dagster_home
    from orchestration.commands.backfill import main

    here = Path(__file__)
    monkeypatch.setenv("DAGSTER_HOME", str(dagster_home(tmp_path, "local")))
    argv = ["--start", DAYS[0], "--end", DAYS[-1], "--job", "bf_job"]
    assert main([*argv, "--definitions", f"{here.stem}:defs", "--location", LOCATION]) == 0
    backfill_id = capsys.readouterr().out.strip()
    origin = InProcessCodeLocationOrigin(
        LoadableTargetOrigin(python_file=str(here), attribute="defs"), location_name=LOCATION
    )
    with (
        DagsterInstance.get() as instance,
        create_test_daemon_workspace_context(
            InProcessWorkspaceLoadTarget(origin), instance
        ) as workspace,
    ):
        backfill = instance.get_backfill(backfill_id)
        assert backfill.partition_names == DAYS and backfill.asset_selection is None
        # the daemon's backfill tick, here: it creates the runs and hands them to the queue
        execute_job_backfill_iteration(
            backfill, logging.getLogger("test"), workspace, None, instance
        )
        runs = instance.get_runs(filters=RunsFilter(tags={"dagster/backfill": backfill_id}))
        by_day = {run.tags["dagster/partition"]: run for run in runs}
        assert sorted(by_day) == DAYS and len(runs) == len(DAYS)  # one run per day
        for run in runs:
            assert run.status.value == "QUEUED"
            plan = instance.get_execution_plan_snapshot(run.execution_plan_snapshot_id)
            assert {step.key for step in plan.steps} == STEPS  # the whole job
            assert run.step_keys_to_execute is None and run.asset_selection is None
            assert run.run_config == _forkserver_run_config(here.stem)
            assert run.tags["rainfuse/backfill_chain"] == LOCATION
        # earlier days rank higher in the queue
        priorities = [int(by_day[day].tags["dagster/priority"]) for day in DAYS]
        assert priorities == sorted(priorities, reverse=True)
        # the queue starts the first day alone, and nothing else while it runs
        queue = QueuedRunCoordinatorDaemon(interval_seconds=1)
        config = instance.get_concurrency_config()
        (first,) = queue._get_runs_to_dequeue(instance, config, None)
        assert first.run_id == by_day[DAYS[0]].run_id
        start = DagsterEvent(DagsterEventType.RUN_START.value, job_name="bf_job")
        instance.report_dagster_event(start, run_id=first.run_id)
        assert queue._get_runs_to_dequeue(instance, config, None) == []


def _failures(instance, runs) -> str:
    """The failure events of ``runs`` (what went wrong, for the assertion message)."""
    lines = []
    for run in runs:
        for event in instance.all_logs(run.run_id):
            kind = event.dagster_event.event_type_value if event.dagster_event else ""
            if "FAILURE" in kind or kind == "ENGINE_EVENT":
                lines.append(f"{run.tags.get('dagster/partition')} {kind}: {event.message}")
                error = getattr(event.dagster_event.event_specific_data, "error", None)
                if error is not None:
                    lines.append(error.to_string()[-1500:])
    return "\n".join(lines)


def test_one_run_per_day_in_date_order_with_forked_steps(tmp_path, monkeypatch, capsys):
    from dagster import AssetKey, DagsterInstance, RunsFilter

    from bench.services import (
        BIN,
        PROJECT_ROOT,
        dagster_home,
        start_process,
        stop_process,
        tail,
        write_workspace,
    )
    from orchestration.commands.backfill import main

    home = dagster_home(tmp_path, "local")
    here = Path(__file__)
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "RAINFUSE_PROFILE": "local",
        STORAGE_ENV: str(tmp_path / "storage"),
        "PYTHONPATH": os.pathsep.join([str(here.parent), str(PROJECT_ROOT)]),
    }
    workspace = write_workspace(tmp_path, here, LOCATION)
    # submitted first: the daemon's first backfill tick (at its start) launches it
    argv = ["--start", DAYS[0], "--end", DAYS[-1], "--job", "bf_job"]
    argv += ["--definitions", f"{here.stem}:defs", "--workspace", str(workspace)]
    assert main(argv) == 0
    out, err = capsys.readouterr()
    backfill_id = out.strip()
    assert f"one run per day of the whole job at code location {LOCATION}, in date order" in err
    daemon = start_process(
        [str(BIN / "dagster-daemon"), "run", "-w", str(workspace)], env, tmp_path / "daemon.log"
    )
    instance = DagsterInstance.get()
    try:
        by_backfill = RunsFilter(tags={"dagster/backfill": backfill_id})
        deadline = time.monotonic() + 120
        runs = []
        while time.monotonic() < deadline:
            assert daemon.poll() is None, tail(daemon.log_path)
            runs = instance.get_runs(filters=by_backfill)
            if len(runs) == len(DAYS) and all(r.is_finished for r in runs):
                break
            time.sleep(0.5)
        failed = [r for r in runs if r.status.value != "SUCCESS"]
        assert len(runs) == len(DAYS) and not failed, (
            _failures(instance, failed) + "\n--- daemon log ---\n" + tail(daemon.log_path, 3000)
        )

        # one run per day, each executing every step of the job, with the executor's run config
        records = sorted(
            instance.get_run_records(filters=by_backfill),
            key=lambda r: r.dagster_run.tags["dagster/partition"],
        )
        assert [r.dagster_run.tags["dagster/partition"] for r in records] == DAYS
        for record in records:
            run = record.dagster_run
            assert run.job_name == "bf_job" and run.asset_selection is None
            stats = instance.get_run_step_stats(run.run_id)
            assert {s.step_key for s in stats} == STEPS
            assert {s.status.value for s in stats} == {"SUCCESS"}
            assert run.run_config == _forkserver_run_config(here.stem)
            assert run.tags["rainfuse/backfill_chain"] == LOCATION
        # in date order, one at a time: each day started after the previous day's run ended
        for earlier, later in zip(records, records[1:], strict=False):
            assert later.start_time >= earlier.end_time, (earlier.dagster_run, later.dagster_run)

        def metadata(name: str) -> dict[str, dict]:
            found = instance.fetch_materializations(AssetKey(name), limit=50).records
            return {
                r.asset_materialization.partition: {
                    k: v.value for k, v in r.asset_materialization.metadata.items()
                }
                for r in found
            }

        models = metadata("bf_model")
        # each model trained on the earlier days of the backfill that its window reaches
        assert models["2024-01-03"]["window"] == ""
        assert models["2024-01-04"]["window"] == "2024-01-03"
        assert models["2024-01-05"]["window"] == "2024-01-03,2024-01-04"
        steps = {name: metadata(name) for name in STEPS}
        for day in DAYS:
            # every step in its own process, forked from the run's forkserver
            assert {steps[name][day]["forked_by"] for name in STEPS} == {"forkserver"}
            assert len({steps[name][day]["pid"] for name in STEPS}) == len(STEPS)
        # two steps side by side: in every run the two without inputs ran at the same time
        for day in DAYS:
            assert steps["bf_ingest"][day]["met"] and steps["bf_side"][day]["met"], day
    finally:
        stop_process(daemon)
        instance.dispose()
