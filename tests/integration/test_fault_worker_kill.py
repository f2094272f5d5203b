"""Fault: the Celery worker process running an ingest step is killed (SIGKILL) mid-step.

Real services on loopback: PostgreSQL holds the instance (the celery profile's dagster.yaml as
shipped), Redis is the broker and result backend, and one ``dagster-celery worker start`` worker
(``-y orchestration/deploy/celery/worker.yaml``, the default prefork pool, one process) executes
the steps. A day of a stand-in radar chain (``fault_radar_ingest`` -> ``fault_radar_product``,
defined below, stored by the project's IO manager in a folder every process shares) runs with the
celery profile's executor; while ``fault_radar_ingest`` runs, the test SIGKILLs the worker process
executing it, as the kernel's OOM killer would.

It proves that the step is delivered again and the partition completes in the same run, with
nothing lost and nothing twice: the run succeeds, the killed step started twice (in two worker
processes, the first of them dead) and succeeded once, every asset has exactly one
materialization, and the stored values have the checksums of a clean run's. This holds because
the celery profile acknowledges a task only after it ran (``task_acks_late``) and gives the task
back to the queue when the process running it dies (``task_reject_on_worker_lost``); without the
latter, Celery acknowledged the task, stored ``WorkerLostError`` as its result and the whole run
failed.

This module is also the code location the worker loads (by module name, as it would load
``orchestration.definitions``). Not covered: the death of a whole worker (its main process or
machine); its unacknowledged task comes back only after the Redis transport's
``visibility_timeout`` (one hour by default), too long for a test.
"""

from __future__ import annotations

import hashlib
import os
import signal
import threading
import time
import warnings
from pathlib import Path
from typing import Any

import pytest
from dagster import (
    DailyPartitionsDefinition,
    Definitions,
    asset,
    define_asset_job,
    in_process_executor,
)

from orchestration.executors import executor_for_profile
from orchestration.runtime.io_managers import UniversalIOManager

pytestmark = pytest.mark.integration

PARTITIONS = DailyPartitionsDefinition(start_date="2024-01-01", end_date="2024-02-01")
DAY = "2024-01-05"
STORAGE_ENV = "RAINFUSE_FAULT_STORAGE"
MARKERS_ENV = "RAINFUSE_FAULT_MARKERS"
#: how long the ingest step works: time for the test to see it started and kill it
INGEST_SECONDS = 1.5


@asset(group_name="ingest", partitions_def=PARTITIONS, kinds={"python"})
def fault_radar_ingest(context) -> dict:
    """Stand-in ground-radar ingest: says which process runs it, works a while, returns a day."""
    markers = os.environ.get(MARKERS_ENV)
    if markers:  # in the faulted run, not the clean one
        # all in the name (nothing to read half-written): pid, then a unique stamp
        Path(markers, f"ingest-{os.getpid()}-{time.monotonic_ns()}").touch()
        time.sleep(INGEST_SECONDS)
    day = context.partition_key
    return {"day": day, "volumes": 240, "rain_mm": [round(0.1 * i, 1) for i in range(24)]}


@asset(group_name="products", partitions_def=PARTITIONS, kinds={"python"})
def fault_radar_product(fault_radar_ingest: dict) -> dict:
    return {
        "day": fault_radar_ingest["day"],
        "total_mm": round(sum(fault_radar_ingest["rain_mm"]), 1),
    }


ASSETS = [fault_radar_ingest, fault_radar_product]


def _defs(executor: Any) -> Definitions:
    job = define_asset_job("fault_radar_job", selection=ASSETS, executor_def=executor)
    return Definitions(
        assets=ASSETS,
        jobs=[job],
        resources={
            "io_manager": UniversalIOManager(
                base_url=os.environ.get(STORAGE_ENV, "/tmp/rainfuse-fault-storage")
            )
        },
    )


def fault_radar_job_celery():
    """The job with the celery profile's executor (what the worker reconstructs)."""
    return _defs(executor_for_profile("celery")).resolve_job_def("fault_radar_job")


# ---------------------------------------------------------------------------------------------


