"""A cold start is flagged, not hidden (issues 20 and 22).

A product made with any fallback calibration model (no trained model yet: fixed Z-R, the SR
standard product, the Tb curve) says so in its NetCDF attributes and COG tags; its skill check
warns ("no trained model yet") where a product of trained models errs.
"""

import numpy as np
import pandas as pd
import pytest
import rasterio
import xarray as xr
from dagster import AssetCheckSeverity

from assets import products
from assets.products import FusionConfig
from fusion_ops.calibration.fitting import model_attrs
from fusion_ops.calibration.versioning import load_model_or_fallback, save_fallback_bytes
from fusion_ops.grid import ProductGrid
from fusion_ops.products.adapters import DayInputs
from fusion_ops.products.fusion import (
    FusionSettings,
    fuse_hourly_product,
    hourly_product_summary,
    quality_summary,
)
from fusion_ops.products.pipeline import daily_dataset_from_hourly
from fusion_ops.products.provenance import chain_fallbacks, product_quality, quality_attrs
from fusion_ops.products.verification_record import (
    fallback_models,
    record_skill_check,
    verification_numbers,
)
from fusion_ops.products.verify import NO_TRAINED_MODEL, skill_check
from fusion_ops.products.writers import (
    COG_QUALITY_TAG_KEYS,
    FALLBACK_MODELS_ATTR,
    QUALITY_FLAG_ATTR,
    write_daily_cog,
    write_netcdf,
)

DAY = "2009-05-20"
GRID = ProductGrid(27.60, 27.68, -81.20, -81.10, 0.02)
FALLBACKS = {"mlp1": "zr_300_1.4", "mlp2": "sr_standard", "mlp3": "tb_curve"}


def _meta(name: str, trained: bool) -> dict:
    if trained:
        return {"version": f"{name}-trained", "fallback": None}
    _, meta = load_model_or_fallback(save_fallback_bytes(name, FALLBACKS[name], "test", {}))
    return meta


def _grid(rate_mm_h: float, name: str, trained: bool) -> xr.Dataset:
    """An hourly chain output with the attributes the calibration steps give it."""
    times = pd.Timestamp(DAY) + pd.to_timedelta(np.arange(24), unit="h")
    cube = np.full((24, GRID.lat.size, GRID.lon.size), rate_mm_h)
    ds = xr.Dataset(
        {"rain_rate": (("time", "lat", "lon"), cube)},
        coords={"time": times, "lat": GRID.lat, "lon": GRID.lon},
    )
    ds.attrs.update(model_attrs(name, _meta(name, trained)))
    return ds


def _evaluation(trained: bool) -> dict:
    """The chain's record: each network's entry and a baseline repeating its network's fallback."""
    out = {"day": DAY}
    for name, baseline in FALLBACKS.items():
        fallback = None if trained else FALLBACKS[name]
        out[name] = {"rmse": 1.5, "model": name, "fallback": fallback}
        out[baseline] = {"rmse": 2.0, "model": name, "fallback": fallback}
    return out


def _product(trained: bool):
    settings = FusionSettings(**FusionConfig().model_dump())
    inputs = DayInputs(_grid(1.0, "mlp1", trained), None, _grid(2.0, "mlp3", trained), None)
    return fuse_hourly_product(
        DAY, GRID, inputs, _evaluation(trained), settings, ["in/gr.nc"], "hash12345678"
    )


@pytest.fixture(scope="module", params=["fallback", "trained"])
def written(request, tmp_path_factory):
    """Hourly and daily NetCDF and the daily COG of one day, read back."""
    trained = request.param == "trained"
    product = _product(trained)
    daily = daily_dataset_from_hourly(product.dataset)
    root = tmp_path_factory.mktemp(request.param)
    write_netcdf(product.dataset, str(root / "hourly.nc"))
    write_netcdf(daily, str(root / "daily.nc"))
    write_daily_cog(daily, str(root / "daily.tif"))
    with (
        xr.open_dataset(root / "hourly.nc") as hourly_file,
        xr.open_dataset(root / "daily.nc") as daily_file,
        rasterio.open(root / "daily.tif") as cog,
    ):
        read = (dict(hourly_file.attrs), dict(daily_file.attrs), cog.tags())
    return trained, product, daily, read


def test_product_files_carry_the_quality_flag(written):
    trained, product, daily, (hourly_attrs, daily_attrs, tags) = written
    flag, models = ("ok", "") if trained else ("cold_start", "mlp1 mlp2 mlp3")
    for attrs in (hourly_attrs, daily_attrs, product.dataset.attrs, daily.attrs):
        assert attrs[QUALITY_FLAG_ATTR] == flag
        assert attrs.get(FALLBACK_MODELS_ATTR, "") == models
    assert tags[QUALITY_FLAG_ATTR] == flag
    assert tags.get(FALLBACK_MODELS_ATTR, "") == models
    assert COG_QUALITY_TAG_KEYS == ("rainfuse_quality_flag", "rainfuse_fallback_models")
    assert product.fallbacks == ({} if trained else FALLBACKS)


