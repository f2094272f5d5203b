"""The era table: which instruments exist on a date (``fusion_ops.eras``)."""

from __future__ import annotations

import datetime as dt

import pytest

from fusion_ops import eras

# A small site list instead of Py-ART's table, so these tests do not import Py-ART.
SITES = ("KMLB", "KAMX", "KTBW", "KVNX", "KLBB", "KTLX")


def plan(day, sites=("KMLB",), platform="G16"):
    return eras.sources_available(day, sites, platform, known_sites=SITES)


def test_2005_message1_gz_single_pol_trmm_only_no_abi():
    fmt = eras.level2_format("2005-05-20")
    assert fmt.message_type == 1
    assert fmt.compression == "gzip"
    assert fmt.key_suffix == ".gz"
    assert eras.radar_capability("KMLB", dt.date(2005, 5, 20), SITES) == "single"
    assert eras.spaceborne_radars("2005-05-20") == ("TRMM-PR",)
    assert eras.abi_platforms("2005-05-20", "east") == ()
    p = plan("2005-05-20", platform="G19")
    assert p["gauges"] == {"available": True, "reason": ""}
    assert p["ground_radar"]["KMLB"]["capability"] == "single"
    assert p["ground_radar"]["KMLB"]["message_types"] == [1]
    assert p["spaceborne"]["radars"] == ["TRMM-PR"]
    assert p["satellite"]["available"] is False
    assert p["satellite"]["reason"] == "no GOES-R ABI before 2017-02-28"


def test_2009_message31_gz_single_pol_kmlb_trmm_no_abi():
    fmt = eras.level2_format(dt.datetime(2009, 5, 20, 0, 1, 27))
    assert (fmt.message_type, fmt.compression, fmt.key_suffix) == (31, "gzip", ".gz")
    assert eras.radar_capability("KMLB", "2009-05-20", SITES) == "single"
    assert eras.spaceborne_radars("2009-05-20") == ("TRMM-PR",)
    assert eras.abi_platforms("2009-05-20") == ()


def test_build10_rollout_year_is_either_message_type():
    fmt = eras.level2_format("2008-06-01")
    assert fmt.message_types == (1, 31)
    assert fmt.message_type is None  # the reader tells by content
    assert eras.level2_format("2008-03-10").message_types == (1,)


def test_2014_06_01_trmm_and_gpm():
    assert eras.spaceborne_radars("2014-06-01") == ("TRMM-PR", "GPM-DPR")
    assert eras.spaceborne_radars("2014-03-07") == ("TRMM-PR",)
    assert eras.spaceborne_radars("2014-03-08") == ("TRMM-PR", "GPM-DPR")


def test_trmm_pr_suspended_after_october_2014_then_experimental_window():
    assert eras.spaceborne_radars("2014-10-07") == ("TRMM-PR", "GPM-DPR")
    assert eras.spaceborne_radars("2014-10-08") == ("GPM-DPR",)
    assert eras.spaceborne_radars("2015-03-01") == ("TRMM-PR", "GPM-DPR")
    assert eras.spaceborne_radars("2015-04-09") == ("GPM-DPR",)


def test_2016_01_01_gpm_only_no_abi():
    assert eras.spaceborne_radars("2016-01-01") == ("GPM-DPR",)
    assert eras.abi_platforms("2016-01-01", "east") == ()
    assert eras.abi_platforms("2016-01-01", "west") == ()
    p = plan("2016-01-01")
    assert p["spaceborne"] == {"available": True, "radars": ["GPM-DPR"], "reason": ""}
    assert p["satellite"]["reason"] == "no GOES-R ABI before 2017-02-28"
    # still whole-file gzip keys
    assert eras.level2_format("2016-01-01").key_suffix == ".gz"


def test_key_naming_changes_june_2016():
    assert eras.level2_format("2016-05-31").key_suffixes == (".gz",)
    assert eras.level2_format("2016-06-01").key_suffixes == (".gz", "")
    both = eras.level2_format("2016-06-01")
    assert both.compression is None and set(both.compressions) == {"gzip", "bzip2-records"}
    after = eras.level2_format("2016-06-02")
    assert (after.key_suffix, after.compression, after.message_type) == ("", "bzip2-records", 31)


def test_2019_06_01_dual_kmlb_gpm_g16_east():
    assert eras.radar_capability("KMLB", "2019-06-01", SITES) == "dual"
    assert eras.spaceborne_radars("2019-06-01") == ("GPM-DPR",)
    assert eras.abi_platforms("2019-06-01", "east") == ("G16",)
    assert eras.abi_platforms("2019-06-01", "west") == ("G17",)
    p = plan("2019-06-01")
    assert p["ground_radar"]["KMLB"] == {
        "available": True,
        "capability": "dual",
        "message_types": [31],
        "key_suffixes": [""],
        "reason": "",
    }
    assert p["satellite"] == {
        "available": True,
        "platform": "G16",
        "bucket": "noaa-goes16",
        "reason": "",
    }


