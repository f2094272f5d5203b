"""The estimates a user would pick instead of the fused product (issue 20): the gauge-only
analysis, the GR with the product's adjustment, and a verification record that holds them."""

import json

import numpy as np
import pandas as pd
import pytest
import wradlib.ipol as wipol
import xarray as xr

from fusion_ops.grid import ProductGrid
from fusion_ops.products import fusion
from fusion_ops.products.accumulate import daily_total_mm
from fusion_ops.products.adapters import DayInputs
from fusion_ops.products.adjust import AdjustConfig, adjust_as_configured, adjust_daily
from fusion_ops.products.gauge_analysis import (
    gauge_only_analysis,
    interpolate_gauges,
    ordinary_kriging,
)
from fusion_ops.products.pipeline import daily_dataset_from_hourly
from fusion_ops.products.uncertainty import SIGMA_CALIBRATION_ATTR, recalibrated_hourly_product
from fusion_ops.products.verification_record import (
    reliability_diagram,
    verification_markdown,
    verification_numbers,
    verify_product_day,
)
from fusion_ops.products.verify import (
    RadarGeometry,
    SkillThresholds,
    nearest_cell_values,
    region_masks,
)

SITE = (28.113, -80.654)


def _analytic(lat, lon):
    """A smooth field (mm) with a trend and a wave: what a dense gauge network can resolve."""
    x = (np.asarray(lon) + 80.75) * 98.0
    y = (np.asarray(lat) - 28.0) * 111.2
    return 20.0 + 8.0 * np.sin(x / 40.0) * np.cos(y / 50.0) + 0.05 * x


@pytest.mark.parametrize("method", ["kriging", "idw"])
def test_gauge_only_reproduces_gauges_at_their_location(method):
    rng = np.random.default_rng(1)
    glat, glon = rng.uniform(27.7, 28.5, 60), rng.uniform(-81.1, -80.2, 60)
    values = rng.gamma(1.0, 8.0, 60)
    out = interpolate_gauges(glat, glon, glat, glon, values, method)
    assert out.method == method and out.n_gauges == 60
    np.testing.assert_allclose(out.daily_mm, values, atol=1e-6)


@pytest.mark.parametrize(
    ("method", "rmse_max", "err_max"), [("kriging", 0.4, 1.5), ("idw", 0.6, 2.0)]
)
def test_gauge_only_recovers_a_known_analytic_field(method, rmse_max, err_max):
    lat = 27.6 + 0.02 * np.arange(40)
    lon = -81.2 + 0.02 * np.arange(45)
    rng = np.random.default_rng(3)
    glat, glon = rng.uniform(lat[0], lat[-1], 150), rng.uniform(lon[0], lon[-1], 150)
    out = gauge_only_analysis(lat, lon, glat, glon, _analytic(glat, glon), method)
    lon2d, lat2d = np.meshgrid(lon, lat)
    err = (out.daily_mm - _analytic(lat2d, lon2d))[4:-4, 4:-4]  # inside the network
    # the field spans about 24 mm; kriging is within 0.4 mm RMSE (0.23 measured), IDW 0.6 (0.37)
    assert np.sqrt(np.mean(err**2)) < rmse_max and np.abs(err).max() < err_max
    if method == "kriging":
        assert out.params["range_m"] > 10_000 and out.params["partial_sill"] > 0


def test_batched_kriging_equals_wradlib_ordinary_kriging():
    rng = np.random.default_rng(0)
    src, trg = rng.uniform(0, 50_000, (40, 2)), rng.uniform(0, 50_000, (300, 2))
    values = rng.gamma(1.0, 5.0, 40)
    cov = "1.5 Nug(0.) + 20 Exp(12000.)"
    expected = wipol.OrdinaryKriging(src, trg, cov=cov, nnearest=12)(values)
    np.testing.assert_allclose(ordinary_kriging(src, trg, values, cov, 12), expected, atol=1e-9)


def test_gauge_only_needs_gauges_and_falls_back_to_idw():
    lat, lon = np.array([28.0, 28.1]), np.array([-81.0, -80.9])
    assert (
        gauge_only_analysis(lat, lon, [28.0] * 4, [-81.0, -80.9, -80.95, -81.05], [1.0] * 4) is None
    )
    few = gauge_only_analysis(
        lat, lon, np.linspace(28, 28.1, 6), np.linspace(-81, -80.9, 6), np.arange(6.0)
    )
    assert few.method == "idw" and "fallback" in few.params


