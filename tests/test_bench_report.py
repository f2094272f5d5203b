"""The benchmark report: headline keys, targets, results.json and BENCHMARKS.md on tiny inputs.

No timing is asserted: the numbers below are made up inputs to the writer.
"""

from __future__ import annotations

import json

import pytest

from bench import _report
from bench.all import SECTIONS, _ingest_ratios, largest_volume, parse_only

REQUIRED = (
    "ingest_over_bz2_floor",
    "ingest_over_pyart_read",
    "radar_day_wall_s",
    "radar_year_projected_h",
    "peak_rss_gb",
    "celery_speedup_2_workers",
)

MACHINE = {
    "cpu": "Test CPU",
    "logical_cores": 2,
    "usable_cores": 2,
    "memory_gb": 8.0,
    "gpus": [],
    "os": "Linux",
    "python": "3.11",
    "versions": {"torch": "2.13.0"},
    "load_average_start": [0.1, 0.1, 0.1],
    "load_average_end": [0.2, 0.1, 0.1],
}


def _sections() -> dict:
    real = _ingest_ratios(
        {
            "volume": "KLBB20160601_150025_V06",
            "bz2_floor_s": 0.5,
            "pyart_read_s": 2.0,
            "pyart_grid_s": 6.0,
            "rainfuse_ingest_s": 1.0,
            "runs": 3,
            "grid_shape": [9, 301, 301],
            "grid_spacing_m": 1000.0,
        }
    )
    return {
        "ingest": {"status": "ok", "real": real, "simulated": _report.not_measured("absent")},
        "radar_day": {
            "status": "ok",
            "wall_s": 200.0,
            "cpu_s": 150.0,
            "peak_rss_gb": 1.5,
            "radar_year_projected_h": _report.project_radar_year_h(200.0, 150.0),
            "steps": [
                {"step": "ground_radar", "status": "SUCCESS", "seconds": 120.0, "share": 0.6}
            ],
        },
        "celery": {
            "status": "ok",
            "workers": {"1": {"wall_s": 300.0}, "2": {"wall_s": 160.0}},
        },
        "fusion": _report.not_measured("the fusion networks are not available"),
    }


def test_headline_has_required_keys_and_ratios() -> None:
    summary = _report.headline(_sections())
    assert set(REQUIRED) <= set(summary)
    assert summary["ingest_over_bz2_floor"] == pytest.approx(2.0)
    assert summary["ingest_over_pyart_read"] == pytest.approx(0.5)
    assert summary["ingest_over_bz2_floor_simulated"] is None
    assert summary["radar_day_wall_s"] == 200.0
    # two days at once on 2 cores, bounded by wall (> cpu): 365 * 200 / 2 s
    assert summary["radar_year_projected_h"] == pytest.approx(365 * 200 / 2 / 3600, abs=0.01)
    assert summary["celery_speedup_2_workers"] == pytest.approx(1.88, abs=0.01)
    assert summary["fusion_train_step_s"] is None


def test_projection_is_cpu_bound_when_a_day_uses_both_cores() -> None:
    assert _report.project_radar_year_h(100.0, 190.0) == pytest.approx(365 * 95 / 3600, abs=0.01)
    assert _report.project_radar_year_h(None, 10.0) is None


def test_failed_section_contributes_no_number() -> None:
    sections = _sections()
    sections["radar_day"] = {**sections["radar_day"], "status": "failed", "reason": "step failed"}
    summary = _report.headline(sections)
    assert summary["radar_day_wall_s"] is None
    assert summary["peak_rss_gb"] is None


def test_targets_met_and_unmeasured() -> None:
    rows = {r["key"]: r for r in _report.target_table(_report.headline(_sections()))}
    assert rows["ingest_over_bz2_floor"]["met"] is True
    assert rows["radar_day_wall_s"]["met"] is True
    assert rows["celery_speedup_2_workers"]["met"] is True
    assert rows["peak_rss_gb"]["met"] is True
    rows = {r["key"]: r for r in _report.target_table({"ingest_over_bz2_floor": 3.5})}
    assert rows["ingest_over_bz2_floor"]["met"] is False
    assert rows["radar_day_wall_s"]["met"] is None


def test_write_report_files(tmp_path) -> None:
    payload = _report.build_payload(
        _sections(), MACHINE, {"quick": True, "argv": ["--quick"]}, 12.3
    )
    md, js = tmp_path / "BENCHMARKS.md", tmp_path / "benchmarks" / "results.json"
    _report.write_report(payload, md, js)
    data = json.loads(js.read_text())
    assert data["schema"] == _report.SCHEMA_VERSION
    assert set(REQUIRED) <= set(data["summary"])
    assert data["machine"]["cpu"] == "Test CPU"
    assert data["machine_busy"] is False
    assert data["sections"]["fusion"]["status"] == "not_measured"
    text = md.read_text()
    assert "Test CPU" in text
    assert "| KLBB20160601_150025_V06 |" in text
    assert "ground_radar" in text
    assert "**Not measured (not_measured)**: the fusion networks are not available" in text
    assert "Speedup with 2 workers: **1.88x**" in text
    assert not list(tmp_path.rglob(".*.tmp"))


