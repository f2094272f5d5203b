"""``python -m bench.celery_scale``: the same radar-day through the Celery profile.

Starts PostgreSQL (instance storage, the ``deploy/celery/dagster.yaml`` profile unchanged) and
Redis (broker and result backend) on 127.0.0.1, then for 1 and then 2 ``dagster-celery`` workers
(one process each, listening on the ``dagster`` and ``gpu`` queues) materializes the reference
job (not timed) and the daily job of the simulated day with ``dagster job execute``, from empty
asset storage each time. The wall time of the daily job and the speedup of 2 workers over 1 are
the result; per-step durations come from the run's event log in PostgreSQL.

The simulated archive is the radar-day benchmark's (shared cache), so both measure the same day.
The last printed line is one JSON object.
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
import uuid
from pathlib import Path
from typing import Any

from bench._report import emit_result, graceful_sigterm, not_measured, say
from bench.radar_day import (
    DEFAULT_CADENCE_MIN,
    DEFAULT_DAY,
    QUICK_CADENCE_MIN,
    add_day_arguments,
    ensure_archive,
    write_bench_config,
)
from bench.services import (
    BIN,
    DEPLOY_DIR,
    ServiceUnavailable,
    celery_workers,
    dagster_home,
    postgres_server,
    redis_server,
    tail,
)
from orchestration.runtime.config import PROJECT_ROOT

PROFILE_DIR = DEPLOY_DIR / "celery"
WORKER_COUNTS = (1, 2)
DEFAULT_RUN_TIMEOUT_S = 1200
#: One CPU core per worker: every thread pool a step may start (OpenMP/BLAS under NumPy, SciPy and
#: torch, numexpr, dask's threaded scheduler) is held to one thread.  With torch's default of one
#: thread per core, two workers on two cores ran 4+ busy threads and a step running beside another
#: took up to 5x longer (pansharpen_model 2.7 s alone, 15.4 s beside satellite_features).  Both
#: worker counts get the same setting, so the speedup measures workers, not threads.
WORKER_THREAD_ENV = {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "NUMEXPR_NUM_THREADS": "1",
    "DASK_NUM_WORKERS": "1",
}
#: Dagster concurrency pool of the GPU steps (orchestration/runtime/tags.py).  The profile leaves it at one slot
#: (one GPU); on a CPU-only benchmark each worker is one "device", so the pool gets one slot per
#: worker (``dagster instance concurrency set gpu N``), else every calibration and imagery step
#: would wait for the one slot whatever the number of workers.
GPU_POOL_NAME = "gpu"


class PoolSetupError(RuntimeError):
    """The benchmark instance's concurrency pool could not be set."""


def set_pool_slots(env: dict[str, str], pool: str, slots: int) -> None:
    """``dagster instance concurrency set POOL SLOTS`` in the instance ``env`` points at."""
    args = [str(BIN / "dagster"), "instance", "concurrency", "set"]
    proc = subprocess.run(
        [*args, pool, str(slots)], env=env, capture_output=True, text=True, timeout=120
    )
    if proc.returncode != 0:
        raise PoolSetupError(
            f"setting {slots} slots for pool {pool!r} failed: {proc.stderr[-500:]}"
        )


def _daily_assets_exist(env: dict[str, str], module: str) -> tuple[bool, str]:
    """Ask a fresh interpreter (with the benchmark's configuration) whether daily assets exist."""
    code = (
        f"from {module} import defs\n"
        "g = defs.resolve_asset_graph()\n"
        "print(sum(g.get(k).partitions_def is not None for k in g.materializable_asset_keys))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300
    )
    if proc.returncode != 0:
        return False, f"{module} failed to load: {proc.stderr.strip()[-500:]}"
    count = int(proc.stdout.strip().splitlines()[-1])
    if count == 0:
        return False, (
            f"no daily-partitioned asset is defined in {module} yet "
            "(the ingest, calibration and product assets have not been wired in)"
        )
    return True, ""


