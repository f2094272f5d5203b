"""The products assets materialized for one day on stub upstream assets (synthetic arrays)."""

import json

import numpy as np
import pandas as pd
import pytest
import rasterio
import xarray as xr
from dagster import AssetCheckSeverity, DagsterInstance, asset, materialize

from assets import products
from orchestration.runtime.io_managers import UniversalIOManager
from orchestration.runtime.partitions import daily_partitions
from orchestration.runtime.resources import ArchiveResource, DomainResource, ProductStoreResource


def _stubs(s):
    def grid(cube, version):
        times = pd.Timestamp(s.day) + pd.to_timedelta(np.arange(24), unit="h")
        return xr.Dataset(
            {"rain_rate": (("time", "lat", "lon"), cube)},
            coords={"time": times, "lat": s.lat, "lon": s.lon},
            attrs={"model_version": version},
        )

    @asset(key=products.GR_HOURLY, partitions_def=daily_partitions)
    def gr_stub() -> xr.Dataset:
        ds = grid(s.sources["gr"], "mlp1-aaaa")
        ds.attrs["model"] = "mlp1"
        return ds

    @asset(key=products.SAT_HOURLY, partitions_def=daily_partitions)
    def sat_stub() -> xr.Dataset:
        ds = grid(s.sources["sat"], "mlp3-cccc")
        ds.attrs["model"] = "mlp3"
        return ds

    @asset(key=products.SR_SWATH, partitions_def=daily_partitions)
    def sr_stub() -> pd.DataFrame:
        return s.footprints

    @asset(key=products.EVALUATION, partitions_def=daily_partitions)
    def evaluation_stub() -> dict:
        return {
            "mlp1": {"rmse": 1.2, "model_version": "mlp1-aaaa"},
            "mlp2": {"rmse": 2.0, "model_version": "mlp2-bbbb"},
            "mlp3": {"rmse": 2.0},
        }

    @asset(key=products.GAUGES, partitions_def=daily_partitions)
    def gauge_stub() -> pd.DataFrame:
        return s.gauge_hourly

    return [gr_stub, sat_stub, sr_stub, evaluation_stub, gauge_stub]


PRODUCT_ASSETS = [
    products.fused_rain_hourly,
    products.fused_rain_daily,
    products.rain_product_files,
    products.product_verification,
    products.rain_product_map,
]


@pytest.fixture(scope="module")
def run(synthetic_day, tmp_path_factory):
    s = synthetic_day
    root = tmp_path_factory.mktemp("products_assets")
    # Truth on a grid offset by half a cell, as the simulator writes it: the asset interpolates.
    t_lat = np.append(s.lat - 0.01, s.lat[-1] + 0.01)
    t_lon = np.append(s.lon - 0.01, s.lon[-1] + 0.01)
    truth = xr.Dataset(
        {"rain_daily_mm": (("lat", "lon"), s.truth_daily_mm)},
        coords={"lat": s.lat, "lon": s.lon},
    ).interp(lat=t_lat, lon=t_lon, kwargs={"fill_value": "extrapolate"})
    truth_dir = root / "truth" / "2009" / "05" / "21"
    truth_dir.mkdir(parents=True)
    truth.to_netcdf(truth_dir / "truth_rain_20090521.nc")
    resources = {
        "domain": DomainResource(
            name="test",
            lat_min_deg=27.60,
            lat_max_deg=28.60,
            lon_min_deg=-81.20,
            lon_max_deg=-80.10,
            grid_spacing_deg=0.02,
        ),
        "product_store": ProductStoreResource(url=str(root / "products")),
        "truth_archive": ArchiveResource(url=str(root / "truth")),
        "io_manager": UniversalIOManager(base_url=str(root / "storage")),
    }
    instance = DagsterInstance.ephemeral()
    assets = [*_stubs(s), *PRODUCT_ASSETS, products.fused_product_skill]

    def once():
        result = materialize(assets, partition_key=s.day, resources=resources, instance=instance)
        assert result.success
        return result

    first = once()
    storage = root / "storage"
    hourly_1 = xr.load_dataset(storage / "fused_rain_hourly" / f"{s.day}.nc")
    daily_file = root / "products" / "2009" / "05" / "rainfuse_daily_test_20090521.nc"
    daily_1 = xr.load_dataset(daily_file)
    second = once()
    return {
        "root": root,
        "first": first,
        "second": second,
        "hourly_1": hourly_1,
        "daily_1": daily_1,
        "daily_file": daily_file,
        "instance": instance,
    }


def test_grid_of_the_domain_resource_matches_the_synthetic_day(synthetic_day):
    d = DomainResource(
        lat_min_deg=27.60,
        lat_max_deg=28.60,
        lon_min_deg=-81.20,
        lon_max_deg=-80.10,
        grid_spacing_deg=0.02,
    )
    np.testing.assert_allclose(d.grid().lat, synthetic_day.lat, atol=1e-9)
    np.testing.assert_allclose(d.grid().lon, synthetic_day.lon, atol=1e-9)


