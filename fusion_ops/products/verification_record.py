"""The verification record of one product day, its charted numbers and its markdown tables.

:func:`verify_product_day` is what the ``product_verification`` asset runs: it scores the fused
daily total and each single source (gridded as the fusion gridded them) against the gauges the
fusion withheld and against the truth, and checks the fused product's skill.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from fusion_ops.grid import ProductGrid
from fusion_ops.products.accumulate import REQUIRED_GAUGE_HOURS, daily_total_mm
from fusion_ops.products.adapters import (
    SOURCE_LABELS,
    DayInputs,
    fusion_sr_footprint_radius_km,
    source_cubes,
    withheld_gauge_days,
)
from fusion_ops.products.inputs import truth_daily_on_grid
from fusion_ops.products.provenance import COLD_START, product_quality
from fusion_ops.products.verify import (
    GaugeSet,
    SkillCheck,
    SkillThresholds,
    skill_check,
    skill_failures,
    summary,
    verify_day,
)
from fusion_ops.tables import fixed, markdown_table

SCORE_COLUMNS = ("rmse_truth", "rmse_gauges", "bias_gauges", "corr_gauges", "csi_1mm")
"""Columns of :func:`score_markdown` (the compact scores of ``rainfuse verify``)."""
DIFFERENCE_HEADER = (
    "fused minus",
    "RMSE difference at the withheld gauges (mm)",
    "95 % bootstrap interval",
    "gauges",
)


def daily_estimates(
    fused_daily: xr.Dataset, cubes: Mapping[str, np.ndarray | None]
) -> dict[str, np.ndarray | None]:
    """Daily totals (mm) to verify: the fused product's and each source's from its hourly cube.

    Parameters
    ----------
    fused_daily : the daily product (``rainfall_amount (time=1, lat, lon)`` in mm).
    cubes : ``gr``/``sr``/``sat`` -> ``(24, lat, lon)`` hourly rain (mm/h) or ``None``.

    Returns
    -------
    dict
        ``fused`` first, then each source (``None`` when absent), ``(lat, lon)`` in mm.
    """
    estimates: dict[str, np.ndarray | None] = {
        "fused": fused_daily["rainfall_amount"].isel(time=0).values.astype(float)
    }
    for name, cube in cubes.items():
        estimates[name] = None if cube is None else daily_total_mm(cube)[0]
    return estimates


def gauge_set(gauges: pd.DataFrame) -> GaugeSet | None:
    """Gauges (``lat_deg``, ``lon_deg``, ``daily_mm``) as a :class:`GaugeSet`; ``None`` if empty."""
    if not len(gauges):
        return None
    return GaugeSet(
        gauges["lat_deg"].to_numpy(float),
        gauges["lon_deg"].to_numpy(float),
        gauges["daily_mm"].to_numpy(float),
    )


def verify_product_day(
    day: str,
    grid: ProductGrid,
    fused_hourly: xr.Dataset,
    fused_daily: xr.Dataset,
    inputs: DayInputs,
    truth: xr.Dataset | None,
    truth_url: str,
    threshold_mm: float,
    thresholds: SkillThresholds,
    gauge_required_hours: int = REQUIRED_GAUGE_HOURS,
    labels: Mapping[str, str] = SOURCE_LABELS,
) -> dict[str, Any]:
    """Scores of the fused product and each source against the withheld gauges and the truth.

    Parameters
    ----------
    day : ISO date of the UTC day.
    grid : the product grid.
    fused_hourly : the hourly product (its attributes name the withheld gauges, the SR
        footprint radius the fusion used and its quality flag).
    fused_daily : the daily product (``rainfall_amount``).
    inputs : the day's upstream values (single sources and gauge table).
    truth : the synthetic truth (``None``: no truth scores); ``truth_url`` names it.
    threshold_mm : rain/no-rain threshold (mm/day) of POD/FAR/CSI.
    thresholds : minimum skill of the fused product.
    gauge_required_hours : valid hours a gauge needs for a daily total.
    labels : ``gr``/``sr``/``sat`` -> the name an input error gives the source.

    Returns
    -------
    dict
        ``day``, ``summary`` (compact scores), ``scores`` (full), ``withheld_gauges``,
        ``withheld_gauges_complete``, ``truth`` (its URL or ``None``), ``thresholds`` and
        ``failures`` (empty: the fused product passes); then, when the product records its
        quality (:func:`~fusion_ops.products.provenance.product_quality`), ``quality_flag``
        (``cold_start`` or ``ok``) and ``fallback_models`` (list).
    """
    lat_deg, lon_deg = grid.lat, grid.lon
    radius_km = fusion_sr_footprint_radius_km(fused_hourly.attrs)
    cubes = source_cubes(inputs, day, lat_deg, lon_deg, radius_km, labels)
    estimates = daily_estimates(fused_daily, cubes)
    gauges, withheld = withheld_gauge_days(
        fused_hourly.attrs, inputs.gauge_table, day, gauge_required_hours
    )
    kept = gauges.loc[withheld]
    truth_mm = None if truth is None else truth_daily_on_grid(truth, lat_deg, lon_deg, truth_url)
    scores = verify_day(estimates, lat_deg, lon_deg, gauge_set(kept), truth_mm, threshold_mm)
    failures = skill_failures(scores, thresholds)
    record: dict[str, Any] = {
        "day": day,
        "summary": summary(scores),
        "scores": scores,
        "withheld_gauges": int(withheld.sum()),
        "withheld_gauges_complete": int(np.isfinite(kept["daily_mm"].to_numpy(float)).sum()),
        "truth": truth_url if truth_mm is not None else None,
        "thresholds": dataclasses.asdict(thresholds),
        "failures": failures,
    }
    return {**record, **(product_quality(fused_hourly.attrs) or {})}


def fallback_models(record: Mapping[str, Any]) -> list[str]:
    """The fallback calibration models a verified product was made with (empty: all trained, or
    a record written before products recorded their quality)."""
    if record.get("quality_flag") != COLD_START:
        return []
    return [str(name) for name in record.get("fallback_models") or []] or ["unknown"]


def record_skill_check(record: Mapping[str, Any]) -> SkillCheck:
    """The ``fused_product_skill`` check's decision on a verification record
    (:func:`~fusion_ops.products.verify.skill_check`): ``warn`` on a cold start."""
    return skill_check(list(record.get("failures", [])), fallback_models(record))


def verification_numbers(record: Mapping[str, Any]) -> dict[str, int | bool | float]:
    """The numbers of a verification record that are charted across partitions.

    Returns
    -------
    dict
        ``withheld_gauges`` (complete withheld gauges), ``skill_ok``, ``<estimate>_<score>`` of
        the compact scores, ``fused_on_<source>_support_rmse_<ref>`` (the fused product on a
        partial source's support) and ``fused_minus_<source>_rmse_gauges_<key>`` (the fused RMSE
        margin over each source and its bootstrap interval). Undefined scores are left out.
        ``cold_start`` when the record knows the product's quality flag.
    """
    scores = record["scores"]
    out: dict[str, int | bool | float] = {
        "withheld_gauges": int(record["withheld_gauges_complete"]),
        "skill_ok": not record["failures"],
    }
    if "quality_flag" in record:
        out["cold_start"] = record["quality_flag"] == COLD_START
    for name, entry in record["summary"].items():
        for key, value in (entry or {}).items():
            if value is not None:
                out[f"{name}_{key}"] = float(value)
    for name, entry in scores.items():
        for ref in ("truth", "gauges"):
            same = (entry or {}).get(f"fused_same_support_{ref}") or {}
            if same.get("rmse") is not None:
                out[f"fused_on_{name}_support_rmse_{ref}"] = same["rmse"]
    for name, entry in scores.items():
        diff = (entry or {}).get("fused_minus_source_gauges") or {}
        for key in ("difference_mm", "low_mm", "high_mm"):
            if diff.get(key) is not None:
                out[f"fused_minus_{name}_rmse_gauges_{key}"] = diff[key]
    return out


def score_markdown(compact: Mapping[str, Mapping[str, float | None] | None]) -> str:
    """A markdown table of the compact scores: one row per estimate, 3 decimals, ``-`` missing."""
    rows = [
        [name, *(None if entry is None else entry.get(k) for k in SCORE_COLUMNS)]
        for name, entry in compact.items()
    ]
    return markdown_table(["estimate", *SCORE_COLUMNS], rows, fixed(3))


def difference_markdown(scores: Mapping[str, Any]) -> str:
    """Fused RMSE minus each source's at the withheld gauges (mm), with the bootstrap interval."""
    rows = []
    for name, entry in scores.items():
        diff = (entry or {}).get("fused_minus_source_gauges") or {}
        if diff.get("difference_mm") is None:
            continue
        low, high = diff.get("low_mm"), diff.get("high_mm")
        interval = "-" if low is None or high is None else f"[{low:+.3f}, {high:+.3f}]"
        rows.append([name, diff["difference_mm"], interval, str(diff["n"])])
    return markdown_table(DIFFERENCE_HEADER, rows, fixed(3, signed=True))


def verification_markdown(record: Mapping[str, Any]) -> str:
    """Both tables of a verification record: the scores, then the fused margins."""
    return score_markdown(record["summary"]) + "\n\n" + difference_markdown(record["scores"])
