"""ABI files of a day: the product fallback, the platform filter, the scan pick, the feature grid."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from fusion_ops.grid import ProductGrid
from fusion_ops.readers.satellite import (
    ABI_PRODUCTS,
    abi_day_files,
    c13_coverage,
    feature_figures,
    feature_grid,
    files_by_scan,
    native_scene_near,
    nearest_scan,
    scene_figures,
)

DAY = dt.date(2009, 5, 20)  # day of year 140


def _name(product: str, channel: str, platform: str, hhmmss: str) -> str:
    sector = product[-1]
    start = f"2009140{hhmmss}0"
    return f"OR_ABI-L1b-Rad{sector}-M6{channel}_{platform}_s{start}_e{start}_c{start}.nc"


def _touch(root, product: str, channel: str, platform: str, hhmmss: str) -> str:
    folder = root / product / "2009" / "140" / hhmmss[:2]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / _name(product, channel, platform, hhmmss)
    path.write_bytes(b"")
    return str(path)


@pytest.fixture()
def listing(tmp_path):
    """RadC of G17 only, RadM and RadF of G16: "auto" for G16 falls back to RadM."""
    _touch(tmp_path, "ABI-L1b-RadC", "C13", "G17", "120000")
    radm = [
        _touch(tmp_path, "ABI-L1b-RadM", ch, "G16", t)
        for t in ("060000", "170000")
        for ch in ("C13", "C02")
    ]
    radf = _touch(tmp_path, "ABI-L1b-RadF", "C13", "G16", "120000")
    (tmp_path / "ABI-L1b-RadM" / "2009" / "140" / "06" / "notes.nc").write_bytes(b"")
    return tmp_path, sorted(radm), radf


def test_products_in_fallback_order():
    assert ABI_PRODUCTS == ("ABI-L1b-RadC", "ABI-L1b-RadM", "ABI-L1b-RadF")


def test_auto_takes_the_first_product_with_files_of_the_platform(listing):
    root, radm, radf = listing
    assert abi_day_files(str(root), DAY, "auto", "G16") == radm
    assert [f.rsplit("/", 1)[-1] for f in abi_day_files(str(root), DAY, "auto", "G17")] == [
        _name("ABI-L1b-RadC", "C13", "G17", "120000")
    ]
    assert abi_day_files(str(root), DAY, "ABI-L1b-RadF", "G16", {}) == [radf]
    # a named product never falls back
    assert abi_day_files(str(root), DAY, "ABI-L1b-RadC", "G16") == []
    assert abi_day_files(str(root), DAY, "auto", "G18") == []


def test_files_by_scan_groups_by_start(listing):
    _, radm, _ = listing
    by_scan = files_by_scan([*radm, "not_an_abi_file.nc"])
    t06 = pd.Timestamp("2009-05-20T06:00:00Z")
    t17 = pd.Timestamp("2009-05-20T17:00:00Z")
    assert list(by_scan) == [t06, t17]
    assert by_scan[t06] == [f for f in radm if "s20091400600000" in f]
    assert len(by_scan[t17]) == 2


@pytest.mark.parametrize(
    ("hour_utc", "expected"), [(18.0, "1700"), (5.0, "0600"), (11.5, "0600"), (11.6, "1700")]
)
def test_nearest_scan(listing, hour_utc, expected):
    _, radm, _ = listing
    scan = nearest_scan(radm, DAY, hour_utc)
    assert len(scan) == 2 and all(f"s2009140{expected}" in f for f in scan)


def test_nearest_scan_tie_takes_the_first_listed():
    early, late = (
        _name("ABI-L1b-RadM", "C13", "G16", "100000"),
        _name("ABI-L1b-RadM", "C13", "G16", "140000"),
    )
    assert nearest_scan([late, early], DAY, 12.0) == [late]
    assert nearest_scan([early, late], DAY, 12.0) == [early]


def test_no_scan_gives_an_empty_scene():
    assert nearest_scan(["x.nc"], DAY, 12.0) == []
    ds, quarantine = native_scene_near(["x.nc"], DAY, 12.0)
    assert isinstance(ds, xr.Dataset) and not ds.data_vars and quarantine == []


def test_native_scene_near_reads_the_picked_scan(shared_data):
    files = sorted(str(p) for p in (shared_data / "satellite").glob("*M6C1[34]_*.nc"))
    ds, quarantine = native_scene_near(files, dt.date(2019, 12, 1), 10.0)
    assert quarantine == [] and set(ds.data_vars) == {"C13", "C14"}
    assert ds.attrs["scan_start"] == "2019-12-01T10:27:27+00:00"


def test_feature_grid():
    grid = ProductGrid(27.0, 28.0, -81.0, -80.0, 0.05, heights_m=(500.0,))
    assert feature_grid(grid, 0.0) is grid
    coarse = feature_grid(grid, 0.25)
    assert coarse.bbox() == grid.bbox()  # the same domain, in 4 x 4 cells
    assert coarse.spacing_deg == 0.25 and coarse.shape == (4, 4)
    np.testing.assert_allclose(coarse.lat, [27.125, 27.375, 27.625, 27.875])
    assert coarse.heights_m == (500.0,)


def _features(n_hours: int, with_c13: bool) -> xr.Dataset:
    data = {
        "n_scenes": (("time",), np.arange(n_hours, dtype=np.int16) + 1),
        "refl_c02": (("time", "lat", "lon"), np.zeros((n_hours, 2, 2))),
        "btd_c08_c13": (("time", "lat", "lon"), np.zeros((n_hours, 2, 2))),
    }
    if with_c13:
        c13 = np.full((n_hours, 2, 2), 250.0)
        c13[..., 0, 0] = np.nan
        data["bt_c13"] = (("time", "lat", "lon"), c13)
    return xr.Dataset(data)


def test_feature_figures_and_c13_coverage():
    feats = _features(3, with_c13=True)
    assert feature_figures(feats) == {"hours": 3, "scenes": 6, "bands": ["bt_c13", "refl_c02"]}
    assert c13_coverage(feats) == 0.75
    assert c13_coverage(_features(3, with_c13=False)) is None
    empty = _features(0, with_c13=True)
    assert feature_figures(empty) == {"hours": 0, "scenes": 0, "bands": ["bt_c13", "refl_c02"]}
    assert c13_coverage(empty) is None


def test_scene_figures():
    assert scene_figures(xr.Dataset()) == {"bands": 0, "scan_start": "", "shapes": {}}
    scene = xr.Dataset(
        {"C13": (("y_2000m", "x_2000m"), np.zeros((2, 3))), "C02": (("y", "x"), np.zeros((8, 12)))},
        attrs={"scan_start": "2019-12-01T10:27:27+00:00"},
    )
    assert scene_figures(scene) == {
        "bands": 2,
        "scan_start": "2019-12-01T10:27:27+00:00",
        "shapes": {"C13": [2, 3], "C02": [8, 12]},
    }
