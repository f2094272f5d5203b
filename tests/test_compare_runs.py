"""tools/compare_runs.py: equal runs pass, a changed value or a missing file is named."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

SCRIPT = Path(__file__).resolve().parents[1] / "tools" / "compare_runs.py"


@pytest.fixture(scope="module")
def compare_runs():
    spec = importlib.util.spec_from_file_location("compare_runs", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(root: Path, rain: float, wall_s: float, created: str) -> Path:
    (root / "storage" / "gauges").mkdir(parents=True)
    (root / "products" / "2009").mkdir(parents=True)
    field = np.array([[0.0, rain], [np.nan, 2.0]])
    ds = xr.Dataset({"rain_mm": (("y", "x"), field)}, attrs={"date_created": created})
    ds.to_netcdf(root / "products" / "2009" / "daily.nc")
    pd.DataFrame({"station": ["a", "b"], "mm": [1.0, rain]}).to_parquet(
        root / "storage" / "gauges" / "2009-05-20.parquet"
    )
    record = {"rmse": rain, "wall_s": wall_s}
    (root / "storage" / "gauges" / "record.json").write_text(json.dumps(record))
    return root


def test_equal_runs_pass_despite_run_records(tmp_path, compare_runs, capsys) -> None:
    a = _run(tmp_path / "a", 1.5, 10.0, "2026-12-06T01:00")
    b = _run(tmp_path / "b", 1.5, 12.5, "2026-12-06T02:00")
    assert compare_runs.main([str(a), str(b)]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["files"] == 3 and summary["identical"] == 3
    assert summary["run_records"] == 1  # the wall time
    assert summary["attrs_only"] == ["products/2009/daily.nc"]  # the creation date


def test_a_changed_value_is_named(tmp_path, compare_runs, capsys) -> None:
    a = _run(tmp_path / "a", 1.5, 10.0, "x")
    b = _run(tmp_path / "b", 1.5 + 1e-12, 10.0, "x")
    assert compare_runs.main([str(a), str(b)]) == 1
    out = capsys.readouterr().out
    summary = json.loads(out.strip().splitlines()[-1])
    assert sorted(summary["differ"]) == [
        "products/2009/daily.nc",
        "storage/gauges/2009-05-20.parquet",
        "storage/gauges/record.json",
    ]
    assert "variable rain_mm differs" in out


def test_a_missing_file_and_a_changed_table_fail(tmp_path, compare_runs, capsys) -> None:
    a = _run(tmp_path / "a", 1.5, 10.0, "x")
    b = _run(tmp_path / "b", 1.5, 10.0, "x")
    (b / "storage" / "gauges" / "record.json").unlink()
    log_a, log_b = tmp_path / "a.log", tmp_path / "b.log"
    log_a.write_text("[demo] start\n== Scores ==\nfused 1.050\ndemo finished in 3.0 min: ok\n")
    log_b.write_text("[demo] start\n== Scores ==\nfused 1.051\ndemo finished in 4.0 min: ok\n")
    code = compare_runs.main(
        [str(a), str(b), "--log-before", str(log_a), "--log-after", str(log_b)]
    )
    assert code == 1
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["only_before"] == ["storage/gauges/record.json"]
    assert summary["tables_identical"] is False and summary["table_lines"] == 2


def test_coordinate_rounding_and_run_folders_are_listed_apart(tmp_path, compare_runs, capsys):
    """Coordinates moved by rounding, and file names inside each run's own folder, are not
    differences of the data; a data variable that moves is one."""

    def run(name: str, lat0: float, value: float) -> Path:
        root = tmp_path / name / "data"
        (root / "storage" / "grid").mkdir(parents=True)
        lat = lat0 + np.arange(3) * 0.1
        ds = xr.Dataset({"rain": (("lat",), np.array([1.0, value, 3.0]))}, coords={"lat": lat})
        ds.to_netcdf(root / "storage" / "grid" / "day.nc")
        table = pd.DataFrame({"url": [f"{root}/archive/a.bz2"], "lat": [lat0]})
        table.to_parquet(root / "storage" / "grid" / "inventory.parquet")
        return root

    a, b = run("a", 27.0, 2.0), run("b", 27.0 + 1e-14, 2.0)
    assert compare_runs.main([str(a), str(b)]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert sorted(summary["coords_only"]) == [
        "storage/grid/day.nc",
        "storage/grid/inventory.parquet",
    ]
    c = run("c", 27.0, 2.5)
    assert compare_runs.main([str(a), str(c)]) == 1
    out = capsys.readouterr().out
    assert "variable rain differs (max abs difference 0.5)" in out
