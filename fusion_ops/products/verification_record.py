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
    MIN_GAUGE_PAIRS,
    GaugeSet,
    RadarGeometry,
    SkillCheck,
    SkillThresholds,
    extended_summary,
    nearest_cell_values,
    region_masks,
    rmse_difference_interval,
    skill_check,
    skill_failures,
    summary,
    verify_day,
    verify_estimate,
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
    radar: RadarGeometry | None = None,
    gauge_method: str = "kriging",
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
    radar : the ground radar's site and blocked sector (regional truth scores beyond 150 km and
        in the blocked sector; ``None``: only the domain and the GR coverage).
    gauge_method : the gauge-only analysis (``kriging`` or ``idw``).

    Returns
    -------
    dict
        ``day``, ``summary`` (compact scores), ``scores`` (full), ``withheld_gauges``,
        ``withheld_gauges_complete``, ``truth`` (its URL or ``None``), ``thresholds`` and
        ``failures`` (empty: the fused product passes); then, when the product records its
        quality (:func:`~fusion_ops.products.provenance.product_quality`), ``quality_flag``
        (``cold_start`` or ``ok``) and ``fallback_models`` (list). When the product records its
        adjustment (``rainfuse_adjustment``: every product of this version), also
        :func:`baseline_verification`'s ``baselines``, ``uncertainty`` and ``withheld_samples``,
        and the compact scores gain ``csi_10mm`` and the regional truth RMSEs.
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
    record.update(product_quality(fused_hourly.attrs) or {})
    if ADJUSTMENT_ATTR in fused_hourly.attrs:
        complete = np.isfinite(gauges["daily_mm"].to_numpy(float))
        record.update(
            baseline_verification(
                grid,
                fused_hourly.attrs,
                fused_daily,
                estimates,
                scores,
                gauges.loc[complete & ~withheld],
                kept,
                truth_mm,
                threshold_mm,
                radar,
                gauge_method,
            )
        )
        record["summary"] = {name: extended_summary(e) for name, e in scores.items()}
    return record


ADJUSTMENT_ATTR = "rainfuse_adjustment"
"""Hourly product attribute (JSON): the adjustment the product used and the one configured."""
BASELINES = ("gr_adjusted", "gauge_only")
"""The estimates a user would pick instead of the fused product, besides the raw sources."""
SAMPLE_ESTIMATES = ("fused", "gr", "sr", "sat", *BASELINES)


def _listed(values: np.ndarray) -> list[float | None]:
    return [float(v) if np.isfinite(v) else None for v in np.asarray(values, float).ravel()]


