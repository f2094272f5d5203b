"""The calibration-monitoring assets on the real Brisbane case, and the correction in the chain.

The archive is laid out in ``tmp_path`` as the listings expect it: the IDR66 ODIM volume under a
Level II-style key (``YBNE20141206_094829``, read by content), the GPM Ku granule in the day's
spaceborne folder (links to ../shared/data, nothing copied), plus a corrupt granule.
"""

import json

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from dagster import AssetKey, DagsterInstance, asset, materialize
from upath import UPath

from assets import calibration as C
from assets import monitoring as MA
from fusion_ops.calibration import monitoring as M
from fusion_ops.calibration.features import PROFILE_HEIGHTS_M
from orchestration.runtime.io_managers import UniversalIOManager, read_value
from orchestration.runtime.partitions import daily_partitions
from orchestration.runtime.resources import ArchiveResource, DomainResource, RadarArchiveResource

GPM = "2A-CS-151E24S154E30S.GPM.Ku.V7-20170308.20141206-S095002-E095137.004383.V05A.HDF5"
ODIM = "IDR66_20141206_094829.vol.h5"
SITE = "YBNE"
DAY = "2014-12-06"
#: pinned by tests/calibration/test_calib_srgr.py (the matcher on this pair of files)
PINNED_N, PINNED_MEDIAN, PINNED_CI = 4449, -2.807, (-2.878, -2.733)


@pytest.fixture(scope="module")
def archive(shared_data, tmp_path_factory):
    root = tmp_path_factory.mktemp("monitoring")
    gr_day = root / "nexrad" / "2014" / "12" / "06" / SITE
    gr_day.mkdir(parents=True)
    (gr_day / f"{SITE}20141206_094829").symlink_to(shared_data / "radar" / ODIM)
    # a second volume of the day, 42 minutes later: outside the window, never read
    (gr_day / f"{SITE}20141206_103100").symlink_to(shared_data / "radar" / ODIM)
    sr_day = root / "spaceborne" / "2014" / "12" / "06"
    sr_day.mkdir(parents=True)
    (sr_day / GPM).symlink_to(shared_data / "spaceborne" / GPM)
    (sr_day / "2A.GPM.Ku.broken.HDF5").write_bytes(b"\x89HDF\r\n\x1a\n" + b"\x00" * 64)
    return root


def _resources(root):
    return {
        "radar_archive": RadarArchiveResource(url=str(root / "nexrad"), sites=[SITE]),
        "spaceborne_archive": ArchiveResource(url=str(root / "spaceborne")),
        # around Mt Stapylton (-27.718, 153.240), 150 km and more
        "domain": DomainResource(
            name="brisbane",
            lat_min_deg=-29.2,
            lat_max_deg=-26.2,
            lon_min_deg=151.5,
            lon_max_deg=155.0,
            grid_spacing_deg=0.05,
        ),
        "io_manager": UniversalIOManager(base_url=str(root / "storage")),
    }


@pytest.fixture(scope="module")
def offsets(archive):
    """gr_reflectivity_offset over 12-05 (nothing yet), 12-06 (the overpass), 12-07 (none)."""
    instance = DagsterInstance.ephemeral()
    results = {}
    for day in ("2014-12-05", DAY, "2014-12-07"):
        result = materialize(
            [MA.gr_reflectivity_offset],
            partition_key=day,
            resources=_resources(archive),
            instance=instance,
        )
        assert result.success
        record = read_value(UPath(archive / "storage" / MA.Z_OFFSET / day))
        results[day] = (record, result)
    return results


def test_brisbane_offset_is_the_pinned_match(offsets):
    record, result = offsets[DAY]
    assert record["source"] == "day" and record["source_date"] == DAY
    assert record["n"] == PINNED_N and record["n_overpasses"] == 1
    assert record["offset_db"] == pytest.approx(PINNED_MEDIAN, abs=0.005)
    assert record["ci95_db"] == pytest.approx(PINNED_CI, abs=0.005)
    assert record["significant"] and record["apply_db"] == record["offset_db"]
    (over,) = [o for o in record["overpasses"] if o["status"] == "matched"]
    assert over["gr_volume"].endswith(f"{SITE}20141206_094829")  # the nearest, not 10:31
    assert over["sr_time"].startswith("2014-12-06T09:5") and over["time_diff_s"] < 180
    assert (over["n"], over["median_db"]) == (PINNED_N, pytest.approx(PINNED_MEDIAN, abs=0.005))
    assert over["skipped_sweeps"] == []
    # the corrupt granule is quarantined by name, the rest ran
    (bad,) = record["quarantine"]
    assert bad["file"].endswith("2A.GPM.Ku.broken.HDF5") and bad["reason"]
    # charted per partition: floats
    meta = result.asset_materializations_for_node(MA.Z_OFFSET)[0].metadata
    assert meta["offset_db"].value == pytest.approx(PINNED_MEDIAN, abs=0.005)
    assert isinstance(meta["n"].value, float) and meta["n"].value == PINNED_N
    assert meta["applied_db"].value == pytest.approx(PINNED_MEDIAN, abs=0.005)
    assert meta["beyond_target"].value is True  # -2.8 dB: beyond the +-1 dB network target
    assert meta["source_date"].value == DAY