def test_2025_06_01_g19_east_g18_west():
    assert eras.abi_platforms("2025-06-01", "east") == ("G19",)
    assert eras.abi_platforms("2025-06-01", "west") == ("G18",)
    assert eras.abi_platforms("2025-04-06", "east") == ("G16",)
    assert eras.abi_platforms("2025-04-07", "east") == ("G19",)


def test_configured_platform_outside_its_era_says_which_to_use():
    p = plan("2020-06-01", platform="G19")
    assert p["satellite"]["available"] is False
    assert p["satellite"]["reason"] == (
        "G19 serves GOES-East from 2025-04-07; GOES-East that day is G16 (noaa-goes16)"
    )
    p = plan("2018-06-01", platform="G17")
    assert p["satellite"]["reason"] == (
        "G17 serves GOES-West 2019-02-12 to 2023-01-04; "
        "no GOES-R platform serves GOES-West that day"
    )
    assert plan("2018-06-01", platform=None)["satellite"]["reason"] == (
        "no satellite platform configured"
    )
    with pytest.raises(ValueError, match="unknown GOES-R platform"):
        plan("2018-06-01", platform="G15")


def test_goes_west_handover_2023_01_04():
    assert eras.abi_platforms("2019-02-11", "west") == ()
    assert eras.abi_platforms("2019-02-12", "west") == ("G17",)
    assert eras.abi_platforms("2023-01-03", "west") == ("G17",)
    assert eras.abi_platforms("2023-01-04", "west") == ("G18",)
    with pytest.raises(ValueError, match="sector"):
        eras.abi_platforms("2023-01-04", "north")


def test_kmlb_upgrade_window_is_unknown_between_documented_days():
    assert eras.radar_capability("KMLB", "2012-01-02", SITES) == "single"
    assert eras.radar_capability("KMLB", "2012-01-03", SITES) == "unknown"
    assert eras.radar_capability("KMLB", "2012-02-26", SITES) == "unknown"
    assert eras.radar_capability("KMLB", "2012-02-27", SITES) == "dual"


def test_undocumented_site_uses_network_bounds():
    assert "KLBB" not in eras.DUAL_POL_UPGRADES
    assert eras.radar_capability("KLBB", "2011-02-13", SITES) == "single"
    assert eras.radar_capability("KLBB", "2012-06-01", SITES) == "unknown"
    assert eras.radar_capability("KLBB", "2014-01-01", SITES) == "dual"
    # a site with only an installation start: unknown until the network bound
    assert eras.radar_capability("KTBW", "2012-02-26", SITES) == "single"
    assert eras.radar_capability("KTBW", "2013-06-01", SITES) == "unknown"
    assert eras.radar_capability("KVNX", "2011-03-04", SITES) == "dual"


def test_unknown_site_is_a_clear_error_and_an_absent_source():
    with pytest.raises(eras.UnknownSiteError, match="KXYZ is not a WSR-88D"):
        eras.radar_capability("KXYZ", "2019-06-01", SITES)
    with pytest.raises(eras.UnknownSiteError, match="not a radar site id"):
        eras.radar_capability("Brisbane", "2019-06-01", SITES)
    p = plan("2019-06-01", sites=("KMLB", "kxyz"))
    assert p["ground_radar"]["KMLB"]["available"] is True
    assert p["ground_radar"]["KXYZ"]["available"] is False
    assert "not a WSR-88D" in p["ground_radar"]["KXYZ"]["reason"]


def test_before_1991_no_level2():
    assert eras.level2_format("1990-12-31") is None
    assert eras.level2_format("1991-01-01").message_type == 1
    p = plan("1990-06-01", sites=("KTLX",), platform=None)
    assert p["ground_radar"]["KTLX"] == {
        "available": False,
        "capability": "",
        "reason": "no WSR-88D Level II before 1991-01-01",
    }
    assert p["spaceborne"]["available"] is False
    assert "1997-12-01" in p["spaceborne"]["reason"]
    assert p["gauges"]["available"] is True


def test_every_documented_upgrade_is_ordered_and_sourced():
    for site, u in eras.DUAL_POL_UPGRADES.items():
        assert site == u.site and u.sources
        assert u.dual_not_before is not None or u.dual_from is not None
        if u.dual_not_before and u.dual_from:
            assert u.dual_not_before < u.dual_from
        for day in (u.dual_not_before, u.dual_from):
            if day is not None:
                assert eras.NETWORK_DUAL_NOT_BEFORE <= day < eras.NETWORK_DUAL_FROM


def test_default_site_table_is_pyarts():
    pytest.importorskip("pyart")
    assert eras.check_site("kmlb") == "KMLB"
    with pytest.raises(eras.UnknownSiteError):
        eras.check_site("KXYZ")
