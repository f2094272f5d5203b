"""Fixed baselines and fallbacks: Z-R for the ground radar, the SR standard product, a Tb curve.

The fixed infrared curve for MLP-3 is the GOES auto-estimator of Vicente, Scofield & Menzel
(1998, BAMS 79:1883): ``R = 1.1183e11 exp(-3.6382e-2 Tb^1.2)`` mm/h with the 10.7-11.2 um
brightness temperature ``Tb`` in K (ABI band 14, 11.2 um), capped at 72 mm/h as in the original.
"""

from __future__ import annotations

import numpy as np

from fusion_ops.calibration.zr import rain_rate_zr

#: The fixed relation used as MLP-1's fallback when a model cannot be trained (WSR-88D default).
FALLBACK_ZR = "zr_300_1.4"
AUTO_ESTIMATOR_MAX_MM_H = 72.0


def tb_curve_rain_rate(tb_k: np.ndarray) -> np.ndarray:
    """Vicente et al. (1998) auto-estimator rain rate (mm/h) from the 11 um Tb (K); NaN stays NaN."""
    tb = np.asarray(tb_k, dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        rate = 1.1183e11 * np.exp(-3.6382e-2 * np.power(tb, 1.2))
    rate = np.minimum(rate, AUTO_ESTIMATOR_MAX_MM_H)
    # below 0.1 mm/h the curve only describes warm clear sky
    return np.where(rate >= 0.1, rate, np.where(np.isnan(rate), np.nan, 0.0))


def fallback_gr_rain_rate(lowest_dbz: np.ndarray) -> np.ndarray:
    """MLP-1 fallback: the fixed WSR-88D Z-R on the lowest valid reflectivity."""
    return rain_rate_zr(lowest_dbz, FALLBACK_ZR)
