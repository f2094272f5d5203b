"""Metric definitions: identities, known angles, hypercomplex algebra, sewar cross-checks."""

from __future__ import annotations

import math

import numpy as np
import pytest
import sewar.full_ref as sw
import torch

from fusion_ops.imagery import classic
from fusion_ops.imagery.degrade import gaussian_decimate
from fusion_ops.imagery.loaders import load_landsat7, load_wv2
from fusion_ops.imagery.metrics import (
    box_mean,
    d_lambda,
    d_s,
    ergas,
    full_resolution_scores,
    hqnr,
    hypercomplex_mul,
    psnr,
    q2n,
    q2n_blocks,
    qnr,
    sam_deg,
    score_reduced,
    uiqi_map,
    uiqi_map_direct,
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


def test_q2n_matches_sewar_on_real_crops(shared_data) -> None:
    """The project's vectorised Q2n equals ``sewar.full_ref.q2n`` (sewar >= 0.4.8)."""
    root = shared_data / "imagery" / "pansharpening"
    wv2 = load_wv2(root / "imgWV2.mat")
    r, ph = wv2.ratio, wv2.phase_px
    ms, pan = wv2.ms[:, :200, :200], wv2.pan[:, :800, :800]
    ms_lr = gaussian_decimate(ms, r, wv2.mtf_ms, ph)
    pan_lr = gaussian_decimate(pan, r, wv2.mtf_pan, ph)
    fused = classic.gsa(ms_lr, pan_lr, r, wv2.mtf_ms, wv2.mtf_pan, ph)
    ls = load_landsat7(root, 1)
    noisy = ls.ms + 5.0 * torch.randn(ls.ms.shape, generator=torch.Generator().manual_seed(0))
    cases = [
        (ms[:, 21:-21, 21:-21], fused[:, 21:-21, 21:-21]),  # 158 px: partial blocks, Q8
        (ms[:, :100, :70], fused[:, :100, :70]),
        (ls.ms[:, :96, :80], noisy[:, :96, :80]),  # 6 bands, zero-padded to 8
    ]
    for ref, out in cases:
        theirs = sw.q2n(
            ref.permute(1, 2, 0).double().numpy(), out.permute(1, 2, 0).double().numpy()
        )
        assert q2n(ref, out) == pytest.approx(theirs, abs=1e-9)


def _uiqi_brute(x: torch.Tensor, y: torch.Tensor, w: int) -> torch.Tensor:
    """UIQI window by window with two-pass moments (Wang's degenerate-window rules)."""
    px = x.double().unfold(0, w, 1).unfold(1, w, 1).flatten(-2)
    py = y.double().unfold(0, w, 1).unfold(1, w, 1).flatten(-2)
    mx, my = px.mean(-1), py.mean(-1)
    vx = ((px - mx[..., None]) ** 2).mean(-1)
    vy = ((py - my[..., None]) ** 2).mean(-1)
    cxy = ((px - mx[..., None]) * (py - my[..., None])).mean(-1)
    tiny = 1e-12 * (float(x.abs().max()) ** 2 + float(y.abs().max()) ** 2)
    out = torch.ones_like(mx)
    for idx in np.ndindex(*mx.shape):
        var_sum, mean_sq = float(vx[idx] + vy[idx]), float(mx[idx] ** 2 + my[idx] ** 2)
        if mean_sq <= tiny:
            continue
        if var_sum <= tiny:
            out[idx] = 2 * mx[idx] * my[idx] / mean_sq
        else:
            out[idx] = 4 * cxy[idx] * mx[idx] * my[idx] / (var_sum * mean_sq)
    return out


def test_fast_uiqi_equals_direct_windowed_uiqi() -> None:
    """Summed-area-table UIQI = avg_pool2d UIQI = window-by-window UIQI, flat windows included."""
    gen = torch.Generator().manual_seed(5)
    x = torch.rand(40, 44, generator=gen, dtype=torch.float64) * 200 + 50
    y = 0.7 * x + 30 * torch.rand(40, 44, generator=gen, dtype=torch.float64)
    x[2:16, 3:17], y[2:16, 3:17] = 120.0, 80.0  # both flat: 2 mx my / (mx^2 + my^2)
    x[20:34, 25:40] = 90.0  # x flat, y textured: Q = 0
    x[26:40, 0:14], y[26:40, 0:14] = 0.0, 0.0  # zero means: Q = 1
    w = 8
    fast, direct, brute = uiqi_map(x, y, w), uiqi_map_direct(x, y, w), _uiqi_brute(x, y, w)
    assert fast.shape == (33, 37)
    assert torch.allclose(fast, direct, rtol=0, atol=1e-10)
    assert torch.allclose(fast, brute, rtol=0, atol=1e-10)
    assert float(fast[4, 5]) == pytest.approx(2 * 120 * 80 / (120**2 + 80**2), abs=1e-12)
    assert float(fast[22, 28]) == pytest.approx(0.0, abs=1e-12)
    assert float(fast[30, 2]) == 1.0
    # the box filter itself: every window's mean
    assert torch.allclose(box_mean(x, w), x.unfold(0, w, 1).unfold(1, w, 1).mean((-2, -1)))


def test_fast_uiqi_matches_sewar_uniform_window(pair) -> None:
    """Independent library: sewar's SSIM with a uniform window and vanishing constants."""
    ref, fused = pair
    theirs, _ = sw.ssim(
        ref[1].numpy(),
        fused[1].numpy(),
        ws=16,
        K1=1e-9,
        K2=1e-9,
        MAX=1.0,
        fltr_specs={"fltr": sw.Filter.UNIFORM, "ws": 16},
        mode="valid",
    )
    assert float(uiqi_map(ref[1], fused[1], 16).mean()) == pytest.approx(theirs, rel=1e-6)


def test_full_resolution_indices_equal_the_direct_path() -> None:
    """D_lambda, D_s, QNR, HQNR (strip-wise summed-area tables) = the avg_pool2d computation."""
    gen = torch.Generator().manual_seed(7)
    ratio, c = 2, 4
    pan = torch.rand(1, 96, 88, generator=gen, dtype=torch.float64) * 100 + 20
    ms = gaussian_decimate(
        pan.expand(c, -1, -1) * torch.tensor([1.0, 0.8, 1.2, 0.6])[:, None, None], ratio, 0.3
    )
    ms = ms + 3 * torch.rand(ms.shape, generator=gen, dtype=torch.float64)
    fused = pan * torch.tensor([1.0, 0.8, 1.2, 0.6], dtype=torch.float64)[:, None, None]
    fused = fused + 5 * torch.rand(fused.shape, generator=gen, dtype=torch.float64)
    w, w_lo = 32, 16
    pan_lr = gaussian_decimate(pan, ratio, 0.15)[0]
    dl = np.mean(
        [
            abs(
                float(uiqi_map_direct(fused[i], fused[j], w).mean())
                - float(uiqi_map_direct(ms[i], ms[j], w_lo).mean())
            )
            for i in range(c)
            for j in range(i + 1, c)
        ]
    )
    ds = np.mean(
        [
            abs(
                float(uiqi_map_direct(fused[b], pan[0], w).mean())
                - float(uiqi_map_direct(ms[b], pan_lr, w_lo).mean())
            )
            for b in range(c)
        ]
    )
    assert d_lambda(fused, ms, ratio) == pytest.approx(dl, abs=1e-12)
    assert d_s(fused, ms, pan, ratio, 0.15) == pytest.approx(ds, abs=1e-12)
    both = full_resolution_scores(fused, ms, pan, ratio, 0.3, 0.15)
    assert both["QNR"] == pytest.approx((1 - dl) * (1 - ds), abs=1e-12)
    assert both["QNR"] == pytest.approx(qnr(fused, ms, pan, ratio, 0.15)["QNR"], abs=1e-15)
    assert both["HQNR"] == pytest.approx(hqnr(fused, ms, pan, ratio, 0.3, 0.15)["HQNR"], abs=1e-15)
