"""Gauges: ARM real files, ISD/GHCN/plain CSV readers, flagging QC, hourly table, bad files."""

from __future__ import annotations

import pandas as pd
import pytest

from fusion_ops.gauges.ingest import ingest_gauge_day
from fusion_ops.gauges.qc import QCFlag, daily_totals, flag_accumulations, hourly_accumulations
from fusion_ops.readers.errors import UnreadableFileError
from fusion_ops.readers.gauges import (
    NATIVE_COLUMNS,
    read_arm_netcdf,
    read_ghcnd_csv,
    read_isd_csv,
    read_plain_csv,
)

DAY = "2025-06-19"
ARM_TOTALS = {"bnfM1": 19.30, "bnfS20": 14.73, "bnfS30": 10.67, "bnfS40": 13.97}


@pytest.fixture(scope="module")
def arm_files(shared_data):
    return sorted(str(p) for p in (shared_data / "gauges").iterdir())


@pytest.fixture(scope="module")
def arm_day(arm_files):
    return ingest_gauge_day(arm_files, DAY)


def test_arm_daily_totals_match_readme(arm_day):
    tot = daily_totals(arm_day.native).set_index("station_id")["total_mm"]
    for station, expected in ARM_TOTALS.items():
        assert tot[station] == pytest.approx(expected, abs=0.01)
    assert tot["bnfM1_pluvio2"] == pytest.approx(19.3, abs=0.1)
    hourly = arm_day.hourly.groupby("station_id")["precip_mm"].sum()
    assert hourly["bnfM1"] == pytest.approx(19.30, abs=0.01)
    assert not arm_day.quarantine


def test_arm_schema_and_metadata(arm_day):
    assert list(arm_day.native.columns) == [*NATIVE_COLUMNS, "qc_flags"]
    st = arm_day.stations.set_index("station_id")
    assert st.loc["bnfM1", "lat"] == pytest.approx(34.3425, abs=1e-3)
    assert st.loc["bnfS20", "lat"] == pytest.approx(34.6538, abs=1e-3)
    assert st.loc["bnfS30", "lon"] == pytest.approx(-86.9279, abs=1e-3)
    assert len(arm_day.hourly[arm_day.hourly.station_id == "bnfM1"]) == 24
    h = arm_day.hourly[arm_day.hourly.station_id == "bnfM1"]
    # the file ends at 23:59 (interval end), so the last hour lacks its final minute
    assert h["coverage"].iloc[:23].min() == pytest.approx(1.0)
    assert h["coverage"].iloc[23] == pytest.approx(59 / 60)
    # most of the rain fell 12-13 UTC
    wet = h.set_index("time_end")["precip_mm"]
    assert wet.idxmax().hour in (12, 13, 14)
    assert str(arm_day.native["time_end"].dtype) == "datetime64[ns, UTC]"


ISD = (
    "STATION,DATE,SOURCE,LATITUDE,LONGITUDE,ELEVATION,NAME,REPORT_TYPE,AA1\n"
    '72267023042,2016-06-01T14:53:00,7,33.666,-101.823,992.1,"LUBBOCK, TX",FM-15,"01,0005,9,5"\n'
    '72267023042,2016-06-01T15:53:00,7,33.666,-101.823,992.1,"LUBBOCK, TX",FM-15,"01,0123,9,5"\n'
    '72267023042,2016-06-01T16:53:00,7,33.666,-101.823,992.1,"LUBBOCK, TX",FM-15,"01,9999,9,9"\n'
    '72267023042,2016-06-01T17:53:00,7,33.666,-101.823,992.1,"LUBBOCK, TX",FM-15,"01,0020,9,3"\n'
    '72267023042,2016-06-01T18:10:00,7,33.666,-101.823,992.1,"LUBBOCK, TX",FM-16,\n'
)