def baseline_verification(
    grid: ProductGrid,
    hourly_attrs: Mapping[str, Any],
    fused_daily: xr.Dataset,
    estimates: Mapping[str, np.ndarray | None],
    scores: dict[str, Any],
    adjusting: pd.DataFrame,
    withheld: pd.DataFrame,
    truth_mm: np.ndarray | None,
    threshold_mm: float,
    radar: RadarGeometry | None,
    gauge_method: str = "kriging",
) -> dict[str, Any]:
    """The fair comparison of one day: baselines, regional scores, uncertainty and samples.

    * ``gr_adjusted``: the GR daily total adjusted to the same adjusting gauges with the
      product's adjustment procedure (the configured method; ``auto`` chooses on the GR itself,
      :func:`~fusion_ops.products.adjust.adjust_as_configured`), no merging;
    * ``gauge_only``: the adjusting gauges interpolated alone
      (:func:`~fusion_ops.products.gauge_analysis.gauge_only_analysis`).

    Each is scored like the sources (:func:`~fusion_ops.products.verify.verify_estimate`, at the
    withheld gauges and against the truth in every region) with the fused RMSE minus its own at
    the withheld gauges and the bootstrap interval (``fused_minus_gauges``). The entries of
    ``scores`` (fused and the sources) gain ``truth_regions`` and ``csi_10mm`` in place. The
    product's sigma (``rainfall_amount_stddev``) is checked at the withheld gauges and against the
    truth (:func:`~fusion_ops.products.uncertainty.uncertainty_scores`). ``withheld_samples`` keeps
    each estimate's value at every withheld gauge (and the fused sigma), so that ``rainfuse
    verify`` can pool gauges over days and bootstrap the pooled differences.

    Returns
    -------
    dict
        ``baselines``, ``regions`` (cells per region), ``uncertainty``, ``withheld_samples``.
    """
    import json

    from fusion_ops.products.adjust import AdjustConfig, adjust_as_configured
    from fusion_ops.products.gauge_analysis import gauge_only_analysis
    from fusion_ops.products.uncertainty import SIGMA_CALIBRATION_ATTR, uncertainty_scores

    lat, lon = grid.lat, grid.lon
    adjustment = json.loads(str(hourly_attrs.get(ADJUSTMENT_ATTR, "{}")))
    configured = str(adjustment.get("configured") or adjustment.get("method") or "auto")
    if configured == "none":
        configured = "auto"
    glat = adjusting["lat_deg"].to_numpy(float)
    glon = adjusting["lon_deg"].to_numpy(float)
    gobs = adjusting["daily_mm"].to_numpy(float)
    kept = gauge_set(withheld.loc[np.isfinite(withheld["daily_mm"].to_numpy(float))])
    regions = region_masks(lat, lon, estimates.get("gr"), radar)

    baselines: dict[str, dict[str, Any] | None] = {}
    fields: dict[str, np.ndarray | None] = {}
    gr = estimates.get("gr")
    if gr is None:
        fields["gr_adjusted"], how = None, {"method": None, "reason": "no GR that day"}
    else:
        result, method = adjust_as_configured(
            gr,
            lat,
            lon,
            glat,
            glon,
            gobs,
            AdjustConfig(method=configured),  # type: ignore[arg-type]
        )
        fields["gr_adjusted"] = result.daily_mm
        how = {"method": method, "configured": configured, "n_gauges": int(result.n_gauges)}
    baselines["gr_adjusted"] = how
    analysis = gauge_only_analysis(lat, lon, glat, glon, gobs, gauge_method)  # type: ignore[arg-type]
    if analysis is None:
        fields["gauge_only"] = None
        baselines["gauge_only"] = {"method": None, "reason": "fewer than 5 adjusting gauges"}
    else:
        fields["gauge_only"] = analysis.daily_mm
        baselines["gauge_only"] = {
            "method": analysis.method,
            "n_gauges": analysis.n_gauges,
            "params": analysis.params,
            "library": "wradlib.ipol",
        }

    fused = estimates["fused"]

    def at(field: np.ndarray) -> np.ndarray:
        assert kept is not None
        return nearest_cell_values(field, lat, lon, kept.lat_deg, kept.lon_deg)

    for name, entry in scores.items():
        field = estimates.get(name)
        if entry is None or field is None:
            continue
        extra = verify_estimate(field, lat, lon, kept, truth_mm, regions, threshold_mm)
        for ref in ("gauges", "truth"):
            if ref in entry and ref in extra:
                entry[ref]["csi_10mm"] = extra[ref]["csi_10mm"]
        if "truth_regions" in extra:
            entry["truth_regions"] = extra["truth_regions"]
    for name in BASELINES:
        field = fields[name]
        if field is None or not np.isfinite(field).any():
            baselines[name] = {**(baselines[name] or {}), "scores": None, "summary": None}
            continue
        entry = verify_estimate(field, lat, lon, kept, truth_mm, regions, threshold_mm)
        if kept is not None:
            entry["fused_minus_gauges"] = rmse_difference_interval(
                at(fused), at(field), kept.daily_mm
            )
        baselines[name] = {
            **(baselines[name] or {}),
            "scores": entry,
            "summary": extended_summary(entry),
        }

    uncertainty: dict[str, Any] = {
        "sigma_calibration": json.loads(str(hourly_attrs.get(SIGMA_CALIBRATION_ATTR, "null")))
    }
    sigma = None
    if "rainfall_amount_stddev" in fused_daily:
        sigma = fused_daily["rainfall_amount_stddev"].isel(time=0).values.astype(float)
        if kept is not None:
            uncertainty["gauges"] = uncertainty_scores(at(fused), at(sigma), kept.daily_mm)
        if truth_mm is not None:
            uncertainty["truth"] = uncertainty_scores(fused, sigma, truth_mm)
            uncertainty["truth_regions"] = {
                region: uncertainty_scores(fused[mask], sigma[mask], truth_mm[mask])
                for region, mask in regions.items()
                if region != "domain"
            }

    samples: dict[str, Any] = {}
    if kept is not None:
        finite = np.isfinite(withheld["daily_mm"].to_numpy(float))
        samples["station_id"] = [str(i) for i in withheld.index[finite]]
        samples["gauge_mm"] = _listed(kept.daily_mm)
        for name in SAMPLE_ESTIMATES:
            field = fields.get(name, estimates.get(name))
            samples[name] = None if field is None else _listed(at(field))
        samples["fused_sigma"] = None if sigma is None else _listed(at(sigma))
    return {
        "baselines": baselines,
        "regions": {name: int(mask.sum()) for name, mask in regions.items()},
        "uncertainty": uncertainty,
        "withheld_samples": samples,
    }


