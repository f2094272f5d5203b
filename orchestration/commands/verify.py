"""``rainfuse verify [--start D1 --end D2]``: verification of the daily fused products.

Reads the ``product_verification`` value of each day from the asset storage (what the daily job
materialized), prints a table of the scores of the fused product and of each single source, and
ends with one JSON line::

    {"YYYY-MM-DD": {"fused": V, "gr": V, "sr": V, "sat": V}, ...}

with ``V = {"rmse_truth": mm, "rmse_gauges": mm, "bias_gauges": mm, "corr_gauges": r,
"csi_1mm": x}`` on daily totals (``rmse_truth`` only where truth exists; ``null`` for a source
absent that day), and ``"cold_start": true`` on a day whose product was made with a fallback
calibration model (no trained model yet; ``false`` otherwise, and for records written before
products recorded it). Without ``--start/--end`` it reads the days of the demo scenario
(``make demo``). Under each day's rows the table gives the fused RMSE minus each source's at the
withheld gauges with its 95 % bootstrap interval over those gauges, and marks a cold start:
``(cold start: fallback models mlp1, mlp2, mlp3)``.

Records written by this version also hold the estimates a user would pick instead of the fused
product: ``gr_adjusted`` (the ground radar with the product's gauge adjustment, no merging) and
``gauge_only`` (a kriging analysis of the adjusting gauges). Each day of the JSON line then has
these two keys after the sources (same score keys, plus ``csi_10mm`` and the regional truth
RMSEs ``rmse_truth_gr_coverage``, ``rmse_truth_beyond_150km``, ``rmse_truth_blocked_sector``),
and the line ends with ``"pooled"``:
:func:`~fusion_ops.products.verification_record.pool_records` over the days not flagged cold start
(each estimate -> ``{"rmse_gauges", "rmse_truth", "rmse_truth_beyond_150km", "coverage_1sigma",
"coverage_2sigma", "crps"}``, ``fused_minus_gr_adjusted`` and ``fused_minus_gauge_only`` ->
``{"mean": mm, "ci95": [lo, hi]}``, and ``note`` naming the excluded days). ``--reliability-png
PATH`` writes the pooled reliability diagram of the product's sigma.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from fusion_ops.products.verification_record import (
    BASELINES,
    POOLED_DIFFERENCES,
    POOLED_KEYS,
    fallback_models,
    pool_records,
    pooled_reliability_png,
)
from orchestration.commands.common import day_range, demo_days, parse_day

VERIFICATION_ASSET = "product_verification"
ESTIMATES = ("fused", "gr", "sr", "sat")
SCORE_KEYS = ("rmse_truth", "rmse_gauges", "bias_gauges", "corr_gauges", "csi_1mm")
#: Keys of the JSON line beyond the table's, where a record has them (this version's records).
EXTRA_KEYS = (
    "csi_10mm",
    "rmse_truth_gr_coverage",
    "rmse_truth_beyond_150km",
    "rmse_truth_blocked_sector",
)
SOURCE_NAMES = {
    "fused": "fused (gauge-adjusted)",
    "gr": "ground radar MLP-1",
    "sr": "spaceborne MLP-2",
    "sat": "satellite MLP-3",
    "gr_adjusted": "GR gauge-adjusted",
    "gauge_only": "gauge-only kriging",
}


class VerificationMissingError(RuntimeError):
    """No stored verification for a requested day (the message names the day and the path)."""


def summary_of(record: Mapping[str, Any]) -> dict[str, Any]:
    """The compact scores of each estimate in one day's verification record; the baselines
    (``gr_adjusted``, ``gauge_only``) after the sources where the record has them."""
    summary = record["summary"]
    out = {name: summary.get(name) for name in ESTIMATES}
    baselines = record.get("baselines")
    if isinstance(baselines, Mapping):
        for name in BASELINES:
            out[name] = (baselines.get(name) or {}).get("summary")
    return out


def fused_minus_sources(records: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per day and source: the fused RMSE minus the source's at the withheld gauges, with its
    bootstrap interval (absent in records written before the interval existed)."""
    out: dict[str, dict[str, Any]] = {}
    for day, record in records.items():
        scores = record.get("scores") or {}
        out[day] = {
            name: (scores.get(name) or {}).get("fused_minus_source_gauges")
            for name in ESTIMATES
            if name != "fused" and (scores.get(name) or {}).get("fused_minus_source_gauges")
        }
        for name, entry in (record.get("baselines") or {}).items():
            diff = ((entry or {}).get("scores") or {}).get("fused_minus_gauges")
            if diff:
                out[day][name] = diff
    return out


