"""Fusion nets: shapes for any size/bands/ratio, CSR selection, and that training reduces loss."""

from __future__ import annotations

import pytest
import torch

from fusion_ops.imagery.degrade import gaussian_decimate
from fusion_ops.imagery.nets.mhf_net import MHFNet
from fusion_ops.imagery.nets.rgb_guided import (
    CSRLayer,
    RGBGuidedHSNet,
    normalise_responses,
    project_rgb,
    select_camera,
)
from fusion_ops.imagery.nets.two_branch import MultiSourceFusionNet, TwoBranchPansharpenNet
from fusion_ops.imagery.train import (
    TrainConfig,
    fuse_mhf_net,
    fuse_rgb_guided,
    fuse_two_branch,
    train_mhf_net,
    train_rgb_guided,
    train_two_branch,
)

torch.set_num_threads(1)


def _smooth(c: int, h: int, w: int, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(c, h // 4 + 2, w // 4 + 2, generator=gen)
    up = torch.nn.functional.interpolate(x[None], size=(h, w), mode="bilinear", align_corners=False)
    return up[0] + 0.5


@pytest.mark.parametrize(("bands", "ratio", "h", "w"), [(3, 2, 10, 14), (4, 3, 6, 5), (8, 4, 5, 7)])
def test_two_branch_shapes(bands: int, ratio: int, h: int, w: int) -> None:
    ms = torch.rand(bands, h, w) + 0.5
    pan = torch.rand(1, h * ratio, w * ratio) + 0.5
    net = TwoBranchPansharpenNet(bands, width=8)
    out = fuse_two_branch(net, ms, pan, ratio, 0.3)
    assert out.shape == (bands, h * ratio, w * ratio)
    plain = TwoBranchPansharpenNet(bands, width=8, detail_prior=False)
    assert plain(torch.rand(2, bands, 12, 12), torch.rand(2, 2, 12, 12)).shape == (2, bands, 12, 12)


def test_generic_encoder_fused_decoder_form() -> None:
    net = MultiSourceFusionNet((5, 1, 3), 5, (1, 2, 1), width=8, residual_source=0)
    src = [torch.rand(1, c, 9, 11) for c in (5, 1, 3)]
    out = net(*src)
    # zero-initialised head: the untrained net returns its residual source
    assert out.shape == (1, 5, 9, 11) and torch.allclose(out, src[0])


@pytest.mark.parametrize(
    ("n_guide", "n_hs", "ratio", "h"), [(3, 10, 2, 8), (4, 17, 3, 6), (9, 32, 4, 4)]
)
def test_mhf_net_shapes(n_guide: int, n_hs: int, ratio: int, h: int) -> None:
    y = torch.rand(n_guide, h * ratio, (h + 1) * ratio)
    z = torch.rand(n_hs, h, h + 1)
    net = MHFNet.from_data(y, z, ratio, rank=4, stages=2, width=8)
    out = net(y[None], z[None])
    assert out.shape == (1, n_hs, h * ratio, (h + 1) * ratio)
    assert torch.isfinite(out).all()


def test_rgb_guided_shapes_and_csr_layer() -> None:
    net = RGBGuidedHSNet(12, 3, width=8)
    out = net(torch.rand(2, 3, 15, 12), torch.rand(2, 12, 5, 4))
    assert out.shape == (2, 12, 15, 12)
    init = torch.rand(3, 12)
    layer = CSRLayer(init)
    assert torch.allclose(layer.response(), init.clamp_min(1e-6), atol=1e-5)
    with torch.no_grad():
        layer.raw.fill_(-50.0)  # softplus keeps it non-negative whatever the parameters
    assert (layer.response() >= 0).all()
    assert float(CSRLayer(torch.ones(3, 12)).smoothness().detach()) == pytest.approx(0.0, abs=1e-9)


def test_csr_selection_synthetic() -> None:
    gen = torch.Generator().manual_seed(4)
    hs = _smooth(20, 40, 40)
    db = normalise_responses(torch.rand(6, 3, 20, generator=gen))
    for cam in range(6):
        rgb = project_rgb(hs, db[cam]) * torch.tensor([1.3, 0.9, 1.1])[:, None, None]
        sel, err = select_camera(gaussian_decimate(hs, 4, 0.3), rgb, db, 4)
        assert sel == cam and float(err[cam]) < 1e-3


def test_csr_selection_samson_real(shared_data) -> None:
    from bench.imagery import samson_inputs

    hs, rgb, db_hs, _ = samson_inputs(shared_data / "imagery", 33)
    sel, err = select_camera(gaussian_decimate(hs, 5, 0.3), rgb, db_hs, 5)
    assert sel == 33
    assert float(err[sel]) < 0.01 < float(err.sort().values[1])


@pytest.fixture(scope="module")
def tiny_pair() -> tuple[torch.Tensor, torch.Tensor]:
    pan = _smooth(1, 48, 48, seed=1)
    ms = torch.cat([gaussian_decimate(pan * s, 2, 0.3) for s in (1.0, 0.7, 1.3)])
    return ms, pan


def test_two_branch_training_reduces_loss(tiny_pair) -> None:
    ms, pan = tiny_pair
    cfg = TrainConfig(steps=25, batch=2, patch=16, lr=3e-3, seed=0, log_every=0)
    res = train_two_branch(ms, pan, 2, 0.3, 0.15, None, cfg, TwoBranchPansharpenNet(3, width=8))
    assert len(res.losses) == 25
    assert sum(res.losses[-5:]) < sum(res.losses[:5])
    assert fuse_two_branch(res.model, ms, pan, 2, 0.3).shape == (3, 48, 48)


def test_training_is_deterministic(tiny_pair) -> None:
    ms, pan = tiny_pair
    cfg = TrainConfig(steps=3, batch=2, patch=16, seed=7, log_every=0)
    a = train_two_branch(ms, pan, 2, 0.3, 0.15, None, cfg, None).losses
    b = train_two_branch(ms, pan, 2, 0.3, 0.15, None, cfg, None).losses
    assert a == b


def test_mhf_and_rgb_training_reduce_loss() -> None:
    fine = _smooth(16, 24, 24, seed=2)
    z = gaussian_decimate(fine, 2, 0.3)
    resp = normalise_responses(torch.rand(3, 16, generator=torch.Generator().manual_seed(3)))
    rgb = project_rgb(fine, resp)
    cfg = TrainConfig(steps=20, batch=2, patch=6, lr=3e-3, seed=0, log_every=0)
    res = train_mhf_net(z, rgb, 2, 0.3, None, cfg, rank=4, stages=2, width=8)
    assert sum(res.losses[-4:]) < sum(res.losses[:4])
    assert fuse_mhf_net(res.model, z, rgb).shape == (16, 24, 24)
    res = train_rgb_guided(z, rgb, 2, resp, 0.3, None, cfg, width=8)
    assert sum(res.losses[-4:]) < sum(res.losses[:4])
    out = fuse_rgb_guided(res.model, z, rgb)
    assert out.shape == (16, 24, 24)
    assert (res.model.csr.response() >= 0).all()
