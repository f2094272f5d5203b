"""Ground radar: Level II (fast decoder vs Py-ART), ODIM via xradar, QC, gridding, profiles, bad files."""

from __future__ import annotations

import shutil
import warnings

import numpy as np
import pytest
import xarray as xr

from fusion_ops.datamodel import RadarVolume, Sweep
from fusion_ops.grid import ProductGrid
from fusion_ops.radar import gridding as G
from fusion_ops.radar.geometry import beam_height_m
from fusion_ops.radar.packing import pack_dbz, unpack_dbz, write_compact_netcdf
from fusion_ops.radar.profiles import ingest_volumes, process_volume
from fusion_ops.radar.qc import RadarQCConfig, derive_kdp, quality_control, speckle_mask
from fusion_ops.readers.errors import UnreadableFileError
from fusion_ops.readers.ground_radar import (
    DEFAULT_FIELDS,
    list_volumes,
    read_nexrad_level2,
    read_volume,
)

KLBB = "radar/KLBB20160601_150025_V06"
ODIM = "radar/IDR66_20141206_094829.vol.h5"


def test_level2_facts_from_data_readme(klbb):
    assert klbb.site_id == "KLBB"
    assert len(klbb.sweeps) == 11
    assert sum(s.n_azimuth for s in klbb.sweeps) == 5400
    assert max(s.range_m.size for s in klbb.sweeps) == 1832
    assert klbb.latitude_deg == pytest.approx(33.654, abs=1e-3)
    assert klbb.longitude_deg == pytest.approx(-101.814, abs=1e-3)
    assert klbb.max_reflectivity_dbz() == pytest.approx(71.5)
    assert str(klbb.time) == "2016-06-01T15:00:25"
    assert klbb.sweeps[0].elevation_deg == pytest.approx(0.4834, abs=1e-3)


def test_fast_decoder_matches_pyart(klbb_path, klbb):
    fields = ("reflectivity", "differential_reflectivity", "cross_correlation_ratio")
    ref = read_nexrad_level2(klbb_path, fields, decoder="pyart")
    assert len(ref.sweeps) == len(klbb.sweeps)
    for a, b in zip(klbb.sweeps, ref.sweeps, strict=True):
        assert a.elevation_deg == pytest.approx(b.elevation_deg)
        for name in fields:
            if name not in b.fields:
                assert name not in a.fields
                continue
            x, y = a.fields[name], b.fields[name]
            n = x.shape[1]
            assert not np.isfinite(y[:, n:]).any()  # Py-ART pads short sweeps to 1832 gates
            np.testing.assert_array_equal(np.isfinite(x), np.isfinite(y[:, :n]))
            np.testing.assert_allclose(x, y[:, :n], equal_nan=True)


def test_odim_without_conventions_falls_back_to_xradar(shared_data):
    vol = read_volume(str(shared_data / ODIM))
    assert len(vol.sweeps) == 14
    z = vol.sweeps[0].fields["reflectivity"]
    assert z.shape == (360, 600)
    assert vol.latitude_deg == pytest.approx(-27.718, abs=1e-3)
    assert vol.longitude_deg == pytest.approx(153.240, abs=1e-3)
    assert np.isfinite(z).sum() > 1000


def test_beam_height_4_3_earth():
    # 100 km at 0.5 deg: 100 km * sin(0.5) + (100 km)^2 / (2 * 4/3 * 6371 km) = 0.873 + 0.589 km
    assert float(beam_height_m(100e3, 0.5)) == pytest.approx(1461.0, abs=5.0)


def test_speckle_and_kdp_on_synthetic_sweep():
    valid = np.zeros((36, 20), bool)
    valid[10:15, 5:12] = True
    valid[30, 18] = True  # isolated gate
    sp = speckle_mask(valid, 3)
    assert sp[30, 18] and not sp[12, 8]
    rng = 250.0 * np.arange(40) + 125.0
    phi = np.tile(2.0 * 2.0 * (rng / 1000.0), (8, 1)).astype(np.float32)  # KDP 2 deg/km
    sw = Sweep(0.5, 45.0, rng, {"differential_phase": phi})
    derive_kdp(sw)
    kdp = sw.fields["specific_differential_phase"]
    assert np.nanmedian(kdp[:, 10:30]) == pytest.approx(2.0, abs=1e-3)


@pytest.fixture(scope="module")
def qcd(klbb_path):
    vol = read_volume(klbb_path, DEFAULT_FIELDS, max_range_m=160e3)
    stats = quality_control(vol, RadarQCConfig())
    for s in vol.sweeps:
        derive_kdp(s)
    return vol, stats


def test_qc_removes_some_but_keeps_most(qcd):
    vol, stats = qcd
    assert 0.5 * stats["valid_before"] < stats["valid_after"] < stats["valid_before"]
    assert 55.0 < vol.max_reflectivity_dbz() <= 71.5


