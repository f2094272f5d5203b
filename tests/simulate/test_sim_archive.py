"""Small simulated days read back with Py-ART, satpy, h5py, pyhdf, pandas and the project readers.

Each day holds the instruments of its date in that date's archive formats (the era table,
:mod:`fusion_ops.eras`): 2009-05-20 is a single-pol WSR-88D in ``_V03.gz`` keys, TRMM PR V7
HDF4 granules and no GOES-R ABI; 2021-05-20 a dual-pol ``_V06`` volume in plain keys, GPM V07
HDF5 and GOES-16 ABI.
"""

from __future__ import annotations

import gzip
import json
import re
import warnings
from datetime import UTC, date, datetime
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import xarray as xr

from fusion_ops.simulate.archive import SimulationConfig, simulate_day
from fusion_ops.simulate.cli import build_parser, main
from fusion_ops.simulate.domain import Domain
from fusion_ops.simulate.gauges import NETWORKS
from fusion_ops.simulate.ground_radar import VCP21_ELEVATIONS_DEG
from fusion_ops.simulate.truth import TruthConfig, TruthModel

DAY = date(2009, 5, 20)
DAY_2021 = date(2021, 5, 20)
DOMAIN = Domain(width_km=160.0, height_km=160.0, margin_km=80.0)
#: The scored box of DOMAIN (160 km around KMLB), with a little room for the swath's edge.
BBOX = (28.113 - 0.8, 28.113 + 0.8, -80.654 - 0.9, -80.654 + 0.9)
REAL_KU = "spaceborne/2A.GPM.Ku.V9-20211125.20140308-S220950-E234217.000144.V07A.HDF5"


def _config(root: str, day: date = DAY, **changes) -> SimulationConfig:
    cfg = SimulationConfig(
        out_url=root,
        start=day,
        days=1,
        seed=1,
        radar_cadence_min=180.0,
        abi_cadence_min=360.0,
        gate_spacing_m=1000.0,
        abi_bands=(2, 13),
        truth_step_min=20.0,
        domain=DOMAIN,
        write_imagery=True,
    )
    return SimulationConfig(**{**cfg.__dict__, **changes})


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("sim")
    cfg = _config(str(root))
    manifest = simulate_day(cfg, DAY, TruthModel(TruthConfig(seed=1, domain=DOMAIN)), None)
    return root, manifest


@pytest.fixture(scope="module")
def archive_2021(tmp_path_factory) -> tuple[Path, dict]:
    """The observers whose format changed since 2009, on a day of the dual-pol, GPM, ABI era."""
    root = tmp_path_factory.mktemp("sim2021")
    cfg = _config(str(root), DAY_2021, observers=("nexrad", "spaceborne", "goes"))
    manifest = simulate_day(cfg, DAY_2021, TruthModel(TruthConfig(seed=1, domain=DOMAIN)), None)
    return root, manifest


def test_manifest_and_key_layout(archive):
    root, manifest = archive
    on_disk = json.loads((root / "manifest/2009/05/20/manifest.json").read_text())
    assert on_disk["day"] == "2009-05-20"
    keys = [f["key"] for f in manifest["files"]]
    patterns = {
        "gauge_isd": r"^gauges/2009/99[1-4]\d{3}99999\.csv$",
        "gauge_station_list": r"^gauges/isd-history\.csv$",
        "nexrad_level2": r"^nexrad/2009/05/20/KMLB/KMLB20090520_\d{6}_V03\.gz$",
        "spaceborne_2a": r"^spaceborne/2009/05/20/2A25\.20090520\.\d{5}\.7\.HDF$",
        "spaceborne_2a23": r"^spaceborne/2009/05/20/2A23\.20090520\.\d{5}\.7\.HDF$",
        "truth_rain": r"^truth/2009/05/20/truth_rain_20090520\.nc$",
        "truth_gauges": r"^truth/2009/05/20/gauges_truth_20090520\.csv$",
        "imagery_scene": r"^imagery/2009/05/20/scene_20090520\.nc$",
    }
    for f in manifest["files"]:
        assert re.match(patterns[f["kind"]], f["key"]), f["key"]
        assert (root / f["key"]).stat().st_size == f["bytes"]
    counts = manifest["counts"]
    assert counts["gauge_isd"] == sum(n for _, n, _, _ in NETWORKS)
    assert counts["nexrad_level2"] == 8
    assert counts["spaceborne_2a"] >= 1 and counts["spaceborne_2a23"] == counts["spaceborne_2a"]
    # no GOES-R ABI in 2009: nothing written, and the manifest says why
    assert "abi_l1b" not in counts and not (root / "goes").exists()
    assert manifest["absent"] == {"goes": "no GOES-R ABI before 2017-02-28"}
    assert on_disk["absent"] == manifest["absent"]
    era = on_disk["era"]
    assert (era["radar_capability"], era["radar_polarization"]) == ("single", "single")
    assert (era["level2_message_type"], era["level2_records"]) == (31, "uncompressed")
    assert (era["level2_key_suffix"], era["level2_version"]) == (".gz", "V03")
    assert (era["spaceborne"], era["satellite_platform"]) == ("TRMM", "")
    assert on_disk["config"]["platform"] is None
    assert len(set(keys)) == len(keys)
    assert not list(root.rglob(".*.tmp"))  # no temporary of fusion_ops.atomic left behind


