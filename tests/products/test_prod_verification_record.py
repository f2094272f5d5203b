"""The verification record of one product day, its charted numbers and its markdown tables."""

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from fusion_ops.grid import ProductGrid
from fusion_ops.products.verification_record import (
    daily_estimates,
    difference_markdown,
    gauge_set,
    score_markdown,
    verification_markdown,
    verification_numbers,
    verify_product_day,
)
from fusion_ops.products.verify import SkillThresholds

THRESHOLDS = SkillThresholds(15.0, 15.0, 0.6, 0.4, True)


def _compact():
    return {
        "fused": {
            "rmse_truth": 1.23456,
            "rmse_gauges": 2.0,
            "bias_gauges": -0.1,
            "corr_gauges": 0.9,
            "csi_1mm": 0.8,
        },
        "gr": {"rmse_gauges": 3.5, "bias_gauges": None, "corr_gauges": 0.7, "csi_1mm": 0.6},
        "sr": None,
    }


def _scores():
    return {
        "fused": {"gauges": {"rmse": 2.0}},
        "gr": {
            "gauges": {"rmse": 3.5},
            "fused_minus_source_gauges": {
                "difference_mm": -1.5,
                "low_mm": -2.25,
                "high_mm": -0.5,
                "confidence": 0.95,
                "n": 17,
            },
        },
        "sr": {
            "fused_same_support_truth": {"rmse": 0.75},
            "fused_same_support_gauges": {"rmse": None},
            "fused_minus_source_gauges": {
                "difference_mm": 0.25,
                "low_mm": None,
                "high_mm": None,
                "n": 6,
            },
        },
        "sat": {"fused_minus_source_gauges": {"difference_mm": None, "n": 2}},
        "absent": None,
    }


def test_score_markdown_text():
    assert score_markdown(_compact()) == (
        "| estimate | rmse_truth | rmse_gauges | bias_gauges | corr_gauges | csi_1mm |\n"
        "|---|---|---|---|---|---|\n"
        "| fused | 1.235 | 2.000 | -0.100 | 0.900 | 0.800 |\n"
        "| gr | - | 3.500 | - | 0.700 | 0.600 |\n"
        "| sr | - | - | - | - | - |"
    )


def test_difference_markdown_text():
    assert difference_markdown(_scores()) == (
        "| fused minus | RMSE difference at the withheld gauges (mm) | 95 % bootstrap interval |"
        " gauges |\n"
        "|---|---|---|---|\n"
        "| gr | -1.500 | [-2.250, -0.500] | 17 |\n"
        "| sr | +0.250 | - | 6 |"
    )


def test_verification_markdown_is_both_tables():
    record = {"summary": _compact(), "scores": _scores()}
    assert verification_markdown(record) == (
        score_markdown(_compact()) + "\n\n" + difference_markdown(_scores())
    )


def test_verification_numbers():
    record = {
        "summary": _compact(),
        "scores": _scores(),
        "withheld_gauges_complete": 17,
        "failures": [],
    }
    out = verification_numbers(record)
    assert out == {
        "withheld_gauges": 17,
        "skill_ok": True,
        "fused_rmse_truth": 1.23456,
        "fused_rmse_gauges": 2.0,
        "fused_bias_gauges": -0.1,
        "fused_corr_gauges": 0.9,
        "fused_csi_1mm": 0.8,
        "gr_rmse_gauges": 3.5,
        "gr_corr_gauges": 0.7,
        "gr_csi_1mm": 0.6,
        "fused_on_sr_support_rmse_truth": 0.75,
        "fused_minus_gr_rmse_gauges_difference_mm": -1.5,
        "fused_minus_gr_rmse_gauges_low_mm": -2.25,
        "fused_minus_gr_rmse_gauges_high_mm": -0.5,
        "fused_minus_sr_rmse_gauges_difference_mm": 0.25,
    }
    assert verification_numbers({**record, "failures": ["too wet"]})["skill_ok"] is False


