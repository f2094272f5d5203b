"""The CSU-HIDRO dual-pol blend (Cifelli et al. 2011): the published S-band formulas, evaluated
by hand at chosen points on each side of its regime switches."""

import numpy as np
import pandas as pd
import pytest

from fusion_ops.calibration import baselines as B
from fusion_ops.calibration.features import level_names


def _z(dbz):
    return 10.0 ** (dbz / 10.0)


# (dBZ, ZDR dB, KDP deg/km) -> expected R (mm/h) and regime, from the published equations
CASES = [
    # heavy rain, big drops: R(KDP, ZDR) = 90.8 KDP^0.93 10^(-0.169 ZDR)
    ((45.0, 1.2, 1.5), 90.8 * 1.5**0.93 * 10 ** (-0.169 * 1.2), 0),
    # heavy rain, small ZDR: R(KDP) = 40.5 KDP^0.85
    ((45.0, 0.3, 1.5), 40.5 * 1.5**0.85, 1),
    # KDP below 0.3 deg/km: back to Z; ZDR >= 0.5: R(Z, ZDR) = 6.7e-3 Z^0.927 10^(-0.343 ZDR)
    ((45.0, 1.2, 0.29), 6.7e-3 * _z(45.0) ** 0.927 * 10 ** (-0.343 * 1.2), 2),
    # Z below 38 dBZ with a large KDP: Z branch too
    ((37.9, 0.8, 1.0), 6.7e-3 * _z(37.9) ** 0.927 * 10 ** (-0.343 * 0.8), 2),
    # light rain, ZDR < 0.5 dB: R(Z) = 0.0170 Z^0.7143
    ((25.0, 0.4, 0.05), 0.0170 * _z(25.0) ** 0.7143, 3),
    # the thresholds themselves belong to the upper branches (>=)
    ((38.0, 0.5, 0.3), 90.8 * 0.3**0.93 * 10 ** (-0.169 * 0.5), 0),
    # a KDP the processing left out (NaN) counts as below its threshold
    ((48.0, 0.2, np.nan), 0.0170 * _z(48.0) ** 0.7143, 3),
    # the Z-based estimators cap Z at 53 dBZ (hail), as the Z-R baselines do
    ((60.0, 0.2, 0.1), 0.0170 * _z(53.0) ** 0.7143, 3),
]


@pytest.mark.parametrize(("point", "expected", "regime"), CASES)
def test_published_values_at_chosen_points(point, expected, regime):
    dbz, zdr, kdp = point
    rate, got = B.dualpol_blend_rate(np.array([dbz]), np.array([zdr]), np.array([kdp]))
    assert rate[0] == pytest.approx(expected, rel=1e-9)
    assert got[0] == regime and B.HIDRO_REGIMES[regime].startswith("R(")


def test_no_rain_and_no_zdr():
    rate, regime = B.dualpol_blend_rate(
        np.array([5.0, np.nan, 30.0]), np.array([1.0, np.nan, np.nan]), np.array([0.5, 0, 0])
    )
    assert rate[0] == 0.0 and rate[1] == 0.0  # below 10 dBZ or no echo: no rain
    assert np.isnan(rate[2])  # rain echo without ZDR: not a dual-pol sample
    assert list(regime) == [-1, -1, -1]


def test_volume_rates_use_the_lowest_level_with_echo():
    names = {p: level_names(p) for p in ("dbz", "zdr", "kdp")}
    nlev = len(names["dbz"])
    rows = np.full((3, nlev), np.nan)
    dbz, zdr, kdp = rows.copy(), rows.copy(), rows.copy()
    dbz[0, 2:4], zdr[0, 2:4], kdp[0, 2:4] = [45.0, 20.0], [1.2, 0.1], [1.5, 0.0]
    dbz[1, 1], zdr[1, 1], kdp[1, 1] = 25.0, 0.4, np.nan  # KDP missing: R(Z)
    frame = pd.DataFrame(
        np.hstack([dbz, zdr, kdp]), columns=names["dbz"] + names["zdr"] + names["kdp"]
    )  # row 2: no echo at all
    rate, regime = B.dualpol_volume_rates(frame)
    assert rate[0] == pytest.approx(90.8 * 1.5**0.93 * 10 ** (-0.169 * 1.2))
    assert rate[1] == pytest.approx(0.0170 * _z(25.0) ** 0.7143)
    assert rate[2] == 0.0 and list(regime) == [0, 3, -1]
    single = frame.copy()
    single[names["zdr"] + names["kdp"]] = np.nan
    assert np.isnan(B.dualpol_volume_rates(single)[0]).all()
    assert np.isnan(B.dualpol_volume_rates(frame, dual_pol=False)[0]).all()
