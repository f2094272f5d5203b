"""Calibration monitoring's pure functions: pairing, pooling, carry-forward, significance, the
light-rain ZDR offset (a synthetic sweep with a known bias) and the feature corrections."""

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from fusion_ops.calibration import apply as A
from fusion_ops.calibration import monitoring as M
from fusion_ops.calibration.features import PROFILE_HEIGHTS_M, beam_height_km, correct_gr_features
from fusion_ops.calibration.samples import correct_mlp1_samples

DAY = "2014-12-06"


# --------------------------------------------------------------------------- pairing


def test_overpass_time_is_the_median_scan_time_inside_the_domain():
    t = np.datetime64("2014-12-06T09:50:00", "ns") + np.arange(5) * np.timedelta64(1, "s")
    lat = np.array([[-30.0, -30.0], [-27.5, -31.0], [-27.6, -27.7], [-27.0, -30.0], [-40, -40]])
    sr = xr.Dataset(
        {"lat": (("scan", "ray"), lat), "lon": (("scan", "ray"), np.full((5, 2), 153.0))},
        coords={"time": ("scan", t)},
    )
    bbox = (-29.0, -26.0, 152.0, 154.0)
    assert M.overpass_time(sr, bbox) == t[2]  # scans 1, 2, 3 have a footprint inside
    assert M.overpass_time(sr, (0.0, 1.0, 0.0, 1.0)) is None


def test_nearest_volumes_by_their_scan_span():
    times = [pd.Timestamp(f"{DAY}T09:{m}:00", tz="UTC") for m in ("30", "40", "48", "56")]
    sr = pd.Timestamp(f"{DAY}T09:50:40", tz="UTC")
    # inside the 09:48 volume (ends 09:56); 09:56 is 320 s away, 09:40 160 s from its end
    assert M.nearest_volumes(sr, times, 600.0) == [2, 1, 3]
    assert M.nearest_volumes(sr, times, 60.0) == [2]
    assert M.nearest_volumes(sr, [None, times[0]], 600.0) == []  # 09:30-09:35: too far
    # a volume lasts until the next one starts, at most MAX_VOLUME_DURATION_S (10 min)
    assert M.nearest_volumes(pd.Timestamp(f"{DAY}T10:05:40"), times, 0.0) == [3]
    assert M.nearest_volumes(pd.Timestamp(f"{DAY}T09:41:30"), times, 60.0) == [1]  # 09:30: 90 s
    assert M.nearest_volumes(pd.Timestamp(f"{DAY}T09:29:30"), times, 60.0) == [0]


# --------------------------------------------------------------------------- pooling


def test_pool_overpasses_is_the_median_of_all_samples():
    pooled = M.pool_overpasses([np.array([1.0, 2.0, 3.0, np.nan]), np.array([10.0]), np.zeros(0)])
    assert pooled["offset_db"] == 2.5 and pooled["n"] == 4 and pooled["n_overpasses"] == 2
    assert pooled["ci95_db"] == [None, None]  # fewer than 6 samples: no interval
    rng = np.random.default_rng(0)
    a, b = rng.normal(-3.0, 1.0, 3000), rng.normal(-2.0, 1.0, 1000)
    pooled = M.pool_overpasses([a, b])
    assert pooled["offset_db"] == pytest.approx(np.median(np.r_[a, b]), abs=1e-4)
    lo, hi = pooled["ci95_db"]
    assert lo < pooled["offset_db"] < hi and hi - lo < 0.15
    empty = M.pool_overpasses([])
    assert empty["offset_db"] is None and empty["n"] == 0


