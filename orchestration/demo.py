"""``make demo``: the whole pipeline on the embedded synthetic observing system.

Two scenarios, each a configuration file (:data:`SCENARIOS`) whose simulated instruments follow
the era table (:mod:`fusion_ops.eras`) on its dates:

* ``modern`` (the default, ``rainfuse.yaml``): KMLB from 2021-05-20, dual-pol Level II V06,
  GPM V07, GOES-16 ABI;
* ``trmm`` (``scenarios/trmm.yaml``): KMLB from 2009-05-20, single-pol Level II in ``.gz`` keys,
  TRMM PR V7 HDF4, no ABI; its Dagster instance is ``data/trmm/dagster_home``.

1. simulate the scenario into the archive folders of the configuration (skipped when the
   days are already there, unless ``--fresh``), plus the gauges of the following day: a gauge's
   report for the last hour of a day is dated 00:00 of the next day, as in ISD;
2. materialize the reference assets and the daily job for every simulated day, in order (each
   day's models train on the days before it);
3. print the calibration and verification score tables and where the products and plots are.

The runs print one line per step as it ends (``[demo] 2009-05-20  <step>  ok  72.1 s``); the
full Dagster event log goes to a file under ``$DAGSTER_HOME/logs`` whose path the demo prints at
the start and at the end.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import time
from pathlib import Path

from orchestration.commands.common import (
    DEFAULT_DEMO_DAYS,
    QuietRuns,
    day_range,
    ensure_dagster_home,
    materialize_days,
)
from orchestration.runtime.config import PROJECT_ROOT, load_config

#: One OpenMP/BLAS thread (torch's intra-op pool among them) unless the caller set otherwise:
#: the demo materializes one step at a time, and torch's default of one thread per core makes
#: the small imagery and MLP training steps wait at every parallel region for a thread the OS
#: descheduled as soon as anything else runs on a 2-core machine (measured by the radar-day
#: benchmark: fused_hs 386 s with 2 threads under load, 8.9 s with 1).
DEMO_THREAD_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _say(message: str) -> None:
    print(f"[demo] {message}", file=sys.stderr, flush=True)


def archive_root() -> str:
    """The folder the simulator writes into: the common parent of the configured sources."""
    sources = load_config().sources
    urls = [spec.url for _, spec in sources]
    parents = {os.path.dirname(url.rstrip("/")) for url in urls}
    if len(parents) != 1 or "://" in next(iter(parents)):
        raise SystemExit(
            "demo: the sources in the configuration do not share one local folder; the demo runs "
            "on the embedded default (unset RAINFUSE_CONFIG)"
        )
    return parents.pop()


def _manifest(root: str, day: str) -> str:
    return os.path.join(root, "manifest", *day.split("-"), "manifest.json")


def simulate_archive(root: str, start: dt.date, n_days: int, fresh: bool) -> int:
    """Simulate the demo days (in parallel processes) and the next day's gauges."""
    from fusion_ops.simulate.archive import SimulationConfig, simulate_day
    from fusion_ops.simulate.cli import main as simulate

    dates = day_range(start, start + dt.timedelta(days=n_days - 1))
    next_day = start + dt.timedelta(days=n_days)
    if not fresh and all(os.path.exists(_manifest(root, d)) for d in dates):
        _say(f"simulated archive for {dates[0]}..{dates[-1]} already in {root}")
    else:
        _say(f"simulating {n_days} day(s) from {start} into {root}")
        workers = str(min(n_days, os.cpu_count() or 1))
        args = ["--start", start.isoformat(), "--days", str(n_days), "--out", root]
        code = simulate([*args, "--workers", workers, "--summary"])
        if code:
            return code
    if fresh or not os.path.exists(_manifest(root, next_day.isoformat())):
        _say(f"simulating the gauges of {next_day} (they close the last hour of {dates[-1]})")
        cfg = SimulationConfig(out_url=root, start=start, days=n_days + 1, observers=("gauges",))
        simulate_day(cfg, next_day, progress=None)
    return 0


