"""A day's packed grid codes spilled to a scratch file: same values as in memory, bounded memory."""

from __future__ import annotations

import gc
import warnings

import h5py
import numpy as np
import pytest
import xarray as xr

from fusion_ops.grid import ProductGrid
from fusion_ops.radar import gridding as G
from fusion_ops.radar.packing import FILL_CODE
from fusion_ops.radar.profiles import ingest_radar_day
from fusion_ops.radar.spill import VOLUME_BLOCK, VolumeCodeStore, spatial_chunks

SHAPE = (3, 10, 17)


def _volumes(n: int) -> list[dict[str, np.ndarray]]:
    rng = np.random.default_rng(7)
    out = []
    for k in range(n):
        vol = {"a": rng.integers(0, 255, SHAPE, dtype=np.uint8)}
        if k % 5:  # every fifth volume lacks moment "b": it must read as the fill code
            vol["b"] = rng.integers(0, 255, SHAPE, dtype=np.uint8)
        out.append(vol)
    return out


def _fill(store: VolumeCodeStore, volumes: list[dict[str, np.ndarray]]) -> dict:
    for vol in volumes:
        store.append(vol)
    return store.arrays()


@pytest.mark.parametrize("n", [0, 5, VOLUME_BLOCK, 2 * VOLUME_BLOCK + 7])
def test_spilled_codes_equal_in_memory(tmp_path, n):
    volumes = _volumes(n)
    memory = _fill(VolumeCodeStore(["a", "b"], SHAPE, FILL_CODE, n), volumes)
    spilled_store = VolumeCodeStore(["a", "b"], SHAPE, FILL_CODE, n, tmp_path / "codes.h5")
    spilled = _fill(spilled_store, volumes)
    for m in ("a", "b"):
        assert isinstance(memory[m], np.ndarray) and memory[m].shape == (n, *SHAPE)
        values = np.asarray(spilled[m])
        assert values.dtype == np.uint8 and values.shape == (n, *SHAPE)
        np.testing.assert_array_equal(values, memory[m])
    if n:
        # lazily read back in whole blocks of volumes
        assert spilled["a"].chunks[0][0] == min(n, VOLUME_BLOCK)
        assert (memory["b"][0] == FILL_CODE).all() and (memory["b"][1] != FILL_CODE).any()
        np.testing.assert_array_equal(memory["a"][-1], volumes[-1]["a"])
        # the spill file is compressed HDF5 with block-aligned chunks
        with h5py.File(tmp_path / "codes.h5", "r") as raw:
            assert raw["a"].chunks == (VOLUME_BLOCK, *spatial_chunks(*SHAPE))
            assert raw["a"].compression == "gzip" and raw["a"].shape == (n, *SHAPE)
    spilled_store.close()
    assert not (tmp_path / "codes.h5").exists()
    if n:
        with pytest.raises(FileNotFoundError):
            np.asarray(spilled["a"])


def test_scratch_file_lives_as_long_as_the_arrays(tmp_path):
    path = tmp_path / "codes.h5"
    store = VolumeCodeStore(["a", "b"], SHAPE, FILL_CODE, 3, path)
    arrays = _fill(store, _volumes(3))
    del store
    derived = arrays["a"][1:]  # a derived lazy array keeps the file too
    del arrays
    gc.collect()
    assert path.exists() and np.asarray(derived).shape == (2, *SHAPE)
    del derived
    gc.collect()
    assert not path.exists()


def test_store_rejects_wrong_volume_shape(tmp_path):
    store = VolumeCodeStore(["a"], SHAPE, FILL_CODE, 2, tmp_path / "c.h5")
    with pytest.raises(ValueError, match="expected"):
        store.append({"a": np.zeros((3, 10, 16), np.uint8)})


def test_spatial_chunks_default_domain():
    assert spatial_chunks(16, 270, 306) == (2, 34, 39)
    assert spatial_chunks(1, 3, 5) == (1, 1, 1)


@pytest.fixture(scope="module")
def klbb_day(shared_data, tmp_path_factory):
    """The real KLBB volume twice, ingested in memory and spilled, each written to NetCDF."""
    path = str(shared_data / "radar" / "KLBB20160601_150025_V06")
    grid = ProductGrid.from_centres(33.2, 34.1, -102.3, -101.3, 0.05, (1000.0, 2000.0, 3000.0))
    gauges = G.GaugePoints(("g1",), (33.8,), (-101.6,))
    folder = tmp_path_factory.mktemp("spill")
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for kind, scratch in (("memory", None), ("spilled", folder / "scratch")):
            rday = ingest_radar_day([path, path], grid, gauges, scratch_dir=scratch)
            target = folder / f"{kind}.nc"
            rday.grid.to_netcdf(target, engine="h5netcdf")
            out[kind] = (rday.grid.copy(), target)
            rday.close()
    return out


def test_spilled_day_writes_the_same_file(klbb_day):
    (mem, mem_path), (_, spill_path) = klbb_day["memory"], klbb_day["spilled"]
    assert isinstance(mem["reflectivity"].data, np.ndarray)
    with (
        xr.open_dataset(mem_path, engine="h5netcdf") as a,
        xr.open_dataset(spill_path, engine="h5netcdf") as b,
    ):
        assert (
            list(a.data_vars)
            == list(b.data_vars)
            == [
                "reflectivity",
                "differential_reflectivity",
                "specific_differential_phase",
            ]
        )
        assert a.attrs == b.attrs and a.attrs["site_id"] == "KLBB"
        assert b["reflectivity"].shape == (2, 3, 19, 21)
        for name in a.variables:
            np.testing.assert_array_equal(a[name].values, b[name].values)
        z = b["reflectivity"].values
        assert z.dtype == np.float32 and np.isfinite(z).sum() > 100 and np.nanmax(z) <= 95.0
        for name in a.data_vars:
            assert b[name].encoding["chunksizes"] == (2, 2, 3, 3)
            assert a[name].encoding["chunksizes"] == b[name].encoding["chunksizes"]
            assert b[name].encoding["dtype"] == np.uint8 and b[name].encoding["complevel"] == 2
