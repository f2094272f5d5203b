"""``rainfuse bench backfill``: simulated days backfilled through a real ``dagster-daemon``.

The path operators use, timed end to end:

1. Simulate ``--days`` consecutive UTC days of the embedded scenario (default 3 from the radar-day
   benchmark's day, radar every 5 minutes, ABI hourly), plus the next day's gauges (they close the
   last hour of the last day), as ``make demo`` does. The archive is cached under ``data/bench/``
   keyed by the days, the cadences, the seed and a hash of the simulator's source.
2. **In process**, for comparison: the same days one after the other, each with
   :func:`bench.radar_day.materialize_day` (the radar-day benchmark's function, ``execute_job`` with
   the in-process executor) in its own child process, on one storage folder, so that each day's
   models train on the days before as in the backfill. Its figure per day is the daily job's wall
   time, imports and the reference job excluded.
3. **Through the daemon**, for each profile: ``local`` (SQLite instance, the profile's
   dagster.yaml as shipped) and ``postgres`` (a throw-away PostgreSQL server from
   :mod:`bench.services`, the production profile's dagster.yaml with the run-queue rule that keeps a
   backfill's days in date order added, see below). A temporary ``DAGSTER_HOME``, fresh storage,
   the reference job materialized first (not timed), ``dagster-daemon run -w workspace.yaml``
   started and seen alive, then ``rainfuse backfill --start D1 --end DN --wait`` submitted and
   followed to its end. The runs are read back from the instance.

Figures, per profile:

- ``s_per_day``: from the creation of the first run to the end of the last, divided by the days:
  every day's queue wait, run start-up (the run worker's and the forkserver's imports) and steps;
- ``first_run_after_s``: from the submission to the first run's creation (the daemon's backfill
  loop ticks every 30 s): paid once per backfill, not per day;
- ``wall_s``: the whole ``rainfuse backfill --wait`` command (it also waits for the backfill loop
  to mark the backfill completed);
- ``year_projected_h``: ``first_run_after_s + 365 x s_per_day`` in hours;
- ``over_in_process``: ``s_per_day`` over the in-process seconds per day of the same days;
- per run: queue wait, start-up before its first step, steps, and the idle gap after the previous
  day's run ended.

The production profile as shipped lets 8 backfill runs start at once; ``rainfuse backfill`` then
submits an asset backfill (one run per dependency wave) because days would start before the days
they read had ended. The ``postgres`` measurement adds the rule the local profile carries
(``rainfuse/backfill_chain``, one run per unique value) to that dagster.yaml, and says so in its
result.

The runs and the in-process days run with :data:`bench.radar_day.DAY_THREAD_ENV` (one OpenMP/BLAS
thread per process) so that both paths do the same work per process. The last printed line is one
JSON object (the section result); ``--result FILE`` also writes it to a file.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench._report import (
    emit_result,
    graceful_sigterm,
    load_average,
    md_table,
    not_measured,
    say,
)
from orchestration.runtime.config import PROJECT_ROOT

DEFAULT_DAYS = 3
PROFILES: tuple[str, ...] = ("local", "postgres")
#: Instance profile whose dagster.yaml each measured profile starts from.
PROFILE_YAML = {"local": "local", "postgres": "production"}
#: RAINFUSE_PROFILE of the code location in each measured profile (the executor it selects).
PROFILE_ENV = {"local": "local", "postgres": "production"}
CHAIN_RULE_YAML = (
    "      - key: rainfuse/backfill_chain\n"
    "        value: {applyLimitPerUniqueValue: true}\n"
    "        limit: 1\n"
)
DAY_TIMEOUT_S = 1800
REFERENCE_TIMEOUT_S = 600
DAEMON_START_TIMEOUT_S = 180
YEAR_DAYS = 365
#: The acceptance of issue 22 item 2: through the daemon at most this many times the in-process
#: seconds per day, and a year under this many hours.
TARGET_RATIO = 1.3
TARGET_YEAR_H = 12.0


# ---------------------------------------------------------------------------------------------
# The simulated days


def ensure_days_archive(
    start: dt.date,
    n_days: int,
    cadence_min: float,
    seed: int = 0,
    root: Path | None = None,
    fresh: bool = False,
) -> dict[str, Any]:
    """Simulate ``n_days`` from ``start`` and the next day's gauges, unless already there.

    Returns ``{"root", "simulate_s", "cached", "counts"}`` (``counts``: files per kind per day).
    """
    from bench.radar_day import (
        CACHE_ROOT,
        QUICK_ABI_CADENCE_MIN,
        QUICK_CADENCE_MIN,
        manifest_path,
        simulator_fingerprint,
    )

    abi_cadence_min = QUICK_ABI_CADENCE_MIN if cadence_min >= QUICK_CADENCE_MIN else 60.0
    days = [start + dt.timedelta(days=k) for k in range(n_days)]
    if root is None:
        key = (
            f"days-{start:%Y%m%d}-n{n_days}-c{cadence_min:g}-a{abi_cadence_min:g}-s{seed}-"
            f"{simulator_fingerprint()}"
        )
        root = CACHE_ROOT / key
    after = start + dt.timedelta(days=n_days)
    wanted = [manifest_path(root, d) for d in [*days, after]]
    if not fresh and all(p.exists() for p in wanted):
        counts = {
            d.isoformat(): json.loads(manifest_path(root, d).read_text()).get("counts", {})
            for d in days
        }
        return {"root": str(root), "simulate_s": None, "cached": True, "counts": counts}
    from fusion_ops.simulate.archive import SimulationConfig, simulate, simulate_day

    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    say(f"simulating {n_days} day(s) from {start} (radar every {cadence_min:g} min) into {root}")
    t0 = time.perf_counter()
    cfg = SimulationConfig(
        out_url=str(root),
        start=start,
        days=n_days,
        seed=seed,
        radar_cadence_min=cadence_min,
        abi_cadence_min=abi_cadence_min,
    )
    manifests = simulate(cfg, progress=None, workers=min(n_days, os.cpu_count() or 1))
    # the gauges of the next day close the last hour of the last day (as `make demo` writes them)
    gauges = SimulationConfig(
        out_url=str(root), start=start, days=n_days + 1, seed=seed, observers=("gauges",)
    )
    simulate_day(gauges, after, progress=None)
    counts = {m["day"]: m.get("counts", {}) for m in manifests}
    return {
        "root": str(root),
        "simulate_s": round(time.perf_counter() - t0, 1),
        "cached": False,
        "counts": counts,
    }


def _day_keys(start: dt.date, n_days: int) -> list[str]:
    return [(start + dt.timedelta(days=k)).isoformat() for k in range(n_days)]


# ---------------------------------------------------------------------------------------------
# In process: the radar-day benchmark's function, day after day on one storage


def in_process_days(archive: Path, start: dt.date, n_days: int, work: Path) -> dict[str, Any]:
    """Each day through :func:`bench.radar_day.materialize_day` in its own child, in order."""
    from bench.radar_day import DAY_THREAD_ENV, run_child, write_bench_config

    config = write_bench_config(archive, work, start)
    env = {**os.environ, "PYART_QUIET": "1", "RAINFUSE_PROFILE": "local", **DAY_THREAD_ENV}
    days: dict[str, Any] = {}
    for day in _day_keys(start, n_days):
        say(f"in process: {day}")
        args = ["--materialize", "--config", str(config), "--day", day]
        data, usage = run_child(
            [*args, "--home", str(work / "home")], env, DAY_TIMEOUT_S, work / "in_process.log"
        )
        record = {**(data or {}), **usage}
        record.pop("steps", None)  # the radar-day section has the per-step table
        days[day] = record
        if not data or data.get("status", "ok") != "ok":
            reason = (data or {}).get("reason") or f"exit {usage['returncode']}"
            return not_measured(f"in-process day {day} failed: {reason}"[:1000], days=days)
    walls = [d["wall_s"] for d in days.values()]
    return {
        "status": "ok",
        "days": days,
        "wall_s": round(sum(walls), 2),
        "s_per_day": round(sum(walls) / len(walls), 2),
        "first_day_s": walls[0],
        "execution": "execute_job, in-process executor, one child process per day "
        "(bench.radar_day.materialize_day); daily job wall, imports and reference job excluded",
    }


# ---------------------------------------------------------------------------------------------
# Through the daemon


def _dagster_yaml(profile: str) -> str:
    """The instance file of a measured profile (see the module doc)."""
    path = PROJECT_ROOT / "orchestration" / "deploy" / PROFILE_YAML[profile] / "dagster.yaml"
    text = path.read_text()
    if profile == "postgres" and "rainfuse/backfill_chain" not in text:
        anchor = "    tag_concurrency_limits:\n"
        if anchor not in text:
            raise RuntimeError("production dagster.yaml has no tag_concurrency_limits to extend")
        text = text.replace(anchor, anchor + CHAIN_RULE_YAML, 1)
    return text


_REFERENCE = (
    "import sys\n"
    "from dagster import DagsterInstance\n"
    "from orchestration.definitions import defs\n"
    "with DagsterInstance.get() as instance:\n"
    "    result = defs.resolve_job_def('reference_job').execute_in_process(instance=instance)\n"
    "sys.exit(0 if result.success else 1)\n"
)


def collect_runs(backfill_id: str) -> dict[str, Any]:
    """The backfill's runs from the instance of ``$DAGSTER_HOME``, oldest day first."""
    from dagster import DagsterInstance, RunsFilter

    with DagsterInstance.get() as instance:
        backfill = instance.get_backfill(backfill_id)
        records = instance.get_run_records(
            filters=RunsFilter(tags={"dagster/backfill": backfill_id})
        )
        runs = []
        for record in records:
            run = record.dagster_run
            stats = instance.get_run_step_stats(run.run_id)
            starts = [s.start_time for s in stats if s.start_time]
            ends = [s.end_time for s in stats if s.end_time]
            runs.append(
                {
                    "partition": run.tags.get("dagster/partition")
                    or run.tags.get("dagster/asset_partition_range_start"),
                    "run_id": run.run_id,
                    "status": run.status.value,
                    "created": record.create_timestamp.timestamp(),
                    "started": record.start_time,
                    "ended": record.end_time,
                    "steps": len(stats),
                    "steps_failed": sum(1 for s in stats if s.status.value == "FAILURE"),
                    "first_step_started": min(starts) if starts else None,
                    "last_step_ended": max(ends) if ends else None,
                    "step_seconds": round(
                        sum(
                            s.end_time - s.start_time for s in stats if s.end_time and s.start_time
                        ),
                        2,
                    ),
                    "executor": (run.run_config.get("execution") or {}).get("config"),
                    "chain": run.tags.get("rainfuse/backfill_chain"),
                }
            )
    runs.sort(key=lambda r: (r["partition"] or "", r["created"]))
    return {
        "backfill_status": backfill.status.value if backfill else None,
        "job_backfill": bool(backfill and not backfill.is_asset_backfill),
        "runs": runs,
    }


