"""The baselines every network must beat, and the fallbacks that stand in for an untrained one.

MLP-1 (GR -> gauge rain) is scored against

* the fixed Z-R relations of :mod:`fusion_ops.calibration.zr` (``zr_200_1.6``, ``zr_300_1.4``,
  ``zr_250_1.2``);
* ``zr_mfb``: a Z-R relation with a **mean-field bias** from the gauges of the training window
  (:func:`fit_zr_mfb`). The relation is chosen on the same window among the WSR-88D's
  operational ones (:data:`MFB_CANDIDATES`); the bias is ``sum(gauges) / sum(Z-R)`` over the
  window's gauge hours (Wilson & Brandes 1979, BAMS 60:1048; the operational mean-field bias of
  the WSR-88D precipitation processing);
* ``dualpol_blend``: the CSU-HIDRO blend of R(Z), R(Z, ZDR), R(KDP) and R(KDP, ZDR) of Cifelli
  et al. (2011, JTECH 28:352), S-band coefficients (:func:`dualpol_blend_rate`), on volumes that
  have ZDR.

MLP-3 (satellite -> GR rain) is scored against the GOES auto-estimator of Vicente, Scofield &
Menzel (1998, BAMS 79:1883), ``R = A exp(-B Tb^1.2)`` mm/h with the 10.7-11.2 um brightness
temperature ``Tb`` in K (ABI band 14), capped at 72 mm/h as in the original, **refitted** on the
training window (:func:`fit_tb_curve`; the published ``A = 1.1183e11, B = 3.6382e-2`` where the
window is too thin). MLP-2's baseline is the SR standard product (``precipRateNearSurface``).

The fallbacks (an untrained network's stand-in) stay the fixed relations: ``zr_300_1.4`` and the
published Tb curve.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from fusion_ops.calibration import features as F
from fusion_ops.calibration.zr import HAIL_CAP_DBZ, MIN_RAIN_DBZ, rain_rate_from_dbz, rain_rate_zr

#: The fixed relation used as MLP-1's fallback when a model cannot be trained (WSR-88D default).
FALLBACK_ZR = "zr_300_1.4"
AUTO_ESTIMATOR_MAX_MM_H = 72.0
#: The published auto-estimator (Vicente et al. 1998): ``R = A exp(-B Tb^TB_EXPONENT)``.
TB_CURVE_A = 1.1183e11
TB_CURVE_B = 3.6382e-2
TB_EXPONENT = 1.2
#: Below this the curve describes warm clear sky, not rain (mm/h).
TB_MIN_RAIN_MM_H = 0.1

#: The Z-R relations a mean-field-bias baseline chooses from (``Z = a R^b``): the WSR-88D's
#: operational options (Marshall-Palmer, the convective default, Rosenfeld tropical, and the
#: East and West cool-season stratiform relations).
MFB_CANDIDATES: dict[str, tuple[float, float]] = {
    "zr_200_1.6": (200.0, 1.6),
    "zr_300_1.4": (300.0, 1.4),
    "zr_250_1.2": (250.0, 1.2),
    "zr_130_2.0": (130.0, 2.0),
    "zr_75_2.0": (75.0, 2.0),
}
#: A mean-field bias needs this many gauge hours of the window with a Z-R estimate above zero.
MIN_MFB_HOURS = 10
#: A Tb refit needs this many window samples with at least :data:`TB_MIN_RAIN_MM_H` of GR rain.
MIN_TB_RAIN_SAMPLES = 50

#: CSU-HIDRO (Cifelli et al. 2011) S-band estimators, Z linear (mm^6 m^-3), ZDR in dB, KDP in
#: deg/km, R in mm/h.
HIDRO_KDP_MIN = 0.3  # deg/km
HIDRO_DBZ_MIN = 38.0  # dBZ
HIDRO_ZDR_MIN = 0.5  # dB
#: The regimes of :func:`dualpol_blend_rate`, as its ``regime`` output numbers them.
HIDRO_REGIMES = ("R(KDP,ZDR)", "R(KDP)", "R(Z,ZDR)", "R(Z)")


def tb_curve_rain_rate(
    tb_k: np.ndarray, a: float = TB_CURVE_A, b: float = TB_CURVE_B
) -> np.ndarray:
    """Auto-estimator rain rate (mm/h) from the 11 um Tb (K), ``a exp(-b Tb^1.2)``; NaN stays NaN.

    The published coefficients by default (Vicente et al. 1998); a refit's with ``a``, ``b``.
    """
    tb = np.asarray(tb_k, dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        rate = a * np.exp(-b * np.power(tb, TB_EXPONENT))
    rate = np.minimum(rate, AUTO_ESTIMATOR_MAX_MM_H)
    return np.where(rate >= TB_MIN_RAIN_MM_H, rate, np.where(np.isnan(rate), np.nan, 0.0))


def fallback_gr_rain_rate(lowest_dbz: np.ndarray) -> np.ndarray:
    """MLP-1 fallback: the fixed WSR-88D Z-R on the lowest valid reflectivity."""
    return rain_rate_zr(lowest_dbz, FALLBACK_ZR)


# --------------------------------------------------------------------------- Z-R + mean-field bias


@dataclasses.dataclass(frozen=True)
class ZrMfb:
    """A Z-R relation with its mean-field bias (``R = bias * R_zr``).

    Attributes
    ----------
    relation : name of the relation (a key of :data:`MFB_CANDIDATES`).
    a, b : ``Z = a R^b``.
    bias : the mean-field bias, ``sum(gauges) / sum(Z-R)`` over the training window.
    n_hours : gauge hours of the window it was fitted on (0 when not fitted).
    fitted : ``False`` when the window held too little (then the WSR-88D relation, bias 1).
    reason : why it was not fitted (empty when fitted).
    window : the training days.
    """

    relation: str = FALLBACK_ZR
    a: float = 300.0
    b: float = 1.4
    bias: float = 1.0
    n_hours: int = 0
    fitted: bool = False
    reason: str = ""
    window: tuple[str, ...] = ()

    def rain_rate(self, lowest_dbz: np.ndarray) -> np.ndarray:
        """Rain rate (mm/h) on the lowest valid reflectivity (10 dBZ floor, 53 dBZ cap)."""
        return self.bias * rain_rate_from_dbz(lowest_dbz, self.a, self.b)

    def params(self) -> dict[str, Any]:
        """The fitted values, JSON-able (the evaluation record keeps them)."""
        out = dataclasses.asdict(self)
        out["window"] = list(self.window)
        return out


def gauge_hours(samples: pd.DataFrame, rates: Mapping[str, np.ndarray]) -> pd.DataFrame:
    """Per gauge interval (``group``): the gauge rate and the mean of each per-volume estimate."""
    frame = pd.DataFrame(
        {"group": samples["group"].to_numpy(), "gauge": samples["gauge_rate_mm_h"].to_numpy()}
    )
    for name, values in rates.items():
        frame[name] = np.asarray(values, dtype=np.float64)
    return frame.groupby("group").mean()


def fit_zr_mfb(window_samples: pd.DataFrame | None, window: tuple[str, ...] = ()) -> ZrMfb:
    """Choose a Z-R relation and its mean-field bias on the training window's gauges.

    Parameters
    ----------
    window_samples : MLP-1 sample rows of the training window (the day's calibration
        corrections already removed, as MLP-1 sees them); the held-out gauges are left out, as
        they are from MLP-1's training.
    window : the training days (recorded).

    Returns
    -------
    ZrMfb
        For every relation of :data:`MFB_CANDIDATES`: the hourly mean of its volume rates
        (lowest valid level) per gauge hour, the bias ``sum(gauge) / sum(Z-R)`` over the
        window's gauge hours, and the RMSE of the biased estimate against the gauges; the
        relation with the lowest RMSE wins. Not fitted (WSR-88D relation, bias 1) without
        :data:`MIN_MFB_HOURS` gauge hours with rain estimated.
    """
    rows = window_samples if window_samples is not None else pd.DataFrame()
    if len(rows) and "heldout" in rows:
        rows = rows[~rows["heldout"].astype(bool)]
    if len(rows) == 0:
        return ZrMfb(reason="no training-window samples", window=tuple(window))
    low = F.lowest_valid(rows[F.level_names("dbz")].to_numpy())
    rates = {name: rain_rate_from_dbz(low, a, b) for name, (a, b) in MFB_CANDIDATES.items()}
    hourly = gauge_hours(rows, rates).dropna(subset=["gauge"])
    best: ZrMfb | None = None
    best_rmse = np.inf
    for name, (a, b) in MFB_CANDIDATES.items():
        est = hourly[name].to_numpy()
        gauge = hourly["gauge"].to_numpy()
        ok = np.isfinite(est)
        if int((est[ok] > 0).sum()) < MIN_MFB_HOURS:
            continue
        bias = float(gauge[ok].sum() / est[ok].sum())
        rmse = float(np.sqrt(np.mean((bias * est[ok] - gauge[ok]) ** 2)))
        if rmse < best_rmse:
            best_rmse = rmse
            best = ZrMfb(name, a, b, bias, int(ok.sum()), True, "", tuple(window))
    if best is None:
        return ZrMfb(
            reason=f"fewer than {MIN_MFB_HOURS} window gauge hours with Z-R rain",
            window=tuple(window),
        )
    return best


# --------------------------------------------------------------------------- dual-pol blend


def dualpol_blend_rate(
    dbz: np.ndarray, zdr_db: np.ndarray, kdp_deg_km: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """CSU-HIDRO rain rate (Cifelli et al. 2011, JTECH 28:352), S band, for rain.

    ``KDP >= 0.3 deg/km`` and ``Z >= 38 dBZ``: ``R(KDP, ZDR) = 90.8 KDP^0.93 10^(-0.169 ZDR)``
    when ``ZDR >= 0.5 dB``, else ``R(KDP) = 40.5 KDP^0.85``; otherwise
    ``R(Z, ZDR) = 6.7e-3 Z^0.927 10^(-0.343 ZDR)`` when ``ZDR >= 0.5 dB``, else
    ``R(Z) = 0.0170 Z^0.7143`` (Z linear in mm^6 m^-3, ZDR in dB).

    As for the Z-R baselines, reflectivity below 10 dBZ (or NaN) is no rain and the Z-based
    estimators cap Z at 53 dBZ. A KDP that is NaN counts as below the threshold (the processing
    leaves it out in light rain); a NaN ZDR where there is rain gives NaN (no dual-pol moment).

    Returns
    -------
    (rate, regime)
        Rate in mm/h; regime the index in :data:`HIDRO_REGIMES` (-1: no rain or no ZDR).
    """
    dbz = np.asarray(dbz, dtype=np.float64)
    zdr = np.asarray(zdr_db, dtype=np.float64)
    kdp = np.asarray(kdp_deg_km, dtype=np.float64)
    rain = np.nan_to_num(dbz, nan=-99.0) >= MIN_RAIN_DBZ
    z = 10.0 ** (np.minimum(np.nan_to_num(dbz, nan=-99.0), HAIL_CAP_DBZ) / 10.0)
    kdp0 = np.nan_to_num(kdp, nan=0.0)
    zdr0 = np.nan_to_num(zdr, nan=0.0)
    use_kdp = (kdp0 >= HIDRO_KDP_MIN) & (np.nan_to_num(dbz, nan=-99.0) >= HIDRO_DBZ_MIN)
    big_drops = zdr0 >= HIDRO_ZDR_MIN
    with np.errstate(invalid="ignore", over="ignore"):
        r_kdp_zdr = 90.8 * np.power(np.maximum(kdp0, 0.0), 0.93) * 10.0 ** (-0.169 * zdr0)
        r_kdp = 40.5 * np.power(np.maximum(kdp0, 0.0), 0.85)
        r_z_zdr = 6.7e-3 * np.power(z, 0.927) * 10.0 ** (-0.343 * zdr0)
        r_z = 0.0170 * np.power(z, 0.7143)
    regime = np.where(use_kdp, np.where(big_drops, 0, 1), np.where(big_drops, 2, 3))
    rate = np.choose(regime, [r_kdp_zdr, r_kdp, r_z_zdr, r_z])
    has_zdr = np.isfinite(zdr)
    rate = np.where(rain, np.where(has_zdr, rate, np.nan), 0.0)
    regime = np.where(rain & has_zdr, regime, -1)
    return rate, regime


#: A sample table is dual-pol when at least this share of its volumes with rain echo at the
#: lowest level carries a ZDR there.
MIN_DUALPOL_SHARE = 0.5


def dualpol_volume_rates(
    samples: pd.DataFrame, dual_pol: bool | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The blend per MLP-1 sample row (volume), at the lowest level with reflectivity.

    ZDR and KDP are taken at that same level. The blend exists only for a dual-pol radar:
    ``dual_pol`` says whether the table's radar is one (default: at least
    :data:`MIN_DUALPOL_SHARE` of the volumes with rain echo have a ZDR with it). On a dual-pol
    table a volume without rain echo is 0 mm/h and one with echo but no ZDR is NaN; on a
    single-pol table every volume is NaN (a volume without echo says nothing of the radar).

    Returns
    -------
    (rate, regime) per row, as :func:`dualpol_blend_rate`.
    """
    dbz = samples[F.level_names("dbz")].to_numpy(dtype=np.float64)
    zdr = _levels_or_nan(samples, "zdr", dbz.shape)
    kdp = _levels_or_nan(samples, "kdp", dbz.shape)
    finite = np.isfinite(dbz)
    idx = np.argmax(finite, axis=1)[:, None] if len(dbz) else np.zeros((0, 1), int)
    low = np.where(finite.any(axis=1), np.take_along_axis(dbz, idx, axis=1)[:, 0], np.nan)
    zdr_low = np.take_along_axis(zdr, idx, axis=1)[:, 0]
    kdp_low = np.take_along_axis(kdp, idx, axis=1)[:, 0]
    rate, regime = dualpol_blend_rate(low, zdr_low, kdp_low)
    if dual_pol is None:
        echo = np.nan_to_num(low, nan=-99.0) >= MIN_RAIN_DBZ
        dual_pol = bool(echo.any() and np.isfinite(zdr_low[echo]).mean() >= MIN_DUALPOL_SHARE)
    if not dual_pol:
        return np.full(len(rate), np.nan), np.full(len(rate), -1)
    return rate, regime