def reliability_diagram(record: Mapping[str, Any], dpi: int = 80) -> bytes | None:
    """The day's reliability diagram (PNG) of the product's sigma, at the withheld gauges and
    against the truth; ``None`` for a record without uncertainty scores."""
    from fusion_ops.products.uncertainty import reliability_png

    u = record.get("uncertainty") or {}
    curves = {"withheld gauges": u.get("gauges"), "truth": u.get("truth")}
    return reliability_png(curves, f"product sigma, {record.get('day', '')}", dpi=dpi)


def reliability_relative_path(day: str, domain: str = "kmlb") -> str:
    """Product-store path of a day's reliability diagram, beside its map:
    ``YYYY/MM/rainfuse_reliability_<domain>_YYYYMMDD.png``."""
    import datetime as dt

    d = dt.date.fromisoformat(day)
    return f"{d:%Y}/{d:%m}/rainfuse_reliability_{domain}_{d:%Y%m%d}.png"


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
    for name, entry in (record.get("baselines") or {}).items():
        for key, value in ((entry or {}).get("summary") or {}).items():
            if value is not None:
                out[f"{name}_{key}"] = float(value)
        diff = ((entry or {}).get("scores") or {}).get("fused_minus_gauges") or {}
        for key in ("difference_mm", "low_mm", "high_mm"):
            if diff.get(key) is not None:
                out[f"fused_minus_{name}_rmse_gauges_{key}"] = diff[key]
    uncertainty = record.get("uncertainty") or {}
    for ref in ("gauges", "truth"):
        for key in ("coverage_1sigma", "coverage_2sigma", "crps"):
            value = (uncertainty.get(ref) or {}).get(key)
            if value is not None:
                out[f"fused_{key}_{ref}"] = float(value)
    scale = (uncertainty.get("sigma_calibration") or {}).get("scale")
    if scale is not None:
        out["sigma_scale"] = float(scale)
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


UNCERTAINTY_HEADER = ("sigma checked at", "inside +-1 sigma", "inside +-2 sigma", "CRPS (mm)", "n")


