import numpy as np
import pytest

from fusion_ops.calibration.baselines import tb_curve_rain_rate
from fusion_ops.calibration.zr import ZR_RELATIONS, rain_rate_from_dbz, rain_rate_zr
from fusion_ops.scores import score


@pytest.mark.parametrize("name", sorted(ZR_RELATIONS))
def test_zr_inverts_the_power_law(name):
    a, b = ZR_RELATIONS[name]
    rates = np.array([0.5, 1.0, 10.0, 40.0])
    dbz = 10 * np.log10(a * rates**b)
    np.testing.assert_allclose(rain_rate_zr(dbz, name), rates, rtol=1e-6)


def test_zr_floor_cap_and_nan():
    out = rain_rate_from_dbz(np.array([np.nan, 5.0, 60.0]), 300.0, 1.4)
    assert out[0] == 0.0 and out[1] == 0.0
    # 60 dBZ is capped at 53 dBZ: Z = 10^5.3 -> R = (10^5.3 / 300)^(1/1.4)
    assert out[2] == pytest.approx((10**5.3 / 300.0) ** (1 / 1.4), rel=1e-6)
    with pytest.raises(KeyError, match="unknown Z-R"):
        rain_rate_zr(np.array([30.0]), "zr_1_1")


def test_scores_known_values():
    s = score(np.array([1.0, 2.0, 3.0, np.nan]), np.array([1.0, 2.0, 5.0, 4.0]))
    assert s["n"] == 3
    assert s["rmse"] == pytest.approx(np.sqrt(4 / 3))
    assert s["nbias"] == pytest.approx(-2 / 8)
    assert s["corr"] == pytest.approx(np.corrcoef([1, 2, 3], [1, 2, 5])[0, 1])
    empty = score(np.array([np.nan]), np.array([1.0]))
    assert empty["n"] == 0 and np.isnan(empty["rmse"])
    with pytest.raises(ValueError, match="differ"):
        score(np.zeros(2), np.zeros(3))


def test_tb_curve_is_monotone_and_capped():
    tb = np.array([190.0, 210.0, 230.0, 250.0, 280.0, np.nan])
    r = tb_curve_rain_rate(tb)
    assert r[0] == 72.0
    assert r[1] > r[2] > r[3] >= 0.0
    assert r[4] == 0.0 and np.isnan(r[5])
