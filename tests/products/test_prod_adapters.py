"""Upstream values of a product day onto the product grid: cubes, gauge days, withheld ids, truth."""

import json

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from fusion_ops.products import ProductInputError
from fusion_ops.products.accumulate import HOURS_PER_DAY, REQUIRED_GAUGE_HOURS
from fusion_ops.products.adapters import (
    GAUGE_DAY_COLUMNS,
    SR_FOOTPRINT_RADIUS_ATTR,
    WITHHELD_GAUGES_ATTR,
    DayInputs,
    fusion_sr_footprint_radius_km,
    gauge_days,
    read_truth,
    source_cubes,
    time_label,
    truth_relative_path,
    withheld_gauge_days,
)
from fusion_ops.products.merge import SR_FOOTPRINT_RADIUS_KM

DAY = "2009-05-20"
LAT = 28.0 + 0.02 * np.arange(3)
LON = -81.0 + 0.02 * np.arange(4)
KM_PER_DEG = 111.2


def _grid(values_mm_h: dict[int, float], label: str | None = None) -> xr.Dataset:
    """An hourly grid with a constant rain rate in the given hours (time = start of the hour)."""
    hours = sorted(values_mm_h)
    times = pd.Timestamp(DAY) + pd.to_timedelta(hours, unit="h")
    data = np.stack([np.full((LAT.size, LON.size), values_mm_h[h]) for h in hours])
    ds = xr.Dataset(
        {"rain_rate": (("time", "lat", "lon"), data)},
        coords={"time": times, "lat": LAT, "lon": LON},
    )
    if label is not None:
        ds["time"].attrs["label"] = label
    return ds


def _gauge_table() -> pd.DataFrame:
    """Station A reports all 24 hours of DAY (1 mm each), B misses one; one row of the day before."""
    ends = pd.Timestamp(DAY, tz="UTC") + pd.to_timedelta(np.arange(1, 25), unit="h")
    rows = [("A", t, 1.0, 28.01, -80.99) for t in ends]
    rows += [("B", t, 0.5, 28.03, -80.95) for t in ends[:-1]]
    rows.append(("A", pd.Timestamp(DAY, tz="UTC"), 50.0, 28.01, -80.99))  # ends at 00:00: not D
    return pd.DataFrame(rows, columns=["station_id", "time_end", "precip_mm", "lat", "lon"])


def test_the_one_home_numbers_keep_todays_values():
    assert REQUIRED_GAUGE_HOURS == HOURS_PER_DAY == 24
    assert SR_FOOTPRINT_RADIUS_KM == 3.0


def test_time_label_reads_the_time_coordinate():
    assert time_label(_grid({0: 1.0}, label="end")) == "end"
    assert time_label(_grid({0: 1.0}, label="start")) == "start"
    assert time_label(_grid({0: 1.0}, label="middle")) == "auto"
    assert time_label(_grid({0: 1.0})) == "auto"
    assert time_label(pd.DataFrame({"time": []})) == "auto"
    assert time_label(None) == "auto"


def test_source_cubes_on_a_tiny_grid():
    footprints = pd.DataFrame(
        {
            "time": [pd.Timestamp(DAY, tz="UTC") + pd.Timedelta(hours=14, minutes=20)],
            "lat": [LAT[1]],
            "lon": [LON[2]],
            "rain_mm_h": [7.0],
        }
    )
    inputs = DayInputs(_grid({0: 1.0, 5: 2.5}), footprints, None, None)
    cubes = source_cubes(inputs, DAY, LAT, LON)
    assert list(cubes) == ["gr", "sr", "sat"]
    assert cubes["sat"] is None
    gr = cubes["gr"]
    assert gr.shape == (24, LAT.size, LON.size)
    np.testing.assert_array_equal(gr[0], 1.0)
    np.testing.assert_array_equal(gr[5], 2.5)
    assert np.isnan(np.delete(gr, [0, 5], axis=0)).all()
    sr = cubes["sr"]
    assert sr.shape == (24, LAT.size, LON.size)
    assert sr[14, 1, 2] == 7.0
    # 0.02 degree cells: the neighbours are about 2 km away, within the default 3 km radius
    assert sr[14, 1, 1] == 7.0 and sr[14, 0, 2] == 7.0
    assert np.isnan(sr[14, 1, 0])  # about 4 km west: outside
    assert np.isnan(np.delete(sr, 14, axis=0)).all()


