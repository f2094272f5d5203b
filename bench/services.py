"""Real services on 127.0.0.1 for the Celery benchmark and the operations tests.

One module for both: ``bench.celery_scale`` uses it outside any test session, and the
integration tests (``tests/integration``) wrap it in pytest fixtures. Nothing here imports pytest.

- :func:`postgres_server`: a throw-away PostgreSQL cluster (``initdb`` + ``pg_ctl``, as the
  ``postgres`` user when run as root) on a free port, yielding a :class:`Postgres`;
- :func:`redis_server`: Redis without persistence on a free port, yielding its URL;
- :func:`celery_workers`: ``dagster-celery`` workers, one process each, until each answers a ping;
- :func:`start_process` / :func:`stop_process`: any other process (daemon, webserver) in its own
  process group, output to a log file, stopped with SIGTERM then SIGKILL;
- :func:`wait_until`, :func:`free_port`, :func:`tail`, :func:`dagster_home`,
  :func:`write_workspace`: the small helpers around them.

Every context manager stops what it started and removes its folders. A missing server binary
raises :class:`NotInstalled` naming the Debian package; with ``install=True`` (the tests, as CI on
a fresh machine does) it is installed first with ``apt-get`` when running as root. The benchmark
installs nothing: it reports the missing service instead of a number.
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
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestration.runtime.config import PROJECT_ROOT

#: The folder of this interpreter's console scripts (dagster, dagster-daemon, dagster-celery, ...).
BIN = Path(sys.executable).parent
DEPLOY_DIR = PROJECT_ROOT / "orchestration" / "deploy"
APT_TIMEOUT_S = 600


class ServiceUnavailable(RuntimeError):
    """A service could not be started here (the message says which and why)."""


class NotInstalled(ServiceUnavailable):
    """A server binary is missing and was not installed (the message names the package)."""


class ServiceTimeout(ServiceUnavailable, TimeoutError):
    """A service did not become ready in time."""


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(
    predicate: Callable[[], Any],
    timeout_s: float,
    what: str,
    *,
    process: subprocess.Popen | None = None,
    interval_s: float = 0.25,
) -> Any:
    """Poll ``predicate`` until it returns something truthy, and return that.

    Any exception from ``predicate`` counts as "not up yet" (connection refused, ...), except a
    :class:`RuntimeError` (such as :class:`ServiceUnavailable`), which ends the wait at once: a
    predicate raises one when a process it watches died. When ``process`` exits first, raises
    :class:`ServiceUnavailable`; after ``timeout_s``, :class:`ServiceTimeout` (a ``TimeoutError``).
    """
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise ServiceUnavailable(f"{what}: process exited with code {process.returncode}")
        try:
            value = predicate()
        except RuntimeError:
            raise
        except Exception:  # noqa: BLE001 - not up yet
            value = None
        if value:
            return value
        time.sleep(interval_s)
    raise ServiceTimeout(f"{what}: not ready after {timeout_s:.0f} s")


def start_process(
    args: Sequence[str], env: Mapping[str, str], log: Path, cwd: Path = PROJECT_ROOT
) -> subprocess.Popen:
    """Start ``args`` in a new session (its own process group, so that every child stops with it).

    Output (stdout and stderr) is appended to ``log``; the process's ``log_path`` attribute names
    it. Stop it with :func:`stop_process`, which also closes the log.
    """
    handle = open(log, "ab")  # noqa: SIM115 - owned by the process; closed in stop_process
    process = subprocess.Popen(
        list(args),
        cwd=cwd,
        env=dict(env),
        stdout=handle,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    process.log_path = Path(log)  # type: ignore[attr-defined]
    process._rainfuse_log = handle  # type: ignore[attr-defined]
    return process


def stop_process(process: subprocess.Popen, timeout_s: float = 20.0) -> None:
    """SIGTERM the process group, SIGKILL it after ``timeout_s``; close its log."""
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


def tail(path: Path, n_chars: int = 3000) -> str:
    """The end of a log file (or a note that there is none)."""
    try:
        return Path(path).read_text(errors="replace")[-n_chars:]
    except OSError:
        return f"<no log at {path}>"


# ---------------------------------------------------------------------------------------------
# Server binaries


def apt_install(packages: Sequence[str]) -> None:
    """``apt-get install`` Debian ``packages`` (root only: else :class:`NotInstalled`)."""
    wanted = " ".join(packages)
    if os.geteuid() != 0:
        raise NotInstalled(f"{wanted} missing and not root: apt-get install {wanted}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(
        ["apt-get", "update", "-qq"],
        check=False,
        env=env,
        timeout=APT_TIMEOUT_S,
        capture_output=True,
    )
    result = subprocess.run(
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages],
        env=env,
        timeout=APT_TIMEOUT_S,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise ServiceUnavailable(f"apt-get install {wanted} failed:\n{result.stderr[-2000:]}")


def find_binary(
    binary: str, package: str, extra_globs: Sequence[str] = (), install: bool = False
) -> str:
    """The path of ``binary``: on PATH, else the newest match of ``extra_globs``.

    When it is missing, ``install`` installs the Debian ``package`` first (see
    :func:`apt_install`); otherwise :class:`NotInstalled` names the package.
    """

    def find() -> str | None:
        found = shutil.which(binary)
        if found:
            return found
        for pattern in extra_globs:
            matches = sorted(glob.glob(pattern))
            if matches:
                return matches[-1]
        return None

    found = find()
    if found is None and install:
        apt_install([package])
        found = find()
        if found is None:
            raise ServiceUnavailable(f"{package} installed but no {binary} found")
    if found is None:
        raise NotInstalled(f"{binary} not found: apt-get install {package}")
    return found


# ---------------------------------------------------------------------------------------------
# PostgreSQL and Redis


@dataclass(frozen=True)
class Postgres:
    """A running PostgreSQL server (trust authentication on loopback)."""

    host: str
    port: int
    user: str

    def create_database(self) -> str:
        """A new, empty database; returns its name."""
        import psycopg2

        name = f"rainfuse_{uuid.uuid4().hex[:10]}"
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


def _run_checked(args: list[str], timeout_s: float, what: str) -> None:
    try:
        subprocess.run(args, check=True, capture_output=True, timeout=timeout_s)
    except subprocess.CalledProcessError as error:
        stderr = (error.stderr or b"").decode(errors="replace")[-1500:]
        raise ServiceUnavailable(f"{what} failed (exit {error.returncode}): {stderr}") from error
    except (subprocess.SubprocessError, OSError) as error:
        raise ServiceUnavailable(f"{what} failed: {error}") from error


@contextlib.contextmanager
def postgres_server(timeout_s: float = 120.0, install: bool = False) -> Iterator[Postgres]:
    """A throw-away PostgreSQL cluster on a free loopback port (no fsync: tests and benchmarks).

    Debian keeps ``initdb``/``pg_ctl`` out of PATH, under ``/usr/lib/postgresql/<version>/bin``.
    """
    pg_ctl = find_binary(
        "pg_ctl", "postgresql", ("/usr/lib/postgresql/*/bin/pg_ctl",), install=install
    )
    bin_dir = Path(os.path.realpath(pg_ctl)).parent
    root = Path(tempfile.mkdtemp(prefix="rainfuse-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:
        # PostgreSQL refuses to run as root: run it as the packaged "postgres" user
        shutil.chown(root, "postgres", "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    port = free_port()
    data = root / "data"
    try:
        _run_checked(
            [*as_user, str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres"]
            + ["--auth=trust", "--encoding=UTF8", "--no-sync"],
            timeout_s,
            "PostgreSQL initdb",
        )
        options = (
            f"-p {port} -c listen_addresses=127.0.0.1 -k {root} -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        _run_checked(
            [*as_user, str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(root / "server.log")]
            + ["-o", options, "-w", "-t", str(int(timeout_s)), "start"],
            timeout_s + 10,
            "PostgreSQL start",
        )
    except ServiceUnavailable:
        shutil.rmtree(root, ignore_errors=True)
        raise
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
def redis_server(timeout_s: float = 30.0, install: bool = False) -> Iterator[str]:
    """A Redis server on a free loopback port without persistence; yields its URL."""
    binary = find_binary("redis-server", "redis-server", install=install)
    port = free_port()
    root = Path(tempfile.mkdtemp(prefix="rainfuse-redis-"))
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    process = start_process([*args, "--dir", str(root)], os.environ, root / "redis.log", root)
    try:
        import redis

        wait_until(
            lambda: redis.Redis(host="127.0.0.1", port=port).ping(),
            timeout_s,
            "redis",
            process=process,
        )
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        stop_process(process)
        shutil.rmtree(root, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# Dagster processes


@contextlib.contextmanager
def celery_workers(
    queues: Mapping[str, Sequence[str]],
    env: Mapping[str, str],
    worker_yaml: Path,
    log_dir: Path,
    *,
    cwd: Path = PROJECT_ROOT,
    preload: str | None = None,
    timeout_s: float = 120.0,
) -> Iterator[dict[str, subprocess.Popen]]:
    """``dagster-celery`` workers, one process each (``--pool=solo``): ``{name: its queues}``.

    Worker ``name`` logs to ``log_dir/worker_<name>.log`` and sees its name in
    ``RAINFUSE_WORKER_NAME``. Yields ``{name: process}`` once every worker answers a ping on the
    broker (``RAINFUSE_CELERY_BROKER`` in ``env``), and stops them all on exit. ``preload`` names
    a module each worker imports at start (the code location), as long-running workers have it
    loaded already.
    """
    beside = BIN / "dagster-celery"
    executable = str(beside) if beside.exists() else shutil.which("dagster-celery")
    if executable is None:
        raise NotInstalled("dagster-celery not found: pip install 'rainfuse[ops]'")
    # dagster-celery starts `celery` by name: the folder of the executable must be on PATH
    path = env.get("PATH", "")
    folder = str(Path(executable).parent)
    if folder not in path.split(os.pathsep):
        path = os.pathsep.join([folder, path]) if path else folder
    workers: dict[str, subprocess.Popen] = {}
    try:
        for name, worker_queues in queues.items():
            args = [executable, "worker", "start", "-A", "dagster_celery.app"]
            args += ["-y", str(worker_yaml), "-n", f"{name}@%h", "-l", "INFO"]
            # one comma-separated -q: dagster-celery turns repeated -q into repeated celery -Q,
            # of which celery keeps only the last
            args += ["-q", ",".join(worker_queues)]
            if preload:
                args += ["-i", preload]
            # solo pool: the step runs in the worker process itself; concurrency 1 so that the
            # worker reserves (prefetches) one task only, leaving the next to an idle worker
            args += ["--", "--pool=solo", "--concurrency=1", "--without-gossip", "--without-mingle"]
            worker_env = {**env, "PATH": path, "RAINFUSE_WORKER_NAME": name}
            workers[name] = start_process(args, worker_env, log_dir / f"worker_{name}.log", cwd)
        from celery import Celery

        broker = env["RAINFUSE_CELERY_BROKER"]
        app = Celery(broker=broker, backend=env.get("RAINFUSE_CELERY_BACKEND", broker))

        def all_answer() -> bool:
            for name, worker in workers.items():
                if worker.poll() is not None:
                    raise ServiceUnavailable(
                        f"celery worker {name} exited: {tail(worker.log_path, 800)}"
                    )
            replies = app.control.ping(timeout=1.0)
            return {node.split("@")[0] for reply in replies for node in reply} >= set(workers)

        try:
            wait_until(all_answer, timeout_s, f"{len(workers)} celery worker(s)", interval_s=1.0)
        except ServiceTimeout as error:
            logs = "\n".join(f"--- {n} ---\n{tail(w.log_path, 800)}" for n, w in workers.items())
            raise ServiceTimeout(f"{error}\n{logs}") from None
        yield workers
    finally:
        for worker in workers.values():
            stop_process(worker)


def dagster_home(folder: Path, profile: str) -> Path:
    """A DAGSTER_HOME under ``folder`` holding the deployment ``profile``'s dagster.yaml as is."""
    home = folder / f"dagster_home_{profile}"
    home.mkdir(parents=True, exist_ok=True)
    shutil.copy(DEPLOY_DIR / profile / "dagster.yaml", home / "dagster.yaml")
    return home


def write_workspace(
    folder: Path, python_file: Path, location_name: str, working_directory: Path = PROJECT_ROOT
) -> Path:
    """A ``folder/workspace.yaml`` that loads one code location from ``python_file``."""
    workspace = folder / "workspace.yaml"
    workspace.write_text(
        "load_from:\n"
        f"  - python_file:\n      relative_path: {python_file}\n"
        f"      working_directory: {working_directory}\n      location_name: {location_name}\n"
    )
    return workspace
