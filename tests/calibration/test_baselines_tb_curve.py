"""The auto-estimator refitted on the training window recovers a known curve; a thin window keeps
the published one (Vicente et al. 1998)."""

import numpy as np
import pytest

from fusion_ops.calibration import baselines as B


def _pairs(a, b, n, noise, seed):
    rng = np.random.default_rng(seed)
    tb = rng.uniform(195.0, 300.0, n)
    rain = B.tb_curve_rain_rate(tb, a, b) * rng.lognormal(0.0, noise, n)
    return tb, rain


def test_refit_recovers_a_known_curve():
    # a curve 2-3x drier than the published one at 220 K, and steeper in Tb
    b = 0.030
    a = 3.0 * np.exp(b * 220.0**1.2)  # 3 mm/h at 220 K
    tb, rain = _pairs(a, b, 4000, noise=0.1, seed=0)
    fit = B.fit_tb_curve(tb, rain, ("2021-05-18", "2021-05-19"))
    assert fit.fitted and fit.n == 4000 and fit.params()["exponent"] == 1.2
    assert fit.b == pytest.approx(b, rel=0.03)
    at = np.array([210.0, 220.0, 235.0])
    np.testing.assert_allclose(fit.rain_rate(at), B.tb_curve_rain_rate(at, a, b), rtol=0.05)
    published = B.tb_curve_rain_rate(at)
    assert (np.abs(fit.rain_rate(at) / published - 1) > 0.3).all()  # a different curve


def test_published_curve_without_enough_rain():
    tb, rain = _pairs(B.TB_CURVE_A, B.TB_CURVE_B, 300, noise=0.1, seed=1)
    rain[:] = 0.0
    rain[:10] = 2.0
    fit = B.fit_tb_curve(tb, rain)
    assert not fit.fitted and (fit.a, fit.b) == (B.TB_CURVE_A, B.TB_CURVE_B)
    assert "10 window samples with rain" in fit.reason
    assert B.fit_tb_curve(None, None).reason == "no training-window samples"
    # the default curve is the published one, capped at 72 mm/h and floored at 0.1 mm/h
    rate = B.TbCurve().rain_rate(np.array([180.0, 220.0, 300.0, np.nan]))
    assert rate[0] == 72.0 and rate[2] == 0.0 and np.isnan(rate[3])
    assert rate[1] == pytest.approx(1.1183e11 * np.exp(-3.6382e-2 * 220.0**1.2))