def test_manifest_and_key_layout_2021(archive_2021):
    root, manifest = archive_2021
    patterns = {
        "nexrad_level2": r"^nexrad/2021/05/20/KMLB/KMLB20210520_\d{6}_V06$",
        "spaceborne_2a": r"^spaceborne/2021/05/20/2A\.GPM\.Ku\.V9-20211125\.2021052\d-S\d{6}-E\d{6}\.\d{6}\.V07A\.HDF5$",
        "abi_l1b": r"^goes/ABI-L1b-RadM/2021/140/\d{2}/OR_ABI-L1b-RadM1-M6C(02|13)_G16_s2021140\d{7}_e2021140\d{7}_c2021140\d{7}\.nc$",
    }
    for f in manifest["files"]:
        assert re.match(patterns[f["kind"]], f["key"]), f["key"]
    counts = manifest["counts"]
    assert counts["nexrad_level2"] == 8 and counts["abi_l1b"] == 4 * 2
    assert counts["spaceborne_2a"] >= 1 and "spaceborne_2a23" not in counts
    assert manifest["absent"] == {}
    era = manifest["era"]
    assert (era["radar_capability"], era["level2_version"], era["level2_key_suffix"]) == (
        "dual",
        "V06",
        "",
    )
    assert era["level2_records"] == "bzip2"
    assert (era["spaceborne"], era["satellite_platform"]) == ("GPM", "G16")


def test_nexrad_single_pol_gz_keys_read_back(archive):
    """2009: gzip over the uncompressed records, version 3, no dual-pol moment, the site's place."""
    from fusion_ops.readers.ground_radar import list_volumes, read_volume

    root, _ = archive
    urls = list_volumes(str(root / "nexrad"), DAY, "KMLB")
    assert [u.rsplit("/", 1)[-1] for u in urls][:2] == [
        "KMLB20090520_000000_V03.gz",
        "KMLB20090520_030000_V03.gz",
    ]
    raw = Path(urls[-2]).read_bytes()
    assert raw[:2] == b"\x1f\x8b"  # the whole file is gzip ...
    inner = gzip.decompress(raw)
    assert inner[:9] == b"AR2V0003." and inner[20:24] == b"KMLB"
    assert inner[28:30] == b"\x00\x00"  # ... over the records themselves, not bzip2 LDM records
    vol = read_volume(urls[-2])  # 18 UTC: afternoon convection
    assert vol.site_id == "KMLB"
    assert vol.latitude_deg == pytest.approx(28.113, abs=1e-3)
    assert vol.longitude_deg == pytest.approx(-80.654, abs=1e-3)
    assert len(vol.sweeps) == 9
    for sweep in vol.sweeps:
        assert set(sweep.fields) == {"reflectivity"}  # no ZDR, RHOHV or PHIDP
    assert float(np.nanmax(vol.sweeps[0].fields["reflectivity"])) > 40.0
    assert vol.time == np.datetime64("2009-05-20T18:00:00")


