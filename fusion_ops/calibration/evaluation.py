"""Held-out evaluation of the chain: pooled scores, per-range MLP-1 errors, scatter plots.

A day's evaluation keeps, for every estimator, the sufficient statistics of its pairs
(``n, sum e, sum r, sum e^2, sum r^2, sum e r``): RMSE, correlation and normalised bias of any
set of days are then exact (:func:`fusion_ops.scores.pool`), without storing the pairs.

Estimators and references:

* ``mlp1``, the fixed Z-R relations (``zr_200_1.6``, ``zr_300_1.4``, ``zr_250_1.2``), the Z-R
  with the training window's mean-field bias (``zr_mfb``) and the CSU-HIDRO dual-pol blend
  (``dualpol_blend``, volumes with ZDR only) against hourly gauge rates at the held-out gauges
  (the mean of the volumes in each gauge hour; the baselines on the lowest valid level of each
  volume, after the same calibration corrections as MLP-1's features);
* ``mlp2`` and ``sr_standard`` (``precipRateNearSurface``) against the GR rain of the footprint;
* ``mlp3`` and ``tb_curve`` (auto-estimator on band 14, refitted on the training window) against
  hourly GR rain.

The fitted baselines are fitted on the training window of the model they are compared with (its
model file names the days), never on the evaluated day. The day's record also keeps the held-out
gauge-hour pairs of MLP-1 and its two strongest baselines (``mlp1_pairs``), so that the ratio of
RMSEs pooled over days gets a paired bootstrap interval (:func:`rmse_ratio_ci`).
"""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch

from fusion_ops.calibration import features as F
from fusion_ops.calibration.baselines import (
    TbCurve,
    ZrMfb,
    dualpol_volume_rates,
    fit_tb_curve,
    fit_zr_mfb,
)
from fusion_ops.calibration.models import RainMLP, predict_rain_rate
from fusion_ops.calibration.samples import sr_feature_table
from fusion_ops.calibration.versioning import load_model_or_fallback
from fusion_ops.calibration.zr import ZR_RELATIONS, rain_rate_zr
from fusion_ops.scores import pool, score_from_stats, sufficient_stats
from fusion_ops.tables import fixed, markdown_table

#: MLP-1's operational baselines (its skill is measured against the better of them).
MLP1_BASELINES = ("zr_mfb", "dualpol_blend")
ESTIMATORS = (
    "mlp1",
    *ZR_RELATIONS,
    *MLP1_BASELINES,
    "mlp2",
    "sr_standard",
    "mlp3",
    "tb_curve",
)
RANGE_BINS_KM = (0.0, 50.0, 100.0, 150.0, 200.0)
#: The network whose pairs score each estimator (the baselines share their network's pairs).
OWNERS = {
    **{est: "mlp1" for est in ("mlp1", *ZR_RELATIONS, *MLP1_BASELINES)},
    "mlp2": "mlp2",
    "sr_standard": "mlp2",
    "mlp3": "mlp3",
    "tb_curve": "mlp3",
}
#: Scatter panels: estimator -> its network's pairs and the reference's label on the plot.
SCATTER_PANELS = {
    "mlp1": ("mlp1", "gauge"),
    "zr_300_1.4": ("mlp1", "gauge"),
    "mlp2": ("mlp2", "GR"),
    "sr_standard": ("mlp2", "GR"),
    "mlp3": ("mlp3", "GR"),
    "tb_curve": ("mlp3", "GR"),
}
#: A model check needs at least this many held-out pairs to decide.
MIN_CHECK_PAIRS = 20
#: What an undecided check says when the network is its fallback (a cold start).
NO_TRAINED_MODEL = "no trained model yet"
#: Paired bootstrap of the RMSE ratio: draws and seed (fixed: the interval is reproducible).
BOOTSTRAP_DRAWS = 2000
BOOTSTRAP_SEED = 0
#: Loads the stored samples of one network for one day (``None`` when there are none).
SampleLoader = Callable[[str, str], "pd.DataFrame | None"]


