"""How many daily partitions one backfill run covers: the ``BackfillPolicy`` of ingest assets.

A decade is ~3,650 daily partitions. One run per day means 3,650 run workers to start, schedule and
monitor; one run per week or month amortises the start-up (imports, archive listings, radar
geometry caches) over many days. Use on a daily asset that can handle several partitions at once::

    from orchestration.backfill_policy import ingest_backfill_policy

    @asset(partitions_def=daily_partitions, backfill_policy=ingest_backfill_policy(), ...)
    def gauge_observations(context): ...

Such an asset reads ``context.partition_keys`` (or ``context.partition_time_window``) and returns
a dict keyed by partition key when it got more than one; the IO manager stores each value under
its own partition. The size comes from ``RAINFUSE_BACKFILL_PARTITIONS_PER_RUN`` (default 1, the
safe value for assets written for one day), read when the code location loads, so the daemon,
the webserver and the run workers must see the same value.
"""

from __future__ import annotations

import os

from dagster import BackfillPolicy

PARTITIONS_PER_RUN_ENV = "RAINFUSE_BACKFILL_PARTITIONS_PER_RUN"
DEFAULT_PARTITIONS_PER_RUN = 1
MAX_PARTITIONS_PER_RUN = 366


class BackfillPolicyError(ValueError):
    """``RAINFUSE_BACKFILL_PARTITIONS_PER_RUN`` is not a whole number of days in range."""


def partitions_per_run() -> int:
    """Partitions per backfill run from the environment (default 1)."""
    raw = os.environ.get(PARTITIONS_PER_RUN_ENV, "").strip()
    if not raw:
        return DEFAULT_PARTITIONS_PER_RUN
    try:
        value = int(raw)
    except ValueError:
        raise BackfillPolicyError(
            f"{PARTITIONS_PER_RUN_ENV}: expected an integer, got {raw!r}"
        ) from None
    if not 1 <= value <= MAX_PARTITIONS_PER_RUN:
        raise BackfillPolicyError(
            f"{PARTITIONS_PER_RUN_ENV}: {value} is outside 1..{MAX_PARTITIONS_PER_RUN}"
        )
    return value


def ingest_backfill_policy(max_partitions_per_run: int | None = None) -> BackfillPolicy:
    """``BackfillPolicy.multi_run`` with the configured (or given) partitions per run."""
    size = partitions_per_run() if max_partitions_per_run is None else max_partitions_per_run
    return BackfillPolicy.multi_run(max_partitions_per_run=size)
