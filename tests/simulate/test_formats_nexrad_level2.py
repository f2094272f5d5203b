"""Level II encoder: Py-ART reads what we write, a real volume survives a re-encode, framing."""

from __future__ import annotations

import bz2
import io
import os
import struct
import warnings
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

os.environ.setdefault("PYART_QUIET", "1")

from fusion_ops.simulate.formats.nexrad_level2 import (  # noqa: E402
    MOMENT_CODING,
    RANGE_FOLDED,
    VCP_ELEVATIONS_DEG,
    Level2EncodeError,
    RadarVolume,
    Sweep,
    encode_level2,
    level2_filename,
)

pyart = pytest.importorskip("pyart")

PYART_NAMES = {
    "REF": "reflectivity",
    "VEL": "velocity",
    "SW": "spectrum_width",
    "ZDR": "differential_reflectivity",
    "PHI": "differential_phase",
    "RHO": "cross_correlation_ratio",
}
START = datetime(2009, 5, 20, 23, 59, 50, 250000, tzinfo=UTC)  # crosses midnight mid-volume


def read_level2(data: bytes):
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*deprecated.*")
        return pyart.io.read_nexrad_archive(io.BytesIO(data))


def _synthetic_volume() -> RadarVolume:
    rng = np.random.default_rng(42)
    sweeps = []
    # split cut (surveillance then Doppler) at 0.5 deg with 0.5-degree radials, then batch cuts
    specs = [
        (0.5, 720, ("REF", "ZDR", "PHI", "RHO")),
        (0.5, 720, ("REF", "VEL", "SW")),
        (2.4, 360, tuple(MOMENT_CODING)),
        (19.5, 360, tuple(MOMENT_CODING)),
    ]
    n_gates = 150
    t0 = 0.0
    lims = {
        "REF": (-32.0, 94.5),
        "VEL": (-63.5, 63.0),
        "SW": (0.0, 63.0),
        "ZDR": (-7.9, 7.9),
        "PHI": (0.0, 360.0),
        "RHO": (0.21, 1.05),
    }
    for elev, n_rays, moments in specs:
        az = (np.arange(n_rays) * 360.0 / n_rays + 37.0 + 0.25) % 360.0
        t = t0 + np.arange(n_rays) * 20.0 / n_rays
        t0 = float(t[-1]) + 1.0
        fields = {}
        for m in moments:
            lo, hi = lims[m]
            v = rng.uniform(lo, hi, (n_rays, n_gates))
            v[rng.random((n_rays, n_gates)) < 0.3] = np.nan
            fields[m] = v
        if "VEL" in fields:
            fields["VEL"][:5, :7] = RANGE_FOLDED
        sweeps.append(Sweep(elev, az, t, 2125.0, 250.0, fields, 8.47 if n_rays == 720 else 26.1))
    return RadarVolume("KMLB", 28.113, -80.654, 30.0, START, 212, sweeps)


@pytest.fixture(scope="module")
def synthetic():
    vol = _synthetic_volume()
    data = encode_level2(vol)
    return vol, data, read_level2(data)


def test_site_sweeps_rays_gates(synthetic):
    vol, _, radar = synthetic
    assert radar.latitude["data"][0] == pytest.approx(28.113, abs=1e-5)
    assert radar.longitude["data"][0] == pytest.approx(-80.654, abs=1e-5)
    assert radar.altitude["data"][0] == pytest.approx(30.0)
    assert radar.metadata["instrument_name"] == "KMLB"
    assert radar.metadata["vcp_pattern"] == 212
    assert radar.nsweeps == 4
    assert list(radar.rays_per_sweep["data"]) == [720, 720, 360, 360]
    assert radar.ngates == 150
    np.testing.assert_allclose(radar.range["data"], 2125.0 + 250.0 * np.arange(150))
    assert set(radar.fields) == set(PYART_NAMES.values())


def test_angles(synthetic):
    vol, _, radar = synthetic
    # VCP elevation angles are 13-bit binary angles: 360 / 8192 = 0.044 degree steps.
    np.testing.assert_allclose(radar.fixed_angle["data"], [0.5, 0.5, 2.4, 19.5], atol=0.0221)
    az = np.concatenate([s.azimuth_deg for s in vol.sweeps])
    np.testing.assert_allclose(radar.azimuth["data"], az, atol=1e-4)
    el = np.concatenate([np.full(s.azimuth_deg.size, s.elevation_deg) for s in vol.sweeps])
    np.testing.assert_allclose(radar.elevation["data"], el, atol=1e-5)
    nyq = radar.instrument_parameters["nyquist_velocity"]["data"]
    assert nyq[0] == pytest.approx(8.47) and nyq[-1] == pytest.approx(26.1)
    assert radar.instrument_parameters["unambiguous_range"]["data"][0] == pytest.approx(466000.0)


def test_times_cross_midnight(synthetic):
    vol, _, radar = synthetic
    assert radar.time["units"] == "seconds since 2009-05-20T23:59:50Z"
    t = np.concatenate([s.time_offset_s for s in vol.sweeps]) + 0.25  # start had 250 ms
    np.testing.assert_allclose(radar.time["data"], t, atol=1e-3)
    assert radar.time["data"][-1] > 10  # past midnight: the Julian date rolled over


