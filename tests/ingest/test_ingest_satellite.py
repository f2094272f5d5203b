"""ABI L1b through satpy: native bands, hourly features on the product grid, bad files."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from fusion_ops.grid import ProductGrid
from fusion_ops.readers.satellite import hourly_features, read_abi_native, scan_start


def _band(shared_data, ch):
    return str(next((shared_data / "satellite").glob(f"*M6{ch}_*.nc")))


@pytest.fixture(scope="module")
def native(shared_data):
    files = [_band(shared_data, c) for c in ("C01", "C02", "C13")]
    return read_abi_native(files)


def test_native_resolutions_and_calibration(native):
    bands, quarantine = native
    assert not quarantine
    assert bands["C02"].shape == (2000, 2000)
    assert bands["C01"].shape == (1000, 1000)
    assert bands["C13"].shape == (500, 500)
    c13 = bands["C13"].values
    assert float(np.nanmin(c13)) == pytest.approx(217.0, abs=0.1)
    assert float(np.nanmax(c13)) == pytest.approx(286.5, abs=0.1)
    assert bands["C13"].attrs["units"] == "K"
    assert bands["C02"].attrs["calibration"] == "reflectance"
    assert bands["C02"].attrs["resolution_m"] == 500.0


def test_scan_time_from_name(shared_data):
    t = scan_start(_band(shared_data, "C13"))
    assert t.isoformat() == "2019-12-01T10:27:27+00:00"


def test_hourly_features_and_bad_files(shared_data, tmp_path):
    c13 = _band(shared_data, "C13")
    data = Path(c13).read_bytes()
    name13 = c13.rsplit("/", 1)[-1]
    # bad copies of C13 with names of a different scan time, so they form their own scans
    trunc = tmp_path / name13.replace("s20193351027275", "s20193351028275")
    trunc.write_bytes(data[: len(data) // 2])
    cor = tmp_path / name13.replace("s20193351027275", "s20193351029275")
    cor.write_bytes(data[:8] + b"\x00" * 3000 + data[3008:])
    wrong = tmp_path / "not_an_abi_file.nc"
    shutil.copy(c13, wrong)
    files = [c13, _band(shared_data, "C14"), str(trunc), str(cor), str(wrong)]
    grid = ProductGrid.from_centres(36.0, 38.0, -121.0, -119.0, 0.1)
    feats, quarantine = hourly_features(files, grid)
    assert {q.file for q in quarantine} == {str(trunc), str(cor), str(wrong)}
    assert all(q.reader == "abi_l1b" and q.reason for q in quarantine)
    assert feats.sizes == {"time": 1, "lat": 21, "lon": 21}
    assert str(feats.time.values[0]).startswith("2019-12-01T10:00")
    bt = feats["bt_c13"].values
    assert np.isfinite(bt).all()
    assert float(bt.min()) >= 217.0 and float(bt.max()) <= 286.5
    assert int(feats["n_scenes"].values[0]) == 1
    # the split-window difference of a real night scene is small
    assert float(np.abs(feats["bt_c13"] - feats["bt_c14"]).median()) < 5.0


def test_day_without_imagery_is_empty():
    grid = ProductGrid.from_centres(36.0, 37.0, -121.0, -120.0, 0.5)
    feats, quarantine = hourly_features([], grid)
    assert feats.sizes["time"] == 0 and not quarantine


def test_cached_nearest_resampling_equals_satpy_resample(shared_data):
    import glob
    import warnings

    from satpy import Scene

    from fusion_ops.grid import ProductGrid
    from fusion_ops.readers import satellite

    files = sorted(glob.glob(str(shared_data / "satellite" / "*C0[27]_*.nc")))
    scn = Scene(reader="abi_l1b", filenames=files)
    scn.load(["C02", "C07"])
    grid = ProductGrid.from_centres(36.0, 40.0, -123.0, -118.0, 0.05)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = scn.resample(
            satellite.grid_area(grid), resampler="nearest", radius_of_influence=5000.0
        )
    ours = satellite.scene_on_grid(scn, grid)
    again = satellite.scene_on_grid(scn, grid)  # served from the cached index map
    for name, var in (("C02", "refl_c02"), ("C07", "bt_c07")):
        expected = np.asarray(reference[name].values)[::-1]
        assert np.isfinite(expected).sum() > 1000
        np.testing.assert_array_equal(ours[var].values, expected)
        np.testing.assert_array_equal(again[var].values, expected)