def _read_pyart(path: Path):
    """Py-ART's Level II reader (whole-file gzip included), without its deprecation notice."""
    import pyart

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*deprecated.*")
        return pyart.io.read_nexrad_archive(str(path))


def test_nexrad_read_by_pyart_geometry_and_values(archive):
    root, _ = archive
    files = sorted((root / "nexrad/2009/05/20/KMLB").iterdir())
    radar = _read_pyart(files[-2])  # 18 UTC: afternoon convection
    assert radar.metadata["instrument_name"].strip() == "KMLB"
    assert radar.latitude["data"][0] == pytest.approx(28.113, abs=1e-3)
    assert radar.longitude["data"][0] == pytest.approx(-80.654, abs=1e-3)
    assert radar.altitude["data"][0] == pytest.approx(11.0, abs=1.0)
    assert radar.nsweeps == 9
    np.testing.assert_allclose(radar.fixed_angle["data"], VCP21_ELEVATIONS_DEG, atol=0.05)
    assert radar.time["units"] == "seconds since 2009-05-20T18:00:00Z"
    assert 200 < radar.time["data"].max() < 300
    r = radar.range["data"]
    assert r[0] == pytest.approx(2125.0) and np.diff(r)[0] == pytest.approx(1000.0)
    # Gate heights follow the 4/3 effective-earth model.
    ke_r = 4.0 / 3.0 * 6371000.0
    sweep = radar.get_slice(0)
    el = np.deg2rad(radar.elevation["data"][sweep][:, None])
    expect = np.sqrt(r**2 + ke_r**2 + 2 * r * ke_r * np.sin(el)) - ke_r + 11.0
    got = radar.gate_altitude["data"][sweep]
    np.testing.assert_allclose(got, expect, atol=15.0)
    assert expect[0, -1] > 3000  # ~3.6 km at 230 km for 0.5 deg
    ref = radar.fields["reflectivity"]["data"]
    assert ref.count() > 1000 and ref.max() > 40.0
    assert set(radar.fields) == {"reflectivity", "velocity", "spectrum_width"}  # single-pol
    assert radar.fields["velocity"]["data"].count() == ref.count()


def test_nexrad_dual_pol_2021_read_by_pyart(archive_2021):
    root, _ = archive_2021
    files = sorted((root / "nexrad/2021/05/20/KMLB").iterdir())
    assert [f.name for f in files][:2] == ["KMLB20210520_000000_V06", "KMLB20210520_030000_V06"]
    data = files[-2].read_bytes()
    assert data[:9] == b"AR2V0006." and data[28:30] == b"BZ"  # bzip2 LDM records, no gzip
    radar = _read_pyart(files[-2])  # 18 UTC
    assert radar.nsweeps == 9 and radar.time["units"] == "seconds since 2021-05-20T18:00:00Z"
    ref = radar.fields["reflectivity"]["data"]
    assert ref.count() > 1000 and ref.max() > 40.0
    rho = radar.fields["cross_correlation_ratio"]["data"][ref > 30]
    assert np.ma.median(rho) > 0.95
    phi = radar.fields["differential_phase"]["data"]
    assert 40 < np.ma.median(phi) < 120  # system phase 60 deg plus propagation
    zdr = radar.fields["differential_reflectivity"]["data"][ref > 35]
    assert 0.3 < np.ma.median(zdr) < 3.0


def test_nexrad_same_reader_real_and_synthetic(archive_2021, shared_data):
    from fusion_ops.readers.ground_radar import read_nexrad_level2

    root, _ = archive_2021
    mine = read_nexrad_level2(str(root / "nexrad/2021/05/20/KMLB/KMLB20210520_180000_V06"))
    real = read_nexrad_level2(str(shared_data / "radar/KLBB20160601_150025_V06"))
    assert len(mine.sweeps) == 9 and len(real.sweeps) >= 9
    for vol in (mine, real):
        ref = vol.sweeps[0].fields["reflectivity"]
        assert np.nanmax(ref) > 40.0
        assert {"differential_reflectivity", "cross_correlation_ratio"} <= set(vol.sweeps[0].fields)
    assert mine.sweeps[0].elevation_deg == pytest.approx(0.5, abs=0.05)
    assert mine.sweeps[0].range_m[0] == pytest.approx(2125.0)


