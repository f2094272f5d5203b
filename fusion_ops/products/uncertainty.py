"""Is the product's per-pixel standard deviation an uncertainty? Checks and recalibration.

The product carries ``rainfall_amount_stddev`` (sigma, mm): read as a Gaussian error, the
reference (a withheld gauge, the truth) should fall inside ``estimate +- sigma`` 68.3 % of the
time and inside ``+- 2 sigma`` 95.4 %. This module measures that:

* :func:`coverage`: the fraction of references inside the central interval of nominal probability
  ``p``, ``|reference - estimate| <= z_p sigma`` with ``z_p = Phi^-1((1 + p) / 2)``;
* :func:`crps_gaussian`: the continuous ranked probability score of ``N(estimate, sigma^2)``, closed
  form (Gneiting et al. 2005), ``sigma [z (2 Phi(z) - 1) + 2 phi(z) - 1 / sqrt(pi)]`` with
  ``z = (reference - estimate) / sigma``; it reduces to the absolute error as ``sigma -> 0``;
* :func:`uncertainty_scores`: both at the nominal levels :data:`NOMINAL_LEVELS`, with the counts
  that make pooling over days exact;
* :func:`reliability_png`: the reliability diagram (observed against nominal coverage).

:func:`sigma_scale` recalibrates sigma on the product's own training data: the factor that makes
68.3 % of the cross-validated errors at the *adjusting* gauges fall inside ``+- scale sigma``
(never the withheld gauges, never the truth).
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from scipy.special import erf, erfinv

from fusion_ops.products.errors import ProductInputError

#: Nominal central-interval probabilities of the reliability diagram; 0.6827 and 0.9545 are
#: +-1 and +-2 sigma.
NOMINAL_LEVELS: tuple[float, ...] = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.6827, 0.8, 0.9, 0.9545, 0.99)
ONE_SIGMA = 0.6827
TWO_SIGMA = 0.9545
#: Bounds of the sigma recalibration factor: a day's gauges can move sigma, not invent it.
SCALE_BOUNDS = (0.25, 4.0)
#: Fewer cross-validated gauges than this: no recalibration (factor 1).
MIN_SCALE_GAUGES = 10


def z_of_level(level: float) -> float:
    """Half-width in sigmas of the central interval of probability ``level`` (1 for 0.6827)."""
    if not 0.0 < level < 1.0:
        raise ProductInputError("uncertainty", f"nominal level must be in (0, 1), got {level}")
    return float(math.sqrt(2.0) * erfinv(level))


def _pairs(estimate, sigma, reference):
    e = np.asarray(estimate, float).ravel()
    s = np.asarray(sigma, float).ravel()
    r = np.asarray(reference, float).ravel()
    if not e.shape == s.shape == r.shape:
        raise ProductInputError("uncertainty", f"shapes differ: {e.shape}, {s.shape}, {r.shape}")
    ok = np.isfinite(e) & np.isfinite(s) & np.isfinite(r) & (s >= 0)
    return e[ok], s[ok], r[ok]


def crps_gaussian(estimate, sigma, reference) -> np.ndarray:
    """CRPS (reference units) of ``N(estimate, sigma^2)`` for each reference (NaN pairs: NaN).

    Closed form ``sigma [z (2 Phi(z) - 1) + 2 phi(z) - 1/sqrt(pi)]``, ``z = (r - mu) / sigma``;
    where ``sigma == 0`` the forecast is a point and the CRPS is ``|r - mu|``.
    """
    mu = np.asarray(estimate, float)
    s = np.asarray(sigma, float)
    r = np.asarray(reference, float)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = (r - mu) / s
        cdf = 0.5 * (1.0 + erf(z / math.sqrt(2.0)))
        pdf = np.exp(-0.5 * z**2) / math.sqrt(2.0 * math.pi)
        crps = s * (z * (2.0 * cdf - 1.0) + 2.0 * pdf - 1.0 / math.sqrt(math.pi))
    return np.where(s == 0, np.abs(r - mu), crps)


def coverage(estimate, sigma, reference, level: float = ONE_SIGMA) -> float | None:
    """Fraction of references inside the central ``level`` interval of ``N(estimate, sigma^2)``;
    ``None`` without pairs."""
    e, s, r = _pairs(estimate, sigma, reference)
    if not e.size:
        return None
    return float(np.mean(np.abs(r - e) <= z_of_level(level) * s))


def uncertainty_scores(
    estimate, sigma, reference, levels: Sequence[float] = NOMINAL_LEVELS
) -> dict[str, Any]:
    """Coverage at +-1 and +-2 sigma, mean CRPS and the reliability counts of one sample.

    Returns
    -------
    dict
        ``n``, ``coverage_1sigma``, ``coverage_2sigma``, ``crps`` (mean, reference units),
        ``crps_sum`` (for exact pooling), ``mean_sigma``, ``levels`` and ``inside`` (count of
        references inside each level's interval). Scores are ``None`` without pairs.
    """
    e, s, r = _pairs(estimate, sigma, reference)
    n = int(e.size)
    inside = [int(np.sum(np.abs(r - e) <= z_of_level(p) * s)) for p in levels]
    crps_sum = float(np.sum(crps_gaussian(e, s, r))) if n else 0.0
    one = int(np.sum(np.abs(r - e) <= s))
    two = int(np.sum(np.abs(r - e) <= 2.0 * s))
    return {
        "n": n,
        "coverage_1sigma": one / n if n else None,
        "coverage_2sigma": two / n if n else None,
        "inside_1sigma": one,
        "inside_2sigma": two,
        "crps": crps_sum / n if n else None,
        "crps_sum": crps_sum,
        "mean_sigma": float(np.mean(s)) if n else None,
        "levels": [float(p) for p in levels],
        "inside": inside,
    }


def pool_uncertainty(entries: Sequence[Mapping[str, Any] | None]) -> dict[str, Any]:
    """:func:`uncertainty_scores` of the union of several samples (days), from their counts."""
    entries = [e for e in entries if e and e.get("n")]
    n = sum(int(e["n"]) for e in entries)
    out: dict[str, Any] = {"n": n, "coverage_1sigma": None, "coverage_2sigma": None, "crps": None}
    if not n:
        return out
    out["coverage_1sigma"] = sum(int(e["inside_1sigma"]) for e in entries) / n
    out["coverage_2sigma"] = sum(int(e["inside_2sigma"]) for e in entries) / n
    out["crps"] = sum(float(e["crps_sum"]) for e in entries) / n
    levels = entries[0].get("levels")
    if levels and all(e.get("levels") == levels for e in entries):
        out["levels"] = list(levels)
        out["inside"] = [sum(int(e["inside"][i]) for e in entries) for i in range(len(levels))]
    return out


def sigma_scale(
    errors: np.ndarray,
    sigma: np.ndarray,
    target: float = ONE_SIGMA,
    bounds: tuple[float, float] = SCALE_BOUNDS,
    min_gauges: int = MIN_SCALE_GAUGES,
) -> tuple[float, int]:
    """The factor ``c`` that puts a ``target`` share of the errors inside ``+- c sigma``.

    ``c`` is the ``target`` quantile of ``|error| / sigma`` (pairs with ``sigma > 0``), clipped to
    ``bounds``; 1 with fewer than ``min_gauges`` pairs. ``errors`` must be out-of-sample (the
    cross-validated errors at the adjusting gauges): the product is fitted to those gauges, so
    their in-sample errors would shrink sigma. Returns ``(c, pairs)``.
    """
    e = np.abs(np.asarray(errors, float).ravel())
    s = np.asarray(sigma, float).ravel()
    if e.shape != s.shape:
        raise ProductInputError("sigma scale", f"shapes differ: {e.shape}, {s.shape}")
    ok = np.isfinite(e) & np.isfinite(s) & (s > 0)
    n = int(ok.sum())
    if n < min_gauges:
        return 1.0, n
    c = float(np.quantile(e[ok] / s[ok], target))
    return float(np.clip(c, *bounds)), n


def reliability_png(
    curves: Mapping[str, Mapping[str, Any] | None], title: str = "", dpi: int = 80
) -> bytes | None:
    """Reliability diagram: observed coverage against nominal coverage, one line per reference.

    ``curves`` maps a label (``withheld gauges``, ``truth``) to :func:`uncertainty_scores` or
    :func:`pool_uncertainty` (``levels``, ``inside``, ``n``). ``None`` when no curve has pairs.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    usable = {k: v for k, v in curves.items() if v and v.get("n") and v.get("inside")}
    if not usable:
        return None
    fig, ax = plt.subplots(figsize=(4.2, 4.0))
    ax.plot([0, 1], [0, 1], color="0.6", lw=1, ls="--", label="perfect")
    for (label, entry), marker in zip(usable.items(), "os^v", strict=False):
        levels = np.asarray(entry["levels"], float)
        observed = np.asarray(entry["inside"], float) / float(entry["n"])
        ax.plot(levels, observed, marker=marker, ms=4, label=f"{label} (n={entry['n']})")
    for level in (ONE_SIGMA, TWO_SIGMA):
        ax.axvline(level, color="0.85", lw=0.8, zorder=0)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("nominal coverage of the central interval")
    ax.set_ylabel("observed coverage")
    ax.set_title(title or "reliability of the product's sigma", fontsize=9)
    ax.legend(fontsize=7, loc="upper left")
    ax.grid(alpha=0.3)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


SIGMA_CALIBRATION_ATTR = "rainfuse_sigma_calibration"
"""Hourly/daily product attribute (JSON): the sigma recalibration factor and what set it."""


def cross_validated_sigma_scale(
    merged_daily_mm: np.ndarray,
    merged_daily_std_mm: np.ndarray,
    grid_lat_deg: np.ndarray,
    grid_lon_deg: np.ndarray,
    adjusting: Any,
    method: str,
    base: Any = None,
    repeats: int = 1,
) -> dict[str, Any]:
    """The sigma recalibration factor of one product day from its adjusting gauges.

    The errors are out-of-fold: with an adjustment (``method`` ``add``/``mixed``/``multiply``),
    every adjusting gauge is predicted by the adjustment fitted to the other folds
    (:func:`fusion_ops.products.adjust.cross_validated_predictions`, the same 5-fold split as the
    daily method choice), and its sigma is the merged sigma times that out-of-fold factor; with
    ``none`` the merged field's error at the gauges. :func:`sigma_scale` turns them into the factor.

    Parameters
    ----------
    merged_daily_mm, merged_daily_std_mm : the merged (unadjusted) daily total and its sigma (mm).
    grid_lat_deg, grid_lon_deg : 1-D product grid.
    adjusting : the adjusting gauges (``lat_deg``, ``lon_deg``, ``daily_mm``), never the withheld.
    method : the adjustment the product used (``none`` or a wradlib method).
    base : :class:`~fusion_ops.products.adjust.AdjustConfig` with the product's settings.
    repeats : K-fold splits pooled.

    Returns
    -------
    dict
        ``scale``, ``n`` (gauge predictions), ``coverage_1sigma_before`` (of the out-of-fold errors
        with the unscaled sigma), ``source``.
    """
    import dataclasses

    from fusion_ops.products.adjust import AdjustConfig, cross_validated_predictions
    from fusion_ops.products.verify import nearest_cell_values

    base = base or AdjustConfig()
    glat = adjusting["lat_deg"].to_numpy(float)
    glon = adjusting["lon_deg"].to_numpy(float)
    obs = adjusting["daily_mm"].to_numpy(float)
    lat = np.asarray(grid_lat_deg, float)
    lon = np.asarray(grid_lon_deg, float)
    std = np.asarray(merged_daily_std_mm, float)
    errors = sigma = np.array([])
    source = "none"
    if method in ("add", "mixed", "multiply"):
        config = dataclasses.replace(base, method=method)
        cv = cross_validated_predictions(
            merged_daily_mm, lat, lon, glat, glon, obs, config, repeats=repeats
        )
        if cv is not None:
            i, j = cv.cell
            raw = cv.raw_at[None, :]
            with np.errstate(invalid="ignore", divide="ignore"):
                factor = np.where(raw >= base.min_daily_mm, cv.adjusted_at / raw, 1.0)
            errors = (cv.adjusted_at - cv.obs[None, :]).ravel()
            sigma = (std[i, j][None, :] * factor).ravel()
            source = f"{errors.size} out-of-fold predictions at the adjusting gauges ({method})"
    else:
        at = nearest_cell_values(merged_daily_mm, lat, lon, glat, glon)
        errors, sigma = at - obs, nearest_cell_values(std, lat, lon, glat, glon)
        source = "merged field at the adjusting gauges (no adjustment)"
    scale, n = sigma_scale(errors, sigma)
    before = coverage(np.zeros_like(errors), sigma, errors) if errors.size else None
    if n < MIN_SCALE_GAUGES:
        source = f"too few gauge predictions ({n} < {MIN_SCALE_GAUGES}): sigma not rescaled"
    return {"scale": scale, "n": n, "coverage_1sigma_before": before, "source": source}


def recalibrated_hourly_product(
    product: Any, adjust_nnearest: int = 12
) -> tuple[Any, dict[str, Any]]:
    """The hourly product of :func:`fusion_ops.products.fusion.fuse_hourly_product` with its
    ``rainfall_rate_stddev`` multiplied by the day's sigma recalibration factor
    (:func:`cross_validated_sigma_scale`) and the factor recorded in :data:`SIGMA_CALIBRATION_ATTR`.

    Scaling every source's error by one factor leaves the inverse-variance weights, and so the
    rain field, unchanged: only sigma moves. The daily sigma (root sum of the hourly variances)
    scales by the same factor. Returns the dataset and the calibration record.
    """
    import json

    from fusion_ops.products.adjust import AdjustConfig

    fused = product.fused
    complete = product.gauges.dropna(subset=["daily_mm"])
    adjusting = complete.loc[~np.asarray(fused.withheld, bool)]
    with np.errstate(invalid="ignore", divide="ignore"):
        merged_std = np.asarray(fused.daily_std_mm, float) / np.asarray(fused.adjust_factor, float)
    info = cross_validated_sigma_scale(
        fused.merged_daily_mm,
        merged_std,
        fused.lat_deg,
        fused.lon_deg,
        adjusting,
        fused.adjustment_method if fused.adjusted else "none",
        AdjustConfig(nnearest=adjust_nnearest),
    )
    dataset = product.dataset.copy()
    std = dataset["rainfall_rate_stddev"]
    dataset["rainfall_rate_stddev"] = (std * info["scale"]).astype(std.dtype)
    dataset["rainfall_rate_stddev"].attrs = dict(std.attrs)
    dataset["rainfall_rate_stddev"].encoding = dict(std.encoding)
    dataset.attrs[SIGMA_CALIBRATION_ATTR] = json.dumps(info)
    return dataset, info
