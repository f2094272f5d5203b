"""Metric definitions: identities, known angles, hypercomplex algebra, sewar cross-checks."""

from __future__ import annotations

import math

import numpy as np
import pytest
import sewar.full_ref as sw
import torch

from fusion_ops.imagery.metrics import (
    d_lambda,
    ergas,
    hqnr,
    hypercomplex_mul,
    psnr,
    q2n,
    q2n_blocks,
    qnr,
    sam_deg,
    score_reduced,
)


@pytest.fixture(scope="module")
def pair() -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(3)
    ref = torch.rand(4, 64, 64, generator=gen, dtype=torch.float64) + 0.5
    fused = ref + 0.05 * torch.randn(4, 64, 64, generator=gen, dtype=torch.float64)
    return ref, fused


def test_identity_scores(pair) -> None:
    ref, _ = pair
    s = score_reduced(ref, ref.clone(), ratio=4)
    assert s["SAM"] == pytest.approx(0.0, abs=1e-5)
    assert s["ERGAS"] == pytest.approx(0.0, abs=1e-9)
    assert s["Q2n"] == pytest.approx(1.0, abs=1e-9)
    assert s["SSIM"] == pytest.approx(1.0, abs=1e-6)


def test_sam_known_angle_in_degrees() -> None:
    ref = torch.zeros(2, 4, 4, dtype=torch.float64)
    fused = torch.zeros_like(ref)
    ref[0] = 1.0
    fused[0] = 1.0
    fused[1] = 1.0  # 45 degrees everywhere
    assert sam_deg(ref, fused) == pytest.approx(45.0, abs=1e-4)


def test_psnr_definition() -> None:
    ref = torch.ones(2, 8, 8, dtype=torch.float64)
    fused = ref + 0.1  # MSE 0.01, peak 1 -> 20 dB
    assert psnr(ref, fused) == pytest.approx(20.0, abs=1e-6)


def test_ergas_and_sam_match_sewar(pair) -> None:
    ref, fused = pair
    r_np = ref.permute(1, 2, 0).numpy()
    f_np = fused.permute(1, 2, 0).numpy()
    assert ergas(ref, fused, 4) == pytest.approx(sw.ergas(r_np, f_np, r=0.25), rel=1e-6)
    assert sam_deg(ref, fused) == pytest.approx(math.degrees(sw.sam(r_np, f_np)), rel=1e-4)


def test_single_band_q_matches_sewar(pair) -> None:
    """One band, no block normalisation: Q is Wang-Bovik's UIQI = SSIM with C1 = C2 -> 0.

    sewar's own ``uqi`` mixes window sums and means (it disagrees with its docstring), so the
    cross-check uses its SSIM with a uniform window and vanishing constants instead.
    """
    ref, fused = pair
    w = 16
    mine = q2n_blocks(ref[:1, :32, :32], fused[:1, :32, :32], block=w, shift=1, normalize=False)
    theirs, _ = sw.ssim(
        ref[0, :32, :32].numpy(),
        fused[0, :32, :32].numpy(),
        ws=w,
        K1=1e-9,
        K2=1e-9,
        MAX=1.0,
        fltr_specs={"fltr": sw.Filter.UNIFORM, "ws": w},
        mode="valid",
    )
    assert mine.shape == (17, 17)
    assert float(mine.mean()) == pytest.approx(theirs, rel=1e-6)


def test_hypercomplex_product_rules() -> None:
    one, i, j, k = torch.eye(4, dtype=torch.float64)
    # quaternion units: i j = k, j i = -k, i i = -1
    assert torch.allclose(hypercomplex_mul(i, j), k)
    assert torch.allclose(hypercomplex_mul(j, i), -k)
    assert torch.allclose(hypercomplex_mul(i, i), -one)
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(8, generator=gen, dtype=torch.float64)
    b = torch.randn(8, generator=gen, dtype=torch.float64)
    # octonions are a composition algebra: |ab| = |a||b|
    assert float(hypercomplex_mul(a, b).norm()) == pytest.approx(
        float(a.norm() * b.norm()), rel=1e-12
    )


def test_q2n_ranks_quality(pair) -> None:
    ref, fused = pair
    worse = ref + 0.2 * torch.randn(
        ref.shape, generator=torch.Generator().manual_seed(1), dtype=ref.dtype
    )
    q_good, q_bad = q2n(ref, fused), q2n(ref, worse)
    assert 0.0 < q_bad < q_good < 1.0
    # 5 bands are padded to Q8; 70 px leaves partial blocks padded symmetrically
    five = torch.rand(5, 70, 70, dtype=torch.float64) + 1
    assert q2n_blocks(five, five * 1.0).shape == (3, 3)


def test_no_reference_indices() -> None:
    gen = torch.Generator().manual_seed(2)
    pan = torch.rand(1, 64, 64, generator=gen, dtype=torch.float64) + 0.5
    ms = torch.stack([pan[0, 1::2, 1::2] * s for s in (1.0, 0.8, 1.2)])
    fused = torch.stack([pan[0] * s for s in (1.0, 0.8, 1.2)])
    out = qnr(fused, ms, pan, 2, 0.15)
    assert set(out) == {"D_lambda", "D_s", "QNR"}
    assert 0.0 <= out["D_lambda"] < 0.2 and 0.0 <= out["D_s"] < 1.0
    assert out["QNR"] == pytest.approx((1 - out["D_lambda"]) * (1 - out["D_s"]))
    h = hqnr(fused, ms, pan, 2, 0.3, 0.15)
    assert 0.0 < h["HQNR"] <= 1.0
    # band-swapped fusion breaks inter-band relations less than noise does: D_lambda grows
    noisy = fused + 0.3 * torch.randn(fused.shape, generator=gen, dtype=fused.dtype)
    assert d_lambda(noisy, ms, 2) > d_lambda(fused, ms, 2)
    assert np.isfinite(out["QNR"])
