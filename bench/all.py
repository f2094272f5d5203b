"""``rainfuse bench all`` (``make bench``): every benchmark, side by side with the library baselines.

Sections, each run in its own child process (so that one failing, timing out or holding memory
cannot spoil the others) and reported with ``status``/``reason`` and ``null`` numbers when it
cannot be measured yet:

``ingest``     Level II ingest per volume, real KLBB file and a simulated volume: bz2 floor,
               Py-ART read, Py-ART read + ``grid_from_radars``, rainfuse full ingest
               (``bench.ingest``, medians of runs);
``radar_day``  one simulated radar-day end to end, every asset, in process: wall, CPU, peak RSS,
               per-asset breakdown, projected radar-year (``bench.radar_day``);
``celery``     the same day through the Celery profile with 1 and 2 workers: speedup
               (``bench.celery_scale``);
``fusion``     fusion networks: training step, inference MPix/s, CPU and CUDA when present;
``mlp``        MLP calibration networks: training and inference samples/s
               (both ``bench.models``);
``backfill``   ``rainfuse backfill`` of 3 simulated days through a real ``dagster-daemon``, local
               and PostgreSQL profiles: seconds per day next to the same days in process, the
               year it projects (``bench.backfill``; BENCHMARKS.md section 7).

Writes BENCHMARKS.md (project root) and ``benchmarks/results.json`` and prints, as its last line,
one JSON object with the headline keys (:data:`bench._report.HEADLINE_KEYS`).
``--only`` reruns some sections and keeps the others from the previous ``results.json`` (each
section records when it was measured). ``--quick`` shrinks every section (radar every 30 min,
imager every 3 h, fewer repeats) for a smoke run; its numbers are labelled as such.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import _report
from bench._report import not_measured, say
from orchestration.runtime.config import PROJECT_ROOT

REAL_VOLUME = PROJECT_ROOT.parent / "shared" / "data" / "radar" / "KLBB20160601_150025_V06"
SECTIONS: tuple[str, ...] = ("ingest", "radar_day", "celery", "fusion", "mlp", "backfill")
#: Sections measured on another machine (a GPU worker) and imported with ``--import-gpu``; a
#: run keeps them from the previous ``results.json``.
GPU_SECTIONS: tuple[str, ...] = ("fusion_gpu", "mlp_gpu")
#: Run order: the Celery section after the others, so that its time-budget check knows what is
#: left; the backfill (the longest, over its own days) at the very end.
RUN_ORDER: tuple[str, ...] = ("ingest", "radar_day", "fusion", "mlp", "celery", "backfill")
#: Per-section time limits (s) of a full run; ``celery`` is also bounded by the day's wall time.
TIMEOUTS_S = {
    "ingest": 600,
    "radar_day": 1800,
    "celery": 2400,
    "fusion": 600,
    "mlp": 600,
    "backfill": 7200,
}
#: Keys of the backfill section added to the summary line (``profile`` figure -> key).
BACKFILL_SUMMARY = {
    ("in_process", "s_per_day"): "backfill_in_process_s_per_day",
    ("local", "s_per_day"): "backfill_local_s_per_day",
    ("local", "over_in_process"): "backfill_local_over_in_process",
    ("local", "year_projected_h"): "backfill_local_year_h",
    ("postgres", "s_per_day"): "backfill_postgres_s_per_day",
    ("postgres", "over_in_process"): "backfill_postgres_over_in_process",
    ("postgres", "year_projected_h"): "backfill_postgres_year_h",
}
INGEST_RUNS, INGEST_RUNS_QUICK = 5, 2
GRID = {"spacing_m": 1000.0, "half_width_m": 150_000.0, "top_m": 8000.0}


# ---------------------------------------------------------------------------------------------
# Ingest section (runs in a child: ``--_section ingest``)


def _ingest_ratios(res: dict[str, Any]) -> dict[str, Any]:
    """Add the ratios the report shows to one ``bench ingest`` result."""
    out = dict(res)
    read, grid = res.get("pyart_read_s"), res.get("pyart_grid_s")
    ingest, floor = res.get("rainfuse_ingest_s"), res.get("bz2_floor_s")
    out["pyart_read_grid_s"] = round(read + grid, 4) if read and grid else None
    out["ingest_over_bz2_floor"] = round(ingest / floor, 3) if ingest and floor else None
    out["ingest_over_pyart_read"] = round(ingest / read, 3) if ingest and read else None
    out["pyart_read_grid_over_ingest"] = (
        round(out["pyart_read_grid_s"] / ingest, 2) if ingest and out["pyart_read_grid_s"] else None
    )
    out.setdefault("status", "ok")
    return out


def largest_volume(archive_root: Path) -> Path | None:
    """The largest Level II file of a simulated archive (the rainiest volume of the day)."""
    from fusion_ops.readers.ground_radar import volume_time_from_name

    # any archive key form (``_V06``, ``_V03.gz``, ``.gz``): the era decides which is written
    nexrad = archive_root / "nexrad"
    files = [p for p in nexrad.rglob("*") if p.is_file() and volume_time_from_name(p.name)]
    return max(files, key=lambda p: p.stat().st_size) if files else None


def ingest_section(quick: bool, archive: str | None) -> dict[str, Any]:
    """Real and simulated volume through ``bench.ingest.run`` (the ingest's bench)."""
    try:
        from bench.ingest import run as ingest_run
    except ImportError as error:
        return not_measured(f"bench.ingest is not available: {error}")
    runs = INGEST_RUNS_QUICK if quick else INGEST_RUNS
    args = (runs, GRID["spacing_m"], GRID["half_width_m"], GRID["top_m"])
    out: dict[str, Any] = {"runs": runs}
    targets: list[tuple[str, Path | None, str]] = [
        ("real", REAL_VOLUME if REAL_VOLUME.is_file() else None, f"{REAL_VOLUME} is absent")
    ]
    sim_path = largest_volume(Path(archive)) if archive else None
    targets.append(("simulated", sim_path, "no simulated archive (radar_day simulation failed)"))
    for name, path, missing in targets:
        if path is None:
            out[name] = not_measured(missing)
            continue
        say(f"ingest: {name} volume {path.name} ({runs} runs)")
        try:
            res = _ingest_ratios(ingest_run(str(path), *args))
            res["bytes"] = path.stat().st_size
            out[name] = res
        except Exception as error:  # noqa: BLE001 - reported, the other volume still runs
            out[name] = not_measured(f"{type(error).__name__}: {error}"[:500], volume=path.name)
    ok = any(isinstance(v, dict) and v.get("status") == "ok" for v in out.values())
    out["status"] = "ok" if ok else "not_measured"
    if not ok:
        out["reason"] = "neither volume could be measured"
    return out


# ---------------------------------------------------------------------------------------------
# Child processes


def run_child(module: str, args: list[str], timeout_s: float) -> dict[str, Any]:
    """``python -m module args --result F``; the JSON it wrote, or a ``not_measured`` record."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
        result_file = Path(handle.name)
    cmd = [sys.executable, "-m", module, *args, "--result", str(result_file)]
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        cmd, cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL, start_new_session=True
    )
    timed_out = False
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        timed_out = True
        proc.terminate()  # the child stops its services in its finally blocks
        try:
            proc.wait(timeout=90)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    seconds = round(time.perf_counter() - t0, 1)
    try:
        text = result_file.read_text()
        data = json.loads(text) if text.strip() else None
    finally:
        result_file.unlink(missing_ok=True)
    if data is None:
        reason = (
            f"timed out after {timeout_s:.0f} s"
            if timed_out
            else f"{module} exited with code {proc.returncode} without a result"
        )
        data = not_measured(reason)
    data["section_wall_s"] = seconds
    data["measured_utc"] = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
    return data


def _prepare_archive(quick: bool) -> tuple[str | None, dict[str, Any]]:
    """Simulate (or find in the cache) the benchmark day; shared by ingest, radar_day, celery."""
    from bench.radar_day import (
        DEFAULT_CADENCE_MIN,
        DEFAULT_DAY,
        QUICK_CADENCE_MIN,
        ensure_archive,
    )

    cadence = QUICK_CADENCE_MIN if quick else DEFAULT_CADENCE_MIN
    try:
        info = ensure_archive(DEFAULT_DAY, cadence)
    except Exception as error:  # noqa: BLE001 - each section then reports the failure
        say(f"simulation failed: {error}")
        return None, not_measured(f"simulation failed: {type(error).__name__}: {error}")
    return info["root"], info


def _load_previous(json_path: Path) -> dict[str, Any]:
    try:
        return json.loads(json_path.read_text()).get("sections", {})
    except (OSError, ValueError):
        return {}


def _load_previous_run(json_path: Path) -> dict[str, Any]:
    """The previous ``results.json`` whole (empty when absent or unreadable)."""
    try:
        data = json.loads(json_path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) and data.get("date_utc") else {}


def previous_run_argv(run: dict[str, Any]) -> list[str]:
    """The arguments of the ``rainfuse bench all`` command that made ``run``."""
    return run.get("command", "").removeprefix("rainfuse bench all").split()


def read_gpu_result(path: Path) -> tuple[str, dict[str, Any]]:
    """A ``python -m bench.models`` result measured with CUDA -> (section, data)."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as error:
        raise SystemExit(f"bench all: cannot read GPU result {path}: {error}") from error
    part = data.get("part") if isinstance(data, dict) else None
    if part not in ("fusion", "mlp"):
        raise SystemExit(
            f"bench all: {path} is not a result of `python -m bench.models` "
            "(no 'part' of fusion or mlp)"
        )
    rows = data.get("results") or []
    if not any(str(r.get("device", "")).startswith("cuda") for r in rows):
        raise SystemExit(f"bench all: {path} has no CUDA measurement (was it run on a GPU?)")
    data["source_file"] = str(path)
    return f"{part}_gpu", data


def backfill_summary(section: dict[str, Any] | None) -> dict[str, float | None]:
    """The backfill section's figures for the summary line (``None`` where not measured)."""
    out: dict[str, float | None] = dict.fromkeys(BACKFILL_SUMMARY.values())
    if not section or section.get("status", "ok") != "ok":
        return out
    for (part, figure), key in BACKFILL_SUMMARY.items():
        value = (section.get(part) or {}).get(figure)
        out[key] = value if isinstance(value, int | float) else None
    return out


def parse_only(values: list[str] | None) -> list[str]:
    """``--only a,b --only c`` -> ordered section names; unknown names fail."""
    if not values:
        return list(SECTIONS)
    names = [n.strip() for v in values for n in v.split(",") if n.strip()]
    unknown = sorted(set(names) - set(SECTIONS))
    if unknown:
        raise SystemExit(f"bench all: unknown section(s) {unknown}; choose from {list(SECTIONS)}")
    return [s for s in SECTIONS if s in names]


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="rainfuse bench all", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller, faster smoke run")
    parser.add_argument(
        "--only",
        action="append",
        metavar="NAME",
        help=f"run only these sections (comma-separated or repeated): {', '.join(SECTIONS)}",
    )
    parser.add_argument(
        "--out-dir", type=Path, default=PROJECT_ROOT, help="where BENCHMARKS.md and benchmarks/ go"
    )
    parser.add_argument(
        "--budget-min",
        type=float,
        default=25.0,
        help="time budget: the Celery section is skipped (with the reason) when two runs of the "
        "measured day would not fit; --only celery always runs it",
    )
    parser.add_argument(
        "--import-gpu",
        action="append",
        type=Path,
        metavar="FILE",
        help="add a `python -m bench.models --part fusion|mlp --result FILE` run "
        "from a GPU machine as its own section (alone: re-render without measuring anything)",
    )
    # child mode of the ingest section
    parser.add_argument("--_section", dest="section", help=argparse.SUPPRESS)
    parser.add_argument("--archive", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    os.environ.setdefault("PYART_QUIET", "1")

    if args.section == "ingest":
        _report.graceful_sigterm()
        result = ingest_section(args.quick, args.archive)
        Path(args.result).write_text(json.dumps(result, default=str))
        return 0

    imported = dict(read_gpu_result(path) for path in args.import_gpu or [])
    selected = [] if imported and not args.only else parse_only(args.only)
    started = dt.datetime.now(dt.UTC)
    t0 = time.perf_counter()
    machine = _report.machine_description()
    if _report.is_busy(machine["load_average_start"], machine["usable_cores"]):
        say(f"the machine is busy (load {machine['load_average_start']}): timings will be noisy")
    quick = ["--quick"] if args.quick else []
    archive: str | None = None
    archive_info: dict[str, Any] = {}
    if {"ingest", "radar_day", "celery"} & set(selected):
        archive, archive_info = _prepare_archive(args.quick)
    arch = ["--archive", archive] if archive else []

    sections: dict[str, dict[str, Any]] = {}
    for name in [n for n in RUN_ORDER if n in selected]:
        say(f"section {name}")
        if name == "ingest":
            res = run_child(
                "bench.all",
                ["--_section", "ingest", *quick, *arch],
                TIMEOUTS_S["ingest"],
            )
        elif name == "radar_day":
            res = run_child("bench.radar_day", [*quick, *arch], TIMEOUTS_S["radar_day"])
            if archive_info.get("simulate_s") is not None:
                res["simulate_s"] = archive_info["simulate_s"]
        elif name == "celery":
            day_wall = (sections.get("radar_day") or {}).get("process_wall_s")
            # two runs of the day plus services; a slow day would blow the suite's time budget
            expected = 2.2 * day_wall + 120 if day_wall else None
            left = args.budget_min * 60 - (time.perf_counter() - t0)
            if expected is not None and expected > left and "celery" not in (args.only or []):
                res = not_measured(
                    f"skipped: two Celery runs of a {day_wall:.0f} s day (~{expected:.0f} s) "
                    f"would exceed the {args.budget_min:g}-minute budget of `bench all` "
                    f"({max(left, 0):.0f} s left); run `rainfuse bench all --only celery`"
                )
                res["section_wall_s"] = 0.0
            else:
                per_run = min(max(300.0, 2.0 * day_wall), 1200.0) if day_wall else 900.0
                res = run_child(
                    "bench.celery_scale",
                    [*quick, *arch, "--timeout-s", str(per_run)],
                    min(TIMEOUTS_S["celery"], 2 * per_run + 300),
                )
        elif name == "backfill":
            res = run_child("bench.backfill", quick, TIMEOUTS_S["backfill"])
        else:
            res = run_child("bench.models", ["--part", name, *quick], TIMEOUTS_S[name])
        res["quick"] = args.quick
        sections[name] = res
        say(f"section {name}: {res.get('status', 'ok')} in {res.get('section_wall_s')} s")

    json_path = args.out_dir / "benchmarks" / "results.json"
    md_path = args.out_dir / "BENCHMARKS.md"
    kept = []
    sections.update(imported)
    previous = _load_previous(json_path)
    for name in (*SECTIONS, *GPU_SECTIONS):
        if name not in sections and name in previous:
            sections[name] = previous[name]
            kept.append(name)
    sections = {name: sections[name] for name in (*SECTIONS, *GPU_SECTIONS) if name in sections}
    options = {
        "quick": args.quick,
        "only": selected,
        "imported_gpu": sorted(imported),
        "kept_from_previous": kept,
        "argv": argv,
    }
    previous_run = _load_previous_run(json_path)
    if not selected and previous_run:
        # nothing measured here: the header keeps the run that measured this machine's sections
        payload = _report.build_payload(
            sections,
            previous_run.get("machine", machine),
            {**previous_run.get("options", {}), **options, "argv": previous_run_argv(previous_run)},
            float(previous_run.get("total_wall_s") or 0.0),
            started_utc=dt.datetime.fromisoformat(previous_run["date_utc"]),
        )
    else:
        payload = _report.build_payload(
            sections, machine, options, time.perf_counter() - t0, started_utc=started
        )
    _report.write_report(payload, md_path, json_path)
    backfill = sections.get("backfill")
    if backfill:
        # the report renders sections 1-6; the backfill's own renderer adds section 7
        from bench.backfill import render_markdown as backfill_markdown

        with md_path.open("a") as handle:
            handle.write("\n" + backfill_markdown(backfill))
    say(f"wrote {md_path} and {json_path}")
    line = {
        **payload["summary"],
        **backfill_summary(backfill),
        "machine_busy": payload["machine_busy"],
        "quick": args.quick,
        "results_json": str(json_path),
    }
    print(json.dumps(line), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