def test_gridding_uses_cached_map_and_packs(qcd, tmp_path):
    vol, _ = qcd
    G.clear_cache()
    grid = ProductGrid.from_centres(33.0, 34.3, -102.6, -101.0, 0.02, (1000.0, 2000.0, 3000.0))
    ds1 = G.grid_volume(vol, grid, ("reflectivity", "differential_reflectivity"))
    ds2 = G.grid_volume(vol, grid, ("reflectivity",))
    st = G.cache_stats()
    assert st["misses"] == 1 and st["hits"] == 1
    assert ds1["reflectivity"].shape == (1, 3, grid.lat.size, grid.lon.size)
    np.testing.assert_array_equal(ds1["reflectivity"].values, ds2["reflectivity"].values)
    z = ds1["reflectivity"].values
    assert np.isfinite(z).sum() > 5000
    assert np.nanmax(z) < 72.0 and np.nanmin(z) >= -10.0
    # the cell above the radar at 1 km is inside the volume's coverage
    assert (ds1["n_gates"].values[0, 0] > 0).sum() > 1000
    out = tmp_path / "grid.nc"
    write_compact_netcdf(ds1.copy(), out)
    back = xr.open_dataset(out)
    with xr.open_dataset(out, mask_and_scale=False) as raw:
        assert raw["reflectivity"].dtype == np.uint8
    d = np.abs(back["reflectivity"].values - z)
    assert np.nanmax(d) <= 0.25 + 1e-4
    np.testing.assert_array_equal(np.isfinite(back["reflectivity"].values), np.isfinite(z))


def test_pack_roundtrip_half_db():
    z = np.array([-40.0, -32.0, 0.1, 35.26, 95.0, np.nan], np.float32)
    codes = pack_dbz(z)
    assert codes.dtype == np.uint8 and codes[-1] == 255
    back = unpack_dbz(codes)
    assert back[0] == -32.0  # clipped to the lowest code
    np.testing.assert_allclose(back[1:5], z[1:5], atol=0.25)


def test_gauge_profiles_geometry(qcd):
    vol, _ = qcd
    gauges = G.GaugePoints(("near", "far", "outside"), (33.75, 34.6, 40.0), (-101.7, -101.0, -90.0))
    df = G.gauge_profiles(vol, gauges)
    assert set(df["station_id"]) == {"near", "far"}  # the radar never sees "outside"
    assert len(df) == 2 * 16
    near = df[df.station_id == "near"]
    assert near["gauge_range_m"].iloc[0] == pytest.approx(15_000, rel=0.15)
    ok = near["mean_range_m"].notna()
    # slant range: at least the ground distance, at most ground / cos(20 deg) (top elevation)
    r, g = near["mean_range_m"][ok], near["gauge_range_m"][ok]
    assert np.all(r > g - 1600) and np.all(r < g / np.cos(np.deg2rad(20.0)) + 1600)
    assert np.all(np.abs(near["mean_beam_height_m"][ok] - near["height_m"][ok]) < 600)
    assert near["reflectivity_dbz"].notna().sum() >= 3


def test_list_volumes_layout(tmp_path, klbb_path):
    day = tmp_path / "nexrad" / "2016" / "06" / "01" / "KLBB"
    day.mkdir(parents=True)
    shutil.copy(klbb_path, day / "KLBB20160601_150025_V06")
    (day / "KLBB20160601_150025_V06_MDM").write_bytes(b"x")
    (day / "notes.txt").write_text("x")
    urls = list_volumes(str(tmp_path / "nexrad"), "2016-06-01", "KLBB")
    assert [u.rsplit("/", 1)[-1] for u in urls] == ["KLBB20160601_150025_V06"]
    assert list_volumes(str(tmp_path / "nexrad"), "2016-06-02", "KLBB") == []


