"""Real services on 127.0.0.1 for the operations tests: PostgreSQL, Redis, and helpers to run
Dagster processes (daemon, webserver, Celery workers) that always stop, bounded in time.

A missing server binary is installed from Debian's packages when the tests run as root (as CI
does on a fresh machine); elsewhere the test skips and names the package to install.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestration.bench.services import Postgres, free_port, stop_process

REPO = Path(__file__).resolve().parents[2]

BIN = Path(sys.executable).parent
LOCATION_FILE = Path(__file__).with_name("ops_location.py")
APT_TIMEOUT_S = 600


def wait_for(predicate, timeout_s: float, what: str, interval_s: float = 0.25, process=None):
    """Poll ``predicate`` until truthy; fail naming ``what`` (and the dead process) otherwise."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{what}: process exited with code {process.returncode}")
        try:
            value = predicate()
        except RuntimeError:
            raise  # a dead process: no point in waiting
        except Exception:
            value = None  # not up yet (connection refused, ...)
        if value:
            return value
        time.sleep(interval_s)
    raise TimeoutError(f"{what}: not ready after {timeout_s:.0f} s")


def apt_install(packages: list[str], binary: str) -> None:
    """Install Debian packages when ``binary`` is missing (root only; else skip with the reason)."""
    if os.geteuid() != 0:
        pytest.skip(f"{binary} is missing and not root: apt-get install {' '.join(packages)}")
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
        raise RuntimeError(f"apt-get install {' '.join(packages)} failed:\n{result.stderr[-2000:]}")


def postgres_bin_dir() -> Path:
    """The folder with initdb/pg_ctl (Debian keeps them out of PATH), installing when absent."""

    def find() -> Path | None:
        on_path = shutil.which("pg_ctl")
        if on_path:
            return Path(os.path.realpath(on_path)).parent
        candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
        return Path(candidates[-1]).parent if candidates else None

    found = find()
    if found is None:
        apt_install(["postgresql"], "pg_ctl")
        found = find()
    if found is None:
        raise RuntimeError("postgresql installed but no pg_ctl found")
    return found


def require_binary(binary: str, package: str) -> str:
    path = shutil.which(binary)
    if path is None:
        apt_install([package], binary)
        path = shutil.which(binary)
    if path is None:
        raise RuntimeError(f"{package} installed but {binary} is not on PATH")
    return path


def start_process(args: list[str], env: dict[str, str], log: Path, cwd: Path = REPO):
    """Start ``args`` in its own process group (so every child stops with it), output to ``log``."""
    handle = open(log, "wb")  # noqa: SIM115 (closed with the process by the caller's fixture)
    process = subprocess.Popen(
        args, cwd=cwd, env=env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
    )
    process.log_path = log  # type: ignore[attr-defined]
    return process


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Postgres]:
    """A throw-away PostgreSQL cluster (initdb + pg_ctl) on a free loopback port."""
    bin_dir = postgres_bin_dir()
    root = Path(tempfile.mkdtemp(prefix="rainfuse-pg-"))
    data = root / "data"
    as_user: list[str] = []
    if os.geteuid() == 0:
        # PostgreSQL refuses to run as root: run it as the packaged "postgres" user.
        shutil.chown(root, "postgres", "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    port = free_port()
    subprocess.run(
        [
            *as_user,
            str(bin_dir / "initdb"),
            "-D",
            str(data),
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--no-sync",
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    options = (
        f"-p {port} -c listen_addresses=127.0.0.1 -k {root} -c fsync=off "
        "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
    )
    subprocess.run(
        [
            *as_user,
            str(bin_dir / "pg_ctl"),
            "-D",
            str(data),
            "-l",
            str(root / "server.log"),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            "start",
        ],
        check=True,
        capture_output=True,
        timeout=90,
    )
    try:
        yield Postgres(host="127.0.0.1", port=port, user="postgres")
    finally:
        subprocess.run(
            [*as_user, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A Redis server on a free loopback port (no persistence); yields its URL."""
    binary = require_binary("redis-server", "redis-server")
    port = free_port()
    root = Path(tempfile.mkdtemp(prefix="rainfuse-redis-"))
    process = start_process(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(root),
        ],
        env=dict(os.environ),
        log=root / "redis.log",
        cwd=root,
    )
    try:
        import redis

        wait_for(
            lambda: redis.Redis(host="127.0.0.1", port=port).ping(), 30, "redis", process=process
        )
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        stop_process(process)
        shutil.rmtree(root, ignore_errors=True)


def write_workspace(folder: Path) -> Path:
    """A workspace.yaml that loads the tiny operations code location by file."""
    workspace = folder / "workspace.yaml"
    workspace.write_text(
        "load_from:\n"
        f"  - python_file:\n      relative_path: {LOCATION_FILE}\n"
        f"      working_directory: {REPO}\n      location_name: rainfuse_ops\n"
    )
    return workspace


def dagster_home(folder: Path, profile: str) -> Path:
    """A DAGSTER_HOME holding the given deployment profile's dagster.yaml, unchanged."""
    home = folder / f"dagster_home_{profile}"
    home.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "orchestration" / "deploy" / profile / "dagster.yaml", home / "dagster.yaml")
    return home


def tail(path: Path, n_chars: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-n_chars:]
    except OSError:
        return f"<no log at {path}>"
