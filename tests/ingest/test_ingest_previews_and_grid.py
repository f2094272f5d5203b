"""Quicklook PNGs of the ingested sources, and the product grid built from its cell centres."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from fusion_ops.datamodel import DEFAULT_HEIGHTS_M, LatLonGrid
from fusion_ops.previews import gauge_totals_png, max_reflectivity_png
from fusion_ops.product_grid import (
    EARTH_RADIUS_M,
    cell_areas_km2,
    latlon_grid,
    product_grid_dataset,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
BBOX = (27.0, 28.0, -81.0, -80.0)


def _size(png: bytes) -> tuple[int, int]:
    from PIL import Image

    with Image.open(io.BytesIO(png)) as image:
        return image.size


def test_gauge_totals_png():
    totals = pd.DataFrame({"lat": [27.2, 27.8], "lon": [-80.5, -80.2], "total_mm": [3.0, 12.5]})
    png = gauge_totals_png(totals, BBOX)
    assert png.startswith(PNG_SIGNATURE)
    width, height = _size(png)
    assert 150 < width < 400 and 150 < height < 400  # 4.5 x 4 in at 60 dpi, trimmed
    # no station: still a map, without a colour bar
    empty = gauge_totals_png(totals.iloc[:0], BBOX)
    assert empty.startswith(PNG_SIGNATURE) and empty != png
    assert gauge_totals_png(totals, BBOX) == png  # the same figure, the same bytes


def test_max_reflectivity_png():
    grid = LatLonGrid(27.0, 28.0, -81.0, -80.0, 0.1)
    dbz = np.full((grid.lat.size, grid.lon.size), np.nan)
    dbz[3:6, 2:8] = 45.0
    gauges = pd.DataFrame({"lat": [27.5], "lon": [-80.5]})
    for stations in (gauges, None, gauges.iloc[:0]):
        png = max_reflectivity_png(dbz, grid, stations)
        assert png.startswith(PNG_SIGNATURE) and min(_size(png)) > 150


def test_latlon_grid_from_cell_centres():
    lat = 27.0 + (np.arange(10) + 0.5) * 0.1
    lon = -81.0 + (np.arange(20) + 0.5) * 0.1
    grid = latlon_grid(lat, lon, 0.1)
    assert grid.heights_m == DEFAULT_HEIGHTS_M
    np.testing.assert_allclose(grid.lat, lat)
    np.testing.assert_allclose(grid.lon, lon)
    assert isinstance(grid.lat_min, float) and grid.spacing_deg == 0.1
    assert latlon_grid(lat, lon, 0.1, (500.0, 1500.0)).heights_m == (500.0, 1500.0)


def test_cell_areas_sum_to_the_band_area():
    lat = -90.0 + (np.arange(180) + 0.5) * 1.0
    areas = cell_areas_km2(lat, 360, 1.0)
    assert areas.shape == (180, 360) and areas.dtype == np.float64
    assert areas.sum() == pytest.approx(4 * np.pi * EARTH_RADIUS_M**2 / 1e6, rel=1e-12)
    # a 0.1 degree cell near 27.5 N is about 11.1 km x 9.9 km
    assert cell_areas_km2(np.array([27.55]), 1, 0.1)[0, 0] == pytest.approx(109.6, rel=0.01)


def test_product_grid_dataset():
    lat = 27.0 + (np.arange(10) + 0.5) * 0.1
    lon = -81.0 + (np.arange(12) + 0.5) * 0.1
    ds = product_grid_dataset(lat, lon, 0.1, "kmlb")
    assert ds.sizes == {"lat": 10, "lon": 12}
    assert ds["cell_area"].dtype == np.float32 and ds["cell_area"].attrs["units"] == "km2"
    np.testing.assert_array_equal(
        ds["cell_area"].values, cell_areas_km2(lat, 12, 0.1).astype("float32")
    )
    assert ds.attrs == {"domain": "kmlb", "grid_spacing_deg": 0.1}
    assert ds["lat"].attrs["standard_name"] == "latitude"
    assert ds["lon"].attrs["units"] == "degrees_east"