def test_isd_aa1(tmp_path):
    p = tmp_path / "72267023042.csv"
    p.write_text(ISD)
    df = read_isd_csv(str(p))
    assert len(df) == 4
    assert df["precip_mm"].iloc[:2].tolist() == [0.5, 12.3]
    assert pd.isna(df["precip_mm"].iloc[2])
    assert df["period_s"].unique().tolist() == [3600]
    assert df["source_quality"].tolist() == [0, 0, 0, 1]  # quality 3 = erroneous
    assert df["station_id"].iloc[0] == "72267023042"
    assert df["time_start"].iloc[1] == pd.Timestamp("2016-06-01T14:53Z")


def test_ghcnd_both_layouts(tmp_path):
    access = tmp_path / "USW00023042.csv"
    access.write_text(
        "STATION,DATE,LATITUDE,LONGITUDE,ELEVATION,NAME,PRCP,PRCP_ATTRIBUTES\n"
        'USW00023042,2016-06-01,33.6656,-101.8231,993.6,"LUBBOCK, TX US",152,",,W,2400"\n'
        'USW00023042,2016-06-02,33.6656,-101.8231,993.6,"LUBBOCK, TX US",0,",X,W,2400"\n'
    )
    a = read_ghcnd_csv(str(access))
    assert a["precip_mm"].tolist() == [15.2, 0.0]
    assert a["period_s"].tolist() == [86400, 86400]
    assert a["source_quality"].tolist() == [0, 1]
    assert a["lat"].iloc[0] == pytest.approx(33.6656)
    byyear = tmp_path / "ghcnd_2016.csv"
    byyear.write_text(
        "USW00023042,20160601,PRCP,152,,,W,2400\nUSW00023042,20160601,TMAX,300,,,W,2400\n"
    )
    stations = pd.DataFrame({"station_id": ["USW00023042"], "lat": [33.6656], "lon": [-101.82]})
    b = read_ghcnd_csv(str(byyear), stations=stations)
    assert len(b) == 1 and b["precip_mm"].iloc[0] == 15.2 and b["lon"].iloc[0] == -101.82


def test_plain_csv_and_qc_flags(tmp_path):
    p = tmp_path / "network.csv"
    rows = ["station_id,time,precip_mm,lat,lon,period_minutes"]
    t0 = pd.Timestamp("2016-06-01T00:00Z")
    vals = [0.0, 0.2, -1.0, 0.3, 80.0, 0.1, 0.0, 900.0] + [2.0] * 8 + [0.0] * 8
    for i, v in enumerate(vals):
        rows.append(f"A,{(t0 + pd.Timedelta(hours=i + 1)).isoformat()},{v},33.7,-101.8,60")
    rows.append(f"A,{(t0 + pd.Timedelta(hours=3)).isoformat()},0.4,33.7,-101.8,60")  # dup+order
    rows.append(f"B,{(t0 + pd.Timedelta(hours=1)).isoformat()},,33.9,-101.5,60")
    p.write_text("\n".join(rows) + "\n")
    df = flag_accumulations(read_plain_csv(str(p)))
    a = df[df.station_id == "A"].reset_index(drop=True)
    flag = a["qc_flags"].to_numpy()
    assert flag[2] & QCFlag.NEGATIVE
    assert flag[4] & QCFlag.SPIKE and not flag[4] & QCFlag.RANGE
    assert flag[7] & QCFlag.RANGE
    assert all((flag[8:16] & QCFlag.STUCK) > 0) and not flag[16] & QCFlag.STUCK
    assert flag[24] & QCFlag.DUPLICATE and flag[24] & QCFlag.ORDER
    assert df[df.station_id == "B"]["qc_flags"].iloc[0] & QCFlag.MISSING
    assert len(df) == len(vals) + 2  # flagged, never dropped
    hourly = hourly_accumulations(df)
    h = hourly[hourly.station_id == "A"].set_index("time_end")["precip_mm"]
    assert h[t0 + pd.Timedelta(hours=2)] == 0.2
    assert pd.isna(h[t0 + pd.Timedelta(hours=3)])  # negative report and its duplicate excluded
    assert pd.isna(h[t0 + pd.Timedelta(hours=8)])  # 900 mm in an hour is out of range
    assert h[t0 + pd.Timedelta(hours=5)] == 80.0  # a spike is flagged, not removed


