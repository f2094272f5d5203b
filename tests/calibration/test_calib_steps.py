"""The per-day calibration steps on tiny inputs: regridding, solar zenith, GR volumes read block by
block, the swath and satellite products with their fallbacks, sample summaries."""

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from upath import UPath

from fusion_ops.calibration import apply as A
from fusion_ops.calibration import features as F
from fusion_ops.calibration import samples as S
from fusion_ops.calibration import steps
from fusion_ops.calibration.versioning import save_fallback_bytes
from fusion_ops.grid import ProductGrid

SITE = (28.113, -80.654)
LAT = np.round(28.0 + 0.05 * np.arange(4), 4)
LON = np.round(-80.8 + 0.05 * np.arange(5), 4)
GRID = ProductGrid.from_centres(LAT[0], LAT[-1], LON[0], LON[-1], 0.05)


def _fallback(name: str, fallback: str) -> bytes:
    return save_fallback_bytes(name, fallback, "test", {"window": []})


# --------------------------------------------------------------------------- regridding


def _gr_hourly() -> xr.Dataset:
    rain = np.arange(2 * LAT.size * LON.size, dtype=np.float32).reshape(2, LAT.size, LON.size)
    cover = np.ones((LAT.size, LON.size), bool)
    cover[0, :] = False
    return xr.Dataset(
        {"rain_rate": (("time", "lat", "lon"), rain), "coverage": (("lat", "lon"), cover)},
        coords={
            "time": pd.date_range("2009-05-20T14", periods=2, freq="h").to_numpy(),
            "lat": LAT,
            "lon": LON,
        },
    )


def test_gr_on_the_same_grid_is_unchanged():
    gr = _gr_hourly()
    assert S.gr_hourly_on_grid(gr, xr.Dataset(coords={"lat": LAT, "lon": LON})) is gr


def test_gr_on_a_coarser_grid_takes_the_nearest_cell():
    gr = _gr_hourly()
    # every second cell, nudged off the centres, and one latitude beyond the GR grid
    lat = np.r_[LAT[::2] + 0.01, 28.5]
    lon = LON[::2] + np.array([0.01, 0.01, -0.01])
    out = S.gr_hourly_on_grid(gr, xr.Dataset(coords={"lat": lat, "lon": lon}))
    expected = gr["rain_rate"].values[:, ::2, ::2]
    np.testing.assert_array_equal(out["rain_rate"].values[:, :2], expected)
    assert np.isnan(out["rain_rate"].values[:, 2]).all()
    assert out["coverage"].dtype == bool
    assert out["coverage"].values.tolist() == [[False] * 3, [True] * 3, [False] * 3]


# --------------------------------------------------------------------------- solar zenith


def test_solar_zenith_of_rows_known_values():
    rows = pd.DataFrame(
        {
            "time": pd.to_datetime(
                ["2009-06-21T12:00", "2009-06-21T12:00", "2009-06-21T00:00"], utc=True
            ),
            "lat": [23.44, 0.0, 0.0],
            "lon": [0.0, 180.0, 0.0],
        }
    )
    sza = F.solar_zenith_of_rows(rows)
    assert sza.dtype == np.float32
    # noon on the tropic of Cancer at the June solstice: the sun overhead (equation of time
    # -1.6 min: 0.4 degrees of hour angle)
    assert sza[0] < 1.0
    # midnight on the equator: 180 degrees minus the declination (23.44)
    assert sza[1] == pytest.approx(156.56, abs=0.5)
    assert sza[2] == pytest.approx(156.56, abs=0.5)
    np.testing.assert_array_equal(
        sza[:2], F.solar_zenith_deg(rows["time"][0], [23.44, 0], [0, 180])
    )


# --------------------------------------------------------------------------- GR volumes


def test_nan_stats():
    stats = A.nan_stats(np.array([np.nan, 0.0, 2.0, 4.0]))
    assert stats == {"mean": 2.0, "max": 4.0, "wet_fraction": pytest.approx(2 / 3)}
    empty = A.nan_stats(np.full(3, np.nan))
    assert np.isnan(empty["mean"]) and np.isnan(empty["max"]) and empty["wet_fraction"] == 0.0


def _grid_profiles(n_volumes: int = 5, site_attrs: bool = True) -> xr.Dataset:
    rng = np.random.default_rng(0)
    heights = np.asarray(F.PROFILE_HEIGHTS_M)
    dbz = rng.uniform(5, 45, (n_volumes, heights.size, LAT.size, LON.size)).astype(np.float32)
    dbz[:, :, 0, 0] = np.nan  # no echo anywhere above one cell
    times = pd.date_range("2009-05-20T14:05", periods=n_volumes, freq="5min").to_numpy()
    ds = xr.Dataset(
        {"reflectivity": (("volume", "height", "lat", "lon"), dbz)},
        coords={
            "time": ("volume", times),
            "site_id": ("volume", np.full(n_volumes, "KMLB")),
            "height": heights,
            "lat": LAT,
            "lon": LON,
        },
    )
    if site_attrs:
        ds.attrs.update(site_latitude_deg=SITE[0], site_longitude_deg=SITE[1])
    return ds


