"""Held-out evaluation of the chain: pooled scores, per-range MLP-1 errors, scatter plots.

A day's evaluation keeps, for every estimator, the sufficient statistics of its pairs
(``n, sum e, sum r, sum e^2, sum r^2, sum e r``): RMSE, correlation and normalised bias of any
set of days are then exact (:func:`fusion_ops.scores.pool`), without storing the pairs.

Estimators and references:

* ``mlp1`` and the fixed Z-R relations (``zr_200_1.6``, ``zr_300_1.4``, ``zr_250_1.2``) against
  hourly gauge rates at the held-out gauges (the mean of the volumes in each gauge hour; the
  Z-R relations on the lowest valid level of each volume);
* ``mlp2`` and ``sr_standard`` (``precipRateNearSurface``) against the GR rain of the footprint;
* ``mlp3`` and ``tb_curve`` (auto-estimator on band 14) against hourly GR rain.
"""

from __future__ import annotations

import io
from collections.abc import Mapping

import numpy as np
import pandas as pd

from fusion_ops.calibration import features as F
from fusion_ops.calibration.baselines import tb_curve_rain_rate
from fusion_ops.calibration.models import RainMLP, predict_rain_rate
from fusion_ops.calibration.samples import sr_feature_table
from fusion_ops.calibration.zr import ZR_RELATIONS, rain_rate_zr

ESTIMATORS = ("mlp1", *ZR_RELATIONS, "mlp2", "sr_standard", "mlp3", "tb_curve")
RANGE_BINS_KM = (0.0, 50.0, 100.0, 150.0, 200.0)


def mlp1_hourly(samples: pd.DataFrame, model: RainMLP | None, device="cpu") -> pd.DataFrame:
    """Per gauge interval: gauge rate, MLP-1 (or fallback) and Z-R estimates, range.

    ``samples`` are MLP-1 sample rows (usually of held-out gauges only).
    """
    if samples.empty:
        return pd.DataFrame(columns=["gauge", "mlp1", *ZR_RELATIONS, "range_km"])
    dbz = samples[F.level_names("dbz")].to_numpy()
    low = F.lowest_valid(dbz)
    frame = pd.DataFrame(
        {
            "group": samples["group"].to_numpy(),
            "gauge": samples["gauge_rate_mm_h"].to_numpy(),
            "range_km": samples["range_km"].to_numpy(),
        }
    )
    for name in ZR_RELATIONS:
        frame[name] = rain_rate_zr(low, name)
    if model is None:
        frame["mlp1"] = rain_rate_zr(low, "zr_300_1.4")
    else:
        frame["mlp1"] = predict_rain_rate(model, F.matrix(samples, model.spec), device)
    return frame.groupby("group").mean()


def rmse_by_range(hourly: pd.DataFrame, bins=RANGE_BINS_KM) -> dict[str, list[float]]:
    """MLP-1 RMSE against gauges per range bin (the products' range-dependent error model)."""
    centres, rmse, counts = [], [], []
    for lo, hi in zip(bins[:-1], bins[1:], strict=True):
        sel = hourly[(hourly["range_km"] >= lo) & (hourly["range_km"] < hi)]
        if len(sel) < 10:
            continue
        centres.append((lo + hi) / 2)
        rmse.append(float(np.sqrt(np.mean((sel["mlp1"] - sel["gauge"]) ** 2))))
        counts.append(len(sel))
    return {"range_km": centres, "rmse": rmse, "n": counts}


def mlp2_pairs(samples: pd.DataFrame, model: RainMLP | None, device="cpu") -> pd.DataFrame:
    """GR reference, MLP-2 (or fallback) and the SR standard product per footprint."""
    if samples.empty:
        return pd.DataFrame(columns=["gr", "mlp2", "sr_standard"])
    std = samples["precip_rate_near_surface_mm_h"].to_numpy(dtype=np.float64)
    if model is None:
        est = std
    else:
        est = predict_rain_rate(model, F.matrix(sr_feature_table(samples), model.spec), device)
    return pd.DataFrame({"gr": samples["gr_rain_mm_h"].to_numpy(), "mlp2": est, "sr_standard": std})


def mlp3_pairs(samples: pd.DataFrame, model: RainMLP | None, device="cpu") -> pd.DataFrame:
    """GR reference, MLP-3 (or fallback) and the fixed Tb curve per pixel-hour."""
    if samples.empty or F.TB_CURVE_BAND not in samples:
        return pd.DataFrame(columns=["gr", "mlp3", "tb_curve"])
    curve = tb_curve_rain_rate(samples[F.TB_CURVE_BAND].to_numpy())
    est = (
        curve if model is None else predict_rain_rate(model, F.matrix(samples, model.spec), device)
    )
    return pd.DataFrame({"gr": samples["gr_rain_mm_h"].to_numpy(), "mlp3": est, "tb_curve": curve})


def scatter_png(panels: Mapping[str, tuple[np.ndarray, np.ndarray, str]], dpi: int = 60) -> bytes:
    """One scatter panel per estimator: ``name -> (estimate, reference, reference label)``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = max(1, len(panels))
    fig, axes = plt.subplots(1, n, figsize=(3.2 * n, 3.2), squeeze=False)
    for ax, (name, (est, ref, label)) in zip(axes[0], panels.items(), strict=False):
        est, ref = np.asarray(est, float), np.asarray(ref, float)
        ok = np.isfinite(est) & np.isfinite(ref)
        top = float(max(1.0, np.nanpercentile(np.r_[est[ok], ref[ok]], 99.5))) if ok.any() else 1.0
        ax.scatter(ref[ok], est[ok], s=3, alpha=0.4)
        ax.plot([0, top], [0, top], "k-", lw=0.8)
        ax.set_xlim(0, top)
        ax.set_ylim(0, top)
        ax.set_xlabel(f"{label} (mm/h)")
        ax.set_ylabel(f"{name} (mm/h)")
        ax.set_title(name, fontsize=9)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    plt.close(fig)
    return buf.getvalue()