def test_no_overpass_yet_then_carried_forward(offsets):
    first, _ = offsets["2014-12-05"]
    assert first["source"] == "none" and first["offset_db"] == 0.0 and first["n"] == 0
    assert not first["significant"] and first["apply_db"] == 0.0
    assert "no overpass yet" in first["reason"]
    carried, _ = offsets["2014-12-07"]
    assert carried["source"] == "carried" and carried["source_date"] == DAY
    assert carried["age_days"] == 1 and carried["overpasses"] == []
    assert carried["offset_db"] == pytest.approx(PINNED_MEDIAN, abs=0.005)
    assert carried["n"] == PINNED_N and carried["significant"]


def test_sweeps_outside_the_window_are_skipped_not_fatal(archive, shared_data):
    """With a 60 s window the later sweeps of the 09:48:29 volume are skipped by the matcher
    and listed; the overpass is still matched from the others."""
    record = M.reflectivity_offset_day(
        DAY,
        [str(shared_data / "spaceborne" / GPM)],
        {SITE: [str(archive / "nexrad/2014/12/06" / SITE / f"{SITE}20141206_094829")]},
        (-29.2, -26.2, 151.5, 155.0),
        max_time_diff_s=60.0,
    )
    (over,) = record["overpasses"]
    assert over["status"] == "matched" and 0 < over["n"] < PINNED_N
    assert len(over["skipped_sweeps"]) > 0
    assert record["n"] == over["n"] and record["quarantine"] == []


# --------------------------------------------------------------------------- the chain hook

H = np.asarray(PROFILE_HEIGHTS_M, float)
STATIONS = [f"9{i:04d}" for i in range(6)]
TIMES = [pd.Timestamp(f"{DAY}T10:00", tz="UTC") + pd.Timedelta(minutes=5 * k) for k in range(12)]


@asset(key=C.GR_GAUGE_PROFILES, partitions_def=daily_partitions)
def _profiles_stub() -> pd.DataFrame:
    rows = [
        {
            "station_id": s,
            "time": t,
            "site_id": SITE,
            "height_m": h,
            "gauge_range_m": 20_000.0 + 1000 * i,
            "reflectivity_dbz": 30.0 - h / 1000.0,
            "zdr_db": 0.8,
            "kdp_deg_km": 0.1,
        }
        for i, s in enumerate(STATIONS)
        for t in TIMES
        for h in H
    ]
    return pd.DataFrame(rows)


@asset(key=C.GAUGES, partitions_def=daily_partitions)
def _gauges_stub() -> pd.DataFrame:
    end = pd.Timestamp(f"{DAY}T11:00", tz="UTC")
    return pd.DataFrame(
        {"station_id": STATIONS, "time_end": end, "precip_mm": 2.0, "coverage": 1.0, "qc_flags": 0}
    )


def _samples(root, records: dict) -> pd.DataFrame:
    storage = root / "storage"
    for key, record in records.items():
        (storage / key).mkdir(parents=True, exist_ok=True)
        (storage / key / f"{DAY}.json").write_text(json.dumps(record))
    result = materialize(
        [_profiles_stub, _gauges_stub, C.mlp1_samples],
        partition_key=DAY,
        resources={"io_manager": UniversalIOManager(base_url=str(storage))},
    )
    assert result.success
    meta = result.asset_materializations_for_node("mlp1_samples")[0].metadata
    return read_value(UPath(storage / "mlp1_samples" / DAY)), meta


def _record(offset: float, ci: tuple[float, float], n: int, threshold: float, min_n: int) -> dict:
    record = M.carry_forward(DAY, {"offset_db": offset, "n": n, "ci95_db": list(ci)}, None, min_n)
    return M._decide({"day": DAY, **record}, threshold, min_n)