def test_adjust_as_configured_is_the_field_times_its_factor(synthetic_day):
    s = synthetic_day
    gr = daily_total_mm(s.sources["gr"])[0]
    g = s.gauges
    args = (g["lat_deg"].to_numpy(), g["lon_deg"].to_numpy(), g["daily_mm"].to_numpy())
    result, method = adjust_as_configured(gr, s.lat, s.lon, *args, AdjustConfig(method="add"))
    assert method == "add" and result.applied and not np.allclose(result.factor, 1.0)
    np.testing.assert_array_equal(result.daily_mm, gr * result.factor)
    direct = adjust_daily(gr, s.lat, s.lon, *args, AdjustConfig(method="add"))
    np.testing.assert_array_equal(result.factor, direct.factor)


def test_region_masks():
    lat = np.round(27.61 + 0.02 * np.arange(50), 6)
    lon = np.round(-81.19 + 0.02 * np.arange(55), 6)
    gr = np.ones((lat.size, lon.size))
    gr[:, :5] = np.nan
    masks = region_masks(lat, lon, gr, RadarGeometry(*SITE, (118.0, 134.0)), far_range_km=60.0)
    assert set(masks) == {"domain", "gr_coverage", "beyond_150km", "blocked_sector"}
    assert masks["gr_coverage"].sum() == 50 * 50
    # the blocked sector lies east-south-east of the radar
    i, j = np.nonzero(masks["blocked_sector"])
    assert (lat[i] < SITE[0]).all() and (lon[j] > SITE[1]).all()
    assert masks["beyond_150km"].sum() > 0 and not masks["beyond_150km"][25, 25]
    assert set(region_masks(lat, lon, None, None)) == {"domain"}


SETTINGS = fusion.FusionSettings(
    0.2, "add", 12, 2.0, 80.0, 0.6, 230.0, *SITE, 3.0, 24, 4.0, 10.0, ["gr", "sr", "sat"]
)


def _inputs(s):
    def grid(cube):
        times = pd.Timestamp(s.day) + pd.to_timedelta(np.arange(24), unit="h")
        return xr.Dataset(
            {"rain_rate": (("time", "lat", "lon"), cube)},
            coords={"time": times, "lat": s.lat, "lon": s.lon},
        )

    return DayInputs(grid(s.sources["gr"]), s.footprints, grid(s.sources["sat"]), s.gauge_hourly)


@pytest.fixture(scope="module")
def verified_day(synthetic_day):
    """A product of the synthetic day as the pipeline makes it, and its verification record."""
    s = synthetic_day
    grid = ProductGrid.from_centres(s.lat[0], s.lat[-1], s.lon[0], s.lon[-1], 0.02)
    evaluation = {"mlp1": {"rmse": 1.2}, "mlp2": {"rmse": 2.0}, "mlp3": {"rmse": 2.0}}
    product = fusion.fuse_hourly_product(s.day, grid, _inputs(s), evaluation, SETTINGS, [], "h")
    hourly, sigma = recalibrated_hourly_product(product)
    daily = daily_dataset_from_hourly(hourly)
    truth = xr.Dataset(
        {"rain_daily_mm": (("lat", "lon"), s.truth_daily_mm)},
        coords={"lat": s.lat, "lon": s.lon},
    )
    record = verify_product_day(
        s.day,
        grid,
        hourly,
        daily,
        _inputs(s),
        truth,
        "mem://truth.nc",
        1.0,
        SkillThresholds(),
        radar=RadarGeometry(*SITE, (118.0, 134.0)),
    )
    return {"product": product, "hourly": hourly, "sigma": sigma, "record": record, "grid": grid}