def test_daily_estimates_and_gauge_set():
    fused = xr.Dataset({"rainfall_amount": (("time", "lat", "lon"), np.full((1, 2, 2), 3.0))})
    cube = np.full((24, 2, 2), np.nan)
    cube[10] = 2.0  # one hour seen: 24 h x the mean rate
    out = daily_estimates(fused, {"gr": cube, "sat": None})
    assert list(out) == ["fused", "gr", "sat"]
    np.testing.assert_array_equal(out["fused"], 3.0)
    np.testing.assert_array_equal(out["gr"], 48.0)
    assert out["sat"] is None
    gauges = pd.DataFrame({"lat_deg": [28.0], "lon_deg": [-81.0], "daily_mm": [4.0]})
    gs = gauge_set(gauges)
    assert (gs.lat_deg.tolist(), gs.lon_deg.tolist(), gs.daily_mm.tolist()) == (
        [28.0],
        [-81.0],
        [4.0],
    )
    assert gauge_set(gauges.iloc[:0]) is None


def _day_inputs(s):
    from fusion_ops.products.adapters import DayInputs

    def grid(cube):
        times = pd.Timestamp(s.day) + pd.to_timedelta(np.arange(24), unit="h")
        return xr.Dataset(
            {"rain_rate": (("time", "lat", "lon"), cube)},
            coords={"time": times, "lat": s.lat, "lon": s.lon},
        )

    return DayInputs(grid(s.sources["gr"]), s.footprints, grid(s.sources["sat"]), s.gauge_hourly)


def _verify(s, **attrs):
    fused_daily = xr.Dataset(
        {"rainfall_amount": (("time", "lat", "lon"), s.truth_daily_mm[None])},
        coords={"lat": s.lat, "lon": s.lon},
    )
    withheld = list(s.gauges.index[:12])
    fused_hourly = xr.Dataset(attrs={"rainfuse_withheld_gauges": json.dumps(withheld), **attrs})
    truth = xr.Dataset(
        {"rain_daily_mm": (("lat", "lon"), s.truth_daily_mm)},
        coords={"lat": s.lat, "lon": s.lon},
    )
    return verify_product_day(
        s.day,
        ProductGrid.from_centres(s.lat[0], s.lat[-1], s.lon[0], s.lon[-1], 0.02),
        fused_hourly,
        fused_daily,
        _day_inputs(s),
        truth,
        "mem://truth.nc",
        1.0,
        THRESHOLDS,
    )


@pytest.fixture(scope="module")
def record(synthetic_day):
    return _verify(synthetic_day)


def test_verify_product_day_record(record, synthetic_day):
    assert list(record) == [
        "day",
        "summary",
        "scores",
        "withheld_gauges",
        "withheld_gauges_complete",
        "truth",
        "thresholds",
        "failures",
    ]
    assert record["day"] == synthetic_day.day
    assert record["withheld_gauges"] == record["withheld_gauges_complete"] == 12
    assert record["truth"] == "mem://truth.nc"
    assert record["thresholds"] == dataclasses.asdict(THRESHOLDS)
    assert set(record["summary"]) == {"fused", "gr", "sr", "sat"}
    fused = record["scores"]["fused"]
    # the truth sits on the same cells (coordinates equal to within rounding)
    assert fused["truth"]["rmse"] == pytest.approx(0.0, abs=1e-9) and fused["gauges"]["n"] == 12
    assert record["failures"] == []  # the truth as the fused product beats every source


def test_verify_product_day_grids_the_swath_as_the_fusion_did(record, synthetic_day):
    n_default = record["scores"]["sr"]["truth"]["n"]
    same = _verify(synthetic_day, rainfuse_sr_footprint_radius_km="3.0")
    assert same["scores"]["sr"]["truth"]["n"] == n_default
    narrow = _verify(synthetic_day, rainfuse_sr_footprint_radius_km="1.0")
    assert 0 < narrow["scores"]["sr"]["truth"]["n"] < n_default
