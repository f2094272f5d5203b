"""The hourly product of one day from the upstream values (tiny grid), and its summaries."""

import json

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from assets.products import FusionConfig, VerificationConfig
from fusion_ops.grid import ProductGrid
from fusion_ops.products import ProductInputError
from fusion_ops.products.accumulate import REQUIRED_GAUGE_HOURS
from fusion_ops.products.adapters import DayInputs
from fusion_ops.products.fusion import (
    WET_DAY_MM,
    FusionSettings,
    daily_product_summary,
    fuse_hourly_product,
    hourly_product_summary,
    withheld_station_ids,
)
from fusion_ops.products.merge import SR_FOOTPRINT_RADIUS_KM, range_from_site_km

DAY = "2009-05-21"
GRID = ProductGrid(27.60, 27.68, -81.20, -81.10, 0.02)
LAT, LON = GRID.lat, GRID.lon
EVALUATION = {"mlp1": {"rmse": 1.0, "model_version": "mlp1-x"}, "mlp3": {"rmse": 1.0}}


def _settings(**changes) -> FusionSettings:
    values = FusionConfig().model_dump()  # the operational defaults
    values.update(changes)
    return FusionSettings(**values)


def _grid(rate_mm_h: float, model: str) -> xr.Dataset:
    times = pd.Timestamp(DAY) + pd.to_timedelta(np.arange(24), unit="h")
    return xr.Dataset(
        {"rain_rate": (("time", "lat", "lon"), np.full((24, LAT.size, LON.size), rate_mm_h))},
        coords={"time": times, "lat": LAT, "lon": LON},
        attrs={"model": model, "model_version": f"{model}-v"},
    )


@pytest.fixture(scope="module")
def product():
    inputs = DayInputs(_grid(1.0, "mlp1"), None, _grid(2.0, "mlp3"), None)
    return fuse_hourly_product(
        DAY, GRID, inputs, EVALUATION, _settings(), ["in/gr.nc", "in/sat.nc"], "hash12345678"
    )


def test_settings_mirror_the_asset_configuration():
    settings = _settings()
    assert settings.sr_footprint_radius_km == SR_FOOTPRINT_RADIUS_KM == 3.0
    assert settings.gauge_required_hours == REQUIRED_GAUGE_HOURS == 24
    assert VerificationConfig().gauge_required_hours == REQUIRED_GAUGE_HOURS
    assert list(settings.merge_sources) == ["gr", "sr", "sat"]


def test_tiny_day_is_the_inverse_variance_merge(product):
    ds = product.dataset
    assert dict(ds.sizes) == {"time": 24, "lat": LAT.size, "lon": LON.size, "nv": 2}
    # No gauges: no adjustment, and the weights are the evaluation's error model.
    assert not product.fused.adjusted and product.fused.adjustment_method == "none"
    range_km = range_from_site_km(LAT, LON, 28.113, -80.654)
    w_gr = 1.0 / product.errors.gr_model.std_mm_h(range_km) ** 2
    w_sat = 1.0 / product.errors.sat_std_mm_h**2
    expected = (1.0 * w_gr + 2.0 * w_sat) / (w_gr + w_sat)
    for hour in (0, 23):
        np.testing.assert_allclose(ds["rainfall_rate"].values[hour], expected, rtol=1e-6)
        np.testing.assert_allclose(
            ds["rainfall_rate_stddev"].values[hour], (w_gr + w_sat) ** -0.5, rtol=1e-6
        )
    assert (ds["source_flag"].values == 1 | 4).all()  # gr and sat bits
    assert product.errors.sat_std_mm_h == pytest.approx(np.sqrt(2.0))


def test_tiny_day_provenance_and_record(product):
    attrs = product.dataset.attrs
    assert attrs["configuration_hash"] == "hash12345678"
    assert json.loads(attrs["input_files"]) == ["in/gr.nc", "in/sat.nc"]
    assert json.loads(attrs["model_versions"]) == {"mlp1": "mlp1-v", "mlp3": "mlp3-v"}
    assert json.loads(attrs["rainfuse_withheld_gauges"]) == []
    assert json.loads(attrs["rainfuse_adjustment"])["configured"] == "auto"
    assert attrs["rainfuse_sr_footprint_radius_km"] == "3.0"
    assert product.sources_present == ["gr", "sat"]
    assert product.gauges.empty and product.withheld_ids == []


def test_hourly_product_summary(product):
    out = hourly_product_summary(product)
    assert list(out) == [
        "sources_present",
        "sources_excluded",
        "domain_mean_mm",
        "domain_max_mm",
        "adjusting_gauges",
        "withheld_gauges",
        "gauges_incomplete_day",
        "adjusted",
        "adjust_method",
        "mean_adjust_factor",
        "error_model_origin",
        "weights_from",
        "model_versions",
        "sources",
        "model_capability",
    ]
    # no era plan given: the sources are recorded as present or not, "planned" unknown
    assert out["sources"]["ground_radar"] == {"planned": None, "used": True, "reason": ""}
    assert out["sources"]["spaceborne"]["reason"] == "no data that day"
    daily = product.fused.daily_mm
    assert out["domain_mean_mm"] == pytest.approx(float(np.mean(daily)))
    assert out["domain_max_mm"] == pytest.approx(float(np.max(daily)))
    assert 24.0 < out["domain_mean_mm"] < 48.0  # between the two sources' daily totals
    assert out["sources_present"] == ["gr", "sat"] and out["sources_excluded"] == {}
    assert (out["adjusting_gauges"], out["withheld_gauges"], out["gauges_incomplete_day"]) == (
        0,
        0,
        0,
    )
    assert out["adjusted"] is False and out["adjust_method"] == "none"
    assert out["mean_adjust_factor"] == 1.0
    assert out["error_model_origin"]["mlp2"].startswith("default")


def test_sources_left_out_of_the_merge_are_still_present():
    inputs = DayInputs(_grid(1.0, "mlp1"), None, _grid(2.0, "mlp3"), None)
    gr_only = fuse_hourly_product(
        DAY, GRID, inputs, EVALUATION, _settings(merge_sources=["gr"]), [], ""
    )
    np.testing.assert_allclose(gr_only.dataset["rainfall_rate"].values, 1.0)
    assert gr_only.sources_present == ["gr", "sat"]


def test_unknown_merge_source_is_named():
    inputs = DayInputs(_grid(1.0, "mlp1"), None, None, None)
    with pytest.raises(ProductInputError, match=r"unknown source\(s\) \['radar'\]"):
        fuse_hourly_product(
            DAY, GRID, inputs, None, _settings(merge_sources=["gr", "radar"]), [], ""
        )


def test_withheld_station_ids_skip_incomplete_days(product):
    gauges = pd.DataFrame(
        {"daily_mm": [1.0, np.nan, 3.0, 4.0]}, index=pd.Index(["D", "A", "C", "B"])
    )

    class Fused:  # only ``withheld`` matters: aligned with the complete rows D, C, B
        withheld = np.array([True, False, True])

    assert withheld_station_ids(gauges, Fused()) == ["B", "D"]  # type: ignore[arg-type]


def test_daily_product_summary():
    total = np.array([[[0.0, 0.5], [1.0, np.nan]]])
    daily = xr.Dataset({"rainfall_amount": (("time", "lat", "lon"), total)})
    out = daily_product_summary(daily)
    assert out == {"domain_mean_mm": 0.5, "wet_fraction_1mm": 0.25}
    assert WET_DAY_MM == 1.0
