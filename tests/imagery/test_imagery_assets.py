"""Imagery assets materialised on a tiny scene with dagster.materialize."""

from __future__ import annotations

import base64

from dagster import materialize

from assets import imagery as imagery_assets
from orchestration.runtime.partitions import daily_partitions
from orchestration.runtime.resources import ComputeResource
from orchestration.runtime.tags import GPU_POOL


def test_imagery_assets_materialize(tmp_path) -> None:
    cfg = {"size_px": 32, "n_bands": 16, "ratio_hs": 4, "ratio_ms": 4, "train_steps": 3}
    key = daily_partitions.get_first_partition_key()
    result = materialize(
        [
            imagery_assets.imagery_scene,
            imagery_assets.pansharpen_model,
            imagery_assets.pansharpened_ms,
            imagery_assets.fused_hs,
        ],
        partition_key=key,
        resources={"compute": ComputeResource(device="cpu")},
        run_config={
            "ops": {
                name: {"config": cfg} for name in ("imagery_scene", "pansharpen_model", "fused_hs")
            }
        },
        instance=None,
    )
    assert result.success
    fused = result.output_for_node("pansharpened_ms")
    assert fused["ms_fused"].shape == (9, 32, 32)
    hs = result.output_for_node("fused_hs")
    assert hs["hs_fused"].shape == (16, 32, 32)
    mats = {
        m.asset_key.path[-1]: m.metadata
        for m in result.asset_materializations_for_node("pansharpened_ms")
    }
    meta = mats["pansharpened_ms"]
    assert 0.0 < meta["cnn_HQNR"].value <= 1.0
    assert meta["cnn_PSNR"].value > 10.0
    md = meta["quicklook"].value
    png = base64.b64decode(md.split("base64,")[1].rstrip(")"))
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    model_bytes = result.output_for_node("pansharpen_model")
    assert isinstance(model_bytes, bytes) and len(model_bytes) > 1000


def test_gpu_assets_carry_pool_and_tags() -> None:
    for a in (
        imagery_assets.pansharpen_model,
        imagery_assets.pansharpened_ms,
        imagery_assets.fused_hs,
    ):
        spec = next(iter(a.specs))
        assert a.op.pool == GPU_POOL
        tags = a.op.tags
        assert tags["dagster-celery/queue"] == "gpu"
        assert "nvidia.com/gpu" in str(tags["dagster-k8s/config"])
        assert spec.group_name == "imagery"
    assert imagery_assets.imagery_scene.op.pool is None