def _execute_job(
    job: str, env: dict[str, str], partition: str | None, log: Path, timeout_s: float, module: str
) -> tuple[int | None, float]:
    """``dagster job execute`` of ``job`` (the profile's Celery executor); returns (rc, seconds)."""
    args = [str(BIN / "dagster"), "job", "execute"]
    args += ["-m", module, "-j", job]
    if partition:
        args += ["--tags", json.dumps({"dagster/partition": partition})]
    t0 = time.perf_counter()
    with open(log, "ab") as handle:
        try:
            proc = subprocess.run(
                args,
                env=env,
                cwd=PROJECT_ROOT,
                stdout=handle,
                stderr=subprocess.STDOUT,
                timeout=timeout_s,
            )
            rc = proc.returncode
        except subprocess.TimeoutExpired:
            rc = None
    return rc, time.perf_counter() - t0


def _latest_run(env: dict[str, str], job: str) -> dict[str, Any]:
    """Status and per-step durations of the newest run of ``job`` in the benchmark's instance."""
    code = f"""
import json
from dagster import DagsterInstance, RunsFilter
inst = DagsterInstance.get()
runs = inst.get_runs(filters=RunsFilter(job_name={job!r}), limit=1)
out = {{}}
if runs:
    run = runs[0]
    out["run_id"] = run.run_id
    out["run_status"] = run.status.value
    rec = inst.get_run_record_by_id(run.run_id)
    if rec is not None and rec.start_time and rec.end_time:
        # the run itself, without the client's start-up (loading the code location)
        out["run_s"] = round(rec.end_time - rec.start_time, 2)
    worker = {{}}
    for rec in inst.all_logs(run.run_id):
        ev = rec.dagster_event
        if ev is None or ev.event_type_value != "ENGINE_EVENT" or not rec.step_key:
            continue
        md = getattr(ev.event_specific_data, "metadata", None) or {{}}
        if "Celery worker" in md:
            worker[rec.step_key] = str(md["Celery worker"].value).split("@")[0]
    t_first = None
    stats = inst.get_run_step_stats(run.run_id)
    starts = [s.start_time for s in stats if s.start_time is not None]
    t_first = min(starts) if starts else 0.0
    steps = []
    for s in stats:
        sec = None if s.start_time is None or s.end_time is None else round(s.end_time - s.start_time, 3)
        steps.append({{"step": s.step_key, "status": s.status.value if s.status else None,
                      "seconds": sec, "worker": worker.get(s.step_key),
                      "start_s": None if s.start_time is None else round(s.start_time - t_first, 2)}})
    out["steps"] = sorted(steps, key=lambda r: -(r["seconds"] or 0))
    snap = inst.get_execution_plan_snapshot(run.execution_plan_snapshot_id)
    out["deps"] = {{st.key: sorted({{h.step_key for i in st.inputs
                                   for h in i.upstream_output_handles}}) for st in snap.steps}}
print(json.dumps(out))
"""
    proc = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    if proc.returncode != 0:
        return {"run_status": None, "instance_error": proc.stderr.strip()[-500:]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def resolve_mapped_steps(
    deps: dict[str, list[str]], ran: dict[str, float] | set[str]
) -> dict[str, list[str]]:
    """Dependencies between the steps that ran, with the plan's mapped steps resolved.

    A run's execution plan names a dynamically mapped step once, ``op[?]``; the steps that ran
    are ``op[block_0]``, ``op[block_1]``, ...  Each of those depends on what ``op[?]`` depends on,
    and a step reading ``op[?]`` (the collecting step) depends on all of them.
    """
    names = set(ran)

    def expand(upstream: list[str]) -> list[str]:
        out: list[str] = []
        for up in upstream:
            if up.endswith("[?]"):
                out.extend(sorted(n for n in names if n.startswith(up[:-2])))
            else:
                out.append(up)
        return out

    resolved = {key: expand(ups) for key, ups in deps.items() if not key.endswith("[?]")}
    for name in names:
        if name not in resolved and "[" in name:
            resolved[name] = expand(deps.get(name.split("[", 1)[0] + "[?]", []))
    return resolved


def critical_path(steps: list[dict[str, Any]], deps: dict[str, list[str]]) -> dict[str, Any]:
    """The longest chain of dependent steps, and the speedup the graph allows 2 workers.

    ``steps`` are ``{"step", "seconds"}`` rows (one run's event log), ``deps`` maps a step key to
    the step keys it reads from (the run's execution plan).  With unlimited workers the run cannot
    be shorter than the critical path; with 2 it cannot be shorter than half the total step time
    either, so the best speedup of 2 workers over 1 is ``min(2, total / critical path)`` (ignoring
    the fixed launch overhead of the run, which makes the measured speedup lower still).
    """
    seconds = {r["step"]: float(r.get("seconds") or 0.0) for r in steps}
    deps = resolve_mapped_steps(deps, seconds)
    finish: dict[str, float] = {}
    before: dict[str, str | None] = {}

    def longest(key: str, seen: tuple[str, ...] = ()) -> float:
        if key in finish:
            return finish[key]
        if key in seen:
            raise ValueError(f"dependency cycle through step {key}")
        ups = [u for u in deps.get(key, []) if u in seconds or u in deps]
        best, prev = 0.0, None
        for up in ups:
            t = longest(up, (*seen, key))
            if t > best:
                best, prev = t, up
        finish[key] = best + seconds.get(key, 0.0)
        before[key] = prev
        return finish[key]

    for key in set(seconds) | set(deps):
        longest(key)
    total = sum(seconds.values())
    if not finish or total <= 0:
        return {"critical_path": [], "critical_path_s": None, "total_step_s": round(total, 2)}
    end = max(finish, key=finish.__getitem__)
    path: list[str] = []
    node: str | None = end
    while node is not None:
        path.append(node)
        node = before.get(node)
    path.reverse()
    cp = finish[end]
    return {
        "critical_path": [{"step": k, "seconds": round(seconds.get(k, 0.0), 2)} for k in path],
        "critical_path_s": round(cp, 2),
        "total_step_s": round(total, 2),
        "best_speedup_2_workers": round(min(2.0, total / cp), 2) if cp > 0 else None,
    }


def compare_runs(results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Speedup of 2 workers over 1, only when both runs completed the same steps."""
    out: dict[str, Any] = {"workers": results}
    w1 = results.get("1", {}).get("wall_s")
    w2 = results.get("2", {}).get("wall_s")
    out["speedup_2_workers"] = round(w1 / w2, 2) if w1 and w2 else None
    r1, r2 = (results.get(n, {}).get("run_s") for n in ("1", "2"))
    # the same ratio on the runs' own durations (start to end in the instance), which leave out
    # the `dagster job execute` client loading the code location (a long-lived daemon has it)
    out["speedup_2_workers_run"] = round(r1 / r2, 2) if r1 and r2 and w1 and w2 else None
    step_sets = {n: sorted(s["step"] for s in r.get("steps", [])) for n, r in results.items()}
    if out["speedup_2_workers"] is None:
        out.update(status="failed", reason="a Celery run did not complete (see workers)")
    elif len({tuple(v) for v in step_sets.values()}) > 1:
        # the working tree changed under the benchmark (an asset was added or removed)
        out.update(
            status="failed",
            speedup_2_workers=None,
            speedup_2_workers_run=None,
            reason=f"the runs executed different steps, not comparable: {step_sets}",
        )
    else:
        out["status"] = "ok"
    one = results.get("1", {})
    if one.get("steps") and one.get("deps"):
        # the single worker's step times are uncontended: the graph's own limit on scale-out
        out["graph"] = critical_path(one["steps"], one["deps"])
        if one.get("wall_s"):
            out["graph"]["overhead_1_worker_s"] = round(
                one["wall_s"] - out["graph"]["total_step_s"], 2
            )
    return out


def run_section(
    quick: bool = False,
    archive: str | None = None,
    day: dt.date = DEFAULT_DAY,
    cadence_min: float | None = None,
    timeout_s: float = DEFAULT_RUN_TIMEOUT_S,
    worker_counts: tuple[int, ...] = WORKER_COUNTS,
    module: str = "orchestration.definitions",
    keep: bool = False,
) -> dict[str, Any]:
    """The Celery section result; ``None`` numbers with a reason when something is missing."""
    cadence = cadence_min or (QUICK_CADENCE_MIN if quick else DEFAULT_CADENCE_MIN)
    try:
        info = ensure_archive(day, cadence, root=Path(archive) if archive else None)
    except Exception as error:  # noqa: BLE001 - reported, not raised
        return not_measured(f"simulating {day} failed: {type(error).__name__}: {error}")
    base: dict[str, Any] = {
        "day": day.isoformat(),
        "cadence_min": cadence,
        "n_volumes": info["counts"].get("nexrad_level2"),
        "setup": (
            "PostgreSQL instance storage + Redis broker/backend on 127.0.0.1, profile "
            "orchestration/deploy/celery (unchanged file; the instance's gpu pool set to N slots, "
            "one per worker), N dagster-celery workers with one process each (solo pool, code "
            "location preloaded) on queues dagster and gpu, each held to one thread "
            f"({', '.join(f'{k}={v}' for k, v in WORKER_THREAD_ENV.items())}), local shared "
            "asset storage; daily job run with `dagster job execute`, reference job run first "
            "and not timed."
        ),
    }
    work = Path(tempfile.mkdtemp(prefix="rainfuse-bench-celery-"))
    config = write_bench_config(Path(info["root"]), work, day)
    home = dagster_home(work, "celery")
    env = {
        **os.environ,
        "PATH": str(BIN) + os.pathsep + os.environ.get("PATH", ""),
        "PYART_QUIET": "1",
        "RAINFUSE_CONFIG": str(config),
        "RAINFUSE_PROFILE": "celery",
        "DAGSTER_HOME": str(home),
        **WORKER_THREAD_ENV,
    }
    try:
        ok, reason = _daily_assets_exist({**env, "RAINFUSE_PROFILE": "local"}, module)
        if not ok:
            return {**base, **not_measured(reason)}
        results: dict[str, dict[str, Any]] = {}
        with postgres_server() as pg, redis_server() as redis_url:
            env.update(RAINFUSE_CELERY_BROKER=redis_url, RAINFUSE_CELERY_BACKEND=redis_url)
            for n in worker_counts:
                env.update(pg.env(pg.create_database()))
                set_pool_slots(env, GPU_POOL_NAME, n)
                for folder in ("storage", "products"):
                    shutil.rmtree(work / folder, ignore_errors=True)
                logs = work / f"logs{n}"
                logs.mkdir()
                say(f"celery: {n} worker(s), day {day}")
                # names unique per run: a worker left over on the broker cannot answer for them
                names = [f"bench{k + 1}-{uuid.uuid4().hex[:6]}" for k in range(n)]
                queues = {name: ("dagster", "gpu") for name in names}
                with celery_workers(queues, env, PROFILE_DIR / "worker.yaml", logs, preload=module):
                    _execute_job(
                        "reference_job", env, None, logs / "reference.log", timeout_s, module
                    )
                    rc, seconds = _execute_job(
                        "daily_job", env, day.isoformat(), logs / "daily.log", timeout_s, module
                    )
                run = _latest_run(env, "daily_job")
                res: dict[str, Any] = {"wall_s": round(seconds, 2), **run}
                if rc is None:
                    res.update(wall_s=None, reason=f"timed out after {timeout_s:.0f} s")
                elif run.get("run_status") != "SUCCESS":
                    log_tail = tail(logs / "daily.log", 600)
                    res["reason"] = (
                        f"daily job ended {run.get('run_status')} (exit {rc}): {log_tail}"
                    )
                    res["wall_s"] = None
                results[str(n)] = res
        return {**base, **compare_runs(results)}
    except (ServiceUnavailable, PoolSetupError) as error:
        return {**base, **not_measured(str(error))}
    finally:
        if keep:
            say(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.celery_scale", description=__doc__.split("\n")[0]
    )
    add_day_arguments(parser)
    parser.add_argument("--timeout-s", type=float, default=DEFAULT_RUN_TIMEOUT_S)
    parser.add_argument("--result", help="also write the JSON result to this file")
    # a stand-in code location for checking the machinery (must define `defs`)
    parser.add_argument(
        "--code-module", default="orchestration.definitions", help=argparse.SUPPRESS
    )
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs)")
    args = parser.parse_args(argv)
    graceful_sigterm()
    result = run_section(
        quick=args.quick,
        archive=args.archive,
        day=args.day,
        cadence_min=args.cadence_min,
        timeout_s=args.timeout_s,
        module=args.code_module,
        keep=args.keep,
    )
    return emit_result(result, args.result)


if __name__ == "__main__":
    raise SystemExit(main())
