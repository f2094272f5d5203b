"""TRMM PR V7 2A25 + 2A23 (HDF4) read into the GPM footprint structure; format by content."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest

from fusion_ops.calibration import srgr
from fusion_ops.datamodel import RadarVolume, Sweep
from fusion_ops.readers.errors import UnreadableFileError
from fusion_ops.readers.spaceborne import (
    read_2a,
    read_2a_bins,
    read_2a_day,
    sniff_format,
)
from fusion_ops.readers.spaceborne_trmm import NOTE_NO_2A23, read_2a_trmm_v7
from fusion_ops.simulate.formats import trmm_hdf4

NSCAN, NRAY, NBIN = 4, 49, 80
T0 = dt.datetime(2010, 2, 6, 11, 14, 25, 500_000)
GRANULE = 69662
RAIN = (1, 24)  # scan, ray of the rain column (nadir)
COLUMN = slice(60, 76)  # bins of 40 dBZ: 4750 m down to 1000 m at nadir
STRAT = (2, 10)  # the stratiform footprint with a bright band
BB_M = 4500


def _times(nscan: int) -> list[dt.datetime]:
    return [(T0 + dt.timedelta(seconds=0.6 * i)).replace(tzinfo=dt.UTC) for i in range(nscan)]


def _latlon(nscan: int) -> tuple[np.ndarray, np.ndarray]:
    scan, ray = np.meshgrid(np.arange(nscan), np.arange(NRAY), indexing="ij")
    lat = (-27.0 + 0.05 * scan + 0.02 * ray).astype(np.float32)
    lon = (153.0 + 0.04 * ray).astype(np.float32)
    return lat, lon


def write_2a25(path, z_dbz: np.ndarray | None = None, granule: int = GRANULE) -> None:
    """A small V7 2A25: one 40 dBZ column, a missing ray without position, else no echo."""
    nscan = NSCAN if z_dbz is None else z_dbz.shape[0]
    missing = None
    if z_dbz is None:
        z_dbz = np.full((nscan, NRAY, NBIN), np.nan)
        z_dbz[RAIN[0], RAIN[1], COLUMN] = 40.0
        missing = np.zeros(z_dbz.shape, bool)
        missing[0, 0, :] = True
    lat, lon = _latlon(nscan)
    lat[0, 0] = lon[0, 0] = -9999.9
    rain = np.zeros((nscan, NRAY), np.float32)
    rain[RAIN] = 12.5
    zen = np.broadcast_to(np.abs(-17.04 + 0.71 * np.arange(NRAY)), (nscan, NRAY))
    trmm_hdf4.write_2a25(
        path,
        z_dbz=z_dbz,
        latitude=lat,
        longitude=lon,
        times=_times(nscan),
        near_surface_rain_mm_h=rain,
        granule=granule,
        local_zenith_deg=zen,
        missing=missing,
    )


def write_2a23(path, nscan: int = NSCAN, granule: int = GRANULE, everywhere=False) -> None:
    """The companion 2A23: rain type, rain flag, bright band (-1111 none, -8888 no rain)."""
    shape = (nscan, NRAY)
    rain_type = np.full(shape, -88, np.int16)
    hbb = np.full(shape, -8888, np.int16)
    width = np.full(shape, -8888, np.int16)
    status = np.full(shape, 168, np.uint8)
    if everywhere:
        rain_type[:] = 130
        hbb[:], width[:], status[:] = BB_M, 500, 10
    rain_type[RAIN], hbb[RAIN], width[RAIN] = 210, -1111, -1111
    rain_type[STRAT], hbb[STRAT], width[STRAT], status[STRAT] = 130, BB_M, 500, 10
    rain_type[3, 3] = -99
    lat, lon = _latlon(nscan)
    trmm_hdf4.write_2a23(
        path,
        rain_type=rain_type,
        rain_flag=np.where(rain_type > 0, 20, 0).astype(np.int16),
        bright_band_height_m=hbb,
        bright_band_width_m=width,
        status=status,
        latitude=lat,
        longitude=lon,
        times=_times(nscan),
        granule=granule,
    )


@pytest.fixture()
def pair(tmp_path):
    """A 2A25, its 2A23 under an unrelated name, and a decoy 2A23 named like the 2A25."""
    f25 = tmp_path / "2A25.20100206.69662.7.HDF"
    f23 = tmp_path / "companion_b.HDF"
    decoy = tmp_path / "2A23.20100206.69662.7.HDF"
    write_2a25(f25)
    write_2a23(f23)
    write_2a23(decoy, granule=GRANULE + 1)
    return str(f25), str(f23), str(decoy)


def test_reads_the_2a25_and_2a23_into_the_gpm_structure(pair, shared_data):
    f25, f23, _ = pair
    ds = read_2a(f25, url_2a23=f23)
    gpm = read_2a(
        str(
            shared_data / "spaceborne" / "2A.GPM.Ku.V9-20211125.20140308-S220950-E234217.000144"
            ".V07A.HDF5"
        )
    )
    assert set(ds.data_vars) == set(gpm.data_vars) - {"zka_dbz"}
    assert set(ds.coords) == set(gpm.coords)
    for name in ds.variables:
        assert ds[name].dims == gpm[name].dims and ds[name].dtype == gpm[name].dtype, name
    assert set(gpm.attrs) <= set(ds.attrs)
    assert ds["height"].attrs == gpm["height"].attrs
    assert ds["precip_type"].attrs == gpm["precip_type"].attrs
    assert ds.attrs["satellite"] == "TRMM" and ds.attrs["instrument"] == "PR"
    assert ds.attrs["reflectivity_variable"] == "correctZFactor"
    assert ds.attrs["product_version"] == "7" and ds.attrs["companion_2a23"] == f23
    # the bin geometry is the product's
    assert (ds.attrs["n_bin"], ds.attrs["bin_spacing_m"]) == (80, 250.0)
    assert (ds.attrs["n_scan"], ds.attrs["n_ray"]) == (NSCAN, NRAY)
    # every footprint but the one without a position
    assert ds.sizes["footprint"] == NSCAN * NRAY - 1


def test_profile_rate_times_and_positions(pair):
    f25, f23, _ = pair
    ds = read_2a(f25, url_2a23=f23)
    at = (ds.scan.values == RAIN[0]) & (ds.ray.values == RAIN[1])
    col = ds.isel(footprint=int(np.flatnonzero(at)[0]))
    z = col["zku_dbz"].to_series()
    # 40 dBZ from 1000 m (bin 75) up to 4500 m (bin 61: 4500 m; bin 60 at 4750 m)
    np.testing.assert_allclose(z.loc[1000.0:4500.0].values, 40.0)
    assert np.isnan(z.loc[500.0]) and np.isnan(z.loc[5500.0:].values).all()
    assert float(col["precip_rate_near_surface_mm_h"]) == 12.5
    assert float(col["local_zenith_deg"]) == pytest.approx(0.0, abs=1e-4)
    assert float(col.lat) == pytest.approx(-27.0 + 0.05 + 0.48, abs=1e-5)
    assert float(col.lon) == pytest.approx(153.0 + 0.96, abs=1e-5)
    # everywhere else: no echo, no rain
    others = ds.isel(footprint=np.flatnonzero(~at))
    assert np.isnan(others["zku_dbz"].values).all()
    assert (others["precip_rate_near_surface_mm_h"].values == 0).all()
    # scan times from Year..MilliSecond
    times = ds.time.values[ds.ray.values == 5]
    expected = [np.datetime64(T0 + dt.timedelta(seconds=0.6 * i), "ns") for i in range(NSCAN)]
    np.testing.assert_array_equal(times, expected)


def test_rain_type_and_bright_band_from_the_2a23(pair):
    f25, f23, _ = pair
    ds = read_2a(f25, url_2a23=f23)

    def at(scan, ray):
        return ds.isel(footprint=int(np.flatnonzero((ds.scan == scan) & (ds.ray == ray))[0]))

    assert int(at(*RAIN)["precip_type"]) == 2  # 210: convective
    assert np.isnan(float(at(*RAIN)["bright_band_height_m"]))  # -1111: no bright band
    assert int(at(*STRAT)["precip_type"]) == 1
    assert float(at(*STRAT)["bright_band_height_m"]) == BB_M
    assert int(at(3, 3)["precip_type"]) == 0  # -99 missing
    assert (np.bincount(ds["precip_type"].values) == [NSCAN * NRAY - 3, 1, 1]).all()
    bins = read_2a_bins(f25, url_2a23=f23)
    assert bins["zku_dbz"].shape == (NSCAN, NRAY, NBIN)
    assert (bins.attrs["n_bin"], bins.attrs["bin_spacing_m"]) == (80, 250.0)
    np.testing.assert_allclose(bins["zku_dbz"].values[RAIN][COLUMN], 40.0)
    assert float(bins["bright_band_height_m"][STRAT]) == BB_M
    assert float(bins["bright_band_width_m"][STRAT]) == 500.0
    assert int(bins["bright_band_quality"][STRAT]) == 1
    assert np.isnan(bins["bright_band_height_m"].values[RAIN])


def test_without_2a23_the_footprints_are_still_read(pair):
    f25, _, _ = pair
    ds = read_2a_trmm_v7(f25)
    assert ds.sizes["footprint"] == NSCAN * NRAY - 1
    assert (ds["precip_type"].values == 0).all()
    assert np.isnan(ds["bright_band_height_m"].values).all()
    assert NOTE_NO_2A23 in ds.attrs["note"] and ds.attrs["companion_2a23"] == ""
    assert np.isfinite(ds["zku_dbz"].values).any()


def test_the_day_finds_the_2a23_by_content(pair, shared_data, tmp_path):
    f25, f23, decoy = pair
    gpm = str(
        shared_data / "spaceborne" / "2A.GPM.Ku.V9-20211125.20140308-S220950-E234217.000144"
        ".V07A.HDF5"
    )
    bbox = (-90.0, 90.0, -180.0, 180.0)
    out, n, quarantine = read_2a_day([decoy, gpm, f23, f25], bbox)
    assert n == 2 and quarantine == []  # the 2A23 are companions, not granules
    trmm = out.isel(footprint=out["granule"].values == "2A25.20100206.69662.7.HDF")
    assert trmm.sizes["footprint"] == NSCAN * NRAY - 1
    assert (trmm["precip_type"].values > 0).sum() == 2  # from the real companion, not the decoy
    assert out.sizes["footprint"] == trmm.sizes["footprint"] + read_2a(gpm).sizes["footprint"]
    # only the decoy (another orbit): no companion, still read
    out, n, _ = read_2a_day([decoy, f25], bbox)
    assert n == 1 and (out["precip_type"].values == 0).all()


def test_neither_hdf5_nor_hdf4_is_named(tmp_path, pair):
    garbage = tmp_path / "garbage.HDF"
    garbage.write_bytes(b"GARBAGE!" * 10)
    png = tmp_path / "quicklook.HDF5"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
    for bad, start in ((garbage, b"GARBAGE!"), (png, b"\x89PNG")):
        for read in (read_2a, read_2a_bins):
            with pytest.raises(UnreadableFileError) as err:
                read(str(bad))
            assert err.value.file == str(bad)
            assert "neither HDF5 nor HDF4: starts with" in err.value.reason
            assert repr(start)[:-1] in err.value.reason
            assert str(bad) in str(err.value)
    out, n, quarantine = read_2a_day([str(garbage), pair[0], str(png)], (-90, 90, -180, 180))
    assert n == 1 and [q.file for q in quarantine] == [str(garbage), str(png)]
    assert sniff_format(pair[0]) == "hdf4"


def test_truncated_hdf4_is_unreadable(tmp_path, pair):
    data = Path(pair[0]).read_bytes()
    cut = tmp_path / "cut.HDF"
    cut.write_bytes(data[:300])
    with pytest.raises(UnreadableFileError, match="cut.HDF"):
        read_2a(str(cut))


def _uniform_volume(lat: float, lon: float, time: np.datetime64) -> RadarVolume:
    rng = np.arange(250.0, 150_000.0, 500.0)
    sweeps = [
        Sweep(
            elevation_deg=e,
            azimuth_res_deg=1.0,
            range_m=rng,
            fields={"reflectivity": np.full((360, rng.size), 35.0, np.float32)},
            start_time=time,
        )
        for e in (0.5, 1.5, 2.5)
    ]
    return RadarVolume("SYN", lat, lon, 10.0, time, sweeps, 1.0, "synthetic")


def test_srgr_matching_uses_the_250_m_bins(tmp_path, monkeypatch):
    """A TRMM-layout rain sheet (35 dBZ below the bright band) matched to a uniform GR volume."""
    nscan = 30
    z = np.full((nscan, NRAY, NBIN), np.nan)
    z[:, :, 64:79] = 35.0  # 3.75 km down to 250 m at nadir
    f25, f23 = tmp_path / "sheet.2A25.HDF", tmp_path / "sheet.2A23.HDF"
    write_2a25(f25, z_dbz=z)
    write_2a23(f23, nscan=nscan, everywhere=True)
    sr = read_2a_bins(str(f25), url_2a23=str(f23))
    seen = {}
    parallax = srgr.wradlib.georef.correct_parallax

    def spy(xy, nbin, drt, alpha):
        seen.update(nbin=nbin, drt=drt)
        return parallax(xy, nbin, drt, alpha)

    monkeypatch.setattr(srgr.wradlib.georef, "correct_parallax", spy)
    gr = _uniform_volume(-26.6, 153.5, np.datetime64(T0, "ns"))
    matches = srgr.match_volumes(gr, sr)
    assert seen == {"nbin": 80, "drt": 250.0}
    assert len(matches) > 0 and set(matches["layer"]) == {"below"}
    assert (matches["height_km"] < BB_M / 1000.0).all()
    np.testing.assert_allclose(matches["gr_dbz"], 35.0, atol=1e-4)
    np.testing.assert_allclose(matches["sr_dbz_ku"], 35.0, atol=1e-4)