def test_gauges_isd_csv_read_back(archive):
    from fusion_ops.readers.gauges import read_isd_csv

    root, _ = archive
    hist = pd.read_csv(root / "gauges/isd-history.csv", dtype=str)
    assert list(hist.columns[:4]) == ["USAF", "WBAN", "STATION NAME", "CTRY"]
    assert hist["STATION NAME"].str.split().str[0].value_counts().to_dict() == {
        "SFWN": 99,
        "SJRN": 46,
        "KSCN": 33,
        "MESO": 160,
    }
    one = root / "gauges/2009/99100199999.csv"
    raw = pd.read_csv(one, dtype=str)
    assert list(raw.columns[:10]) == [
        "STATION", "DATE", "SOURCE", "LATITUDE", "LONGITUDE", "ELEVATION", "NAME",
        "REPORT_TYPE", "CALL_SIGN", "QUALITY_CONTROL",
    ]  # fmt: skip
    assert raw["AA1"].str.match(r"^01,\d{4},\d,\d$").all()
    assert len(raw) == 24 and raw["DATE"].iloc[0] == "2009-05-20T00:00:00"
    truth = pd.read_csv(root / "truth/2009/05/20/gauges_truth_20090520.csv")
    rep, true = truth["reported_mm"], truth["true_mm"]
    tips = rep.dropna() / 0.254
    np.testing.assert_allclose(tips, np.round(tips), atol=1e-6)  # bucket quantisation
    both = rep.notna()
    assert rep[both].sum() < true[both].sum()  # undercatch
    assert np.corrcoef(rep[both], true[both])[0, 1] > 0.9
    assert truth.groupby("station")["reported_mm"].apply(lambda s: s.isna().any()).any()
    df = read_isd_csv(str(one))
    assert len(df) == 24
    depth = raw["AA1"].str.split(",").str[1].astype(int)
    np.testing.assert_allclose(df["precip_mm"].fillna(-1), np.where(depth == 9999, -1, depth / 10))


def _rainiest_granule(root: Path, manifest: dict) -> Path:
    """The 2A granule of the day with the most raining footprints (the manifest's summary)."""
    granules = [f for f in manifest["files"] if f["kind"] == "spaceborne_2a"]
    return root / max(granules, key=lambda f: f["rain_footprints"])["key"]


def test_spaceborne_trmm_v7_hdf4_read_back(archive):
    """2009: TRMM PR V7 2A25 + 2A23 granules, paired by content and read like GPM footprints."""
    from fusion_ops.readers.spaceborne import read_2a, read_2a_bins, read_2a_day
    from fusion_ops.readers.spaceborne_trmm import hdf4_header

    root, manifest = archive
    folder = root / "spaceborne/2009/05/20"
    files = sorted(str(p) for p in folder.iterdir())
    a25 = [f for f in files if Path(f).name.startswith("2A25.")]
    for f in files:
        assert Path(f).read_bytes()[:4] == b"\x0e\x03\x13\x01"  # HDF4, not HDF5
        header = hdf4_header(f)
        orbit = Path(f).name.split(".")[2]
        assert header["kind"] == Path(f).name[:4] and header["GranuleNumber"] == str(int(orbit))
        assert header["ProductVersion"] == "7" and header["SatelliteName"] == "TRMM"
    ds, n, quarantine = read_2a_day(files, BBOX)
    assert n == len(a25) and quarantine == []  # the 2A23 are companions, not granules
    assert set(np.unique(ds["granule"].values)) <= {Path(f).name for f in a25}
    assert ds.sizes["footprint"] > 100
    lat, lon = ds["lat"].values, ds["lon"].values
    assert (lat >= BBOX[0]).all() and (lat <= BBOX[1]).all()
    assert (lon >= BBOX[2]).all() and (lon <= BBOX[3]).all()
    z = ds["zku_dbz"].values
    assert 40.0 < np.nanmax(z) < 65.0 and np.nanmin(z) > 10.0  # plausible Ku reflectivity
    rate = ds["precip_rate_near_surface_mm_h"].values
    ptype = ds["precip_type"].values
    assert rate.max() > 5.0 and (ptype[rate > 0] > 0).all() and (rate[ptype == 0] == 0).all()
    assert {1, 2} <= set(np.unique(ptype))  # stratiform and convective, from the 2A23
    bb = ds["bright_band_height_m"].values
    assert np.isfinite(bb[ptype == 1]).any() and np.isnan(bb[ptype == 2]).all()
    assert 3000.0 < np.nanmedian(bb) < 6000.0
    summaries = {f["key"].rsplit("/", 1)[-1]: f for f in manifest["files"]}
    biggest = max(a25, key=lambda f: summaries[Path(f).name]["n_scans"])
    companion = biggest.replace("/2A25.", "/2A23.")
    one = read_2a(biggest, BBOX, url_2a23=companion)
    assert one.attrs["satellite"] == "TRMM" and one.attrs["product_version"] == "7"
    assert one.attrs["reflectivity_variable"] == "correctZFactor"
    assert (one.attrs["n_bin"], one.attrs["bin_spacing_m"]) == (80, 250.0)
    assert one.attrs["companion_2a23"] == companion and "no 2A23" not in one.attrs["note"]
    bins = read_2a_bins(biggest, url_2a23=companion)
    assert bins["zku_dbz"].shape[1:] == (49, 80) and bins.attrs["bin_spacing_m"] == 250.0
    assert bins["zku_dbz"].shape[0] == summaries[Path(biggest).name]["n_scans"]
    assert np.nanmax(bins["bright_band_width_m"].values) > 300.0


