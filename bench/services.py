"""Minimal starters for the services the Celery benchmark needs, all on 127.0.0.1.

PostgreSQL (``initdb`` + ``pg_ctl`` on a free port, as the ``postgres`` user when run as root),
Redis (no persistence) and ``dagster-celery`` workers, each a context manager that stops what it
started (its own process group) and removes its folders. A missing server binary raises
:class:`ServiceUnavailable` naming the Debian package: the benchmark reports that instead of a
number; it installs nothing.

The operations tests have equivalent pytest fixtures in ``tests/integration/ops_services.py``;
these are kept free of pytest so that ``rainfuse bench`` can use them outside a test session.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class ServiceUnavailable(RuntimeError):
    """A service could not be started here (the message says which and why)."""


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(
    predicate: Callable[[], Any],
    timeout_s: float,
    what: str,
    process: subprocess.Popen | None = None,
    interval_s: float = 0.25,
) -> Any:
    """Poll ``predicate`` until truthy; raise :class:`ServiceUnavailable` naming ``what``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise ServiceUnavailable(f"{what}: exited with code {process.returncode}")
        try:
            value = predicate()
        except ServiceUnavailable:
            raise
        except Exception:  # noqa: BLE001 - not up yet (connection refused, ...)
            value = None
        if value:
            return value
        time.sleep(interval_s)
    raise ServiceUnavailable(f"{what}: not ready after {timeout_s:.0f} s")


def start_process(args: list[str], env: dict[str, str], log: Path, cwd: Path) -> subprocess.Popen:
    """Start ``args`` in a new session (its own process group), output appended to ``log``."""
    handle = open(log, "ab")  # noqa: SIM115 - owned by the process; closed in stop_process
    process = subprocess.Popen(
        args, cwd=cwd, env=env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
    )
    process._rainfuse_log = handle  # type: ignore[attr-defined]
    return process


def stop_process(process: subprocess.Popen, timeout_s: float = 20.0) -> None:
    """SIGTERM the process group, SIGKILL it after ``timeout_s``."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
    handle = getattr(process, "_rainfuse_log", None)
    if handle is not None:
        handle.close()


def _which(binary: str, package: str, extra_globs: tuple[str, ...] = ()) -> str:
    found = shutil.which(binary)
    if found:
        return found
    for pattern in extra_globs:
        matches = sorted(glob.glob(pattern))
        if matches:
            return matches[-1]
    raise ServiceUnavailable(f"{binary} not found: install {package}")


@dataclass(frozen=True)
class Postgres:
    """A running PostgreSQL server (trust authentication on loopback)."""

    host: str
    port: int
    user: str

    def create_database(self) -> str:
        import psycopg2

        name = f"bench_{uuid.uuid4().hex[:10]}"
        conn = psycopg2.connect(host=self.host, port=self.port, user=self.user, dbname="postgres")
        conn.autocommit = True
        with conn.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}"')
        conn.close()
        return name

    def env(self, db_name: str) -> dict[str, str]:
        """The variables the production and Celery profiles' dagster.yaml read."""
        return {
            "DAGSTER_PG_HOST": self.host,
            "DAGSTER_PG_PORT": str(self.port),
            "DAGSTER_PG_USER": self.user,
            "DAGSTER_PG_PASSWORD": "",
            "DAGSTER_PG_DB": db_name,
        }

    def query(self, db_name: str, sql: str, params: tuple = ()) -> list[tuple]:
        """Rows of one SQL query against ``db_name``."""
        import psycopg2

        conn = psycopg2.connect(host=self.host, port=self.port, user=self.user, dbname=db_name)
        try:
            with conn.cursor() as cursor:
                cursor.execute(sql, params)
                return cursor.fetchall()
        finally:
            conn.close()


