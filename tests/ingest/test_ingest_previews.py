"""Quicklook PNGs of the ingested sources."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd

from fusion_ops.grid import ProductGrid
from fusion_ops.previews import gauge_totals_png, max_reflectivity_png

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
    grid = ProductGrid.from_centres(27.0, 28.0, -81.0, -80.0, 0.1)
    dbz = np.full((grid.lat.size, grid.lon.size), np.nan)
    dbz[3:6, 2:8] = 45.0
    gauges = pd.DataFrame({"lat": [27.5], "lon": [-80.5]})
    for stations in (gauges, None, gauges.iloc[:0]):
        png = max_reflectivity_png(dbz, grid, stations)
        assert png.startswith(PNG_SIGNATURE) and min(_size(png)) > 150
