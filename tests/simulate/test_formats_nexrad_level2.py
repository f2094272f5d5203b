"""Level II encoder: Py-ART reads what we write, a real volume survives a re-encode, framing."""

from __future__ import annotations

import bz2
import gzip
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
    archive_version,
    encode_level2,
    encode_level2_message1,
    gzip_file,
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
    assert level2_filename("KMLB", START, "V03", ".gz") == "KMLB20090520_235950_V03.gz"
    assert level2_filename("KMLB", START, "", ".gz") == "KMLB20090520_235950.gz"
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
    with pytest.raises(Level2EncodeError, match="records must be 'bzip2' or 'uncompressed'"):
        encode_level2(_synthetic_volume(), records="gzip")


def _single_pol(volume: RadarVolume) -> RadarVolume:
    """The volume without its dual-pol moments (and without the surveillance-only split cut)."""
    sweeps = []
    for sw in volume.sweeps:
        fields = {m: v for m, v in sw.fields.items() if m in ("REF", "VEL", "SW")}
        if "VEL" in fields:
            sweeps.append(Sweep(**{**sw.__dict__, "fields": fields}))
    return RadarVolume(**{**volume.__dict__, "sweeps": sweeps})


def test_single_pol_volumes_are_version_3():
    vol = _single_pol(_synthetic_volume())
    assert archive_version(vol) == 3 and archive_version(_synthetic_volume()) == 6
    assert encode_level2(vol)[:9] == b"AR2V0003."
    assert encode_level2(vol, version=6)[:9] == b"AR2V0006."
    radar = read_level2(encode_level2(vol))
    assert set(radar.fields) == {"reflectivity", "velocity", "spectrum_width"}


def test_uncompressed_records_in_whole_file_gzip_read_the_same(synthetic):
    """The pre-2016 archive form: gzip over the records, which are not bzip2-compressed."""
    from fusion_ops.readers.ground_radar import read_volume_bytes

    vol, data, radar = synthetic
    plain = encode_level2(vol, records="uncompressed")
    assert plain[:24] == data[:24] and plain[28:30] == b"\x00\x00"  # no "BZ": a record's CTM
    assert len(plain) == 24 + 134 * 2432 + sum(
        s.azimuth_deg.size * (12 + 16 + 68 + 44 + 12 + 28) for s in vol.sweeps
    ) + sum(  # moment blocks: 28-byte descriptor + gates (PHI 16-bit), halfword aligned
        s.azimuth_deg.size * sum(28 + 150 * (2 if m == "PHI" else 1) for m in s.fields)
        for s in vol.sweeps
    )
    again = read_level2(plain)
    for name in PYART_NAMES.values():
        a, b = again.fields[name]["data"], radar.fields[name]["data"]
        np.testing.assert_array_equal(np.ma.getmaskarray(a), np.ma.getmaskarray(b))
        np.testing.assert_array_equal(a.compressed(), b.compressed())
    zipped = gzip_file(plain)
    assert zipped[:2] == b"\x1f\x8b" and zipped == gzip_file(plain)  # no time stamp inside
    assert gzip.decompress(zipped) == plain
    # the project reader: both forms of the .gz archive (records plain or bzip2 inside)
    url = "nexrad/KMLB20090520_235950_V06.gz"
    for inner in (plain, data):
        got = read_volume_bytes(gzip_file(inner), url)
        ref = got.sweeps[2].fields["reflectivity"]
        want = vol.sweeps[2].fields["REF"]
        order = np.floor(np.mod(vol.sweeps[2].azimuth_deg, 360.0)).astype(int)
        np.testing.assert_allclose(ref[order], want, atol=0.25 + 1e-4)
        assert got.site_id == "KMLB" and got.latitude_deg == pytest.approx(28.113, abs=1e-5)


def _legacy_volume() -> RadarVolume:
    """Three 1-degree cuts, REF/VEL/SW on 500 m gates to 150 km (the simulator's layout)."""
    rng = np.random.default_rng(7)
    sweeps = []
    for k, elev in enumerate((0.5, 1.45, 19.5)):
        az = (np.arange(360) + 0.5 + 0.2 * k) % 360.0
        t = 20.0 * k + np.arange(360) * 19.0 / 360
        n = 300
        fields = {
            "REF": rng.uniform(-30.0, 75.0, (360, n)),
            "VEL": rng.uniform(-26.0, 26.0, (360, n)),
            "SW": rng.uniform(0.0, 10.0, (360, n)),
        }
        for v in fields.values():
            v[rng.random(v.shape) < 0.3] = np.nan
        fields["VEL"][:4, :9] = RANGE_FOLDED
        sweeps.append(Sweep(elev, az, t, 2125.0, 500.0, fields, 26.0 - k, 466000.0))
    return RadarVolume("KMLB", 28.113, -80.654, 11.0, START, 21, sweeps)


def _nearest(values: np.ndarray, first: float, step: float, n: int) -> np.ndarray:
    idx = np.rint((first + step * np.arange(n) - 2125.0) / 500.0).astype(int)
    out = values[:, np.clip(idx, 0, values.shape[1] - 1)]
    out[:, (idx < 0) | (idx >= values.shape[1])] = np.nan
    return out


