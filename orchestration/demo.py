"""``make demo``: the whole pipeline on the embedded synthetic observing system.

1. simulate the default scenario into the archive folders of the configuration (skipped when the
   days are already there, unless ``--fresh``);
2. materialize the reference assets and the daily job for every simulated day;
3. print the scores and where the products and plots are.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import os
import sys

from orchestration.cli import day_range, ensure_dagster_home, materialize_days
from orchestration.config import load_config

DEFAULT_DEMO_DAYS = 4


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


def run_demo(days: int | None = None, fresh: bool = False) -> int:
    ensure_dagster_home()
    config = load_config()
    n_days = days or DEFAULT_DEMO_DAYS
    start = config.partitions.start_date
    dates = day_range(start, start + dt.timedelta(days=n_days - 1))
    root = archive_root()

    if importlib.util.find_spec("fusion_ops.simulate.cli") is not None:
        from fusion_ops.simulate.cli import main as simulate

        manifests = [os.path.join(root, "manifest", *d.split("-"), "manifest.json") for d in dates]
        if fresh or not all(os.path.exists(m) for m in manifests):
            _say(f"simulating {n_days} day(s) from {start} into {root}")
            workers = str(min(n_days, os.cpu_count() or 1))
            args = ["--start", start.isoformat(), "--days", str(n_days), "--out", root]
            code = simulate([*args, "--workers", workers])
            if code:
                return code
        else:
            _say(f"simulated archive for {dates[0]}..{dates[-1]} already in {root}")
    else:
        _say("the synthetic observing system is not available yet: materializing what exists")

    ok = True
    from dagster import DagsterInstance

    from orchestration.definitions import defs

    reference = defs.resolve_job_def("reference_job").execute_in_process(
        instance=DagsterInstance.get(), raise_on_error=False
    )
    ok &= reference.success
    ok &= materialize_days(dates, "daily_job")
    _say(f"Dagster instance: {os.environ['DAGSTER_HOME']} (open it with `make ui`)")
    _say(f"asset storage: {config.storage.url}")
    _say(f"products: {config.product_store.url}")
    return 0 if ok else 1
