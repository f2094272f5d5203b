"""Two-branch residual pansharpening CNN (after Shao & Cai 2018, IEEE JSTARS 11:1656).

An MS branch (shallow) and a PAN branch (deeper) extract features on the PAN grid; the
concatenated features go through a fusion stage that predicts the detail residual added to the
upsampled MS.  :class:`MultiSourceFusionNet` is the generic form behind it: one encoder per
source, a fused representation, a decoder, optionally residual on one source.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


def _conv_stack(c_in: int, width: int, depth: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(depth):
        layers += [
            nn.Conv2d(c_in if i == 0 else width, width, 3, padding=1, padding_mode="replicate")
        ]
        layers += [nn.LeakyReLU(0.1, inplace=True)]
    return nn.Sequential(*layers)


class MultiSourceFusionNet(nn.Module):
    """Generic encoder-per-source / fused representation / decoder network.

    Parameters
    ----------
    source_channels : sequence of int
        Channels of each source (all sources on the same grid).
    out_channels : int
        Channels of the output.
    encoder_depths : sequence of int
        Convolutions in each source's encoder.
    width : int
        Feature channels of every encoder and of the decoder.
    decoder_depth : int
        Convolutions in the decoder before the output projection.
    residual_source : int or None
        If set, the output is added to that source (which must have ``out_channels`` bands).
    """

    def __init__(
        self,
        source_channels: Sequence[int],
        out_channels: int,
        encoder_depths: Sequence[int],
        width: int = 32,
        decoder_depth: int = 2,
        residual_source: int | None = 0,
    ) -> None:
        super().__init__()
        if len(source_channels) != len(encoder_depths):
            raise ValueError("one encoder depth per source is required")
        if residual_source is not None and source_channels[residual_source] != out_channels:
            raise ValueError("the residual source must have out_channels bands")
        self.encoders = nn.ModuleList(
            _conv_stack(c, width, d) for c, d in zip(source_channels, encoder_depths, strict=True)
        )
        self.decoder = _conv_stack(width * len(source_channels), width, decoder_depth)
        self.head = nn.Conv2d(width, out_channels, 3, padding=1, padding_mode="replicate")
        # start from the residual source itself: the first steps only have to learn details
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)
        self.residual_source = residual_source

    def forward(self, *sources: torch.Tensor) -> torch.Tensor:
        feats = torch.cat([enc(s) for enc, s in zip(self.encoders, sources, strict=True)], dim=1)
        out = self.head(self.decoder(feats))
        if self.residual_source is not None:
            out = out + sources[self.residual_source]
        return out


class TwoBranchPansharpenNet(MultiSourceFusionNet):
    """Shao & Cai two-branch residual CNN: ``fused = base + f(MS branch, PAN branch)``.

    * MS branch input: the upsampled MS (and, with ``detail_prior``, the prior's fused image).
    * PAN branch input (deeper): the standardised PAN and its MTF high-pass detail.
    * ``base``: the upsampled MS as in the paper, or with ``detail_prior=True`` the MTF-GLP-HPM
      result, so that the network learns a correction of a physically based detail injection
      (the form used by the benchmark: it learns far faster from one small scene).

    Parameters
    ----------
    n_bands : int
        MS bands (any number).
    width, ms_depth, pan_depth, fusion_depth : int
        Feature width and depths of the MS branch, the (deeper) PAN branch and the fusion stage.
    detail_prior : bool
        Add the classic detail-injected image as MS-branch input and as the residual base.
    """

    def __init__(
        self,
        n_bands: int,
        width: int = 24,
        ms_depth: int = 2,
        pan_depth: int = 4,
        fusion_depth: int = 2,
        detail_prior: bool = True,
    ) -> None:
        super().__init__(
            source_channels=(n_bands * (2 if detail_prior else 1), 2),
            out_channels=n_bands,
            encoder_depths=(ms_depth, pan_depth),
            width=width,
            decoder_depth=fusion_depth,
            residual_source=None,
        )
        self.n_bands = n_bands
        self.detail_prior = detail_prior

    def forward(  # type: ignore[override]
        self, ms_up: torch.Tensor, pan_pair: torch.Tensor, prior: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``ms_up`` (B, C, H, W); ``pan_pair`` (B, 2, H, W) = [PAN, PAN detail]; ``prior`` (B, C, H, W)."""
        if self.detail_prior:
            if prior is None:
                raise ValueError("this network was built with detail_prior=True: pass prior")
            residual = super().forward(torch.cat([ms_up, prior], dim=1), pan_pair)
            return prior + residual
        return ms_up + super().forward(ms_up, pan_pair)