def _levels_or_nan(samples: pd.DataFrame, prefix: str, shape: tuple[int, ...]) -> np.ndarray:
    cols = F.level_names(prefix)
    if not all(c in samples for c in cols):
        return np.full(shape, np.nan)
    return samples[cols].to_numpy(dtype=np.float64)


# --------------------------------------------------------------------------- Tb curve refit


@dataclasses.dataclass(frozen=True)
class TbCurve:
    """The auto-estimator ``R = a exp(-b Tb^1.2)`` (mm/h, Tb in K), published or refitted.

    Attributes
    ----------
    a, b : coefficients.
    fitted : refitted on the training window (``False``: the published curve).
    n : window samples the fit used (0 when not fitted).
    reason : why it was not refitted (empty when it was).
    window : the training days.
    """

    a: float = TB_CURVE_A
    b: float = TB_CURVE_B
    fitted: bool = False
    n: int = 0
    reason: str = ""
    window: tuple[str, ...] = ()

    def rain_rate(self, tb_k: np.ndarray) -> np.ndarray:
        """Rain rate (mm/h) of the curve, capped and floored as the published one."""
        return tb_curve_rain_rate(tb_k, self.a, self.b)

    def params(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["window"] = list(self.window)
        out["exponent"] = TB_EXPONENT
        return out


#: The refit is parametrised around this Tb (K), where ``ln A`` and ``B`` are least correlated.
TB_PIVOT_K = 220.0


def fit_tb_curve(
    tb_k: np.ndarray | None, rain_mm_h: np.ndarray | None, window: tuple[str, ...] = ()
) -> TbCurve:
    """Refit the auto-estimator's ``A`` and ``B`` to a training window's (Tb, GR rain) pairs.

    Least squares of the capped rate (mm/h) against the GR hourly rain over every window
    sample (dry ones included: the curve must also say where it does not rain), in the
    parameters ``ln R(220 K)`` and ``B`` (well conditioned), from the published curve.
    The published curve where fewer than :data:`MIN_TB_RAIN_SAMPLES` samples have rain or the
    fit fails.
    """
    from scipy.optimize import least_squares

    if tb_k is None or rain_mm_h is None:
        return TbCurve(reason="no training-window samples", window=tuple(window))
    tb = np.asarray(tb_k, dtype=np.float64).ravel()
    rain = np.asarray(rain_mm_h, dtype=np.float64).ravel()
    ok = np.isfinite(tb) & np.isfinite(rain)
    tb, rain = tb[ok], rain[ok]
    n_rain = int((rain >= TB_MIN_RAIN_MM_H).sum())
    if n_rain < MIN_TB_RAIN_SAMPLES:
        return TbCurve(
            reason=f"{n_rain} window samples with rain (< {MIN_TB_RAIN_SAMPLES})",
            window=tuple(window),
        )
    x = np.power(tb, TB_EXPONENT) - TB_PIVOT_K**TB_EXPONENT

    def residual(p: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore"):
            rate = np.exp(np.minimum(p[0] - p[1] * x, 50.0))
        return np.minimum(rate, AUTO_ESTIMATOR_MAX_MM_H) - rain

    start = np.array([np.log(TB_CURVE_A) - TB_CURVE_B * TB_PIVOT_K**TB_EXPONENT, TB_CURVE_B])
    try:
        fit = least_squares(residual, start, x_scale=np.array([1.0, 0.01]), method="trf")
    except (ValueError, FloatingPointError) as err:  # pragma: no cover - defensive
        return TbCurve(reason=f"fit failed: {err}", window=tuple(window))
    c0, b = (float(v) for v in fit.x)
    if not (fit.success and np.isfinite(c0) and b > 0):
        return TbCurve(reason=f"fit failed: {fit.message}", window=tuple(window))
    a = float(np.exp(c0 + b * TB_PIVOT_K**TB_EXPONENT))
    return TbCurve(a, b, True, int(tb.size), "", tuple(window))