def test_as_time_dim_and_site():
    ds = _grid_profiles(2)
    assert A.as_time_dim(ds)["reflectivity"].dims == ("time", "height", "lat", "lon")
    assert A.as_time_dim(A.as_time_dim(ds)).sizes["time"] == 2
    assert A.profile_site(ds) == SITE
    # no attributes: the NEXRAD site table gives KMLB's position
    lat, lon = A.profile_site(_grid_profiles(1, site_attrs=False))
    assert lat == pytest.approx(28.113, abs=0.01) and lon == pytest.approx(-80.654, abs=0.01)
    with pytest.raises(A.ApplyInputError, match="neither site attributes nor a site_id"):
        A.profile_site(_grid_profiles(1, site_attrs=False).drop_vars("site_id"))


@pytest.mark.parametrize("chunk", [1, 2, 5])
def test_blockwise_volumes_equal_the_whole_day(tmp_path, chunk):
    ds = _grid_profiles(5, site_attrs=False)
    path = tmp_path / "profiles.nc"
    chunks = (chunk, ds.sizes["height"], LAT.size, LON.size)
    ds.to_netcdf(path, engine="h5netcdf", encoding={"reflectivity": {"chunksizes": chunks}})
    lat, lon = A.profile_site(ds)  # from the site id: the file has no site attributes
    whole = A.gr_rain_volumes(
        A.as_time_dim(ds).assign_attrs(site_latitude_deg=lat, site_longitude_deg=lon), None
    )
    with xr.open_dataset(path, engine="h5netcdf") as lazy:
        out = A.gr_rain_volumes_blockwise(lazy, None, max_block_volumes=2)
    np.testing.assert_array_equal(out["rain_rate"].values, whole["rain_rate"].values)
    np.testing.assert_array_equal(out["coverage"].values, whole["coverage"].values)
    assert out["rain_rate"].dtype == np.float32 and out.sizes["time"] == 5
    assert out.attrs["site_latitude_deg"] == lat


def test_gr_rain_volumes_step_from_a_stored_file(tmp_path):
    ds = _grid_profiles(3)
    ds.to_netcdf(tmp_path / "p.nc", engine="h5netcdf")
    out, summary = steps.gr_rain_volumes(UPath(tmp_path / "p.nc"), _fallback("mlp1", "zr_300_1.4"))
    assert out.sizes["time"] == 3
    assert out.attrs["model"] == "mlp1" and out.attrs["model_fallback"] == "zr_300_1.4"
    assert out.attrs["site_latitude_deg"] == SITE[0]
    assert out["rain_rate"].encoding["dtype"] == "uint16"
    assert out["rain_rate"].encoding["scale_factor"] == 0.01
    assert summary["volumes"] == 3 and summary["fallback"] == "zr_300_1.4"
    assert summary["model_version"] == out.attrs["model_version"]
    stats = A.nan_stats(out["rain_rate"].values)
    assert summary["mean_rain_mm_h"] == stats["mean"] and summary["mean_rain_mm_h"] > 0


def test_gr_rain_volumes_step_of_an_empty_day_keeps_the_grid(tmp_path):
    _grid_profiles(0).to_netcdf(tmp_path / "p.nc", engine="h5netcdf")
    out, summary = steps.gr_rain_volumes(UPath(tmp_path / "p.nc"), _fallback("mlp1", "zr_300_1.4"))
    assert out.sizes["time"] == 0 and out["coverage"].shape == (LAT.size, LON.size)
    assert summary["volumes"] == 0 and np.isnan(summary["mean_rain_mm_h"])


def test_gr_rain_hourly_step_carries_the_model_attributes():
    times = pd.date_range("2009-05-20T14:00", periods=12, freq="5min").to_numpy()
    volumes = xr.Dataset(
        {
            "rain_rate": (("time", "lat", "lon"), np.full((12, 2, 2), 3.0, np.float32)),
            "coverage": (("lat", "lon"), np.ones((2, 2), bool)),
        },
        coords={"time": times, "lat": LAT[:2], "lon": LON[:2]},
        attrs={"model_version": "v1", "model": "mlp1"},
    )
    out, summary = steps.gr_rain_hourly(volumes)
    assert out.attrs["model"] == "mlp1" and out["rain_rate"].encoding["zlib"]
    assert summary == {
        "hours": 1,
        "model_version": "v1",
        "mean_rain_mm_h": 3.0,
        "max_rain_mm_h": 3.0,
    }


