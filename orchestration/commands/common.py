"""What the command-line entry points share: day arguments, the Dagster instance, in-process runs.

:mod:`orchestration.cli`, :mod:`orchestration.demo` and the commands of this package import this
module; it imports none of them, so the command line has no import cycle (the CLI sits on top of
the demo and the commands, which sit on this module).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from collections.abc import Sequence

from orchestration.runtime.config import PROJECT_ROOT

#: Days ``make demo`` simulates and materializes from the configured start date; also the days
#: ``rainfuse verify`` and ``rainfuse evaluate`` read when given none.
DEFAULT_DEMO_DAYS = 3


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


def materialize_days(days: Sequence[str], job_name: str = "daily_job") -> bool:
    """Run ``job_name`` for each day in process; returns True when every run succeeded."""
    from dagster import DagsterInstance

    from orchestration.definitions import defs

    ensure_dagster_home()
    instance = DagsterInstance.get()
    graph = defs.resolve_asset_graph()
    if not any(
        graph.get(key).partitions_def is not None for key in graph.materializable_asset_keys
    ):
        print("[rainfuse] no daily-partitioned assets are defined yet", file=sys.stderr)
        return True
    job = defs.resolve_job_def(job_name)
    ok = True
    for day in days:
        print(f"[rainfuse] materializing {job_name} for {day}", file=sys.stderr, flush=True)
        result = job.execute_in_process(partition_key=day, instance=instance, raise_on_error=False)
        ok &= result.success
        state = "ok" if result.success else "FAILED"
        print(f"[rainfuse] {day}: {state} (run {result.run_id})", file=sys.stderr, flush=True)
    return ok