def cold_starts(records: Mapping[str, Mapping[str, Any]]) -> dict[str, list[str]]:
    """Per day: the fallback calibration models its product was made with (empty: trained)."""
    return {day: fallback_models(record) for day, record in records.items()}


def load_records(days: Sequence[str]) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """Each day's verification record from the asset storage; also the days that have none.

    Values are loaded by the configured IO manager through Dagster's input API
    (:meth:`~orchestration.runtime.io_managers._TypedUPathIOManager.load_partition`).
    """
    from orchestration.runtime.io_managers import configured_io_manager

    manager = configured_io_manager()
    found: dict[str, dict[str, Any]] = {}
    missing: list[str] = []
    for day in days:
        try:
            record = manager.load_partition(VERIFICATION_ASSET, day)
        except FileNotFoundError:
            missing.append(day)
            continue
        summary = record.get("summary") if isinstance(record, dict) else None
        if not isinstance(summary, dict):
            where = manager.stored_path(VERIFICATION_ASSET, day, "")
            raise VerificationMissingError(f"{where}: not a product verification record")
        found[day] = record
    return found, missing


def json_line(
    summaries: Mapping[str, Mapping[str, Any]],
    fallbacks: Mapping[str, Sequence[str]] | None = None,
    pooled: Mapping[str, Any] | None = None,
) -> str:
    """The last line of ``rainfuse verify``: keys exactly as issue 6 specifies; with
    ``fallbacks`` (:func:`cold_starts`), each day also says ``cold_start`` (issue 22). A day whose
    record has the baselines also has ``gr_adjusted`` and ``gauge_only`` (before ``cold_start``),
    and ``pooled`` (:func:`~fusion_ops.products.verification_record.pool_records`) ends the object
    (issue 20)."""
    out: dict[str, Any] = {}
    keys = (*SCORE_KEYS, *EXTRA_KEYS)
    for day in sorted(summaries):
        out[day] = {}
        for name in (*ESTIMATES, *BASELINES):
            if name not in ESTIMATES and name not in summaries[day]:
                continue
            entry = summaries[day].get(name)
            out[day][name] = None if entry is None else {k: entry[k] for k in keys if k in entry}
        if fallbacks is not None:
            out[day]["cold_start"] = bool(fallbacks.get(day))
    if pooled is not None:
        out["pooled"] = dict(pooled)
    return json.dumps(out, sort_keys=False)


def format_pooled(pooled: Mapping[str, Any]) -> str:
    """The pooled block of the table: one row per estimate, the two differences, the note."""
    header = f"{'pooled':<11} {'estimate':<23}" + "".join(f"{k[:12]:>13}" for k in POOLED_KEYS)
    lines = [header, "-" * len(header)]
    for name in (*ESTIMATES, *BASELINES):
        entry = pooled.get(name) or {}
        label = SOURCE_NAMES.get(name, name)
        lines.append(
            f"{'':<11} {label:<23}" + "".join(_cell(entry.get(k), 12) + " " for k in POOLED_KEYS)
        )
    for key, baseline in POOLED_DIFFERENCES.items():
        diff = pooled.get(key) or {}
        low, high = (diff.get("ci95") or [None, None])[:2]
        if diff.get("mean") is None or low is None or high is None:
            continue
        lines.append(
            f"{'':<11} fused minus {SOURCE_NAMES[baseline]} at the {pooled.get('gauge_samples')} "
            f"pooled withheld gauge-days: {diff['mean']:+.3f} mm, 95 % bootstrap interval "
            f"[{low:+.3f}, {high:+.3f}]"
        )
    lines.append(f"{'':<11} days pooled: {', '.join(pooled.get('days') or []) or 'none'}")
    lines.append(f"{'':<11} note: {pooled.get('note', '')}")
    return "\n".join(lines)


def _cell(value: Any, width: int) -> str:
    return f"{'-':>{width}}" if value is None else f"{value:>{width}.3f}"