@pytest.fixture(scope="module")
def bad_radar_files(tmp_path_factory, shared_data):
    d = tmp_path_factory.mktemp("badradar")
    data = (shared_data / KLBB).read_bytes()
    trunc = d / "KLBB20160601_160000_V06"
    trunc.write_bytes(data[: len(data) // 2])
    corrupt = bytearray(data)
    corrupt[200_000:200_400] = b"\x00" * 400  # inside a bzip2 record
    cor = d / "KLBB20160601_170000_V06"
    cor.write_bytes(bytes(corrupt))
    empty = d / "KLBB20160601_180000_V06"
    empty.write_bytes(b"")
    wrong = d / "KLBB20160601_190000_V06"
    wrong.write_text("station,time\n")
    odim = (shared_data / ODIM).read_bytes()
    odim_trunc = d / "IDR66_trunc.vol.h5"
    odim_trunc.write_bytes(odim[: len(odim) // 3])
    odim_cor = d / "IDR66_corrupt.vol.h5"
    odim_cor.write_bytes(odim[:8] + b"\xff" * 4000 + odim[4008:])
    return {
        "truncated": str(trunc),
        "corrupt": str(cor),
        "empty": str(empty),
        "wrong": str(wrong),
        "odim_truncated": str(odim_trunc),
        "odim_corrupt": str(odim_cor),
    }


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("truncated", "truncated"),
        ("corrupt", "corrupt"),
        ("empty", "empty"),
        ("wrong", "unknown format"),
        ("odim_truncated", "failed"),
        ("odim_corrupt", "failed"),
    ],
)
def test_bad_volume_raises_named_error(bad_radar_files, key, reason):
    with pytest.raises(UnreadableFileError) as err, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        read_volume(bad_radar_files[key])
    assert err.value.file == bad_radar_files[key]
    assert reason in err.value.reason


def test_day_with_bad_volumes_still_ingests(bad_radar_files, klbb_path):
    quarantine = []
    grid = ProductGrid.from_centres(33.2, 34.1, -102.3, -101.3, 0.05, (1000.0, 2000.0))
    gauges = G.GaugePoints(("g1",), (33.8,), (-101.6,))
    urls = [bad_radar_files["truncated"], klbb_path, bad_radar_files["corrupt"]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        products = list(
            ingest_volumes(urls, grid, gauges, (33.654, -101.814), None, None, quarantine)
        )
    assert len(products) == 1 and products[0].site_id == "KLBB"
    assert products[0].grid["reflectivity"].shape == (1, 2, 19, 21)
    assert len(products[0].profiles) == 16
    assert {q.file for q in quarantine} == {
        bad_radar_files["truncated"],
        bad_radar_files["corrupt"],
    }
    assert all(q.reader == "nexrad_level2" and q.reason for q in quarantine)


def test_process_volume_on_tiny_synthetic_volume():
    rng = 1000.0 * np.arange(60) + 500.0
    z = np.full((360, 60), 30.0, np.float32)
    sw = Sweep(0.5, 1.0, rng, {"reflectivity": z})
    vol = RadarVolume("TEST", 35.0, -100.0, 500.0, np.datetime64("2020-01-01T00:00:00"), [sw])
    grid = ProductGrid.from_centres(34.6, 35.4, -100.4, -99.6, 0.1, (500.0, 1000.0))
    out = process_volume(vol, grid, None)
    zg = out.grid["reflectivity"].values
    assert np.nanmin(zg) == pytest.approx(30.0, abs=1e-3)
    assert np.nanmax(zg) == pytest.approx(30.0, abs=1e-3)


def test_far_cells_between_rays_take_the_gate_whose_beam_covers_them():
    # one 0.5 degree sweep of 1 degree rays to 200 km; rays are 2.6 km apart at 150 km, the
    # cells 1 km: every cell under the beam must still get a value (no moire of empty cells)
    rng = np.arange(2125.0, 200_000.0, 500.0)
    az_index = np.arange(360, dtype=np.float32)[:, None]
    z = np.broadcast_to(10.0 + az_index / 36.0, (360, rng.size)).astype(np.float32).copy()
    vol = RadarVolume(
        "TEST", 28.0, -80.0, 10.0, np.datetime64("2020-01-01T00:00"), [Sweep(0.5, 1.0, rng, {})]
    )
    vol.sweeps[0].fields["reflectivity"] = z
    grid = ProductGrid.from_centres(
        26.7, 29.3, -81.5, -78.5, 0.01, heights_m=(1000.0, 1500.0, 2000.0)
    )
    ds = G.grid_volume(vol, grid, fields=("reflectivity",))
    lon2d, lat2d = np.meshgrid(grid.lon, grid.lat)
    x, y = G._aeqd(vol)(lon2d, lat2d)
    dist_km = np.hypot(x, y) / 1e3
    beam_km = beam_height_m(dist_km * 1e3, 0.5) / 1e3
    # the level whose 1 km band the beam centre is in (the beam is 2.6 km deep there)
    ring = (dist_km > 130) & (dist_km < 160) & (np.abs(beam_km - 2.0) < 0.25)
    level = ds["reflectivity"].sel(height=2000.0).isel(time=0).values
    assert ring.sum() > 1000
    assert np.isfinite(level[ring]).mean() == 1.0
    # each filled cell carries its own ray's value (the ray around the cell's azimuth)
    az = np.rad2deg(np.arctan2(x, y)) % 360.0
    expected = 10.0 + np.floor(az) / 36.0
    assert np.nanmax(np.abs(level[ring] - expected[ring])) < 1.0 / 36.0 + 1e-4