def mlp1_hourly(
    samples: pd.DataFrame,
    model: RainMLP | None,
    device="cpu",
    zr_mfb: ZrMfb | None = None,
) -> pd.DataFrame:
    """Per gauge interval: gauge rate, MLP-1 (or fallback) and the baselines' estimates, range.

    ``samples`` are MLP-1 sample rows (usually of held-out gauges only); ``zr_mfb`` the
    mean-field-bias Z-R of the training window (:func:`~fusion_ops.calibration.baselines.
    fit_zr_mfb`; unfitted: the WSR-88D relation with bias 1). ``dualpol_blend`` is NaN on
    volumes without ZDR.
    """
    columns = ["gauge", "mlp1", *ZR_RELATIONS, *MLP1_BASELINES, "range_km"]
    if samples.empty:
        return pd.DataFrame(columns=columns)
    zr_mfb = zr_mfb or ZrMfb()
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
    frame["zr_mfb"] = zr_mfb.rain_rate(low)
    frame["dualpol_blend"] = dualpol_volume_rates(samples)[0]
    if model is None:
        frame["mlp1"] = rain_rate_zr(low, "zr_300_1.4")
    else:
        frame["mlp1"] = predict_rain_rate(model, F.matrix(samples, model.spec), device)
    # an hour is dual-pol only when all its volumes are (a mean of some volumes is not the hour)
    hourly = frame.groupby("group").mean()
    partial = frame["dualpol_blend"].isna().groupby(frame["group"]).any()
    hourly.loc[partial.reindex(hourly.index).to_numpy(), "dualpol_blend"] = np.nan
    return hourly


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


def mlp3_pairs(
    samples: pd.DataFrame,
    model: RainMLP | None,
    device="cpu",
    curve: TbCurve | None = None,
) -> pd.DataFrame:
    """GR reference, MLP-3 (or fallback) and the Tb curve per pixel-hour.

    ``curve`` is the baseline (refitted on the training window; default the published curve);
    the fallback network is always the published curve.
    """
    if samples.empty or F.TB_CURVE_BAND not in samples:
        return pd.DataFrame(columns=["gr", "mlp3", "tb_curve"])
    tb = samples[F.TB_CURVE_BAND].to_numpy()
    published = TbCurve().rain_rate(tb)
    baseline = (curve or TbCurve()).rain_rate(tb)
    est = (
        published
        if model is None
        else predict_rain_rate(model, F.matrix(samples, model.spec), device)
    )
    return pd.DataFrame(
        {"gr": samples["gr_rain_mm_h"].to_numpy(), "mlp3": est, "tb_curve": baseline}
    )


def window_of(meta: Mapping[str, Any]) -> tuple[str, ...]:
    """The training days a model file records (``info.window``; empty when it records none)."""
    return tuple((meta.get("info") or {}).get("window") or ())


def load_window(
    loader: SampleLoader | None, name: str, window: Sequence[str]
) -> pd.DataFrame | None:
    """The samples of network ``name`` over ``window`` (days without samples skipped)."""
    if loader is None:
        return None
    frames = [f for f in (loader(name, day) for day in window) if f is not None and len(f)]
    return pd.concat(frames, ignore_index=True) if frames else None