def test_products_written_and_open_with_xarray(run):
    files = run["first"].output_for_node("rain_product_files")
    assert set(files) == {"hourly_nc", "daily_nc", "daily_cog"}
    with xr.open_dataset(files["hourly_nc"]) as hourly:
        assert hourly.sizes["time"] == 24 and hourly.attrs["Conventions"] == "CF-1.8"
        versions = json.loads(hourly.attrs["model_versions"])
        assert versions == {"mlp1": "mlp1-aaaa", "mlp2": "mlp2-bbbb", "mlp3": "mlp3-cccc"}
        inputs = json.loads(hourly.attrs["input_files"])
        assert any("gr_rain_hourly" in f for f in inputs) and len(inputs) == 5
        assert len(hourly.attrs["configuration_hash"]) == 12
        assert hourly.attrs["software_version"].startswith("rainfuse")
        assert len(json.loads(hourly.attrs["rainfuse_withheld_gauges"])) == 18
        assert hourly.attrs["rainfuse_sr_footprint_radius_km"] == "3.0"  # what verification uses
        assert hourly.attrs["rainfuse_quality_flag"] == "ok"  # trained models only
    with xr.open_dataset(files["daily_nc"]) as daily:
        assert daily.attrs["rainfuse_quality_flag"] == "ok"
    with rasterio.open(files["daily_cog"]) as cog:
        assert cog.tags()["rainfuse_quality_flag"] == "ok"
        assert cog.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"
        assert cog.profile["tiled"]
        np.testing.assert_allclose(
            cog.read(1)[::-1], run["daily_1"].rainfall_amount.values[0], rtol=1e-6
        )
    for node in ("fused_rain_hourly", "fused_rain_daily", "rain_product_files"):
        mat = run["first"].asset_materializations_for_node(node)[0]
        assert mat.metadata["quality_flag"].value == "ok", node
    leftovers = [p for p in (run["root"] / "products").rglob(".*.tmp")]
    assert leftovers == []


def test_verification_fused_beats_each_source(run):
    record = run["first"].output_for_node("product_verification")
    compact = record["summary"]
    assert set(compact) == {"fused", "gr", "sr", "sat"}
    for source in ("gr", "sr", "sat"):
        assert compact["fused"]["rmse_truth"] < compact[source]["rmse_truth"]
        assert compact["fused"]["rmse_gauges"] < compact[source]["rmse_gauges"]
    assert record["failures"] == []
    assert record["truth"].endswith("truth_rain_20090521.nc")
    mat = run["first"].asset_materializations_for_node("product_verification")[0]
    assert mat.metadata["fused_rmse_truth"].value == pytest.approx(compact["fused"]["rmse_truth"])
    assert "sr_csi_1mm" in mat.metadata
    margin = record["scores"]["gr"]["fused_minus_source_gauges"]
    assert mat.metadata["fused_minus_gr_rmse_gauges_difference_mm"].value == pytest.approx(
        margin["difference_mm"]
    )
    assert margin["difference_mm"] < 0 and margin["low_mm"] <= margin["difference_mm"]
    assert "bootstrap interval" in mat.metadata["table"].value
    checks = run["first"].get_asset_check_evaluations()
    assert [c.check_name for c in checks] == ["fused_product_skill"] and checks[0].passed
    assert record["quality_flag"] == "ok" and record["fallback_models"] == []
    assert mat.metadata["cold_start"].value is False


def test_rematerializing_gives_identical_data_variables(run):
    daily_2 = xr.load_dataset(run["daily_file"])
    hourly_2 = xr.load_dataset(run["root"] / "storage" / "fused_rain_hourly" / "2009-05-21.nc")
    for first, second in ((run["daily_1"], daily_2), (run["hourly_1"], hourly_2)):
        assert list(first.data_vars) == list(second.data_vars)
        for name in first.data_vars:
            assert first[name].identical(second[name]), name


def test_map_png_in_store(run):
    out = run["first"].output_for_node("rain_product_map")
    with open(out["png"], "rb") as handle:
        assert handle.read(8) == b"\x89PNG\r\n\x1a\n"
    mat = run["first"].asset_materializations_for_node("rain_product_map")[0]
    assert mat.metadata["preview"].value.startswith("![daily total](data:image/png;base64,")


def test_skill_check_fails_below_thresholds(run, synthetic_day):
    record = run["first"].output_for_node("product_verification")
    failing = {**record, "failures": ["RMSE vs truth (mm) 9.000 > 1.0"]}
    result = products.fused_product_skill(failing)
    assert not result.passed and result.severity == AssetCheckSeverity.ERROR  # trained models
    assert products.fused_product_skill(record).passed
    # the same failure on a cold start (fallback models) warns: no trained model yet
    cold = {**failing, "quality_flag": "cold_start", "fallback_models": ["mlp1", "mlp2", "mlp3"]}
    result = products.fused_product_skill(cold)
    assert not result.passed and result.severity == AssetCheckSeverity.WARN
    assert "no trained model yet: fallback models mlp1, mlp2, mlp3" in result.description