def test_carry_forward_keeps_the_source_date():
    today = {"offset_db": -2.81, "n": 4449, "ci95_db": [-2.88, -2.73]}
    own = M.carry_forward("2014-12-06", today, None, 100)
    assert (own["source"], own["source_date"], own["age_days"]) == ("day", "2014-12-06", 0)
    nxt = M.carry_forward("2014-12-07", None, own, 100)
    assert nxt["source"] == "carried" and nxt["offset_db"] == -2.81 and nxt["n"] == 4449
    later = M.carry_forward("2014-12-10", {"offset_db": 5.0, "n": 20, "ci95_db": [1, 9]}, nxt, 100)
    # 20 samples are too few for a new estimate: the 12-06 offset stays, three days older
    assert later["source"] == "carried" and later["source_date"] == "2014-12-06"
    assert later["age_days"] == 4 and later["offset_db"] == -2.81
    assert "fewer than 100" in later["note"]
    first = M.carry_forward("2014-12-05", None, None, 100)
    assert first["source"] == "none" and first["offset_db"] == 0.0 and first["n"] == 0
    assert first["note"] == "no overpass yet"
    # a record with nothing known is not carried
    assert M.carry_forward("2014-12-06", None, first, 100)["source"] == "none"


@pytest.mark.parametrize(
    ("offset", "ci", "n", "expected", "words"),
    [
        (-2.81, (-2.88, -2.73), 4449, True, "significant"),
        (-0.40, (-0.50, -0.30), 4000, False, "<= 0.5"),
        (-0.80, (-1.60, 0.10), 500, False, "includes 0"),
        (-0.80, (-0.90, -0.70), 50, False, "n = 50 < 100"),
        (0.70, (None, None), 500, False, "no 95 %"),
        (None, (None, None), 0, False, "no estimate"),
    ],
)
def test_significance_rule(offset, ci, n, expected, words):
    ok, reason = M.is_significant(offset, ci, n, M.Z_SIGNIFICANT_DB, M.MIN_Z_SAMPLES)
    assert ok is expected and words in reason


def test_zdr_threshold_and_corrections_to_apply():
    assert M.is_significant(0.3, (0.25, 0.35), 500, M.ZDR_SIGNIFICANT_DB, 100)[0]
    assert not M.is_significant(0.08, (0.05, 0.11), 500, M.ZDR_SIGNIFICANT_DB, 100)[0]
    z = M._decide(
        {
            "day": DAY,
            **M.carry_forward(
                DAY, {"offset_db": -2.81, "n": 4449, "ci95_db": [-2.88, -2.73]}, None, 100
            ),
        },
        M.Z_SIGNIFICANT_DB,
        100,
    )
    zdr = M._decide(
        {
            "day": DAY,
            **M.carry_forward(DAY, {"offset_db": 0.05, "n": 900, "ci95_db": [0.0, 0.1]}, None, 100),
        },
        M.ZDR_SIGNIFICANT_DB,
        100,
    )
    corr = M.corrections_to_apply(z, zdr)
    assert corr["reflectivity_db"] == -2.81 and corr["zdr_db"] == 0.0
    assert corr["reflectivity"] == {
        "applied": True,
        "offset_db": -2.81,
        "source_date": DAY,
        "n": 4449,
        "reason": z["reason"],
    }
    assert not corr["zdr"]["applied"]
    none = M.corrections_to_apply(None, None)
    assert none["reflectivity_db"] == 0.0 and none["zdr_db"] == 0.0
    assert none["zdr"]["reason"] == "no monitoring record for the day"


# --------------------------------------------------------------------------- ZDR


def test_expected_light_rain_zdr_from_the_disdrometer_table():
    z = np.array([15.0, 21.0, 24.0, 27.0, 40.0])
    np.testing.assert_allclose(
        M.expected_light_rain_zdr(z), [0.46, 0.46, 0.525, 0.64, 0.64], atol=1e-9
    )


