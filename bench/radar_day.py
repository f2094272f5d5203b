"""``python -m bench.radar_day``: one radar-day end to end, and the radar-year from it.

1. Simulate one UTC day of the embedded scenario (every observer, radar volumes at a 5-minute
   cadence) into a folder. The archive is cached under ``data/bench/`` keyed by the day, the
   cadence, the seed and a hash of the simulator's source, so reruns skip this step; simulation
   time is reported but is not part of the day's cost.
2. In a fresh child process whose ``RAINFUSE_CONFIG`` points at that archive (and at empty storage
   and product folders), materialize the reference assets and then every daily asset of the day
   in process (the reference job with ``execute_in_process``, the daily job with ``execute_job``
   and the in-process executor, so no output value stays in memory), with a throw-away SQLite
   ``DAGSTER_HOME``.
3. Measure the daily job's wall and CPU time (the child's own and its children's), the peak RSS
   of the child's whole process tree (sampled with psutil, and the kernel's ``ru_maxrss``), and
   per-asset step durations from the run's event log.
4. Project the radar-year on one 2-core machine (see :func:`_report.project_radar_year_h`).

The last printed line is one JSON object (the section result).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench._report import emit_result, graceful_sigterm, not_measured, project_radar_year_h, say
from orchestration.runtime.config import PROJECT_ROOT

#: The default scenario's first day (dual-pol V06, GPM, ABI: the most work per volume).
DEFAULT_DAY = dt.date(2021, 5, 20)
DEFAULT_CADENCE_MIN = 5.0
QUICK_CADENCE_MIN = 30.0
QUICK_ABI_CADENCE_MIN = 180.0
CACHE_ROOT = PROJECT_ROOT / "data" / "bench"
MATERIALIZE_TIMEOUT_S = 1800
#: OpenMP/BLAS threads of the in-process day (torch's intra-op pool among them).  torch's default
#: (one thread per core) collapses as soon as anything else runs on the machine: its small-tensor
#: training steps wait at every parallel region for a descheduled thread.  Measured on this 2-core
#: machine at load ~5: a small conv-net training loop took 2.45 s with 1 thread and 30.9 s with 2;
#: in the day, fused_hs took 386 s instead of 8.9 s and pansharpen_model 132 s instead of 2.8 s.
#: dask's thread pool (satpy) has no such barrier and keeps its default.
DAY_THREAD_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


# ---------------------------------------------------------------------------------------------
# Simulated archive


def simulator_fingerprint() -> str:
    """Hash of the simulator's source files: a changed simulator invalidates cached archives."""
    digest = hashlib.sha256()
    folder = PROJECT_ROOT / "fusion_ops" / "simulate"
    for path in sorted(folder.rglob("*.py")):
        digest.update(path.relative_to(folder).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:10]


def manifest_path(root: Path, day: dt.date) -> Path:
    return root / "manifest" / f"{day:%Y/%m/%d}" / "manifest.json"


def ensure_archive(
    day: dt.date,
    cadence_min: float,
    seed: int = 0,
    root: Path | None = None,
    fresh: bool = False,
) -> dict[str, Any]:
    """Simulate ``day`` into ``root`` (default: a cache folder) unless it is already there.

    Imager scenes are hourly, or every 3 hours for a quick archive (radar cadence of
    :data:`QUICK_CADENCE_MIN` or coarser). Returns ``{"root", "simulate_s", "cached", "counts"}``;
    ``simulate_s`` is ``None`` when the archive came from the cache.
    """
    abi_cadence_min = QUICK_ABI_CADENCE_MIN if cadence_min >= QUICK_CADENCE_MIN else 60.0
    if root is None:
        key = (
            f"day-{day:%Y%m%d}-c{cadence_min:g}-a{abi_cadence_min:g}-s{seed}-"
            f"{simulator_fingerprint()}"
        )
        root = CACHE_ROOT / key
    manifest = manifest_path(root, day)
    if manifest.exists() and not fresh:
        counts = json.loads(manifest.read_text()).get("counts", {})
        return {"root": str(root), "simulate_s": None, "cached": True, "counts": counts}
    try:
        from fusion_ops.simulate.archive import SimulationConfig, simulate
    except ImportError as error:
        raise RuntimeError(f"the simulator is not available: {error}") from error
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    say(f"simulating {day} (radar every {cadence_min:g} min) into {root}")
    t0 = time.perf_counter()
    cfg = SimulationConfig(
        out_url=str(root),
        start=day,
        days=1,
        seed=seed,
        radar_cadence_min=cadence_min,
        abi_cadence_min=abi_cadence_min,
    )
    manifests = simulate(cfg, progress=None)
    seconds = time.perf_counter() - t0
    counts = manifests[0].get("counts", {}) if manifests else {}
    return {"root": str(root), "simulate_s": round(seconds, 1), "cached": False, "counts": counts}


