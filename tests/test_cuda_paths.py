"""The CUDA paths of the networks: training, inference and model files on a GPU match the CPU.

CI has no GPU, so these tests skip there (with the reason); on a GPU worker they run with a bare
PyTorch environment (no Dagster, no radar libraries):
``python -m pytest -c /dev/null --rootdir . tests/test_cuda_paths.py``.

Tolerances: cuDNN convolutions use TF32 by default (10-bit mantissa, relative error ~1e-3), so the
fusion networks are compared to about 1 %; the calibration MLPs use full float32 matrix products.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytestmark = pytest.mark.skipif(
    not torch.cuda.is_available(),
    reason="no CUDA device here: the GPU paths are checked on a GPU worker (see the docstring)",
)


def _relative_rms(a: torch.Tensor | np.ndarray, b: torch.Tensor | np.ndarray) -> float:
    a = torch.as_tensor(a, dtype=torch.float64).cpu()
    b = torch.as_tensor(b, dtype=torch.float64).cpu()
    return float(torch.sqrt(torch.mean((a - b) ** 2)) / torch.sqrt(torch.mean(b**2)))


# --------------------------------------------------------------------------- calibration MLPs


@pytest.fixture(scope="module")
def mlp_samples() -> tuple[object, np.ndarray, np.ndarray]:
    from fusion_ops.calibration.features import mlp1_spec

    spec = mlp1_spec()
    rng = np.random.default_rng(0)
    n = 4000
    x = rng.normal(20.0, 8.0, size=(n, len(spec.features))).astype(np.float32)
    x[rng.random(x.shape) < 0.05] = np.nan  # missing levels are filled per the spec
    # rain that follows the lowest reflectivity through a Z-R law, times a range factor
    dbz = np.nan_to_num(x[:, 0], nan=0.0)
    y = (np.maximum(10 ** (dbz / 10) / 250.0, 0.0) ** (1 / 1.2) * 0.8).astype(np.float32)
    return spec, x, y


def test_mlp_trains_on_cuda_like_on_cpu(mlp_samples) -> None:
    from fusion_ops.calibration.models import predict_rain_rate
    from fusion_ops.calibration.training import TrainConfig, train_model

    spec, x, y = mlp_samples
    cfg = TrainConfig(epochs=4, patience=10, min_groups=10, members=2)
    on_cpu = train_model(spec, x, y, config=cfg, device="cpu")
    on_cuda = train_model(spec, x, y, config=cfg, device="cuda")
    # the trainer hands back a CPU model whatever it trained on (the model file is written on CPU)
    assert all(p.device.type == "cpu" for p in on_cuda.model.parameters())
    assert len(on_cuda.history) == len(on_cpu.history) == cfg.epochs
    # same seeds, same splits, same batches: only float summation order differs
    assert abs(on_cuda.history[-1]["val"] - on_cpu.history[-1]["val"]) <= 0.02 * abs(
        on_cpu.history[-1]["val"]
    )
    rate_cpu = predict_rain_rate(on_cpu.model, x, device="cpu")
    rate_cuda = predict_rain_rate(on_cuda.model, x, device="cuda")
    assert rate_cuda.dtype == np.float32 and rate_cuda.shape == (x.shape[0],)
    assert _relative_rms(rate_cuda, rate_cpu) < 0.02


def test_model_file_round_trip_from_cuda(mlp_samples) -> None:
    from fusion_ops.calibration.models import predict_rain_rate
    from fusion_ops.calibration.training import TrainConfig, train_model
    from fusion_ops.calibration.versioning import (
        load_model_bytes,
        model_version,
        save_model_bytes,
    )

    spec, x, y = mlp_samples
    cfg = TrainConfig(epochs=2, min_groups=10)
    model = train_model(spec, x, y, config=cfg, device="cuda").model
    on_gpu = predict_rain_rate(model, x, device="cuda")  # leaves the module on the GPU
    assert next(model.parameters()).device.type == "cuda"
    data = save_model_bytes(model, cfg.as_dict(), {"trained_on": "cuda"})
    loaded, meta = load_model_bytes(data, "cuda-trained.safetensors")
    assert meta["version"] == model_version(model, cfg.as_dict())
    # float32 products on both devices (no TF32 for matmul by default): equal to rounding
    np.testing.assert_allclose(predict_rain_rate(loaded, x, device="cpu"), on_gpu, atol=1e-4)
    np.testing.assert_allclose(predict_rain_rate(loaded, x, device="cuda"), on_gpu, atol=1e-5)


def test_mlp_input_clip_on_cuda(mlp_samples) -> None:
    from fusion_ops.calibration.models import build_model, predict_rain_rate

    spec, x, _ = mlp_samples
    model = build_model(spec)
    model.set_normalisation(x)
    edge = np.nanmax(x, axis=0, keepdims=True)
    beyond = edge + 50.0  # far outside the training range
    same_body = predict_rain_rate(model, beyond, device="cuda")
    # the body sees the clipped input; only the prior (Z-R of the raw dBZ) may grow
    assert np.isfinite(same_body).all()
    assert same_body[0] >= predict_rain_rate(model, edge, device="cuda")[0]


# --------------------------------------------------------------------------- fusion networks


def _smooth(c: int, h: int, w: int, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(c, h // 4 + 2, w // 4 + 2, generator=gen)
    up = torch.nn.functional.interpolate(x[None], size=(h, w), mode="bilinear", align_corners=False)
    return up[0] + 0.5


@pytest.mark.parametrize("name", ["two_branch", "mhf_net", "rgb_guided"])
def test_fusion_net_forward_cuda_matches_cpu(name: str) -> None:
    from bench.models import fusion_cases

    factory, inputs = {n: (f, i) for n, f, i in fusion_cases()}[name]
    torch.manual_seed(0)
    net = factory().eval()
    batch = inputs(2, 64, torch.device("cpu"))
    with torch.no_grad():
        ref = net(*batch)
        out = net.cuda()(*(t.cuda() for t in batch))
    assert out.device.type == "cuda" and out.shape == ref.shape
    assert torch.isfinite(out).all()
    assert _relative_rms(out, ref) < 1e-2


def test_pansharpen_training_on_cuda_tracks_cpu() -> None:
    from fusion_ops.imagery.degrade import gaussian_decimate
    from fusion_ops.imagery.nets.two_branch import TwoBranchPansharpenNet
    from fusion_ops.imagery.train import TrainConfig, fuse_two_branch, train_two_branch

    pan = _smooth(1, 96, 96, seed=1)
    ms = torch.cat([gaussian_decimate(pan * s, 4, 0.3) for s in (1.0, 0.7, 1.3, 0.9)])
    runs = {}
    for device in ("cpu", "cuda"):
        cfg = TrainConfig(steps=30, batch=4, patch=32, lr=3e-3, seed=0, log_every=0, device=device)
        runs[device] = train_two_branch(ms, pan, 4, 0.3, 0.15, None, cfg, TwoBranchPansharpenNet(4))
    cuda, cpu = runs["cuda"], runs["cpu"]
    # same initial weights and crops (CPU generators): the first loss differs by TF32 rounding
    # only; later steps drift apart as training amplifies it (14 % after 30 steps on an H200)
    assert abs(cuda.losses[0] - cpu.losses[0]) < 1e-2 * cpu.losses[0]
    assert np.mean(cuda.losses[-5:]) < 0.9 * np.mean(cuda.losses[:5])
    assert np.mean(cpu.losses[-5:]) < 0.9 * np.mean(cpu.losses[:5])
    fused = fuse_two_branch(cuda.model, ms, pan, 4, 0.3, device="cuda")
    assert fused.device.type == "cpu" and fused.shape == (4, 96, 96)
    same_weights_on_cpu = fuse_two_branch(cuda.model, ms, pan, 4, 0.3, device="cpu")
    assert _relative_rms(fused, same_weights_on_cpu) < 1e-2


def test_hs_trainers_on_cuda() -> None:
    from fusion_ops.imagery.degrade import gaussian_decimate
    from fusion_ops.imagery.nets.rgb_guided import normalise_responses, project_rgb
    from fusion_ops.imagery.train import (
        TrainConfig,
        fuse_mhf_net,
        fuse_rgb_guided,
        train_mhf_net,
        train_rgb_guided,
    )

    fine = _smooth(16, 48, 48, seed=2)
    hs = gaussian_decimate(fine, 4, 0.3)
    resp = normalise_responses(torch.rand(3, 16, generator=torch.Generator().manual_seed(3)))
    rgb = project_rgb(fine, resp)
    cfg = TrainConfig(steps=30, batch=2, patch=8, lr=3e-3, seed=0, log_every=0, device="cuda")
    mhf = train_mhf_net(hs, rgb, 4, 0.3, None, cfg, rank=4, stages=2, width=8)
    assert np.mean(mhf.losses[-5:]) < np.mean(mhf.losses[:5])
    out = fuse_mhf_net(mhf.model, hs, rgb, device="cuda")
    assert out.device.type == "cpu" and out.shape == (16, 48, 48)
    assert _relative_rms(out, fuse_mhf_net(mhf.model, hs, rgb, device="cpu")) < 1e-2
    rgbg = train_rgb_guided(hs, rgb, 4, resp, 0.3, None, cfg, width=8)
    assert np.mean(rgbg.losses[-5:]) < np.mean(rgbg.losses[:5])
    out = fuse_rgb_guided(rgbg.model, hs, rgb, device="cuda")
    assert out.shape == (16, 48, 48) and torch.isfinite(out).all()
    assert (rgbg.model.csr.response() >= 0).all()
