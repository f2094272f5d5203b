"""Verification of daily totals against withheld gauges and truth.

Continuous scores (RMSE, bias = mean(estimate - reference), Pearson correlation) and categorical
scores at a rain/no-rain threshold (1 mm/day by default): probability of detection
``POD = hits / (hits + misses)``, false-alarm ratio ``FAR = false alarms / (hits + false alarms)``
and critical success index ``CSI = hits / (hits + misses + false alarms)``. A score that is
undefined (no pairs, no observed rain, constant field) is ``None``, never a made-up number.

Each estimate is scored on the pixels/gauges where it has a value; a source that saw only part of
the domain (the spaceborne swath) is scored there.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from fusion_ops.products.errors import ProductInputError
from fusion_ops.scores import verification_scores

DEFAULT_THRESHOLD_MM = 1.0
#: Fewer gauge pairs than this give no continuous score: an RMSE over two or three gauges (say, a
#: swath that crossed a few dry gauges) says nothing about a product's skill.
MIN_GAUGE_PAIRS = 5


def _none_if_nan(value: float) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def scores(
    estimate: np.ndarray,
    reference: np.ndarray,
    threshold_mm: float = DEFAULT_THRESHOLD_MM,
    min_pairs: int = 1,
) -> dict[str, float | int | None]:
    """RMSE, bias, correlation, POD, FAR, CSI and the pair count ``n`` (NaN pairs ignored).

    :func:`fusion_ops.scores.verification_scores` at ``threshold_mm``; with fewer than
    ``min_pairs`` pairs every score is ``None`` (``n`` is still reported).
    """
    try:
        return verification_scores(estimate, reference, threshold_mm, min_pairs)
    except ValueError as error:
        raise ProductInputError("verification", f"shapes differ: {error}") from None


def nearest_cell_values(
    field: np.ndarray,
    grid_lat_deg: np.ndarray,
    grid_lon_deg: np.ndarray,
    point_lat_deg: np.ndarray,
    point_lon_deg: np.ndarray,
) -> np.ndarray:
    """Values of a ``(lat, lon)`` field in the cells containing each point (NaN outside)."""
    lat = np.asarray(grid_lat_deg, float)
    lon = np.asarray(grid_lon_deg, float)
    plat = np.asarray(point_lat_deg, float).ravel()
    plon = np.asarray(point_lon_deg, float).ravel()
    dlat = abs(float(lat[1] - lat[0]))
    dlon = abs(float(lon[1] - lon[0]))
    i = np.rint((plat - lat[0]) / (lat[1] - lat[0])).astype(int)
    j = np.rint((plon - lon[0]) / (lon[1] - lon[0])).astype(int)
    inside = (i >= 0) & (i < lat.size) & (j >= 0) & (j < lon.size)
    inside &= (np.abs(plat - lat[np.clip(i, 0, lat.size - 1)]) <= dlat / 2 + 1e-9) & (
        np.abs(plon - lon[np.clip(j, 0, lon.size - 1)]) <= dlon / 2 + 1e-9
    )
    out = np.full(plat.size, np.nan)
    out[inside] = np.asarray(field, float)[i[inside], j[inside]]
    return out


def rmse_difference_interval(
    estimate_mm: np.ndarray,
    other_mm: np.ndarray,
    reference_mm: np.ndarray,
    confidence: float = 0.95,
    n_resamples: int = 2000,
    seed: int = 0,
) -> dict[str, float | int | None]:
    """``RMSE(estimate) - RMSE(other)`` at the same gauges and its paired bootstrap interval.

    A day's verification rests on a few dozen withheld gauges, and one gauge whose error differs
    from its neighbours' can decide which estimate "wins". Resampling the gauges (both errors of
    a gauge together, :func:`scipy.stats.bootstrap` with ``paired=True``, percentile interval)
    says how far the difference could move with another draw of the same number of gauges: an
    interval that contains 0 is no evidence either way. Pairs where any of the three is NaN are
    left out; with fewer than :data:`MIN_GAUGE_PAIRS` every value is ``None``.

    Returns ``{"difference_mm", "low_mm", "high_mm", "confidence", "n"}``.
    """
    from scipy.stats import bootstrap

    a = np.asarray(estimate_mm, float).ravel()
    b = np.asarray(other_mm, float).ravel()
    r = np.asarray(reference_mm, float).ravel()
    if not a.shape == b.shape == r.shape:
        raise ProductInputError("verification", f"shapes differ: {a.shape}, {b.shape}, {r.shape}")
    ok = np.isfinite(a) & np.isfinite(b) & np.isfinite(r)
    n = int(ok.sum())
    out: dict[str, float | int | None] = {
        "difference_mm": None,
        "low_mm": None,
        "high_mm": None,
        "confidence": confidence,
        "n": n,
    }
    if n < MIN_GAUGE_PAIRS:
        return out
    err_a, err_b = a[ok] - r[ok], b[ok] - r[ok]

    def rmse_difference(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
        return np.sqrt(np.mean(x**2, axis=axis)) - np.sqrt(np.mean(y**2, axis=axis))

    out["difference_mm"] = float(rmse_difference(err_a, err_b))
    if np.array_equal(err_a, err_b):  # identical errors: no spread to resample
        out["low_mm"] = out["high_mm"] = 0.0
        return out
    res = bootstrap(
        (err_a, err_b),
        rmse_difference,
        paired=True,
        vectorized=True,
        n_resamples=n_resamples,
        confidence_level=confidence,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    out["low_mm"] = _none_if_nan(float(res.confidence_interval.low))
    out["high_mm"] = _none_if_nan(float(res.confidence_interval.high))
    return out


@dataclass(frozen=True)
class GaugeSet:
    """Point references: gauge positions and daily totals (mm)."""

    lat_deg: np.ndarray
    lon_deg: np.ndarray
    daily_mm: np.ndarray


def verify_day(
    estimates_mm: Mapping[str, np.ndarray | None],
    grid_lat_deg: np.ndarray,
    grid_lon_deg: np.ndarray,
    gauges: GaugeSet | None,
    truth_mm: np.ndarray | None,
    threshold_mm: float = DEFAULT_THRESHOLD_MM,
    fused_name: str = "fused",
) -> dict[str, dict[str, dict[str, float | int | None]] | None]:
    """Scores of each daily estimate against the withheld gauges and against truth.

    Returns ``{estimate: {"gauges": scores, "truth": scores}}`` (``None`` for an absent estimate);
    a source that covers only part of the domain also gets ``fused_same_support_gauges`` /
    ``fused_same_support_truth``: the fused product scored on the same pixels and gauges. Every
    source also gets ``fused_minus_source_gauges``: the fused RMSE minus the source's at the
    gauges where both have a value, with its bootstrap interval (:func:`rmse_difference_interval`).
    """
    result: dict[str, dict[str, dict[str, float | int | None]] | None] = {}
    fused = estimates_mm.get(fused_name)

    def at_gauges(field: np.ndarray) -> np.ndarray:
        assert gauges is not None
        return nearest_cell_values(
            field, grid_lat_deg, grid_lon_deg, gauges.lat_deg, gauges.lon_deg
        )

    fused_at_gauges = at_gauges(fused) if fused is not None and gauges is not None else None

    def score_entry(field: np.ndarray) -> dict[str, dict[str, float | int | None]]:
        entry: dict[str, dict[str, float | int | None]] = {}
        if gauges is not None:
            entry["gauges"] = scores(
                at_gauges(field), gauges.daily_mm, threshold_mm, MIN_GAUGE_PAIRS
            )
        if truth_mm is not None:
            if np.shape(truth_mm) != np.shape(field):
                raise ProductInputError(
                    "truth",
                    f"shape {np.shape(truth_mm)} differs from the product {np.shape(field)}",
                )
            entry["truth"] = scores(field, truth_mm, threshold_mm)
        return entry

    for name, field in estimates_mm.items():
        if field is None or not np.isfinite(field).any():
            result[name] = None
            continue
        entry = score_entry(field)
        if fused_at_gauges is not None and name != fused_name:
            entry["fused_minus_source_gauges"] = rmse_difference_interval(
                fused_at_gauges, at_gauges(field), gauges.daily_mm
            )
        if fused is not None and name != fused_name and not np.isfinite(field).all():
            # The fused product on this source's support (e.g. the SR swath): a like-for-like
            # comparison for a source that saw part of the domain.
            same = score_entry(np.where(np.isfinite(field), fused, np.nan))
            entry.update({f"fused_same_support_{k}": v for k, v in same.items()})
        result[name] = entry
    return result


def summary(
    verification: Mapping[str, Mapping[str, Mapping[str, float | int | None]] | None],
) -> dict[str, dict[str, float | None] | None]:
    """The compact per-estimate record of ``rainfuse verify``'s JSON line.

    ``{"rmse_truth", "rmse_gauges", "bias_gauges", "corr_gauges", "csi_1mm"}``; ``csi_1mm`` is
    against truth where truth exists, else against the gauges; ``rmse_truth`` is omitted when no
    truth exists.
    """
    out: dict[str, dict[str, float | None] | None] = {}
    for name, entry in verification.items():
        if entry is None:
            out[name] = None
            continue
        gauges = entry.get("gauges") or {}
        truth = entry.get("truth")
        record: dict[str, float | None] = {}
        if truth is not None:
            record["rmse_truth"] = truth.get("rmse")
        record["rmse_gauges"] = gauges.get("rmse")
        record["bias_gauges"] = gauges.get("bias")
        record["corr_gauges"] = gauges.get("corr")
        record["csi_1mm"] = (truth or gauges).get("csi")
        out[name] = record
    return out


@dataclass(frozen=True)
class SkillThresholds:
    """Minimum skill of the fused daily product; a check fails below any of them.

    ``max_rmse_gauges_mm`` / ``max_rmse_truth_mm``: upper bounds on RMSE (mm/day);
    ``min_corr_gauges``, ``min_csi``: lower bounds; ``must_beat_sources``: the fused RMSE must be
    lower than every single source's (against gauges and truth) on the same day.
    """

    max_rmse_gauges_mm: float = 10.0
    max_rmse_truth_mm: float = 10.0
    min_corr_gauges: float = 0.7
    min_csi: float = 0.5
    must_beat_sources: bool = True


def _interval_note(diff: Mapping[str, float | int | None] | None) -> str:
    if not diff or diff.get("low_mm") is None or diff.get("high_mm") is None:
        return ""
    return (
        f"; over the {diff['n']} gauges the difference is {diff['difference_mm']:+.3f} mm, "
        f"{100 * float(diff['confidence']):.0f} % bootstrap interval "
        f"[{diff['low_mm']:+.3f}, {diff['high_mm']:+.3f}]"
    )


def skill_failures(
    verification: Mapping[str, Mapping[str, Mapping[str, float | int | None]] | None],
    thresholds: SkillThresholds,
    fused: str = "fused",
) -> list[str]:
    """Human-readable reasons why the fused product misses the thresholds (empty: it passes)."""
    entry = verification.get(fused)
    if entry is None:
        return [f"no {fused} product to verify"]
    failures: list[str] = []
    gauges = entry.get("gauges") or {}
    truth = entry.get("truth") or {}

    def above(value: float | int | None, limit: float, what: str) -> None:
        if value is None:
            failures.append(f"{what} undefined")
        elif value > limit:
            failures.append(f"{what} {value:.3f} > {limit}")

    def below(value: float | int | None, limit: float, what: str) -> None:
        if value is None:
            failures.append(f"{what} undefined")
        elif value < limit:
            failures.append(f"{what} {value:.3f} < {limit}")

    above(gauges.get("rmse"), thresholds.max_rmse_gauges_mm, "RMSE vs gauges (mm)")
    below(gauges.get("corr"), thresholds.min_corr_gauges, "correlation vs gauges")
    if truth:
        above(truth.get("rmse"), thresholds.max_rmse_truth_mm, "RMSE vs truth (mm)")
        below(truth.get("csi"), thresholds.min_csi, "CSI at 1 mm vs truth")
    else:
        below(gauges.get("csi"), thresholds.min_csi, "CSI at 1 mm vs gauges")
    if thresholds.must_beat_sources:
        for name, other in verification.items():
            if name == fused or other is None:
                continue
            for ref in ("gauges", "truth"):
                # Like for like: on a partial source's support when it has one.
                mine_entry = other.get(f"fused_same_support_{ref}") or entry.get(ref) or {}
                mine = mine_entry.get("rmse")
                theirs = (other.get(ref) or {}).get("rmse")
                if mine is not None and theirs is not None and mine >= theirs:
                    failures.append(
                        f"fused RMSE vs {ref} {mine:.3f} does not beat {name} ({theirs:.3f})"
                        + (
                            _interval_note(other.get("fused_minus_source_gauges"))
                            if ref == "gauges"
                            else ""
                        )
                    )
    return failures


NO_TRAINED_MODEL = "no trained model yet"
"""What a skill check says on a day made with a fallback calibration model (a cold start)."""


@dataclass(frozen=True)
class SkillCheck:
    """The fused product skill check's decision on one day.

    Attributes
    ----------
    passed : the fused product meets every threshold.
    severity : ``error`` on a day made with trained models (a failure is a bad product);
        ``warn`` on a cold start (a fallback calibration model: no trained model yet, the
        thresholds are not expected to be met).
    description : the decision in words: the cold start and its fallback models, the failures.
    cold_start : a fallback model made the product.
    fallback_models : those models (``mlp1``, ``mlp2``, ``mlp3``).
    """

    passed: bool
    severity: str
    description: str
    cold_start: bool
    fallback_models: tuple[str, ...] = ()


def skill_check(failures: Sequence[str], fallback_models: Sequence[str] = ()) -> SkillCheck:
    """Decide the fused product skill check from its failures and the fallback models in use.

    Parameters
    ----------
    failures : :func:`skill_failures` of the day (empty: it passes).
    fallback_models : the calibration models that were their fallback that day (empty: all
        trained).

    Returns
    -------
    SkillCheck
        Passed without failures; a failure is ``error`` with trained models and ``warn``, saying
        :data:`NO_TRAINED_MODEL`, when any model is a fallback.
    """
    models = tuple(fallback_models)
    cold = bool(models)
    note = f"cold start, {NO_TRAINED_MODEL}: fallback models {', '.join(models)}" if cold else ""
    if failures:
        outcome = "fused product below the skill thresholds: " + "; ".join(failures)
    else:
        outcome = "fused product meets the skill thresholds"
    description = f"{note}; {outcome}" if cold else outcome
    return SkillCheck(not failures, "warn" if cold else "error", description, cold, models)


# ------------------------------------------------------------------ baselines, regions, pooling

#: Rain/no-rain thresholds (mm/day) of the categorical scores reported for every estimate.
CSI_THRESHOLDS_MM: tuple[float, ...] = (1.0, 10.0)
#: Range (km) from the ground radar beyond which the truth scores are also reported apart: the
#: beam overshoots shallow rain there and the other sources must fill in.
FAR_RANGE_KM = 150.0
#: Regions of the truth scores, in the order they are reported.
REGIONS = ("domain", "gr_coverage", "beyond_150km", "blocked_sector")


@dataclass(frozen=True)
class RadarGeometry:
    """Where the ground radar is, for the regional truth scores.

    ``site_lat_deg``/``site_lon_deg``: the radar; ``blocked_sector_deg``: ``(from, to)`` azimuth
    (degrees clockwise from north) of a partial beam blockage, ``None`` when none is known;
    ``max_range_km``: the blocked sector is scored out to this range.
    """

    site_lat_deg: float
    site_lon_deg: float
    blocked_sector_deg: tuple[float, float] | None = None
    max_range_km: float = 230.0


def region_masks(
    grid_lat_deg: np.ndarray,
    grid_lon_deg: np.ndarray,
    gr_daily_mm: np.ndarray | None,
    radar: RadarGeometry | None,
    far_range_km: float = FAR_RANGE_KM,
) -> dict[str, np.ndarray]:
    """Boolean ``(lat, lon)`` masks of the truth-score regions.

    ``domain`` (every cell), ``gr_coverage`` (cells where the GR daily total exists),
    ``beyond_150km`` (range from the radar above ``far_range_km``) and ``blocked_sector`` (azimuth
    inside the blocked sector, within ``max_range_km``); a region that cannot be defined (no GR
    that day, no radar geometry, no blocked sector) is left out.
    """
    import pyproj

    lat = np.asarray(grid_lat_deg, float)
    lon = np.asarray(grid_lon_deg, float)
    masks = {"domain": np.ones((lat.size, lon.size), bool)}
    if gr_daily_mm is not None and np.isfinite(gr_daily_mm).any():
        masks["gr_coverage"] = np.isfinite(np.asarray(gr_daily_mm, float))
    if radar is None:
        return masks
    lon2d, lat2d = np.meshgrid(lon, lat)
    azimuth, _, dist_m = pyproj.Geod(ellps="WGS84").inv(
        np.full(lon2d.shape, radar.site_lon_deg),
        np.full(lat2d.shape, radar.site_lat_deg),
        lon2d,
        lat2d,
    )
    range_km = np.asarray(dist_m) / 1000.0
    masks["beyond_150km"] = range_km > far_range_km
    if radar.blocked_sector_deg is not None and len(radar.blocked_sector_deg) == 2:
        a0, a1 = (float(a) % 360.0 for a in radar.blocked_sector_deg)
        az = np.asarray(azimuth) % 360.0
        inside = (az >= a0) & (az <= a1) if a0 <= a1 else (az >= a0) | (az <= a1)
        masks["blocked_sector"] = inside & (range_km <= radar.max_range_km) & (range_km > 0)
    return masks


def multi_threshold_scores(
    estimate: np.ndarray,
    reference: np.ndarray,
    threshold_mm: float = DEFAULT_THRESHOLD_MM,
    min_pairs: int = 1,
    csi_thresholds_mm: Sequence[float] = CSI_THRESHOLDS_MM,
) -> dict[str, float | int | None]:
    """:func:`scores` at ``threshold_mm`` plus ``csi_<t>mm`` at each of ``csi_thresholds_mm``."""
    out = scores(estimate, reference, threshold_mm, min_pairs)
    for t in csi_thresholds_mm:
        out[f"csi_{t:g}mm"] = scores(estimate, reference, t, min_pairs)["csi"]
    return out


def verify_estimate(
    field: np.ndarray,
    grid_lat_deg: np.ndarray,
    grid_lon_deg: np.ndarray,
    gauges: GaugeSet | None,
    truth_mm: np.ndarray | None,
    regions: Mapping[str, np.ndarray],
    threshold_mm: float = DEFAULT_THRESHOLD_MM,
) -> dict[str, Any]:
    """One estimate at the withheld gauges and against the truth in every region.

    Returns ``{"gauges": scores, "truth": scores, "truth_regions": {region: scores}}`` (each
    with ``csi_1mm`` and ``csi_10mm``; ``gauges``/``truth`` absent without gauges/truth).
    """
    entry: dict[str, Any] = {}
    if gauges is not None:
        at = nearest_cell_values(field, grid_lat_deg, grid_lon_deg, gauges.lat_deg, gauges.lon_deg)
        entry["gauges"] = multi_threshold_scores(at, gauges.daily_mm, threshold_mm, MIN_GAUGE_PAIRS)
    if truth_mm is not None:
        if np.shape(truth_mm) != np.shape(field):
            raise ProductInputError(
                "truth", f"shape {np.shape(truth_mm)} differs from the product {np.shape(field)}"
            )
        entry["truth"] = multi_threshold_scores(field, truth_mm, threshold_mm)
        entry["truth_regions"] = {
            name: multi_threshold_scores(
                np.where(mask, field, np.nan), np.where(mask, truth_mm, np.nan), threshold_mm
            )
            for name, mask in regions.items()
            if name != "domain"
        }
    return entry


def extended_summary(entry: Mapping[str, Any] | None) -> dict[str, float | None] | None:
    """The compact record of one estimate with the baselines' and regions' keys.

    :func:`summary`'s keys, then ``csi_10mm`` (truth where it exists, else gauges) and
    ``rmse_truth_<region>`` for each region scored (``gr_coverage``, ``beyond_150km``,
    ``blocked_sector``).
    """
    if entry is None:
        return None
    gauges = entry.get("gauges") or {}
    truth = entry.get("truth")
    record: dict[str, float | None] = {}
    if truth is not None:
        record["rmse_truth"] = truth.get("rmse")
    record["rmse_gauges"] = gauges.get("rmse")
    record["bias_gauges"] = gauges.get("bias")
    record["corr_gauges"] = gauges.get("corr")
    record["csi_1mm"] = (truth or gauges).get("csi_1mm", (truth or gauges).get("csi"))
    record["csi_10mm"] = (truth or gauges).get("csi_10mm")
    for region, s in (entry.get("truth_regions") or {}).items():
        record[f"rmse_truth_{region}"] = (s or {}).get("rmse")
    return record


def pooled_rmse(entries: Sequence[Mapping[str, Any] | None]) -> float | None:
    """RMSE of the union of several samples from each one's ``rmse`` and ``n`` (exact)."""
    num = den = 0.0
    for s in entries:
        if s and s.get("rmse") is not None and s.get("n"):
            num += float(s["rmse"]) ** 2 * int(s["n"])
            den += int(s["n"])
    return float(np.sqrt(num / den)) if den > 0 else None
