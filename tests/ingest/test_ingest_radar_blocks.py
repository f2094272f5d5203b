"""A day of ground-radar volumes in blocks: split, ingest, store, join, summary, code decode."""

from __future__ import annotations

import datetime as dt
import shutil
import warnings

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from upath import UPath

from fusion_ops.grid import GaugePoints, ProductGrid
from fusion_ops.radar.blocks import (
    BlockStore,
    block_urls,
    day_volume_urls,
    ingest_block,
    inventory_quarantine,
    join_blocks,
    load_block,
    remove_block_folder,
    summarize_radar_day,
)
from fusion_ops.radar.packing import FILL_CODE, PACKING, max_over_volumes, pack, pack_dbz
from fusion_ops.radar.profiles import ingest_radar_day
from orchestration.runtime.io_managers import atomic_write, read_value

GRID = ProductGrid.from_centres(33.2, 34.1, -102.3, -101.3, 0.05, heights_m=(500.0, 1000.0, 2000.0))
STATIONS = pd.DataFrame(
    {"station_id": ["LBB1", "LBB2"], "lat": [33.75, 33.50], "lon": [-101.70, -101.95]}
)


# --------------------------------------------------------------------------- decode


def test_max_over_volumes_decodes_pack_round_trip():
    rng = np.random.default_rng(3)
    dbz = rng.uniform(-20.0, 70.0, size=(4, 5, 6)).astype(np.float32)
    dbz[:, 0, 0] = np.nan  # never observed
    dbz[1:, 1, 1] = np.nan  # observed once
    decoded = max_over_volumes(pack_dbz(dbz))
    assert decoded.dtype == np.float64 and decoded.shape == (5, 6)
    assert np.isnan(decoded[0, 0])
    expected = np.nanmax(np.where(np.isnan(dbz), -np.inf, dbz), axis=0)
    ok = np.isfinite(decoded)
    assert ok.sum() == 29
    np.testing.assert_allclose(decoded[ok], expected[ok], atol=0.25)  # half a 0.5 dB step
    assert decoded[1, 1] == pytest.approx(dbz[0, 1, 1], abs=0.25)


def test_max_over_volumes_code_zero_and_fill_are_no_data():
    codes = np.array([[[0, FILL_CODE, 1]], [[0, 0, FILL_CODE]]], dtype=np.uint8)
    decoded = max_over_volumes(codes)
    step, offset = PACKING["reflectivity"]
    assert np.isnan(decoded[0, 0]) and np.isnan(decoded[0, 1])
    assert decoded[0, 2] == offset + step * 1


def test_max_over_volumes_other_moment():
    step, offset = PACKING["differential_reflectivity"]
    values = np.array([[1.0, np.nan], [2.5, np.nan]])
    decoded = max_over_volumes(pack(values, step, offset), "differential_reflectivity")
    assert decoded[0] == pytest.approx(2.5, abs=step / 2) and np.isnan(decoded[1])


# --------------------------------------------------------------------------- split


def test_block_urls_split_contiguously():
    urls = [f"v{i}" for i in range(7)]
    blocks = [block_urls(urls, i, 3) for i in range(3)]
    assert blocks == [["v0", "v1", "v2"], ["v3", "v4"], ["v5", "v6"]]
    assert [block_urls(urls[:2], i, 3) for i in range(3)] == [["v0"], ["v1"], []]
    assert block_urls([], 0, 2) == []


def test_gauge_points_from_stations():
    points = GaugePoints.from_stations(STATIONS, 1000.0, [500.0, 1000.0])
    assert points.station_id == ("LBB1", "LBB2")
    assert points.lat == (33.75, 33.5) and points.lon == (-101.7, -101.95)
    assert points.radius_m == 1000.0 and points.heights_m == (500.0, 1000.0)


def test_day_volume_urls_site_by_site(tmp_path):
    for site, times in (("KLBB", ("120000", "060000")), ("KAMA", ("030000",))):
        folder = tmp_path / "2016" / "06" / "01" / site
        folder.mkdir(parents=True)
        for t in times:
            (folder / f"{site}20160601_{t}_V06").write_bytes(b"")
    urls = day_volume_urls(str(tmp_path), dt.date(2016, 6, 1), ["KLBB", "KAMA", "KFWS"])
    assert [u.rsplit("/", 1)[-1] for u in urls] == [
        "KLBB20160601_060000_V06",
        "KLBB20160601_120000_V06",
        "KAMA20160601_030000_V06",
    ]


def test_inventory_quarantine():
    inventory = pd.DataFrame(
        {
            "url": ["a", "b", "c"],
            "status": ["ok", "quarantined", "quarantined"],
            "reason": ["", "x", "y"],
        }
    )
    records = inventory_quarantine(inventory)
    assert [(q.file, q.reason, q.reader) for q in records] == [
        ("b", "x", "ground_radar"),
        ("c", "y", "ground_radar"),
    ]
    assert inventory_quarantine(inventory.iloc[:1]) == []


def test_remove_block_folder(tmp_path):
    run = UPath(str(tmp_path / "blocks" / "2016-06-01" / "run1"))
    run.mkdir(parents=True)
    (run / "block_000_grid.nc").write_bytes(b"x")
    other = UPath(str(tmp_path / "blocks" / "2016-06-01" / "run2"))
    other.mkdir()
    remove_block_folder(run)
    assert not run.exists() and other.exists()  # another run's blocks keep the day's folder
    remove_block_folder(other)
    assert not other.parent.exists()  # the day's folder went with its last run
    remove_block_folder(other)  # nothing left: no error


