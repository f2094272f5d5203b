"""Learned spatial degradation (blur + decimation) and its adjoint, shared by the HS fusion nets."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from fusion_ops.imagery.degrade import _shifted_gaussian_taps, centred_phase, mtf_sigma_px


class SpatialDegradation(nn.Module):
    """``C``: a learnable 2-D blur shared by all bands, sampled every ``ratio`` pixels at a phase.

    Initialised to the MTF-matched Gaussian of :func:`fusion_ops.imagery.degrade.gaussian_decimate`
    (same taps, same phase), then learned; the kernel is kept non-negative and normalised.
    """

    def __init__(self, ratio: int, gain: float = 0.3, phase_px: float | None = None) -> None:
        super().__init__()
        phase = centred_phase(ratio) if phase_px is None else float(phase_px)
        self.ratio = int(ratio)
        self.q = math.floor(phase)
        taps, half = _shifted_gaussian_taps(mtf_sigma_px(gain, ratio), phase - self.q)
        self.half = half
        k2 = torch.outer(taps, taps).float()
        # log-parameterisation keeps the kernel positive
        self.log_kernel = nn.Parameter(k2.clamp_min(1e-8).log())

    def kernel(self) -> torch.Tensor:
        k = self.log_kernel.exp()
        return k / k.sum()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, H, W)`` -> ``(B, C, H // ratio, W // ratio)``."""
        b, c, h, w = x.shape
        r, q, half = self.ratio, self.q, self.half
        length = self.log_kernel.shape[-1]
        off = max(0, -q)
        pl = half + off
        ho, wo = h // r, w // r
        pr_h = max(0, q + r * (ho - 1) + half + 2 - h) + 1
        pr_w = max(0, q + r * (wo - 1) + half + 2 - w) + 1
        xp = F.pad(x, (pl, pr_w, pl, pr_h), mode="replicate")[..., off + q :, off + q :]
        k = self.kernel().to(x.dtype).expand(c, 1, length, length)
        return F.conv2d(xp, k, stride=r, groups=c)[..., :ho, :wo]

    def adjoint(self, e: torch.Tensor, height: int, width: int) -> torch.Tensor:
        """Transpose of :meth:`forward` (ignoring border replication): coarse -> fine grid."""
        c = e.shape[1]
        length = self.log_kernel.shape[-1]
        k = self.kernel().to(e.dtype).expand(c, 1, length, length)
        u = F.conv_transpose2d(e, k, stride=self.ratio, groups=c)
        start = self.half - self.q
        need_h = start + height - u.shape[-2]
        need_w = start + width - u.shape[-1]
        if need_h > 0 or need_w > 0:
            u = F.pad(u, (0, max(0, need_w), 0, max(0, need_h)))
        return u[..., start : start + height, start : start + width]
