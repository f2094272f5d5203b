"""ABI L1b writer: satpy's abi_l1b reader loads what we write, and the real RadM1 files alike."""

from __future__ import annotations

import io
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path

import netCDF4
import numpy as np
import pytest

from fusion_ops.simulate.formats.abi_l1b import (
    ABI_BANDS,
    AbiWriteError,
    abi_filename,
    abi_lat_lon,
    abi_sector_grid,
    brightness_temperature_to_radiance,
    write_abi_l1b,
)

satpy = pytest.importorskip("satpy")

START = datetime(2009, 5, 20, 18, 1, 2, 300000, tzinfo=UTC)
END = START + timedelta(seconds=27.6)
CENTER = (28.113, -80.654)  # KMLB
BANDS = (2, 5, 7, 13)


def load_abi(files: list[Path], channels: list[str], calibration: str | None = None):
    """The one code path the pipeline uses: satpy's abi_l1b reader."""
    scene = satpy.Scene(reader="abi_l1b", filenames=[str(f) for f in files])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if calibration:
            scene.load(channels, calibration=calibration)
        else:
            scene.load(channels)
    return scene


def _bt(rad: np.ndarray, band: int) -> np.ndarray:
    from fusion_ops.simulate.formats.abi_l1b import _PLANCK

    fk1, fk2, bc1, bc2 = _PLANCK["G16"][band - 7]
    return (fk2 / np.log(fk1 / rad + 1.0) - bc1) / bc2


def _values(band: int, shape: tuple[int, int]) -> np.ndarray:
    rng = np.random.default_rng(band)
    v = rng.uniform(195.0, 310.0, shape) if band >= 7 else rng.uniform(0.0, 1.0, shape)
    v[:3, :5] = np.nan
    return v


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    out = tmp_path_factory.mktemp("abi")
    files, truth, grids = [], {}, {}
    for band in BANDS:
        grid = abi_sector_grid(*CENTER, width_km=300, band=band)
        values = _values(band, grid.shape)
        path = out / abi_filename(band, START, END, END + timedelta(seconds=5))
        write_abi_l1b(path, band, values, grid, START, END)
        files.append(path)
        truth[band], grids[band] = values, grid
    scene = load_abi(files, [f"C{b:02d}" for b in BANDS])
    return files, truth, grids, scene


def test_filename_matches_real_pattern():
    name = abi_filename(13, START, END, END + timedelta(seconds=5))
    assert name == ("OR_ABI-L1b-RadM1-M6C13_G16_s20091401801023_e20091401801299_c20091401801349.nc")


def test_shapes_per_band_and_nested_extent(written):
    _, _, _, scene = written
    assert scene["C02"].shape == (600, 600)  # 0.5 km
    assert scene["C05"].shape == (300, 300)  # 1 km
    assert scene["C07"].shape == scene["C13"].shape == (150, 150)  # 2 km
    extents = {c: scene[c].attrs["area"].area_extent for c in ("C02", "C05", "C13")}
    np.testing.assert_allclose(extents["C02"], extents["C13"], atol=1e-3)
    np.testing.assert_allclose(extents["C05"], extents["C13"], atol=1e-3)
    width_m = extents["C13"][2] - extents["C13"][0]
    assert width_m == pytest.approx(150 * 56e-6 * 35786023.0, rel=1e-6)
    assert scene["C13"].attrs["platform_name"] == "GOES-16"
    assert scene["C13"].attrs["scene_id"] == "Mesoscale"
    assert scene.start_time == START.replace(tzinfo=None)


def test_centre_lat_lon(written):
    _, _, grids, scene = written
    area = scene["C13"].attrs["area"]
    lon, lat = area.get_lonlats()
    # the sector centre is the corner shared by the four middle pixels: within one 2 km pixel
    c_lat = lat[74:76, 74:76].mean()
    c_lon = lon[74:76, 74:76].mean()
    assert c_lat == pytest.approx(CENTER[0], abs=0.03)
    assert c_lon == pytest.approx(CENTER[1], abs=0.03)
    my_lat, my_lon = abi_lat_lon(grids[13])
    np.testing.assert_allclose(my_lat, lat, atol=1e-6)
    np.testing.assert_allclose(my_lon, lon, atol=1e-6)


