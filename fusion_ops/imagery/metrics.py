"""Quality indices for image fusion (reduced resolution with a reference; full resolution without).

Definitions (``ref``/``fused`` are ``(C, H, W)`` tensors on the same grid):

* PSNR: mean over bands of ``10 log10(peak^2 / MSE_b)``, ``peak`` = max of the reference
  (torchmetrics ``peak_signal_noise_ratio`` with per-band reduction).
* SSIM: torchmetrics ``structural_similarity_index_measure`` (Gaussian 11 x 11, sigma 1.5),
  data range of the reference, mean over bands.
* SAM: mean spectral angle in **degrees** over pixels whose spectra are non-zero in both images
  (torchmetrics returns radians and has no zero-norm mask, so only its per-pixel map is used).
* ERGAS: ``100 / ratio * sqrt(mean_b(RMSE_b^2 / mean(ref_b)^2))`` (torchmetrics).
* Q2n: hypercomplex quality index (Q4 for 3-4 bands, Q8 for 5-8 bands, Q2^k in general) on
  non-overlapping 32 x 32 blocks, each block's bands normalised by the reference block's mean and
  standard deviation as in the pansharpening toolbox; partial blocks are completed by symmetric
  padding.  Written here: no library has it.
* D_lambda, D_s, QNR (Alparone et al. 2008): universal image quality index on sliding
  ``S x S`` uniform windows (``S`` = 32 at the fine scale, ``32 / ratio`` at the coarse scale),
  exponents p = q = 1.  D_s compares each fused band with the PAN against each MS band with the
  PAN degraded by the PAN MTF.  HQNR (Aiazzi et al. 2014) = ``(1 - D_lambda^K) (1 - D_s)`` with
  Khan's ``D_lambda^K = 1 - Q2n(MTF-degraded fused, MS)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torchmetrics.functional.image import (
    error_relative_global_dimensionless_synthesis,
    peak_signal_noise_ratio,
    spectral_angle_mapper,
    structural_similarity_index_measure,
)

from fusion_ops.imagery.degrade import gaussian_decimate


class MetricInputError(ValueError):
    """Inputs to a quality index have incompatible shapes."""


def _pair(ref: torch.Tensor, fused: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    if ref.shape != fused.shape:
        raise MetricInputError(
            f"reference {tuple(ref.shape)} and fused {tuple(fused.shape)} differ"
        )
    if ref.ndim != 3:
        raise MetricInputError(f"expected (C, H, W) images, got {tuple(ref.shape)}")
    return ref.double(), fused.double()


def cut_border(image: torch.Tensor, border_px: int) -> torch.Tensor:
    """Drop ``border_px`` pixels on each side of the last two axes."""
    if border_px <= 0:
        return image
    return image[..., border_px:-border_px, border_px:-border_px]


def psnr(ref: torch.Tensor, fused: torch.Tensor) -> float:
    """Mean per-band PSNR (dB) with the reference maximum as peak."""
    r, f = _pair(ref, fused)
    return float(peak_signal_noise_ratio(f[None], r[None], data_range=float(r.max()), dim=(2, 3)))


def ssim(ref: torch.Tensor, fused: torch.Tensor) -> float:
    """Mean SSIM over bands (torchmetrics, Gaussian window)."""
    r, f = _pair(ref, fused)
    rng = float(r.max() - r.min()) or 1.0
    # bands as a batch: SSIM is a per-band index
    return float(structural_similarity_index_measure(f[:, None], r[:, None], data_range=rng))


def sam_deg(ref: torch.Tensor, fused: torch.Tensor) -> float:
    """Mean spectral angle (degrees) over pixels with non-zero spectra in both images."""
    r, f = _pair(ref, fused)
    valid = (r.norm(dim=0) > 0) & (f.norm(dim=0) > 0)
    if not bool(valid.any()):
        return float("nan")
    if r.shape[0] == 1:
        # torchmetrics needs two bands; one band: 0 deg for equal signs, 180 for opposite
        ang = torch.where(r[0] * f[0] >= 0, 0.0, math.pi).to(r.dtype)
    else:
        ang = spectral_angle_mapper(f[None], r[None], reduction="none")[0]
    return float(torch.rad2deg(ang[valid]).mean())


def ergas(ref: torch.Tensor, fused: torch.Tensor, ratio: float) -> float:
    """ERGAS with ``100 / ratio`` scaling (torchmetrics)."""
    r, f = _pair(ref, fused)
    return float(error_relative_global_dimensionless_synthesis(f[None], r[None], ratio=ratio))


# --------------------------------------------------------------------------- hypercomplex Q2n


def _conj(x: torch.Tensor) -> torch.Tensor:
    """Hypercomplex conjugate along axis 0 (real part first)."""
    return torch.cat([x[:1], -x[1:]], dim=0)


def hypercomplex_mul(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """Cayley-Dickson product along axis 0 (length a power of two), broadcast over the rest.

    ``(a, b)(c, d) = (a c - d* b, d a + b c*)``; 2 components give complex numbers, 4
    quaternions, 8 octonions.
    """
    n = p.shape[0]
    if n == 1:
        return p * q
    h = n // 2
    a, b, c, d = p[:h], p[h:], q[:h], q[h:]
    first = hypercomplex_mul(a, c) - hypercomplex_mul(_conj(d), b)
    second = hypercomplex_mul(d, a) + hypercomplex_mul(b, _conj(c))
    return torch.cat([first, second], dim=0)


def _symmetric_pad_end(x: torch.Tensor, pad_h: int, pad_w: int) -> torch.Tensor:
    if pad_h:
        x = torch.cat([x, x[:, -pad_h:].flip(1)], dim=1)
    if pad_w:
        x = torch.cat([x, x[:, :, -pad_w:].flip(2)], dim=2)
    return x


def q2n_blocks(
    ref: torch.Tensor,
    fused: torch.Tensor,
    block: int = 32,
    shift: int | None = None,
    normalize: bool = True,
) -> torch.Tensor:
    """Map of the hypercomplex quality index on ``block`` x ``block`` windows every ``shift`` px.

    Parameters
    ----------
    ref, fused : Tensor
        ``(C, H, W)`` images; bands are zero-padded to the next power of two.
    block, shift : int
        Window size and step (default step = block: non-overlapping blocks).
    normalize : bool
        Normalise each block's bands by the reference block mean and std (toolbox convention).
        With ``False`` and one band the index is Wang & Bovik's universal image quality index.
    """
    r, f = _pair(ref, fused)
    shift = block if shift is None else shift
    c, h, w = r.shape
    n = 1 << max(0, math.ceil(math.log2(c))) if c > 1 else 1
    if n != c:
        zeros = r.new_zeros(n - c, h, w)
        r, f = torch.cat([r, zeros]), torch.cat([f, zeros])
    ny, nx = max(1, math.ceil((h - block) / shift) + 1), max(1, math.ceil((w - block) / shift) + 1)
    pad_h = max(0, (ny - 1) * shift + block - h)
    pad_w = max(0, (nx - 1) * shift + block - w)
    if pad_h > h or pad_w > w:
        raise MetricInputError(f"image {h}x{w} is too small for {block}x{block} blocks")
    r, f = _symmetric_pad_end(r, pad_h, pad_w), _symmetric_pad_end(f, pad_h, pad_w)
    # (n, ny, nx, block*block)
    rb = r.unfold(1, block, shift).unfold(2, block, shift).reshape(n, ny, nx, -1)
    fb = f.unfold(1, block, shift).unfold(2, block, shift).reshape(n, ny, nx, -1)
    if normalize:
        mu = rb.mean(-1, keepdim=True)
        sd = rb.std(-1, keepdim=True)
        sd = torch.where(sd == 0, torch.full_like(sd, torch.finfo(sd.dtype).eps), sd)
        rb = (rb - mu) / sd + 1.0
        fb = (fb - mu) / sd + 1.0
    fb = _conj(fb)
    npx = rb.shape[-1]
    unbias = npx / (npx - 1)
    m1, m2 = rb.mean(-1), fb.mean(-1)  # (n, ny, nx)
    m1sq, m2sq = (m1**2).sum(0), (m2**2).sum(0)
    var_sum = unbias * ((rb**2).sum(0).mean(-1) + (fb**2).sum(0).mean(-1) - m1sq - m2sq)
    mean_bias = 2 * m1sq.sqrt() * m2sq.sqrt() / (m1sq + m2sq)
    cov = unbias * (hypercomplex_mul(rb, fb).mean(-1) - hypercomplex_mul(m1, m2))
    safe = var_sum != 0
    q = torch.where(safe, 2.0 * cov.norm(dim=0) / torch.where(safe, var_sum, 1.0), 1.0)
    q = q * mean_bias
    return q.nan_to_num(0.0)


def q2n(ref: torch.Tensor, fused: torch.Tensor, block: int = 32) -> float:
    """Q2n (Q4/Q8/...) averaged over non-overlapping ``block`` x ``block`` blocks."""
    return float(q2n_blocks(ref, fused, block).mean())


# --------------------------------------------------------------------------- no-reference


def uiqi_sliding(x: torch.Tensor, y: torch.Tensor, window: int) -> torch.Tensor:
    """Universal image quality index of two ``(H, W)`` images on sliding uniform windows (mean)."""
    a, b = x.double()[None, None], y.double()[None, None]
    window = max(2, min(window, a.shape[-1], a.shape[-2]))

    def box(t: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(t, window, stride=1)

    ma, mb = box(a), box(b)
    va, vb = box(a * a) - ma**2, box(b * b) - mb**2
    cab = box(a * b) - ma * mb
    num = 4 * cab * ma * mb
    den = (va + vb) * (ma**2 + mb**2)
    q = torch.where(den.abs() > 1e-12, num / den.where(den.abs() > 1e-12, 1.0), 1.0)
    return q.mean()


def d_lambda(
    fused: torch.Tensor, ms: torch.Tensor, ratio: int, window: int = 32, p: int = 1
) -> float:
    """Spectral distortion of QNR: inter-band UIQI changes between the MS and the fused image."""
    c = fused.shape[0]
    if c < 2:
        return 0.0
    w_lr = max(2, window // ratio)
    acc = 0.0
    for i in range(c):
        for j in range(i + 1, c):
            q_hi = uiqi_sliding(fused[i], fused[j], window)
            q_lo = uiqi_sliding(ms[i], ms[j], w_lr)
            acc += float((q_hi - q_lo).abs() ** p)
    return (acc * 2.0 / (c * (c - 1))) ** (1.0 / p)


def d_s(
    fused: torch.Tensor,
    ms: torch.Tensor,
    pan: torch.Tensor,
    ratio: int,
    gain_pan: float,
    phase_px: float | None = None,
    window: int = 32,
    q: int = 1,
) -> float:
    """Spatial distortion of QNR: UIQI(fused_b, PAN) against UIQI(ms_b, MTF-degraded PAN)."""
    pan_lr = gaussian_decimate(pan, ratio, gain_pan, phase_px)[0]
    w_lr = max(2, window // ratio)
    acc = 0.0
    for b in range(fused.shape[0]):
        q_hi = uiqi_sliding(fused[b], pan[0], window)
        q_lo = uiqi_sliding(ms[b], pan_lr, w_lr)
        acc += float((q_hi - q_lo).abs() ** q)
    return (acc / fused.shape[0]) ** (1.0 / q)


def qnr(
    fused: torch.Tensor,
    ms: torch.Tensor,
    pan: torch.Tensor,
    ratio: int,
    gain_pan: float,
    phase_px: float | None = None,
) -> dict[str, float]:
    """``{"D_lambda", "D_s", "QNR"}`` at full resolution."""
    dl = d_lambda(fused, ms, ratio)
    ds = d_s(fused, ms, pan, ratio, gain_pan, phase_px)
    return {"D_lambda": dl, "D_s": ds, "QNR": (1 - dl) * (1 - ds)}


def hqnr(
    fused: torch.Tensor,
    ms: torch.Tensor,
    pan: torch.Tensor,
    ratio: int,
    gains_ms: float | Sequence[float],
    gain_pan: float,
    phase_px: float | None = None,
) -> dict[str, float]:
    """``{"D_lambda_K", "D_s", "HQNR"}``: Khan's spectral distortion with QNR's D_s."""
    degraded = gaussian_decimate(fused, ratio, gains_ms, phase_px)
    block = min(32, ms.shape[-1], ms.shape[-2])
    dlk = 1.0 - q2n(ms, degraded, block)
    ds = d_s(fused, ms, pan, ratio, gain_pan, phase_px)
    return {"D_lambda_K": dlk, "D_s": ds, "HQNR": (1 - dlk) * (1 - ds)}


def score_reduced(
    ref: torch.Tensor, fused: torch.Tensor, ratio: int, border_px: int = 0, with_ssim: bool = True
) -> dict[str, float]:
    """All reference-based indices after cutting ``border_px`` on each side."""
    r, f = cut_border(ref, border_px), cut_border(fused, border_px)
    out = {
        "PSNR": psnr(r, f),
        "SAM": sam_deg(r, f),
        "ERGAS": ergas(r, f, ratio),
        "Q2n": q2n(r, f, min(32, r.shape[-1], r.shape[-2])),
    }
    if with_ssim:
        out["SSIM"] = ssim(r, f)
    return out
