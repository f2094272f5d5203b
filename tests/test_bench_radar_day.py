"""Radar-day benchmark plumbing on tiny inputs: its configuration, step breakdown, memory sampler.

No timing is asserted.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from types import SimpleNamespace

import pytest

from bench import radar_day
from orchestration.runtime.config import load_config


def test_bench_config_points_at_the_archive(tmp_path) -> None:
    archive, work = tmp_path / "archive", tmp_path / "work"
    path = radar_day.write_bench_config(archive, work, dt.date(2009, 5, 20))
    config = load_config(path)
    assert config.sources.ground_radar.url == str(archive / "nexrad")
    assert config.sources.satellite.url == str(archive / "goes")
    assert config.storage.url == str(work / "storage")
    assert config.product_store.url == str(work / "products")
    assert config.partitions.start_date == dt.date(2009, 5, 20)
    assert config.compute.device == "cpu"
    assert config.sources.ground_radar.sites == ["KMLB"]


def test_cached_archive_is_reused(tmp_path) -> None:
    day = dt.date(2009, 5, 20)
    manifest = radar_day.manifest_path(tmp_path, day)
    manifest.parent.mkdir(parents=True)
    manifest.write_text(json.dumps({"counts": {"nexrad_level2": 3}}))
    info = radar_day.ensure_archive(day, 5.0, root=tmp_path)
    assert info == {
        "root": str(tmp_path),
        "simulate_s": None,
        "cached": True,
        "counts": {"nexrad_level2": 3},
    }
    fingerprint = radar_day.simulator_fingerprint()
    assert len(fingerprint) == 10 and fingerprint == radar_day.simulator_fingerprint()


def test_step_breakdown_sorted_with_shares() -> None:
    status = SimpleNamespace(value="SUCCESS")
    stats = [
        SimpleNamespace(step_key="gauges", status=status, start_time=10.0, end_time=12.0),
        SimpleNamespace(step_key="ground_radar", status=status, start_time=12.0, end_time=20.0),
        SimpleNamespace(step_key="skipped", status=None, start_time=None, end_time=None),
    ]
    instance = SimpleNamespace(get_run_step_stats=lambda run_id: stats)
    rows = radar_day.step_breakdown(instance, "run", wall_s=10.0)
    assert [r["step"] for r in rows] == ["ground_radar", "gauges", "skipped"]
    assert rows[0] == {"step": "ground_radar", "status": "SUCCESS", "seconds": 8.0, "share": 0.8}
    assert rows[2]["seconds"] is None and rows[2]["share"] is None


def test_tree_rss_sampler_sees_a_child_process() -> None:
    code = (
        "import time; b = bytearray(60_000_000); b[::4096] = b'x' * len(b[::4096]); time.sleep(1.5)"
    )
    proc = subprocess.Popen([sys.executable, "-c", code])
    try:
        with radar_day.TreeRSSSampler(os.getpid(), interval_s=0.05) as sampler:
            proc.wait(timeout=30)
    finally:
        proc.kill()
    # this process plus a child that touched 60 MB
    assert sampler.peak_bytes > 60_000_000


@pytest.mark.parametrize("wall, cpu, expected", [(100.0, 50.0, 5.07), (100.0, 180.0, 9.12)])
def test_year_projection(wall, cpu, expected) -> None:
    from bench._report import project_radar_year_h

    assert project_radar_year_h(wall, cpu) == pytest.approx(expected, abs=0.01)


def test_celery_runs_compared_only_when_the_same_steps_ran() -> None:
    from bench.celery_scale import compare_runs

    steps = [{"step": "ground_radar"}, {"step": "satellite_features"}]
    same = compare_runs(
        {"1": {"wall_s": 100.0, "steps": steps}, "2": {"wall_s": 60.0, "steps": steps}}
    )
    assert same["status"] == "ok" and same["speedup_2_workers"] == pytest.approx(1.67, abs=0.01)
    changed = compare_runs(
        {"1": {"wall_s": 100.0, "steps": steps}, "2": {"wall_s": 300.0, "steps": steps[:1]}}
    )
    assert changed["status"] == "failed" and changed["speedup_2_workers"] is None
    assert "not comparable" in changed["reason"]
    failed = compare_runs({"1": {"wall_s": 100.0, "steps": steps}, "2": {"wall_s": None}})
    assert failed["status"] == "failed"


def test_critical_path_of_a_step_graph() -> None:
    from bench.celery_scale import compare_runs, critical_path

    steps = [
        {"step": "gauges", "seconds": 2.0},
        {"step": "radar", "seconds": 10.0},
        {"step": "satellite", "seconds": 6.0},
        {"step": "calibrate", "seconds": 3.0},
        {"step": "fuse", "seconds": 1.0},
    ]
    deps = {
        "gauges": [],
        "radar": ["gauges"],
        "satellite": [],
        "calibrate": ["radar"],
        "fuse": ["calibrate", "satellite"],
    }
    out = critical_path(steps, deps)
    assert [s["step"] for s in out["critical_path"]] == ["gauges", "radar", "calibrate", "fuse"]
    assert out["critical_path_s"] == pytest.approx(16.0)
    assert out["total_step_s"] == pytest.approx(22.0)
    assert out["best_speedup_2_workers"] == pytest.approx(22.0 / 16.0, abs=0.01)
    # independent steps: two workers could halve it, no more
    flat = critical_path(steps, {s["step"]: [] for s in steps})
    assert flat["best_speedup_2_workers"] == 2.0
    with pytest.raises(ValueError, match="cycle"):
        critical_path(steps[:2], {"gauges": ["radar"], "radar": ["gauges"]})
    runs = compare_runs(
        {
            "1": {"wall_s": 30.0, "steps": steps, "deps": deps},
            "2": {"wall_s": 20.0, "steps": steps, "deps": deps},
        }
    )
    assert runs["graph"]["critical_path_s"] == pytest.approx(16.0)
    assert runs["graph"]["overhead_1_worker_s"] == pytest.approx(8.0)


def test_critical_path_through_mapped_steps() -> None:
    """A plan's ``op[?]`` stands for every mapped step that ran (the ground radar's blocks)."""
    from bench.celery_scale import critical_path

    steps = [
        {"step": "gauges", "seconds": 2.0},
        {"step": "plan", "seconds": 1.0},
        {"step": "block[block_0]", "seconds": 10.0},
        {"step": "block[block_1]", "seconds": 12.0},
        {"step": "join", "seconds": 3.0},
        {"step": "satellite", "seconds": 6.0},
    ]
    deps = {
        "gauges": [],
        "plan": ["gauges"],
        "block[?]": ["plan"],
        "join": ["block[?]"],
        "satellite": [],
    }
    out = critical_path(steps, deps)
    path = [s["step"] for s in out["critical_path"]]
    assert path == ["gauges", "plan", "block[block_1]", "join"]
    assert out["critical_path_s"] == pytest.approx(18.0)
    assert out["total_step_s"] == pytest.approx(34.0)
    # in one step the day would be 2 + 1 + 22 + 3 = 28 s long: the blocks shorten it by 10 s
    assert out["best_speedup_2_workers"] == pytest.approx(34.0 / 18.0, abs=0.01)


def test_rss_timeline_attributes_a_peak_to_the_step_window() -> None:
    import time

    from bench.radar_day import RSSTimeline

    with RSSTimeline(interval_s=0.01) as rss:
        t0 = time.time()
        block = bytearray(80_000_000)  # touched: resident
        block[::4096] = b"\x01" * len(block[::4096])
        time.sleep(0.1)
        t1 = time.time()
        del block
        time.sleep(0.05)
    assert len(rss.samples) >= 5
    during = rss.peak_between(t0, t1)
    assert during is not None and during >= 80_000_000
    assert rss.peak_between(t1 + 100, t1 + 200) is None