def write_bench_config(archive: Path, work: Path, day: dt.date, device: str = "cpu") -> Path:
    """A rainfuse.yaml whose sources are the simulated archive and whose storage is ``work``."""
    from fusion_ops.simulate.domain import Domain

    site = Domain().site
    text = f"""# written by bench/radar_day.py for one benchmark run
sources:
  gauges: {{url: {archive}/gauges}}
  ground_radar: {{url: {archive}/nexrad, sites: [{site}]}}
  spaceborne: {{url: {archive}/spaceborne}}
  satellite: {{url: {archive}/goes, platform: G16}}
  imagery: {{url: {archive}/imagery}}
  truth: {{url: {archive}/truth}}
storage: {{url: {work}/storage}}
product_store: {{url: {work}/products}}
partitions:
  start_date: "{day.isoformat()}"
compute:
  device: {device}
"""
    work.mkdir(parents=True, exist_ok=True)
    path = work / "rainfuse.yaml"
    path.write_text(text)
    return path


# ---------------------------------------------------------------------------------------------
# Child process: materialize the day


def _cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


class RSSTimeline:
    """This process's RSS sampled in a thread, as ``(epoch seconds, bytes)`` pairs.

    The in-process run executes one step at a time, so the largest sample inside a step's
    start..end window is that step's peak (:func:`step_breakdown`).
    """

    def __init__(self, interval_s: float = 0.2) -> None:
        self.interval_s = interval_s
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> RSSTimeline:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        import psutil

        proc = psutil.Process()
        while not self._stop.is_set():
            self.samples.append((time.time(), proc.memory_info().rss))
            self._stop.wait(self.interval_s)

    def peak_between(self, start: float, end: float) -> int | None:
        inside = [rss for t, rss in self.samples if start <= t <= end]
        return max(inside) if inside else None


def step_breakdown(
    instance: Any, run_id: str, wall_s: float, rss: RSSTimeline | None = None
) -> list[dict[str, Any]]:
    """Per-step durations of a run from the instance's event log, longest first.

    With ``rss`` each step also gets ``peak_rss_gb``, the process's largest sampled RSS while it
    ran (``None`` for steps shorter than the sampling interval).
    """
    rows = []
    for stat in instance.get_run_step_stats(run_id):
        if stat.start_time is None or stat.end_time is None:
            seconds = None
        else:
            seconds = round(stat.end_time - stat.start_time, 3)
        row = {
            "step": stat.step_key,
            "status": stat.status.value if stat.status is not None else None,
            "seconds": seconds,
            "share": round(seconds / wall_s, 3) if seconds is not None and wall_s > 0 else None,
        }
        if rss is not None and seconds is not None:
            peak = rss.peak_between(stat.start_time, stat.end_time)
            row["peak_rss_gb"] = None if peak is None else round(peak / 1e9, 3)
        rows.append(row)
    rows.sort(key=lambda r: -(r["seconds"] or 0.0))
    return rows


def _failures(result: Any) -> list[str]:
    out = []
    for event in result.all_events:
        if event.event_type_value == "STEP_FAILURE":
            data = event.event_specific_data
            error = getattr(data, "error", None)
            message = error.message.strip().splitlines()[-1] if error is not None else "failed"
            out.append(f"{event.step_key}: {message[:300]}")
    return out