def _run_figures(runs: list[dict[str, Any]], submitted: float, n_days: int) -> dict[str, Any]:
    """Per-day and per-run figures of a finished backfill (see the module doc)."""
    if not runs or any(r["ended"] is None or r["started"] is None for r in runs):
        return {}
    first_created = min(r["created"] for r in runs)
    last_ended = max(r["ended"] for r in runs)
    span = last_ended - first_created
    table = []
    previous_end = None
    for r in sorted(runs, key=lambda r: r["started"]):
        startup = (
            r["first_step_started"] - r["started"] if r["first_step_started"] is not None else None
        )
        table.append(
            {
                "day": r["partition"],
                "status": r["status"],
                "steps": r["steps"],
                "queued_s": round(r["started"] - r["created"], 1),
                "after_previous_s": (
                    round(r["started"] - previous_end, 1) if previous_end is not None else None
                ),
                "startup_s": round(startup, 1) if startup is not None else None,
                "run_s": round(r["ended"] - r["started"], 1),
                "step_seconds": r["step_seconds"],
            }
        )
        previous_end = r["ended"]
    ordered = [t["day"] for t in table] == sorted(t["day"] for t in table)
    overlapping = any(
        (t["after_previous_s"] or 0.0) < 0 for t in table if t["after_previous_s"] is not None
    )
    return {
        "first_run_after_s": round(first_created - submitted, 1),
        "runs_span_s": round(span, 1),
        "s_per_day": round(span / n_days, 1),
        "year_projected_h": round(
            (first_created - submitted + YEAR_DAYS * span / n_days) / 3600, 2
        ),
        "runs_in_date_order": ordered and not overlapping,
        "per_run": table,
    }


