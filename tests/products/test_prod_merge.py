"""Inverse-error-variance merging, the range-dependent GR error and swath gridding."""

import numpy as np
import pytest

from fusion_ops.products import ProductInputError
from fusion_ops.products.merge import (
    FLAG_BITS,
    RangeErrorModel,
    footprints_to_grid,
    merge,
    range_from_site_km,
    sampled_error_std,
)


def test_two_sources_combine_by_inverse_variance():
    gr = np.array([[4.0, np.nan], [2.0, np.nan]])
    sat = np.array([[8.0, 6.0], [np.nan, np.nan]])
    out = merge({"gr": gr, "sat": sat, "sr": None}, {"gr": 1.0, "sat": 2.0})
    # weights 1 and 1/4: (4 + 8/4) / 1.25 = 4.8; std = 1/sqrt(1.25)
    assert out.rain_mm_h[0, 0] == pytest.approx(4.8)
    assert out.std_mm_h[0, 0] == pytest.approx(1 / np.sqrt(1.25))
    assert out.rain_mm_h[0, 1] == pytest.approx(6.0) and out.std_mm_h[0, 1] == pytest.approx(2.0)
    assert out.rain_mm_h[1, 0] == pytest.approx(2.0)
    assert np.isnan(out.rain_mm_h[1, 1]) and np.isnan(out.std_mm_h[1, 1])
    assert out.source_flag.tolist() == [
        [FLAG_BITS["gr"] | FLAG_BITS["sat"], FLAG_BITS["sat"]],
        [FLAG_BITS["gr"], 0],
    ]
    # The fused uncertainty is never larger than the best contributing source.
    assert np.nanmax(out.std_mm_h) <= 2.0


def test_range_dependent_weight_shifts_to_satellite_far_from_radar():
    rng_km = np.array([[10.0, 200.0]])
    model = RangeErrorModel.parametric(1.0, reference_range_km=50.0, growth_per_100km=2.0)
    gr_std = model.std_mm_h(rng_km)
    assert gr_std[0, 1] > 3 * gr_std[0, 0]
    out = merge(
        {"gr": np.array([[10.0, 10.0]]), "sat": np.array([[0.0, 0.0]])},
        {"gr": gr_std, "sat": 3.0},
    )
    # Near the radar the fused value stays close to GR; far away the satellite gains weight.
    assert out.rain_mm_h[0, 0] > 9.5
    assert out.rain_mm_h[0, 1] < out.rain_mm_h[0, 0] - 2.0


def test_range_model_interpolates_and_ends_at_max_range():
    model = RangeErrorModel((0.0, 100.0, 200.0), (1.0, 2.0, 4.0), max_range_km=230.0)
    std = model.std_mm_h(np.array([50.0, 150.0, 220.0, 240.0]))
    assert std[:3] == pytest.approx([1.5, 3.0, 4.0])
    assert np.isnan(std[3])
    with pytest.raises(ProductInputError, match="strictly increasing"):
        RangeErrorModel((0.0, 0.0), (1.0, 1.0))
    with pytest.raises(ProductInputError, match="> 0"):
        RangeErrorModel((0.0, 1.0), (1.0, 0.0))


def test_parametric_model_hits_evaluated_rmse_at_reference_range():
    model = RangeErrorModel.parametric(1.7, reference_range_km=80.0, growth_per_100km=0.6)
    assert model.std_mm_h(np.array([80.0]))[0] == pytest.approx(1.7, rel=0.02)


def test_range_from_site_is_geodesic_distance():
    lat = np.array([28.113, 29.113])
    lon = np.array([-80.654])
    r = range_from_site_km(lat, lon, 28.113, -80.654)
    assert r.shape == (2, 1)
    assert r[0, 0] == pytest.approx(0.0, abs=1e-6)
    assert r[1, 0] == pytest.approx(110.8, abs=0.3)  # one degree of latitude at 28.6 N


def test_merge_rejects_bad_input():
    with pytest.raises(ProductInputError, match="different grids"):
        merge({"gr": np.zeros((2, 2)), "sat": np.zeros((3, 2))}, {"gr": 1.0, "sat": 1.0})
    with pytest.raises(ProductInputError, match="no error standard deviation"):
        merge({"gr": np.zeros((2, 2))}, {})
    with pytest.raises(ProductInputError, match="unknown source"):
        merge({"radar": np.zeros((2, 2))}, {"radar": 1.0})


def test_sampled_error_adds_in_quadrature():
    assert sampled_error_std(3.0, 4.0) == pytest.approx(5.0)


def test_footprints_fill_the_swath_and_nothing_else():
    lat = 28.0 + 0.01 * np.arange(40)
    lon = -81.0 + 0.01 * np.arange(40)
    # A strip of footprints every 5 km along longitude -80.8 (one column of the swath).
    f_lat = 28.0 + np.arange(0, 0.4, 0.045)
    f_lon = np.full(f_lat.size, -80.8)
    values = np.arange(f_lat.size, dtype=float)
    grid = footprints_to_grid(f_lat, f_lon, values, lat, lon, radius_km=3.0)
    j_centre = 20
    along = lat <= f_lat.max() + 0.02
    assert np.isfinite(grid[along, j_centre]).all()
    assert np.isnan(grid[lat > f_lat.max() + 0.03, j_centre]).all()
    assert np.isnan(grid[:, 0]).all() and np.isnan(grid[:, -1]).all()
    # Each cell takes its nearest footprint's value.
    i = int(np.argmin(np.abs(lat - f_lat[3])))
    assert grid[i, j_centre] == 3.0
    assert np.isnan(footprints_to_grid([], [], [], lat, lon)).all()
