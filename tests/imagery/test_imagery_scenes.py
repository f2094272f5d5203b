"""Synthetic imagery scenes: spectra, clouds, sensor views and the georeferenced NetCDF."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from fusion_ops.imagery import scenes


@pytest.fixture(scope="module")
def views() -> scenes.SensorViews:
    return scenes.synthetic_scene((32, 32), n_bands=128, seed=1)


def test_class_spectra_distinct_and_physical() -> None:
    wl = scenes.wavelengths_nm(128)
    assert wl[0] == 400 and wl[-1] == 2500
    spec = scenes.class_spectra(wl)
    assert spec.shape == (5, 128) and spec.min() > 0 and spec.max() <= 1
    cos = spec @ spec.T / np.outer(np.linalg.norm(spec, axis=1), np.linalg.norm(spec, axis=1))
    off = cos[~np.eye(5, dtype=bool)]
    assert off.max() < 0.995  # every pair of classes is spectrally separable
    veg = spec[scenes.CLASS_NAMES.index("vegetation")]
    red, nir = veg[np.argmin(abs(wl - 670))], veg[np.argmin(abs(wl - 850))]
    assert nir > 3 * red  # red edge
    water = spec[scenes.CLASS_NAMES.index("water")]
    assert water[np.argmin(abs(wl - 1000))] < 0.03


def test_clouds_brighten_and_flatten() -> None:
    wl = scenes.wavelengths_nm(130)
    classes = scenes.land_cover_map((24, 24), seed=3)
    tau = np.zeros((24, 24))
    tau[:, 12:] = 40.0
    clear = scenes.reflectance_cube(classes, wl, None, seed=3)
    cloudy = scenes.reflectance_cube(classes, wl, tau, seed=3)
    assert clear.shape == (130, 24, 24)
    assert np.allclose(cloudy[:, :, :12], clear[:, :, :12])
    thick = cloudy[:, :, 12:]
    assert thick.mean() > 0.8 and thick.std(axis=0).mean() < 0.02
    with pytest.raises(ValueError, match="does not match"):
        scenes.reflectance_cube(classes, wl, tau[:10])
    with pytest.raises(ValueError, match=">= 0"):
        scenes.reflectance_cube(classes, wl, -tau)


def test_sensor_views_shapes(views: scenes.SensorViews) -> None:
    assert views.truth.shape == (128, 32, 32)
    assert views.hs.shape == (128, 8, 8)
    assert views.ms.shape == (len(scenes.MS_BANDS_NM), 8, 8)
    assert views.pan.shape == (1, 32, 32) and views.rgb.shape == (3, 32, 32)
    assert views.ms_truth.shape == (len(scenes.MS_BANDS_NM), 32, 32)
    # PAN is a weighted mean of reflectances: it stays within the cube's range
    assert views.truth.min() <= views.pan.min() and views.pan.max() <= views.truth.max()


def test_custom_camera_response(views: scenes.SensorViews) -> None:
    resp = np.zeros((3, 128))
    resp[0, 10], resp[1, 5], resp[2, 1] = 1, 1, 1
    out = scenes.observe(views.truth, views.wavelengths_nm, camera_response=resp)
    assert np.allclose(out.rgb[0], views.truth[10], atol=1e-6)
    with pytest.raises(ValueError, match="camera response"):
        scenes.observe(views.truth, views.wavelengths_nm, camera_response=resp[:, :5])


def test_netcdf_georeferenced_roundtrip(views: scenes.SensorViews, tmp_path) -> None:
    ds = scenes.scene_to_dataset(views, lat_north_deg=30.0, lon_west_deg=-90.0, pixel_deg=0.01)
    path = scenes.write_scene_netcdf(ds, tmp_path / "sub" / "scene.nc")
    with xr.open_dataset(path) as back:
        assert back["lat"].attrs["units"] == "degrees_north"
        assert back["lat"].values[0] == pytest.approx(29.995)
        assert back["lon"].values[0] == pytest.approx(-89.995)
        assert back["lat_hs"].values[0] == pytest.approx(29.98)
        assert back["hs"].shape == (128, 8, 8)
        np.testing.assert_allclose(back["reflectance"].values, views.truth, rtol=1e-6)
    assert [p.name for p in (tmp_path / "sub").iterdir()] == ["scene.nc"]  # no temporary left
