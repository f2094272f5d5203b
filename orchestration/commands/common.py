"""What the command-line entry points share: day arguments, the Dagster instance, in-process runs.

:mod:`orchestration.cli`, :mod:`orchestration.demo` and the commands of this package import this
module; it imports none of them, so the command line has no import cycle (the CLI sits on top of
the demo and the commands, which sit on this module).
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import logging
import os
import re
import sys
import time
from collections.abc import Sequence
from typing import TextIO

from orchestration.runtime.config import PROJECT_ROOT

#: Days ``make demo`` simulates and materializes from the configured start date; also the days
#: ``rainfuse verify`` and ``rainfuse evaluate`` read when given none.
#: Two: the first day starts cold (fallbacks), the second is served by networks trained on the
#: first; ``make demo`` then fits in 20 minutes on a 2-core machine (measured: simulating a day of
#: the modern scenario takes about 4 minutes of one core, running it 5-6 minutes).
#: ``rainfuse demo --days N`` runs more.
DEFAULT_DEMO_DAYS = 2


def ensure_dagster_home() -> str:
    """Use ``$DAGSTER_HOME`` or a project-local instance so runs show up in ``make ui``."""
    home = os.environ.get("DAGSTER_HOME") or str(PROJECT_ROOT / "data" / "dagster_home")
    os.makedirs(home, exist_ok=True)
    config_file = os.path.join(home, "dagster.yaml")
    if not os.path.exists(config_file):
        with open(config_file, "w") as handle:
            handle.write("telemetry:\n  enabled: false\n")
    os.environ["DAGSTER_HOME"] = home
    return home


def parse_day(text: str) -> dt.date:
    """An ``argparse`` type: a ``YYYY-MM-DD`` date."""
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def day_range(start: dt.date, end: dt.date) -> list[str]:
    """Inclusive list of ISO dates."""
    if end < start:
        raise ValueError(f"--end {end} is before --start {start}")
    return [(start + dt.timedelta(days=i)).isoformat() for i in range((end - start).days + 1)]


def demo_days() -> list[str]:
    """The product days ``make demo`` materializes (:data:`DEFAULT_DEMO_DAYS` from the start)."""
    from orchestration.runtime.config import load_config

    start = load_config().partitions.start_date
    return day_range(start, start + dt.timedelta(days=DEFAULT_DEMO_DAYS - 1))


#: The key of the run logger :class:`QuietRuns` adds to a job (``run_config["loggers"]``).
EVENTS_LOGGER_KEY = "rainfuse_events"


def events_log_path(name: str) -> str:
    """Where a command writes a run's full Dagster event log.

    ``$DAGSTER_HOME/logs/<name>_<UTC time>.log``: next to the instance the runs are stored in
    (``data/dagster_home`` of the checkout unless ``DAGSTER_HOME`` says otherwise).
    """
    home = ensure_dagster_home()
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    return os.path.join(home, "logs", f"{name}_{stamp}.log")


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def _error_line(error) -> str:
    """The first line of a step's error, the user's exception rather than Dagster's wrapper."""
    if error is None:
        return ""
    while error.cause is not None and (error.cls_name or "").startswith("Dagster"):
        error = error.cause
    return _first_line(error.message)


#: Dagster's (non-event) record for a step it does not run because a step upstream failed.
_UPSTREAM_FAILED = re.compile(
    r"Dependencies for step \S+ failed: \[(?P<steps>.*)\]\. Not executing"
)


