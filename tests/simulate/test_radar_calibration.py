"""Calibration errors of the simulated WSR-88D (issue 19): none by default, injected on demand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from fusion_ops.simulate.domain import Domain
from fusion_ops.simulate.ground_radar import RadarCalibration, RadarObserver, ScanStrategy
from fusion_ops.simulate.truth import TruthConfig, TruthModel

T = datetime(2021, 5, 20, 19, 0, tzinfo=UTC)
STRATEGY = ScanStrategy(elevations_deg=(0.5, 1.45), gate_spacing_m=1000.0, max_range_m=150_000.0)


@pytest.fixture(scope="module")
def truth() -> TruthModel:
    return TruthModel(TruthConfig(seed=0, domain=Domain(width_km=200.0, height_km=200.0)))


@pytest.fixture(scope="module")
def state(truth):
    return truth.state(T + timedelta(seconds=145))


def _volume(truth, state, calibration: RadarCalibration | None = None):
    kw = {} if calibration is None else {"calibration": calibration}
    return RadarObserver(truth, STRATEGY, **kw).volume(T, state=state)


def test_default_radar_is_perfectly_calibrated(truth, state):
    assert RadarCalibration().biases_db("KMLB", T) == (0.0, 0.0)
    a = _volume(truth, state)
    b = _volume(truth, state, RadarCalibration())
    for sa, sb in zip(a.sweeps, b.sweeps, strict=True):
        for name in sa.fields:
            np.testing.assert_array_equal(sa.fields[name], sb.fields[name])


def test_fixed_biases_shift_ref_and_zdr_only(truth, state):
    base = _volume(truth, state)
    biased = _volume(truth, state, RadarCalibration(z_bias_db=-2.0, zdr_bias_db=0.3))
    for sa, sb in zip(base.sweeps, biased.sweeps, strict=True):
        ref_a, ref_b = sa.fields["REF"], sb.fields["REF"]
        # The same gates pass the SNR threshold: calibration does not change the SNR.
        np.testing.assert_array_equal(np.isfinite(ref_a), np.isfinite(ref_b))
        assert np.isfinite(ref_a).sum() > 1000
        det = np.isfinite(ref_a)
        np.testing.assert_allclose((ref_b - ref_a)[det], -2.0, atol=1e-4)
        za, zb = sa.fields["ZDR"], sb.fields["ZDR"]
        inside = np.isfinite(za) & (np.abs(za) < 7.5) & (np.abs(zb) < 7.5)
        np.testing.assert_allclose((zb - za)[inside], 0.3, atol=1e-4)
        for name in ("VEL", "SW", "PHI", "RHO"):
            np.testing.assert_array_equal(sa.fields[name], sb.fields[name])


def test_random_biases_per_radar_and_drifting_reflectivity():
    cal = RadarCalibration(z_drift_sigma_db=1.5, z_drift_days=20.0, zdr_sigma_db=0.2)
    days = [T + timedelta(days=d) for d in range(0, 4000, 2)]
    z = np.array([cal.biases_db("KMLB", t, seed=3)[0] for t in days])
    zdr = {cal.biases_db("KMLB", t, seed=3)[1] for t in days}
    # Deterministic, ZDR constant per radar, Z drifting with sd about 1.5 dB.
    assert cal.biases_db("KMLB", days[10], seed=3) == cal.biases_db("KMLB", days[10], seed=3)
    assert len(zdr) == 1
    assert 1.2 < z.std() < 1.8 and abs(z.mean()) < 0.5
    # Slow: two days apart nearly the same, two months apart unrelated.
    assert np.corrcoef(z[:-1], z[1:])[0, 1] > 0.85
    assert abs(np.corrcoef(z[:-30], z[30:])[0, 1]) < 0.25
    # Across radars (sites and seeds) the ZDR offsets spread by about 0.2 dB.
    offsets = [cal.biases_db(f"K{i:03d}", T, seed=i)[1] for i in range(400)]
    assert 0.17 < np.std(offsets) < 0.23
    # A fixed part adds to the random one.
    both = RadarCalibration(z_bias_db=-2.0, z_drift_sigma_db=1.5, zdr_bias_db=0.3, zdr_sigma_db=0.2)
    zb, zdrb = both.biases_db("KMLB", days[7], seed=3)
    z0, zdr0 = cal.biases_db("KMLB", days[7], seed=3)
    assert zb == pytest.approx(z0 - 2.0) and zdrb == pytest.approx(zdr0 + 0.3)


def test_archive_carries_the_configured_calibration_into_level2_and_manifest(tmp_path):
    """SimulationConfig.radar_calibration reaches the written Level II files and the manifest."""
    import json

    from fusion_ops.readers.ground_radar import read_volume
    from fusion_ops.simulate.archive import SimulationConfig, simulate_day

    day = T.date()
    domain = Domain(width_km=200.0, height_km=200.0)
    volumes = {}
    for name, cal in (
        ("perfect", RadarCalibration()),
        ("biased", RadarCalibration(-2.0, 0, 20, 0.3)),
    ):
        cfg = SimulationConfig(
            out_url=str(tmp_path / name),
            start=day,
            seed=1,
            radar_cadence_min=720.0,
            gate_spacing_m=2000.0,
            domain=domain,
            observers=("nexrad",),
            radar_calibration=cal,
        )
        manifest = simulate_day(cfg, day, TruthModel(TruthConfig(seed=1, domain=domain)), None)
        stored = json.loads((tmp_path / name / "manifest/2021/05/20/manifest.json").read_text())
        assert stored["radar_calibration_db"] == manifest["radar_calibration_db"]
        key = sorted(f["key"] for f in manifest["files"] if f["kind"] == "nexrad_level2")[-1]
        volumes[name] = (manifest, read_volume(str(tmp_path / name / key)))
    assert volumes["perfect"][0]["radar_calibration_db"] == {
        "reflectivity": 0.0,
        "differential_reflectivity": 0.0,
    }
    assert volumes["biased"][0]["radar_calibration_db"] == {
        "reflectivity": -2.0,
        "differential_reflectivity": 0.3,
    }
    a, b = volumes["perfect"][1].sweeps[0].fields, volumes["biased"][1].sweeps[0].fields
    both = np.isfinite(a["reflectivity"]) & np.isfinite(b["reflectivity"])
    assert both.sum() > 100
    assert np.median((b["reflectivity"] - a["reflectivity"])[both]) == pytest.approx(-2.0, abs=0.01)
    dual = np.isfinite(a["differential_reflectivity"]) & np.isfinite(b["differential_reflectivity"])
    shift = np.median((b["differential_reflectivity"] - a["differential_reflectivity"])[dual])
    assert shift == pytest.approx(0.3, abs=0.07)  # Level II ZDR is quantised to 1/16 dB
