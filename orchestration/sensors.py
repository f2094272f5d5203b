"""Sensors: source archives that received a day's files, and failed runs that need an operator.

Archive sensor
--------------
Each watched source names an archive resource and the key template of one UTC day in that archive's
real layout (NEXRAD Level II ``YYYY/MM/DD/SITE/SITEYYYYMMDD_HHMMSS_V06``, GOES ABI L1b
``ABI-L1b-RadM/YYYY/DDD/HH/...``). On each tick the sensor lists, for every complete day of a trailing
window, only that day's prefix (cheap on a public S3 bucket with millions of keys), fingerprints the
listing (names and sizes), and requests the daily partition when every *required* source has files
and the fingerprint differs from the one in the cursor. Files that arrive late change the
fingerprint and request the day again (materializations are idempotent); a quiet archive requests
nothing. The cursor is JSON ``{"days": {"YYYY-MM-DD": "<fingerprint>"}}`` pruned to the window.

Run-failure sensor
------------------
Every failed run of the code location raises an :class:`~orchestration.alerts.Alert`: a log line,
and a POST to ``RAINFUSE_ALERT_WEBHOOK`` when set.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dagster import (
    DefaultSensorStatus,
    RunFailureSensorContext,
    RunRequest,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    TimeWindowPartitionsDefinition,
    run_failure_sensor,
    sensor,
)

from orchestration.alerts import Alert, send_alert
from orchestration.runtime.resources import ArchiveResource
from orchestration.schedules import automation_running_by_default

if TYPE_CHECKING:
    from dagster._core.definitions.unresolved_asset_job_definition import (
        UnresolvedAssetJobDefinition,
    )

DEFAULT_LOOKBACK_DAYS = 3
DEFAULT_SENSOR_INTERVAL_S = 300
UI_URL_ENV = "RAINFUSE_UI_URL"


class ArchiveSensorError(RuntimeError):
    """A watched archive could not be listed (the message names the resource and the pattern)."""


@dataclass(frozen=True)
class SourceWatch:
    """One archive to watch and how one UTC day is laid out in it.

    ``day_template`` is relative to the archive root and may use ``{Y}`` (year), ``{m}`` (month),
    ``{d}`` (day of month), ``{j}`` (day of year, 3 digits), ``{Ymd}`` (``YYYYMMDD``), ``{site}``
    (each of the resource's ``sites``) and ``{platform}`` (the resource's ``platform``); glob
    wildcards are allowed. ``required`` sources must have at least one file for the day to run.
    """

    resource_key: str
    day_template: str
    required: bool = True

    def patterns(self, day: dt.date, archive: ArchiveResource) -> list[str]:
        """The glob patterns of ``day`` in this archive (one per site when the template has one)."""
        fields = {
            "Y": f"{day.year:04d}",
            "m": f"{day.month:02d}",
            "d": f"{day.day:02d}",
            "j": f"{day.timetuple().tm_yday:03d}",
            "Ymd": day.strftime("%Y%m%d"),
            "platform": str(getattr(archive, "platform", "*")),
        }
        sites = list(getattr(archive, "sites", None) or ["*"])
        if "{site}" not in self.day_template:
            return [self.day_template.format(**fields, site="*")]
        return [self.day_template.format(**fields, site=site) for site in sites]


# The real key layouts (the synthetic archive writes the same ones).
NEXRAD_WATCH = SourceWatch("radar_archive", "{Y}/{m}/{d}/{site}/{site}{Ymd}_*", required=True)
GOES_WATCH = SourceWatch(
    "satellite_archive", "ABI-L1b-Rad*/{Y}/{j}/*/OR_ABI-L1b-*_{platform}_s{Y}{j}*", required=False
)
# GPM/TRMM 2A granules filed by day (gpmdata's YYYY/MM/DD layout); overpasses skip some days.
SPACEBORNE_WATCH = SourceWatch("spaceborne_archive", "{Y}/{m}/{d}/**", required=False)
DEFAULT_WATCHES: tuple[SourceWatch, ...] = (NEXRAD_WATCH, GOES_WATCH, SPACEBORNE_WATCH)


def list_day(archive: ArchiveResource, watch: SourceWatch, day: dt.date) -> list[tuple[str, int]]:
    """(relative path, size in bytes) of every file of ``day`` in one archive, sorted."""
    fs, root = archive.filesystem()
    prefix = f"{root}/" if root else ""
    found: dict[str, int] = {}
    for pattern in watch.patterns(day, archive):
        try:
            listing = fs.glob(prefix + pattern, detail=True)
        except FileNotFoundError:
            continue
        except OSError as error:
            raise ArchiveSensorError(
                f"{watch.resource_key}: cannot list {pattern!r} under {archive.url}: {error}"
            ) from error
        for path, info in listing.items():
            if info.get("type", "file") == "directory":
                continue
            relative = path[len(prefix) :] if path.startswith(prefix) else path
            found[relative] = int(info.get("size") or 0)
    return sorted(found.items())


def fingerprint(listing: Sequence[tuple[str, int]]) -> str:
    """Short, stable hash of a day's listing: changes when a file arrives, grows or goes."""
    digest = hashlib.sha256()
    for path, size in listing:
        digest.update(f"{path}\t{size}\n".encode())
    return digest.hexdigest()[:16]