def daemon_backfill(
    profile: str, archive: Path, start: dt.date, n_days: int, work: Path, timeout_s: float
) -> dict[str, Any]:
    """One backfill of ``n_days`` through a real daemon on ``profile`` (see the module doc)."""
    import contextlib

    from bench.radar_day import DAY_THREAD_ENV, TreeRSSSampler, write_bench_config
    from bench.services import (
        BIN,
        NotInstalled,
        ServiceUnavailable,
        postgres_server,
        start_process,
        stop_process,
        tail,
        wait_until,
    )

    work.mkdir(parents=True, exist_ok=True)
    config = write_bench_config(archive, work, start)
    home = work / "home"
    home.mkdir(exist_ok=True)
    (home / "dagster.yaml").write_text(_dagster_yaml(profile))
    env = {
        **os.environ,
        "PYART_QUIET": "1",
        "RAINFUSE_PROFILE": PROFILE_ENV[profile],
        "RAINFUSE_CONFIG": str(config),
        "DAGSTER_HOME": str(home),
        **DAY_THREAD_ENV,
    }
    out: dict[str, Any] = {"profile": profile, "instance_yaml": PROFILE_YAML[profile]}
    if profile == "postgres":
        out["instance_note"] = (
            "production profile's dagster.yaml with the rule "
            "{key: rainfuse/backfill_chain, value: {applyLimitPerUniqueValue: true}, limit: 1} added"
        )
    with contextlib.ExitStack() as stack:
        if profile == "postgres":
            try:
                server = stack.enter_context(postgres_server())
            except (NotInstalled, ServiceUnavailable) as error:
                return not_measured(f"PostgreSQL: {error}"[:500], **out)
            env.update(server.env(server.create_database()))
        say(f"{profile}: reference job (not timed)")
        reference = subprocess.run(
            [sys.executable, "-c", _REFERENCE],
            env=env,
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=REFERENCE_TIMEOUT_S,
        )
        if reference.returncode != 0:
            return not_measured(f"reference job failed: {reference.stderr[-800:]}", **out)
        daemon = start_process(
            [str(BIN / "dagster-daemon"), "run", "-w", str(PROJECT_ROOT / "workspace.yaml")],
            env,
            work / "daemon.log",
        )
        stack.callback(stop_process, daemon, 60.0)
        probe = [sys.executable, "-m", "bench.backfill", "--_daemon_alive"]
        try:
            wait_until(
                lambda: (
                    subprocess.run(probe, env=env, cwd=PROJECT_ROOT, timeout=60).returncode == 0
                ),
                DAEMON_START_TIMEOUT_S,
                "dagster-daemon heartbeat",
                process=daemon,
                interval_s=2.0,
            )
        except ServiceUnavailable as error:
            return not_measured(f"{error}: {tail(daemon.log_path, 800)}", **out)
        days = _day_keys(start, n_days)
        say(f"{profile}: rainfuse backfill {days[0]}..{days[-1]} --wait")
        command = [str(BIN / "rainfuse"), "backfill", "--start", days[0], "--end", days[-1]]
        command += ["--wait", "--poll", "2", "--timeout", str(int(timeout_s))]
        load_before = load_average()
        submitted = time.time()
        with TreeRSSSampler(daemon.pid, interval_s=1.0) as rss:
            result = subprocess.run(
                command, env=env, cwd=PROJECT_ROOT, capture_output=True, text=True,
                timeout=timeout_s + 120,
            )  # fmt: skip
        out["wall_s"] = round(time.time() - submitted, 1)
        out["peak_rss_gb"] = round(rss.peak_bytes / 1e9, 2)
        out["load_average_before"] = load_before
        out["load_average_after"] = load_average()
        out["command"] = " ".join(["rainfuse", *command[1:]])
        out["command_output"] = result.stderr.strip().splitlines()[-6:]
        backfill_id = (result.stdout.strip().splitlines() or [""])[0]
        collected = subprocess.run(
            [sys.executable, "-m", "bench.backfill", "--_collect", backfill_id],
            env=env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        if collected.returncode != 0 or not backfill_id:
            return not_measured(
                f"backfill {backfill_id or '?'} exited {result.returncode}: "
                f"{result.stderr[-600:]} {collected.stderr[-600:]}",
                **out,
            )
        found = json.loads(collected.stdout.strip().splitlines()[-1])
        runs = found["runs"]
        out.update(
            backfill_id=backfill_id,
            backfill_status=found["backfill_status"],
            job_backfill=found["job_backfill"],
            runs=len(runs),
            executor=runs[0]["executor"] if runs else None,
            chain_tag=runs[0]["chain"] if runs else None,
        )
        out.update(_run_figures(runs, submitted, n_days))
        if result.returncode != 0 or found["backfill_status"] != "COMPLETED_SUCCESS":
            out.update(
                not_measured(
                    f"backfill ended {found['backfill_status']} (exit {result.returncode}); "
                    f"daemon log: {tail(daemon.log_path, 600)}"
                )
            )
            return out
    out["status"] = "ok"
    return out


# ---------------------------------------------------------------------------------------------
# The section


def run_section(
    n_days: int = DEFAULT_DAYS,
    start: dt.date | None = None,
    cadence_min: float | None = None,
    quick: bool = False,
    profiles: tuple[str, ...] = PROFILES,
    in_process: bool = True,
    archive: str | None = None,
    keep: bool = False,
) -> dict[str, Any]:
    """The backfill section's result (``None`` numbers with a reason when not measurable)."""
    from bench.radar_day import DEFAULT_CADENCE_MIN, DEFAULT_DAY, QUICK_CADENCE_MIN

    start = start or DEFAULT_DAY
    cadence = cadence_min or (QUICK_CADENCE_MIN if quick else DEFAULT_CADENCE_MIN)
    out: dict[str, Any] = {
        "days": _day_keys(start, n_days),
        "cadence_min": cadence,
        "quick": quick,
        "load_average_start": load_average(),
        "cores": len(os.sched_getaffinity(0)),
    }
    try:
        info = ensure_days_archive(start, n_days, cadence, root=Path(archive) if archive else None)
    except Exception as error:  # noqa: BLE001 - any simulator failure is reported, not raised
        return not_measured(f"simulating the days failed: {type(error).__name__}: {error}", **out)
    out.update(archive=info["root"], simulate_s=info["simulate_s"], archive_cached=info["cached"])
    out["radar_volumes"] = [c.get("nexrad_level2") for c in info["counts"].values()]
    work = Path(tempfile.mkdtemp(prefix="rainfuse-bench-backfill-"))
    # the in-process days between the first and the second daemon measurement: the machine's
    # other load drifts, and the comparison is fairest between neighbouring measurements
    order = [*profiles[:1], *(["in_process"] if in_process else []), *profiles[1:]]
    try:
        for phase in order:
            if phase == "in_process":
                load = load_average()
                result = in_process_days(Path(info["root"]), start, n_days, work / "inproc")
                result.update(load_average_before=load, load_average_after=load_average())
                out["in_process"] = result
                continue
            say(f"through the daemon: {phase} profile")
            timeout = DAY_TIMEOUT_S * n_days
            out[phase] = daemon_backfill(
                phase, Path(info["root"]), start, n_days, work / phase, timeout
            )
    finally:
        if keep:
            say(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    reference = (out.get("in_process") or {}).get("s_per_day")
    for profile in profiles:
        section = out.get(profile) or {}
        if section.get("s_per_day") is not None and reference:
            section["over_in_process"] = round(section["s_per_day"] / reference, 2)
    out["load_average_end"] = load_average()
    measured = [p for p in profiles if (out.get(p) or {}).get("status") == "ok"]
    out["status"] = "ok" if measured else "not_measured"
    if not measured:
        out["reason"] = "; ".join(
            f"{p}: {(out.get(p) or {}).get('reason', 'not run')}" for p in profiles
        )[:1500]
    out["targets"] = {
        "over_in_process_max": TARGET_RATIO,
        "year_projected_h_max": TARGET_YEAR_H,
        "met": {
            p: (
                (out.get(p) or {}).get("over_in_process") is not None
                and out[p]["over_in_process"] <= TARGET_RATIO
                and out[p]["year_projected_h"] < TARGET_YEAR_H
            )
            for p in profiles
        },
    }
    return out


def _load(values: Any) -> str | None:
    """``[1, 5, 15-minute load]`` as ``a / b / c``."""
    return " / ".join(f"{v:.1f}" for v in values) if values else None


def render_markdown(section: dict[str, Any]) -> str:
    """BENCHMARKS.md's "Backfill through the daemon" section from a :func:`run_section` result."""
    parts = ["## 7. Backfill through the daemon\n\n"]
    stamp = [f"measured {section['measured_utc']} UTC"] if section.get("measured_utc") else []
    stamp.append(
        f"load average {section.get('load_average_start')} at start, "
        f"{section.get('load_average_end')} at end, on {section.get('cores')} cores"
    )
    if section.get("quick"):
        stamp.append("**--quick** (reduced sizes)")
    parts.append(f"_{', '.join(stamp)}_\n\n")
    if section.get("status", "ok") != "ok":
        parts.append(f"**Not measured**: {section.get('reason')}\n\n")
    days = section.get("days") or []
    inproc = section.get("in_process") or {}
    parts.append(
        f"`rainfuse backfill` of {len(days)} simulated days ({', '.join(days)}; radar every "
        f"{section.get('cadence_min'):g} min) with `dagster-daemon` running: one run per day, "
        "each the whole daily job, the days in date order, two steps at a time forked from a "
        "forkserver that imported the code location once per run. In process: the same days one "
        "after the other with the radar-day benchmark's `materialize_day` (in-process executor, "
        "one step at a time).\n\n"
    )
    rows = [
        [
            "in process (radar-day function)",
            inproc.get("s_per_day"),
            None,
            None,
            None,
            None,
            _load(inproc.get("load_average_before")),
        ]
    ]
    for name in PROFILES:
        p = section.get(name)
        if not isinstance(p, dict):
            continue
        rows.append(
            [
                f"daemon, {name} profile",
                p.get("s_per_day"),
                p.get("over_in_process"),
                p.get("first_run_after_s"),
                p.get("year_projected_h"),
                p.get("peak_rss_gb"),
                _load(p.get("load_average_before")),
            ]
        )
    header = [
        "path",
        "s per day",
        "x in process",
        "first run after (s)",
        "year (h)",
        "peak RSS (GB)",
        "load average before",
    ]
    parts.append(md_table(header, rows) + "\n\n")
    for name in PROFILES:
        p = section.get(name)
        if not isinstance(p, dict) or not p.get("per_run"):
            continue
        parts.append(f"Runs of the {name} profile ({p.get('status')}; {p.get('runs')} runs):\n\n")
        cols = ["day", "steps", "queued_s", "after_previous_s", "startup_s", "run_s"]
        parts.append(
            md_table(
                ["day", "steps", "queued (s)", "after previous day (s)", "start-up (s)", "run (s)"],
                [[r.get(c) for c in cols] for r in p["per_run"]],
            )
            + "\n\n"
        )
        if p.get("instance_note"):
            parts.append(f"Instance: {p['instance_note']}.\n\n")
    parts.append(
        "s per day = (end of the last run - creation of the first) / days; first run after = "
        "submission to the first run's creation (the daemon's backfill loop ticks every 30 s, "
        "once per backfill); year = first run after + 365 x s per day. The radar-year projection "
        "of section 2 assumes two days at once; a backfill cannot run them so (each day's "
        "models train on the days before it): the year above is the operators' path.\n"
    )
    return "".join(parts)


def _daemon_alive() -> int:
    from dagster import DagsterInstance

    from orchestration.commands.backfill import daemon_running

    with DagsterInstance.get() as instance:
        return 0 if daemon_running(instance) else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="rainfuse bench backfill", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--days", type=int, default=DEFAULT_DAYS, help="simulated days (>= 1)")
    parser.add_argument("--start", type=dt.date.fromisoformat, default=None, help="first day")
    parser.add_argument("--cadence-min", type=float, default=None, help="radar cadence (min)")
    parser.add_argument("--quick", action="store_true", help="radar every 30 min, ABI every 3 h")
    parser.add_argument(
        "--profiles",
        default=",".join(PROFILES),
        help=f"comma-separated, of {', '.join(PROFILES)} (default: both)",
    )
    parser.add_argument("--no-in-process", action="store_true", help="skip the in-process days")
    parser.add_argument("--archive", help="simulated archive folder (default: cached)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument("--result", help="also write the JSON result to this file")
    parser.add_argument("--markdown", help="also write the BENCHMARKS.md section to this file")
    parser.add_argument("--_collect", dest="collect", help=argparse.SUPPRESS)
    parser.add_argument(
        "--_daemon_alive", dest="alive", action="store_true", help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("PYART_QUIET", "1")
    if args.alive:
        return _daemon_alive()
    if args.collect is not None:
        print(json.dumps(collect_runs(args.collect)))
        return 0
    profiles = tuple(p.strip() for p in args.profiles.split(",") if p.strip())
    unknown = sorted(set(profiles) - set(PROFILES))
    if unknown or args.days < 1:
        parser.error(f"--profiles: unknown {unknown}" if unknown else "--days must be >= 1")
    graceful_sigterm()
    t0 = time.perf_counter()
    result = run_section(
        n_days=args.days,
        start=args.start,
        cadence_min=args.cadence_min,
        quick=args.quick,
        profiles=profiles,
        in_process=not args.no_in_process,
        archive=args.archive,
        keep=args.keep,
    )
    result["section_wall_s"] = round(time.perf_counter() - t0, 1)
    result["measured_utc"] = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
    if args.markdown:
        Path(args.markdown).write_text(render_markdown(result))
    return emit_result(result, args.result)


if __name__ == "__main__":
    raise SystemExit(main())
