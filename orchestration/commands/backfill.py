"""``rainfuse backfill --start D1 --end D2``: submit a backfill of a job's days to the Dagster instance.

One run per day, each running the day's whole graph (every step of the job): the backfill is a
*job* backfill of ``--job`` (``daily_job``), recorded in the instance (``$DAGSTER_HOME``) as the UI's
"Launch backfill" of a partitioned job records it. The daemon's backfill loop creates the runs,
which go through the run queue:

- **in date order, one at a time**, when the job reads other days (the calibration models train on
  the days before theirs): every run carries ``rainfuse/backfill_chain=<location>``, which the
  queue limits to one run at a time (``tag_concurrency_limits`` of the instance, see
  ``orchestration/deploy/local/dagster.yaml``), and the day's queue priority
  (:func:`orchestration.jobs.day_order_tags`) makes the earliest queued day the next to start. Day
  D+1 starts only after day D has ended. On an instance whose queue does not hold those runs to one
  at a time, the command submits an asset backfill instead (slower: one run per dependency wave)
  and says so;
- **steps side by side**: the runs' executor runs two steps at once in processes forked from one
  forkserver that imported the code location once
  (:func:`orchestration.executors.multiprocess_run_config`), so a run pays its start-up once;
- GPU steps wait for a slot of the ``gpu`` pool.

Each asset's ``BackfillPolicy`` may still put several days in one run (runs of several days then
cover a range of partitions). ``--asset-backfill`` submits the former asset backfill (Dagster
splits each day into one run per dependency wave). ``--wait`` follows the backfill to its end (the
daemon must be running: ``dagster-daemon run -w workspace.yaml``).

Examples
--------
::

    rainfuse backfill --start 2015-01-01 --end 2015-12-31                 # a year, returns at once
    rainfuse backfill --start 2009-05-20 --end 2009-06-18 --wait --gpu-slots 1
    rainfuse backfill --start 2024-01-01 --end 2024-01-31 --definitions my_location:defs \\
        -w my_workspace.yaml                                              # another code location
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from orchestration.commands.common import ensure_dagster_home, parse_day
from orchestration.runtime.config import PROJECT_ROOT

DEFAULT_DEFINITIONS = "orchestration.definitions:defs"
DEFAULT_WORKSPACE = PROJECT_ROOT / "workspace.yaml"
GPU_POOL = "gpu"
DAEMON_HEARTBEAT_MAX_AGE_S = 120.0
TERMINAL_STATES = ("COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED")
#: Tag every run of Dagster's backfills carries (its value: the backfill id).
BACKFILL_TAG = "dagster/backfill"
#: Tag of the runs that must run one at a time in date order (value: the code location's name);
#: the instance's run queue limits it: ``{key: rainfuse/backfill_chain, value:
#: {applyLimitPerUniqueValue: true}, limit: 1}``.
CHAIN_TAG = "rainfuse/backfill_chain"
CHAIN_RULE = (
    f"{{key: {CHAIN_TAG}, value: {{applyLimitPerUniqueValue: true}}, limit: 1}} under "
    "concurrency.runs.tag_concurrency_limits"
)


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


def _resolve_job(defs: Any, job_name: str) -> Any:
    try:
        return defs.resolve_job_def(job_name)
    except Exception as error:  # dagster raises several types for an unknown job
        raise BackfillError(f"--job {job_name}: {error}") from None


def backfill_targets(
    defs: Any, job_name: str, start: dt.date, end: dt.date
) -> tuple[list, list[str]]:
    """The asset keys of ``job_name`` and the partition keys from ``start`` to ``end`` inclusive."""
    from dagster import PartitionKeyRange

    if end < start:
        raise BackfillError(f"--end {end} is before --start {start}")
    job = _resolve_job(defs, job_name)
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


# ---------------------------------------------------------------------------------------------
# What the job needs: other days' values, the code location it lives in


def cross_day_inputs(defs: Any, job_name: str) -> list[str]:
    """The job's inputs that read other partitions than the run's own day, as ``child <- parent``.

    A daily asset of the job reading a daily parent through anything but the identity mapping
    (the calibration models' trailing window of earlier days, the monitoring's day before) makes
    day D depend on earlier days: such a job's days must run in date order.
    """
    from dagster import IdentityPartitionMapping, TimeWindowPartitionMapping

    job = _resolve_job(defs, job_name)
    graph = defs.resolve_asset_graph()
    found = []
    for key in sorted(job.asset_layer.executable_asset_keys, key=lambda k: k.to_user_string()):
        node = graph.get(key)
        if node.partitions_def is None:
            continue
        for parent in sorted(node.parent_keys, key=lambda k: k.to_user_string()):
            if not graph.has(parent) or graph.get(parent).partitions_def is None:
                continue  # unpartitioned (reference) inputs are the same for every day
            mapping = graph.get_partition_mapping(key, parent)
            same_day = isinstance(mapping, IdentityPartitionMapping) or (
                isinstance(mapping, TimeWindowPartitionMapping)
                and mapping.start_offset == 0
                and mapping.end_offset == 0
            )
            if not same_day:
                found.append(f"{key.to_user_string()} <- {parent.to_user_string()}")
    return found


def _location_entries(workspace: Path) -> list[tuple[str, str]]:
    """``(location name, module)`` of each code location a workspace file loads (a file's module
    is its name without ``.py``; a gRPC server's is unknown, ``""``)."""
    import yaml

    try:
        data = yaml.safe_load(workspace.read_text()) or {}
    except (OSError, yaml.YAMLError) as error:
        raise BackfillError(f"--workspace {workspace}: {error}") from None
    out = []
    for entry in data.get("load_from") or []:
        for kind, spec in (entry or {}).items():
            spec = {"module_name": spec} if isinstance(spec, str) else dict(spec or {})
            if kind in ("python_module", "python_package"):
                module = str(spec.get("module_name") or spec.get("package_name") or "")
            elif kind == "python_file":
                module = Path(str(spec.get("relative_path", ""))).stem
            else:  # grpc_server and friends: known by their name only
                module = ""
            out.append((str(spec.get("location_name") or module), module))
    return out


def workspace_location(workspace: Path, definitions: str) -> str:
    """The name under which ``workspace`` (the daemon's) loads the module of ``definitions``."""
    module = definitions.partition(":")[0]
    if not workspace.is_file():
        raise BackfillError(
            f"--workspace {workspace}: no such file; give the daemon's workspace file or "
            "--location NAME (the code location's name in it)"
        )
    entries = _location_entries(workspace)
    # a python_file location is known by its file name: compare the module's last component
    names = [name for name, loaded in entries if loaded in (module, module.rpartition(".")[2])]
    if len(names) != 1:
        listed = ", ".join(f"{n} ({m or '?'})" for n, m in entries) or "none"
        raise BackfillError(
            f"--definitions {definitions}: {len(names)} code locations of {workspace} load "
            f"{module} (locations: {listed}); give --location NAME"
        )
    return names[0]


def queue_keeps_days_in_order(instance: Any) -> bool:
    """True when the instance's run queue starts the runs of one chain one at a time.

    Any of: at most one run at all; at most one backfill run (``dagster/backfill`` limited to 1 in
    total or per backfill); at most one run per :data:`CHAIN_TAG` value. The queue then starts the
    next run only when the running one has ended, and the day priority picks the earliest day.
    """
    config = instance.get_concurrency_config().run_queue_config
    if config.max_concurrent_runs == 1:
        return True
    for rule in config.tag_concurrency_limits or []:
        if rule.get("limit") != 1 or rule.get("key") not in (BACKFILL_TAG, CHAIN_TAG):
            continue
        value = rule.get("value")
        if value is None or (isinstance(value, Mapping) and value.get("applyLimitPerUniqueValue")):
            return True
    return False


# ---------------------------------------------------------------------------------------------
# Submission


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


def _base_tags(job_name: str, start: dt.date, end: dt.date, tags: dict[str, str] | None) -> dict:
    return {
        "rainfuse/backfill_range": f"{start.isoformat()}..{end.isoformat()}",
        "rainfuse/backfill_job": job_name,
        **(tags or {}),
    }


def submit_backfill(
    instance: Any,
    defs: Any,
    job_name: str,
    start: dt.date,
    end: dt.date,
    title: str | None = None,
    tags: dict[str, str] | None = None,
) -> str:
    """Record an *asset* backfill of ``job_name``'s assets over ``start..end``; returns its id.

    Dagster's asset backfill orders the runs by the assets' dependencies and needs no code
    location name; with trailing-window inputs it splits each day into one run per dependency
    wave. ``rainfuse backfill`` submits :func:`submit_day_runs` unless asked for this one.
    """
    from dagster._core.execution.backfill import PartitionBackfill
    from dagster._core.utils import make_new_backfill_id

    keys, partition_keys = backfill_targets(defs, job_name, start, end)
    backfill_id = make_new_backfill_id()
    backfill = PartitionBackfill.from_asset_graph_subset(
        backfill_id=backfill_id,
        backfill_timestamp=time.time(),
        tags=_base_tags(job_name, start, end, tags),
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


def day_runs_run_config(defs: Any, job_name: str, preload_modules: Sequence[str]) -> dict | None:
    """The run config every run of the backfill gets: its steps two at a time, forked from a
    forkserver that preloaded ``preload_modules`` (None: the job's executor is not Dagster's
    multiprocess one, e.g. Celery or Kubernetes, and keeps its own config)."""
    from orchestration.executors import multiprocess_run_config

    job = _resolve_job(defs, job_name)
    return multiprocess_run_config(job.executor_def.name, preload_modules)


def submit_day_runs(
    instance: Any,
    defs: Any,
    job_name: str,
    start: dt.date,
    end: dt.date,
    location: str,
    preload_modules: Sequence[str] = (),
    title: str | None = None,
    tags: dict[str, str] | None = None,
    chain: bool | None = None,
) -> str:
    """Record a *job* backfill of ``job_name`` over ``start..end``: one run per day (or per range
    of days where the assets' backfill policy says so), each running the whole job.

    ``location`` is the code location's name in the daemon's workspace. ``chain`` (default: when
    the job has :func:`cross_day_inputs`) tags the runs with :data:`CHAIN_TAG` so that the queue
    runs them one at a time, earliest day first. Returns the backfill's id.
    """
    from dagster._core.definitions.repository_definition import SINGLETON_REPOSITORY_NAME
    from dagster._core.execution.backfill import BulkActionStatus, PartitionBackfill
    from dagster._core.remote_origin import (
        RegisteredCodeLocationOrigin,
        RemotePartitionSetOrigin,
        RemoteRepositoryOrigin,
    )
    from dagster._core.remote_representation.external_data import (
        partition_set_snap_name_for_job_name,
    )
    from dagster._core.utils import make_new_backfill_id

    keys, partition_keys = backfill_targets(defs, job_name, start, end)
    if chain is None:
        chain = bool(cross_day_inputs(defs, job_name))
    all_tags = _base_tags(job_name, start, end, tags)
    if chain:
        all_tags[CHAIN_TAG] = location
    origin = RemotePartitionSetOrigin(
        repository_origin=RemoteRepositoryOrigin(
            RegisteredCodeLocationOrigin(location), SINGLETON_REPOSITORY_NAME
        ),
        partition_set_name=partition_set_snap_name_for_job_name(job_name),
    )
    backfill_id = make_new_backfill_id()
    backfill = PartitionBackfill(
        backfill_id=backfill_id,
        status=BulkActionStatus.REQUESTED,
        from_failure=False,
        tags=all_tags,
        backfill_timestamp=time.time(),
        title=title or f"rainfuse {job_name} {start.isoformat()}..{end.isoformat()}",
        description=(
            f"{len(partition_keys)} day(s) of {job_name} ({len(keys)} assets), one run per day"
            + (", in date order" if chain else "")
            + ", submitted by rainfuse backfill"
        ),
        run_config=day_runs_run_config(defs, job_name, preload_modules),
        partition_set_origin=origin,
        partition_names=partition_keys,
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
        description="Submit a backfill of a date range to the Dagster instance ($DAGSTER_HOME): "
        "one run per day of the whole job, in date order when days depend on earlier days; the "
        "dagster-daemon launches the runs through the run queue.",
    )
    parser.add_argument("--start", type=parse_day, required=True, help="first UTC day (YYYY-MM-DD)")
    parser.add_argument("--end", type=parse_day, required=True, help="last UTC day, inclusive")
    parser.add_argument("--job", default="daily_job", help="partitioned job to backfill")
    parser.add_argument(
        "--definitions",
        default=DEFAULT_DEFINITIONS,
        help="module:attribute of the Definitions (default: the rainfuse code location)",
    )
    parser.add_argument(
        "-w",
        "--workspace",
        type=Path,
        default=DEFAULT_WORKSPACE,
        help="the daemon's workspace file, where the code location's name is looked up "
        "(default: the checkout's workspace.yaml)",
    )
    parser.add_argument(
        "--location", default=None, help="the code location's name (instead of --workspace)"
    )
    parser.add_argument(
        "--asset-backfill",
        action="store_true",
        help="submit an asset backfill instead (Dagster splits each day into dependency waves)",
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


def _submit(args: argparse.Namespace, instance: Any, defs: Any) -> str:
    """Submit what the arguments and the instance allow; says on stderr which kind."""
    n_days = (args.end - args.start).days + 1
    what = f"{args.job} {args.start}..{args.end} ({n_days} day(s))"
    if args.asset_backfill:
        backfill_id = submit_backfill(instance, defs, args.job, args.start, args.end, args.title)
        print(f"[backfill] asset backfill (runs by dependency wave): {what}", file=sys.stderr)
        return backfill_id
    backfill_targets(defs, args.job, args.start, args.end)  # argument errors first
    location = args.location or workspace_location(args.workspace, args.definitions)
    cross = cross_day_inputs(defs, args.job)
    if cross and not queue_keeps_days_in_order(instance):
        print(
            f"[backfill] {args.job} reads earlier days ({cross[0]}, ...) and this instance's run "
            "queue would start several of its days at once: submitting an asset backfill "
            f"(runs by dependency wave) instead. For one run per day in date order add {CHAIN_RULE} "
            "to $DAGSTER_HOME/dagster.yaml (orchestration/deploy/local/dagster.yaml has it)",
            file=sys.stderr,
        )
        return submit_backfill(instance, defs, args.job, args.start, args.end, args.title)
    module = args.definitions.partition(":")[0]
    backfill_id = submit_day_runs(
        instance, defs, args.job, args.start, args.end, location, [module], args.title
    )
    executor = day_runs_run_config(defs, args.job, [module])
    steps = (
        f"steps side by side in processes forked from a forkserver (preloading {module})"
        if executor
        else "steps by the job's own executor"
    )
    order = "in date order, one at a time" if cross else "as the run queue allows"
    print(
        f"[backfill] one run per day of the whole job at code location {location}, {order}; "
        f"{steps}",
        file=sys.stderr,
    )
    return backfill_id


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
            backfill_id = _submit(args, instance, defs)
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
