"""Fault: PostgreSQL, the instance's storage, restarts in the middle of a backfill.

Real services on loopback: the production profile's instance (its dagster.yaml as shipped:
PostgreSQL storage, queued runs, run monitoring, run retries) and a real ``dagster-daemon`` that
launches the backfill's runs. A 6-day backfill of a stand-in chain (``pg_ingest`` ->
``pg_product``, defined below: 3 days per run, so two runs side by side, steps in the run
process, values stored by the project's IO manager) is submitted with ``rainfuse backfill``'s own
function; as soon as a run is executing its steps, the test stops PostgreSQL
(``pg_ctl stop -m fast``: every connection is closed), keeps it down for :data:`DOWN_SECONDS`,
and starts it again on the same port.

It proves that the backfill completes, that every partition of every asset was materialized
exactly once (materialization events counted per partition in PostgreSQL), and that the stored
values have the checksums of a clean run's; and that the outage was felt (a run was executing,
and the storage's connection retries are in the daemon's log, which the run workers share).

The daemon runs with its backfill loop ticking every 2 s instead of 30 s and its run queue every
1 s instead of 5 s (set before it starts), so that the test fits the suite's time budget; nothing
else is changed.

This module is also the code location the daemon and the runs load (by file).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import shlex
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import pytest
from dagster import (
    BackfillPolicy,
    DailyPartitionsDefinition,
    Definitions,
    asset,
    define_asset_job,
    in_process_executor,
)

from orchestration.runtime.io_managers import UniversalIOManager

pytestmark = pytest.mark.integration

PARTITIONS = DailyPartitionsDefinition(start_date="2024-01-01", end_date="2024-02-01")
POLICY = BackfillPolicy.multi_run(max_partitions_per_run=3)
START, END = "2024-01-01", "2024-01-06"
DAYS = [f"2024-01-{day:02d}" for day in range(1, 7)]
STORAGE_ENV = "RAINFUSE_FAULT_STORAGE"
MARKERS_ENV = "RAINFUSE_FAULT_MARKERS"
STEP_SECONDS = 1.0
DOWN_SECONDS = 3.0


def _per_partition(context, make) -> Any:
    keys = list(context.partition_keys)
    values = {key: make(key) for key in keys}
    return values[keys[0]] if len(keys) == 1 else values


def _work(name: str) -> None:
    """In the backfill (not the clean run): say that the step started, then work a while."""
    markers = os.environ.get(MARKERS_ENV)
    if markers:
        Path(markers, f"{name}-{os.getpid()}-{time.monotonic_ns()}").touch()
        time.sleep(STEP_SECONDS)


@asset(group_name="ingest", partitions_def=PARTITIONS, backfill_policy=POLICY)
def pg_ingest(context) -> Any:
    _work("ingest")
    return _per_partition(context, lambda key: {"day": key, "rain_mm": float(int(key[-2:]) % 5)})


@asset(group_name="products", partitions_def=PARTITIONS, backfill_policy=POLICY)
def pg_product(context, pg_ingest: Any) -> Any:
    _work("product")
    rain = pg_ingest if len(context.partition_keys) > 1 else {context.partition_key: pg_ingest}
    return _per_partition(context, lambda key: {"day": key, "mm": rain[key]["rain_mm"] * 1.5})


ASSETS = [pg_ingest, pg_product]
pg_job = define_asset_job("pg_job", selection=ASSETS)
defs = Definitions(
    assets=ASSETS,
    jobs=[pg_job],
    resources={
        "io_manager": UniversalIOManager(
            base_url=os.environ.get(STORAGE_ENV, "/tmp/rainfuse-fault-storage")
        )
    },
    executor=in_process_executor,
)

# ---------------------------------------------------------------------------------------------

DAEMON = (
    "import sys\n"
    "import dagster._daemon.controller as controller\n"
    "from dagster._core.run_coordinator import QueuedRunCoordinator\n"
    "controller.DEFAULT_DAEMON_INTERVAL_SECONDS = 2\n"
    "QueuedRunCoordinator.dequeue_interval_seconds = property(lambda self: 1)\n"
    "from dagster._daemon.cli import main\n"
    "sys.argv[0] = 'dagster-daemon'\n"
    "sys.exit(main())\n"
)


def _checksums(base: Path) -> dict[str, str]:
    return {
        str(p.relative_to(base)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(base.rglob("*"))
        if p.is_file()
    }


class _PostgresRestart:
    """Stops the test PostgreSQL server and starts it again with the options it ran with."""

    def __init__(self, postgres_server) -> None:
        from bench.services import find_binary

        ((data,),) = postgres_server.query("postgres", "SHOW data_directory")
        self.data = Path(data)
        pg_ctl = find_binary("pg_ctl", "postgresql", ("/usr/lib/postgresql/*/bin/pg_ctl",))
        self.pg_ctl = str(Path(os.path.realpath(pg_ctl)))
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        # postmaster.opts: the server binary then its arguments, as the server was started
        words = shlex.split((self.data / "postmaster.opts").read_text())[1:]
        options = []
        skip = False
        for word in words:
            if skip:
                skip = False
                continue
            if word == "-D":
                skip = True
                continue
            options.append(word)
        self.options = " ".join(shlex.quote(word) for word in options)
        self.log = self.data.parent / "restart.log"

    def stop(self) -> None:
        subprocess.run(
            [*self.as_user, self.pg_ctl, "-D", str(self.data), "-m", "fast", "-w", "stop"],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip

    def start(self) -> None:
        subprocess.run(
            [*self.as_user, self.pg_ctl, "-D", str(self.data), "-l", str(self.log)]
            + ["-o", self.options, "-w", "-t", "60", "start"],
            check=True, capture_output=True, timeout=90,
        )  # fmt: skip


def test_postgres_restart_during_backfill_every_partition_once(postgres_server, tmp_path):
    from dagster import DagsterInstance, materialize

    from bench.services import (
        BIN,
        PROJECT_ROOT,
        dagster_home,
        start_process,
        stop_process,
        tail,
        write_workspace,
    )
    from orchestration.commands.backfill import submit_backfill

    storage = tmp_path / "storage"
    markers = tmp_path / "markers"
    markers.mkdir()
    db = postgres_server.create_database()
    home = dagster_home(tmp_path, "production")
    env = {
        **os.environ,
        **postgres_server.env(db),
        "DAGSTER_HOME": str(home),
        "RAINFUSE_PROFILE": "production",
        STORAGE_ENV: str(storage),
        MARKERS_ENV: str(markers),
        "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), str(PROJECT_ROOT)]),
    }
    restart = _PostgresRestart(postgres_server)
    # this process reads the instance; the markers and storage are for the backfill's runs only
    instance_env = {**postgres_server.env(db), "DAGSTER_HOME": str(home)}
    saved = {key: os.environ.get(key) for key in instance_env}
    os.environ.update(instance_env)
    instance = daemon = None
    try:
        # the instance's tables first, by one process (the daemon would race it to create them)
        instance = DagsterInstance.from_config(str(home))
        # the daemon starts (and loads this code location) while the clean run works
        workspace = write_workspace(tmp_path, Path(__file__), "rainfuse_fault_pg")
        daemon = start_process(
            [str(BIN / "python"), "-c", DAEMON, "run", "-w", str(workspace)],
            env,
            tmp_path / "daemon.log",
        )
        # the clean run: in process, one day at a time, into its own folder
        clean_base = tmp_path / "clean"
        clean_io = UniversalIOManager(base_url=str(clean_base))
        with warnings.catch_warnings(), DagsterInstance.ephemeral() as scratch:
            warnings.simplefilter("ignore")
            for day in DAYS:
                assert materialize(
                    ASSETS, partition_key=day, resources={"io_manager": clean_io}, instance=scratch
                ).success
        clean = _checksums(clean_base)

        backfill_id = submit_backfill(
            instance, sys.modules[__name__].defs, "pg_job",
            dt.date.fromisoformat(START), dt.date.fromisoformat(END),
        )  # fmt: skip
        # restart PostgreSQL once the backfill's runs are executing steps
        deadline = time.monotonic() + 120
        while not list(markers.glob("ingest-*")) and time.monotonic() < deadline:
            assert daemon.poll() is None, tail(daemon.log_path)
            time.sleep(0.1)
        assert list(markers.glob("ingest-*")), "no run started: " + tail(daemon.log_path)
        in_flight = [r.run_id for r in instance.get_runs() if r.status.value == "STARTED"]
        restart.stop()
        try:
            time.sleep(DOWN_SECONDS)
        finally:
            restart.start()  # the other tests share this server

        deadline = time.monotonic() + 180
        status = "REQUESTED"
        while time.monotonic() < deadline:
            try:
                status = instance.get_backfill(backfill_id).status.value
            except Exception:  # noqa: BLE001 - the instance reconnects on the next poll
                status = "UNREACHABLE"
            if status.startswith("COMPLETED") or status in ("FAILED", "CANCELED"):
                break
            time.sleep(0.5)
        runs = [(r.run_id[:8], r.status.value) for r in instance.get_runs()]
        assert status == "COMPLETED_SUCCESS", f"{status} {runs}\n{tail(daemon.log_path, 6000)}"
        # the outage hit running runs, and their storage calls waited for the server to return
        assert in_flight, "no run was executing when PostgreSQL stopped"
        assert "Retrying failed database connection" in daemon.log_path.read_text()
        counts: dict[tuple[str, str], int] = {}
        rows = postgres_server.query(
            db,
            "SELECT asset_key, partition, count(*) FROM event_logs "
            "WHERE dagster_event_type = 'ASSET_MATERIALIZATION' GROUP BY asset_key, partition",
        )
        for asset_key, partition, n in rows:
            counts[(asset_key, partition)] = n
        expected = {(f'["{a.key.path[0]}"]', day): 1 for a in ASSETS for day in DAYS}
        assert counts == expected
        assert _checksums(storage) == clean
    finally:
        if daemon is not None:
            stop_process(daemon)
        if instance is not None:
            instance.dispose()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
