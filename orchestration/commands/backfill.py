"""``rainfuse backfill --start D1 --end D2``: submit an asset backfill to the Dagster instance.

The backfill is recorded in the instance (``$DAGSTER_HOME``) exactly as one launched from the web
UI; the daemon's backfill loop then launches its runs, which go through the run queue: every run
carries ``dagster/backfill=<id>``, so the queue's tag limit on ``dagster/backfill`` bounds how many
run at once, and GPU steps wait for a slot of the ``gpu`` pool. Each asset's ``BackfillPolicy``
decides how many partitions one run covers. ``--wait`` follows the backfill to its end (the daemon
must be running: ``dagster-daemon run -w workspace.yaml``).

Examples
--------
::

    rainfuse backfill --start 2015-01-01 --end 2015-12-31                 # a year, returns at once
    rainfuse backfill --start 2009-05-20 --end 2009-06-18 --wait --gpu-slots 1
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import sys
import time
from collections.abc import Sequence
from typing import Any

from orchestration.commands.common import ensure_dagster_home, parse_day

DEFAULT_DEFINITIONS = "orchestration.definitions:defs"
GPU_POOL = "gpu"
DAEMON_HEARTBEAT_MAX_AGE_S = 120.0
TERMINAL_STATES = ("COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED")


class BackfillError(RuntimeError):
    """The backfill cannot be submitted (the message says which argument or definition is wrong)."""


def load_definitions(target: str) -> Any:
    """``module:attribute`` -> the ``Definitions`` object."""
    module_name, _, attribute = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise BackfillError(
            f"--definitions {target}: cannot import {module_name}: {error}"
        ) from None
    defs = getattr(module, attribute or "defs", None)
    if defs is None:
        raise BackfillError(f"--definitions {target}: {module_name} has no {attribute or 'defs'}")
    return defs


def backfill_targets(
    defs: Any, job_name: str, start: dt.date, end: dt.date
) -> tuple[list, list[str]]:
    """The asset keys of ``job_name`` and the partition keys from ``start`` to ``end`` inclusive."""
    from dagster import PartitionKeyRange

    if end < start:
        raise BackfillError(f"--end {end} is before --start {start}")
    try:
        job = defs.resolve_job_def(job_name)
    except Exception as error:  # dagster raises several types for an unknown job
        raise BackfillError(f"--job {job_name}: {error}") from None
    keys = sorted(job.asset_layer.executable_asset_keys, key=lambda k: k.to_user_string())
    if not keys:
        raise BackfillError(f"--job {job_name}: the job selects no asset yet, nothing to backfill")
    partitions_def = job.partitions_def
    if partitions_def is None:
        raise BackfillError(f"--job {job_name}: the job is not partitioned")
    first = partitions_def.get_first_partition_key()
    if first is not None and start.isoformat() < first:
        raise BackfillError(f"--start {start} is before the first partition {first}")
    last = partitions_def.get_last_partition_key()
    if last is None or end.isoformat() > last:
        raise BackfillError(f"--end {end} is after the last complete partition {last}")
    partition_keys = list(
        partitions_def.get_partition_keys_in_range(
            PartitionKeyRange(start.isoformat(), end.isoformat())
        )
    )
    return keys, partition_keys


def daemon_running(instance: Any) -> bool:
    """True when a dagster-daemon sent a heartbeat to this instance recently."""
    heartbeats = instance.get_daemon_heartbeats()
    now = time.time()
    return any(
        heartbeat.timestamp > now - DAEMON_HEARTBEAT_MAX_AGE_S for heartbeat in heartbeats.values()
    )


def target_subset(defs: Any, keys: list, start: dt.date, end: dt.date) -> Any:
    """Exactly ``start..end`` of every asset in ``keys``: nothing upstream, nothing after ``end``.

    Dagster's anchor-partition constructor would extend a backfill along non-identity partition
    mappings: with the calibration models' trailing-window inputs, one day of samples would target
    the models of the next 45 days and miss the model of the day itself. An explicit subset keeps
    the backfill to the days asked for; the daemon still orders them by their dependencies.
    """
    from dagster import PartitionKeyRange
    from dagster._core.definitions.assets.graph.asset_graph_subset import AssetGraphSubset

    asset_graph = defs.resolve_asset_graph()
    day_range = PartitionKeyRange(start.isoformat(), end.isoformat())
    partitioned, unpartitioned = {}, set()
    for key in keys:
        partitions_def = asset_graph.get(key).partitions_def
        if partitions_def is None:
            unpartitioned.add(key)
        else:
            partitioned[key] = partitions_def.empty_subset().with_partition_key_range(
                partitions_def, day_range
            )
    return AssetGraphSubset(
        partitions_subsets_by_asset_key=partitioned, non_partitioned_asset_keys=unpartitioned
    )


def submit_backfill(
    instance: Any,
    defs: Any,
    job_name: str,
    start: dt.date,
    end: dt.date,
    title: str | None = None,
    tags: dict[str, str] | None = None,
) -> str:
    """Record an asset backfill of ``job_name``'s assets over ``start..end``; returns its id."""
    from dagster._core.execution.backfill import PartitionBackfill
    from dagster._core.utils import make_new_backfill_id

    keys, partition_keys = backfill_targets(defs, job_name, start, end)
    backfill_id = make_new_backfill_id()
    backfill = PartitionBackfill.from_asset_graph_subset(
        backfill_id=backfill_id,
        backfill_timestamp=time.time(),
        tags={
            "rainfuse/backfill_range": f"{start.isoformat()}..{end.isoformat()}",
            "rainfuse/backfill_job": job_name,
            **(tags or {}),
        },
        dynamic_partitions_store=instance,
        asset_graph_subset=target_subset(defs, keys, start, end),
        title=title or f"rainfuse {job_name} {start.isoformat()}..{end.isoformat()}",
        description=(
            f"{len(partition_keys)} partition(s) of {len(keys)} asset(s), submitted by "
            "rainfuse backfill"
        ),
        run_config=None,
    )
    instance.add_backfill(backfill)
    return backfill_id


