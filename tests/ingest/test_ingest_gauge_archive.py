"""A day of gauge files from an archive: the ISD station filter, the domain, station tables."""

from __future__ import annotations

import datetime as dt
import gzip

import numpy as np
import pandas as pd
import pytest

from fusion_ops.gauges.archive import (
    gauge_day_figures,
    gauge_day_files,
    gauge_day_in_domain,
    gauge_stations,
    hourly_figures,
    isd_station_ids_in_bbox,
    qc_flag_counts,
    station_daily_totals,
)
from fusion_ops.gauges.qc import QCFlag

DAY = dt.date(2016, 6, 1)
#: (lat_min_deg, lat_max_deg, lon_min_deg, lon_max_deg)
BBOX = (33.0, 34.0, -102.0, -101.0)

HISTORY = pd.DataFrame(
    {
        "USAF": ["722670", "722650", "911110", "722660", "722680"],
        "WBAN": ["23042", "03031", "99999", "00001", "12345"],
        "LAT": ["+33.666", "33.0", "33.5", "33.9", "n/a"],
        "LON": ["-101.823", "-101.0", "-150.0", "-101.5", "-101.5"],
    }
)


def _plain_rows(stations: list[tuple[str, float, float]], depth_mm: float = 0.5) -> str:
    rows = ["station_id,time,precip_mm,lat,lon,period_minutes"]
    for sid, lat, lon in stations:
        for h in range(1, 25):
            t = pd.Timestamp(DAY, tz="UTC") + pd.Timedelta(hours=h)
            rows.append(f"{sid},{t.isoformat()},{depth_mm if h == 15 else 0.0},{lat},{lon},60")
    return "\n".join(rows) + "\n"


@pytest.fixture()
def archive(tmp_path):
    """ISD files of five stations (three in the domain), a station list, two per-day files."""
    year = tmp_path / "2016"
    year.mkdir()
    for usaf, wban in zip(HISTORY["USAF"], HISTORY["WBAN"], strict=True):
        (year / f"{usaf}{wban}.csv").write_text("not read by the listing\n")
    with gzip.open(year / "72265003031.csv.gz", "wt") as fh:
        fh.write("gzipped ISD\n")
    day = tmp_path / "2016" / "06" / "01"
    day.mkdir(parents=True)
    (day / "b_network.csv").write_text(_plain_rows([("IN1", 33.5, -101.5)]))
    (day / "a_network.csv").write_text(
        _plain_rows([("IN2", 33.0, -102.0), ("OUT1", 34.5, -101.5), ("OUT2", 33.5, -100.0)])
    )
    return tmp_path


def test_isd_station_filter_keeps_only_stations_in_the_bbox():
    # bounds included; unparsable positions and stations far away are out
    assert isd_station_ids_in_bbox(HISTORY, BBOX) == {"72267023042", "72265003031", "72266000001"}
    assert isd_station_ids_in_bbox(HISTORY, (0.0, 1.0, 0.0, 1.0)) == set()


def test_isd_station_filter_needs_its_columns():
    with pytest.raises(KeyError):
        isd_station_ids_in_bbox(HISTORY.drop(columns="WBAN"), BBOX)


def test_day_files_with_station_list(archive):
    HISTORY.to_csv(archive / "isd-history.csv", index=False)
    files = gauge_day_files(str(archive), DAY, BBOX)
    names = [f.rsplit("/", 1)[-1] for f in files]
    # ISD .csv sorted, then .csv.gz, then the day's files sorted; stations outside dropped
    assert names == [
        "72265003031.csv",
        "72266000001.csv",
        "72267023042.csv",
        "72265003031.csv.gz",
        "a_network.csv",
        "b_network.csv",
    ]
    assert all(f.startswith(f"{archive}/2016/") for f in files)


def test_day_files_without_or_with_a_bad_station_list(archive):
    every_isd = sorted(f"{u}{w}.csv" for u, w in zip(HISTORY["USAF"], HISTORY["WBAN"], strict=True))
    expected = [*every_isd, "72265003031.csv.gz", "a_network.csv", "b_network.csv"]
    names = [f.rsplit("/", 1)[-1] for f in gauge_day_files(f"{archive}/", DAY, BBOX)]
    assert names == expected
    # a station list without the needed columns only costs speed: every ISD file is read
    (archive / "isd-history.csv").write_text("STATION,NAME\n1,x\n")
    names = [f.rsplit("/", 1)[-1] for f in gauge_day_files(str(archive), DAY, BBOX, {})]
    assert names == expected


def test_day_files_of_a_day_without_files(tmp_path):
    assert gauge_day_files(str(tmp_path), DAY, BBOX) == []


def test_gauge_day_in_domain_keeps_reports_inside(archive):
    for isd in (archive / "2016").glob("*.csv*"):
        isd.unlink()  # the per-day plain CSVs only
    day = gauge_day_in_domain(str(archive), DAY, BBOX)
    assert [f.rsplit("/", 1)[-1] for f in day.files] == ["a_network.csv", "b_network.csv"]
    assert set(day.native["station_id"]) == {"IN1", "IN2"}  # IN2 on the bbox corner: kept
    assert day.reports_outside == 2 * 24
    assert len(day.native) == 2 * 24 and list(day.native.index) == list(range(48))
    assert len(day.gauge_day.native) == 4 * 24 and not day.gauge_day.quarantine


def test_station_tables(archive):
    for isd in (archive / "2016").glob("*.csv*"):
        isd.unlink()
    native = gauge_day_in_domain(str(archive), DAY, BBOX).native
    stations = gauge_stations(native)
    assert list(stations.columns) == ["station_id", "lat", "lon"]
    assert stations.to_dict("list") == {
        "station_id": ["IN1", "IN2"],
        "lat": [33.5, 33.0],
        "lon": [-101.5, -102.0],
    }
    totals = station_daily_totals(native)
    assert totals.set_index("station_id")["total_mm"].to_dict() == {"IN1": 0.5, "IN2": 0.5}
    assert {"network", "lat", "lon"} <= set(totals.columns)


def test_qc_flag_counts():
    native = pd.DataFrame(
        {"qc_flags": [0, int(QCFlag.MISSING), int(QCFlag.MISSING | QCFlag.SPIKE), 0]}
    )
    counts = qc_flag_counts(native)
    assert list(counts) == [f.name.lower() for f in QCFlag]
    assert counts["missing"] == 2 and counts["spike"] == 1
    assert sum(counts.values()) == 3


def test_gauge_day_figures(archive):
    for isd in (archive / "2016").glob("*.csv*"):
        isd.unlink()
    day = gauge_day_in_domain(str(archive), DAY, BBOX)
    figures = gauge_day_figures(day, station_daily_totals(day.native))
    assert figures == {
        "files": 2,
        "stations": 2,
        "reports": 48,
        "reports_outside_domain": 48,
        "flagged_reports": 0,
        "flags": qc_flag_counts(day.native),
        "networks": ["csv"],
        "domain_mean_total_mm": 0.5,
    }
    assert all(type(figures[k]) is int for k in ("files", "stations", "reports", "flagged_reports"))
    empty = gauge_day_figures(day, station_daily_totals(day.native).iloc[:0])
    assert np.isnan(empty["domain_mean_total_mm"])


def test_hourly_figures():
    hourly = pd.DataFrame({"station_id": ["A", "A", "B"], "coverage": [1.0, 0.5, 0.99]})
    figures = hourly_figures(hourly)
    assert figures == {"station_hours": 3, "stations": 2, "complete_hours": 2}
    assert all(type(v) is int for v in figures.values())