def format_score_table(
    summaries: Mapping[str, Mapping[str, Any]],
    differences: Mapping[str, Mapping[str, Any]] | None = None,
    fallbacks: Mapping[str, Sequence[str]] | None = None,
) -> str:
    """A plain-text table: one block per day, one row per estimate, the best RMSE marked ``*``.

    With ``differences`` (:func:`fused_minus_sources`), each day ends with the fused RMSE minus
    each source's at the withheld gauges and its bootstrap interval: how much one day's gauge
    sample can say. With ``fallbacks`` (:func:`cold_starts`), a day made with fallback models
    ends with ``(cold start: fallback models mlp1, ...)``. This is what ``make demo`` prints at
    its end.
    """
    header = f"{'day':<11} {'estimate':<23}" + "".join(f"{k:>13}" for k in SCORE_KEYS)
    lines = [header, "-" * len(header)]
    for day in sorted(summaries):
        entries = summaries[day]
        best = {
            key: min(
                (e[key] for e in entries.values() if e and e.get(key) is not None),
                default=None,
            )
            for key in ("rmse_truth", "rmse_gauges")
        }
        for name in (*ESTIMATES, *(b for b in BASELINES if b in entries)):
            entry = entries.get(name)
            label = SOURCE_NAMES.get(name, name)
            if entry is None:
                lines.append(f"{day:<11} {label:<23}" + f"{'(absent this day)':>26}")
                continue
            cells = []
            for key in SCORE_KEYS:
                text = _cell(entry.get(key), 12)
                is_best = best.get(key) is not None and entry.get(key) == best[key]
                mark = "*" if is_best else " "
                cells.append(text + mark)
            lines.append(f"{day:<11} {label:<23}" + "".join(cells))
        for name, diff in ((differences or {}).get(day) or {}).items():
            if diff.get("difference_mm") is None or diff.get("low_mm") is None:
                continue
            lines.append(
                f"{'':<11} fused minus {SOURCE_NAMES.get(name, name)} at the {diff['n']} withheld "
                f"gauges: {diff['difference_mm']:+.3f} mm, "
                f"{100 * float(diff['confidence']):.0f} % bootstrap interval "
                f"[{diff['low_mm']:+.3f}, {diff['high_mm']:+.3f}]"
            )
        models = (fallbacks or {}).get(day)
        if models:
            lines.append(f"{'':<11} (cold start: fallback models {', '.join(models)})")
        lines.append("")
    lines.append(
        "daily totals (mm): RMSE against truth and against the gauges withheld from the "
        "adjustment; bias and correlation at those gauges; CSI at 1 mm/day; * lowest RMSE"
    )
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rainfuse verify",
        description="Verification of the daily fused products against withheld gauges and truth.",
    )
    parser.add_argument("--start", type=parse_day, help="first day (UTC, YYYY-MM-DD)")
    parser.add_argument("--end", type=parse_day, help="last day (inclusive)")
    parser.add_argument(
        "--reliability-png",
        help="write the pooled reliability diagram of the product's sigma (PNG) to this path",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(list(argv or []))
    if (args.start is None) != (args.end is None):
        print("rainfuse verify: give both --start and --end, or neither", file=sys.stderr)
        return 2
    try:
        days = day_range(args.start, args.end) if args.start else demo_days()
    except ValueError as error:
        print(f"rainfuse verify: {error}", file=sys.stderr)
        return 2
    try:
        records, missing = load_records(days)
    except VerificationMissingError as error:
        print(f"rainfuse verify: {error}", file=sys.stderr)
        return 1
    for day in missing:
        print(
            f"rainfuse verify: no verification stored for {day} "
            f"(materialize it: rainfuse materialize --date {day})",
            file=sys.stderr,
        )
    if not records:
        print("rainfuse verify: nothing to verify", file=sys.stderr)
        return 1
    summaries = {day: summary_of(record) for day, record in records.items()}
    fallbacks = cold_starts(records)
    pooled = pool_records(records)
    print(format_score_table(summaries, fused_minus_sources(records), fallbacks))
    if pooled is not None:
        print(format_pooled(pooled))
    if args.reliability_png:
        png = pooled_reliability_png(records)
        if png is None:
            print("rainfuse verify: no uncertainty scores to plot", file=sys.stderr)
        else:
            with open(args.reliability_png, "wb") as handle:
                handle.write(png)
            print(f"reliability diagram: {args.reliability_png}")
    print(json_line(summaries, fallbacks, pooled), flush=True)
    return 0 if not missing else 1


if __name__ == "__main__":
    raise SystemExit(main())
