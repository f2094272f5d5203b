"""TRMM PR V7 HDF4 writer: the project reader reads what it writes, the same pass as GPM layout."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta

import h5py
import numpy as np
import pytest

from fusion_ops.readers.spaceborne_trmm import hdf4_header, read_2a_trmm_v7_bins
from fusion_ops.simulate.domain import Domain
from fusion_ops.simulate.formats import trmm_hdf4
from fusion_ops.simulate.spaceborne import (
    SpaceborneConfig,
    find_overpasses,
    write_gpm_2a,
    write_trmm_v7,
)
from fusion_ops.simulate.truth import TruthConfig, TruthModel

DAY = date(2009, 5, 20)
DOMAIN = Domain(width_km=120.0, height_km=120.0, margin_km=40.0)


@pytest.fixture(scope="module")
def one_pass(tmp_path_factory):
    """The rainiest TRMM pass of the day as V7 HDF4 files and as the GPM-layout HDF5."""
    truth = TruthModel(TruthConfig(seed=1, domain=DOMAIN))
    cfg = SpaceborneConfig(platform="TRMM")
    passes = find_overpasses(truth, DAY, cfg, seed=1)
    ov = max(passes, key=lambda p: p.times.size)
    files, summary = write_trmm_v7(truth, ov, cfg, seed=1)
    folder = tmp_path_factory.mktemp("trmm")
    for name, data in files.items():
        (folder / name).write_bytes(data)
    buf = io.BytesIO()
    write_gpm_2a(buf, truth, ov, cfg, seed=1)
    return ov, folder, summary, h5py.File(io.BytesIO(buf.getvalue()), "r")["FS"]


def test_names_and_headers_pair_the_granules(one_pass):
    ov, folder, summary, _ = one_pass
    start = datetime.fromtimestamp(float(ov.times[0]), UTC)
    assert summary["name"] == f"2A25.{start:%Y%m%d}.{ov.orbit_number:05d}.7.HDF"
    assert summary["companion"] == f"2A23.{start:%Y%m%d}.{ov.orbit_number:05d}.7.HDF"
    h25 = hdf4_header(str(folder / summary["name"]))
    h23 = hdf4_header(str(folder / summary["companion"]))
    assert (h25["kind"], h23["kind"]) == ("2A25", "2A23")
    for key in ("GranuleNumber", "StartGranuleDateTime", "StopGranuleDateTime"):
        assert h25[key] == h23[key]
    assert h25["FileName"] == summary["name"] and h25["ProductVersion"] == "7"
    assert (
        h25["StartGranuleDateTime"] == f"{start:%Y-%m-%dT%H:%M:%S}.{start.microsecond // 1000:03d}Z"
    )


def test_same_pass_as_the_gpm_layout(one_pass):
    """Footprints, times and the product are the GPM writer's; Z on every other 125 m bin."""
    ov, folder, summary, fs = one_pass
    bins = read_2a_trmm_v7_bins(str(folder / summary["name"]), str(folder / summary["companion"]))
    ns = ov.times.size
    assert bins["zku_dbz"].shape == (ns, 49, 80) and summary["n_scans"] == ns
    assert (bins.attrs["n_bin"], bins.attrs["bin_spacing_m"]) == (80, 250.0)
    np.testing.assert_array_equal(bins["lat"].values, fs["Latitude"][:].astype(np.float64))
    np.testing.assert_array_equal(bins["lon"].values, fs["Longitude"][:].astype(np.float64))
    expected_t = [
        np.datetime64(datetime.fromtimestamp(float(t), UTC).replace(tzinfo=None), "ms")
        for t in ov.times
    ]
    np.testing.assert_array_equal(bins["time"].values.astype("datetime64[ms]"), expected_t)
    # correctZFactor bin j (250 m) is zFactorFinal bin 17 + 2 j (125 m): same height at nadir
    zf = fs["SLV/zFactorFinal"][:][:, :, 17::2]
    z = bins["zku_dbz"].values
    has = zf > -9999.0
    np.testing.assert_array_equal(np.isfinite(z), has)
    np.testing.assert_allclose(z[has], zf[has], atol=0.005 + 1e-6)  # int16 in 0.01 dB
    assert 40.0 < np.nanmax(z) < 65.0
    assert np.isnan(z[:, :, -1]).all()  # the ellipsoid bin carries no product, as in the GPM file
    # rain type and bright band from the 2A23
    typ = fs["CSF/typePrecip"][:] // 10_000_000
    ptype = bins["precip_type"].values
    np.testing.assert_array_equal(ptype, np.where(typ > 0, typ, 0))
    assert {1, 2} <= set(np.unique(ptype))
    flag_bb = fs["CSF/flagBB"][:] == 1
    hbb = bins["bright_band_height_m"].values
    np.testing.assert_array_equal(np.isfinite(hbb), flag_bb)
    np.testing.assert_allclose(hbb[flag_bb], fs["CSF/heightBB"][:][flag_bb], atol=0.5)
    width = bins["bright_band_width_m"].values[flag_bb]
    assert 300.0 < np.median(width) < 700.0
    assert (bins["bright_band_quality"].values[flag_bb] == 1).all()