def test_message1_read_by_pyart():
    from pyart.io.nexrad_level2 import NEXRADLevel2File

    vol = _legacy_volume()
    data = encode_level2_message1(vol)
    assert data[:12] == b"ARCHIVE2.001" and data[20:24] == b"KMLB"
    assert data[28:30] == b"\x00\x00"  # uncompressed records, the archive's .gz content
    assert len(data) == 24 + 3 * 360 * 2432  # one fixed 2432-byte record per radial
    assert {data[24 + k * 2432 + 15] for k in range(3 * 360)} == {1}  # all message type 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "No MSG5": legacy volumes often carry none
        nfile = NEXRADLevel2File(io.BytesIO(data))
    assert nfile._msg_type == "1" and nfile.nscans == 3
    head = nfile.radial_records[0]["msg_header"]
    # gates out to the sweep's last (151.6 km): 152 of 1 km, 607 of 250 m
    assert (head["sur_range_first"], head["sur_range_step"], head["sur_nbins"]) == (500, 1000, 152)
    assert (head["doppler_range_first"], head["doppler_range_step"]) == (125, 250)
    assert head["doppler_nbins"] == 607 and head["doppler_resolution"] == 2 and head["vcp"] == 21
    status = [r["msg_header"]["radial_status"] for r in nfile.radial_records]
    assert status[0] == 3 and status[359] == 2 and status[360] == 0 and status[-1] == 4
    raw = nfile.get_data("VEL", 607, scans=[0], raw_data=True)
    folded = np.zeros((360, 300))
    folded[:4, :9] = 1.0
    np.testing.assert_array_equal(raw == 1, _nearest(folded, 125.0, 250.0, 607) == 1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # deprecation, and "No MSG5" (legacy files have none)
        radar = pyart.io.read_nexrad_archive(io.BytesIO(data), include_fields=["reflectivity"])
        dop = pyart.io.read_nexrad_archive(
            io.BytesIO(data), include_fields=["velocity", "spectrum_width"]
        )
    assert radar.latitude["data"][0] == 0.0  # message 1 holds no position
    assert radar.time["units"] == "seconds since 2009-05-20T23:59:50Z"
    t = np.concatenate([s.time_offset_s for s in vol.sweeps]) + 0.25
    np.testing.assert_allclose(radar.time["data"], t, atol=1e-3)
    az = np.concatenate([s.azimuth_deg for s in vol.sweeps])
    np.testing.assert_allclose(radar.azimuth["data"], az, atol=180 / 32768)  # 16-bit angles
    # Py-ART rounds the first ray's elevation to 0.1 degree (no VCP message in legacy files)
    np.testing.assert_allclose(radar.fixed_angle["data"], [0.5, 1.45, 19.5], atol=0.051)
    np.testing.assert_allclose(radar.range["data"][:3], [500.0, 1500.0, 2500.0])
    nyq = radar.instrument_parameters["nyquist_velocity"]["data"]
    assert (nyq[0], nyq[-1]) == (pytest.approx(26.0), pytest.approx(24.0))
    start = radar.sweep_start_ray_index["data"]
    for i, sw in enumerate(vol.sweeps):
        rows = slice(start[i], start[i] + 360)
        want = _nearest(sw.fields["REF"], 500.0, 1000.0, 152)
        got = radar.fields["reflectivity"]["data"][rows]
        np.testing.assert_array_equal(np.ma.getmaskarray(got), ~np.isfinite(want))
        np.testing.assert_allclose(got.compressed(), want[np.isfinite(want)], atol=0.25 + 1e-4)
        for m, name in (("VEL", "velocity"), ("SW", "spectrum_width")):
            # Py-ART sizes every moment's range from the reflectivity gate count: 152 gates
            want = _nearest(sw.fields[m], 125.0, 250.0, 152)
            got = dop.fields[name]["data"][rows]
            valid = np.isfinite(want)
            np.testing.assert_array_equal(np.ma.getmaskarray(got), ~valid)
            np.testing.assert_allclose(got.compressed(), want[valid], atol=0.25 + 1e-4)


def test_message1_bzip2_records_and_errors():
    vol = _legacy_volume()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # deprecation, "No MSG5"
        plain, framed = (
            pyart.io.read_nexrad_archive(
                io.BytesIO(encode_level2_message1(vol, records=records)),
                include_fields=["reflectivity"],
            )
            for records in ("uncompressed", "bzip2")
        )
    a, b = plain.fields["reflectivity"]["data"], framed.fields["reflectivity"]["data"]
    np.testing.assert_array_equal(a.filled(-999.0), b.filled(-999.0))
    vol.sweeps[0].fields["ZDR"] = vol.sweeps[0].fields["REF"]
    with pytest.raises(Level2EncodeError, match=r"sweep 0: message 1 has no \['ZDR'\]"):
        encode_level2_message1(vol)
    with pytest.raises(Level2EncodeError, match="720 rays; message 1 has 1-degree radials"):
        encode_level2_message1(_single_pol(_synthetic_volume()))


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
