"""Ingest assets with dagster.materialize: a real-data day (KLBB) and a synthetic-archive day."""

from __future__ import annotations

import datetime as dt
import shutil
import warnings

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from dagster import AssetKey, materialize

from assets.ingest import (
    build_ground_radar_assets,
    gauge_hourly,
    gauge_observations,
    ground_radar_has_data,
    ground_radar_quarantine,
    satellite_features,
    satellite_native_scene,
    spaceborne_profiles,
)
from orchestration.runtime.io_managers import UniversalIOManager
from orchestration.runtime.resources import (
    ArchiveResource,
    DomainResource,
    RadarArchiveResource,
    SatelliteArchiveResource,
)

INGEST = [
    gauge_observations,
    gauge_hourly,
    build_ground_radar_assets(2),  # two block steps
    ground_radar_quarantine,  # the ground radar's checks run as their own steps
    ground_radar_has_data,
    spaceborne_profiles,
    satellite_features,
    satellite_native_scene,
]


def _resources(root, domain: DomainResource, site: str) -> dict:
    return {
        "gauge_archive": ArchiveResource(url=str(root / "gauges")),
        "radar_archive": RadarArchiveResource(url=str(root / "nexrad"), sites=[site]),
        "spaceborne_archive": ArchiveResource(url=str(root / "spaceborne")),
        "satellite_archive": SatelliteArchiveResource(url=str(root / "goes"), platform="G16"),
        "domain": domain,
        "io_manager": UniversalIOManager(base_url=str(root / "storage")),
    }


def _checks(result) -> dict[tuple[str, str], bool]:
    return {
        (e.asset_key.to_user_string(), e.check_name): e.passed
        for e in result.get_asset_check_evaluations()
    }


