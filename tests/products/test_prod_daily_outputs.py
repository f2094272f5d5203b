"""The daily product's COG with its provenance tags, and its map with the gauges overlaid."""

import numpy as np
import pandas as pd
import rasterio
import xarray as xr

from fusion_ops.products.plots import MAP_DPI, daily_map_png, product_map_png
from fusion_ops.products.writers import COG_TAG_KEYS, write_daily_cog

DAY = "2009-05-21"
LAT = 28.0 + 0.02 * np.arange(6)
LON = -81.0 + 0.02 * np.arange(7)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _daily() -> xr.Dataset:
    total = np.arange(LAT.size * LON.size, dtype="float32").reshape(1, LAT.size, LON.size)
    return xr.Dataset(
        {"rainfall_amount": (("time", "lat", "lon"), total)},
        coords={"lat": LAT, "lon": LON},
        attrs={
            "product_day": DAY,
            "configuration_hash": "abcdef012345",
            "software_version": "rainfuse 1.0",
            "title": "not a tag",
        },
    )


def _gauges() -> tuple[pd.DataFrame, np.ndarray]:
    gauges = pd.DataFrame(
        {"lat_deg": [28.02, 28.06], "lon_deg": [-80.98, -80.92], "daily_mm": [3.0, np.nan]},
        index=pd.Index(["A", "B"], name="station_id"),
    )
    return gauges, np.array([False, True])


def test_write_daily_cog_tags_the_provenance(tmp_path):
    path = tmp_path / "daily.tif"
    write_daily_cog(_daily(), str(path))
    with rasterio.open(path) as cog:
        tags = cog.tags()
        np.testing.assert_array_equal(cog.read(1)[::-1], _daily()["rainfall_amount"].values[0])
    assert tags["product_day"] == DAY and tags["configuration_hash"] == "abcdef012345"
    assert tags["software_version"] == "rainfuse 1.0"
    assert "model_versions" not in tags and "title" not in tags
    assert COG_TAG_KEYS == (
        "model_versions",
        "software_version",
        "configuration_hash",
        "product_day",
    )


def test_product_map_png_is_the_daily_map_of_the_product():
    gauges, withheld = _gauges()
    png = product_map_png(_daily(), gauges, withheld, DAY)
    assert png.startswith(PNG_SIGNATURE)
    same = daily_map_png(
        _daily()["rainfall_amount"].values[0],
        LAT,
        LON,
        gauges["lat_deg"].to_numpy(float),
        gauges["lon_deg"].to_numpy(float),
        gauges["daily_mm"].to_numpy(float),
        withheld,
        f"rainfuse fused daily rainfall {DAY}",
        dpi=MAP_DPI,
    )
    assert png == same
    preview = product_map_png(_daily(), gauges, withheld, DAY, dpi=40)
    assert preview.startswith(PNG_SIGNATURE) and len(preview) < len(png)