def _daily_job() -> Any:
    """The daily job, importable by name (``reconstructable``) for :func:`materialize_day`."""
    from orchestration.definitions import defs

    return defs.resolve_job_def("daily_job")


def materialize_day(config: Path, day: dt.date, dagster_home: Path) -> dict[str, Any]:
    """Run the reference job and the daily job of ``day`` in this process (see module doc)."""
    os.environ["RAINFUSE_CONFIG"] = str(config)
    os.environ["DAGSTER_HOME"] = str(dagster_home)
    os.environ.setdefault("PYART_QUIET", "1")
    dagster_home.mkdir(parents=True, exist_ok=True)
    (dagster_home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    t_import = time.perf_counter()
    from dagster import DagsterInstance

    from orchestration.definitions import defs

    import_s = time.perf_counter() - t_import
    instance = DagsterInstance.get()
    graph = defs.resolve_asset_graph()
    keys = sorted(graph.materializable_asset_keys)
    daily = [k.to_user_string() for k in keys if graph.get(k).partitions_def is not None]
    if not daily:
        return not_measured(
            "no daily-partitioned asset is defined in orchestration.definitions yet "
            "(the ingest, calibration and product assets have not been wired in)",
            assets=[k.to_user_string() for k in keys],
        )
    out: dict[str, Any] = {"import_s": round(import_s, 2), "daily_assets": daily}
    t0 = time.perf_counter()
    reference = defs.resolve_job_def("reference_job").execute_in_process(
        instance=instance, raise_on_error=False
    )
    out["reference_wall_s"] = round(time.perf_counter() - t0, 2)
    out["reference_status"] = "success" if reference.success else "failure"

    cpu0, t0 = _cpu_seconds(), time.perf_counter()
    with RSSTimeline() as rss:
        # execute_job with the in-process executor rather than execute_in_process: the latter
        # keeps every step's output value in memory until the run ends (for result.output_value),
        # which no deployed run does and which inflated the day's peak RSS.
        from dagster import execute_job, reconstructable

        with execute_job(
            reconstructable(_daily_job),
            instance=instance,
            tags={"dagster/partition": day.isoformat()},
            run_config={"execution": {"config": {"in_process": {}}}},
            raise_on_error=False,
        ) as result:
            success, run_id = result.success, result.run_id
            failures = _failures(result)
    wall = time.perf_counter() - t0
    out["wall_s"] = round(wall, 2)
    out["cpu_s"] = round(_cpu_seconds() - cpu0, 2)
    out["run_id"] = run_id
    out["run_status"] = "success" if success else "failure"
    out["execution"] = "execute_job, in-process executor (outputs only through the IO manager)"
    out["steps"] = step_breakdown(instance, run_id, wall, rss)
    by_peak = [r for r in out["steps"] if r.get("peak_rss_gb") is not None]
    if by_peak:
        top = max(by_peak, key=lambda r: r["peak_rss_gb"])
        out["peak_rss_step"] = {"step": top["step"], "peak_rss_gb": top["peak_rss_gb"]}
    failures = failures + ([] if reference.success else _failures(reference))
    if failures:
        out["failures"] = failures
    out["status"] = "ok" if success else "failed"
    if not success:
        out["reason"] = "daily job failed: " + "; ".join(failures)[:1000]
    return out


# ---------------------------------------------------------------------------------------------
# Child process: the day's radar volumes through fusion_ops alone (no Dagster)


def _library_targets(archive: Path, day: dt.date) -> tuple[Any, Any]:
    """The product grid (default domain, as the ground_radar asset builds it) and the gauges."""
    import pandas as pd

    from fusion_ops.grid import GaugePoints
    from orchestration.runtime.config import DomainConfig
    from orchestration.runtime.resources import DomainResource

    grid = DomainResource(**DomainConfig().model_dump()).grid()
    table = pd.read_csv(next((archive / "truth" / f"{day:%Y/%m/%d}").glob("gauges_truth_*.csv")))
    stations = table.drop_duplicates("station")
    gauges = GaugePoints(
        tuple(str(s) for s in stations["station"]),
        tuple(float(v) for v in stations["latitude"]),
        tuple(float(v) for v in stations["longitude"]),
    )
    return grid, gauges


def _ingest_chunk(job: tuple[list[str], str, str]) -> dict[str, Any]:
    """``ingest_radar_day`` (the ground_radar asset's function) over some volumes, summarised."""
    urls, archive, day_text = job
    from fusion_ops.radar.profiles import ingest_radar_day, usable_volumes

    grid, gauges = _library_targets(Path(archive), dt.date.fromisoformat(day_text))
    t0 = time.perf_counter()
    # spilled to a scratch file as the ground_radar asset does (memory: one block of volumes)
    rday = ingest_radar_day(urls, grid, gauges, scratch_dir=tempfile.gettempdir())
    seconds = time.perf_counter() - t0
    summary = {
        "seconds": seconds,
        "n_ok": len(usable_volumes(rday.inventory)),
        "profiles": len(rday.profiles),
        "grid_bytes": int(rday.grid.nbytes),
        "quarantined": [str(q) for q in rday.quarantine][:5],
        "n_quarantined": len(rday.quarantine),
    }
    rday.close()
    return summary


def library_day(archive: Path, day: dt.date, processes: int) -> dict[str, Any]:
    """Every radar volume of the day through ``fusion_ops.radar.profiles.ingest_radar_day``.

    ``processes`` > 1 splits the day's volumes into contiguous chunks, one process each (the
    process-level parallelism over volumes a backfill or an hourly-partitioned asset would use).
    """

    from fusion_ops.readers.ground_radar import list_volumes
    from fusion_ops.simulate.domain import Domain

    urls = list_volumes(str(archive / "nexrad"), day, Domain().site)
    if not urls:
        return not_measured(f"no radar volumes for {day} under {archive}/nexrad")
    cpu0, t0 = _cpu_seconds(), time.perf_counter()
    if processes <= 1:
        parts = [_ingest_chunk((urls, str(archive), day.isoformat()))]
    else:
        import multiprocessing

        size = -(-len(urls) // processes)
        jobs = [
            (urls[i : i + size], str(archive), day.isoformat()) for i in range(0, len(urls), size)
        ]
        with multiprocessing.get_context("spawn").Pool(processes) as pool:
            parts = pool.map(_ingest_chunk, jobs)
    wall = time.perf_counter() - t0
    n_ok = sum(p["n_ok"] for p in parts)
    return {
        "status": "ok",
        "processes": processes,
        "n_volumes": len(urls),
        "n_ingested": n_ok,
        "n_quarantined": sum(p["n_quarantined"] for p in parts),
        "quarantined": [q for p in parts for q in p["quarantined"]][:5],
        "wall_s": round(wall, 2),
        "cpu_s": round(_cpu_seconds() - cpu0, 2),
        "s_per_volume": round(wall / max(n_ok, 1), 4),
        "profile_rows": sum(p["profiles"] for p in parts),
        "packed_grid_mb": round(sum(p["grid_bytes"] for p in parts) / 1e6, 1),
    }


# ---------------------------------------------------------------------------------------------
# Parent: run the child, watch its memory


class TreeRSSSampler:
    """Samples the summed RSS of a process and all its descendants in a thread."""

    def __init__(self, pid: int, interval_s: float = 0.2) -> None:
        self.pid, self.interval_s = pid, interval_s
        self.peak_bytes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> TreeRSSSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def sample(self) -> int:
        import psutil

        try:
            root = psutil.Process(self.pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.Error:
            return 0
        total = 0
        for proc in procs:
            try:
                total += proc.memory_info().rss
            except psutil.Error:
                continue
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_bytes = max(self.peak_bytes, self.sample())
            self._stop.wait(self.interval_s)


def run_child(
    args: list[str], env: dict[str, str], timeout_s: float, log: Path
) -> tuple[dict | None, dict]:
    """Run ``python -m bench.radar_day <args>``; returns (its JSON, resource use).

    The child's stderr (Dagster's logs) goes to ``log``.
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    with tempfile.NamedTemporaryFile("w+", suffix=".json", delete=False) as handle:
        result_file = handle.name
    cmd = [sys.executable, "-m", "bench.radar_day", *args, "--result", result_file]
    with open(log, "ab") as err:
        proc = subprocess.Popen(
            cmd, env=env, cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL, stderr=err
        )
    timed_out = False
    with TreeRSSSampler(proc.pid) as sampler:
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            timed_out = True
            proc.kill()
            proc.wait()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    usage = {
        "process_wall_s": round(time.perf_counter() - t0, 2),
        "process_cpu_s": round(
            (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime), 2
        ),
        "sampled_tree_rss_gb": round(sampler.peak_bytes / 1e9, 3),
        "returncode": proc.returncode,
        "timed_out": timed_out,
    }
    data = None
    try:
        text = Path(result_file).read_text()
        data = json.loads(text) if text.strip() else None
    finally:
        os.unlink(result_file)
    # the kernel's high-water mark of the child (or its largest descendant), as it reported it:
    # this process's own RUSAGE_CHILDREN maximum also covers earlier children
    own = (data or {}).pop("own_max_rss_gb", None)
    usage["max_single_process_rss_gb"] = own if own is not None else usage["sampled_tree_rss_gb"]
    return data, usage


def own_max_rss_gb() -> float:
    """Largest RSS of this process or any of its reaped children (Linux reports KiB)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return round(max(own, kids) * 1024 / 1e9, 3)


def run_section(
    quick: bool = False,
    archive: str | None = None,
    day: dt.date = DEFAULT_DAY,
    cadence_min: float | None = None,
    fresh: bool = False,
    keep: bool = False,
    library: bool = True,
) -> dict[str, Any]:
    """The radar-day section result (see module doc); ``None`` numbers with a reason on failure.

    With ``library`` the day's radar volumes are also timed through fusion_ops alone
    (:func:`run_library`), under ``"library"``.
    """
    cadence = cadence_min or (QUICK_CADENCE_MIN if quick else DEFAULT_CADENCE_MIN)
    try:
        info = ensure_archive(day, cadence, root=Path(archive) if archive else None, fresh=fresh)
    except Exception as error:  # noqa: BLE001 - any simulator failure is reported, not raised
        return not_measured(f"simulating {day} failed: {type(error).__name__}: {error}")
    base = {
        "day": day.isoformat(),
        "cadence_min": cadence,
        "n_volumes": info["counts"].get("nexrad_level2"),
        "archive_files": info["counts"],
        "simulate_s": info["simulate_s"],
        "archive_cached": info["cached"],
        "quick": quick,
    }
    if library:
        base["library"] = run_library(Path(info["root"]), day)
    work = Path(tempfile.mkdtemp(prefix="rainfuse-bench-day-"))
    try:
        config = write_bench_config(Path(info["root"]), work, day)
        env = {**os.environ, "PYART_QUIET": "1", "RAINFUSE_PROFILE": "local", **DAY_THREAD_ENV}
        base["thread_env"] = dict(DAY_THREAD_ENV)
        say(f"materializing {day} in process ({base['n_volumes']} radar volumes)")
        child_args = ["--materialize", "--config", str(config), "--day", day.isoformat()]
        child_args += ["--home", str(work / "home")]
        log = work / "materialize.log"
        data, usage = run_child(child_args, env, MATERIALIZE_TIMEOUT_S, log)
        log_tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)
    out: dict[str, Any] = {**base, **usage}
    if data is None:
        reason = (
            f"timed out after {MATERIALIZE_TIMEOUT_S} s"
            if usage["timed_out"]
            else f"the materialize process exited with code {usage['returncode']} and no result"
        )
        return {**out, **not_measured(reason), "log_tail": log_tail}
    out.update(data)
    if out.get("status", "ok") != "ok":
        out["log_tail"] = log_tail
    peak = max(usage["sampled_tree_rss_gb"], usage["max_single_process_rss_gb"])
    out["peak_rss_gb"] = round(peak, 3)
    if out.get("wall_s") is not None:
        out["radar_year_projected_h"] = project_radar_year_h(out["wall_s"], out.get("cpu_s"))
        out["radar_year_serial_h"] = round(365 * out["wall_s"] / 3600, 2)
        out["projection_note"] = (
            "Radar-year projection: 365 days x max(day wall, day CPU) / 2 cores (two day-partitions "
            "run at once, e.g. a backfill with 2 run workers), excluding simulation; serial = 365 x "
            "day wall. Peak RSS is the whole materialize process tree (psutil samples every 0.2 s, "
            "and the kernel's max RSS of a single process). The day runs with "
            + " ".join(f"{k}={v}" for k, v in DAY_THREAD_ENV.items())
            + " (torch's default of one thread per core collapses when the machine is shared)."
        )
    out.setdefault("status", "ok")
    return out


def run_library(
    archive: Path, day: dt.date, process_counts: tuple[int, ...] = (1, 2)
) -> dict[str, Any]:
    """The day's radar volumes through fusion_ops alone, with 1 and 2 processes (own children)."""
    results: dict[str, Any] = {}
    for n in process_counts:
        say(f"library radar-day: {n} process(es)")
        env = {**os.environ, "PYART_QUIET": "1"}
        with tempfile.TemporaryDirectory(prefix="rainfuse-bench-lib-") as tmp:
            args = ["--library", str(n), "--archive", str(archive), "--day", day.isoformat()]
            data, usage = run_child(args, env, MATERIALIZE_TIMEOUT_S, Path(tmp) / "lib.log")
        if data is None:
            data = not_measured(f"library run exited with code {usage['returncode']}")
        data["peak_rss_gb"] = max(usage["sampled_tree_rss_gb"], usage["max_single_process_rss_gb"])
        data["process_wall_s"] = usage["process_wall_s"]
        results[str(n)] = data
    w1 = (results.get("1") or {}).get("wall_s")
    w2 = (results.get("2") or {}).get("wall_s")
    return {
        "processes": results,
        "speedup_2_processes": round(w1 / w2, 2) if w1 and w2 else None,
        "note": (
            "Radar part of the day only, without Dagster: every volume through "
            "fusion_ops.radar.profiles.ingest_radar_day, the ground_radar asset's function (read + "
            "QC + KDP + profiles above the gauges + product-grid gridding packed to uint8, codes "
            "spilled to a scratch file in 24-volume blocks as the asset does), in one process and "
            "split in two halves over 2 processes; writing the asset outputs not included."
        ),
    }


def add_day_arguments(parser: argparse.ArgumentParser) -> None:
    """The simulated day a radar-day benchmark runs on: --quick, --archive, --day, --cadence-min."""
    parser.add_argument(
        "--quick", action="store_true", help=f"radar every {QUICK_CADENCE_MIN:g} min"
    )
    parser.add_argument(
        "--archive", help="simulated archive folder (default: cached under data/bench)"
    )
    parser.add_argument("--day", type=dt.date.fromisoformat, default=DEFAULT_DAY)
    parser.add_argument("--cadence-min", type=float, default=None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.radar_day", description=__doc__.split("\n")[0]
    )
    add_day_arguments(parser)
    parser.add_argument("--fresh", action="store_true", help="re-simulate even when cached")
    parser.add_argument("--keep", action="store_true", help="keep the storage/products folder")
    parser.add_argument("--result", help="also write the JSON result to this file")
    # child mode
    parser.add_argument("--materialize", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--config", help=argparse.SUPPRESS)
    parser.add_argument("--home", help=argparse.SUPPRESS)
    parser.add_argument("--library", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument(
        "--no-library",
        action="store_true",
        help="skip timing the radar volumes via fusion_ops alone",
    )
    args = parser.parse_args(argv)
    graceful_sigterm()
    if args.library:
        result = library_day(Path(args.archive), args.day, args.library)
        result["own_max_rss_gb"] = own_max_rss_gb()
    elif args.materialize:
        result = materialize_day(Path(args.config), args.day, Path(args.home))
        result["own_max_rss_gb"] = own_max_rss_gb()
    else:
        result = run_section(
            quick=args.quick,
            archive=args.archive,
            day=args.day,
            cadence_min=args.cadence_min,
            fresh=args.fresh,
            keep=args.keep,
            library=not args.no_library,
        )
    return emit_result(result, args.result)


if __name__ == "__main__":
    raise SystemExit(main())
