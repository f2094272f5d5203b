"""Classic fusion baselines: EXP, Brovey, GSA, MTF-GLP-HPM (pansharpening) and HS upsampling, GLP-HS.

All methods take the coarse image ``ms`` ``(C, h, w)``, the fine image ``pan`` ``(1, H, W)`` (or a
multi-band fine image for HS fusion), the integer ``ratio`` and the sampling ``phase_px`` (see
:mod:`fusion_ops.imagery.degrade`), and return the fused ``(C, H, W)`` image.

MTF-GLP-HPM variant implemented: the *internally consistent* one of the data README: the PAN is
equalised per band (mean/std) to the upsampled MS using the statistics of its low-passed version,
the low-pass image is PAN -> MTF Gaussian -> decimate -> re-interpolate with the same phase as the
MS upsampling, and the injection is multiplicative, ``MS_up * P_eq / P_lp``.  The division is
guarded: where ``P_lp`` falls below a small fraction of the band mean the method falls back to
additive injection ``MS_up + (P_eq - P_lp)`` (the equalisation can drive ``P_lp`` to ~0 on
Landsat-7 SWIR/red/NIR bands).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from fusion_ops.imagery.degrade import gaussian_decimate, upsample

_EPS = 1e-9


def _check(ms: torch.Tensor, pan: torch.Tensor, ratio: int) -> None:
    if ms.ndim != 3 or pan.ndim != 3:
        raise ValueError(f"expected (C,h,w) MS and (c,H,W) fine image, got {ms.shape}, {pan.shape}")
    if pan.shape[-2:] != (ms.shape[-2] * ratio, ms.shape[-1] * ratio):
        raise ValueError(f"fine image {tuple(pan.shape)} is not ratio {ratio} x {tuple(ms.shape)}")


def exp_upsample(ms: torch.Tensor, ratio: int, phase_px: float | None = None) -> torch.Tensor:
    """EXP: bicubic interpolation of the MS onto the PAN grid."""
    return upsample(ms, ratio, phase_px)


def _std(x: torch.Tensor) -> torch.Tensor:
    return x.std().clamp_min(_EPS)


def brovey(
    ms: torch.Tensor, pan: torch.Tensor, ratio: int, phase_px: float | None = None
) -> torch.Tensor:
    """Brovey transform: ``MS_up * P_eq / I`` with ``I`` the band mean and ``P`` equalised to ``I``."""
    _check(ms, pan, ratio)
    up = upsample(ms, ratio, phase_px)
    intensity = up.mean(0, keepdim=True)
    p = pan[:1]
    p_eq = (p - p.mean()) * (_std(intensity) / _std(p)) + intensity.mean()
    return up * p_eq / (intensity + _EPS)


def gsa(
    ms: torch.Tensor,
    pan: torch.Tensor,
    ratio: int,
    gains_ms: float | Sequence[float] = 0.3,
    gain_pan: float = 0.15,
    phase_px: float | None = None,
) -> torch.Tensor:
    """Gram-Schmidt adaptive (Aiazzi et al. 2007).

    The intensity is the least-squares combination (with offset) of the MS bands that best
    predicts the PAN degraded to the MS scale; PAN is equalised to that intensity and injected
    with the per-band Gram-Schmidt gains ``cov(MS_b, I) / var(I)``.
    """
    _check(ms, pan, ratio)
    up = upsample(ms, ratio, phase_px)
    ms0 = ms - ms.mean(dim=(1, 2), keepdim=True)
    up0 = up - up.mean(dim=(1, 2), keepdim=True)
    p = pan[:1] - pan[:1].mean()
    p_lr = gaussian_decimate(p, ratio, gain_pan, phase_px)
    design = torch.cat([ms0.reshape(ms.shape[0], -1), ms0.new_ones(1, ms0[0].numel())]).T
    alpha = torch.linalg.lstsq(design.double(), p_lr.reshape(-1, 1).double()).solution.float()
    intensity = torch.einsum("c,chw->hw", alpha[:-1, 0], up0) + alpha[-1, 0]
    intensity = intensity[None]
    intensity = intensity - intensity.mean()
    p_eq = (p - p.mean()) * (_std(intensity) / _std(p)) + intensity.mean()
    ic = intensity - intensity.mean()
    gains = (up0 * ic).mean(dim=(1, 2), keepdim=True) / (ic.var(unbiased=False) + _EPS)
    fused = up0 + gains * (p_eq - intensity)
    return fused + up.mean(dim=(1, 2), keepdim=True)


def mtf_glp_hpm(
    ms: torch.Tensor,
    pan: torch.Tensor,
    ratio: int,
    gains_ms: float | Sequence[float] = 0.3,
    phase_px: float | None = None,
    floor_frac: float = 0.05,
) -> torch.Tensor:
    """MTF-GLP with high-pass modulation (internally consistent variant, guarded division).

    Parameters
    ----------
    gains_ms : float or sequence
        MS MTF gains at Nyquist: the PAN low-pass of band ``b`` uses band ``b``'s MTF.
    floor_frac : float
        Where the equalised low-pass PAN is below ``floor_frac`` x the band mean, use additive
        injection instead of the ratio.
    """
    _check(ms, pan, ratio)
    c = ms.shape[0]
    up = upsample(ms, ratio, phase_px)
    p = pan[:1].expand(c, -1, -1)
    p_lp = upsample(gaussian_decimate(p, ratio, gains_ms, phase_px), ratio, phase_px)
    mu_lp = p_lp.mean(dim=(1, 2), keepdim=True)
    sd_lp = p_lp.std(dim=(1, 2), keepdim=True).clamp_min(_EPS)
    mu_up = up.mean(dim=(1, 2), keepdim=True)
    sd_up = up.std(dim=(1, 2), keepdim=True)
    scale = sd_up / sd_lp
    p_eq = (p - mu_lp) * scale + mu_up
    lp_eq = (p_lp - mu_lp) * scale + mu_up
    floor = floor_frac * mu_up.abs().clamp_min(_EPS)
    ok = lp_eq > floor
    ratio_inj = up * p_eq / torch.where(ok, lp_eq, torch.ones_like(lp_eq))
    return torch.where(ok, ratio_inj, up + (p_eq - lp_eq))


# --------------------------------------------------------------------------- hyperspectral


def hs_upsample(hs: torch.Tensor, ratio: int, phase_px: float | None = None) -> torch.Tensor:
    """HS baseline 1: bicubic interpolation of the coarse HS cube."""
    return upsample(hs, ratio, phase_px)


def glp_hs(
    hs: torch.Tensor,
    guide: torch.Tensor,
    ratio: int,
    gain_hs: float = 0.3,
    phase_px: float | None = None,
    floor_frac: float = 0.05,
) -> torch.Tensor:
    """HS baseline 2: GLP hypersharpening (Selva et al. 2015) with HPM injection.

    For every HS band a synthetic PAN is regressed (least squares with offset) from the fine
    guide bands degraded to the HS scale; then MTF-GLP-HPM injects that synthetic PAN's detail.
    Works with any guide (MS, RGB or PAN).
    """
    _check(hs, guide, ratio)
    n_hs, n_g = hs.shape[0], guide.shape[0]
    g_lr = gaussian_decimate(guide, ratio, gain_hs, phase_px)
    design = torch.cat([g_lr.reshape(n_g, -1), g_lr.new_ones(1, g_lr[0].numel())]).T.double()
    coef = torch.linalg.lstsq(design, hs.reshape(n_hs, -1).T.double()).solution.float()
    synth = torch.einsum("gl,ghw->lhw", coef[:-1], guide) + coef[-1][:, None, None]
    up = upsample(hs, ratio, phase_px)
    s_lp = upsample(gaussian_decimate(synth, ratio, gain_hs, phase_px), ratio, phase_px)
    floor = floor_frac * up.mean(dim=(1, 2), keepdim=True).abs().clamp_min(_EPS)
    ok = s_lp > floor
    hpm = up * synth / torch.where(ok, s_lp, torch.ones_like(s_lp))
    return torch.where(ok, hpm, up + (synth - s_lp))