class _StepLines(logging.Handler):
    """Turns a run's Dagster log records into one line per step, printed when the step ends.

    Steps print ``ok`` (with Dagster's duration), ``FAILED`` (with the first line of the error),
    ``skipped`` (Dagster did not run them: an upstream step failed or an optional input was not
    produced), each with the asset checks of the step that did not pass; a warning or error an
    asset logs prints one line too. Everything else (Dagster's
    DEBUG events, inputs, outputs, materializations) only goes to the events file.
    """

    def __init__(self, runs: QuietRuns) -> None:
        super().__init__(level=logging.DEBUG)
        self.runs = runs
        self.started: dict[str, float] = {}
        self.ended: set[str] = set()
        self.failed: list[str] = []
        self.notes: dict[str, list[str]] = {}
        self.run_error = ""

    def reset(self) -> None:
        self.started.clear()
        self.ended.clear()
        self.failed.clear()
        self.notes.clear()
        self.run_error = ""

    def _step(self, step_key: str, status: str, seconds: float | None, note: str = "") -> None:
        self.ended.add(step_key)
        note = "; ".join([*self.notes.pop(step_key, []), *([note] if note else [])])
        duration = f"{seconds:7.1f} s" if seconds is not None else " " * 9
        line = f"{step_key:<{self.runs.width}}  {status:<7} {duration}"
        self.runs.say(f"{line}  {note}".rstrip())

    def emit(self, record: logging.LogRecord) -> None:
        meta = getattr(record, "dagster_meta", None) or {}
        event = meta.get("dagster_event")
        step_key = meta.get("step_key")
        if event is None:
            if record.levelno >= logging.WARNING and step_key and step_key not in self.ended:
                message = _first_line(str(meta.get("orig_message") or record.getMessage()))
                upstream = _UPSTREAM_FAILED.match(message)
                if step_key not in self.started and upstream:
                    names = ", ".join(re.findall(r"'([^']+)'", upstream["steps"]))
                    self._step(step_key, "skipped", None, f"upstream failed: {names}")
                else:
                    self.runs.say(
                        f"{step_key:<{self.runs.width}}  {record.levelname.lower()}  {message}"
                    )
            return
        kind = event.event_type_value
        if kind == "STEP_START":
            self.started[step_key] = time.monotonic()
        elif kind == "STEP_SUCCESS":
            seconds = event.event_specific_data.duration_ms / 1000.0
            self._step(step_key, "ok", seconds)
        elif kind == "STEP_FAILURE":
            began = self.started.get(step_key)
            seconds = time.monotonic() - began if began is not None else None
            self.failed.append(step_key)
            self._step(step_key, "FAILED", seconds, _error_line(event.event_specific_data.error))
        elif kind == "ASSET_CHECK_EVALUATION":
            check = event.event_specific_data
            if not check.passed:
                failed = f"check {check.check_name} failed ({check.severity.value})"
                self.notes.setdefault(step_key, []).append(failed)
        elif kind == "STEP_SKIPPED":
            self._step(step_key, "skipped", None)
        elif kind == "PIPELINE_FAILURE":
            data = event.event_specific_data
            self.run_error = _error_line(getattr(data, "error", None)) or _first_line(
                str(meta.get("orig_message") or "")
            )