def synthetic_sweeps(bias_db: float, n_volumes: int = 8, seed: int = 0) -> dict[str, np.ndarray]:
    """Gates of ``n_volumes`` 0.5 degree sweeps (180 rays x 240 gates of 500 m): rain with the light-rain
    Z-ZDR relation plus ``bias_db`` and 0.25 dB noise below the melting layer (3 km), dry snow
    (ZDR 0.1, no bias relation) above, and 10 % clutter-like gates (RHOHV 0.85, ZDR +2 dB)."""
    rng = np.random.default_rng(seed)
    range_km = (np.arange(240) + 0.5) * 0.5
    height = np.broadcast_to(beam_height_km(range_km), (180, 240))
    cols = {k: [] for k in ("z", "zdr", "height", "rhohv", "volume")}
    for v in range(n_volumes):
        z = rng.uniform(10.0, 40.0, (180, 240))
        zdr = M.expected_light_rain_zdr(z) + rng.normal(0.0, 0.25, z.shape)
        zdr = np.where(height > 3.0, 0.1 + rng.normal(0, 0.2, z.shape), zdr) + bias_db
        rho = np.where(rng.random(z.shape) < 0.1, 0.85, rng.uniform(0.985, 0.998, z.shape))
        zdr = np.where(rho < 0.9, zdr + 2.0, zdr)
        for key, value in zip(cols, (z, zdr, height, rho, np.full(z.shape, v)), strict=True):
            cols[key].append(value.ravel())
    return {k: np.concatenate(v) for k, v in cols.items()}


@pytest.mark.parametrize("bias", [0.3, -0.3, 0.0])
def test_zdr_offset_recovers_an_injected_bias(bias):
    s = synthetic_sweeps(bias)
    out = M.zdr_offset(s["z"], s["zdr"], s["height"], s["volume"], rhohv=s["rhohv"])
    assert out["offset_db"] == pytest.approx(bias, abs=0.05)
    assert out["n_volumes"] == 8 and out["n"] > 10_000
    lo, hi = out["ci95_db"]
    assert lo <= out["offset_db"] <= hi and hi - lo < 0.05
    ok, _ = M.is_significant(out["offset_db"], out["ci95_db"], out["n"], M.ZDR_SIGNIFICANT_DB, 100)
    assert ok is (bias != 0.0)


def test_zdr_offset_removes_the_reflectivity_offset_first():
    """A GR reading 2 dB low puts other drops in the 20-28 dBZ window; the Z correction puts
    them back (without it the intrinsic ZDR is taken 2 dB too low on the curve)."""
    s = synthetic_sweeps(0.2)
    low = s["z"] - 2.0
    fixed = M.zdr_offset(low, s["zdr"], s["height"], s["volume"], s["rhohv"], z_offset_db=-2.0)
    raw = M.zdr_offset(low, s["zdr"], s["height"], s["volume"], s["rhohv"])
    assert fixed["offset_db"] == pytest.approx(0.2, abs=0.05)
    assert raw["offset_db"] > fixed["offset_db"] + 0.02


def test_zdr_offset_day_on_profiles_and_its_rules():
    s = synthetic_sweeps(0.3, n_volumes=8)
    times = pd.Timestamp(f"{DAY}T00:00", tz="UTC") + pd.to_timedelta(s["volume"] * 5, "min")
    keep = s["rhohv"] > 0.9  # the ingest's QC removed the clutter; profiles have no RHOHV
    profiles = pd.DataFrame(
        {
            "time": times[keep],
            "height_m": s["height"][keep] * 1000.0,
            "reflectivity_dbz": s["z"][keep],
            "zdr_db": s["zdr"][keep],
        }
    )
    record = M.zdr_offset_day(DAY, profiles, "dual", np.full(10, 4500.0))
    assert record["source"] == "day" and record["offset_db"] == pytest.approx(0.3, abs=0.05)
    assert record["significant"] and record["apply_db"] == record["offset_db"]
    assert record["max_height_km"] == 1.5
    # a low melting layer (SR bright band at 2 km) lowers the highest sample to 1 km
    low = M.zdr_offset_day(DAY, profiles, "dual", np.full(10, 2000.0))
    assert low["max_height_km"] == pytest.approx(1.0) and low["n"] < record["n"]
    # a single-pol day: nothing estimated, nothing applied, nothing carried over it
    single = M.zdr_offset_day("2014-12-07", profiles, "single", None, previous=record)
    assert single["source"] == "none" and not single["significant"]
    assert "single-pol" in single["reason"]
    # a dual-pol day without light rain carries the last estimate
    dry = M.zdr_offset_day("2014-12-08", profiles.iloc[0:0], "dual", None, previous=record)
    assert dry["source"] == "carried" and dry["source_date"] == DAY and dry["significant"]


