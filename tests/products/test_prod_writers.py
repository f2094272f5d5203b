"""CF-1.8 NetCDF and COG products: attributes, validity, determinism, atomic writes, PNG map."""

import hashlib
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import xarray as xr

from fusion_ops.products.pipeline import fuse_day
from fusion_ops.products.plots import daily_map_png
from fusion_ops.products.writers import (
    Provenance,
    atomic_local_path,
    product_relative_paths,
    write_cog,
    write_netcdf,
)
from orchestration.runtime.resources import ProductStoreResource
from tests.products.conftest import product_datasets

PROVENANCE = Provenance(
    model_versions={"mlp1": "a1b2c3", "mlp2": "d4e5f6", "mlp3": "0789ab"},
    input_files=["s3://bucket/gr/2009-05-21.nc", "data/storage/sat/2009-05-21.nc"],
    software_version="rainfuse 0.1.0",
    configuration_hash="feedbeef0123",
)


@pytest.fixture(scope="module")
def fused(synthetic_day):
    s = synthetic_day
    return fuse_day(s.day, s.lat, s.lon, s.sources, s.error_std, s.gauges)


def test_netcdf_products_carry_cf_attributes(fused, tmp_path):
    hourly, daily = product_datasets(fused, PROVENANCE)
    for ds, name, var, units, std_name in (
        (hourly, "h.nc", "rainfall_rate", "mm h-1", "rainfall_rate"),
        (daily, "d.nc", "rainfall_amount", "mm", "thickness_of_rainfall_amount"),
    ):
        path = tmp_path / name
        write_netcdf(ds, str(path))
        with xr.open_dataset(path) as back:
            assert back.attrs["Conventions"] == "CF-1.8"
            assert back[var].dims == ("time", "lat", "lon")
            assert back[var].attrs["units"] == units
            assert back[var].attrs["standard_name"] == std_name
            assert back[var].attrs["long_name"]
            assert back[var].attrs["grid_mapping"] == "crs"
            assert back["crs"].attrs["grid_mapping_name"] == "latitude_longitude"
            assert back["lat"].attrs["standard_name"] == "latitude"
            assert back["lon"].attrs["units"] == "degrees_east"
            assert back["time"].attrs["bounds"] == "time_bnds"
            assert back["source_flag"].attrs["flag_meanings"].split() == [
                "ground_radar",
                "spaceborne_radar",
                "geostationary_satellite",
            ]
            assert list(back["source_flag"].attrs["flag_masks"]) == [1, 2, 4]
            # CF-1.8 data types (test_prod_cf_compliance.py runs the checker): a signed byte
            assert back["source_flag"].dtype == np.int8
            assert back["source_flag"].attrs["flag_masks"].dtype == np.int8
            assert back.time.encoding["dtype"] == np.int32
            assert back[f"{var}_stddev"].attrs["standard_name"].endswith("standard_error")
            assert eval_json(back.attrs["model_versions"]) == dict(PROVENANCE.model_versions)
            assert len(eval_json(back.attrs["input_files"])) == 2
            assert back.attrs["software_version"] == "rainfuse 0.1.0"
            assert back.attrs["configuration_hash"] == "feedbeef0123"
            assert back.sizes["lat"] == fused.lat_deg.size
    with xr.open_dataset(tmp_path / "h.nc") as back:
        assert back.sizes["time"] == 24
        assert str(back.time.values[0]).startswith("2009-05-21T00:00")
        assert float(back.rainfall_rate.sum()) == pytest.approx(
            float(fused.hourly_mm_h.sum()), rel=1e-5
        )
        assert back.time.encoding["units"].startswith("minutes since 1970-01-01")
    with xr.open_dataset(tmp_path / "d.nc") as back:
        np.testing.assert_allclose(back.rainfall_amount.values[0], fused.daily_mm, rtol=1e-6)


def eval_json(text):
    import json

    return json.loads(text)


