"""MS/HS fusion unfolding network after Xie et al. 2019 (MHF-Net, CVPR).

Observation model, with ``X`` the fine HS image (pixels x L bands):

* ``Y = X R + N``: the fine guide (MS or RGB, ``l`` bands) is a spectral projection of ``X``;
* ``Z = C X + N``: the coarse HS is a spatial degradation (blur + decimation, learned) of ``X``;
* low-rank spectral model ``X = Y A + Y' B``: what the guide explains linearly (``A``, l x L) plus
  ``rank`` unknown fine-resolution components ``Y'`` on a learned spectral basis ``B``.

``Y'`` is estimated by ``stages`` unrolled proximal-gradient steps on ``||C(YA + Y'B) - Z||^2``::

    Y'_{k+1} = prox_k( Y'_k - eta_k C^T(C(YA + Y'_k B) - Z) B^T )

where each proximal operator is a small residual CNN that also sees ``Y``.  ``A`` and ``B`` are
initialised from the scene's own inputs (least squares of ``Z`` on the degraded guide, then the
leading singular vectors of the residual) and trained end to end.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from fusion_ops.imagery.degrade import gaussian_decimate, upsample
from fusion_ops.imagery.nets.spatial import SpatialDegradation


class ProxNet(nn.Module):
    """Proximal operator: residual CNN on ``[Y', Y]`` returning the updated ``Y'``."""

    def __init__(self, rank: int, n_guide: int, width: int = 32, depth: int = 3) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c = rank + n_guide
        for _ in range(depth - 1):
            layers += [nn.Conv2d(c, width, 3, padding=1, padding_mode="replicate")]
            layers += [nn.LeakyReLU(0.1, inplace=True)]
            c = width
        last = nn.Conv2d(c, rank, 3, padding=1, padding_mode="replicate")
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)
        self.body = nn.Sequential(*layers, last)

    def forward(self, yh: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return yh + self.body(torch.cat([yh, y], dim=1))


class MHFNet(nn.Module):
    """Unrolled MHF-Net for any guide band count ``n_guide``, HS band count ``n_hs`` and ratio.

    ``forward(y, z)`` takes the fine guide ``(B, n_guide, H, W)`` and the coarse HS
    ``(B, n_hs, H / ratio, W / ratio)`` and returns the fine HS ``(B, n_hs, H, W)``.
    """

    def __init__(
        self,
        n_guide: int,
        n_hs: int,
        ratio: int,
        gain: float = 0.3,
        phase_px: float | None = None,
        rank: int = 8,
        stages: int = 4,
        width: int = 32,
    ) -> None:
        super().__init__()
        self.ratio, self.phase_px, self.rank = int(ratio), phase_px, int(rank)
        self.A = nn.Parameter(torch.zeros(n_guide + 1, n_hs))  # last row: offset
        self.B = nn.Parameter(torch.linalg.qr(torch.randn(n_hs, rank))[0].T.contiguous())
        self.degrade = SpatialDegradation(ratio, gain, phase_px)
        # C C^T has gain ~ 1 / ratio^2: a step of ratio^2 is the natural first guess
        self.eta = nn.Parameter(torch.full((stages,), 0.5 * ratio**2))
        self.prox = nn.ModuleList(ProxNet(rank, n_guide, width) for _ in range(stages))

    @classmethod
    @torch.no_grad()
    def from_data(
        cls,
        y: torch.Tensor,
        z: torch.Tensor,
        ratio: int,
        gain: float = 0.3,
        phase_px: float | None = None,
        **kwargs: int,
    ) -> MHFNet:
        """Build the net with ``A`` and ``B`` initialised from a guide ``y`` and coarse HS ``z``."""
        net = cls(y.shape[-3], z.shape[-3], ratio, gain, phase_px, **kwargs)
        y_lr = gaussian_decimate(y, ratio, gain, phase_px)
        n_g, n_hs = y.shape[-3], z.shape[-3]
        design = torch.cat([y_lr.reshape(n_g, -1), y_lr.new_ones(1, y_lr[0].numel())]).T.double()
        target = z.reshape(n_hs, -1).T.double()
        a = torch.linalg.lstsq(design, target).solution
        resid = target - design @ a
        _, _, vh = torch.linalg.svd(resid - resid.mean(0), full_matrices=False)
        k = min(net.rank, vh.shape[0])
        net.A.copy_(a.float())
        net.B[:k].copy_(vh[:k].float())
        return net

    def spectral(self, y: torch.Tensor) -> torch.Tensor:
        """``Y A`` (with offset): the part of ``X`` the guide explains linearly."""
        return F.conv2d(y, self.A[:-1].T[:, :, None, None], self.A[-1])

    def _to_basis(self, x: torch.Tensor) -> torch.Tensor:
        """Project ``(B, L, H, W)`` on the rows of ``B``: ``(B, rank, H, W)``."""
        return F.conv2d(x, self.B[:, :, None, None])

    def _from_basis(self, yh: torch.Tensor) -> torch.Tensor:
        """``Y' B``: ``(B, rank, H, W)`` -> ``(B, L, H, W)``."""
        return F.conv2d(yh, self.B.T[:, :, None, None])

    def forward(self, y: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        height, width = y.shape[-2:]
        base = self.spectral(y)
        # initial Y': the coarse residual, interpolated and projected on the basis
        resid = upsample(z - self.degrade(base), self.ratio, self.phase_px)
        yh = self._to_basis(resid)
        for eta, prox in zip(self.eta, self.prox, strict=True):
            x = base + self._from_basis(yh)
            err = self.degrade(x) - z
            grad = self._to_basis(self.degrade.adjoint(err, height, width))
            yh = prox(yh - eta * grad, y)
        return base + self._from_basis(yh)
