"""The plan of a partition: the era table asked with the configured sites and platform."""

import pytest

from orchestration.runtime.config import parse_config
from orchestration.runtime.sources import (
    partition_sources,
    planned,
    satellite_archive_url,
    satellite_plan,
)


@pytest.mark.parametrize(
    ("configured", "day", "platform"),
    [
        ("auto", "2017-03-01", "G16"),  # GOES-16 checkout at 89.5 W
        ("auto", "2021-05-20", "G16"),
        ("auto", "2025-04-07", "G19"),  # the GOES-East handover
        ("G16", "2021-05-20", "G16"),
        ("g17", "2020-01-01", "G17"),
    ],
)
def test_satellite_planned_on_the_platform_of_the_day(configured, day, platform):
    entry = satellite_plan(configured, day)
    assert entry["available"] and entry["platform"] == platform and entry["reason"] == ""
    assert entry["bucket"] == f"noaa-goes{platform[1:]}"


@pytest.mark.parametrize(
    ("configured", "day", "reason"),
    [
        ("auto", "2009-05-20", "no GOES-R ABI before 2017-02-28"),
        ("auto", "2016-12-31", "no GOES-R ABI before 2017-02-28"),
        ("G16", "2025-06-01", "GOES-East that day is G19 (noaa-goes19)"),
        ("G17", "2023-06-01", "GOES-West that day is G18"),
    ],
)
def test_satellite_absent_with_the_reason(configured, day, reason):
    entry = satellite_plan(configured, day)
    assert not entry["available"] and entry["platform"] == ""
    assert reason in entry["reason"]


def test_partition_plan_of_both_eras(tmp_path):
    config = parse_config({"sources": {"ground_radar": {"url": "x", "sites": ["KMLB"]}}}, tmp_path)
    old = partition_sources("2009-05-20", config)
    assert old["ground_radar"]["KMLB"]["capability"] == "single"
    assert old["ground_radar"]["KMLB"]["key_suffixes"] == [".gz"]
    assert old["spaceborne"]["radars"] == ["TRMM-PR"]
    assert planned(old, "satellite")[0] is False
    assert planned(old, "ground_radar") == (True, "")
    new = partition_sources("2021-05-20", config)
    assert new["ground_radar"]["KMLB"]["capability"] == "dual"
    assert new["spaceborne"]["radars"] == ["GPM-DPR"]
    assert planned(new, "satellite") == (True, "")
    assert new["satellite"]["platform"] == "G16"
    # a 2005 day: message 1
    assert partition_sources("2005-06-01", config)["ground_radar"]["KMLB"]["message_types"] == [1]


def test_unknown_site_is_absent_with_the_reason(tmp_path):
    config = parse_config({"sources": {"ground_radar": {"url": "x", "sites": ["KXXX"]}}}, tmp_path)
    ok, reason = planned(partition_sources("2021-05-20", config), "ground_radar")
    assert not ok and "KXXX" in reason and "NEXRAD site table" in reason


@pytest.mark.parametrize(
    ("url", "day", "expected"),
    [
        ("s3://noaa-goes16", "2025-06-01", "s3://noaa-goes19"),
        ("s3://noaa-goes16/ABI-L1b-RadC", "2025-06-01", "s3://noaa-goes19/ABI-L1b-RadC"),
        ("s3://noaa-goes19", "2021-05-20", "s3://noaa-goes16"),
        ("s3://noaa-goes16", "2021-05-20", "s3://noaa-goes16"),
        ("s3://my-mirror/goes", "2025-06-01", "s3://my-mirror/goes"),  # holds every platform
        ("/data/archive/goes", "2025-06-01", "/data/archive/goes"),
        ("s3://noaa-goes160", "2025-06-01", "s3://noaa-goes160"),  # not a NOAA GOES bucket
    ],
)
def test_noaa_bucket_follows_the_platform_of_the_day(url, day, expected):
    assert satellite_archive_url(url, satellite_plan("auto", day)["bucket"]) == expected


def test_models_without_their_source_that_day(tmp_path):
    from orchestration.runtime.sources import models_not_planned

    config = parse_config({}, tmp_path)
    assert models_not_planned("2009-05-20", config) == {
        "mlp3": "no GOES-R ABI before 2017-02-28 (platform: auto = GOES-East)"
    }
    assert models_not_planned("2021-05-20", config) == {}
    assert set(models_not_planned("1996-06-01", config)) == {"mlp2", "mlp3"}  # before TRMM
