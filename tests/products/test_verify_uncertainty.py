"""The product's sigma checked as an uncertainty (issue 20): coverage, CRPS, reliability, and the
recalibration factor, on synthetic Gaussian errors whose answers are known."""

import numpy as np
import pandas as pd
import pytest

from fusion_ops.products.uncertainty import (
    NOMINAL_LEVELS,
    coverage,
    cross_validated_sigma_scale,
    crps_gaussian,
    pool_uncertainty,
    reliability_png,
    sigma_scale,
    uncertainty_scores,
    z_of_level,
)


@pytest.fixture(scope="module")
def gaussian():
    """References drawn from N(estimate, sigma^2) with a sigma that varies from point to point."""
    rng = np.random.default_rng(42)
    n = 40_000
    estimate = rng.gamma(2.0, 5.0, n)
    sigma = rng.uniform(0.5, 4.0, n)
    return estimate, sigma, estimate + sigma * rng.standard_normal(n)


def test_coverage_of_calibrated_gaussian_errors(gaussian):
    estimate, sigma, reference = gaussian
    s = uncertainty_scores(estimate, sigma, reference)
    assert s["n"] == 40_000
    assert s["coverage_1sigma"] == pytest.approx(0.6827, abs=0.006)
    assert s["coverage_2sigma"] == pytest.approx(0.9545, abs=0.004)
    assert coverage(estimate, sigma, reference, 0.9) == pytest.approx(0.9, abs=0.005)
    # every nominal level is met: the reliability curve lies on the diagonal
    observed = np.asarray(s["inside"]) / s["n"]
    np.testing.assert_allclose(observed, NOMINAL_LEVELS, atol=0.008)
    # a sigma twice too small covers what +-0.5 sigma should: 38 %
    assert coverage(estimate, sigma / 2, reference) == pytest.approx(0.383, abs=0.008)


def test_z_of_level():
    assert z_of_level(0.6827) == pytest.approx(1.0, abs=1e-3)
    assert z_of_level(0.9545) == pytest.approx(2.0, abs=1e-3)
    with pytest.raises(ValueError):
        z_of_level(1.0)


@pytest.mark.parametrize(("mu", "sigma", "y"), [(0.0, 1.0, 0.0), (3.0, 2.0, 7.5), (10.0, 0.5, 9.0)])
def test_crps_closed_form_equals_monte_carlo(mu, sigma, y):
    rng = np.random.default_rng(7)
    x, x2 = rng.normal(mu, sigma, (2, 400_000))
    monte_carlo = np.mean(np.abs(x - y)) - 0.5 * np.mean(np.abs(x - x2))
    assert float(crps_gaussian(mu, sigma, y)) == pytest.approx(monte_carlo, rel=0.01, abs=2e-3)


def test_crps_known_values_and_a_point_forecast():
    # at z = 0: sigma (2 phi(0) - 1/sqrt(pi)) = sigma (sqrt(2) - 1) / sqrt(pi)
    assert float(crps_gaussian(0.0, 2.0, 0.0)) == pytest.approx(
        2 * (np.sqrt(2) - 1) / np.sqrt(np.pi)
    )
    assert float(crps_gaussian(1.0, 0.0, 4.0)) == 3.0  # sigma 0: the absolute error
    assert float(crps_gaussian(1.0, 1e-9, 4.0)) == pytest.approx(3.0)


def test_mean_crps_of_calibrated_errors(gaussian):
    estimate, sigma, reference = gaussian
    s = uncertainty_scores(estimate, sigma, reference)
    # E[CRPS] of a calibrated Gaussian is sigma / sqrt(pi)
    assert s["crps"] == pytest.approx(np.mean(sigma) / np.sqrt(np.pi), rel=0.01)
    # an over-confident sigma scores worse
    assert uncertainty_scores(estimate, sigma / 3, reference)["crps"] > s["crps"]


def test_pooling_days_equals_scoring_them_together(gaussian):
    estimate, sigma, reference = (a[:3000] for a in gaussian)
    parts = [
        uncertainty_scores(e, s, r)
        for e, s, r in zip(
            *(np.array_split(a, 3) for a in (estimate, sigma, reference)), strict=True
        )
    ]
    whole = uncertainty_scores(estimate, sigma, reference)
    pooled = pool_uncertainty([*parts, None])
    for key in ("n", "coverage_1sigma", "coverage_2sigma", "inside"):
        assert pooled[key] == whole[key]
    assert pooled["crps"] == pytest.approx(whole["crps"])
    assert pool_uncertainty([])["coverage_1sigma"] is None


def test_nan_pairs_are_left_out():
    s = uncertainty_scores([1.0, np.nan, 2.0], [1.0, 1.0, np.nan], [1.5, 1.0, 9.0])
    assert s["n"] == 1 and s["coverage_1sigma"] == 1.0
    assert uncertainty_scores([np.nan], [1.0], [1.0])["crps"] is None


def test_sigma_scale_restores_68_percent(gaussian):
    _, sigma, _ = gaussian
    rng = np.random.default_rng(5)
    errors = 2.5 * sigma[:4000] * rng.standard_normal(4000)  # sigma 2.5 times too small
    scale, n = sigma_scale(errors, sigma[:4000])
    assert n == 4000 and scale == pytest.approx(2.5, rel=0.05)
    assert coverage(np.zeros(4000), scale * sigma[:4000], errors) == pytest.approx(
        0.6827, abs=0.002
    )
    assert sigma_scale(100 * sigma[:50], sigma[:50]) == (4.0, 50)  # bounded
    assert sigma_scale(errors[:5], sigma[:5]) == (1.0, 5)  # too few gauges


def test_cross_validated_sigma_scale_without_adjustment():
    lat = np.array([28.0, 28.02, 28.04])
    lon = np.array([-81.0, -80.98, -80.96])
    merged = np.full((3, 3), 10.0)
    std = np.full((3, 3), 2.0)
    rng = np.random.default_rng(1)
    n = 40
    gauges = pd.DataFrame(
        {
            "lat_deg": rng.uniform(27.995, 28.045, n),
            "lon_deg": rng.uniform(-81.005, -80.955, n),
            "daily_mm": 10.0 + 3.0 * rng.standard_normal(n),
        }
    )
    info = cross_validated_sigma_scale(merged, std, lat, lon, gauges, "none")
    errors = np.abs(gauges["daily_mm"].to_numpy() - 10.0)
    assert info["n"] == n and info["scale"] == pytest.approx(np.quantile(errors / 2.0, 0.6827))
    assert "no adjustment" in info["source"]


def test_reliability_png():
    rng = np.random.default_rng(0)
    e, s = rng.gamma(2.0, 3.0, 300), np.full(300, 1.0)
    curve = uncertainty_scores(e, s, e + rng.standard_normal(300))
    png = reliability_png({"withheld gauges": curve, "truth": None})
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert reliability_png({"truth": None}) is None
