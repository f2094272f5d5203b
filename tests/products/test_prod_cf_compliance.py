"""The hourly and daily NetCDF products pass the IOOS compliance checker's CF-1.8 suite.

The checker (``compliance-checker``, a dev dependency) runs through its Python API on products
written by the project's writer from the synthetic day; the test fails on any failed high-priority
("error") check and prints the medium/low ones (warnings).
"""

from __future__ import annotations

import json

import netCDF4
import numpy as np
import pytest
import xarray as xr
from compliance_checker.runner import CheckSuite, ComplianceChecker

from fusion_ops.products.pipeline import fuse_day
from fusion_ops.products.writers import (
    Provenance,
    write_netcdf,
)
from tests.products.conftest import product_datasets

CF_TEST = "cf:1.8"
PROVENANCE = Provenance(
    model_versions={"mlp1": "a1b2c3", "mlp2": "d4e5f6", "mlp3": "0789ab"},
    input_files=["data/storage/gr_rain_hourly/2009-05-21.nc"],
    software_version="rainfuse 0.1.0",
    configuration_hash="feedbeef0123",
)


@pytest.fixture(scope="module")
def products(synthetic_day, tmp_path_factory):
    s = synthetic_day
    f = fuse_day(s.day, s.lat, s.lon, s.sources, s.error_std, s.gauges)
    hourly, daily = product_datasets(f, PROVENANCE)
    root = tmp_path_factory.mktemp("cf")
    paths = {"hourly": root / "hourly.nc", "daily": root / "daily.nc"}
    write_netcdf(hourly, str(paths["hourly"]))
    write_netcdf(daily, str(paths["daily"]))
    return f, paths


def _failed(checks: list[dict]) -> list[tuple[str, list[str]]]:
    """(name, messages) of every check that scored less than its possible points."""
    return [(c["name"], c["msgs"]) for c in checks if c["value"][0] < c["value"][1]]


@pytest.mark.parametrize("kind", ["hourly", "daily"])
def test_product_passes_cf_1_8_checker(products, kind, tmp_path):
    _, paths = products
    CheckSuite.load_all_available_checkers()
    report_path = tmp_path / f"{kind}.json"
    passed, _ = ComplianceChecker.run_checker(
        str(paths[kind]),
        [CF_TEST],
        verbose=0,
        criteria="normal",
        output_filename=str(report_path),
        output_format="json",
    )
    report = json.loads(report_path.read_text())[CF_TEST]
    errors = _failed(report["high_priorities"])
    warnings = _failed(report["medium_priorities"]) + _failed(report["low_priorities"])
    for name, msgs in warnings:
        print(f"{kind} product, CF-1.8 warning: {name}: {msgs}")
    assert errors == [], f"{kind} product fails CF-1.8 checks: {errors}"
    assert report["high_count"] == 0
    assert passed


def test_products_use_cf_1_8_data_types(products):
    _, paths = products
    for kind, path in paths.items():
        with netCDF4.Dataset(path) as nc:
            for name in ("time", "time_bnds"):
                assert nc[name].dtype == np.int32, (kind, name)
            assert nc["time"].units.startswith("minutes since 1970-01-01")
            assert nc["time"].calendar == "standard"
            flag = nc["source_flag"]
            assert flag.dtype == np.int8, kind
            assert flag.flag_masks.dtype == np.int8 and list(flag.flag_masks) == [1, 2, 4]
            assert "_FillValue" not in flag.ncattrs()
            for name, var in nc.variables.items():
                # CF-1.8 section 2.2: char, byte, short, int, float, double
                assert var.dtype in (np.int8, np.int16, np.int32, np.float32, np.float64), name
                if "_FillValue" in var.ncattrs():
                    assert np.asarray(var.getncattr("_FillValue")).dtype == var.dtype, name


def test_readers_get_the_same_values_back(products):
    f, paths = products
    with xr.open_dataset(paths["hourly"]) as hourly:
        np.testing.assert_array_equal(hourly["source_flag"].values, f.hourly_flag)
        assert hourly["source_flag"].dtype == np.int8  # still an integer bit field when decoded
        np.testing.assert_array_equal(
            hourly["rainfall_rate"].values, f.hourly_mm_h.astype("float32")
        )
        assert str(hourly["time"].values[0]).startswith("2009-05-21T00:00")
        assert (
            hourly["time_bnds"].values[:, 1] - hourly["time_bnds"].values[:, 0]
            == np.timedelta64(1, "h")
        ).all()
    with xr.open_dataset(paths["daily"]) as daily:
        np.testing.assert_array_equal(
            daily["rainfall_amount"].values[0], f.daily_mm.astype("float32")
        )
        np.testing.assert_array_equal(daily["source_flag"].values[0], f.daily_flag)
        np.testing.assert_array_equal(daily["hours_observed"].values[0], f.hours_observed)
        assert daily["time_bnds"].values[0, 1] - daily["time_bnds"].values[0, 0] == np.timedelta64(
            1, "D"
        )


def test_a_dataset_stored_with_the_old_types_is_written_with_cf_types(products, tmp_path):
    """An asset value stored before the change (uint8 flag, int64 times) still gives CF types."""
    _, paths = products
    with xr.open_dataset(paths["daily"]) as daily:
        old = daily.load()
    old["source_flag"] = old["source_flag"].astype("uint8")
    old["source_flag"].attrs["flag_masks"] = np.array([1, 2, 4], dtype="uint8")
    for name in ("time", "time_bnds"):
        old[name].encoding["dtype"] = np.dtype("int64")
    path = tmp_path / "rewritten.nc"
    write_netcdf(old, str(path))
    with netCDF4.Dataset(path) as nc:
        assert nc["source_flag"].dtype == np.int8
        assert nc["source_flag"].flag_masks.dtype == np.int8
        assert nc["time"].dtype == np.int32 and nc["time_bnds"].dtype == np.int32
    with xr.open_dataset(path) as back, xr.open_dataset(paths["daily"]) as new:
        xr.testing.assert_identical(back, new)