class QuietRuns:
    """Runs jobs in process, one progress line per step on stderr, every Dagster event in a file.

    ``execute_in_process`` logs each run's events (about 90 DEBUG lines per asset day) through the
    console logger unless the job has loggers of its own and the run config names them: the
    runs here get one logger, :data:`EVENTS_LOGGER_KEY`, whose handlers write the events file
    (the console logger's format, every level) and print a line per step as it ends. Python
    warnings raised while the runs execute (``warnings.warn`` in libraries) go to the file too.
    Use as a context manager: the file stays open across the runs.
    """

    def __init__(self, prefix: str, events_path: str | None = None) -> None:
        from dagster import logger

        self.prefix = prefix
        self.events_path = events_path or events_log_path(prefix)
        self.label = ""
        self.width = 24
        self._logger = logging.Logger("dagster", level=logging.DEBUG)  # not in the hierarchy
        self._steps = _StepLines(self)
        self._file: logging.FileHandler | None = None
        self._stream: TextIO | None = None
        self._warnings_state: tuple[bool, list[logging.Handler], bool] | None = None

        @logger(description="rainfuse: the events file and one line per step on stderr")
        def rainfuse_events(_init_context) -> logging.Logger:
            return self._logger

        self.logger_def = rainfuse_events

    def say(self, message: str) -> None:
        label = f"{self.label}  " if self.label else ""
        print(f"[{self.prefix}] {label}{message}", file=self._stream or sys.stderr, flush=True)

    def __enter__(self) -> QuietRuns:
        from dagster._utils.log import default_date_format_string, default_format_string

        os.makedirs(os.path.dirname(self.events_path) or ".", exist_ok=True)
        # A run captures the process's stdout and stderr (the descriptors, for the compute logs)
        # and copies them back by a `tail -F` that polls once a second and is stopped when the
        # run ends, losing what came last (dagster-io/dagster#23336): the progress lines go to a
        # copy of the stderr descriptor taken before any run.
        try:
            self._stream = os.fdopen(os.dup(sys.stderr.fileno()), "w", buffering=1)
        except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
            self._stream = None
        self._file = logging.FileHandler(self.events_path, encoding="utf-8")
        self._file.setFormatter(
            logging.Formatter(default_format_string(), default_date_format_string())
        )
        self._logger.addHandler(self._file)
        self._logger.addHandler(self._steps)
        py_warnings = logging.getLogger("py.warnings")
        was_capturing = getattr(logging, "_warnings_showwarning", None) is not None
        self._warnings_state = (py_warnings.propagate, list(py_warnings.handlers), was_capturing)
        logging.captureWarnings(True)
        py_warnings.addHandler(self._file)
        py_warnings.propagate = False
        return self

    def __exit__(self, *_exc) -> None:
        py_warnings = logging.getLogger("py.warnings")
        if self._warnings_state is not None:
            propagate, handlers, was_capturing = self._warnings_state
            logging.captureWarnings(was_capturing)
            py_warnings.handlers = handlers
            py_warnings.propagate = propagate
        for handler in (self._file, self._steps):
            if handler is not None:
                self._logger.removeHandler(handler)
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._stream is not None:
            self._stream.close()
            self._stream = None

    def run(self, job, label: str, partition_key: str | None = None, instance=None) -> bool:
        """Execute ``job`` in process (for ``partition_key``); True when the run succeeded."""
        from dagster import DagsterInstance

        if self._file is None:
            raise RuntimeError("QuietRuns.run outside its `with` block")
        instance = instance or DagsterInstance.get()
        run_config: dict = {}
        if partition_key and job.partitioned_config is not None:
            base = job.partitioned_config.get_run_config_for_partition_key(partition_key)
            run_config = dict(base or {})
        run_config["loggers"] = {**run_config.get("loggers", {}), EVENTS_LOGGER_KEY: {}}
        quiet_job = job.with_logger_defs({**job.loggers, EVENTS_LOGGER_KEY: self.logger_def})
        self.label = label
        self.width = max([len(str(h)) for h in job.graph.iterate_node_handles()] + [24])
        self._steps.reset()
        self.say(f"{job.name} started")
        began = time.monotonic()
        try:
            result = quiet_job.execute_in_process(
                run_config=run_config,
                partition_key=partition_key,
                instance=instance,
                raise_on_error=False,
            )
            minutes = (time.monotonic() - began) / 60.0
            steps = len(self._steps.ended)
            if result.success:
                self.say(f"{job.name} ok: {steps} steps in {minutes:.1f} min (run {result.run_id})")
            else:
                why = (
                    f"{len(self._steps.failed)} failed: {', '.join(self._steps.failed)}"
                    if self._steps.failed
                    else self._steps.run_error
                )
                self.say(f"{job.name} FAILED after {minutes:.1f} min ({why}; run {result.run_id})")
            return result.success
        finally:
            self.label = ""


def materialize_days(
    days: Sequence[str], job_name: str = "daily_job", runs: QuietRuns | None = None
) -> bool:
    """Run ``job_name`` for each day in process; returns True when every run succeeded.

    Prints one line per step as it ends (and one per run) on stderr; the full Dagster event log
    goes to ``runs.events_path`` (a new file under ``$DAGSTER_HOME/logs`` when ``runs`` is None,
    its path printed at the start and at the end).
    """
    from dagster import DagsterInstance

    from orchestration.definitions import defs

    ensure_dagster_home()
    graph = defs.resolve_asset_graph()
    if not any(
        graph.get(key).partitions_def is not None for key in graph.materializable_asset_keys
    ):
        print("[rainfuse] no daily-partitioned assets are defined yet", file=sys.stderr)
        return True
    if runs is None:
        with QuietRuns("rainfuse") as own:
            own.say(f"Dagster event log: {own.events_path}")
            ok = materialize_days(days, job_name, own)
            own.say(f"Dagster event log: {own.events_path}")
        return ok
    instance = DagsterInstance.get()
    job = defs.resolve_job_def(job_name)
    ok = True
    for day in days:
        ok &= runs.run(job, label=day, partition_key=day, instance=instance)
    return ok
