"""Gauge adjustment with wradlib and the reproducible, rotating withheld gauges."""

import datetime as dt

import numpy as np
import pytest

from fusion_ops.products import ProductInputError
from fusion_ops.products.adjust import (
    AdjustConfig,
    adjust_daily,
    apply_daily_factor,
    choose_adjustment,
    cross_validated_rmse,
    withheld_gauges,
)
from fusion_ops.products.verify import nearest_cell_values, scores

IDS = [f"72{k:04d}99999" for k in range(178)]


def test_withheld_fraction_is_reproducible_and_rotates_by_day():
    day = dt.date(2009, 5, 20)
    first = withheld_gauges(IDS, day, 0.2)
    assert first.sum() == round(0.2 * len(IDS))
    assert np.array_equal(first, withheld_gauges(IDS, "2009-05-20", 0.2))
    # Order of the table does not change which stations are withheld.
    reversed_mask = withheld_gauges(IDS[::-1], day, 0.2)[::-1]
    assert np.array_equal(first, reversed_mask)
    nxt = withheld_gauges(IDS, day + dt.timedelta(days=1), 0.2)
    assert not (first & nxt).any()
    # Over five days (1/fraction) every gauge but the remainder is withheld exactly once.
    total = sum(withheld_gauges(IDS, day + dt.timedelta(days=k), 0.2).astype(int) for k in range(5))
    assert total.max() <= 2 and (total >= 1).sum() >= len(IDS) - 2
    assert withheld_gauges(IDS, day, 0.0).sum() == 0
    with pytest.raises(ProductInputError, match="fraction"):
        withheld_gauges(IDS, day, 1.0)
    with pytest.raises(ProductInputError, match="unique"):
        withheld_gauges(["A", "A"], day)


def _biased_field():
    lat = 27.5 + 0.02 * np.arange(40)
    lon = -81.0 + 0.02 * np.arange(45)
    lon2d, lat2d = np.meshgrid(lon, lat)
    truth = 20 + 15 * np.sin(lon2d * 9) * np.cos(lat2d * 7)
    bias = 0.6 + 0.2 * (lon2d - lon.min()) / np.ptp(lon)  # smooth multiplicative radar bias
    rng = np.random.default_rng(3)
    glat = rng.uniform(lat[1], lat[-2], 60)
    glon = rng.uniform(lon[1], lon[-2], 60)
    g = nearest_cell_values(truth, lat, lon, glat, glon)
    return lat, lon, truth, truth * bias, glat, glon, g


@pytest.mark.parametrize("method", ["mixed", "multiply", "add"])
def test_adjustment_removes_most_of_a_smooth_bias(method):
    lat, lon, truth, raw, glat, glon, g = _biased_field()
    use = np.arange(g.size) % 5 != 0
    out = adjust_daily(raw, lat, lon, glat[use], glon[use], g[use], AdjustConfig(method=method))
    assert out.applied and out.n_gauges == use.sum()
    before = scores(raw, truth)["rmse"]
    after = scores(out.daily_mm, truth)["rmse"]
    assert after < 0.4 * before
    at_withheld = nearest_cell_values(out.daily_mm, lat, lon, glat[~use], glon[~use])
    raw_withheld = nearest_cell_values(raw, lat, lon, glat[~use], glon[~use])
    assert scores(at_withheld, g[~use])["rmse"] < 0.4 * scores(raw_withheld, g[~use])["rmse"]
    assert out.daily_mm == pytest.approx(raw * out.factor)


def test_cross_validation_sees_a_smooth_bias_and_auto_picks_a_correction():
    lat, lon, truth, raw, glat, glon, g = _biased_field()
    adjusted, unadjusted, n = cross_validated_rmse(raw, lat, lon, glat, glon, g)
    assert n == g.size and adjusted < 0.5 * unadjusted
    choice = choose_adjustment(raw, lat, lon, glat, glon, g)
    assert choice.method in ("add", "mixed", "multiply")
    assert set(choice.cv_rmse_mm) == {"none", "add", "mixed", "multiply"}
    assert choice.cv_rmse_mm[choice.method] == min(choice.cv_rmse_mm.values())


def test_auto_leaves_an_unbiased_field_alone_when_gauges_are_point_noise():
    lat, lon, truth, _, glat, glon, _ = _biased_field()
    # the field is right; each gauge adds its own independent representativeness error
    noisy = np.maximum(
        nearest_cell_values(truth, lat, lon, glat, glon)
        + np.random.default_rng(5).normal(0, 8, glat.size),
        0,
    )
    choice = choose_adjustment(truth, lat, lon, glat, glon, noisy)
    assert choice.method == "none" and choice.config is None
    assert choice.cv_rmse_mm["none"] <= min(choice.cv_rmse_mm.values())


def test_repeated_cross_validation_pools_the_single_splits():
    lat, lon, _, raw, glat, glon, g = _biased_field()
    noisy = g * np.random.default_rng(5).lognormal(0.0, 0.3, g.size)
    config = AdjustConfig(method="multiply")
    singles = [
        cross_validated_rmse(raw, lat, lon, glat, glon, noisy, config, seed=k) for k in range(3)
    ]
    pooled, unadjusted, n = cross_validated_rmse(
        raw, lat, lon, glat, glon, noisy, config, seed=0, repeats=3
    )
    assert len({round(a, 9) for a, _, _ in singles}) == 3  # each split scores differently
    assert pooled == pytest.approx(np.sqrt(np.mean([a**2 for a, _, _ in singles])))
    assert unadjusted == singles[0][1] and n == singles[0][2] == g.size


def test_too_few_gauges_leave_the_field_unadjusted():
    lat, lon, _, raw, glat, glon, g = _biased_field()
    out = adjust_daily(raw, lat, lon, glat[:3], glon[:3], g[:3])
    assert not out.applied and out.n_gauges == 3
    assert np.array_equal(out.daily_mm, raw) and (out.factor == 1).all()


def test_factor_is_bounded_and_spread_over_hours():
    lat, lon, _, raw, glat, glon, g = _biased_field()
    config = AdjustConfig(factor_bounds=(0.9, 1.1))
    out = adjust_daily(raw, lat, lon, glat, glon, g * 10, config)
    assert out.factor.max() <= 1.1 + 1e-12 and out.factor.min() >= 0.9 - 1e-12
    hourly = np.repeat(raw[None] / 24, 24, axis=0)
    spread = apply_daily_factor(hourly, out.factor)
    assert spread.sum(axis=0) == pytest.approx(out.daily_mm)


def test_one_convective_gauge_cannot_more_than_double_its_neighbourhood():
    lat, lon, _, raw, glat, glon, g = _biased_field()
    gauges = nearest_cell_values(raw, lat, lon, glat, glon)  # the radar is right everywhere...
    gauges[0] *= 4.0  # ...but in one core, which it underestimated fourfold
    for method in ("multiply", "mixed"):
        out = adjust_daily(raw, lat, lon, glat, glon, gauges, AdjustConfig(method=method))
        assert out.applied and out.factor.max() <= 2.0 + 1e-12
        assert out.factor.max() > 1.5  # the core itself is still raised


def test_adjust_rejects_mismatched_grid():
    lat, lon, _, raw, glat, glon, g = _biased_field()
    with pytest.raises(ProductInputError, match="does not match grid"):
        adjust_daily(raw[:-1], lat, lon, glat, glon, g)
    with pytest.raises(ProductInputError, match="unknown method"):
        adjust_daily(raw, lat, lon, glat, glon, g, AdjustConfig(method="kriging"))  # type: ignore[arg-type]