def test_cog_validates_with_tiling_and_overviews(fused, tmp_path):
    import rasterio

    path = tmp_path / "daily.tif"
    # A 270 x 306 grid like the default product grid, so overviews are needed.
    lat = 26.768 + 0.01 * np.arange(270)
    lon = -82.179 + 0.01 * np.arange(306)
    field = np.add.outer(np.arange(270.0), np.arange(306.0)) / 10
    write_cog(field, lat, lon, str(path), tags=PROVENANCE.attrs())
    with rasterio.open(path) as src:
        assert src.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"
        assert src.profile["tiled"] and src.block_shapes == [(128, 128)]
        assert src.overviews(1) == [2, 4]
        assert src.crs.to_epsg() == 4326
        assert src.tags()["configuration_hash"] == "feedbeef0123"
        assert src.tags(1)["units"] == "mm"
        data = src.read(1)
        # North-up: the first row is the northernmost latitude.
        assert data[0, 0] == pytest.approx(field[-1, 0])
        x, y = src.xy(0, 0)
        assert y == pytest.approx(lat[-1]) and x == pytest.approx(lon[0])
    # The small synthetic grid also writes a valid COG.
    small = tmp_path / "small.tif"
    write_cog(fused.daily_mm, fused.lat_deg, fused.lon_deg, str(small))
    with rasterio.open(small) as src:
        np.testing.assert_allclose(src.read(1)[::-1], fused.daily_mm, rtol=1e-6)


def test_rewriting_a_day_gives_identical_data_variables(synthetic_day, tmp_path):
    s = synthetic_day
    paths = []
    for k in range(2):
        f = fuse_day(s.day, s.lat, s.lon, s.sources, s.error_std, s.gauges)
        _, daily = product_datasets(f, PROVENANCE)
        path = tmp_path / f"run{k}.nc"
        write_netcdf(daily, str(path))
        paths.append(path)
    with xr.open_dataset(paths[0]) as a, xr.open_dataset(paths[1]) as b:
        xr.testing.assert_identical(a, b)
        for name in a.data_vars:
            assert (
                hashlib.sha256(a[name].values.tobytes()).digest()
                == hashlib.sha256(b[name].values.tobytes()).digest()
            )


def test_failed_write_leaves_previous_product_untouched(fused, tmp_path):
    _, daily = product_datasets(fused, PROVENANCE)
    store = ProductStoreResource(url=str(tmp_path / "products"))
    relative = product_relative_paths(fused.day)["daily_nc"]
    with store.atomic_local_file(relative) as local:
        write_netcdf(daily, local)
    final = tmp_path / "products" / relative
    before = final.read_bytes()

    class Interrupted(Exception):
        pass

    with pytest.raises(Interrupted), store.atomic_local_file(relative) as local:
        write_netcdf(
            daily.assign(rainfall_amount=daily.rainfall_amount * 2), local
        )  # a complete new file exists at the temporary name...
        assert os.path.getsize(local) > 0
        raise Interrupted  # ...but the step dies before the move
    assert final.read_bytes() == before
    assert sorted(p.name for p in final.parent.iterdir()) == [final.name]
    with xr.open_dataset(final) as back:
        np.testing.assert_allclose(back.rainfall_amount.values[0], fused.daily_mm, rtol=1e-6)


def test_killed_writer_never_leaves_a_partial_product(tmp_path):
    """SIGKILL in the middle of a write: the final path does not exist, only a hidden temporary."""
    final = tmp_path / "out" / "product.nc"
    script = textwrap.dedent(
        f"""
        import os, sys, time
        from fusion_ops.products.writers import atomic_local_path
        with atomic_local_path({str(final)!r}) as tmp:
            with open(tmp, "wb") as handle:
                handle.write(b"CDF" * 1000)
                handle.flush()
                print("writing", flush=True)
                time.sleep(60)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "writing"
        proc.kill()
    finally:
        proc.wait(timeout=30)
    assert not final.exists()
    leftovers = list(final.parent.iterdir())
    assert leftovers and all(p.name.startswith(".product.nc.") for p in leftovers)


def test_atomic_local_path_moves_on_success(tmp_path):
    final = tmp_path / "a" / "b.txt"
    with atomic_local_path(str(final)) as tmp:
        with open(tmp, "w") as handle:
            handle.write("done")
        assert not final.exists()
    assert final.read_text() == "done" and len(list(final.parent.iterdir())) == 1


def test_product_paths_and_png_map(fused, synthetic_day):
    paths = product_relative_paths("2009-05-21")
    assert paths["daily_cog"] == "2009/05/rainfuse_daily_kmlb_20090521.tif"
    assert paths["hourly_nc"].endswith("rainfuse_hourly_kmlb_20090521.nc")
    g = synthetic_day.gauges
    png = daily_map_png(
        fused.daily_mm,
        fused.lat_deg,
        fused.lon_deg,
        g.lat_deg,
        g.lon_deg,
        g.daily_mm,
        fused.withheld,
        "fused daily rain 2009-05-21",
    )
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    import io

    from matplotlib import image

    pixels = image.imread(io.BytesIO(png))
    assert pixels.ndim == 3 and pixels.shape[0] > 300 and pixels.shape[1] > 300
