"""Learned spatial degradation (blur + decimation) and its exact adjoint, for the HS fusion nets."""

from __future__ import annotations

import math

import torch
from torch import nn

from fusion_ops.imagery.degrade import (
    _shifted_gaussian_taps,
    centred_phase,
    mtf_sigma_px,
    separable_apply,
)


class SpatialDegradation(nn.Module):
    """``C``: a learnable separable blur shared by all bands, sampled every ``ratio`` pixels.

    Initialised to the MTF-matched Gaussian of :func:`fusion_ops.imagery.degrade.gaussian_decimate`
    (same taps, same phase, same replicated borders), then learned; the taps stay positive and
    normalised.  The operator is applied as two small dense matrices (rows, columns), which makes
    it fast on CPU and gives the exact adjoint ``C^T`` by transposition.
    """

    def __init__(self, ratio: int, gain: float = 0.3, phase_px: float | None = None) -> None:
        super().__init__()
        phase = centred_phase(ratio) if phase_px is None else float(phase_px)
        self.ratio = int(ratio)
        self.q = math.floor(phase)
        taps, half = _shifted_gaussian_taps(mtf_sigma_px(gain, ratio), phase - self.q)
        self.half = half
        self.log_taps = nn.Parameter(taps.float().clamp_min(1e-8).log())

    def taps(self) -> torch.Tensor:
        t = self.log_taps.exp()
        return t / t.sum()

    def matrix(self, n_in: int) -> torch.Tensor:
        """``(n_in // ratio, n_in)`` blur-and-sample matrix along one axis (replicated borders)."""
        n_out = n_in // self.ratio
        taps = self.taps()
        dev = taps.device
        rows = torch.arange(n_out, device=dev).repeat_interleave(taps.numel())
        m = torch.arange(-self.half, self.half + 2, device=dev).repeat(n_out)
        cols = (rows * self.ratio + self.q + m).clamp(0, n_in - 1)
        mat = torch.zeros(n_out, n_in, device=dev, dtype=taps.dtype)
        return mat.index_put((rows, cols), taps.repeat(n_out), accumulate=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, H, W)`` -> ``(B, C, H // ratio, W // ratio)``."""
        my = self.matrix(x.shape[-2]).to(x.dtype)
        mx = self.matrix(x.shape[-1]).to(x.dtype)
        return separable_apply(x, my, mx)

    def adjoint(self, e: torch.Tensor, height: int, width: int) -> torch.Tensor:
        """Exact transpose of :meth:`forward`: coarse ``(B, C, h, w)`` -> fine ``(B, C, H, W)``."""
        my = self.matrix(height).to(e.dtype)
        mx = self.matrix(width).to(e.dtype)
        return separable_apply(e, my.T, mx.T)
