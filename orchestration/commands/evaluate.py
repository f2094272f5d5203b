"""``rainfuse evaluate``: held-out scores of the MLP calibration chain from the stored evaluations.

Reads the ``calibration_evaluation`` partitions of the days asked for (default: the demo days as
``make demo`` left them) from the configured asset storage and pools the sufficient statistics of
every estimator over the days on which its model was a trained network (a day served by a
fallback is not a held-out test of the network and is left out, with its baselines). Prints a
table, then as its last line one JSON object::

    {"mlp1": S, "zr_200_1.6": S, "zr_300_1.4": S, "zr_250_1.2": S, "zr_mfb": S,
     "dualpol_blend": S, "mlp2": S, "sr_standard": S, "mlp3": S, "tb_curve": S,
     "mlp1_vs_best_baseline": {"ratio": x, "ci95": [lo, hi], "baseline": name, "n": pairs}}

with ``S = {"rmse": mm/h, "corr": r, "nbias": fraction, "n": samples}`` (``null`` where a score
cannot be computed). ``mlp1_vs_best_baseline`` is MLP-1's RMSE over that of the stronger of
``zr_mfb`` and ``dualpol_blend`` on the pooled held-out gauge hours they share, with a 95 %
paired bootstrap interval over those hours (fixed seed;
:func:`fusion_ops.calibration.evaluation.versus_best_baseline`).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence

import numpy as np

from fusion_ops.calibration.evaluation import (
    ESTIMATORS,
    MLP1_BASELINES,
    OWNERS,
    pairs_array,
    versus_best_baseline,
)
from fusion_ops.scores import pool, score_from_stats
from orchestration.commands.common import day_range, demo_days, parse_day

ASSET_KEY = "calibration_evaluation"
OWNER = dict(OWNERS)
REFERENCE = {"mlp1": "gauges (hourly, held-out)", "mlp2": "GR rain", "mlp3": "GR rain"}


def _parse(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="rainfuse evaluate",
        description="Held-out scores of the MLP calibration chain (stored daily evaluations).",
    )
    parser.add_argument("--start", type=parse_day, help="first day (default: the demo days)")
    parser.add_argument("--end", type=parse_day, help="last day (inclusive)")
    args = parser.parse_args(list(argv))
    if (args.start is None) != (args.end is None):
        parser.error("give both --start and --end, or neither")
    return args


def _days(args: argparse.Namespace) -> list[str]:
    return day_range(args.start, args.end) if args.start is not None else demo_days()


def load_evaluations(days: Sequence[str]) -> dict[str, dict]:
    """The stored evaluation record of each day that has one (loaded by the configured IO
    manager through Dagster's input API)."""
    from orchestration.runtime.io_managers import configured_io_manager

    manager = configured_io_manager()
    out = {}
    for day in days:
        try:
            out[day] = manager.load_partition(ASSET_KEY, day)
        except FileNotFoundError:
            continue
    return out


def pooled_scores(records: dict[str, dict]) -> tuple[dict[str, dict], dict[str, list[str]]]:
    """Pool each estimator over the days on which its owner model was trained (not a fallback)."""
    used: dict[str, list[str]] = {m: [] for m in REFERENCE}
    for day, rec in sorted(records.items()):
        for model in REFERENCE:
            entry = rec.get(model) or {}
            if entry and not entry.get("fallback"):
                used[model].append(day)
    scores = {}
    for est in ESTIMATORS:
        days = used[OWNER[est]]
        # records stored before a baseline existed do not carry it
        stats = (records[d][est]["stats"] for d in days if est in records[d])
        scores[est] = score_from_stats(pool(stats))
    return scores, used


def pooled_versus_best(records: dict[str, dict], days: Sequence[str]) -> dict:
    """MLP-1 against its stronger operational baseline over the held-out gauge hours of
    ``days`` pooled (:func:`~fusion_ops.calibration.evaluation.versus_best_baseline`)."""
    keys = ("gauge", "mlp1", *MLP1_BASELINES)
    series: dict[str, list[np.ndarray]] = {k: [] for k in keys}
    for day in days:
        stored = records[day].get("mlp1_pairs") or {}
        if not all(k in stored for k in keys):
            continue
        for k in keys:
            series[k].append(pairs_array(stored[k]))
    pooled = {k: np.concatenate(v) if v else np.zeros(0) for k, v in series.items()}
    return versus_best_baseline(pooled)


def _clean(value: float | int) -> float | int | None:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return round(value, 4) if isinstance(value, float) else value


def _fmt(value: float | int | None, width: int, digits: int = 3) -> str:
    if value is None:
        return f"{'-':>{width}}"
    return f"{value:>{width}.{digits}f}" if isinstance(value, float) else f"{value:>{width}d}"


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(sys.argv[1:] if argv is None else argv)
    days = _days(args)
    records = load_evaluations(days)
    scores, used = pooled_scores(records)
    result: dict = {
        est: {k: _clean(scores[est][k]) for k in ("rmse", "corr", "nbias", "n")}
        for est in ESTIMATORS
    }
    versus = pooled_versus_best(records, used["mlp1"])
    result["mlp1_vs_best_baseline"] = {
        "ratio": _clean(versus["ratio"]),
        "ci95": [_clean(v) for v in versus["ci95"]],
        "baseline": versus["baseline"],
        "n": versus["n"],
    }
    print(f"rainfuse evaluate: {days[0]} .. {days[-1]} ({len(records)} day(s) with evaluations)")
    for model, ref in REFERENCE.items():
        listed = ", ".join(used[model]) or "none (no trained model yet: fallbacks only)"
        print(f"  {model} held-out days against {ref}: {listed}")
    print(f"{'estimator':<14}{'rmse mm/h':>11}{'corr':>8}{'nbias':>8}{'n':>9}")
    for est in ESTIMATORS:
        s = result[est]
        print(
            f"{est:<14}{_fmt(s['rmse'], 11)}{_fmt(s['corr'], 8)}{_fmt(s['nbias'], 8)}"
            f"{_fmt(s['n'], 9)}"
        )
    best_zr = min(
        (result[z]["rmse"] for z in ESTIMATORS if z.startswith("zr_") and result[z]["rmse"]),
        default=None,
    )
    if best_zr and result["mlp1"]["rmse"]:
        gain = 1 - result["mlp1"]["rmse"] / best_zr
        print(f"MLP-1 RMSE vs best fixed Z-R: {100 * gain:+.1f} % lower")
    best = result["mlp1_vs_best_baseline"]
    if best["ratio"] is not None:
        lo, hi = best["ci95"]
        interval = f" (95 % {lo:.3f} .. {hi:.3f})" if lo is not None and hi is not None else ""
        print(
            f"MLP-1 RMSE / best baseline ({best['baseline']}): {best['ratio']:.3f}{interval}, "
            f"{best['n']} gauge hours"
        )
    print(json.dumps(result))
    return 0 if records else 1


if __name__ == "__main__":
    raise SystemExit(main())