def window_days(
    partitions_def: TimeWindowPartitionsDefinition, now: dt.datetime, lookback_days: int
) -> list[dt.date]:
    """The last ``lookback_days`` complete daily partitions at ``now`` (oldest first)."""
    first = partitions_def.start.date()
    last_complete = (now.astimezone(dt.UTC) - dt.timedelta(days=1)).date()
    days = [last_complete - dt.timedelta(days=i) for i in range(lookback_days)]
    return sorted(day for day in days if day >= first)


def parse_cursor(cursor: str | None) -> dict[str, str]:
    """Fingerprints by day from the cursor (an empty mapping for a new sensor)."""
    if not cursor:
        return {}
    try:
        data = json.loads(cursor)
        return {str(k): str(v) for k, v in data["days"].items()}
    except (ValueError, KeyError, TypeError, AttributeError):
        # A cursor of another format (older version): start over; run keys prevent duplicates.
        return {}


def evaluate_archives(
    archives: dict[str, ArchiveResource],
    watches: Sequence[SourceWatch],
    days: Sequence[dt.date],
    previous: dict[str, str],
) -> tuple[list[RunRequest], dict[str, str], list[str]]:
    """One tick, as a pure function of the listings: run requests, the new cursor and notes."""
    requests: list[RunRequest] = []
    cursor: dict[str, str] = {}
    notes: list[str] = []
    for day in days:
        key = day.isoformat()
        listing: list[tuple[str, int]] = []
        missing: list[str] = []
        for watch in watches:
            files = list_day(archives[watch.resource_key], watch, day)
            if watch.required and not files:
                missing.append(watch.resource_key)
            listing.extend((f"{watch.resource_key}:{path}", size) for path, size in files)
        if missing:
            notes.append(f"{key}: waiting for {', '.join(missing)}")
            if key in previous:
                cursor[key] = previous[key]
            continue
        digest = fingerprint(listing)
        cursor[key] = digest
        if previous.get(key) == digest:
            continue
        requests.append(
            RunRequest(
                run_key=f"archive-{key}-{digest}",
                partition_key=key,
                tags={
                    "rainfuse/trigger": "archive_sensor",
                    "rainfuse/input_files": str(len(listing)),
                },
            )
        )
    return requests, cursor, notes


