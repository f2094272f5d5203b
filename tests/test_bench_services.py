"""The services module shared by the Celery benchmark and the integration tests, without services:
waiting, process groups, missing binaries, instance folders; and ``rainfuse bench`` finding the
checkout's ``bench`` folder."""

from __future__ import annotations

import sys

import pytest

from bench import services as S
from orchestration import cli


def test_wait_until_returns_the_value_or_says_what_timed_out() -> None:
    calls = iter([None, ConnectionRefusedError(), "up"])

    def probe():
        value = next(calls)
        if isinstance(value, Exception):
            raise value
        return value

    assert S.wait_until(probe, 5, "probe", interval_s=0.01) == "up"
    with pytest.raises(TimeoutError, match="never: not ready after 0 s"):
        S.wait_until(lambda: False, 0.05, "never", interval_s=0.01)
    # the benchmark catches ServiceUnavailable, the tests TimeoutError: a timeout is both
    assert issubclass(S.ServiceTimeout, S.ServiceUnavailable)


def test_wait_until_stops_at_a_dead_process_or_a_runtime_error(tmp_path) -> None:
    dead = S.start_process([sys.executable, "-c", "pass"], {}, tmp_path / "dead.log")
    dead.wait(timeout=30)
    with pytest.raises(S.ServiceUnavailable, match="exited with code 0"):
        S.wait_until(lambda: False, 30, "server", process=dead, interval_s=0.01)
    S.stop_process(dead)

    def worker_died():
        raise S.ServiceUnavailable("worker 1 exited")

    with pytest.raises(S.ServiceUnavailable, match="worker 1 exited"):
        S.wait_until(worker_died, 30, "workers")


def test_stop_process_ends_the_whole_group_and_keeps_the_log(tmp_path) -> None:
    code = "import subprocess, sys, time; print('started', flush=True); "
    code += (
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); time.sleep(60)"
    )
    log = tmp_path / "parent.log"
    process = S.start_process([sys.executable, "-c", code], {}, log, cwd=tmp_path)
    assert process.log_path == log
    S.wait_until(lambda: "started" in log.read_text(), 30, "parent")
    S.stop_process(process, timeout_s=10)
    assert process.poll() is not None
    assert S.tail(log).strip() == "started"
    assert S.tail(tmp_path / "absent.log") == f"<no log at {tmp_path / 'absent.log'}>"


def test_missing_binary_names_the_package(monkeypatch) -> None:
    with pytest.raises(S.NotInstalled, match="apt-get install no-such-package"):
        S.find_binary("no-such-server-binary", "no-such-package")
    found = S.find_binary("no-such-server-binary", "x", ("/nowhere/*", sys.executable))
    assert found == sys.executable
    monkeypatch.setattr(S.os, "geteuid", lambda: 1000)
    with pytest.raises(S.NotInstalled, match="not root"):
        S.find_binary("no-such-server-binary", "no-such-package", install=True)


def test_dagster_home_and_workspace(tmp_path) -> None:
    home = S.dagster_home(tmp_path, "celery")
    assert (home / "dagster.yaml").read_text() == (
        S.DEPLOY_DIR / "celery" / "dagster.yaml"
    ).read_text()
    location = tmp_path / "location.py"
    workspace = S.write_workspace(tmp_path, location, "ops")
    assert f"relative_path: {location}" in workspace.read_text()
    assert "location_name: ops" in workspace.read_text()


def test_cli_runs_the_checkout_bench(capsys) -> None:
    assert cli.BENCH_DIR == S.PROJECT_ROOT / "bench"
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["bench", "all", "--help"])
    assert exit_info.value.code == 0
    assert "rainfuse bench all" in capsys.readouterr().out
    assert cli.main(["bench", "--help"]) == 0
    assert cli.main(["bench", "nope"]) == 2


def test_cli_without_the_bench_folder_says_to_use_a_checkout(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setattr(cli, "BENCH_DIR", tmp_path / "bench")
    assert cli.main(["bench", "ingest", "--help"]) == 2
    assert "benchmarks run from a source checkout" in capsys.readouterr().err
