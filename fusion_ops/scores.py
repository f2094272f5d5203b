"""Scores of an estimate against a reference: the one implementation the whole project uses.

* :func:`score`: RMSE, Pearson correlation, normalised bias and the pair count (calibration);
* :func:`verification_scores`: RMSE, bias, correlation and the categorical POD, FAR, CSI at a
  rain/no-rain threshold (products);
* :func:`sufficient_stats`, :func:`pool`, :func:`score_from_stats`: the six sums from which
  RMSE, correlation and normalised bias of any union of samples are exact, so days can be pooled
  without keeping their pairs.

Pairs where either value is NaN are left out everywhere. Normalised bias is
``sum(estimate - reference) / sum(reference)`` (0.1 = 10 % too wet); bias is
``mean(estimate - reference)`` in the reference's units. POD = hits / (hits + misses),
FAR = false alarms / (hits + false alarms), CSI = hits / (hits + misses + false alarms).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

import numpy as np

STAT_KEYS = ("n", "se", "sr", "see", "srr", "ser")


def finite_pairs(estimate, reference) -> tuple[np.ndarray, np.ndarray]:
    """Both series flattened to float64, without the pairs where either is not finite.

    Raises
    ------
    ValueError
        When the two series differ in size.
    """
    est = np.asarray(estimate, dtype=np.float64).ravel()
    ref = np.asarray(reference, dtype=np.float64).ravel()
    if est.shape != ref.shape:
        raise ValueError(f"estimate {est.shape} and reference {ref.shape} differ in size")
    ok = np.isfinite(est) & np.isfinite(ref)
    return est[ok], ref[ok]


def rmse(est: np.ndarray, ref: np.ndarray) -> float:
    """Root-mean-square difference of finite pairs (reference units)."""
    return float(np.sqrt(np.mean((est - ref) ** 2)))


def pearson(est: np.ndarray, ref: np.ndarray) -> float:
    """Pearson correlation; NaN with fewer than two pairs or a constant series."""
    if est.size > 1 and np.std(est) > 0 and np.std(ref) > 0:
        return float(np.corrcoef(est, ref)[0, 1])
    return float("nan")


def score(estimate, reference) -> dict[str, float | int]:
    """RMSE (reference units), Pearson r, normalised bias and sample count.

    Returns
    -------
    dict
        ``{"rmse": float, "corr": float, "nbias": float, "n": int}``; NaN scores without pairs.
    """
    est, ref = finite_pairs(estimate, reference)
    n = int(est.size)
    if n == 0:
        return {"rmse": float("nan"), "corr": float("nan"), "nbias": float("nan"), "n": 0}
    total = float(np.sum(ref))
    nbias = float(np.sum(est - ref) / total) if total > 0 else float("nan")
    return {"rmse": rmse(est, ref), "corr": pearson(est, ref), "nbias": nbias, "n": n}


def _none_if_nan(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def verification_scores(
    estimate, reference, threshold: float, min_pairs: int = 1
) -> dict[str, float | int | None]:
    """RMSE, bias, correlation, POD, FAR, CSI at ``threshold`` and the pair count ``n``.

    A score that is undefined (no pairs, fewer than ``min_pairs``, no observed rain, a constant
    field) is ``None``, never a made-up number; ``n`` is always reported.
    """
    est, ref = finite_pairs(estimate, reference)
    n = int(est.size)
    out: dict[str, float | int | None] = dict.fromkeys(
        ("rmse", "bias", "corr", "pod", "far", "csi")
    )
    out = {"n": n, **out}
    if n == 0 or n < min_pairs:
        return out
    out["rmse"] = rmse(est, ref)
    out["bias"] = float(np.mean(est - ref))
    out["corr"] = _none_if_nan(pearson(est, ref))
    wet_est = est >= threshold
    wet_ref = ref >= threshold
    hits = int(np.sum(wet_est & wet_ref))
    misses = int(np.sum(~wet_est & wet_ref))
    false_alarms = int(np.sum(wet_est & ~wet_ref))
    out["pod"] = hits / (hits + misses) if hits + misses else None
    out["far"] = false_alarms / (hits + false_alarms) if hits + false_alarms else None
    out["csi"] = hits / (hits + misses + false_alarms) if hits + misses + false_alarms else None
    return out


def sufficient_stats(estimate, reference) -> dict[str, float]:
    """``n`` and the sums of e, r, e^2, r^2 and e*r over the finite pairs."""
    e, r = finite_pairs(estimate, reference)
    return {
        "n": float(e.size),
        "se": float(e.sum()),
        "sr": float(r.sum()),
        "see": float((e * e).sum()),
        "srr": float((r * r).sum()),
        "ser": float((e * r).sum()),
    }


def pool(stats: Iterable[Mapping[str, float]]) -> dict[str, float]:
    """The sufficient statistics of the union of several samples."""
    out = dict.fromkeys(STAT_KEYS, 0.0)
    for s in stats:
        for k in STAT_KEYS:
            out[k] += float(s[k])
    return out


def score_from_stats(s: Mapping[str, float]) -> dict[str, float | int]:
    """RMSE, Pearson r, normalised bias and n from sufficient statistics."""
    n = s["n"]
    if n <= 0:
        return {"rmse": float("nan"), "corr": float("nan"), "nbias": float("nan"), "n": 0}
    mse = max((s["see"] - 2 * s["ser"] + s["srr"]) / n, 0.0)
    cov = s["ser"] / n - (s["se"] / n) * (s["sr"] / n)
    ve = s["see"] / n - (s["se"] / n) ** 2
    vr = s["srr"] / n - (s["sr"] / n) ** 2
    corr = cov / np.sqrt(ve * vr) if ve > 1e-12 and vr > 1e-12 else float("nan")
    nbias = (s["se"] - s["sr"]) / s["sr"] if s["sr"] > 0 else float("nan")
    return {"rmse": float(np.sqrt(mse)), "corr": float(corr), "nbias": float(nbias), "n": int(n)}