def uncertainty_markdown(record: Mapping[str, Any]) -> str:
    """The product's sigma at the withheld gauges and against the truth (empty without them)."""
    u = record.get("uncertainty") or {}
    rows = []
    for label, key in (("withheld gauges", "gauges"), ("truth", "truth")):
        entry = u.get(key)
        if entry and entry.get("n"):
            rows.append(
                [
                    label,
                    entry["coverage_1sigma"],
                    entry["coverage_2sigma"],
                    entry["crps"],
                    str(entry["n"]),
                ]
            )
    return markdown_table(UNCERTAINTY_HEADER, rows, fixed(3)) if rows else ""


def verification_markdown(record: Mapping[str, Any]) -> str:
    """The tables of a verification record: the scores (with the baselines ``gr_adjusted`` and
    ``gauge_only`` when the record has them), the fused margins, then the sigma check."""
    baselines = record.get("baselines") or {}
    compact = {
        **record["summary"],
        **{name: (entry or {}).get("summary") for name, entry in baselines.items()},
    }
    scores = {
        **record["scores"],
        **{
            name: {
                "fused_minus_source_gauges": ((entry or {}).get("scores") or {}).get(
                    "fused_minus_gauges"
                )
            }
            for name, entry in baselines.items()
        },
    }
    text = score_markdown(compact) + "\n\n" + difference_markdown(scores)
    sigma = uncertainty_markdown(record)
    return text + ("\n\n" + sigma if sigma else "")


POOLED_KEYS = (
    "rmse_gauges",
    "rmse_truth",
    "rmse_truth_beyond_150km",
    "coverage_1sigma",
    "coverage_2sigma",
    "crps",
)
"""What ``rainfuse verify``'s ``pooled`` object gives for every estimate."""
POOLED_DIFFERENCES = {
    "fused_minus_gr_adjusted": "gr_adjusted",
    "fused_minus_gauge_only": "gauge_only",
}
"""Pooled fused-minus-baseline RMSE differences at the withheld gauges, and their baseline."""


def _truth_entries(record: Mapping[str, Any], name: str) -> tuple[Any, Any]:
    """An estimate's truth scores and regional truth scores in a record (source or baseline)."""
    if name in BASELINES:
        entry = ((record.get("baselines") or {}).get(name) or {}).get("scores") or {}
    else:
        entry = (record.get("scores") or {}).get(name) or {}
    return entry.get("truth"), (entry.get("truth_regions") or {}).get("beyond_150km")