def test_brightness_temperature_round_trip(written):
    _, truth, _, scene = written
    for band in (7, 13):
        got = scene[f"C{band:02d}"].values
        want = truth[band]
        assert np.isnan(got[:3, :5]).all()
        ok = np.isfinite(want)
        # half a count either side in radiance, mapped through the exact inverse Planck law
        half = 0.5 * ABI_BANDS[band].rad_scale
        rad = brightness_temperature_to_radiance(want, band)
        with np.errstate(invalid="ignore"):
            lo, hi = _bt(rad - half, band), _bt(rad + half, band)
        tol = np.fmax(np.abs(lo - want), np.abs(hi - want))
        tol = np.where(np.isnan(lo), np.inf, tol) + 1e-3  # below one count: unresolved
        err = np.abs(got - want)
        assert (err[ok] <= tol[ok]).all(), (band, float(np.nanmax(err - tol)))
        assert scene[f"C{band:02d}"].attrs["units"] == "K"


def test_reflectance_round_trip(written):
    files, truth, _, scene = written
    for band in (2, 5):
        got = scene[f"C{band:02d}"].values / 100.0  # satpy reports percent
        want = truth[band]
        assert np.isnan(got[:3, :5]).all()
        with netCDF4.Dataset(files[BANDS.index(band)]) as ds:
            kappa0 = float(ds["kappa0"][...])
            d = float(ds["earth_sun_distance_anomaly_in_AU"][...])
            esun = float(ds["esun"][...])
        assert kappa0 == pytest.approx(np.pi * d * d / esun, rel=1e-5)
        assert d == pytest.approx(1.0124, abs=0.002)  # 20 May
        tol = 0.5 * ABI_BANDS[band].rad_scale * kappa0 + 1e-5
        ok = np.isfinite(want)
        assert np.nanmax(np.abs(got - want)[ok]) <= tol


def test_packed_layout(written):
    files, _, grids, _ = written
    with netCDF4.Dataset(files[BANDS.index(13)]) as ds:
        ds.set_auto_maskandscale(False)
        rad = ds["Rad"]
        assert rad.dtype == np.int16 and rad._Unsigned == "true"
        assert rad._FillValue == 4095 and list(rad.valid_range) == [0, 4094]
        assert rad.scale_factor == np.float32(0.04572892)
        assert ds["DQF"][:3, :5].tolist() == [[3] * 5] * 3
        assert rad[:3, :5].tolist() == [[4095] * 5] * 3
        p = ds["goes_imager_projection"]
        assert p.perspective_point_height == 35786023.0 and p.sweep_angle_axis == "x"
        assert p.semi_major_axis == 6378137.0 and p.semi_minor_axis == 6356752.31414
        assert p.longitude_of_projection_origin == -75.0
        assert ds["x"].dtype == np.int16 and ds["x"].scale_factor == np.float32(56e-6)
        assert ds["y"].scale_factor == np.float32(-56e-6)
        x = ds["x"][:] * np.float64(ds["x"].scale_factor) + ds["x"].add_offset
        np.testing.assert_allclose(x, grids[13].x_rad, atol=1e-7)
        assert ds["band_id"][0] == 13
        assert ds.platform_ID == "G16" and ds.orbital_slot == "GOES-East"
        assert ds["t"][...] == pytest.approx(
            (START - datetime(2000, 1, 1, 12, tzinfo=UTC)).total_seconds() + 13.8
        )
        assert ds.time_coverage_start == "2009-05-20T18:01:02.3Z"