@pytest.fixture(scope="module")
def real_day(tmp_path_factory, shared_data):
    """2016-06-01 around Lubbock: the real KLBB volume plus a truncated one, a plain-CSV gauge
    network plus a corrupt netCDF, and no spaceborne or satellite data at all."""
    root = tmp_path_factory.mktemp("realday")
    radar = root / "nexrad" / "2016" / "06" / "01" / "KLBB"
    radar.mkdir(parents=True)
    src = shared_data / "radar" / "KLBB20160601_150025_V06"
    shutil.copy(src, radar / src.name)
    data = src.read_bytes()
    (radar / "KLBB20160601_155500_V06").write_bytes(data[: len(data) // 3])
    gdir = root / "gauges" / "2016" / "06" / "01"
    gdir.mkdir(parents=True)
    rows = ["station_id,time,precip_mm,lat,lon,period_minutes"]
    for sid, lat, lon in (
        ("LBB1", 33.75, -101.70),
        ("LBB2", 33.50, -101.95),
        ("LBB3", 34.0, -101.5),
    ):
        for h in range(1, 25):
            t = pd.Timestamp("2016-06-01", tz="UTC") + pd.Timedelta(hours=h)
            rows.append(f"{sid},{t.isoformat()},{0.5 if h == 15 else 0.0},{lat},{lon},60")
    (gdir / "lubbock_network.csv").write_text("\n".join(rows) + "\n")
    (gdir / "broken_met.cdf").write_bytes(b"CDF\x01" + b"\x00" * 64)
    (root / "spaceborne").mkdir()
    (root / "goes").mkdir()
    domain = DomainResource(
        name="klbb",
        lat_min_deg=33.2,
        lat_max_deg=34.1,
        lon_min_deg=-102.3,
        lon_max_deg=-101.3,
        grid_spacing_deg=0.05,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = materialize(
            INGEST, partition_key="2016-06-01", resources=_resources(root, domain, "KLBB")
        )
    return root, result


def test_real_day_materializes_with_quarantine(real_day):
    root, result = real_day
    assert result.success
    inv = result.asset_value(AssetKey("ground_radar_volumes"))
    assert list(inv["status"]) == ["ok", "quarantined"]
    assert "truncated" in inv["reason"].iloc[1]
    assert inv["max_reflectivity_dbz"].iloc[0] <= 71.5
    checks = _checks(result)
    assert checks[("ground_radar_volumes", "quarantine")] is False
    assert checks[("ground_radar_volumes", "has_data")] is True
    assert checks[("gauge_observations", "quarantine")] is False  # the broken netCDF
    assert checks[("spaceborne_profiles", "has_data")] is False  # missing source: warning
    # no GOES-R ABI in 2016: the era table plans none, so the empty day passes
    assert checks[("satellite_features", "has_data")] is True
    assert checks[("satellite_native_scene", "has_data")] is True
    mats = {
        m.asset_key.to_user_string(): m.metadata
        for m in result.get_asset_materialization_events()
        for m in [m.event_specific_data.materialization]
    }
    for name in ("satellite_features", "satellite_native_scene"):
        assert mats[name]["not_planned"].value == "no GOES-R ABI before 2017-02-28"
    assert "broken_met.cdf" in mats["gauge_observations"]["quarantined"].value
    assert mats["ground_radar_grid_profiles"]["preview"].value.startswith(
        "![preview](data:image/png"
    )
    assert mats["ground_radar_volumes"]["volumes"].value == 1


def test_real_day_values(real_day):
    root, result = real_day
    hourly = result.asset_value(AssetKey("gauge_hourly"))
    assert set(hourly["station_id"]) == {"LBB1", "LBB2", "LBB3"}
    assert hourly.groupby("station_id")["precip_mm"].sum().tolist() == [0.5, 0.5, 0.5]
    prof = result.asset_value(AssetKey("ground_radar_gauge_profiles"))
    assert set(prof["station_id"]) == {"LBB1", "LBB2", "LBB3"}
    assert len(prof) == 3 * 16
    assert prof["reflectivity_dbz"].notna().sum() > 10
    stored = next((root / "storage").rglob("ground_radar_grid_profiles/2016-06-01.nc"))
    with xr.open_dataset(stored) as grid:  # what downstream assets read: decoded floats
        assert grid["reflectivity"].shape == (1, 16, 18, 20)  # cell centres of the domain
        z = grid["reflectivity"].values
        assert grid.attrs["site_id"] == "KLBB"
        assert grid.attrs["site_latitude_deg"] == pytest.approx(33.654, abs=1e-3)
    assert z.dtype == np.float32
    assert np.isfinite(z).sum() > 1000 and np.nanmax(z) <= 71.5 and np.nanmin(z) >= -32.0
    with xr.open_dataset(stored, mask_and_scale=False) as raw:
        assert raw["reflectivity"].dtype == np.uint8  # stored compactly
    codes = result.asset_value(AssetKey("ground_radar_grid_profiles"))["reflectivity"].values
    assert codes.dtype == np.uint8  # held as codes in memory
    np.testing.assert_array_equal(np.isfinite(z), codes != 255)
    sb = result.asset_value(AssetKey("spaceborne_profiles"))
    assert sb.sizes["footprint"] == 0 and "zku_dbz" in sb
    sat = result.asset_value(AssetKey("satellite_features"))
    assert sat.sizes["time"] == 0


SIM_DOMAIN = DomainResource(
    lat_min_deg=26.763,
    lat_max_deg=29.463,
    lon_min_deg=-82.184,
    lon_max_deg=-79.124,
    grid_spacing_deg=0.05,
)


@pytest.fixture(scope="module")
def sim_day(tmp_path_factory):
    """A day of the synthetic archive (every source of its era in its real formats), small
    cadences: 2021-05-20 (dual-pol V06, GPM V07, GOES-16 ABI). A 2009 day (single-pol ``.gz``,
    TRMM PR V7 HDF4, no ABI) goes through these assets in tests/test_daily_job_eras.py."""
    from fusion_ops.simulate.archive import SimulationConfig, simulate_day

    day = dt.date(2021, 5, 20)
    root = tmp_path_factory.mktemp(f"simday_{day:%Y}")
    cfg = SimulationConfig(
        out_url=str(root),
        radar_cadence_min=480.0,
        abi_cadence_min=720.0,
        abi_bands=(8, 13, 14),
        truth_step_min=30.0,
        write_imagery=False,
        observers=("gauges", "nexrad", "spaceborne", "goes"),
    )
    simulate_day(cfg, day, progress=None)
    domain = SIM_DOMAIN
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = materialize(
            INGEST, partition_key=day.isoformat(), resources=_resources(root, domain, "KMLB")
        )
    return day, root, result


def test_synthetic_day_all_sources(sim_day):
    day, root, result = sim_day
    assert result.success
    checks = _checks(result)
    ingest = ("gauge_observations", "ground_radar_volumes", "spaceborne_profiles")
    assert all(checks[(a, "quarantine")] for a in (*ingest, "satellite_features"))
    # every source of the era has data
    assert all(checks[(a, "has_data")] for a in (*ingest, "satellite_features"))
    obs = result.asset_value(AssetKey("gauge_observations"))
    assert obs["station_id"].nunique() > 50 and set(obs["network"]) == {"isd"}
    inv = result.asset_value(AssetKey("ground_radar_volumes"))
    assert len(inv) == 3 and (inv["status"] == "ok").all()
    assert set(inv["site_id"]) == {"KMLB"}
    prof = result.asset_value(AssetKey("ground_radar_gauge_profiles"))
    assert prof["station_id"].nunique() > 50
    sb = result.asset_value(AssetKey("spaceborne_profiles"))
    assert sb.sizes["footprint"] > 100
    assert float(sb["lat"].min()) >= 26.763 and float(sb["lat"].max()) <= 29.463
    sat = result.asset_value(AssetKey("satellite_features"))
    assert set(inv["capability"]) == {"dual"}
    assert all(str(u).endswith("_V06") for u in inv["url"])
    assert prof["zdr_db"].notna().any()
    assert sat.sizes["time"] == 2
    assert {"bt_c08", "bt_c13", "bt_c14", "btd_c08_c13"} <= set(sat.data_vars)
    bt = sat["bt_c13"].values
    assert np.isfinite(bt).mean() > 0.5 and np.nanmin(bt) > 180.0 and np.nanmax(bt) < 330.0


def _sim_grid_and_gauges(root, day: dt.date):
    from fusion_ops.grid import GaugePoints

    domain = SIM_DOMAIN
    heights = tuple(float(h) for h in np.arange(500.0, 8001.0, 500.0))
    obs = pd.read_parquet(next((root / "storage").rglob(f"gauge_observations/{day}.parquet")))
    st = obs.groupby("station_id", as_index=False)[["lat", "lon"]].first()
    gauges = GaugePoints(
        tuple(st["station_id"]), tuple(st["lat"]), tuple(st["lon"]), heights_m=heights
    )
    return domain.grid(heights), gauges


def test_blocks_of_volumes_join_to_the_whole_day(sim_day, tmp_path):
    """Ingesting a day in blocks and joining them (through files, as the block steps store
    them) gives exactly what ingesting it in one call gives."""
    from fusion_ops.radar.profiles import RadarDay, concat_radar_days, ingest_radar_day
    from fusion_ops.readers.ground_radar import list_volumes

    day, root, _ = sim_day
    grid, gauges = _sim_grid_and_gauges(root, day)
    urls = list_volumes(str(root / "nexrad"), day, "KMLB", None)
    assert len(urls) == 3
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        whole = ingest_radar_day(urls, grid, gauges)
        first = ingest_radar_day(urls[:1], grid, gauges)
        second = ingest_radar_day(urls[1:], grid, gauges, scratch_dir=tmp_path)
    second.grid.to_netcdf(tmp_path / "second.nc", engine="h5netcdf")
    second.close()
    with xr.open_dataset(tmp_path / "second.nc", mask_and_scale=False, chunks={}) as codes:
        joined = concat_radar_days(
            [first, RadarDay(second.inventory, second.profiles, codes, [])], scratch_dir=tmp_path
        )
    pd.testing.assert_frame_equal(joined.inventory, whole.inventory)
    pd.testing.assert_frame_equal(joined.profiles, whole.profiles)
    xr.testing.assert_identical(joined.grid.load(), whole.grid)
    assert joined.grid["reflectivity"].dtype == np.uint8
    assert (joined.grid["reflectivity"].values != 255).sum() > 1000
    for name in whole.grid.data_vars:
        assert joined.grid[name].encoding == whole.grid[name].encoding
    with pytest.raises(ValueError, match="no parts"):
        concat_radar_days([])


def test_more_blocks_than_volumes_still_join_to_the_whole_day(sim_day):
    """``compute.ground_radar_blocks`` may exceed a day's volumes (a day with gaps): the asset's
    split then leaves a block empty, and the join still gives the whole day."""
    from fusion_ops.radar.profiles import concat_radar_days, ingest_radar_day
    from fusion_ops.readers.ground_radar import list_volumes

    day, root, _ = sim_day
    grid, gauges = _sim_grid_and_gauges(root, day)
    urls = list_volumes(str(root / "nexrad"), day, "KMLB", None)
    blocks = [list(b) for b in np.array_split(np.asarray(urls, dtype=object), len(urls) + 1)]
    assert [len(b) for b in blocks] == [1, 1, 1, 0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        whole = ingest_radar_day(urls, grid, gauges)
        joined = concat_radar_days([ingest_radar_day(b, grid, gauges) for b in blocks])
    pd.testing.assert_frame_equal(joined.inventory, whole.inventory)
    pd.testing.assert_frame_equal(joined.profiles, whole.profiles)
    xr.testing.assert_identical(joined.grid.load(), whole.grid)


def test_ground_radar_blocks_store_the_whole_day(sim_day):
    """The asset's blocks, joined, store what one ingest of the day gives; no block file is
    left, and every block step ran."""
    from fusion_ops.radar.profiles import ingest_radar_day
    from fusion_ops.readers.ground_radar import list_volumes

    day, root, result = sim_day
    steps = {e.step_key for e in result.all_events if e.step_key}
    assert {
        "ground_radar.ingest_ground_radar_block_0",
        "ground_radar.ingest_ground_radar_block_1",
    } <= steps
    blocks_dir = root / "storage" / "ground_radar_blocks"
    assert not any(p.is_file() for p in blocks_dir.rglob("*"))  # removed once joined
    grid, gauges = _sim_grid_and_gauges(root, day)
    urls = list_volumes(str(root / "nexrad"), day, "KMLB", None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        whole = ingest_radar_day(urls, grid, gauges)
    stored = root / "storage"
    with xr.open_dataset(
        stored / f"ground_radar_grid_profiles/{day}.nc", mask_and_scale=False
    ) as codes:
        for name in whole.grid.data_vars:
            np.testing.assert_array_equal(codes[name].values, whole.grid[name].values)
        assert codes.attrs == whole.grid.attrs
    pd.testing.assert_frame_equal(
        pd.read_parquet(stored / f"ground_radar_gauge_profiles/{day}.parquet"),
        whole.profiles,
    )
    inventory = pd.read_parquet(stored / f"ground_radar_volumes/{day}.parquet")
    pd.testing.assert_frame_equal(inventory, whole.inventory)
