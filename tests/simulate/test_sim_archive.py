"""A small simulated day read back with Py-ART, satpy, h5py, pandas and the project readers."""

from __future__ import annotations

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
from fusion_ops.simulate.cli import main
from fusion_ops.simulate.domain import Domain
from fusion_ops.simulate.gauges import NETWORKS
from fusion_ops.simulate.ground_radar import VCP21_ELEVATIONS_DEG
from fusion_ops.simulate.truth import TruthConfig, TruthModel

DAY = date(2009, 5, 20)
DOMAIN = Domain(width_km=160.0, height_km=160.0, margin_km=80.0)
REAL_KU = "spaceborne/2A.GPM.Ku.V9-20211125.20140308-S220950-E234217.000144.V07A.HDF5"


def _config(root: str) -> SimulationConfig:
    return SimulationConfig(
        out_url=root,
        start=DAY,
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


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("sim")
    cfg = _config(str(root))
    manifest = simulate_day(cfg, DAY, TruthModel(TruthConfig(seed=1, domain=DOMAIN)), None)
    return root, manifest


def test_manifest_and_key_layout(archive):
    root, manifest = archive
    on_disk = json.loads((root / "manifest/2009/05/20/manifest.json").read_text())
    assert on_disk["day"] == "2009-05-20"
    keys = [f["key"] for f in manifest["files"]]
    patterns = {
        "gauge_isd": r"^gauges/2009/99[1-4]\d{3}99999\.csv$",
        "gauge_station_list": r"^gauges/isd-history\.csv$",
        "nexrad_level2": r"^nexrad/2009/05/20/KMLB/KMLB20090520_\d{6}_V06$",
        "spaceborne_2a": r"^spaceborne/2009/05/20/2A\.TRMM\.PR\.V9-20220125\.20090520-S\d{6}-E\d{6}\.\d{6}\.V07A\.HDF5$",
        "abi_l1b": r"^goes/ABI-L1b-RadM/2009/140/\d{2}/OR_ABI-L1b-RadM1-M6C(02|13)_G16_s2009140\d{7}_e2009140\d{7}_c2009140\d{7}\.nc$",
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
    assert counts["abi_l1b"] == 4 * 2
    assert counts["spaceborne_2a"] >= 1
    assert len(set(keys)) == len(keys)
    assert not list(root.rglob(".*.tmp"))  # no temporary of fusion_ops.atomic left behind


def test_nexrad_read_by_pyart_geometry_and_values(archive):
    import pyart

    root, _ = archive
    files = sorted((root / "nexrad/2009/05/20/KMLB").iterdir())
    assert [f.name for f in files][:2] == ["KMLB20090520_000000_V06", "KMLB20090520_030000_V06"]
    radar = pyart.io.read_nexrad_archive(str(files[-2]))  # 18 UTC: afternoon convection
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
    rho = radar.fields["cross_correlation_ratio"]["data"][ref > 30]
    assert np.ma.median(rho) > 0.95
    phi = radar.fields["differential_phase"]["data"]
    assert 40 < np.ma.median(phi) < 120  # system phase 60 deg plus propagation
    zdr = radar.fields["differential_reflectivity"]["data"][ref > 35]
    assert 0.3 < np.ma.median(zdr) < 3.0


def test_nexrad_same_reader_real_and_synthetic(archive, shared_data):
    from fusion_ops.readers.ground_radar import read_nexrad_level2

    root, _ = archive
    mine = read_nexrad_level2(str(root / "nexrad/2009/05/20/KMLB/KMLB20090520_180000_V06"))
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


def test_spaceborne_layout_matches_real_v07(archive, shared_data):
    root, _ = archive
    path = next((root / "spaceborne/2009/05/20").iterdir())
    m = re.search(r"\.20090520-S(\d{6})-E(\d{6})\.", path.name)
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
            2009, 5, 20, int(st["Hour"][0]), int(st["Minute"][0]), int(st["Second"][0])
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


def test_spaceborne_same_reader_real_and_synthetic(archive, shared_data):
    from fusion_ops.readers.spaceborne import read_2a

    root, _ = archive
    path = next((root / "spaceborne/2009/05/20").iterdir())
    mine = read_2a(str(path))
    real = read_2a(str(shared_data / REAL_KU))
    assert mine.sizes["footprint"] > 100 and real.sizes["footprint"] == 100
    assert set(real.data_vars) == set(mine.data_vars)
    assert float(mine["precip_rate_near_surface_mm_h"].max()) > 1.0


def test_abi_read_by_satpy_like_the_real_files(archive, shared_data):
    from satpy import Scene

    root, _ = archive
    files = sorted(str(p) for p in (root / "goes/ABI-L1b-RadM/2009/140/18").iterdir())
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
    assert scn.start_time.replace(tzinfo=UTC) == datetime(2009, 5, 20, 18, tzinfo=UTC)
    # Cold, thick cloud tops and warm clear sky, visible brighter where clouds are thick.
    assert np.nanmin(bt) < 235 and np.nanmax(bt) > 290
    cold = np.kron(bt < 240, np.ones((4, 4), bool))
    warm = np.kron(bt > 290, np.ones((4, 4), bool))
    assert np.nanmean(vis[cold]) > np.nanmean(vis[warm]) + 20  # satpy reflectance in %
    night = Scene(
        reader="abi_l1b",
        filenames=sorted(str(p) for p in (root / "goes/ABI-L1b-RadM/2009/140/06").iterdir()),
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
    assert b.min() < 1.4 and b.max() > 1.45


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
    for key in ("gauges/2009/99300599999.csv", "nexrad/2009/05/20/KMLB/KMLB20090520_120000_V06"):
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
