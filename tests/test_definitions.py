"""The code location loads: `dagster definitions validate`, the CLI, resources and the product grid."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from dagster import materialize

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def test_dagster_definitions_validate():
    result = subprocess.run(
        [str(BIN / "dagster"), "definitions", "validate", "-w", "workspace.yaml"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Validation successful for code location rainfuse" in result.stdout + result.stderr


def test_cli_help_lists_subcommands():
    result = subprocess.run(
        [str(BIN / "rainfuse"), "--help"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0
    for command in ("demo", "simulate", "materialize", "bench", "evaluate", "verify", "backfill"):
        assert command in result.stdout


def test_cli_reports_bad_config_with_key(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("domain: {grid_spacing_deg: -1}\n")
    env = {**os.environ, "RAINFUSE_CONFIG": str(bad)}
    result = subprocess.run(
        [str(BIN / "rainfuse"), "config"], capture_output=True, text=True, env=env, timeout=120
    )
    assert result.returncode == 2
    assert "domain.grid_spacing_deg" in result.stderr


def test_ground_radar_blocks_shape_the_graph(tmp_path):
    """``compute.ground_radar_blocks`` sets the number of block steps of the ground_radar graph
    (read when the code location loads, so in a fresh process)."""
    config = tmp_path / "rainfuse.yaml"
    config.write_text("compute:\n  ground_radar_blocks: 3\n")
    env = {**os.environ, "RAINFUSE_CONFIG": str(config), "PYART_QUIET": "1"}
    probe = (
        "from orchestration.definitions import defs\n"
        "graph = defs.resolve_assets_def('ground_radar_volumes').node_def\n"
        "print(sorted(n.name for n in graph.node_defs if 'block' in n.name))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=REPO,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == str(
        [f"ingest_ground_radar_block_{i}" for i in range(3)] + ["join_ground_radar_blocks"]
    )


def test_ground_radar_factory_builds_the_blocks_it_is_asked_for():
    from assets.ingest import build_ground_radar_assets

    for n_blocks in (1, 4):
        graph = build_ground_radar_assets(n_blocks).node_def
        assert sorted(n.name for n in graph.node_defs) == [
            *(f"ingest_ground_radar_block_{i}" for i in range(n_blocks)),
            "join_ground_radar_blocks",
        ]


def test_ground_radar_blocks_come_from_the_code_location():
    """The ingest assets do not read the configuration; the code location builds the ground
    radar's graph from it, and has every ground-radar asset once."""
    assert "load_config" not in (REPO / "assets" / "ingest.py").read_text()
    from orchestration.definitions import ASSETS

    keys = [key.to_user_string() for a in ASSETS for key in getattr(a, "keys", [])]
    for name in (
        "ground_radar_volumes",
        "ground_radar_gauge_profiles",
        "ground_radar_grid_profiles",
    ):
        assert keys.count(name) == 1


def test_fusion_ops_has_no_dagster_import():
    offenders = [
        str(path.relative_to(REPO))
        for path in (REPO / "fusion_ops").rglob("*.py")
        if any(
            line.strip().startswith(("import dagster", "from dagster"))
            for line in path.read_text().splitlines()
        )
    ]
    assert offenders == []


def test_product_grid_asset(tmp_path):
    from assets.reference import product_grid
    from orchestration.runtime.io_managers import UniversalIOManager
    from orchestration.runtime.resources import DomainResource

    domain = DomainResource(
        lat_min_deg=27.0,
        lat_max_deg=28.0,
        lon_min_deg=-81.0,
        lon_max_deg=-80.0,
        grid_spacing_deg=0.1,
    )
    result = materialize(
        [product_grid],
        resources={"domain": domain, "io_manager": UniversalIOManager(base_url=str(tmp_path))},
    )
    grid = result.output_for_node("product_grid")
    assert grid.sizes == {"lat": 10, "lon": 10}
    np.testing.assert_allclose(grid.lat.values[[0, -1]], [27.05, 27.95])
    # a 0.1 degree cell near 27.5 N is about 11.1 km x 9.9 km
    assert grid.cell_area.sel(lat=27.55, lon=-80.55, method="nearest") == pytest.approx(
        109.6, rel=0.01
    )


def test_archive_and_product_store_on_s3(s3_bucket):
    from orchestration.runtime.resources import ArchiveResource, ProductStoreResource

    bucket, options = s3_bucket
    store = ProductStoreResource(url=f"s3://{bucket}/products", storage_options=options)
    url = store.write_bytes("2009/05/20/daily.txt", b"12.5 mm")
    assert url == f"s3://{bucket}/products/2009/05/20/daily.txt"
    archive = ArchiveResource(url=f"s3://{bucket}/products", storage_options=options)
    assert archive.glob("2009/05/20/*") == ["2009/05/20/daily.txt"]
    assert archive.read_bytes("2009/05/20/daily.txt") == b"12.5 mm"
    assert archive.upath("2009", "05", "20", "daily.txt").fs.exists(
        f"{bucket}/products/2009/05/20/daily.txt"
    )


def test_secret_reference_is_resolved_only_when_opened(s3_bucket, monkeypatch):
    from orchestration.runtime.resources import ArchiveResource

    bucket, options = s3_bucket
    monkeypatch.setenv("RAINFUSE_TEST_SECRET", options["secret"])
    archive = ArchiveResource(
        url=f"s3://{bucket}", storage_options={**options, "secret": "${RAINFUSE_TEST_SECRET}"}
    )
    assert "${RAINFUSE_TEST_SECRET}" in str(archive)
    fs, root = archive.filesystem()
    assert root == bucket and fs.exists(bucket)


def test_compute_resource_picks_cpu_without_cuda():
    import torch

    from orchestration.runtime.resources import ComputeResource

    device = ComputeResource(device="auto").torch_device()
    assert device.type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert ComputeResource(device="cpu").torch_device().type == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="no CUDA device"):
            ComputeResource(device="cuda").torch_device()


def test_calibration_history_job_samples_without_products():
    from orchestration.definitions import defs

    job = defs.resolve_job_def("calibration_history_job")
    keys = {key.to_user_string() for key in job.asset_layer.executable_asset_keys}
    for needed in ("mlp1_samples", "mlp2_samples", "mlp3_samples", "gauge_observations"):
        assert needed in keys
    for left_out in ("fused_rain_hourly", "product_verification", "calibration_evaluation"):
        assert left_out not in keys
    assert "product_grid" not in keys  # reference asset: materialized once by reference_job