@pytest.fixture(scope="module")
def bad_gauge_files(tmp_path_factory, shared_data):
    d = tmp_path_factory.mktemp("badgauges")
    arm = (shared_data / "gauges" / "bnfmetS20.b1.20250619.000000.cdf").read_bytes()
    out = {}
    out["arm_truncated"] = d / "bnfmetS20.b1.truncated.cdf"
    out["arm_truncated"].write_bytes(arm[: len(arm) // 2])
    out["arm_corrupt"] = d / "bnfmetS20.b1.corrupt.cdf"
    out["arm_corrupt"].write_bytes(b"\x13\x37" * 2000 + arm[4000:])
    out["isd_truncated"] = d / "72267023042.csv"
    out["isd_truncated"].write_text(ISD[:-25])
    out["csv_empty"] = d / "empty.csv"
    out["csv_empty"].write_text("")
    out["csv_wrong"] = d / "wrong.csv"
    out["csv_wrong"].write_bytes(arm[:3000])
    ghcn = (
        "STATION,DATE,LATITUDE,LONGITUDE,ELEVATION,NAME,PRCP,PRCP_ATTRIBUTES\n"
        'USW00023042,2016-06-01,33.6656,-101.8231,993.6,"LUBBOCK, TX US",152,",,W,2400"\n'
    )
    out["ghcnd_truncated"] = d / "USW00023042.csv"
    out["ghcnd_truncated"].write_text(ghcn[:-30])
    out["ghcnd_corrupt"] = d / "USW00023043.csv"
    out["ghcnd_corrupt"].write_text(ghcn.replace("2016-06-01", "2016-13-45"))
    out["csv_truncated"] = d / "net.csv"
    out["csv_truncated"].write_text("station_id,time,precip_mm,lat,lon\nA,2016-06-01T01:00Z,0.")
    out["isd_corrupt"] = d / "72267023043.csv"
    out["isd_corrupt"].write_text(ISD.replace("2016-06-01T15:53:00", "yesterday"))
    return {k: str(v) for k, v in out.items()}


@pytest.mark.parametrize(
    ("key", "reader", "reason"),
    [
        ("arm_truncated", read_arm_netcdf, ""),
        ("arm_corrupt", read_arm_netcdf, "netCDF"),
        ("isd_truncated", read_isd_csv, "truncated"),
        ("csv_empty", read_plain_csv, "empty"),
        ("csv_wrong", read_plain_csv, ""),
        ("csv_truncated", read_plain_csv, "truncated"),
        ("ghcnd_truncated", read_ghcnd_csv, "truncated"),
        ("ghcnd_corrupt", read_ghcnd_csv, ""),
        ("isd_corrupt", read_isd_csv, "bad time"),
    ],
)
def test_bad_gauge_file_raises_named_error(bad_gauge_files, key, reader, reason):
    with pytest.raises(UnreadableFileError) as err:
        reader(bad_gauge_files[key])
    assert err.value.file == bad_gauge_files[key]
    assert reason in err.value.reason


def test_day_with_bad_gauge_files_still_ingests(bad_gauge_files, arm_files):
    files = [*arm_files, bad_gauge_files["arm_truncated"], bad_gauge_files["arm_corrupt"]]
    files.append((bad_gauge_files["isd_truncated"], "isd"))
    day = ingest_gauge_day(files, DAY)
    assert {q.file for q in day.quarantine} == {
        bad_gauge_files["arm_truncated"],
        bad_gauge_files["arm_corrupt"],
        bad_gauge_files["isd_truncated"],
    }
    assert {q.reader for q in day.quarantine} == {"arm_netcdf", "isd_csv"}
    tot = daily_totals(day.native).set_index("station_id")["total_mm"]
    assert tot["bnfS30"] == pytest.approx(10.67, abs=0.01)


def test_missing_source_gives_empty_tables():
    day = ingest_gauge_day([], DAY)
    assert day.native.empty and day.hourly.empty and not day.quarantine
    assert "precip_mm" in day.hourly.columns and "qc_flags" in day.native.columns