def build_archive_sensor(
    job: UnresolvedAssetJobDefinition,
    partitions_def: TimeWindowPartitionsDefinition,
    watches: Sequence[SourceWatch] = DEFAULT_WATCHES,
    name: str = "archive_arrival_sensor",
    lookback_days: int = DEFAULT_LOOKBACK_DAYS,
    minimum_interval_seconds: int = DEFAULT_SENSOR_INTERVAL_S,
    now: Callable[[], dt.datetime] | None = None,
    default_status: DefaultSensorStatus | None = None,
) -> SensorDefinition:
    """A cursor-based sensor that requests ``job`` for each day whose inputs arrived.

    ``now`` exists for tests (a fixed clock); the daemon uses the wall clock. The sensor starts
    stopped unless ``RAINFUSE_AUTOMATION_DEFAULT=running`` (or ``default_status``) says otherwise.
    """
    if default_status is None:
        default_status = (
            DefaultSensorStatus.RUNNING
            if automation_running_by_default()
            else DefaultSensorStatus.STOPPED
        )
    resource_keys = {watch.resource_key for watch in watches}
    clock = now or (lambda: dt.datetime.now(dt.UTC))

    @sensor(
        name=name,
        job=job,
        minimum_interval_seconds=minimum_interval_seconds,
        required_resource_keys=resource_keys,
        default_status=default_status,
        description=(
            f"Requests the daily partitions of the last {lookback_days} complete days whose files "
            f"arrived in: {', '.join(sorted(resource_keys))}."
        ),
    )
    def _archive_sensor(context: SensorEvaluationContext):
        try:
            partitioned = context.repository_def.get_job(job.name).partitions_def is not None
        except Exception:  # evaluated outside a code location (tests): nothing to check
            partitioned = True
        if not partitioned:
            return SkipReason(f"{job.name} selects no daily-partitioned asset yet")
        archives = {key: getattr(context.resources, key) for key in resource_keys}
        days = window_days(partitions_def, clock(), lookback_days)
        requests, cursor, notes = evaluate_archives(
            archives, watches, days, parse_cursor(context.cursor)
        )
        new_cursor = json.dumps({"days": cursor}, sort_keys=True)
        if not requests:
            reason = "; ".join(notes) or f"no new files for {len(days)} day(s)"
            return SensorResult(skip_reason=SkipReason(reason), cursor=new_cursor)
        return SensorResult(run_requests=requests, cursor=new_cursor)

    return _archive_sensor


def alert_for_failure(context: RunFailureSensorContext) -> Alert:
    """The operator alert of a failed run: job, partition, first error line and a UI link."""
    run = context.dagster_run
    message = context.failure_event.message or "run failed"
    step_errors = []
    for event in context.get_step_failure_events():
        data = event.step_failure_data
        error = data.error if data else None
        # Dagster wraps the user's exception: report the innermost cause, the one that says why.
        while error is not None and error.cause is not None:
            error = error.cause
        error = error.message.strip().splitlines()[0] if error is not None else "failed"
        step_errors.append(f"{event.step_key}: {error}")
    details = {"steps": "; ".join(step_errors)} if step_errors else {}
    ui = os.environ.get(UI_URL_ENV, "").rstrip("/")
    if ui:
        details["url"] = f"{ui}/runs/{run.run_id}"
    partition = run.tags.get("dagster/partition")
    return Alert(
        title=f"run of {run.job_name} failed" + (f" for {partition}" if partition else ""),
        text=step_errors[0] if step_errors else message,
        run_id=run.run_id,
        job_name=run.job_name,
        partition_key=partition,
        details=details,
    )


def build_run_failure_alert(
    name: str = "run_failure_alert", minimum_interval_seconds: int = 30
) -> SensorDefinition:
    """A run-failure sensor (running by default) that sends an alert for every failed run."""

    @run_failure_sensor(
        name=name,
        default_status=DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=minimum_interval_seconds,
        description="Raises an alert (log, and RAINFUSE_ALERT_WEBHOOK when set) for every failed run.",
    )
    def _run_failure_alert(context: RunFailureSensorContext) -> None:
        send_alert(alert_for_failure(context), logger=context.log)

    return _run_failure_alert


run_failure_alert = build_run_failure_alert()
