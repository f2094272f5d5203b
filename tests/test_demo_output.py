"""What ``make demo`` and ``rainfuse materialize`` print: one line per step, events in a file.

The runs go through :func:`orchestration.commands.common.materialize_days` on a toy daily job of
three assets (the real daily job takes minutes per day); the code location it resolves jobs from
is replaced by one holding the toy job.
"""

from __future__ import annotations

import re
import sys
import types

import pytest
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    DailyPartitionsDefinition,
    Definitions,
    MaterializeResult,
    asset,
    define_asset_job,
)

from fusion_ops.simulate.cli import day_summary_line
from orchestration.commands.common import QuietRuns, materialize_days

PARTITIONS = DailyPartitionsDefinition(start_date="2009-05-20")
DAYS = ["2009-05-20", "2009-05-21"]

#: ``[prefix] <day>  <step>  <status> <seconds> s  <note>``
STEP_LINE = re.compile(
    r"^\[(?P<prefix>\w+)\] (?P<day>\d{4}-\d\d-\d\d)  (?P<step>[\w.]+) +"
    r"(?P<status>ok|FAILED|skipped) +(?:(?P<seconds>\d+\.\d) s)?(?:  (?P<note>.+))?$"
)
#: Lines that are not step lines but come with every run: its start and its end.
LINES_PER_RUN = 2
#: ``rainfuse materialize`` prints the events file's path at the start and at the end.
LINES_PER_COMMAND = 2


@asset(partitions_def=PARTITIONS)
def toy_gauges(context) -> int:
    context.log.debug("a debug message that only the events file gets")
    return 1


@asset(partitions_def=PARTITIONS)
def toy_rain(toy_gauges: int) -> int:
    return toy_gauges + 1


@asset(partitions_def=PARTITIONS)
def toy_product(toy_rain: int) -> int:
    return toy_rain + 1


@asset(partitions_def=PARTITIONS)
def toy_broken_rain(toy_gauges: int) -> int:
    raise ValueError(f"no radar volumes for the day ({toy_gauges})\nsecond line of the message")


@asset(partitions_def=PARTITIONS)
def toy_broken_product(toy_broken_rain: int) -> int:
    return toy_broken_rain


@asset(
    partitions_def=PARTITIONS,
    check_specs=[AssetCheckSpec("enough_gauges", asset="toy_suspect_gauges")],
)
def toy_suspect_gauges() -> MaterializeResult:
    check = AssetCheckResult(passed=False, severity=AssetCheckSeverity.WARN)
    return MaterializeResult(check_results=[check])


def _install_toy_defs(monkeypatch, tmp_path, assets) -> None:
    """Point ``orchestration.definitions.defs`` at a code location with ``toy_job`` only."""
    defs = Definitions(
        assets=assets,
        jobs=[define_asset_job("toy_job")],
    )
    module = types.ModuleType("orchestration.definitions")
    module.defs = defs
    monkeypatch.setitem(sys.modules, "orchestration.definitions", module)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))


def _events_files(tmp_path) -> list:
    return sorted((tmp_path / "dagster_home" / "logs").glob("rainfuse_*.log"))


def test_one_line_per_step_and_the_events_in_a_file(monkeypatch, tmp_path, capfd):
    _install_toy_defs(monkeypatch, tmp_path, [toy_gauges, toy_rain, toy_product])

    assert materialize_days(DAYS, "toy_job")

    out, err = capfd.readouterr()
    lines = err.splitlines()
    assert out == ""
    assert "DEBUG" not in err and "STEP_START" not in err and "STEP_SUCCESS" not in err
    steps = [m.groupdict() for m in map(STEP_LINE.match, lines) if m]
    assert [(s["day"], s["step"]) for s in steps] == [
        (day, step) for day in DAYS for step in ("toy_gauges", "toy_rain", "toy_product")
    ]
    assert {s["status"] for s in steps} == {"ok"}
    assert all(s["seconds"] is not None and s["prefix"] == "rainfuse" for s in steps)
    assert len(lines) == len(steps) + LINES_PER_RUN * len(DAYS) + LINES_PER_COMMAND
    for day in DAYS:
        assert any(re.match(rf"\[rainfuse\] {day}  toy_job ok: 3 steps in ", x) for x in lines)

    (events,) = _events_files(tmp_path)
    assert lines[0] == lines[-1] == f"[rainfuse] Dagster event log: {events}"
    text = events.read_text()
    assert text.count("STEP_SUCCESS") == 3 * len(DAYS)
    assert " - DEBUG - " in text and "a debug message that only the events file gets" in text


def test_a_failing_step_prints_failed_with_its_error_and_failed_checks(
    monkeypatch, tmp_path, capfd
):
    assets = [toy_gauges, toy_broken_rain, toy_broken_product, toy_suspect_gauges]
    _install_toy_defs(monkeypatch, tmp_path, assets)

    assert not materialize_days(DAYS[:1], "toy_job")

    out, err = capfd.readouterr()
    steps = {m["step"]: m for m in map(STEP_LINE.match, err.splitlines()) if m}
    assert steps["toy_gauges"]["status"] == "ok" and steps["toy_gauges"]["note"] is None
    assert steps["toy_suspect_gauges"]["status"] == "ok"
    assert steps["toy_suspect_gauges"]["note"] == "check enough_gauges failed (WARN)"
    failed = steps["toy_broken_rain"]
    assert failed["status"] == "FAILED"
    assert failed["note"] == "ValueError: no radar volumes for the day (1)"
    assert steps["toy_broken_product"]["status"] == "skipped"
    assert steps["toy_broken_product"]["note"] == "upstream failed: toy_broken_rain"
    assert "toy_job FAILED after" in err and "1 failed: toy_broken_rain" in err
    assert "second line of the message" not in err and "Traceback" not in err
    assert "Stack Trace" not in out + err and "DEBUG" not in out + err

    (events,) = _events_files(tmp_path)
    text = events.read_text()
    assert "STEP_FAILURE" in text and "second line of the message" in text
    assert "Stack Trace" in text


def test_quiet_runs_need_their_with_block_and_restore_warnings(tmp_path):
    import logging
    import warnings

    runs = QuietRuns("demo", events_path=str(tmp_path / "demo.log"))
    with pytest.raises(RuntimeError, match="with"):
        runs.run(job=None, label="2009-05-20")
    py_warnings = logging.getLogger("py.warnings")
    before = (list(py_warnings.handlers), py_warnings.propagate)
    with runs, warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.warn("a library's warning during a run", RuntimeWarning, stacklevel=1)
    assert (list(py_warnings.handlers), py_warnings.propagate) == before
    assert "a library's warning during a run" in (tmp_path / "demo.log").read_text()


def test_simulation_summary_is_one_line_per_day():
    manifest = {
        "day": "2009-05-20",
        "counts": {"nexrad_level2": 288, "gauge_isd": 40, "truth_rain": 1},
        "timings": {"total_s": 93.4},
    }
    line = day_summary_line(manifest)
    assert "\n" not in line
    assert line == "2009-05-20: 329 files in 93 s (40 gauge_isd, 288 nexrad_level2, 1 truth_rain)"