# --------------------------------------------------------------------------- SR, ABI, samples


def _footprints(n: int) -> xr.Dataset:
    heights = np.asarray(F.PROFILE_HEIGHTS_M)
    return xr.Dataset(
        {
            "zku_dbz": (("footprint", "height"), np.full((n, heights.size), 30.0, np.float32)),
            "precip_rate_near_surface_mm_h": ("footprint", np.linspace(0, 4, n)),
            "precip_type": ("footprint", np.full(n, 2, np.int8)),
        },
        coords={
            "lat": ("footprint", np.full(n, 28.0)),
            "lon": ("footprint", np.full(n, -80.7)),
            "time": ("footprint", np.full(n, np.datetime64("2009-05-20T15:02", "ns"))),
            "height": heights,
        },
    )


def test_sr_rain_swath_fallback_is_the_standard_product():
    out, summary = steps.sr_rain_swath(_footprints(5), _fallback("mlp2", "sr_standard"))
    assert out["rain_mm_h"].dtype == np.float32
    np.testing.assert_allclose(out["rain_mm_h"], np.linspace(0, 4, 5), rtol=1e-6)
    assert out["fallback"].all() and out.attrs["model"] == "mlp2"
    assert summary["footprints"] == 5 and summary["fallback"] == "sr_standard"
    assert summary["max_rain_mm_h"] == pytest.approx(4.0)
    empty, summary = steps.sr_rain_swath(_footprints(0), _fallback("mlp2", "sr_standard"))
    assert len(empty) == 0 and summary["max_rain_mm_h"] == 0.0


def test_mlp2_samples_without_footprints_still_have_the_target_column():
    gr = xr.Dataset(attrs={"model_version": "v9"})
    out, summary = steps.mlp2_samples(_footprints(0), gr)
    assert "gr_rain_mm_h" in out and len(out) == 0
    assert summary == {"footprints": 0, "matched": 0, "gr_model_version": "v9"}


def _abi(lat, lon, hours: int = 2) -> xr.Dataset:
    tb = np.full((hours, lat.size, lon.size), 230.0, np.float32)
    times = pd.date_range("2009-05-20T14", periods=hours, freq="h").to_numpy()
    return xr.Dataset(
        {"bt_c14": (("time", "lat", "lon"), tb), "other": (("time", "lat", "lon"), tb)},
        coords={"time": times, "lat": lat, "lon": lon},
    )


def test_mlp3_samples_step_adds_the_solar_zenith():
    gr = _gr_hourly()
    out, summary = steps.mlp3_samples(_abi(LAT, LON), gr)
    covered = int(gr["coverage"].sum())
    # every covered cell rains here (but the first hour's first cell, 0 mm/h: on the lattice
    # or not), in both hours
    assert summary["features"] == ["bt_c14"]
    assert summary["pairs"] == len(out) and 2 * covered - 1 <= len(out) <= 2 * covered
    assert summary["raining_pairs"] == int((out["gr_rain_mm_h"] > 0).sum())
    assert out["solar_zenith_deg"].dtype == np.float32
    np.testing.assert_array_equal(out["solar_zenith_deg"].to_numpy(), F.solar_zenith_of_rows(out))
    empty, summary = steps.mlp3_samples(_abi(LAT, LON, hours=0), gr)
    assert empty.empty and summary == {"pairs": 0, "raining_pairs": 0, "features": ["bt_c14"]}


def test_sat_rain_hourly_on_the_product_grid():
    model = _fallback("mlp3", "tb_curve")
    out, summary = steps.sat_rain_hourly(_abi(LAT[::2], LON[::2]), model, GRID)
    assert out["rain_rate"].shape == (2, LAT.size, LON.size)
    assert np.allclose(out["lat"], LAT) and out["time"].attrs["label"] == "start"
    assert out.attrs["model_fallback"] == "tb_curve" and out["rain_rate"].attrs["units"] == "mm h-1"
    assert summary["hours"] == 2 and summary["fallback"] == "tb_curve"
    assert summary["mean_rain_mm_h"] == pytest.approx(float(np.nanmean(out["rain_rate"])))
    empty, summary = steps.sat_rain_hourly(_abi(LAT, LON, hours=0), model, GRID)
    assert empty["rain_rate"].shape == (0, LAT.size, LON.size) and summary["hours"] == 0


def test_mlp1_samples_step_without_inputs():
    out, summary = steps.mlp1_samples(None, pd.DataFrame())
    assert out.empty and {"group", "gauge_rate_mm_h", "heldout"} <= set(out.columns)
    assert set(summary.values()) == {0} and len(summary) == 5