def test_same_names_as_real_file(written, shared_data):
    files, _, _, _ = written
    real = sorted((shared_data / "satellite").glob("*M6C13_G17*.nc"))[0]
    with netCDF4.Dataset(real) as r, netCDF4.Dataset(files[BANDS.index(13)]) as s:
        star_looks = {"t_star_look", "band_wavelength_star_look", "star_id"}
        assert set(r.variables) - star_looks <= set(s.variables)
        assert set(r.ncattrs()) - {"LUT_Filenames", "coordinates"} <= set(s.ncattrs())
        for name in ("Rad", "DQF", "goes_imager_projection", "planck_fk1", "esun", "kappa0"):
            assert set(r[name].ncattrs()) - {"coordinates"} <= set(s[name].ncattrs()), name


def test_g17_constants_match_real_files(tmp_path, shared_data):
    for band in (2, 13):
        real = sorted((shared_data / "satellite").glob(f"*M6C{band:02d}_G17*.nc"))[0]
        grid = abi_sector_grid(39.0, -120.0, 40, band, satellite_lon_deg=-137.0)
        path = tmp_path / abi_filename(band, START, END, END, platform="G17")
        write_abi_l1b(
            path, band, np.full(grid.shape, 0.5 if band < 7 else 250.0), grid, START, END, "G17"
        )
        with netCDF4.Dataset(real) as r, netCDF4.Dataset(path) as s:
            r.set_auto_maskandscale(False)
            s.set_auto_maskandscale(False)
            for name in ("planck_fk1", "planck_fk2", "planck_bc1", "planck_bc2", "esun"):
                assert float(s[name][...]) == pytest.approx(float(r[name][...]), rel=1e-6), name
            for att in ("scale_factor", "add_offset", "_FillValue"):
                assert getattr(s["Rad"], att) == getattr(r["Rad"], att)
            assert s.orbital_slot == r.orbital_slot == "GOES-West"


def test_g16_planck_constants_are_consistent():
    c1, c2 = 1.191042e-5, 1.4387752  # mW/(m2 sr cm-4), cm K
    for band in range(7, 17):
        rad = brightness_temperature_to_radiance(np.array([250.0]), band)
        assert 0 < rad[0] < 200
    from fusion_ops.simulate.formats.abi_l1b import _PLANCK

    for fk1, fk2, _, _ in _PLANCK["G16"]:
        nu = fk2 / c2
        assert fk1 == pytest.approx(c1 * nu**3, rel=3e-3)


def test_write_to_stream_and_errors():
    grid = abi_sector_grid(*CENTER, width_km=20, band=13)
    buf = io.BytesIO()
    write_abi_l1b(buf, 13, np.full(grid.shape, 250.0), grid, START, END)
    with netCDF4.Dataset("mem.nc", memory=buf.getvalue()) as ds:
        assert ds["Rad"].shape == (10, 10)
        assert ds.scene_id == "Mesoscale"
    with pytest.raises(AbiWriteError, match="values shape"):
        write_abi_l1b(io.BytesIO(), 13, np.zeros((3, 3)), grid, START, END)
    with pytest.raises(AbiWriteError, match="grid is for band 13"):
        write_abi_l1b(io.BytesIO(), 14, np.zeros(grid.shape), grid, START, END)
    with pytest.raises(AbiWriteError, match="band 17"):
        abi_sector_grid(*CENTER, 20, 17)


def test_real_radm1_files_load_through_same_path(shared_data):
    sat = shared_data / "satellite"
    files = sorted(sat.glob("OR_ABI-L1b-RadM1-M6C0[25]_G17*.nc")) + sorted(
        sat.glob("OR_ABI-L1b-RadM1-M6C13_G17*.nc")
    )
    scene = load_abi(files, ["C02", "C05", "C13"])
    assert scene["C02"].shape == (2000, 2000)
    assert scene["C05"].shape == (1000, 1000)
    assert scene["C13"].shape == (500, 500)
    bt = scene["C13"].values
    assert float(np.nanmin(bt)) == pytest.approx(217.0, abs=0.1)
    assert float(np.nanmax(bt)) == pytest.approx(286.5, abs=0.1)
    assert scene["C13"].attrs["platform_name"] == "GOES-17"
