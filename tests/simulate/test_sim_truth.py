"""Truth model: determinism, motion, vertical structure, clouds, Z-R variability."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest

from fusion_ops.simulate.domain import Domain
from fusion_ops.simulate.truth import TruthConfig, TruthModel, column_profile

DOMAIN = Domain(width_km=200.0, height_km=200.0, margin_km=60.0)
T = datetime(2009, 5, 20, 20, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def truth() -> TruthModel:
    return TruthModel(TruthConfig(seed=3, domain=DOMAIN))


@pytest.fixture(scope="module")
def state(truth):
    return truth.state(T)


def test_deterministic_per_seed_and_different_between_seeds(truth, state):
    again = TruthModel(TruthConfig(seed=3, domain=DOMAIN)).state(T)
    np.testing.assert_array_equal(state.rain_mm_h, again.rain_mm_h)
    np.testing.assert_array_equal(state.cloud_optical_depth, again.cloud_optical_depth)
    other = TruthModel(TruthConfig(seed=4, domain=DOMAIN)).state(T)
    assert not np.array_equal(state.rain_mm_h, other.rain_mm_h)


def test_rain_has_convective_and_stratiform_parts(state):
    rain = state.rain_mm_h
    assert rain.shape == (state.rain_mm_h.shape[0], state.rain_mm_h.shape[1])
    assert rain.max() > 30.0  # convective cores
    wet = rain > 0.1
    assert 0.005 < wet.mean() < 0.6
    cf = state.convective_fraction[wet]
    assert (cf > 0.8).any() and (cf < 0.2).any()


def test_zr_relation_differs_between_convective_and_stratiform(truth, state):
    wet = state.rain_mm_h > 1.0
    conv = wet & (state.convective_fraction > 0.9)
    strat = wet & (state.convective_fraction < 0.1)
    assert conv.sum() > 20 and strat.sum() > 20
    assert state.zr_b[conv].mean() < state.zr_b[strat].mean() - 0.2
    # Z at 10 mm/h differs by well over 1 dB between the two regimes.
    z10_conv = 10 * np.log10(np.median(state.zr_a[conv] * 10 ** state.zr_b[conv]))
    z10_strat = 10 * np.log10(np.median(state.zr_a[strat] * 10 ** state.zr_b[strat]))
    assert z10_strat - z10_conv > 1.5
    # ... and drifts from day to day.
    r1, r2 = truth.regime(date(2009, 5, 20)), truth.regime(date(2009, 5, 21))
    assert r1.zr_a_convective != r2.zr_a_convective
    assert 4500 <= r1.freezing_level_m <= 5000


def test_rain_moves_with_the_steering_wind(truth):
    reg = truth.regime(T.date())
    a = truth.state(T, rain_only=True).rain_mm_h
    b = truth.state(T + timedelta(minutes=10), rain_only=True).rain_mm_h
    assert not np.array_equal(a, b)
    # Best shift of the field over 10 minutes points along the steering flow (grid 1 km).
    expect = np.array([reg.steering_v_ms, reg.steering_u_ms]) * 600 / 1000.0
    best, err = None, np.inf
    for dy in range(-8, 9):
        for dx in range(-8, 9):
            e = np.abs(np.roll(a, (dy, dx), axis=(0, 1)) - b).mean()
            if e < err:
                best, err = np.array([dy, dx]), e
    assert np.all(np.abs(best - expect) <= 2.5)


def test_bright_band_evaporation_and_echo_top(state):
    wet = (state.rain_mm_h > 2.0) & (state.convective_fraction < 0.05)
    j, i = np.argwhere(wet)[0]
    col = state.take((np.array([j]), np.array([i])))
    fl = float(col.freezing_level_m[0])
    z = np.arange(0.0, 15000.0, 50.0)[None, :]
    p = column_profile(col, z)
    dbz = 10 * np.log10(np.maximum(p["z_lin"][0], 1e-6))
    peak = z[0, np.argmax(dbz)]
    assert fl - 500 < peak < fl  # bright band in the melting layer, below 0 C
    below = dbz[(z[0] > fl - 1500) & (z[0] < fl - 800)].mean()
    assert dbz.max() - below > 4.0
    # Rain evaporates below cloud base: more rain aloft than at the surface.
    assert p["rain_mm_h"][0, 20] > p["rain_mm_h"][0, 0]  # 1 km vs surface
    assert p["rhohv"][0, np.argmax(dbz)] < 0.97  # melting layer lowers RHOHV
    assert np.all(p["z_lin"][0, z[0] > col.echo_top_m[0] + 1] == 0)


def test_clouds_cold_anvils_without_rain(state):
    cth = state.cloud_top_height_m
    ctt = state.cloud_top_temperature_k
    cloudy = np.isfinite(cth)
    assert cloudy.any() and (~cloudy).any()
    # Colder tops are higher.
    assert np.corrcoef(cth[cloudy], ctt[cloudy])[0, 1] < -0.95
    anvil = cloudy & (ctt < 235.0) & (state.rain_mm_h == 0) & (state.cloud_optical_depth > 2)
    assert anvil.sum() > 100
    assert (state.cloud_optical_depth[~cloudy] == 0).all()


def test_rain_at_points_matches_grid(truth):
    st = truth.state(T, rain_only=True)
    g = truth.grid
    j = np.array([100, 150, 200])
    i = np.array([120, 160, 90])
    pts = truth.rain_at_points(g.x_km[i], g.y_km[j], T)
    grid_vals = st.rain_mm_h[j, i]
    np.testing.assert_allclose(np.where(grid_vals > 0, pts, 0), grid_vals, rtol=1e-4, atol=1e-3)


def test_rain_series_matches_single_times(truth):
    x = np.array([0.0, 30.0, -50.0, 80.0])
    y = np.array([0.0, -20.0, 40.0, 10.0])
    times = [T + timedelta(minutes=7 * k) for k in range(6)]
    series = truth.rain_series_at_points(x, y, times)
    assert series.shape == (4, 6)
    for k, t in enumerate(times):
        np.testing.assert_allclose(series[:, k], truth.rain_at_points(x, y, t), rtol=1e-5)


def test_polarimetric_at_points(truth, state):
    j, i = np.unravel_index(np.argmax(state.rain_mm_h), state.rain_mm_h.shape)
    x, y = truth.grid.x_km[i], truth.grid.y_km[j]
    p = truth.polarimetric(np.full(3, x), np.full(3, y), np.array([100.0, 3000.0, 30000.0]), T)
    dbz = 10 * np.log10(np.maximum(p["z_lin"], 1e-6))
    assert dbz[0] > 40 and dbz[1] > 40 and p["z_lin"][2] == 0  # nothing above the echo top
    assert p["kdp_deg_km"][0] > 0.5 and 0.9 < p["rhohv"][0] <= 1.0
    far = truth.polarimetric(5000.0, 5000.0, 1000.0, T)  # outside the simulated box
    assert far["z_lin"] == 0


def test_naive_time_is_rejected(truth):
    with pytest.raises(ValueError, match="timezone"):
        truth.state(datetime(2009, 5, 20, 12))