def wait_for_backfill(instance: Any, backfill_id: str, timeout_s: float, poll_s: float) -> str:
    """Poll the backfill until it reaches a terminal state; returns the state's name."""
    deadline = time.monotonic() + timeout_s
    status = "REQUESTED"
    while time.monotonic() < deadline:
        backfill = instance.get_backfill(backfill_id)
        status = backfill.status.value if backfill is not None else "MISSING"
        if status in TERMINAL_STATES or status == "MISSING":
            return status
        time.sleep(poll_s)
    return f"TIMEOUT ({status})"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rainfuse backfill",
        description="Submit a backfill of a date range to the Dagster instance ($DAGSTER_HOME); "
        "the dagster-daemon launches its runs through the run queue.",
    )
    parser.add_argument("--start", type=parse_day, required=True, help="first UTC day (YYYY-MM-DD)")
    parser.add_argument("--end", type=parse_day, required=True, help="last UTC day, inclusive")
    parser.add_argument("--job", default="daily_job", help="asset job whose assets to backfill")
    parser.add_argument(
        "--definitions",
        default=DEFAULT_DEFINITIONS,
        help="module:attribute of the Definitions (default: the rainfuse code location)",
    )
    parser.add_argument("--title", default=None, help="title shown in the UI's backfill list")
    parser.add_argument(
        "--gpu-slots",
        type=int,
        default=None,
        help="set the instance's gpu pool limit (number of GPUs) before submitting",
    )
    parser.add_argument("--wait", action="store_true", help="follow the backfill until it ends")
    parser.add_argument("--timeout", type=float, default=24 * 3600.0, help="--wait limit, seconds")
    parser.add_argument("--poll", type=float, default=5.0, help="--wait polling interval, seconds")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    from dagster import DagsterInstance

    ensure_dagster_home()
    try:
        defs = load_definitions(args.definitions)
        with DagsterInstance.get() as instance:
            if args.gpu_slots is not None:
                if args.gpu_slots < 1:
                    raise BackfillError(f"--gpu-slots {args.gpu_slots}: must be at least 1")
                instance.event_log_storage.set_concurrency_slots(GPU_POOL, args.gpu_slots)
                print(f"[backfill] gpu pool limit set to {args.gpu_slots}", file=sys.stderr)
            backfill_id = submit_backfill(
                instance, defs, args.job, args.start, args.end, args.title
            )
            n_days = (args.end - args.start).days + 1
            print(backfill_id)
            print(
                f"[backfill] submitted {backfill_id}: {args.job} {args.start}..{args.end} "
                f"({n_days} day(s)) to {instance.root_directory}",
                file=sys.stderr,
            )
            if not daemon_running(instance):
                print(
                    "[backfill] no dagster-daemon heartbeat on this instance: start "
                    "`dagster-daemon run -w workspace.yaml` to launch the runs",
                    file=sys.stderr,
                )
            if not args.wait:
                return 0
            status = wait_for_backfill(instance, backfill_id, args.timeout, args.poll)
            print(f"[backfill] {backfill_id}: {status}", file=sys.stderr)
            return 0 if status in ("COMPLETED", "COMPLETED_SUCCESS") else 1
    except BackfillError as error:
        print(f"rainfuse backfill: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