def rmse_ratio_ci(
    estimate: np.ndarray,
    baseline: np.ndarray,
    reference: np.ndarray,
    draws: int = BOOTSTRAP_DRAWS,
    seed: int = BOOTSTRAP_SEED,
) -> dict[str, Any]:
    """RMSE(estimate) / RMSE(baseline) against ``reference`` and its 95 % paired bootstrap.

    Pairs where any of the three is not finite are left out. The bootstrap resamples the pairs
    (each draw keeps the estimate, the baseline and the reference of a sample together) with a
    fixed seed; the interval is the 2.5 and 97.5 percentiles of the draws' ratios.

    Returns
    -------
    dict
        ``{"ratio", "ci95": [lo, hi], "n"}``; NaN ratio and interval with fewer than 2 pairs or
        a baseline without error.
    """
    est = np.asarray(estimate, dtype=np.float64)
    base = np.asarray(baseline, dtype=np.float64)
    ref = np.asarray(reference, dtype=np.float64)
    ok = np.isfinite(est) & np.isfinite(base) & np.isfinite(ref)
    e2, b2 = (est[ok] - ref[ok]) ** 2, (base[ok] - ref[ok]) ** 2
    n = int(ok.sum())
    nan = float("nan")
    if n < 2 or b2.sum() <= 0:
        return {"ratio": nan, "ci95": [nan, nan], "n": n}
    ratio = float(np.sqrt(e2.sum() / b2.sum()))
    rng = np.random.default_rng(seed)
    ratios = np.empty(draws)
    chunk = max(1, 2_000_000 // n)
    for start in range(0, draws, chunk):
        stop = min(draws, start + chunk)
        idx = rng.integers(0, n, size=(stop - start, n))
        with np.errstate(divide="ignore", invalid="ignore"):
            ratios[start:stop] = np.sqrt(e2[idx].sum(axis=1) / b2[idx].sum(axis=1))
    lo, hi = np.nanpercentile(ratios, [2.5, 97.5])
    return {"ratio": ratio, "ci95": [float(lo), float(hi)], "n": n}


def versus_best_baseline(
    pairs: Mapping[str, Sequence[float]],
    model: str = "mlp1",
    baselines: Sequence[str] = MLP1_BASELINES,
    reference: str = "gauge",
) -> dict[str, Any]:
    """The network's RMSE over that of its strongest baseline, with a paired bootstrap interval.

    Each baseline is compared with the network on the samples they share (the dual-pol blend
    exists only on dual-pol volumes); the strongest is the one against which the network's
    ratio is highest (it gains least). ``{"ratio", "ci95", "n", "baseline"}``; ``baseline``
    ``None`` (and NaN ratio) when no baseline has pairs.
    """
    nan = float("nan")
    best: dict[str, Any] = {"ratio": nan, "ci95": [nan, nan], "n": 0, "baseline": None}
    for name in baselines:
        if name not in pairs:
            continue
        out = rmse_ratio_ci(pairs[model], pairs[name], pairs[reference])
        if np.isfinite(out["ratio"]) and (best["baseline"] is None or out["ratio"] > best["ratio"]):
            best = {**out, "baseline": name}
    return best


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


@dataclasses.dataclass(frozen=True)
class DayEvaluation:
    """A day's held-out evaluation.

    Attributes
    ----------
    record : the stored evaluation: ``day`` and, per estimator of :data:`ESTIMATORS`, its scores
        (``rmse`` in mm/h, ``corr``, ``nbias``, ``n``), sufficient ``stats``, ``model``,
        ``model_version`` (networks only) and ``fallback``; ``mlp1`` adds ``rmse_by_range``,
        the fitted baselines (``zr_mfb``, ``tb_curve``) their ``params``. ``mlp1_pairs``: the
        held-out gauge hours (``gauge``, ``mlp1``, ``zr_mfb``, ``dualpol_blend``; ``None`` where
        missing); ``mlp1_vs_best_baseline``: :func:`versus_best_baseline` of the day.
    panels : scatter panels (estimator -> estimates, references, reference label), for
        :func:`scatter_png`; only estimators with pairs.
    model_versions : version of each network's model file.
    fallbacks : fallback in use per network (``None`` when trained).
    """

    record: dict[str, Any]
    panels: dict[str, tuple[np.ndarray, np.ndarray, str]]
    model_versions: dict[str, str]
    fallbacks: dict[str, str | None]


def evaluate_day(
    day: str,
    samples: Mapping[str, pd.DataFrame],
    model_files: Mapping[str, bytes],
    device: torch.device | str = "cpu",
    sample_loader: SampleLoader | None = None,
) -> DayEvaluation:
    """Score every network and baseline on a day's held-out pairs.

    Parameters
    ----------
    day : the evaluated day (ISO date).
    samples : the day's samples per network (``mlp1``, ``mlp2``, ``mlp3``); MLP-1 is scored at
        the held-out gauges only.
    model_files : the model file serving the day per network (trained before the day).
    device : torch device of the inference.
    sample_loader : ``(network, day) -> samples or None``: the stored samples of a training
        day, for the baselines fitted on the training window (``zr_mfb`` on MLP-1's window,
        ``tb_curve`` on MLP-3's); without it they are unfitted (WSR-88D Z-R with bias 1, the
        published Tb curve).

    Returns
    -------
    DayEvaluation
        Scores with their sufficient statistics (exact pooling over days), the fitted baselines'
        parameters (``params``), MLP-1's held-out pairs with its two operational baselines
        (``mlp1_pairs``) and its ratio to the stronger (``mlp1_vs_best_baseline``), scatter
        panels and the models' versions and fallbacks.
    """
    models = {
        name: load_model_or_fallback(model_files[name], f"{name}_model")
        for name in ("mlp1", "mlp2", "mlp3")
    }
    w1, w3 = window_of(models["mlp1"][1]), window_of(models["mlp3"][1])
    zr_mfb = fit_zr_mfb(load_window(sample_loader, "mlp1", w1), w1)
    window3 = load_window(sample_loader, "mlp3", w3)
    if window3 is not None and F.TB_CURVE_BAND in window3 and "gr_rain_mm_h" in window3:
        curve = fit_tb_curve(window3[F.TB_CURVE_BAND], window3["gr_rain_mm_h"], w3)
    else:
        curve = TbCurve(reason="no training-window samples", window=w3)
    mlp1 = samples["mlp1"]
    held = mlp1[mlp1["heldout"].astype(bool)] if len(mlp1) else mlp1
    pairs = {
        "mlp1": (mlp1_hourly(held, models["mlp1"][0], device, zr_mfb), "gauge"),
        "mlp2": (mlp2_pairs(samples["mlp2"], models["mlp2"][0], device), "gr"),
        "mlp3": (mlp3_pairs(samples["mlp3"], models["mlp3"][0], device, curve), "gr"),
    }
    record: dict[str, Any] = {"day": day}
    for est in ESTIMATORS:
        owner = OWNERS[est]
        frame, ref = pairs[owner]
        stats = sufficient_stats(frame[est], frame[ref]) if len(frame) else pool([])
        _, meta = models[owner]
        record[est] = {
            **score_from_stats(stats),
            "stats": stats,
            "model": owner,
            "model_version": meta["version"] if est == owner else None,
            "fallback": meta["fallback"],
        }
    record["zr_mfb"]["params"] = zr_mfb.params()
    record["dualpol_blend"]["params"] = {
        "method": "CSU-HIDRO (Cifelli et al. 2011), S band",
        "hours_with_zdr": int(record["dualpol_blend"]["n"]),
    }
    record["tb_curve"]["params"] = curve.params()
    hourly = pairs["mlp1"][0]
    if len(hourly):
        record["mlp1"]["rmse_by_range"] = rmse_by_range(hourly)
    keep = ["gauge", "mlp1", *MLP1_BASELINES]
    record["mlp1_pairs"] = {
        k: [None if not np.isfinite(v) else round(float(v), 4) for v in hourly[k]] for k in keep
    }
    record["mlp1_vs_best_baseline"] = versus_best_baseline(
        {k: hourly[k].to_numpy(float) for k in keep}
    )
    panels = {}
    for est, (owner, label) in SCATTER_PANELS.items():
        frame, ref = pairs[owner]
        if len(frame):
            panels[est] = (frame[est].to_numpy(float), frame[ref].to_numpy(float), label)
    return DayEvaluation(
        record,
        panels,
        {name: meta["version"] for name, (_, meta) in models.items()},
        {name: meta["fallback"] for name, (_, meta) in models.items()},
    )


def pairs_array(values: Sequence[float | None]) -> np.ndarray:
    """A stored pair series (``None`` = missing) as float64 with NaN."""
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


def rmse_summary(
    record: Mapping[str, Any], estimators: Sequence[str] = ESTIMATORS
) -> dict[str, float]:
    """``{estimator}_rmse`` (mm/h) per estimator; -1 where undefined (no pairs), for charts."""
    return {f"{est}_rmse": float(np.nan_to_num(record[est]["rmse"], nan=-1)) for est in estimators}


def score_markdown(record: Mapping[str, Any]) -> str:
    """The scores of every estimator as a Markdown table (NaN written ``nan``)."""
    rows = [
        [est, s["rmse"], s["corr"], s["nbias"], str(s["n"]), s["fallback"] or ""]
        for est, s in ((est, record[est]) for est in ESTIMATORS)
    ]
    return markdown_table(
        ["estimator", "rmse (mm/h)", "corr", "nbias", "n", "fallback"],
        rows,
        cell=fixed(3, missing="nan"),
    )


@dataclasses.dataclass(frozen=True)
class CheckOutcome:
    """Whether a network beats its fixed baselines on a day's held-out pairs.

    Attributes
    ----------
    passed : the network beats every baseline.
    decided : the comparison was made; ``False`` when it could not be (fallback in use, too few
        pairs): a warning rather than an error.
    reason : why it was not decided (``None`` when decided); with a fallback in use it starts
        with :data:`NO_TRAINED_MODEL`.
    rmse : ``{estimator}_rmse`` (mm/h; -1 where undefined) of the network and its baselines.
    """

    passed: bool
    decided: bool
    reason: str | None
    rmse: dict[str, float]

    @property
    def severity(self) -> str:
        """``error`` when decided (a trained network that fails is an error), ``warn`` when not
        (a fallback in use, no trained model yet; or too few pairs)."""
        return "error" if self.decided else "warn"

    @property
    def cold_start(self) -> bool:
        """The network is its fallback: no trained model yet."""
        return bool(self.reason and self.reason.startswith(NO_TRAINED_MODEL))


def check_against_baselines(
    record: Mapping[str, Any], model: str, baselines: Sequence[str], need_corr: bool
) -> CheckOutcome:
    """Does network ``model`` beat ``baselines`` in a day's evaluation record?

    Parameters
    ----------
    record : the day's evaluation record (:attr:`DayEvaluation.record`).
    model : the network (``mlp1``, ``mlp2``, ``mlp3``).
    baselines : the fixed estimators it must beat.
    need_corr : also require a higher correlation than every baseline.

    Returns
    -------
    CheckOutcome
        Passed when the RMSE is below every baseline's (and, with ``need_corr``, the correlation
        above); undecided (not passed, severity ``warn``) when a fallback is in use (a cold
        start: :data:`NO_TRAINED_MODEL`) or there are fewer than :data:`MIN_CHECK_PAIRS` pairs.
    """
    s = record[model]
    rmse = rmse_summary(record, [model, *baselines])
    if s.get("fallback"):
        reason = f"{NO_TRAINED_MODEL}: fallback {s['fallback']} in use"
        return CheckOutcome(False, False, reason, rmse)
    if s["n"] < MIN_CHECK_PAIRS:
        return CheckOutcome(False, False, f"only {s['n']} held-out pairs", rmse)
    best = min(record[b]["rmse"] for b in baselines)
    ok = s["rmse"] < best
    if need_corr:
        ok &= s["corr"] > max(record[b]["corr"] for b in baselines)
    return CheckOutcome(bool(ok), True, None, rmse)
