"""``rainfuse inspect PATH``: kind detected from content, summary JSON last line, exit 2 on garbage."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from fusion_ops.readers.errors import UnreadableFileError
from fusion_ops.readers.inspect import inspect_file
from orchestration.commands.inspect import main, storage_options_for

RAINFUSE = Path(sys.executable).with_name("rainfuse")
KLBB = "radar/KLBB20160601_150025_V06"
ODIM = "radar/IDR66_20141206_094829.vol.h5"
GPM_V05 = (
    "spaceborne/2A-CS-151E24S154E30S.GPM.Ku.V7-20170308.20141206-S095002-E095137.004383.V05A.HDF5"
)
ABI = "satellite/OR_ABI-L1b-RadM1-M6C{band}_G17_s20193351027275_e{end}_c{made}.nc"
C13 = ABI.format(band="13", end="20193351027344", made="20193351027405")
C01 = ABI.format(band="01", end="20193351027332", made="20193351027383")
MET_M1 = "gauges/bnfmetM1.b1.20250619.000000.cdf"
COMMON = {"kind", "format", "site", "lat", "lon", "start_time"}


def _cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    assert RAINFUSE.exists(), f"the rainfuse entry point is not installed at {RAINFUSE}"
    environ = {**os.environ, "PYART_QUIET": "1", **(env or {})}
    return subprocess.run(
        [str(RAINFUSE), "inspect", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=environ,
    )


def _last_json(stdout: str) -> dict:
    return json.loads(stdout.strip().splitlines()[-1])


def test_klbb_level2_through_the_command(shared_data):
    done = _cli(str(shared_data / KLBB))
    assert done.returncode == 0, done.stderr
    summary = _last_json(done.stdout)
    assert summary.keys() >= COMMON
    assert summary["kind"] == "radar" and summary["format"].startswith("nexrad_level2")
    assert summary["site"] == "KLBB"
    assert summary["lat"] == pytest.approx(33.654, abs=1e-3)
    assert summary["lon"] == pytest.approx(-101.814, abs=1e-3)
    assert summary["start_time"] == "2016-06-01T15:00:25Z"
    assert summary["n_sweeps"] == 11
    assert summary["max_dbz"] == pytest.approx(71.5, abs=0.1)
    assert summary["capability"] == "dual"
    assert {"reflectivity", "differential_reflectivity", "velocity"} <= set(summary["moments"])
    assert "sweep 10" in done.stdout  # the per-sweep lines come before the JSON


def test_odim_volume(shared_data):
    summary = inspect_file(str(shared_data / ODIM)).summary
    assert summary["kind"] == "radar" and summary["format"] == "odim_h5"
    assert summary["n_sweeps"] == 14
    assert summary["lat"] == pytest.approx(-27.718, abs=1e-3)
    assert summary["lon"] == pytest.approx(153.240, abs=1e-3)
    assert summary["capability"] == "single"  # DBZH only: no differential_reflectivity
    assert summary["moments"] == ["reflectivity"]


def test_gpm_v05_ku(shared_data):
    summary = inspect_file(str(shared_data / GPM_V05)).summary
    assert summary["kind"] == "spaceborne"
    assert summary["site"] == "GPM" and summary["instrument"] == "Ku"
    assert (summary["n_scans"], summary["n_rays"]) == (136, 49)
    assert summary["n_bins"] == 176 and summary["bin_m"] == pytest.approx(125.0)
    assert summary["start_time"].startswith("2014-12-06T09:50")
    assert -31 < summary["lat"] < -24 and 150 < summary["lon"] < 156  # over Brisbane
    assert 30 < summary["max_dbz"] < 70


@pytest.mark.parametrize(
    ("name", "band", "units", "low", "high"),
    [(C13, "C13", "K", (216.5, 217.5), (286.0, 287.0)), (C01, "C01", "%", (-5, 5), (0, 100))],
)
def test_abi_band(shared_data, name, band, units, low, high):
    summary = inspect_file(str(shared_data / name)).summary
    assert summary["kind"] == "satellite" and summary["band"] == band
    assert summary["site"] == "G17" and summary["units"] == units
    assert low[0] <= summary["min"] <= low[1] and high[0] <= summary["max"] <= high[1]
    assert summary["start_time"] == "2019-12-01T10:27:27Z"


def test_arm_met_gauge(shared_data, capsys):
    # in process through the command's main: the same lines and JSON as the console script
    assert main([str(shared_data / MET_M1)]) == 0
    out = capsys.readouterr().out
    summary = _last_json(out)
    assert summary["kind"] == "gauge" and summary["site"] == "bnfM1"
    assert summary["totals_mm"]["bnfM1"] == pytest.approx(19.30, abs=0.01)
    assert summary["lat"] == pytest.approx(34.3425, abs=1e-3)
    assert "bnfM1:" in out


def test_kind_comes_from_content_not_name(shared_data, tmp_path):
    disguised = tmp_path / "notes.txt"
    shutil.copyfile(shared_data / MET_M1, disguised)
    assert inspect_file(str(disguised)).summary["kind"] == "gauge"
    radar = tmp_path / "gauge.cdf"
    shutil.copyfile(shared_data / ODIM, radar)
    assert inspect_file(str(radar)).summary["kind"] == "radar"


def test_garbage_exits_2_with_one_line(tmp_path):
    garbage = tmp_path / "KLBB20160601_150025_V06"  # a radar name on garbage bytes
    garbage.write_bytes(b"\x13\x37not a radar volume\n" * 50)
    done = _cli(str(garbage))
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and str(garbage) in lines[0] and "unknown format" in lines[0]


def test_truncated_and_missing_files_name_the_file(shared_data, tmp_path):
    cut = tmp_path / "cut.h5"
    cut.write_bytes((shared_data / ODIM).read_bytes()[:5000])
    with pytest.raises(UnreadableFileError) as info:
        inspect_file(str(cut))
    assert str(cut) in str(info.value)
    missing = tmp_path / "absent.nc"
    assert main([str(missing)]) == 2


def test_storage_options_from_flags_and_environment(monkeypatch):
    monkeypatch.delenv("RAINFUSE_STORAGE_OPTIONS", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    opts = storage_options_for("s3://b/k", anon=True)
    assert opts == {"client_kwargs": {"endpoint_url": "http://127.0.0.1:9"}, "anon": True}
    opts = storage_options_for("s3://b/k", endpoint_url="http://h:1")
    assert opts["client_kwargs"]["endpoint_url"] == "http://h:1"
    monkeypatch.setenv("RAINFUSE_STORAGE_OPTIONS", '{"anon": true}')
    assert storage_options_for("/local/file") == {"anon": True}


@pytest.mark.integration
def test_read_from_s3_through_the_command(s3_server, s3_bucket, shared_data):
    import s3fs

    endpoint, _ = s3_server
    bucket, opts = s3_bucket
    s3fs.S3FileSystem(**opts).put_file(str(shared_data / MET_M1), f"{bucket}/gauges/met.cdf")
    env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    done = _cli(f"s3://{bucket}/gauges/met.cdf", "--endpoint-url", endpoint, env=env)
    assert done.returncode == 0, done.stderr
    summary = _last_json(done.stdout)
    assert summary["kind"] == "gauge"
    assert summary["totals_mm"]["bnfM1"] == pytest.approx(19.30, abs=0.01)
    missing = _cli(f"s3://{bucket}/gauges/absent.cdf", "--endpoint-url", endpoint, env=env)
    assert missing.returncode == 2 and f"s3://{bucket}/gauges/absent.cdf" in missing.stderr