def test_source_cubes_grid_the_swath_with_the_given_radius():
    footprint = {"time": [pd.Timestamp(DAY) + pd.Timedelta(hours=3)], "rain_mm_h": [4.0]}
    footprints = pd.DataFrame({**footprint, "lat": [LAT[1]], "lon": [LON[1]]})
    inputs = DayInputs(None, footprints, None, None)
    narrow = source_cubes(inputs, DAY, LAT, LON, sr_footprint_radius_km=1.0)["sr"]
    wide = source_cubes(inputs, DAY, LAT, LON, sr_footprint_radius_km=10.0)["sr"]
    assert np.isfinite(narrow[3]).sum() == 1
    assert np.isfinite(wide[3]).sum() == LAT.size * LON.size


def test_source_cubes_name_the_input_in_errors():
    off_grid = _grid({0: 1.0}).assign_coords(lat=LAT + 0.5)
    inputs = DayInputs(None, None, off_grid, None)
    with pytest.raises(ProductInputError, match="sat_rain_hourly"):
        source_cubes(inputs, DAY, LAT, LON, labels={"gr": "g", "sr": "s", "sat": "sat_rain_hourly"})
    with pytest.raises(ProductInputError, match="satellite hourly rain"):
        source_cubes(inputs, DAY, LAT, LON)


def test_gauge_days_keep_complete_stations_and_the_day_only():
    out = gauge_days(_gauge_table(), DAY)
    assert list(out.columns) == list(GAUGE_DAY_COLUMNS)
    assert out.loc["A", "daily_mm"] == 24.0  # the 50 mm ending at 00:00 belongs to the day before
    assert out.loc["A", "n_hours"] == 24
    assert out.loc["B", "n_hours"] == 23 and np.isnan(out.loc["B", "daily_mm"])
    assert (out.loc["A", "lat_deg"], out.loc["A", "lon_deg"]) == (28.01, -80.99)
    relaxed = gauge_days(_gauge_table(), DAY, required_hours=23)
    assert relaxed.loc["B", "daily_mm"] == pytest.approx(11.5)


def test_gauge_days_of_no_table_are_empty():
    for table in (None, pd.DataFrame()):
        out = gauge_days(table, DAY)
        assert out.empty and list(out.columns) == list(GAUGE_DAY_COLUMNS)


def test_withheld_gauge_days_mark_the_recorded_ids():
    attrs = {WITHHELD_GAUGES_ATTR: json.dumps(["B"])}
    gauges, withheld = withheld_gauge_days(attrs, _gauge_table(), DAY)
    assert list(gauges.index) == ["A", "B"]
    assert withheld.dtype == bool and withheld.tolist() == [False, True]
    _, none_withheld = withheld_gauge_days({}, _gauge_table(), DAY)
    assert none_withheld.tolist() == [False, False]
    empty, mask = withheld_gauge_days(attrs, None, DAY)
    assert empty.empty and mask.shape == (0,)


def test_the_verification_grids_the_swath_as_the_fusion_did():
    assert fusion_sr_footprint_radius_km({SR_FOOTPRINT_RADIUS_ATTR: "4.5"}) == 4.5
    assert fusion_sr_footprint_radius_km({}) == SR_FOOTPRINT_RADIUS_KM


def test_truth_relative_path():
    assert truth_relative_path("2009-05-21") == "2009/05/21/truth_rain_20090521.nc"


def test_read_truth_missing_valid_and_corrupt(tmp_path):
    assert read_truth(str(tmp_path / "none.nc")) is None
    path = tmp_path / "truth.nc"
    xr.Dataset(
        {"rain_daily_mm": (("lat", "lon"), np.ones((LAT.size, LON.size)))},
        coords={"lat": LAT, "lon": LON},
    ).to_netcdf(path)
    truth = read_truth(str(path), {})
    assert truth is not None and float(truth["rain_daily_mm"].sum()) == LAT.size * LON.size
    bad = tmp_path / "bad.nc"
    bad.write_bytes(b"not a netcdf file")
    with pytest.raises(ProductInputError, match="unreadable truth"):
        read_truth(str(bad))