def test_field_values_within_quantisation(synthetic):
    vol, _, radar = synthetic
    start = radar.sweep_start_ray_index["data"]
    for m, name in PYART_NAMES.items():
        data = radar.fields[name]["data"]
        scale = MOMENT_CODING[m][0]
        for i, sw in enumerate(vol.sweeps):
            got = data[start[i] : start[i] + sw.azimuth_deg.size]
            if m not in sw.fields:
                assert got.mask.all()
                continue
            want = sw.fields[m]
            np.testing.assert_array_equal(got.mask, ~np.isfinite(want))
            ok = np.isfinite(want)
            err = np.abs(got.data[ok] - want[ok])
            assert err.max() <= 0.5 / scale + 1e-4, (m, i, err.max())


def test_raw_codes_threshold_and_range_folded(synthetic):
    from pyart.io.nexrad_level2 import NEXRADLevel2File

    _, data, _ = synthetic
    nfile = NEXRADLevel2File(io.BytesIO(data))
    vel = nfile.get_data("VEL", 150, scans=[1], raw_data=True)
    assert (vel[:5, :7] == 1).all()  # range folded
    ref = nfile.get_data("REF", 150, scans=[0], raw_data=True)
    assert (ref == 0).any() and ref.max() <= 255
    status = [r["msg_header"]["radial_spacing"] for r in nfile.radial_records]  # radial status
    assert status[0] == 3 and status[719] == 2 and status[720] == 0 and status[-1] == 4
    assert set(status[1:719]) == {1}
    res = [r["msg_header"]["azimuth_resolution"] for r in nfile.radial_records]
    assert res[0] == 1 and res[-1] == 2  # 0.5 and 1 degree radials
    cuts = nfile.vcp["cut_parameters"]
    assert [c["waveform_type"] for c in cuts] == [1, 2, 4, 4]
    assert nfile.vcp["msg5_header"]["num_cuts"] == 4
    assert nfile.radial_records[0]["RAD"]["lrtup"] == 28