def test_recalibration_scales_sigma_only(verified_day):
    product, hourly, sigma = verified_day["product"], verified_day["hourly"], verified_day["sigma"]
    assert sigma["n"] == 72 and 0.25 <= sigma["scale"] <= 4.0 and sigma["scale"] != 1.0
    np.testing.assert_allclose(
        hourly["rainfall_rate_stddev"].values,
        product.dataset["rainfall_rate_stddev"].values * sigma["scale"],
        rtol=1e-6,
    )
    assert hourly["rainfall_rate"].identical(product.dataset["rainfall_rate"])
    assert json.loads(hourly.attrs[SIGMA_CALIBRATION_ATTR])["scale"] == sigma["scale"]


def test_gr_adjusted_is_gr_times_the_products_adjustment(verified_day, synthetic_day):
    s, record, hourly = synthetic_day, verified_day["record"], verified_day["hourly"]
    assert record["baselines"]["gr_adjusted"]["method"] == "add"  # the product's configured one
    withheld_ids = set(json.loads(hourly.attrs["rainfuse_withheld_gauges"]))
    adjusting = s.gauges.loc[[i not in withheld_ids for i in s.gauges.index]]
    withheld = s.gauges.loc[record["withheld_samples"]["station_id"]]
    gr = daily_total_mm(s.sources["gr"])[0]
    factor = adjust_daily(
        gr,
        s.lat,
        s.lon,
        adjusting["lat_deg"],
        adjusting["lon_deg"],
        adjusting["daily_mm"],
        AdjustConfig(method="add"),
    ).factor
    expected = nearest_cell_values(gr * factor, s.lat, s.lon, withheld.lat_deg, withheld.lon_deg)
    np.testing.assert_allclose(record["withheld_samples"]["gr_adjusted"], expected, rtol=1e-12)
    raw = np.asarray(record["withheld_samples"]["gr"], float)
    assert not np.allclose(raw, expected)


def test_record_holds_baselines_regions_and_uncertainty(verified_day):
    record = verified_day["record"]
    assert set(record["baselines"]) == {"gr_adjusted", "gauge_only"}
    gauge_only = record["baselines"]["gauge_only"]
    assert gauge_only["method"] == "kriging" and gauge_only["n_gauges"] == 72
    for name in ("fused", "gr", "sr", "sat"):
        assert set(record["summary"][name]) >= {"csi_10mm", "rmse_truth_blocked_sector"}
    for name in ("gr_adjusted", "gauge_only"):
        summary = record["baselines"][name]["summary"]
        assert summary["rmse_gauges"] > 0 and summary["csi_10mm"] is not None
        diff = record["baselines"][name]["scores"]["fused_minus_gauges"]
        assert diff["n"] == 18 and diff["low_mm"] <= diff["difference_mm"] <= diff["high_mm"]
    assert record["regions"]["blocked_sector"] > 0 and record["regions"]["beyond_150km"] == 0
    u = record["uncertainty"]
    assert u["gauges"]["n"] == 18 and u["truth"]["n"] == 50 * 55
    assert 0.0 <= u["gauges"]["coverage_1sigma"] <= u["gauges"]["coverage_2sigma"] <= 1.0
    assert u["sigma_calibration"]["scale"] == verified_day["sigma"]["scale"]
    samples = record["withheld_samples"]
    assert len(samples["station_id"]) == len(samples["fused_sigma"]) == 18
    numbers = verification_numbers(record)
    assert {"gauge_only_rmse_gauges", "fused_minus_gr_adjusted_rmse_gauges_difference_mm"} <= set(
        numbers
    )
    assert {"fused_coverage_1sigma_gauges", "fused_crps_truth", "sigma_scale"} <= set(numbers)
    table = verification_markdown(record)
    assert "| gr_adjusted |" in table and "inside +-1 sigma" in table
    assert reliability_diagram(record)[:8] == b"\x89PNG\r\n\x1a\n"
    json.dumps(record)  # the record is plain JSON


def test_a_product_without_its_adjustment_record_gets_the_old_record(verified_day, synthetic_day):
    """Products written before issue 20 carry no ``rainfuse_adjustment``: no baselines."""
    s = synthetic_day
    hourly = verified_day["hourly"].copy()
    del hourly.attrs["rainfuse_adjustment"]
    record = verify_product_day(
        s.day,
        verified_day["grid"],
        hourly,
        daily_dataset_from_hourly(hourly),
        _inputs(s),
        None,
        "",
        1.0,
        SkillThresholds(),
    )
    assert "baselines" not in record and "withheld_samples" not in record