def test_spaceborne_layout_matches_real_v07(archive_2021, shared_data):
    root, manifest = archive_2021
    path = _rainiest_granule(root, manifest)
    m = re.search(r"\.20210520-S(\d{6})-E(\d{6})\.", path.name)
    real = h5py.File(shared_data / REAL_KU)
    with h5py.File(path) as f:
        for name in (
            "Latitude", "Longitude", "ScanTime/Year", "ScanTime/Month", "ScanTime/DayOfMonth",
            "ScanTime/Hour", "ScanTime/Minute", "ScanTime/Second", "ScanTime/MilliSecond",
            "ScanTime/DayOfYear", "PRE/zFactorMeasured", "PRE/height", "PRE/binClutterFreeBottom",
            "PRE/binRealSurface", "PRE/elevation", "PRE/localZenithAngle", "SLV/zFactorFinal",
            "SLV/precipRate", "SLV/precipRateNearSurface", "CSF/typePrecip", "CSF/heightBB",
        ):  # fmt: skip
            mine, ref = f["FS"][name], real["FS"][name]
            assert mine.dtype == ref.dtype, name
            assert mine.ndim == ref.ndim and mine.shape[2:] == ref.shape[2:], name
            assert mine.attrs["DimensionNames"] == ref.attrs["DimensionNames"], name
            assert mine.attrs["_FillValue"] == ref.attrs["_FillValue"], name
        fs = f["FS"]
        ns = fs["Latitude"].shape[0]
        assert fs["PRE/zFactorMeasured"].shape == (ns, 49, 176)
        st = fs["ScanTime"]
        first = datetime(
            2021, 5, 20, int(st["Hour"][0]), int(st["Minute"][0]), int(st["Second"][0])
        )
        assert first.strftime("%H%M%S") == m.group(1)
        assert np.all(np.diff(fs["ScanTime/SecondOfDay"][:]) > 0.5)
        surf = fs["PRE/binRealSurface"][:]
        cfb = fs["PRE/binClutterFreeBottom"][:]
        assert surf.max() == 176 and (cfb < surf).all() and cfb.min() >= 150  # 1-based
        h = fs["PRE/height"][:]
        np.testing.assert_allclose(h[:, :, 175], 0.0, atol=1.0)
        np.testing.assert_allclose(h[:, 24, 0], 175 * 125.0, rtol=1e-3)
        rns = fs["SLV/precipRateNearSurface"][:]
        typ = fs["CSF/typePrecip"][:]
        assert (typ[rns > 0] > 0).all() and (rns[typ == -1111] == 0).all()
        assert set(np.unique(typ // 10000000)) <= {-1, 0, 1, 2, 3} | {-1111 // 10000000}
        zf = fs["SLV/zFactorFinal"][:]
        assert (zf[:, :, -1] == np.float32(-9999.9)).all()
        zm = fs["PRE/zFactorMeasured"][:]
        assert (zm[:, :, 175] > 30).mean() > 0.9  # strong surface echo in the surface bin
        lat, lon = fs["Latitude"][:], fs["Longitude"][:]
        assert np.abs(lat - 28.113).min() < 0.5 and np.abs(lon + 80.654).min() < 0.5


def test_spaceborne_same_reader_real_and_synthetic(archive_2021, shared_data):
    from fusion_ops.readers.spaceborne import read_2a

    root, manifest = archive_2021
    path = _rainiest_granule(root, manifest)
    mine = read_2a(str(path))
    real = read_2a(str(shared_data / REAL_KU))
    assert mine.sizes["footprint"] > 100 and real.sizes["footprint"] == 100
    assert set(real.data_vars) == set(mine.data_vars)
    assert float(mine["precip_rate_near_surface_mm_h"].max()) > 1.0


def test_abi_read_by_satpy_like_the_real_files(archive_2021, shared_data):
    from satpy import Scene

    root, _ = archive_2021
    files = sorted(str(p) for p in (root / "goes/ABI-L1b-RadM/2021/140/18").iterdir())
    assert all("_G16_" in Path(f).name for f in files)
    real = sorted(str(p) for p in (shared_data / "satellite").glob("*C13_G17*.nc"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scn = Scene(reader="abi_l1b", filenames=files)
        scn.load(["C02", "C13"])
        ref = Scene(reader="abi_l1b", filenames=real)
        ref.load(["C13"])
    bt = scn["C13"].values
    vis = scn["C02"].values
    assert bt.shape == (80, 80) and vis.shape == (320, 320)  # 2 km and 0.5 km over 160 km
    assert ref["C13"].shape == (500, 500)
    assert scn.start_time.replace(tzinfo=UTC) == datetime(2021, 5, 20, 18, tzinfo=UTC)
    assert scn["C13"].attrs["platform_name"] == "GOES-16"
    # Cold, thick cloud tops and warm clear sky, visible brighter where clouds are thick.
    assert np.nanmin(bt) < 235 and np.nanmax(bt) > 290
    cold = np.kron(bt < 240, np.ones((4, 4), bool))
    warm = np.kron(bt > 290, np.ones((4, 4), bool))
    assert np.nanmean(vis[cold]) > np.nanmean(vis[warm]) + 20  # satpy reflectance in %
    night = Scene(
        reader="abi_l1b",
        filenames=sorted(str(p) for p in (root / "goes/ABI-L1b-RadM/2021/140/06").iterdir()),
    )
    night.load(["C02"])
    assert np.nanmax(night["C02"].values) < 5  # no sunlight at 02 local time


def test_truth_netcdf(archive):
    root, _ = archive
    ds = xr.open_dataset(root / "truth/2009/05/20/truth_rain_20090520.nc")
    assert ds["rain_hourly_mm"].dims == ("time", "lat", "lon")
    assert ds.sizes["time"] == 24
    assert pd.Timestamp(ds.time.values[0]) == pd.Timestamp("2009-05-20T01:00")
    np.testing.assert_allclose(
        ds.rain_hourly_mm.sum("time"), ds.rain_daily_mm, rtol=1e-4, atol=1e-3
    )
    assert float(ds.rain_daily_mm.max()) > 5.0
    assert np.all(np.diff(ds.lat) > 0) and np.all(np.diff(ds.lon) > 0)
    b = ds.zr_b.values[np.isfinite(ds.zr_b.values)]
    # Convective (Z-R exponent about 1.15) and stratiform (about 1.4) rain are both there.
    assert b.min() < 1.25 and b.max() > 1.35


def test_imagery_scene_uses_truth_clouds(archive):
    pytest.importorskip("fusion_ops.imagery.scenes", reason="the imagery scenes module is absent")
    root, _ = archive
    ds = xr.open_dataset(root / "imagery/2009/05/20/scene_20090520.nc")
    assert ds["reflectance"].shape == (128, 128, 128)
    assert ds["hs"].shape == (128, 32, 32) and ds["pan"].shape == (128, 128)
    assert 27.5 < float(ds.lat.mean()) < 28.5 and -81.5 < float(ds.lon.mean()) < -80.0
    assert float(ds["reflectance"].min()) >= 0.0 and float(ds["reflectance"].max()) <= 1.0


def test_rewrite_is_idempotent_and_deterministic(archive, tmp_path):
    root, _ = archive
    base = _config(str(tmp_path)).__dict__
    cfg = SimulationConfig(
        **{**base, "observers": ("gauges", "nexrad"), "radar_cadence_min": 720.0}
    )
    simulate_day(cfg, DAY, TruthModel(TruthConfig(seed=1, domain=DOMAIN)), None)
    again = SimulationConfig(**{**base, "observers": ("gauges",)})
    simulate_day(again, DAY, TruthModel(TruthConfig(seed=1, domain=DOMAIN)), None)
    for key in ("gauges/2009/99300599999.csv", "nexrad/2009/05/20/KMLB/KMLB20090520_120000_V03.gz"):
        assert (tmp_path / key).read_bytes() == (root / key).read_bytes()


def test_s3_root_through_fsspec(s3_bucket):
    bucket, options = s3_bucket
    cfg = _config(f"s3://{bucket}/sim")
    cfg = SimulationConfig(**{**cfg.__dict__, "observers": ("gauges",), "storage_options": options})
    manifest = simulate_day(cfg, DAY, TruthModel(TruthConfig(seed=1, domain=DOMAIN)), None)
    import s3fs

    fs = s3fs.S3FileSystem(**options)
    assert fs.exists(f"{bucket}/sim/gauges/2009/99100199999.csv")
    assert fs.exists(f"{bucket}/sim/manifest/2009/05/20/manifest.json")
    assert manifest["counts"]["gauge_isd"] == 338


def test_cli_rejects_bad_arguments(capsys):
    assert main(["--out", "/tmp/x", "--days", "0"]) == 2
    with pytest.raises(SystemExit):
        main(["--out", "/tmp/x", "--start", "20th May"])
    assert "not a date" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--out", "/tmp/x", "--satellite-platform", "G15"])


def test_cli_platforms_default_to_the_era_table():
    args = build_parser().parse_args(["--out", "x"])
    assert args.platform is None and args.satellite_platform is None
    args = build_parser().parse_args(
        ["--out", "x", "--platform", "GPM", "--satellite-platform", "G19"]
    )
    assert (args.platform, args.satellite_platform) == ("GPM", "G19")


def test_cli_writes_the_era_of_the_day(tmp_path, capsys):
    """Before 1991 there is no Level II to simulate: a clear error and exit code 2."""
    assert main(["--out", str(tmp_path), "--start", "1990-06-01", "--quiet"]) == 2
    assert "no WSR-88D Level II before 1991-01-01" in capsys.readouterr().err


def test_parallel_days_write_the_same_files_as_sequential(tmp_path):
    from fusion_ops.simulate.archive import simulate

    def run(root: Path, workers: int) -> dict[str, bytes]:
        cfg = SimulationConfig(
            out_url=str(root),
            start=DAY,
            days=2,
            seed=3,
            radar_cadence_min=720.0,
            gate_spacing_m=2000.0,
            truth_step_min=60.0,
            domain=DOMAIN,
            observers=("gauges", "nexrad", "spaceborne", "truth"),
        )
        manifests = simulate(cfg, progress=None, workers=workers)
        assert [m["counts"].get("gauge_isd", 0) for m in manifests] == [
            m["counts"].get("gauge_isd", 0) for m in manifests[:1]
        ] * 2
        stored = json.loads((root / "manifest/2009/05/21/manifest.json").read_text())
        assert stored["counts"] == manifests[1]["counts"]
        assert stored["counts"]["gauge_isd"] > 100 and stored["counts"]["nexrad_level2"] == 2
        return {
            str(p.relative_to(root)): p.read_bytes()
            for p in sorted(root.rglob("*"))
            if p.is_file() and "manifest" not in p.parts
        }

    sequential = run(tmp_path / "seq", 1)
    parallel = run(tmp_path / "par", 2)
    assert sorted(sequential) == sorted(parallel)
    assert any(key.startswith("nexrad/2009/05/21/") for key in parallel)
    assert all(sequential[key] == parallel[key] for key in sequential)