def test_surface_rain_is_the_gpm_near_surface_rate(one_pass):
    from fusion_ops.readers.spaceborne import read_2a

    ov, folder, summary, fs = one_pass
    ds = read_2a(str(folder / summary["name"]), url_2a23=str(folder / summary["companion"]))
    rns = fs["SLV/precipRateNearSurface"][:]
    got = np.full(rns.shape, np.nan, np.float32)
    got[ds["scan"].values, ds["ray"].values] = ds["precip_rate_near_surface_mm_h"].values
    np.testing.assert_array_equal(got, rns)
    assert summary["rain_footprints"] == int((rns > 0).sum()) > 0
    # freezing level (above ground: the flat world's surface is the ellipsoid)
    np.testing.assert_allclose(
        ds["zero_deg_height_m"].values,
        fs["VER/heightZeroDeg"][:][ds["scan"].values, ds["ray"].values],
        rtol=1e-6,
    )


def test_bytes_are_deterministic_and_hold_no_temporary_path():
    lat = np.full((3, 49), 28.0, np.float32)
    times = [datetime(2009, 5, 20, 12, tzinfo=UTC) + timedelta(seconds=0.6 * i) for i in range(3)]
    z = np.full((3, 49, 80), np.nan)
    z[1, 24, 60:] = 33.3

    def write(path: str) -> None:
        trmm_hdf4.write_2a25(
            path,
            z_dbz=z,
            latitude=lat,
            longitude=lat - 108.0,
            times=times,
            near_surface_rain_mm_h=np.zeros((3, 49), np.float32),
            granule=65270,
        )

    one = trmm_hdf4.hdf4_bytes(write, "2A25.20090520.65270.7.HDF")
    two = trmm_hdf4.hdf4_bytes(write, "2A25.20090520.65270.7.HDF")
    assert one == two and one[:4] == b"\x0e\x03\x13\x01"
    assert b"rainfuse-hdf4-" not in one and b"/2A25.20090520.65270.7.HDF" in one


def test_writer_errors(tmp_path):
    lat = np.zeros((2, 49), np.float32)
    times = [datetime(2009, 5, 20, tzinfo=UTC)] * 2
    with pytest.raises(trmm_hdf4.TrmmWriteError, match="correctZFactor shape"):
        trmm_hdf4.write_2a25(
            tmp_path / "a.HDF",
            z_dbz=np.zeros((2, 48, 80)),
            latitude=lat,
            longitude=lat,
            times=times,
            near_surface_rain_mm_h=lat,
            granule=1,
        )
    with pytest.raises(trmm_hdf4.TrmmWriteError, match="do not agree"):
        trmm_hdf4.write_2a23(
            tmp_path / "b.HDF",
            rain_type=lat,
            rain_flag=lat,
            bright_band_height_m=lat,
            bright_band_width_m=lat,
            status=lat,
            latitude=lat,
            longitude=lat,
            times=times[:1],
            granule=1,
        )
    with pytest.raises(trmm_hdf4.TrmmWriteError, match="timezone-aware"):
        trmm_hdf4.trmm_v7_filename("2A25", datetime(2009, 5, 20), 1)
