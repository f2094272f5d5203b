"""Physics the calibration chain relies on: Z-R variability and spaceborne attenuation."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest

from fusion_ops.simulate.domain import Domain
from fusion_ops.simulate.gauges import make_stations, simulate_gauge_day
from fusion_ops.simulate.ground_radar import RadarObserver, ScanStrategy
from fusion_ops.simulate.spaceborne import SpaceborneConfig, find_overpasses, observe_overpass
from fusion_ops.simulate.truth import TruthConfig, TruthModel

DAY = date(2009, 5, 20)


@pytest.fixture(scope="module")
def truth() -> TruthModel:
    # A 10 km margin keeps the truth grid small (fast); the radar sees the domain only.
    return TruthModel(TruthConfig(seed=0, domain=Domain(margin_km=10.0)))


def _rmse_log(est: np.ndarray, obs: np.ndarray) -> float:
    """RMS of the log ratio estimate / gauge (a multiplicative error, 0.1 mm floor)."""
    return float(np.sqrt(np.mean((np.log(np.maximum(est, 0.1)) - np.log(obs)) ** 2)))


def test_truth_aware_zr_beats_best_fixed_zr_on_gauges(truth):
    """Hourly rain from the lowest sweep above each gauge, three ways, scored against the gauges.

    The truth-aware estimate divides Z at the beam by the pixel's true Z/R (its drop-size
    distribution; Z/R is constant in the rain column) and removes the known sub-cloud
    evaporation between the beam and the ground; the mean-relation estimate inverts the pixel's
    mean Z = a R^b instead (it knows the regime, the cell and the mesoscale texture but not the
    point-scale DSD); the fixed relation is the best (a, b) on a grid search, fitted on the very
    samples it is scored on.
    """
    stations = make_stations(truth, seed=0)
    gauges = simulate_gauge_day(truth, stations, DAY, seed=0)
    sx = np.array([s.x_km for s in stations])
    sy = np.array([s.y_km for s in stations])
    radar = RadarObserver(truth, ScanStrategy(elevations_deg=(0.5,), gate_spacing_m=1000.0))
    geom = radar.geometry[0]
    az = np.rad2deg(np.arctan2(sx, sy)) % 360
    ray = np.clip((az / 1.0).astype(int), 0, geom.azimuth_deg.size - 1)
    gate = np.clip(np.searchsorted(geom.range_m, np.hypot(sx, sy) * 1000), 0, geom.range_m.size - 1)
    beam_m = geom.sub_heights_m[geom.sub_heights_m.shape[0] // 2][gate]
    j, i, _ = truth.grid.index(sx, sy)
    day0 = datetime(DAY.year, DAY.month, DAY.day, tzinfo=UTC)
    rainy = [h for h in range(1, 24) if np.nanmax(gauges.reported_hourly_mm[:, h]) >= 0.5]
    z, a_t, b_t, zpr, evap, obs = [], [], [], [], [], []
    for h in rainy:
        for m in range(0, 60, 5):  # hour ending at h: volumes in (h-1, h]
            t = day0 + timedelta(hours=h - 1, minutes=m)
            st = truth.state(t + timedelta(seconds=15))
            ref = radar.volume(t, duration_s=30.0, state=st).sweeps[0].fields["REF"][ray, gate]
            z.append(np.where(np.isfinite(ref), 10 ** (ref / 10), 0.0))
            a_t.append(st.zr_a[j, i])
            b_t.append(st.zr_b[j, i])
            zpr.append(np.nan_to_num(st.z_per_rain[j, i], nan=1.0))
            below = np.minimum(beam_m, st.cloud_base_m[j, i]) / 1000.0
            evap.append(np.exp(-st.evaporation_per_km[j, i] * below))
        obs.append(gauges.reported_hourly_mm[:, h])
    shape = (len(rainy), 12, len(stations))
    z, a_t, b_t, zpr, evap = (np.reshape(v, shape) for v in (z, a_t, b_t, zpr, evap))
    g = np.stack(obs)
    # Gauges within 100 km, where the lowest beam stays below the melting layer (the bright band
    # would add an error that neither relation can remove).
    near = np.hypot(sx, sy) < 100.0
    ok = np.isfinite(g) & (g >= 1.0) & near[None, :]
    assert ok.sum() >= 100, "too few rainy gauge-hours for a meaningful comparison"

    def hourly(a, b, factor=1.0):
        return (np.where(z > 0, (z / a) ** (1.0 / b), 0.0) * factor).mean(axis=1)

    err_aware = _rmse_log(hourly(zpr, 1.0, evap)[ok], g[ok])
    err_mean = _rmse_log(hourly(a_t, b_t, evap)[ok], g[ok])
    best = min(
        _rmse_log(hourly(a, b)[ok], g[ok])
        for a in np.geomspace(50, 1000, 25)
        for b in np.arange(1.1, 2.01, 0.05)
    )
    # Measured: 0.354 (true Z/R), 0.398 (mean relation) vs 0.441 (best fixed) on about 350
    # gauge-hours (0.28 vs 0.40 before the DSD model: the drop sizes now vary on a 3 km scale, so
    # the gate next to the gauge and the volume's minute see a slightly different Z/R).
    assert err_aware < 0.85 * best, (err_aware, err_mean, best)
    assert err_mean < best, (err_aware, err_mean, best)


def test_spaceborne_near_surface_is_attenuated_in_heavy_rain(truth):
    cfg = SpaceborneConfig()
    passes = find_overpasses(truth, DAY, cfg, seed=0, first_day=DAY)
    heavy_gap, light_gap = [], []
    for ov in passes:
        prof = observe_overpass(truth, ov, cfg, seed=0)
        cfb = prof.bin_clutter_free_bottom.astype(int) - 1
        zm = np.take_along_axis(prof.z_measured, cfb[:, :, None], axis=2)[:, :, 0]
        zt_lin = np.take_along_axis(prof.z_true_ku, cfb[:, :, None], axis=2)[:, :, 0]
        zt = 10 * np.log10(np.maximum(zt_lin, 1e-6))
        heavy = zt > 40.0
        light = (zt > 20.0) & (zt < 30.0)
        heavy_gap.extend((zt - zm)[heavy])
        light_gap.extend((zt - zm)[light])
        # Path-integrated attenuation grows with the rain: heavy footprints lose several dB.
        assert (prof.pia_db[heavy] > 1.0).all() if heavy.any() else True
    assert len(heavy_gap) >= 10 and len(light_gap) >= 50
    assert np.mean(heavy_gap) > 4.0
    assert abs(np.median(light_gap)) < 1.0
