"""Unsupervised per-scene HS super-resolution with RGB guidance (after Fu et al. 2019, CVPR).

The network is trained on one scene only, from its coarse HS cube and fine RGB image, through
reconstruction losses (see :func:`fusion_ops.imagery.train.train_rgb_guided`).  The camera
spectral response (CSR) that links the HS cube to the RGB is handled by two pieces:

* :func:`select_camera`: picks the database response that best explains the RGB from the HS at
  the coarse scale (per-channel gain allowed, relative residual as the criterion);
* :class:`CSRLayer`: a learned response, non-negative by construction (softplus) and smooth
  (second-difference penalty), initialised from the selected database entry.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from fusion_ops.imagery.degrade import gaussian_decimate, upsample
from fusion_ops.imagery.nets.spatial import SpatialDegradation
from fusion_ops.imagery.nets.two_branch import MultiSourceFusionNet


def normalise_responses(responses: torch.Tensor) -> torch.Tensor:
    """Scale each channel of ``(..., 3, L)`` responses to unit sum."""
    return responses / responses.sum(-1, keepdim=True).clamp_min(1e-12)


def project_rgb(hs: torch.Tensor, response: torch.Tensor) -> torch.Tensor:
    """RGB seen by a camera with ``response`` ``(3, L)`` from an HS cube ``(..., L, H, W)``."""
    if hs.ndim == 3:
        return F.conv2d(hs[None], response[:, :, None, None])[0]
    return F.conv2d(hs, response[:, :, None, None])


@torch.no_grad()
def camera_fit_errors(
    hs_lr: torch.Tensor,
    rgb: torch.Tensor,
    database: torch.Tensor,
    ratio: int,
    gain: float = 0.3,
    phase_px: float | None = None,
) -> torch.Tensor:
    """Relative RGB residual of every database camera ``(n_cam, 3, L)`` at the coarse scale."""
    rgb_lr = gaussian_decimate(rgb, ratio, gain, phase_px).double()
    pred = torch.einsum("lhw,ncl->nchw", hs_lr.double(), database.double())
    obs = rgb_lr.unsqueeze(0)
    # per-channel gain: cameras differ in white balance / exposure, not only in shape
    g = (pred * obs).sum((-2, -1), keepdim=True) / (pred * pred).sum(
        (-2, -1), keepdim=True
    ).clamp_min(1e-12)
    resid = (g * pred - obs).pow(2).sum((1, 2, 3)).sqrt()
    return (resid / obs.pow(2).sum().sqrt()).float()


def select_camera(
    hs_lr: torch.Tensor,
    rgb: torch.Tensor,
    database: torch.Tensor,
    ratio: int,
    gain: float = 0.3,
    phase_px: float | None = None,
) -> tuple[int, torch.Tensor]:
    """Index of the database response that best explains ``rgb`` from ``hs_lr``, and all errors."""
    err = camera_fit_errors(hs_lr, rgb, database, ratio, gain, phase_px)
    return int(torch.argmin(err)), err


class CSRLayer(nn.Module):
    """Learned camera spectral response ``(3, L)``: non-negative (softplus) and smooth."""

    def __init__(self, init: torch.Tensor) -> None:
        super().__init__()
        x = init.float().clamp_min(1e-6)
        # inverse softplus so that the layer starts exactly at ``init``
        self.raw = nn.Parameter(x + torch.log(-torch.expm1(-x)))

    def response(self) -> torch.Tensor:
        return F.softplus(self.raw)

    def forward(self, hs: torch.Tensor) -> torch.Tensor:
        return project_rgb(hs, self.response())

    def smoothness(self) -> torch.Tensor:
        """Sum of squared second differences along wavelength, relative to the response energy."""
        r = self.response()
        d2 = r[:, 2:] - 2 * r[:, 1:-1] + r[:, :-2]
        return d2.pow(2).sum() / r.pow(2).sum().clamp_min(1e-12)


class RGBGuidedHSNet(nn.Module):
    """Fine HS = upsampled coarse HS + RGB detail mapped to HS + CNN(base, RGB) correction.

    * the RGB high-pass detail (RGB minus its degraded-and-reinterpolated self) is mapped to the
      HS bands by a learned linear spectral map (initialised by least squares at the coarse
      scale, :meth:`init_from_data`);
    * one encoder per source (base HS, RGB), a fused representation and a decoder predict the
      remaining residual;
    * ``degrade`` (spatial response, learned) and ``csr`` (:class:`CSRLayer`) are the physical
      layers the unsupervised reconstruction losses go through.
    """

    def __init__(
        self,
        n_hs: int,
        ratio: int,
        gain: float = 0.3,
        phase_px: float | None = None,
        width: int = 32,
        csr: CSRLayer | None = None,
    ) -> None:
        super().__init__()
        self.ratio, self.phase_px, self.gain = int(ratio), phase_px, float(gain)
        self.body = MultiSourceFusionNet(
            (n_hs, 3), n_hs, encoder_depths=(2, 3), width=width, decoder_depth=2, residual_source=0
        )
        self.degrade = SpatialDegradation(ratio, gain, phase_px)
        self.detail_map = nn.Parameter(torch.zeros(n_hs, 3))
        self.csr = csr

    @torch.no_grad()
    def init_from_data(self, rgb: torch.Tensor, z: torch.Tensor) -> None:
        """Least-squares spectral map from coarse RGB ``(3, H, W)`` to coarse HS ``(L, h, w)``."""
        c_lr = gaussian_decimate(rgb, self.ratio, self.gain, self.phase_px)
        c0 = c_lr.reshape(3, -1) - c_lr.reshape(3, -1).mean(1, keepdim=True)
        z0 = z.reshape(z.shape[0], -1) - z.reshape(z.shape[0], -1).mean(1, keepdim=True)
        sol = torch.linalg.lstsq(c0.T.double(), z0.T.double()).solution  # (3, L)
        self.detail_map.copy_(sol.T.float())

    def forward(self, rgb: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        up = upsample(z, self.ratio, self.phase_px)
        rgb_lp = upsample(self.degrade(rgb), self.ratio, self.phase_px)
        base = up + F.conv2d(rgb - rgb_lp, self.detail_map[:, :, None, None])
        return self.body(base, rgb)