def print_scores(dates: list[str], config) -> None:
    """The calibration chain's held-out scores, the verification table and the product paths."""
    from orchestration.commands import evaluate, verify

    print("\n== Calibration chain, held-out scores (rainfuse evaluate) ==", flush=True)
    evaluate.main(["--start", dates[0], "--end", dates[-1]])
    print("\n== Daily fused product verification (rainfuse verify) ==", flush=True)
    records, missing = verify.load_records(dates)
    summaries = {day: verify.summary_of(record) for day, record in records.items()}
    differences = verify.fused_minus_sources(records)
    print(verify.format_score_table(summaries, differences, verify.cold_starts(records)))
    if missing:
        print(f"no verification stored for: {', '.join(missing)}")
    from fusion_ops.products.writers import product_relative_paths

    print("\n== Products ==")
    for day in dates:
        for path in product_relative_paths(day, config.domain.name).values():
            print(f"{config.product_store.url}/{path}")


#: Scenario name -> (configuration file, Dagster home when ``$DAGSTER_HOME`` is not set).
SCENARIOS: dict[str, tuple[Path, Path | None]] = {
    "modern": (PROJECT_ROOT / "rainfuse.yaml", None),
    "trmm": (
        PROJECT_ROOT / "scenarios" / "trmm.yaml",
        PROJECT_ROOT / "data" / "trmm" / "dagster_home",
    ),
}
DEFAULT_SCENARIO = "modern"


def select_scenario(name: str) -> Path:
    """Point the configuration (and, for a non-default scenario, the Dagster home) at ``name``.

    Must run before the code location is imported: its partitions come from the configuration.
    An explicit ``RAINFUSE_CONFIG`` wins for the default scenario (an operator's own file).
    """
    if name not in SCENARIOS:
        raise SystemExit(f"demo: unknown scenario {name!r}; one of {', '.join(SCENARIOS)}")
    config_file, home = SCENARIOS[name]
    if name != DEFAULT_SCENARIO or not os.environ.get("RAINFUSE_CONFIG"):
        os.environ["RAINFUSE_CONFIG"] = str(config_file)
    if home is not None and not os.environ.get("DAGSTER_HOME"):
        os.environ["DAGSTER_HOME"] = str(home)
    return Path(os.environ["RAINFUSE_CONFIG"])


def run_demo(days: int | None = None, fresh: bool = False, scenario: str = DEFAULT_SCENARIO) -> int:
    started = time.monotonic()
    config_file = select_scenario(scenario)
    for name, value in DEMO_THREAD_ENV.items():
        os.environ.setdefault(name, value)
    ensure_dagster_home()
    config = load_config()
    n_days = days or DEFAULT_DEMO_DAYS
    start = config.partitions.start_date
    dates = day_range(start, start + dt.timedelta(days=n_days - 1))
    runs = QuietRuns("demo")
    _say(f"scenario {scenario}: {config_file}, {n_days} day(s) from {start}")
    _say(f"Dagster event log (every event of the runs): {runs.events_path}")

    code = simulate_archive(archive_root(), start, n_days, fresh)
    if code:
        return code

    import torch
    from dagster import DagsterInstance

    from orchestration.definitions import defs

    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    with runs:
        reference = defs.resolve_job_def("reference_job")
        ok = runs.run(reference, label="reference", instance=DagsterInstance.get())
        ok = ok and materialize_days(dates, "daily_job", runs=runs)
    print_scores(dates, config)
    ui = "make ui" if scenario == DEFAULT_SCENARIO else f"make ui-{scenario}"
    print(f"\nDagster instance: {os.environ['DAGSTER_HOME']} (browse the runs with `{ui}`)")
    print(f"Dagster event log: {runs.events_path}")
    print(f"asset storage: {config.storage.url}")
    print(
        f"demo finished in {(time.monotonic() - started) / 60:.1f} min: {'ok' if ok else 'FAILED'}"
    )
    return 0 if ok else 1
