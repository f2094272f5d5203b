"""The simulator follows the era table: which instruments and archive formats a day gets."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, date, datetime

import numpy as np
import pytest

from fusion_ops.simulate.archive import SimulationConfig, SimulationError, era_plan, simulate_day
from fusion_ops.simulate.domain import Domain
from fusion_ops.simulate.geostationary import GeoImager
from fusion_ops.simulate.ground_radar import RadarObserver, ScanStrategy
from fusion_ops.simulate.truth import TruthConfig, TruthModel

DOMAIN = Domain(width_km=120.0, height_km=120.0, margin_km=40.0)


def _plan(day: str, **changes):
    cfg = SimulationConfig(out_url="unused", domain=DOMAIN, **changes)
    return era_plan(cfg, date.fromisoformat(day))


@pytest.mark.parametrize(
    ("day", "capability", "message", "records", "suffix", "version"),
    [
        ("2005-05-20", "single", 1, "uncompressed", ".gz", ""),  # before Build 10
        ("2008-06-01", "single", 1, "uncompressed", ".gz", ""),  # the Build 10 rollout
        ("2009-05-20", "single", 31, "uncompressed", ".gz", "V03"),
        ("2012-01-20", "unknown", 31, "uncompressed", ".gz", "V03"),  # KMLB upgrade under way
        ("2013-05-20", "dual", 31, "uncompressed", ".gz", "V06"),
        ("2016-06-01", "dual", 31, "bzip2", "", "V06"),  # both forms archived: the plain one
        ("2021-05-20", "dual", 31, "bzip2", "", "V06"),
    ],
)
def test_level2_form_of_the_day(day, capability, message, records, suffix, version):
    plan = _plan(day)
    assert plan.radar_capability == capability
    assert plan.dual_pol == (capability == "dual")  # "unknown" is simulated single-pol
    assert plan.level2_message_type == message
    assert (plan.level2_records, plan.level2_key_suffix, plan.level2_version) == (
        records,
        suffix,
        version,
    )
    if day in ("2008-06-01", "2016-06-01"):
        assert len(plan.notes) == 1  # the day has two forms: the note says which one is written


@pytest.mark.parametrize(
    ("day", "spaceborne", "satellite"),
    [
        ("1997-06-01", "", ""),
        ("2009-05-20", "TRMM", ""),
        ("2014-01-01", "TRMM", ""),
        ("2014-06-01", "GPM", ""),  # both radars fly: GPM
        ("2017-03-01", "GPM", "G16"),  # GOES-16 in checkout
        ("2021-05-20", "GPM", "G16"),
        ("2025-05-01", "GPM", "G19"),
    ],
)
def test_spaceborne_and_satellite_of_the_day(day, spaceborne, satellite):
    plan = _plan(day)
    assert (plan.spaceborne, plan.satellite_platform) == (spaceborne, satellite)
    assert (plan.spaceborne_from, plan.satellite_from) == ("era table", "era table")
    expected = {}
    if not spaceborne:
        expected["spaceborne"] = "no spaceborne precipitation radar before 1997-12-01 (TRMM PR)"
    if not satellite:
        expected["goes"] = "no GOES-R ABI before 2017-02-28"
    assert plan.absent == expected


def test_configured_platforms_override_the_era_table():
    plan = _plan("2009-05-20", platform="GPM", satellite_platform="g16")
    assert (plan.spaceborne, plan.spaceborne_from) == ("GPM", "config")
    assert (plan.satellite_platform, plan.satellite_from) == ("G16", "config")
    assert plan.absent == {}
    assert plan.manifest()["satellite_from"] == "config"


def test_unknown_platforms_are_refused():
    with pytest.raises(SimulationError, match="platform 'CloudSat': TRMM or GPM"):
        _plan("2009-05-20", platform="CloudSat")
    with pytest.raises(SimulationError, match="satellite_platform 'G15': one of G16, G17"):
        _plan("2021-05-20", satellite_platform="G15")


def test_before_level2_the_radar_is_refused_not_faked():
    with pytest.raises(SimulationError, match="no WSR-88D Level II before 1991-01-01"):
        _plan("1990-06-01")
    plan = _plan("1990-06-01", observers=("gauges",))
    assert plan.level2_message_type == 0 and plan.spaceborne == ""


def test_a_site_outside_the_site_table_gets_the_network_dates():
    domain = Domain(site="KXYZ", width_km=120.0, height_km=120.0, margin_km=40.0)
    cfg = SimulationConfig(out_url="unused", domain=domain)
    assert era_plan(cfg, date(2010, 1, 1)).radar_capability == "single"
    assert era_plan(cfg, date(2012, 6, 1)).radar_capability == "unknown"
    plan = era_plan(cfg, date(2014, 6, 1))
    assert plan.radar_capability == "dual" and "not in the NEXRAD site table" in plan.notes[0]


def test_goes_east_platforms_sit_at_the_east_slot():
    truth = TruthModel(TruthConfig(seed=0, domain=DOMAIN))
    lons = {p: GeoImager(truth, platform=p).satellite_lon_deg for p in ("G16", "G17", "G18", "G19")}
    assert lons == {"G16": -75.2, "G17": -137.2, "G18": -137.2, "G19": -75.2}


def test_polarization_switch_changes_only_the_moments():
    truth = TruthModel(TruthConfig(seed=2, domain=DOMAIN))
    vols = {}
    for dual in (True, False):
        strategy = ScanStrategy(
            elevations_deg=(0.5, 2.4), gate_spacing_m=2000.0, max_range_m=120_000.0, dual_pol=dual
        )
        radar = RadarObserver(truth, strategy, seed=2)
        vols[dual] = radar.volume(datetime(2009, 5, 20, 18, tzinfo=UTC))
    for dual_sweep, single_sweep in zip(vols[True].sweeps, vols[False].sweeps, strict=True):
        assert set(dual_sweep.fields) == {"REF", "VEL", "SW", "ZDR", "PHI", "RHO"}
        assert set(single_sweep.fields) == {"REF", "VEL", "SW"}
        for m in ("REF", "VEL", "SW"):
            np.testing.assert_array_equal(dual_sweep.fields[m], single_sweep.fields[m])
    assert np.isfinite(vols[False].sweeps[0].fields["REF"]).sum() > 100


def test_a_2005_day_writes_message1_volumes(tmp_path):
    """Before Build 10: legacy message-1 volumes in .gz keys without a version tag, placed
    from the site table by the reader (message 1 has no position)."""
    from fusion_ops.readers.ground_radar import list_volumes, read_volume

    day = date(2005, 5, 20)
    cfg = SimulationConfig(
        out_url=str(tmp_path),
        start=day,
        seed=1,
        radar_cadence_min=720.0,
        gate_spacing_m=2000.0,
        super_res_lowest=True,  # not in message 1: written at 1 degree
        domain=DOMAIN,
        observers=("nexrad",),
    )
    manifest = simulate_day(cfg, day, None, None)
    keys = [f["key"] for f in manifest["files"] if f["kind"] == "nexrad_level2"]
    assert keys == [
        "nexrad/2005/05/20/KMLB/KMLB20050520_000000.gz",
        "nexrad/2005/05/20/KMLB/KMLB20050520_120000.gz",
    ]
    era = json.loads((tmp_path / "manifest/2005/05/20/manifest.json").read_text())["era"]
    assert (era["level2_message_type"], era["level2_version"]) == (1, "")
    inner = gzip.decompress((tmp_path / keys[1]).read_bytes())
    assert inner[:12] == b"ARCHIVE2.001" and inner[20:24] == b"KMLB"
    assert inner[24 + 12 + 3] == 1  # the first record is a message 1
    urls = list_volumes(str(tmp_path / "nexrad"), day, "KMLB")
    vol = read_volume(urls[1])
    assert vol.site_id == "KMLB"
    # the NEXRAD site table's KMLB, not the simulator's domain centre (no position in the file)
    assert vol.latitude_deg == pytest.approx(28.1133, abs=1e-3)
    assert vol.longitude_deg == pytest.approx(-80.6542, abs=1e-3)
    assert len(vol.sweeps) == 9 and all(s.azimuth_res_deg == 1.0 for s in vol.sweeps)
    ref = vol.sweeps[0]
    assert set(ref.fields) == {"reflectivity"}
    np.testing.assert_allclose(ref.range_m[:3], [500.0, 1500.0, 2500.0])  # 1 km legacy gates
    assert np.isfinite(ref.fields["reflectivity"]).sum() > 100