@contextlib.contextmanager
def postgres_server(timeout_s: float = 90.0) -> Iterator[Postgres]:
    """A throw-away PostgreSQL cluster on a free loopback port (no fsync: benchmark only)."""
    pg_ctl = _which(
        "pg_ctl", "the Debian package postgresql", ("/usr/lib/postgresql/*/bin/pg_ctl",)
    )
    bin_dir = Path(os.path.realpath(pg_ctl)).parent
    root = Path(tempfile.mkdtemp(prefix="rainfuse-bench-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:
        # PostgreSQL refuses to run as root
        shutil.chown(root, "postgres", "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    port = free_port()
    data = root / "data"
    try:
        subprocess.run(
            [*as_user, str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres"]
            + ["--auth=trust", "--encoding=UTF8", "--no-sync"],
            check=True,
            capture_output=True,
            timeout=timeout_s,
        )
        options = (
            f"-p {port} -c listen_addresses=127.0.0.1 -k {root} -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        subprocess.run(
            [*as_user, str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(root / "server.log")]
            + ["-o", options, "-w", "-t", str(int(timeout_s)), "start"],
            check=True,
            capture_output=True,
            timeout=timeout_s + 10,
        )
    except (subprocess.SubprocessError, OSError) as error:
        shutil.rmtree(root, ignore_errors=True)
        raise ServiceUnavailable(f"PostgreSQL did not start: {error}") from error
    try:
        yield Postgres(host="127.0.0.1", port=port, user="postgres")
    finally:
        subprocess.run(
            [*as_user, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def redis_server(timeout_s: float = 30.0) -> Iterator[str]:
    """A Redis server on a free loopback port without persistence; yields its URL."""
    binary = _which("redis-server", "the Debian package redis-server")
    port = free_port()
    root = Path(tempfile.mkdtemp(prefix="rainfuse-bench-redis-"))
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    process = start_process([*args, "--dir", str(root)], dict(os.environ), root / "redis.log", root)
    try:
        import redis

        wait_until(
            lambda: redis.Redis(host="127.0.0.1", port=port).ping(), timeout_s, "redis", process
        )
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        stop_process(process)
        shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def celery_workers(
    count: int,
    env: dict[str, str],
    worker_yaml: Path,
    log_dir: Path,
    cwd: Path,
    queues: tuple[str, ...] = ("dagster", "gpu"),
    timeout_s: float = 120.0,
    preload: str | None = None,
) -> Iterator[list[subprocess.Popen]]:
    """``count`` dagster-celery workers, one process each (``--pool=solo``), on ``queues``.

    Yields once every worker answers a ping on the broker (``RAINFUSE_CELERY_BROKER`` in ``env``).
    ``preload`` names a module each worker imports at start (the code location), as long-running
    workers have it loaded already.
    """
    beside = Path(sys.executable).parent / "dagster-celery"
    executable = (
        str(beside)
        if beside.exists()
        else _which("dagster-celery", "rainfuse[ops] (dagster-celery)")
    )
    workers: list[subprocess.Popen] = []
    try:
        for k in range(count):
            name = f"bench{k + 1}-{uuid.uuid4().hex[:6]}@%h"
            args = [executable, "worker", "start", "-A", "dagster_celery.app"]
            args += ["-y", str(worker_yaml), "-n", name, "-l", "INFO"]
            # one comma-separated -q: dagster-celery turns repeated -q into repeated celery -Q,
            # of which celery keeps only the last
            args += ["-q", ",".join(queues)]
            if preload:
                args += ["-i", preload]
            # solo pool: the step runs in the worker process itself; concurrency 1 so that the
            # worker reserves (prefetches) one task only, leaving the next to an idle worker
            args += ["--", "--pool=solo", "--concurrency=1", "--without-gossip", "--without-mingle"]
            log = log_dir / f"worker{k + 1}.log"
            workers.append(start_process(args, env, log, cwd))
        from celery import Celery

        broker = env["RAINFUSE_CELERY_BROKER"]
        app = Celery(broker=broker, backend=env.get("RAINFUSE_CELERY_BACKEND", broker))

        def all_answer() -> bool:
            for k, worker in enumerate(workers):
                if worker.poll() is not None:
                    log = (log_dir / f"worker{k + 1}.log").read_text(errors="replace")[-800:]
                    raise ServiceUnavailable(f"celery worker {k + 1} exited: {log}")
            return len(app.control.ping(timeout=1.0)) >= count

        wait_until(all_answer, timeout_s, f"{count} celery worker(s)", interval_s=1.0)
        yield workers
    finally:
        for worker in workers:
            stop_process(worker)
