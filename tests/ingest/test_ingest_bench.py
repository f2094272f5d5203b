"""``rainfuse bench ingest`` on a small grid: the last line is one JSON object with the keys."""

from __future__ import annotations

import pytest
from bench_cli import run_bench_json

from bench.ingest import bz2_floor, main

KEYS = {
    "bz2_floor_s",
    "pyart_read_s",
    "pyart_grid_s",
    "rainfuse_ingest_s",
    "grid_speedup",
    "grid_agreement_dbz",
}


@pytest.mark.slow  # two Py-ART reads and a Py-ART gridding of the full volume: ~15-40 s
def test_bench_ingest_json(shared_data, capsys):
    volume = str(shared_data / "radar" / "KLBB20160601_150025_V06")
    argv = ["--volume", volume, "--runs", "1", "--spacing-m", "2000"]
    out = run_bench_json(main, [*argv, "--half-width-m", "40000", "--top-m", "4000"], capsys)
    assert set(out) >= KEYS
    assert out["grid_shape"] == [3, 41, 41]
    assert all(out[k] > 0 for k in KEYS - {"grid_agreement_dbz"})
    # same data through both gridders: close, not identical (box mean vs Barnes weights)
    assert 0.0 < out["grid_agreement_dbz"] < 3.0
    assert out["bz2_floor_s"] < out["pyart_read_s"]


def test_bench_missing_file(tmp_path):
    assert main(["--volume", str(tmp_path / "nope")]) == 2


def test_bz2_floor_decompresses_every_record(shared_data):
    assert 0.0 < bz2_floor(str(shared_data / "radar" / "KLBB20160601_150025_V06")) < 10.0