def pool_records(
    records: Mapping[str, Mapping[str, Any]],
    confidence: float = 0.95,
    n_resamples: int = 2000,
    seed: int = 0,
) -> dict[str, Any] | None:
    """Scores pooled over days, cold starts excluded: ``rainfuse verify``'s ``pooled`` object.

    Every day whose record has ``withheld_samples`` (written by this version) and whose product is
    not a cold start (:func:`fallback_models` empty) takes part. Per estimate (the four of
    :data:`SAMPLE_ESTIMATES` sources and fused, ``gr_adjusted``, ``gauge_only``):

    * ``rmse_gauges``: RMSE over every withheld gauge of every day (the pooled samples);
    * ``rmse_truth``, ``rmse_truth_beyond_150km``: exact pooled RMSE over every cell of every day
      (:func:`~fusion_ops.products.verify.pooled_rmse`);
    * ``coverage_1sigma``, ``coverage_2sigma``, ``crps``: the product's sigma at the withheld
      gauges (pooled counts, :func:`~fusion_ops.products.uncertainty.pool_uncertainty`); only the
      fused product has a sigma, the others are ``None``.

    ``fused_minus_gr_adjusted`` and ``fused_minus_gauge_only``: ``{"mean": mm, "ci95": [lo, hi]}``,
    the fused RMSE minus the baseline's over the pooled withheld gauge samples where both have a
    value, with the paired percentile bootstrap interval (gauge-days resampled together, seed
    ``seed``; :func:`~fusion_ops.products.verify.rmse_difference_interval`). Also ``days`` (those
    pooled), ``excluded_cold_start``, ``not_poolable`` (records written before the samples
    existed), ``gauge_samples``, ``uncertainty_truth`` (the fused sigma against the truth) and
    ``note``. ``None`` when no record has samples.
    """
    from fusion_ops.products.uncertainty import pool_uncertainty
    from fusion_ops.products.verify import pooled_rmse

    with_samples = {d: r for d, r in sorted(records.items()) if r.get("withheld_samples")}
    if not with_samples:
        return None
    cold = [d for d, r in with_samples.items() if fallback_models(r)]
    days = [d for d in with_samples if d not in cold]
    used = [with_samples[d] for d in days]

    def column(name: str) -> np.ndarray:
        values: list[float] = []
        for record in used:
            samples = record["withheld_samples"]
            n = len(samples.get("gauge_mm") or [])
            column = samples.get(name) or [None] * n
            values.extend(np.nan if v is None else float(v) for v in column)
        return np.asarray(values, float)

    gauge = column("gauge_mm")
    out: dict[str, Any] = {}
    for name in SAMPLE_ESTIMATES:
        estimate = column(name)
        ok = np.isfinite(estimate) & np.isfinite(gauge)
        truth = [_truth_entries(r, name) for r in used]
        entry: dict[str, Any] = {
            "rmse_gauges": (
                float(np.sqrt(np.mean((estimate[ok] - gauge[ok]) ** 2)))
                if ok.sum() >= MIN_GAUGE_PAIRS
                else None
            ),
            "rmse_truth": pooled_rmse([t for t, _ in truth]),
            "rmse_truth_beyond_150km": pooled_rmse([far for _, far in truth]),
            "coverage_1sigma": None,
            "coverage_2sigma": None,
            "crps": None,
        }
        if name == "fused":
            sigma = pool_uncertainty([(r.get("uncertainty") or {}).get("gauges") for r in used])
            entry.update({k: sigma[k] for k in ("coverage_1sigma", "coverage_2sigma", "crps")})
        out[name] = entry
    fused = column("fused")
    for key, baseline in POOLED_DIFFERENCES.items():
        diff = rmse_difference_interval(
            fused, column(baseline), gauge, confidence, n_resamples, seed
        )
        out[key] = {"mean": diff["difference_mm"], "ci95": [diff["low_mm"], diff["high_mm"]]}
    truth_sigma = pool_uncertainty([(r.get("uncertainty") or {}).get("truth") for r in used])
    out["uncertainty_truth"] = {
        k: truth_sigma[k] for k in ("coverage_1sigma", "coverage_2sigma", "crps", "n")
    }
    out["days"] = days
    out["excluded_cold_start"] = cold
    out["not_poolable"] = sorted(d for d in records if d not in with_samples)
    out["gauge_samples"] = int(np.isfinite(gauge).sum())
    notes = []
    if cold:
        notes.append(
            f"{len(cold)} cold-start day(s) excluded (fallback calibration models, no trained "
            f"model yet): {', '.join(cold)}"
        )
    if out["not_poolable"]:
        notes.append(
            "no per-gauge samples in the record (written before the baselines existed): "
            + ", ".join(out["not_poolable"])
        )
    out["note"] = "; ".join(notes) or "every day pooled"
    return out


def pooled_reliability_png(
    records: Mapping[str, Mapping[str, Any]], title: str = "", dpi: int = 80
) -> bytes | None:
    """Reliability diagram of the product's sigma pooled over the days :func:`pool_records`
    pools (cold starts excluded); ``None`` when no day has uncertainty scores."""
    from fusion_ops.products.uncertainty import pool_uncertainty, reliability_png

    used = [
        r
        for _, r in sorted(records.items())
        if r.get("withheld_samples") and not fallback_models(r)
    ]
    curves = {
        label: pool_uncertainty([(r.get("uncertainty") or {}).get(key) for r in used])
        for label, key in (("withheld gauges", "gauges"), ("truth", "truth"))
    }
    return reliability_png(curves, title or f"product sigma, {len(used)} days pooled", dpi=dpi)