def test_xradar_reads_the_same_values(synthetic, tmp_path):
    xd = pytest.importorskip("xradar")
    vol, data, _ = synthetic
    path = tmp_path / level2_filename(vol.site, vol.start_time)
    path.write_bytes(data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tree = xd.io.open_nexradlevel2_datatree(str(path))
    assert len([k for k in tree.children if k.startswith("sweep_")]) == 4
    assert float(tree.ds["latitude"]) == pytest.approx(28.113, abs=1e-5)
    sw = vol.sweeps[2]
    ds = tree["sweep_2"].ds
    assert float(ds["sweep_fixed_angle"]) == pytest.approx(2.4, abs=0.0221)
    assert ds.sizes["azimuth"] == 360 and ds.sizes["range"] == 150
    order = np.argsort(sw.azimuth_deg)  # xradar sorts rays by azimuth
    np.testing.assert_allclose(ds["azimuth"].values, sw.azimuth_deg[order], atol=1e-4)
    for m, name in (("REF", "DBZH"), ("PHI", "PHIDP"), ("RHO", "RHOHV")):
        want = sw.fields[m][order]
        ok = np.isfinite(want)
        got = ds[name].values
        assert np.abs(got[ok] - want[ok]).max() <= 0.5 / MOMENT_CODING[m][0] + 1e-4


def test_phi_stays_within_ten_bits():
    vol = _synthetic_volume()
    vol.sweeps[2].fields["PHI"][:] = 400.0  # beyond 360: clipped to the top code 1023
    from pyart.io.nexrad_level2 import NEXRADLevel2File

    nfile = NEXRADLevel2File(io.BytesIO(encode_level2(vol)))
    raw = nfile.get_data("PHI", 150, scans=[2], raw_data=True)
    assert raw.max() == 1023


def test_own_parse_of_framing(synthetic):
    vol, data, _ = synthetic
    assert data[:9] == b"AR2V0006."
    date, ms = struct.unpack(">II", data[12:20])
    assert data[20:24] == b"KMLB"
    assert datetime(1970, 1, 1, tzinfo=UTC) + timedelta(days=date - 1, milliseconds=ms) == START
    pos, sizes, controls = 24, [], []
    while pos < len(data):
        (n,) = struct.unpack(">i", data[pos : pos + 4])
        controls.append(n)
        sizes.append(len(bz2.decompress(data[pos + 4 : pos + 4 + abs(n)])))
        pos += 4 + abs(n)
    assert pos == len(data)
    assert all(c > 0 for c in controls[:-1]) and controls[-1] < 0
    assert sizes[0] == 134 * 2432
    # 720 + 720 rays in 6 + 6 records of 120, then 3 + 3 for the 360-ray cuts
    assert len(sizes) == 1 + 6 + 6 + 3 + 3
    first_radial = bz2.decompress(data[24 + 4 + controls[0] + 4 :][: controls[1]])
    size_hw, _, msg_type = struct.unpack(">HBB", first_radial[12:16])
    assert msg_type == 31
    assert sizes[1] == 120 * (12 + 2 * size_hw)
    meta = bz2.decompress(data[28 : 28 + controls[0]])
    types = [meta[k * 2432 + 15] for k in range(134)]
    assert types[0] == 15 and types[77] == 13 and types[126] == 18
    assert types[131:] == [3, 5, 2]


def test_vcp_table_matches_real_vcp21(shared_data):
    from pyart.io.nexrad_level2 import NEXRADLevel2File

    nfile = NEXRADLevel2File(str(shared_data / "radar" / "KLBB20160601_150025_V06"))
    assert nfile.get_vcp_pattern() == 21
    angles = sorted(set(np.round(nfile.get_target_angles(), 1)))
    np.testing.assert_allclose(angles, VCP_ELEVATIONS_DEG[21], atol=0.11)
    assert all(9 <= len(v) <= 15 for k, v in VCP_ELEVATIONS_DEG.items() if k not in (31, 32))


def test_filename_and_errors():
    assert level2_filename("kmlb", START) == "KMLB20090520_235950_V06"
    vol = _synthetic_volume()
    vol.sweeps[0].fields["XYZ"] = vol.sweeps[0].fields["REF"]
    with pytest.raises(Level2EncodeError, match="unknown moment 'XYZ'"):
        encode_level2(vol)
    vol = _synthetic_volume()
    vol.sweeps[2].fields["REF"] = vol.sweeps[2].fields["REF"][:, :10]
    with pytest.raises(Level2EncodeError, match="sweep 2: moments have different shapes"):
        encode_level2(vol)
    vol = _synthetic_volume()
    vol.start_time = datetime(2009, 5, 20)
    with pytest.raises(Level2EncodeError, match="timezone-aware"):
        encode_level2(vol)


def volume_from_pyart(radar) -> RadarVolume:
    """Rebuild an encoder input from a Py-ART radar (a real volume, re-encoded)."""
    units = radar.time["units"].split("since ")[1].rstrip("Z")
    start = datetime.fromisoformat(units).replace(tzinfo=UTC)
    inv = {v: k for k, v in PYART_NAMES.items()}
    sweeps = []
    for i, sl in enumerate(radar.iter_slice()):
        fields = {}
        for name, dic in radar.fields.items():
            d = dic["data"][sl]
            if not np.ma.getmaskarray(d).all():
                fields[inv[name]] = np.ma.filled(d.astype(np.float64), np.nan)
        sweeps.append(
            Sweep(
                elevation_deg=float(radar.fixed_angle["data"][i]),
                azimuth_deg=radar.azimuth["data"][sl],
                time_offset_s=radar.time["data"][sl],
                first_gate_m=float(radar.range["meters_to_center_of_first_gate"]),
                gate_spacing_m=float(radar.range["meters_between_gates"]),
                fields=fields,
                nyquist_velocity_ms=float(
                    radar.instrument_parameters["nyquist_velocity"]["data"][sl][0]
                ),
                unambiguous_range_m=float(
                    radar.instrument_parameters["unambiguous_range"]["data"][sl][0]
                ),
                elevation_ray_deg=radar.elevation["data"][sl],
            )
        )
    return RadarVolume(
        site=radar.metadata["instrument_name"],
        latitude_deg=float(radar.latitude["data"][0]),
        longitude_deg=float(radar.longitude["data"][0]),
        height_m=float(radar.altitude["data"][0]),
        start_time=start,
        vcp=int(radar.metadata["vcp_pattern"]),
        sweeps=sweeps,
    )


def test_real_klbb_volume_reencodes(shared_data):
    path = shared_data / "radar" / "KLBB20160601_150025_V06"
    real = read_level2(path.read_bytes())
    assert (real.nsweeps, real.nrays, real.ngates) == (11, 5400, 1832)
    again = read_level2(encode_level2(volume_from_pyart(real)))
    assert (again.nsweeps, again.nrays, again.ngates) == (11, 5400, 1832)
    assert again.time["units"] == real.time["units"]
    np.testing.assert_allclose(again.time["data"], real.time["data"], atol=1e-3)
    np.testing.assert_allclose(again.azimuth["data"], real.azimuth["data"], atol=1e-4)
    np.testing.assert_allclose(again.elevation["data"], real.elevation["data"], atol=1e-4)
    np.testing.assert_allclose(again.fixed_angle["data"], real.fixed_angle["data"], atol=1e-5)
    np.testing.assert_allclose(again.range["data"], real.range["data"])
    for k in ("latitude", "longitude", "altitude"):
        np.testing.assert_allclose(getattr(again, k)["data"], getattr(real, k)["data"], atol=1e-5)
    for name in PYART_NAMES.values():
        a, b = again.fields[name]["data"], real.fields[name]["data"]
        np.testing.assert_array_equal(np.ma.getmaskarray(a), np.ma.getmaskarray(b))
        np.testing.assert_allclose(a.compressed(), b.compressed(), atol=1e-3)
    assert float(again.fields["reflectivity"]["data"].max()) == pytest.approx(71.5)