def test_quality_summary_is_the_assets_metadata(written):
    trained, product, daily, _ = written
    expected = {
        "quality_flag": "ok" if trained else "cold_start",
        "fallback_models": [] if trained else ["mlp1", "mlp2", "mlp3"],
    }
    assert quality_summary(product.dataset) == quality_summary(daily) == expected
    assert "quality_flag" not in hourly_product_summary(product)  # its keys are unchanged
    assert quality_summary(xr.Dataset()) == {}  # a product written before the flag existed


def test_chain_fallbacks_from_attributes_or_evaluation():
    cold = _grid(1.0, "mlp1", trained=False)
    assert chain_fallbacks(None, cold) == {"mlp1": "zr_300_1.4"}
    assert chain_fallbacks(None, _grid(1.0, "mlp1", trained=True)) == {}
    # the evaluation alone names every network, not its baselines' entries
    assert chain_fallbacks(_evaluation(trained=False)) == FALLBACKS
    assert chain_fallbacks(_evaluation(trained=True)) == {}
    # a swath table with its model attributes (Parquet keeps DataFrame.attrs)
    swath = pd.DataFrame({"rain_mm_h": [1.0], "fallback": [True]})
    swath.attrs.update(model_attrs("mlp2", _meta("mlp2", trained=False)))
    assert chain_fallbacks({}, swath) == {"mlp2": "sr_standard"}
    assert quality_attrs({}) == {QUALITY_FLAG_ATTR: "ok", FALLBACK_MODELS_ATTR: ""}
    assert product_quality({}) is None


def test_skill_check_warns_on_a_cold_start_and_errs_with_trained_models():
    failures = ["RMSE vs truth (mm) 9.000 > 1.0"]
    cold = skill_check(failures, ["mlp1", "mlp2", "mlp3"])
    assert (cold.passed, cold.severity, cold.cold_start) == (False, "warn", True)
    assert cold.description == (
        "cold start, no trained model yet: fallback models mlp1, mlp2, mlp3; "
        "fused product below the skill thresholds: RMSE vs truth (mm) 9.000 > 1.0"
    )
    assert NO_TRAINED_MODEL == "no trained model yet"
    trained = skill_check(failures, [])
    assert (trained.passed, trained.severity, trained.cold_start) == (False, "error", False)
    assert trained.description == (
        "fused product below the skill thresholds: RMSE vs truth (mm) 9.000 > 1.0"
    )
    assert skill_check([], []).passed and skill_check([], ["mlp2"]).passed
    assert skill_check([], ["mlp2"]).severity == "warn"


def _record(quality_flag=None, models=(), failures=("RMSE vs gauges (mm) 20.000 > 15.0",)):
    record = {
        "day": DAY,
        "summary": {"fused": {"rmse_gauges": 20.0}},
        "scores": {},
        "withheld_gauges_complete": 12,
        "thresholds": {"max_rmse_gauges_mm": 15.0},
        "failures": list(failures),
    }
    if quality_flag is not None:
        record.update(quality_flag=quality_flag, fallback_models=list(models))
    return record


def test_record_decision_and_numbers():
    cold = _record("cold_start", ["mlp1", "mlp3"])
    assert fallback_models(cold) == ["mlp1", "mlp3"]
    assert record_skill_check(cold).severity == "warn"
    assert verification_numbers(cold)["cold_start"] is True
    ok = _record("ok")
    assert fallback_models(ok) == [] and record_skill_check(ok).severity == "error"
    assert verification_numbers(ok)["cold_start"] is False
    old = _record()  # written before products recorded their quality
    assert fallback_models(old) == [] and record_skill_check(old).severity == "error"
    assert "cold_start" not in verification_numbers(old)


def test_fused_product_skill_check_is_warn_on_a_cold_start():
    cold = products.fused_product_skill(_record("cold_start", ["mlp1", "mlp2", "mlp3"]))
    assert (cold.passed, cold.severity) == (False, AssetCheckSeverity.WARN)
    assert NO_TRAINED_MODEL in cold.description
    assert cold.metadata["cold_start"].value is True
    assert cold.metadata["fallback_models"].value == ["mlp1", "mlp2", "mlp3"]
    trained = products.fused_product_skill(_record("ok"))
    assert (trained.passed, trained.severity) == (False, AssetCheckSeverity.ERROR)
    assert NO_TRAINED_MODEL not in trained.description
    assert trained.metadata["cold_start"].value is False
    assert products.fused_product_skill(_record("ok", failures=())).passed
