"""Spaceborne 2A reader: V05/V06 NS and V07 FS layouts (GPM Ku/DPR, TRMM PR), bad files."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from fusion_ops.readers.errors import UnreadableFileError, read_all
from fusion_ops.readers.spaceborne import bin_heights_from_geometry, profiles_on_levels, read_2a

V05 = "2A-CS-151E24S154E30S.GPM.Ku.V7-20170308.20141206-S095002-E095137.004383.V05A.HDF5"
DPR = "2A.GPM.DPR.V9-20211125.20140308-S220950-E234217.000144.V07A.HDF5"
KU7 = "2A.GPM.Ku.V9-20211125.20140308-S220950-E234217.000144.V07A.HDF5"
TRMM = "2A.TRMM.PR.V9-20220125.19971207-S235717-E012836.000160.V07A.HDF5"


@pytest.fixture(scope="module")
def sb(shared_data):
    return shared_data / "spaceborne"


@pytest.fixture(scope="module")
def v05(sb):
    return read_2a(str(sb / V05))


def test_ns_layout_facts(v05):
    assert v05.attrs["swath"] == "NS"
    assert v05.attrs["reflectivity_variable"] == "SLV/zFactorCorrected"
    assert (v05.attrs["n_scan"], v05.attrs["n_ray"], v05.attrs["n_bin"]) == (136, 49, 176)
    rate = v05["precip_rate_near_surface_mm_h"].values
    assert v05.sizes["footprint"] == 136 * 49
    assert int((rate > 0).sum()) == 1715
    assert float(np.nanmax(rate)) == pytest.approx(52.3, abs=0.05)
    assert v05["zku_dbz"].shape == (136 * 49, 16)
    assert set(np.unique(v05["precip_type"].values)) <= {0, 1, 2, 3}
    raining = rate > 0
    assert (v05["precip_type"].values[raining] > 0).mean() > 0.95
    # convective rain is heavier than stratiform on average
    t = v05["precip_type"].values
    assert np.nanmean(rate[t == 2]) > np.nanmean(rate[t == 1])
    # heights from geometry (no PRE/height in V05): profiles exist at 2 km where it rains
    z2 = v05["zku_dbz"].sel(height=2000.0).values
    assert np.isfinite(z2[raining]).mean() > 0.8
    assert str(v05["time"].values[0]).startswith("2014-12-06T09:50")


def test_bbox_keeps_only_inside(sb):
    ds = read_2a(str(sb / V05), bbox=(-28.0, -27.0, 152.5, 154.0))
    assert 0 < ds.sizes["footprint"] < 136 * 49
    assert float(ds.lat.min()) >= -28.0 and float(ds.lat.max()) <= -27.0
    assert float(ds.lon.min()) >= 152.5 and float(ds.lon.max()) <= 154.0
    empty = read_2a(str(sb / V05), bbox=(10.0, 11.0, 0.0, 1.0))
    assert empty.sizes["footprint"] == 0 and "zku_dbz" in empty


def test_v07_fs_dpr_and_ku(sb):
    dpr = read_2a(str(sb / DPR))
    ku = read_2a(str(sb / KU7))
    assert dpr.attrs["swath"] == "FS" and dpr.attrs["reflectivity_variable"] == "SLV/zFactorFinal"
    assert "zka_dbz" in dpr and "zka_dbz" not in ku
    assert dpr.sizes["footprint"] == 100
    for ds in (dpr, ku):
        r = ds["precip_rate_near_surface_mm_h"].values
        assert float(np.nanmax(r)) == pytest.approx(0.43, abs=0.005)
    assert float(dpr.lat.mean()) == pytest.approx(-66, abs=2)


def test_trmm_pr_in_v07_layout_has_no_rain(sb):
    ds = read_2a(str(sb / TRMM))
    assert ds.attrs["satellite"] == "TRMM" and ds.attrs["swath"] == "FS"
    assert np.isnan(ds["precip_rate_near_surface_mm_h"].values).all()
    assert (ds["precip_type"].values == 0).all()
    assert str(ds["time"].values[0]).startswith("1997-12-07")


def test_geometry_heights_match_pre_height(sb):
    ku = read_2a(str(sb / KU7))
    # the bin geometry comes from the product: measured from PRE/height, 176 bins of 125 m
    assert (ku.attrs["n_bin"], ku.attrs["bin_spacing_m"]) == (176, 125.0)
    with h5py.File(sb / KU7) as h:
        g = h["FS"]
        hgt = g["PRE/height"][...]
        calc = bin_heights_from_geometry(
            176,
            g["PRE/ellipsoidBinOffset"][...],
            g["PRE/localZenithAngle"][...],
            ku.attrs["bin_spacing_m"],
        )
    assert np.abs(hgt - calc).max() < 50.0  # well inside one 125 m bin


def test_bin_geometry_of_every_layout(sb, v05):
    # V05 has no PRE/height: the spacing is the NS swath's (GPM 2A file specification)
    assert (v05.attrs["n_bin"], v05.attrs["bin_spacing_m"]) == (176, 125.0)
    for name in (DPR, TRMM):
        ds = read_2a(str(sb / name))
        assert (ds.attrs["n_bin"], ds.attrs["bin_spacing_m"]) == (176, 125.0)


def test_no_bright_band_is_missing_not_a_height(sb, v05):
    """-1111.1 ("no bright band") is NaN, not a bright band 1.1 km below the surface."""
    with h5py.File(sb / V05) as h:
        raw = h["NS/CSF/heightBB"][...].ravel()
    none = np.isclose(raw, -1111.1)
    assert none.sum() == 4713  # the file's "no bright band" footprints
    bb = v05["bright_band_height_m"].values  # every footprint, in file order
    assert np.isnan(bb[none]).all()
    assert np.isfinite(bb[~none]).all() and np.nanmin(bb) > -1000.0
    elev = v05["surface_elevation_m"].values
    np.testing.assert_allclose(bb[~none], raw[~none] - elev[~none], atol=0.01)


def test_profiles_on_levels_average():
    z = np.array([[10.0, 20.0, 30.0, np.nan]])
    h = np.array([[2100.0, 1950.0, 1000.0, 500.0]])
    out = profiles_on_levels(z, h, np.array([500.0, 1000.0, 1500.0, 2000.0]))
    np.testing.assert_allclose(out[0], [np.nan, 30.0, np.nan, 15.0])


def test_bad_granules_are_quarantined(tmp_path, sb):
    data = (sb / KU7).read_bytes()
    trunc = tmp_path / "trunc.HDF5"
    trunc.write_bytes(data[: len(data) // 2])
    cor = tmp_path / "corrupt.HDF5"
    cor.write_bytes(data[:8] + b"\x00" * 5000 + data[5008:])
    empty = tmp_path / "empty.HDF5"
    empty.write_bytes(b"")
    for bad in (trunc, cor, empty):
        with pytest.raises(UnreadableFileError) as err:
            read_2a(str(bad))
        assert err.value.file == str(bad) and err.value.reader == "gpm_2a"
    ok, quarantine = read_all([str(trunc), str(sb / KU7), str(cor)], read_2a, "gpm_2a")
    assert len(ok) == 1 and ok[0][1].sizes["footprint"] == 100
    assert [q.file for q in quarantine] == [str(trunc), str(cor)]