def _checksums(base: Path) -> dict[str, str]:
    return {
        str(p.relative_to(base)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(base.rglob("*"))
        if p.is_file()
    }


def _start_worker(env: dict[str, str], folder: Path):
    """Start one prefork worker (one pool process) on queue ``dagster``; it imports this module
    at start, before forking its pool process, as a long-running worker has its code loaded."""
    from bench.services import BIN, DEPLOY_DIR, start_process

    args = [
        str(BIN / "dagster-celery"), "worker", "start", "-A", "dagster_celery.app",
        "-y", str(DEPLOY_DIR / "celery" / "worker.yaml"), "-n", "cpu@%h", "-l", "INFO",
        "-q", "dagster", "-i", Path(__file__).stem, "--", "--pool=prefork", "--concurrency=1",
        "--without-gossip", "--without-mingle", "--without-heartbeat",
    ]  # fmt: skip
    path = os.pathsep.join([str(BIN), env.get("PATH", "")])
    return start_process(args, {**env, "PATH": path}, folder / "worker.log")


def _wait_for_worker(worker, broker: str) -> None:
    from celery import Celery

    from bench.services import ServiceUnavailable, tail, wait_until

    app = Celery(broker=broker)

    def answers() -> bool:
        if worker.poll() is not None:
            raise ServiceUnavailable(f"celery worker exited: {tail(worker.log_path, 1500)}")
        return bool(app.control.ping(timeout=0.5))

    wait_until(answers, 90, "celery worker", interval_s=0.25)


def test_killed_worker_step_is_redelivered_and_partition_completes(
    postgres_server, redis_url, tmp_path, monkeypatch
):
    from dagster import (
        AssetKey,
        DagsterEventType,
        DagsterInstance,
        DagsterRunStatus,
        execute_job,
        materialize,
        reconstructable,
    )

    from bench.services import PROJECT_ROOT, dagster_home, stop_process, tail

    # a Redis database of its own: nothing of this test reaches the other tests' workers
    broker = redis_url.rsplit("/", 1)[0] + "/7"
    storage = tmp_path / "storage"
    markers = tmp_path / "markers"
    markers.mkdir()
    db = postgres_server.create_database()
    home = dagster_home(tmp_path, "celery")
    env = {
        **postgres_server.env(db),
        "DAGSTER_HOME": str(home),
        "RAINFUSE_PROFILE": "celery",
        "RAINFUSE_CELERY_BROKER": broker,
        "RAINFUSE_CELERY_BACKEND": broker,
        STORAGE_ENV: str(storage),
        MARKERS_ENV: str(markers),
        "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), str(PROJECT_ROOT)]),
    }
    worker = _start_worker({**os.environ, **env}, tmp_path)
    try:
        # the clean run, in process into its own folder, while the worker starts
        clean_base = tmp_path / "clean"
        monkeypatch.setenv(STORAGE_ENV, str(clean_base))
        with warnings.catch_warnings(), DagsterInstance.ephemeral() as scratch:
            warnings.simplefilter("ignore")
            assert materialize(
                ASSETS, partition_key=DAY, resources=_defs(in_process_executor).resources,
                instance=scratch,
            ).success  # fmt: skip
        clean = _checksums(clean_base)
        _wait_for_worker(worker, broker)
    except BaseException:
        stop_process(worker)
        raise
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    killed: list[int] = []

    def kill_first_ingest() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not killed:
            started = list(markers.glob("ingest-*"))
            if started:
                pid = int(started[0].name.split("-")[1])
                time.sleep(0.3)  # well inside the step
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
            time.sleep(0.05)

    killer = threading.Thread(target=kill_first_ingest, daemon=True)
    killer.start()
    instance = DagsterInstance.from_config(str(home))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = execute_job(
                reconstructable(fault_radar_job_celery),
                instance=instance,
                tags={"dagster/partition": DAY},
                raise_on_error=False,
            )
        killer.join(timeout=5)
        run = instance.get_run_by_id(result.run_id)
        log = tail(worker.log_path, 4000)
        assert killed, "the ingest step never started: " + log
        assert run.status == DagsterRunStatus.SUCCESS, log
        # the worker saw its process die, and the step started again in another one
        full_log = worker.log_path.read_text(errors="replace")
        assert f"pid:{killed[0]} exited with 'signal 9 (SIGKILL)'" in full_log, log
        pids = sorted(int(p.name.split("-")[1]) for p in markers.glob("ingest-*"))
        assert len(pids) == 2 and killed[0] in pids, (pids, log)

        def count(event_type, step_key=None) -> int:
            records = instance.all_logs(result.run_id, of_type=event_type)
            return sum(1 for r in records if step_key is None or r.step_key == step_key)

        assert count(DagsterEventType.STEP_START, "fault_radar_ingest") == 2
        assert count(DagsterEventType.STEP_SUCCESS, "fault_radar_ingest") == 1
        assert count(DagsterEventType.STEP_FAILURE) == 0
        for asset_def in ASSETS:
            key = asset_def.key
            records = instance.fetch_materializations(key, limit=10).records
            assert [r.partition_key for r in records] == [DAY], key
        assert instance.get_materialized_partitions(AssetKey("fault_radar_product")) == {DAY}
        assert _checksums(storage) == clean
    finally:
        instance.dispose()
        stop_process(worker)
