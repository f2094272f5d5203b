"""KDP derived from PHIDP stays physical: meteorological gates only, unfolded, bounded after."""

from __future__ import annotations

import numpy as np
import pytest

from fusion_ops.datamodel import Sweep
from fusion_ops.grid import ProductGrid
from fusion_ops.radar.profiles import process_volume
from fusion_ops.radar.qc import (
    KDP_BOUNDS_DEG_KM,
    KDP_MIN_REFLECTIVITY_DBZ,
    KDP_MIN_RHOHV,
    RadarQCConfig,
    _unfolded_phidp,
    derive_kdp,
    local_std,
    quality_control,
    speckle_mask,
    sweep_meteo_mask,
    windowed_slope,
    windowed_slope_at_gates,
)
from fusion_ops.readers.ground_radar import DEFAULT_FIELDS, read_volume

KDP = "specific_differential_phase"


@pytest.fixture(scope="module")
def klbb_kdp(klbb_path):
    """KLBB after QC and KDP derivation (the ingest's order), within 160 km."""
    vol = read_volume(klbb_path, DEFAULT_FIELDS, max_range_m=160e3)
    quality_control(vol, RadarQCConfig())
    for sweep in vol.sweeps:
        derive_kdp(sweep)
    return vol


def _dual_pol(vol):
    return [s for s in vol.sweeps if KDP in s.fields and "cross_correlation_ratio" in s.fields]


def test_kdp_within_documented_bounds(klbb_kdp):
    lo, hi = KDP_BOUNDS_DEG_KM
    assert (lo, hi) == (-2.0, 20.0)
    sweeps = _dual_pol(klbb_kdp)
    assert len(sweeps) >= 5
    kdp = np.concatenate([s.fields[KDP].ravel() for s in sweeps])
    finite = kdp[np.isfinite(kdp)]
    assert finite.size > 50_000
    assert finite.min() >= lo and finite.max() <= hi


def test_kdp_positive_in_heavy_rain(klbb_kdp):
    sweeps = _dual_pol(klbb_kdp)
    z = np.concatenate([s.fields["reflectivity"].ravel() for s in sweeps])
    kdp = np.concatenate([s.fields[KDP].ravel() for s in sweeps])
    heavy = z > 50.0
    assert heavy.sum() > 300
    assert np.isfinite(kdp[heavy]).mean() > 0.8
    assert np.nanmean(kdp[heavy]) > 0.5
    # and higher in heavy rain than in light rain
    light = (z > 20.0) & (z < 30.0)
    assert np.nanmean(kdp[heavy]) > np.nanmean(kdp[light]) + 0.5


def test_kdp_missing_where_not_meteorological(klbb_kdp):
    for sweep in _dual_pol(klbb_kdp):
        kdp = sweep.fields[KDP]
        rho = sweep.fields["cross_correlation_ratio"]
        z = sweep.fields["reflectivity"]
        with np.errstate(invalid="ignore"):
            low_rho = rho < KDP_MIN_RHOHV
            weak = z < KDP_MIN_REFLECTIVITY_DBZ
        assert np.isnan(kdp[low_rho]).all()
        assert np.isnan(kdp[weak]).all()
        assert np.isnan(kdp[~np.isfinite(sweep.fields["differential_phase"])]).all()


def test_kdp_on_the_grid_within_bounds(klbb_path):
    vol = read_volume(klbb_path, DEFAULT_FIELDS, max_range_m=160e3)
    grid = ProductGrid.from_centres(33.0, 34.3, -102.6, -101.0, 0.04, (1000.0, 2000.0))
    grid_kdp = process_volume(vol, grid, None).grid["specific_differential_phase"].values
    lo, hi = KDP_BOUNDS_DEG_KM
    assert np.isfinite(grid_kdp).sum() > 300
    assert np.nanmin(grid_kdp) >= lo and np.nanmax(grid_kdp) <= hi


def test_folded_phidp_is_unfolded():
    # 3 deg/km KDP from a 300 deg system phase: PHIDP passes 360 and restarts near 0
    rng = 250.0 * np.arange(400) + 125.0
    phi_true = 300.0 + 2.0 * 3.0 * rng / 1000.0
    phi = np.tile(np.mod(phi_true, 360.0), (4, 1)).astype(np.float32)
    fields = {
        "differential_phase": phi,
        "reflectivity": np.full(phi.shape, 45.0, np.float32),
        "cross_correlation_ratio": np.full(phi.shape, 0.98, np.float32),
    }
    sweep = Sweep(0.5, 90.0, rng, fields)
    derive_kdp(sweep)
    kdp = sweep.fields[KDP]
    # within half a window (8 gates) of the ray's ends too few gates remain: missing there
    assert np.isfinite(kdp[:, 8:-8]).all()
    np.testing.assert_allclose(kdp[np.isfinite(kdp)], 3.0, atol=1e-3)