# --------------------------------------------------------------------------- ingest and join


@pytest.fixture(scope="module")
def day_urls(shared_data, tmp_path_factory):
    """The real KLBB volume and a truncated copy (quarantined), in time order."""
    folder = tmp_path_factory.mktemp("klbb")
    src = shared_data / "radar" / "KLBB20160601_150025_V06"
    good = folder / src.name
    shutil.copy(src, good)
    data = src.read_bytes()
    bad = folder / "KLBB20160601_155500_V06"
    bad.write_bytes(data[: len(data) // 3])
    return [str(good), str(bad)]


@pytest.fixture(scope="module")
def whole_day(day_urls):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ingest_radar_day(
            day_urls, GRID, GaugePoints.from_stations(STATIONS, 1500.0, GRID.heights_m)
        )


def _ingest_blocks(urls, n_blocks, store):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return [
            ingest_block(urls, index, n_blocks, GRID, STATIONS, 1500.0, store)
            for index in range(n_blocks)
        ]


@pytest.mark.parametrize("n_blocks", [2, 3])
def test_blocks_join_to_the_whole_day(day_urls, whole_day, tmp_path, n_blocks):
    folder = UPath(str(tmp_path / "blocks" / "day" / "run"))
    store = BlockStore(folder, atomic_write, read_value, tmp_path / "scratch")
    blocks = _ingest_blocks(day_urls, n_blocks, store)
    assert [(b.n_volumes, b.n_ok) for b in blocks] == [(1, 1), (1, 0), (0, 0)][:n_blocks]
    record = blocks[1].record
    assert record["index"] == 1 and record["heights_m"] == [500.0, 1000.0, 2000.0]
    assert record["stations"] == STATIONS.to_dict("list")
    assert set(record["files"]) == {"inventory", "profiles", "grid"}
    assert record["files"]["grid"] == "block_001_grid.nc"
    assert [q["file"] for q in record["quarantine"]] == [day_urls[1]]
    with xr.open_dataset(folder / record["files"]["grid"], mask_and_scale=False) as stored:
        assert stored["reflectivity"].dtype == np.uint8
        assert stored["reflectivity"].encoding["complevel"] == 1
    # the join takes the records in any order
    joined = join_blocks([b.record for b in reversed(blocks)], store)
    assert joined.heights_m == GRID.heights_m
    pd.testing.assert_frame_equal(joined.stations, STATIONS)
    pd.testing.assert_frame_equal(joined.day.inventory, whole_day.inventory)
    pd.testing.assert_frame_equal(joined.day.profiles, whole_day.profiles)
    # the same codes, attributes and encoding (read-back coordinates gain a _FillValue only)
    joined_grid = joined.day.grid.load()
    xr.testing.assert_equal(joined_grid, whole_day.grid)
    assert joined_grid.attrs == whole_day.grid.attrs
    for name in whole_day.grid.data_vars:
        assert joined_grid[name].dtype == np.uint8
        assert joined_grid[name].attrs == whole_day.grid[name].attrs
        assert joined_grid[name].encoding == whole_day.grid[name].encoding
    assert [(q.file, q.reason, q.reader) for q in joined.day.quarantine] == [
        (q.file, q.reason, q.reader) for q in whole_day.quarantine
    ]
    remove_block_folder(folder)
    assert not folder.exists()


def test_load_block_reads_codes(day_urls, tmp_path):
    store = BlockStore(UPath(str(tmp_path / "blocks")), atomic_write, read_value)
    (block,) = _ingest_blocks(day_urls[:1], 1, store)
    part = load_block(block.record, store)
    assert part.grid["reflectivity"].dtype == np.uint8  # codes, not decoded floats
    assert list(part.inventory["status"]) == ["ok"] and part.quarantine == []
    assert set(part.profiles["station_id"]) == {"LBB1", "LBB2"}
    part.grid.close()


def test_summary_of_a_day(whole_day):
    summary = summarize_radar_day(whole_day, GRID)
    assert summary.n_volumes_ok == 1 and summary.sites == ["KLBB"]
    ok = whole_day.inventory["status"] == "ok"
    assert summary.max_reflectivity_dbz == whole_day.inventory.loc[ok, "max_reflectivity_dbz"].max()
    assert summary.profile_rows == len(whole_day.profiles) == 2 * 3
    assert summary.gauges_seen == 2
    low = summary.lowest_level_max_dbz
    assert low.shape == (GRID.lat.size, GRID.lon.size)
    codes = whole_day.grid["reflectivity"].values[0, 0]
    expected = np.where((codes > 0) & (codes != FILL_CODE), -32.0 + 0.5 * codes, np.nan)
    np.testing.assert_array_equal(low, expected)
    assert summary.lowest_level_coverage == pytest.approx(float(np.isfinite(expected).mean()))
    assert 0.0 < summary.lowest_level_coverage <= 1.0


def test_summary_of_a_day_without_volumes():
    empty = ingest_radar_day([], GRID, GaugePoints.from_stations(STATIONS, 1500.0, GRID.heights_m))
    summary = summarize_radar_day(empty, GRID)
    assert summary.n_volumes_ok == 0 and summary.sites == []
    assert np.isnan(summary.max_reflectivity_dbz)
    assert summary.profile_rows == 0 and summary.gauges_seen == 0
    assert summary.lowest_level_max_dbz.shape == (GRID.lat.size, GRID.lon.size)
    assert summary.lowest_level_coverage == 0.0