def test_busy_machine_is_labelled(tmp_path) -> None:
    busy = {**MACHINE, "load_average_start": [5.0, 4.0, 3.0]}
    payload = _report.build_payload({}, busy, {"argv": []}, 1.0)
    assert payload["machine_busy"] is True
    assert "machine was busy" in _report.render_markdown(payload)
    assert all(v is None for v in payload["summary"].values())
    # a high load at the end alone is the benchmark's own work, not another user
    own = {**MACHINE, "load_average_end": [1.9, 1.5, 1.3]}
    assert _report.build_payload({}, own, {"argv": []}, 1.0)["machine_busy"] is False


def test_md_table_formats_missing_values() -> None:
    table = _report.md_table(["a", "b"], [[None, 1234.5], [0.01234, True]])
    assert table.splitlines()[2] == "| n/a | 1,234 |"
    assert table.splitlines()[3] == "| 0.0123 | yes |"


def test_parse_only_and_largest_volume(tmp_path) -> None:
    assert parse_only(None) == list(SECTIONS)
    assert parse_only(["mlp,ingest"]) == ["ingest", "mlp"]
    with pytest.raises(SystemExit, match="unknown section"):
        parse_only(["nope"])
    folder = tmp_path / "nexrad" / "2009" / "05" / "20" / "KMLB"
    folder.mkdir(parents=True)
    (folder / "KMLB20090520_000000_V06").write_bytes(b"x" * 10)
    (folder / "KMLB20090520_000500_V06").write_bytes(b"x" * 20)
    assert largest_volume(tmp_path).name == "KMLB20090520_000500_V06"
    assert largest_volume(tmp_path / "empty") is None


def _gpu_result(part: str, cuda: bool = True) -> dict:
    """A result shaped like ``python -m bench.models`` writes (made-up numbers)."""
    rows = [
        {
            "model": "two_branch",
            "device": "cpu (16 threads)",
            "train_per_s": 1.0,
            "infer_per_s": 2.0,
        }
    ]
    if cuda:
        rows.append(
            {
                "model": "two_branch",
                "device": "cuda (Test GPU)",
                "train_per_s": 8.0,
                "infer_per_s": 210.0,
            }
        )
    return {
        "status": "ok",
        "part": part,
        "results": rows,
        "torch_threads": 16,
        "machine": {**MACHINE, "gpus": ["Test GPU, 80 GiB"], "usable_cores": 16},
        "measured_utc": "2026-11-26T05:12:07+00:00",
        "command": f"python -m bench.models --part {part}",
    }


def test_gpu_results_are_imported_as_their_own_section(tmp_path) -> None:
    from bench.all import read_gpu_result

    path = tmp_path / "fusion_gpu.json"
    path.write_text(json.dumps(_gpu_result("fusion")))
    name, section = read_gpu_result(path)
    assert name == "fusion_gpu" and section["source_file"] == str(path)
    assert _report.cuda_speedups(section) == [["two_branch", 8.0, 105.0]]
    payload = _report.build_payload({**_sections(), name: section}, MACHINE, {"argv": []}, 1.0)
    text = _report.render_markdown(payload)
    assert "## 6. On a CUDA GPU" in text
    assert "GPU Test GPU, 80 GiB" in text and "(16 torch threads of 16 cores)" in text
    assert "| two_branch | 8.00 | 105 |" in text
    # the headline stays this machine's: the GPU machine's figures do not leak into it
    assert payload["summary"]["fusion_infer_mpix_s"] is None


def test_gpu_import_refuses_results_without_cuda(tmp_path) -> None:
    from bench.all import read_gpu_result

    cpu_only = tmp_path / "cpu.json"
    cpu_only.write_text(json.dumps(_gpu_result("fusion", cuda=False)))
    with pytest.raises(SystemExit, match="no CUDA measurement"):
        read_gpu_result(cpu_only)
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"results": []}))
    with pytest.raises(SystemExit, match="not a result of"):
        read_gpu_result(other)
    with pytest.raises(SystemExit, match="cannot read GPU result"):
        read_gpu_result(tmp_path / "absent.json")


def test_import_alone_rerenders_without_measuring(tmp_path) -> None:
    from bench.all import main

    out = tmp_path / "out"
    first = _report.build_payload(_sections(), MACHINE, {"argv": ["--only", "ingest"]}, 42.0)
    _report.write_report(first, out / "BENCHMARKS.md", out / "benchmarks" / "results.json")
    gpu = tmp_path / "mlp_gpu.json"
    gpu.write_text(json.dumps(_gpu_result("mlp")))
    assert main(["--out-dir", str(out), "--import-gpu", str(gpu)]) == 0
    data = json.loads((out / "benchmarks" / "results.json").read_text())
    # the earlier run's header, machine and sections are kept; the GPU section is added
    assert data["date_utc"] == first["date_utc"] and data["machine"]["cpu"] == "Test CPU"
    assert data["total_wall_s"] == 42.0
    assert set(data["sections"]) == {*_sections(), "mlp_gpu"}
    assert "### MLP networks" in (out / "BENCHMARKS.md").read_text()