def test_mlp1_samples_corrected_only_when_significant(tmp_path):
    plain, meta0 = _samples(tmp_path / "a", {})
    assert meta0["z_correction_db"].value == 0.0 and meta0["zdr_correction_db"].value == 0.0
    z = _record(-2.807, (-2.878, -2.733), 4449, M.Z_SIGNIFICANT_DB, M.MIN_Z_SAMPLES)
    zdr_small = _record(0.05, (0.02, 0.08), 900, M.ZDR_SIGNIFICANT_DB, M.MIN_ZDR_SAMPLES)
    fixed, meta = _samples(tmp_path / "b", {MA.Z_OFFSET: z, MA.ZDR_OFFSET: zdr_small})
    dbz = [c for c in plain.columns if c.startswith("dbz_h")]
    np.testing.assert_allclose(fixed[dbz].to_numpy(), plain[dbz].to_numpy() + 2.807, atol=1e-4)
    zdr = [c for c in plain.columns if c.startswith("zdr_h")]
    np.testing.assert_array_equal(fixed[zdr].to_numpy(), plain[zdr].to_numpy())  # 0.05: not
    assert meta["z_correction_db"].value == pytest.approx(-2.807)
    assert meta["z_correction_source_date"].value == DAY
    assert meta["z_correction_n"].value == 4449
    assert meta["zdr_correction_db"].value == 0.0
    zdr_big = _record(0.3, (0.25, 0.35), 900, M.ZDR_SIGNIFICANT_DB, M.MIN_ZDR_SAMPLES)
    shifted, _ = _samples(tmp_path / "c", {MA.ZDR_OFFSET: zdr_big})
    np.testing.assert_allclose(shifted[zdr].to_numpy(), plain[zdr].to_numpy() - 0.3, atol=1e-4)
    np.testing.assert_array_equal(shifted[dbz].to_numpy(), plain[dbz].to_numpy())


def test_zdr_offset_asset_registered_with_its_inputs():
    assert set(MA.gr_zdr_offset.keys_by_input_name) >= {"profiles", "footprints", "z_offset"}
    deps = {k.to_user_string() for k in C.mlp1_samples.dependency_keys}
    assert {MA.Z_OFFSET, MA.ZDR_OFFSET} <= deps
    assert AssetKey(MA.Z_OFFSET) in MA.gr_reflectivity_offset.dependency_keys  # day before


def test_zdr_offset_asset_on_a_biased_day(tmp_path):
    """gr_zdr_offset on stub inputs: light rain with ZDR 0.25 dB above the intrinsic curve, a
    significant -2 dB reflectivity offset (removed before the window) and a 4.5 km bright band."""
    rng = np.random.default_rng(3)
    n = 4000
    z_true = rng.uniform(15.0, 35.0, n)
    times = pd.Timestamp(f"{DAY}T10:00", tz="UTC") + pd.to_timedelta(
        rng.integers(0, 12, n) * 5, "min"
    )

    @asset(key=C.GR_GAUGE_PROFILES, partitions_def=daily_partitions)
    def profiles_stub() -> pd.DataFrame:
        return pd.DataFrame(
            {
                "station_id": "1",
                "time": times,
                "height_m": rng.choice([500.0, 1000.0, 1500.0, 3000.0], n),
                "reflectivity_dbz": z_true - 2.0,  # the GR reads 2 dB low
                "zdr_db": M.expected_light_rain_zdr(z_true) + 0.25 + rng.normal(0, 0.2, n),
            }
        )

    @asset(key=C.SR_FOOTPRINTS, partitions_def=daily_partitions)
    def footprints_stub() -> xr.Dataset:
        return xr.Dataset({"bright_band_height_m": ("footprint", np.full(50, 4500.0))})

    z_record = _record(-2.0, (-2.1, -1.9), 3000, M.Z_SIGNIFICANT_DB, M.MIN_Z_SAMPLES)

    @asset(key=MA.Z_OFFSET, partitions_def=daily_partitions)
    def z_stub() -> dict:
        return z_record

    storage = tmp_path / "storage"
    result = materialize(
        [profiles_stub, footprints_stub, z_stub, MA.gr_zdr_offset],
        partition_key=DAY,
        resources={"io_manager": UniversalIOManager(base_url=str(storage))},
    )
    assert result.success
    record = read_value(UPath(storage / MA.ZDR_OFFSET / DAY))
    assert record["capability"] == "dual" and record["z_correction_db"] == -2.0
    assert record["offset_db"] == pytest.approx(0.25, abs=0.05) and record["significant"]
    assert record["n_volumes"] == 12 and record["max_height_km"] == 1.5
    meta = result.asset_materializations_for_node(MA.ZDR_OFFSET)[0].metadata
    assert isinstance(meta["n"].value, float) and meta["applied_db"].value == record["apply_db"]
