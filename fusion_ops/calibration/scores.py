"""Scores of an estimate against a reference: RMSE, Pearson correlation, normalised bias."""

from __future__ import annotations

import numpy as np


def score(estimate: np.ndarray, reference: np.ndarray) -> dict[str, float | int]:
    """RMSE (reference units), Pearson r, normalised bias and sample count.

    Normalised bias is ``sum(estimate - reference) / sum(reference)`` (a fraction: 0.1 = 10 %
    too wet). Pairs where either value is NaN are left out; with fewer than two pairs, or a
    constant series, the correlation is NaN.

    Returns
    -------
    dict
        ``{"rmse": float, "corr": float, "nbias": float, "n": int}``
    """
    est = np.asarray(estimate, dtype=np.float64).ravel()
    ref = np.asarray(reference, dtype=np.float64).ravel()
    if est.shape != ref.shape:
        raise ValueError(f"estimate {est.shape} and reference {ref.shape} differ in size")
    ok = np.isfinite(est) & np.isfinite(ref)
    est, ref = est[ok], ref[ok]
    n = int(est.size)
    if n == 0:
        return {"rmse": float("nan"), "corr": float("nan"), "nbias": float("nan"), "n": 0}
    rmse = float(np.sqrt(np.mean((est - ref) ** 2)))
    if n > 1 and np.std(est) > 0 and np.std(ref) > 0:
        corr = float(np.corrcoef(est, ref)[0, 1])
    else:
        corr = float("nan")
    total = float(np.sum(ref))
    nbias = float(np.sum(est - ref) / total) if total > 0 else float("nan")
    return {"rmse": rmse, "corr": corr, "nbias": nbias, "n": n}


def score_table(scores: dict[str, dict[str, float | int]]) -> str:
    """A fixed-width text table of several scores (rows in the given order)."""
    lines = [f"{'estimator':<14}{'rmse':>10}{'corr':>9}{'nbias':>9}{'n':>9}"]
    for name, s in scores.items():
        lines.append(
            f"{name:<14}{s['rmse']:>10.3f}{s['corr']:>9.3f}{s['nbias']:>9.3f}{int(s['n']):>9d}"
        )
    return "\n".join(lines)
