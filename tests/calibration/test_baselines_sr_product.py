"""The simulated SR standard product, MLP-2's baseline, as the real 2A algorithm specifies it:
bright-band fields the SR-GR matching reads, PIA and rain sane against the truth but not the
truth itself."""

import io
from datetime import date

import h5py
import numpy as np
import pytest

from fusion_ops.readers.spaceborne import read_2a, read_2a_bins
from fusion_ops.simulate.domain import Domain
from fusion_ops.simulate.spaceborne import (
    NO_BB,
    SpaceborneConfig,
    dpr_zr,
    find_overpasses,
    observe_overpass,
    write_gpm_2a,
)
from fusion_ops.simulate.truth import TruthConfig, TruthModel

DAY = date(2021, 5, 20)


@pytest.fixture(scope="module")
def granule(tmp_path_factory):
    """The day's coincident GPM pass: its 2A file, the measured profiles and the truth."""
    truth = TruthModel(
        TruthConfig(seed=0, domain=Domain(width_km=120.0, height_km=120.0, margin_km=40.0))
    )
    cfg = SpaceborneConfig(platform="GPM")
    ov = max(find_overpasses(truth, DAY, cfg, seed=0), key=lambda p: p.times.size)
    buf = io.BytesIO()
    summary = write_gpm_2a(buf, truth, ov, cfg, seed=0)
    path = tmp_path_factory.mktemp("gpm") / summary["name"]
    path.write_bytes(buf.getvalue())
    return path, observe_overpass(truth, ov, cfg, seed=0)


def test_bright_band_fields_and_the_bins_reader(granule):
    path, _ = granule
    with h5py.File(path) as f:
        fs = f["FS"]
        width, quality = fs["CSF/widthBB"][:], fs["CSF/qualityBB"][:]
        height, flag = fs["CSF/heightBB"][:], fs["CSF/flagBB"][:]
        assert width.dtype == np.float32 and quality.dtype == np.int32
        assert fs["CSF/widthBB"].attrs["_FillValue"] == np.float32(-9999.9)
        assert fs["SRT/pathAtten"].dtype == np.float32 and fs["SRT/reliabFlag"].dtype == np.int16
    bb = quality == 1
    assert bb.sum() > 20 and set(np.unique(quality)) == {-1111, 1}
    np.testing.assert_array_equal(bb, flag == 1)
    assert (width[~bb] == NO_BB).all() and (height[~bb] == NO_BB).all()  # "no bright band"
    assert 350.0 < np.median(width[bb]) < 650.0 and (width[bb] > 0).all()
    bins = read_2a_bins(str(path))  # every simulated GPM granule was unreadable here before
    assert bins["zku_dbz"].shape[1:] == (49, 176) and bins.attrs["bin_spacing_m"] == 125.0
    q = bins["bright_band_quality"].values
    np.testing.assert_array_equal(q == 1, bb)
    assert np.isfinite(bins["bright_band_width_m"].values[bb]).all()
    assert np.isnan(bins["bright_band_height_m"].values[~bb]).all()
    # the footprints the SR-GR matching takes: precipitating, with a detected bright band
    assert ((bins["precip_type"].values > 0) & (q == 1)).sum() == bb.sum()
    ds = read_2a(str(path))
    ptype = ds["precip_type"].values
    assert np.isnan(ds["bright_band_height_m"].values[ptype == 2]).all()


def test_pia_follows_the_true_attenuation(granule):
    path, prof = granule
    with h5py.File(path) as f:
        pia = f["FS/SLV/piaFinal"][:]
        rain = f["FS/PRE/flagPrecip"][:] > 0
        srt = f["FS/SRT/pathAtten"][:]
        reliable = f["FS/SRT/reliabFlag"][:] == 1
    true = prof.pia_db
    strong = rain & (true > 1.0)
    assert strong.sum() > 30
    err = pia[strong] - true[strong]
    assert abs(np.mean(err)) < 0.5 and np.sqrt(np.mean(err**2)) < 1.0
    assert np.corrcoef(pia[rain], true[rain])[0, 1] > 0.9
    assert not np.allclose(pia[strong], true[strong], atol=0.05)  # estimated, not copied
    assert reliable.any() and (srt[reliable] > 0).all()


def test_near_surface_rain_within_a_factor_of_the_truth(granule):
    path, prof = granule
    with h5py.File(path) as f:
        rns = f["FS/SLV/precipRateNearSurface"][:].astype(np.float64)
    truth = prof.cols.rain_mm_h
    wet = (rns > 0) & (truth > 0.5)
    assert wet.sum() > 200
    ratio = rns[wet].sum() / truth[wet].sum()
    assert 0.5 < ratio < 2.0, ratio
    log_err = np.abs(np.log(rns[wet] / truth[wet]))
    assert np.median(log_err) > 0.05  # the pixel's DSD stays unknown: not an inversion


def test_dpr_relations():
    """The DPR's epsilon = 1 R-Dm relations as Z = a R^b (computed, pinned loosely)."""
    a_s, b_s = dpr_zr("stratiform")
    a_c, b_c = dpr_zr("convective")
    assert a_s == pytest.approx(284.0, rel=0.02) and b_s == pytest.approx(1.378, abs=0.005)
    assert a_c == pytest.approx(180.0, rel=0.02) and b_c == pytest.approx(1.416, abs=0.005)