# --------------------------------------------------------------------------- the corrections


def _features(n: int = 4) -> pd.DataFrame:
    frame = {f"dbz_h{h:05d}": np.linspace(20, 30, n).astype(np.float32) for h in PROFILE_HEIGHTS_M}
    frame.update({f"zdr_h{h:05d}": np.full(n, 0.6, np.float32) for h in PROFILE_HEIGHTS_M})
    frame.update({f"kdp_h{h:05d}": np.full(n, 0.2, np.float32) for h in PROFILE_HEIGHTS_M})
    frame["range_km"] = np.full(n, 50.0)
    frame["dbz_h00500"][0] = np.nan
    return pd.DataFrame(frame)


def test_features_shifted_only_when_corrections_apply():
    table = _features()
    assert correct_gr_features(table, 0.0, 0.0) is table
    out = correct_gr_features(table, -2.8, 0.3)
    np.testing.assert_allclose(out["dbz_h01000"], table["dbz_h01000"] + 2.8, atol=1e-5)
    np.testing.assert_allclose(out["zdr_h08000"], 0.3, atol=1e-6)
    assert np.isnan(out["dbz_h00500"][0]) and out["dbz_h00500"].dtype == np.float32
    np.testing.assert_array_equal(out["kdp_h01000"], table["kdp_h01000"])
    np.testing.assert_array_equal(out["range_km"], table["range_km"])
    assert table["dbz_h01000"][0] == 20.0  # the input is not changed

    samples, summary = correct_mlp1_samples(table, None)
    assert samples is table and summary == {"z_correction_db": 0.0, "zdr_correction_db": 0.0}
    corr = {
        "reflectivity_db": -2.8,
        "zdr_db": 0.0,
        "reflectivity": {"applied": True, "source_date": DAY, "n": 4449},
        "zdr": {"applied": False},
    }
    samples, summary = correct_mlp1_samples(table, corr)
    assert summary == {
        "z_correction_db": -2.8,
        "zdr_correction_db": 0.0,
        "z_correction_source_date": DAY,
        "z_correction_n": 4449,
    }
    np.testing.assert_allclose(samples["dbz_h02000"], table["dbz_h02000"] + 2.8, atol=1e-5)


def test_gridded_application_removes_the_offsets():
    heights = np.asarray(PROFILE_HEIGHTS_M, float)
    lat, lon = np.array([28.0, 28.1]), np.array([-80.7, -80.6])
    shape = (1, heights.size, 2, 2)
    profiles = xr.Dataset(
        {
            "reflectivity": (("time", "height", "lat", "lon"), np.full(shape, 30.0, np.float32)),
            "differential_reflectivity": (
                ("time", "height", "lat", "lon"),
                np.full(shape, 1.0, np.float32),
            ),
        },
        coords={"time": [np.datetime64(f"{DAY}T10:00")], "height": heights, "lat": lat, "lon": lon},
        attrs={"site_latitude_deg": 28.113, "site_longitude_deg": -80.654},
    )
    rng = A.grid_range_km(lat, lon, (28.113, -80.654))
    cols = A.grid_features(profiles.isel(time=0), rng, {"reflectivity_db": -2.0, "zdr_db": 0.25})
    np.testing.assert_allclose(cols["dbz_h00500"], 32.0)
    np.testing.assert_allclose(cols["zdr_h00500"], 0.75)
    plain = A.gr_rain_volumes_blockwise(profiles, None)
    fixed = A.gr_rain_volumes_blockwise(profiles, None, corrections={"reflectivity_db": -2.0})
    assert fixed.attrs["gr_reflectivity_correction_db"] == -2.0
    assert plain.attrs["gr_reflectivity_correction_db"] == 0.0
    # the fallback Z-R sees Z + 2 dB: more rain
    assert float(fixed["rain_rate"].max()) > float(plain["rain_rate"].max())
