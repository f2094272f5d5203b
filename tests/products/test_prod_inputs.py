"""Adapters from the chain's outputs to the product grid: hours, swath, truth, error models."""

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from fusion_ops.products import ProductInputError
from fusion_ops.products.inputs import (
    hour_index,
    hourly_cube,
    model_versions,
    source_errors,
    swath_hourly_cube,
    truth_daily_on_grid,
)

LAT = 28.0 + 0.02 * np.arange(6)
LON = -81.0 + 0.02 * np.arange(5)
DAY = "2009-05-20"


def test_hour_index_conventions():
    starts = pd.date_range(DAY, periods=24, freq="h")
    assert hour_index(starts, DAY, "start").tolist() == list(range(24))
    ends = starts + pd.Timedelta(hours=1)
    assert hour_index(ends, DAY, "end").tolist() == list(range(24))
    assert hour_index(ends, DAY, "auto").tolist() == list(range(24))  # ends on next midnight
    assert hour_index(starts, DAY, "auto").tolist() == list(range(24))
    outside = pd.DatetimeIndex(["2009-05-19 23:30", "2009-05-21 00:30"])
    assert hour_index(outside, DAY, "start").tolist() == [-1, -1]
    with pytest.raises(ProductInputError, match="label"):
        hour_index(starts, DAY, "middle")


def _grid(n_hours=24, **attrs):
    times = pd.date_range(DAY, periods=n_hours, freq="h")
    data = np.arange(n_hours, dtype=float)[:, None, None] * np.ones((n_hours, LAT.size, LON.size))
    return xr.Dataset(
        {"rain_rate": (("time", "lat", "lon"), data)},
        coords={"time": times, "lat": LAT, "lon": LON},
        attrs=attrs,
    )


def test_hourly_cube_places_hours_and_respects_coverage():
    ds = _grid(20)
    cover = np.ones((LAT.size, LON.size), bool)
    cover[0, 0] = False
    ds["coverage"] = (("lat", "lon"), cover)
    cube = hourly_cube(ds, DAY, LAT, LON, "gr")
    assert cube.shape == (24, LAT.size, LON.size)
    assert cube[5, 1, 1] == 5.0 and np.isnan(cube[22]).all()
    assert np.isnan(cube[:, 0, 0]).all()
    assert hourly_cube(None, DAY, LAT, LON, "gr") is None
    assert hourly_cube(_grid(0), DAY, LAT, LON, "gr") is None


def test_hourly_cube_rejects_other_grids_and_variables():
    with pytest.raises(ProductInputError, match="not the product grid"):
        hourly_cube(_grid(), DAY, LAT + 0.01, LON, "gr_rain_hourly")
    with pytest.raises(ProductInputError, match="no rain-rate variable"):
        hourly_cube(_grid().rename(rain_rate="reflectivity"), DAY, LAT, LON, "gr_rain_hourly")
    bad = _grid()
    bad["rain_rate"][:] = -1.0
    with pytest.raises(ProductInputError, match="negative"):
        hourly_cube(bad, DAY, LAT, LON, "sat_rain_hourly")


def test_swath_cube_grids_footprints_in_their_hour():
    fp = pd.DataFrame(
        {
            "time": pd.to_datetime(["2009-05-20 14:20", "2009-05-20 14:21"], utc=True),
            "lat": [28.04, 28.06],
            "lon": [-80.96, -80.96],
            "rain_mm_h": [4.0, 6.0],
        }
    )
    cube = swath_hourly_cube(fp, DAY, LAT, LON, radius_km=1.5)
    assert np.isfinite(cube[14]).any() and not np.isfinite(np.delete(cube, 14, axis=0)).any()
    assert cube[14, 2, 2] == 4.0 and cube[14, 3, 2] == 6.0
    assert np.isnan(cube[14, 0, 4])
    assert swath_hourly_cube(fp.iloc[0:0], DAY, LAT, LON) is None
    with pytest.raises(ProductInputError, match="no rain-rate column"):
        swath_hourly_cube(fp.drop(columns="rain_mm_h"), DAY, LAT, LON)


def test_truth_interpolated_from_offset_grid():
    t_lat = LAT[:-1] + 0.01
    t_lon = LON[:-1] + 0.01
    field = np.add.outer(t_lat * 100, t_lon * 10)
    truth = xr.Dataset(
        {"rain_daily_mm": (("lat", "lon"), field)}, coords={"lat": t_lat, "lon": t_lon}
    )
    out = truth_daily_on_grid(truth, LAT, LON)
    assert np.isnan(out[0]).all() and np.isnan(out[:, 0]).all()  # outside the truth grid
    assert out[2, 2] == pytest.approx(LAT[2] * 100 + LON[2] * 10)


def test_source_errors_from_evaluation_and_defaults():
    errors = source_errors({"mlp1": {"rmse": 1.0}, "mlp2": {"rmse": 2.0}, "mlp3": {"rmse": 3.0}})
    assert errors.sr_std_mm_h == pytest.approx(np.sqrt(1 + 4 + 4))  # hypot + 2 mm/h sampling
    assert errors.sat_std_mm_h == pytest.approx(np.hypot(3.0, 1.0))
    assert errors.origin == {"mlp1": "evaluation", "mlp2": "evaluation", "mlp3": "evaluation"}
    fallback = source_errors(None)
    assert fallback.origin["mlp2"].startswith("default")
    by_range = source_errors(
        {"mlp1": {"rmse": 1.0, "rmse_by_range": {"range_km": [20, 120], "rmse": [0.8, 2.0]}}}
    )
    # two bins fix a + b (r/100)^2 exactly: a = 0.8 - 0.04 b, 2.0 = a + 1.44 b
    b = 1.2 / 1.4
    assert by_range.gr_model.std_mm_h(np.array([70.0]))[0] == pytest.approx(
        0.8 - 0.04 * b + 0.49 * b, rel=1e-3
    )
    assert by_range.origin["mlp1"] == "evaluation by range bin (quadratic fit)"
    # a lucky outer bin does not make the far radar look better than the near one
    noisy = source_errors(
        {
            "mlp1": {
                "rmse_by_range": {
                    "range_km": [25, 75, 125, 175],
                    "rmse": [0.1, 0.4, 0.2, 0.05],
                    "n": [300, 500, 200, 20],
                }
            }
        }
    )
    far, near = noisy.gr_model.std_mm_h(np.array([175.0, 25.0]))
    assert far >= near > 0


def test_model_versions_from_attributes():
    gr = _grid(model="mlp1", model_version="abc")
    fp = pd.DataFrame()
    fp.attrs["model_versions"] = '{"mlp2": "def"}'
    assert model_versions(gr, fp, None) == {"mlp1": "abc", "mlp2": "def"}