def test_out_of_bounds_kdp_is_missing_not_clipped():
    # a 30 deg/km slope is beyond the S-band bound: missing, never clipped to 20
    rng = 250.0 * np.arange(60) + 125.0
    phi = np.tile(60.0 + 2.0 * 30.0 * rng / 1000.0, (2, 1)).astype(np.float32)
    sweep = Sweep(0.5, 180.0, rng, {"differential_phase": np.mod(phi, 360.0)})
    derive_kdp(sweep)
    assert np.isnan(sweep.fields[KDP]).all()


def _gappy_phase(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Rays of rising, noisy, folded phase with random gaps (rays of all-gap included)."""
    rng = np.random.default_rng(seed)
    n_ray, n_gate = 40, 300
    phase = 80.0 + np.cumsum(rng.gamma(0.5, 2.0, (n_ray, n_gate)), axis=1)
    phase += rng.normal(0.0, 3.0, phase.shape)
    keep = rng.random(phase.shape) > 0.3
    keep[5] = False
    keep[7, 0] = True
    return np.mod(phase, 360.0).astype(np.float32), keep


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_unfolding_on_kept_gates_equals_numpy_unwrap(seed):
    """The kept-gates unfolding gives numpy.unwrap's result, bit for bit, on every kept gate."""
    phi, keep = _gappy_phase(seed)
    range_m = 250.0 * np.arange(phi.shape[1])
    got = _unfolded_phidp(phi, keep, range_m)
    # reference: numpy.unwrap along the ray, gaps bridged by the last kept phase
    p = np.where(keep, phi, np.nan).astype(np.float64)
    system = float(np.nanmedian(p[:, range_m < 20e3]))
    p = system + np.mod(p - system + 180.0, 360.0) - 180.0
    filled = p.copy()
    for ray in range(p.shape[0]):
        last = system if not keep[ray, 0] else p[ray, 0]
        for gate in range(p.shape[1]):
            last = p[ray, gate] if keep[ray, gate] else last
            filled[ray, gate] = last
    want = np.where(keep, np.unwrap(filled, period=360.0, axis=1), np.nan)
    assert np.array_equal(got, want, equal_nan=True)
    assert np.nanmax(got) > 360.0  # the test phase does fold


@pytest.mark.parametrize("seed", [0, 1])
def test_slope_at_kept_gates_equals_the_dense_moving_window(seed):
    phi, keep = _gappy_phase(seed)
    values = np.where(keep, np.unwrap(phi.astype(np.float64), period=360.0, axis=1), np.nan)
    dense = windowed_slope(values, 17, 13)
    rows, cols = np.nonzero(keep)
    at_gates = windowed_slope_at_gates(rows, cols, values[rows, cols], 17, 13)
    assert np.array_equal(np.isnan(at_gates), np.isnan(dense[rows, cols]))
    np.testing.assert_allclose(at_gates, dense[rows, cols], rtol=1e-9, atol=1e-9)
    assert np.isfinite(at_gates).mean() > 0.2


def test_texture_and_speckle_on_the_echo_span_match_the_whole_sweep(klbb_path):
    """QC filters only the range span with echo; the mask equals filtering the whole sweep."""
    vol = read_volume(klbb_path, ("reflectivity",), max_range_m=100e3)
    cfg = RadarQCConfig()
    for sweep in vol.sweeps[:4]:
        # empty range beyond the echo, as on upper sweeps: the span filtered is shorter
        z = np.pad(sweep.fields["reflectivity"], ((0, 0), (0, 40)), constant_values=np.nan)
        padded = Sweep(
            elevation_deg=sweep.elevation_deg,
            azimuth_res_deg=sweep.azimuth_res_deg,
            range_m=np.arange(z.shape[1]) * 250.0,
            fields={"reflectivity": z},
        )
        with np.errstate(invalid="ignore"):
            want = np.isfinite(z) & (z >= cfg.min_reflectivity_dbz)
            want &= ~(local_std(np.where(want, z, np.nan), cfg.texture_window) > 12.0)
        want &= ~speckle_mask(want, cfg.speckle_min_neighbours)
        got = sweep_meteo_mask(padded, cfg)
        assert np.array_equal(got, want)
        assert 0 < got.sum() < np.isfinite(z).sum()
