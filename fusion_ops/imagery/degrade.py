"""Wald's protocol: MTF-matched Gaussian degradation, phase-aware decimation and interpolation.

Conventions used across ``fusion_ops.imagery``
----------------------------------------------
* Images are ``torch.Tensor`` of shape ``(C, H, W)`` or ``(B, C, H, W)``, float.
* ``ratio`` is the integer ratio between the fine and the coarse pixel size.
* ``phase_px`` is the *fine-grid* coordinate (in fine pixels, 0-based) of the centre of coarse
  pixel 0; coarse pixel ``j`` is centred at ``ratio * j + phase_px``.  The centred convention
  (a coarse pixel covers ``ratio`` fine pixels exactly) is ``(ratio - 1) / 2``; the Landsat-7
  ETM+ pairs of the project data sit at ``-0.5`` (measured, see ``../shared/data/README.md``).
  Decimation samples at that phase and interpolation inverts it, so a reduced-resolution
  experiment stays internally consistent.

The MTF of a sensor is modelled as a Gaussian whose frequency response at the coarse Nyquist
frequency ``1 / (2 ratio)`` (cycles per fine pixel) equals the band's gain ``G``; in the spatial
domain its standard deviation is ``sigma = ratio * sqrt(-2 ln G) / pi`` fine pixels.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

#: Gain at Nyquist of the WorldView-2 MS bands (coastal, blue, green, yellow, red, red edge,
#: NIR1, NIR2) and PAN, as used by the pansharpening benchmark toolbox.
WV2_MTF_MS: tuple[float, ...] = (0.35,) * 7 + (0.27,)
WV2_MTF_PAN: float = 0.11
#: Generic gains for sensors without published values (the toolbox defaults: ``MTF.m`` falls
#: back to 0.3 for every MS band, ``MTF_PAN.m`` to 0.15).
GENERIC_MTF_MS: float = 0.3
GENERIC_MTF_PAN: float = 0.15


@dataclass(frozen=True)
class SensorMTF:
    """Gains at Nyquist of one sensor's MS bands (in ``band_order``) and of its PAN."""

    name: str
    ms: tuple[float, ...]
    pan: float
    band_order: str
    source: str

    def ms_gains(self, n_bands: int) -> tuple[tuple[float, ...], str]:
        """Gains for an ``n_bands`` image and how they were chosen.

        The table's gains when the band count matches; one gain repeated when the table has a
        single value; the B, G, R, NIR subset (bands 2, 3, 5, 7) of an 8-band WorldView table for
        a 4-band image, as the toolbox does for WV3 4-band data; otherwise the mean gain.
        """
        if len(self.ms) == n_bands:
            return self.ms, f"{self.name} per-band gains"
        if len(self.ms) == 1:
            return self.ms * n_bands, f"{self.name} gain for every band"
        if len(self.ms) == 8 and n_bands == 4:
            return tuple(self.ms[i] for i in (1, 2, 4, 6)), f"{self.name} B/G/R/NIR gains"
        mean = round(sum(self.ms) / len(self.ms), 4)
        return (mean,) * n_bands, (
            f"{self.name} mean gain ({len(self.ms)}-band table, {n_bands}-band image)"
        )


_TOOLBOX = (
    "Vivone et al., A Critical Comparison Among Pansharpening Algorithms, IEEE TGRS 53(5), "
    "2015, toolbox MTF.m / MTF_PAN.m"
)
#: Published gains at Nyquist, keyed by a short sensor code (see ``loaders.sensor_code`` for the
#: spellings a file may use).  WV2, WV3, GeoEye-1, IKONOS and QuickBird: the pansharpening
#: toolbox's tables (Vivone et al. 2015, kept unchanged in the 2021 benchmarking toolbox, Vivone
#: et al., IEEE JSTARS 14, 2021).  Pleiades MS: the 2021 toolbox's ``MTF.m`` entry ``PHR1B``;
#: Pleiades PAN: the system-level (restored product) MTF of 0.2 at Nyquist published by
#: Gleyzes et al., "Pleiades system architecture and main performances", ISPRS Archives
#: XXXV-B1, 2004 (0.09 before ground restoration).  Landsat-7 ETM+: the toolbox has no entry, so
#: its defaults (MS 0.3, PAN 0.15) stand in; they are not sensor measurements.
SENSOR_MTF: dict[str, SensorMTF] = {
    "WV2": SensorMTF(
        "WorldView-2",
        (0.35,) * 7 + (0.27,),
        0.11,
        "coastal, blue, green, yellow, red, red edge, NIR1, NIR2",
        _TOOLBOX,
    ),
    "WV3": SensorMTF(
        "WorldView-3",
        (0.325, 0.355, 0.360, 0.350, 0.365, 0.360, 0.335, 0.315),
        0.14,
        "coastal, blue, green, yellow, red, red edge, NIR1, NIR2",
        _TOOLBOX,
    ),
    "GE1": SensorMTF("GeoEye-1", (0.23, 0.23, 0.23, 0.23), 0.16, "blue, green, red, NIR", _TOOLBOX),
    "IKONOS": SensorMTF(
        "IKONOS", (0.26, 0.28, 0.29, 0.28), 0.17, "blue, green, red, NIR", _TOOLBOX
    ),
    "QB": SensorMTF("QuickBird", (0.34, 0.32, 0.30, 0.22), 0.15, "blue, green, red, NIR", _TOOLBOX),
    "PLEIADES": SensorMTF(
        "Pleiades",
        (0.285, 0.285, 0.29, 0.285),
        0.2,
        "blue, green, red, NIR",
        "MS: Vivone et al. 2021 toolbox MTF.m (PHR1B); PAN: Gleyzes et al., ISPRS Archives "
        "XXXV-B1, 2004 (system MTF at Nyquist)",
    ),
    "L7": SensorMTF(
        "Landsat-7 ETM+",
        (GENERIC_MTF_MS,),
        GENERIC_MTF_PAN,
        "any (one gain for every band)",
        "toolbox defaults (no published ETM+ entry in the toolbox tables)",
    ),
}


class DegradationError(ValueError):
    """Raised when an image cannot be degraded as asked (shape, ratio, gains)."""


def centred_phase(ratio: int) -> float:
    """Phase of a coarse grid whose pixels tile exactly ``ratio`` x ``ratio`` fine pixels."""
    return (ratio - 1) / 2.0


def mtf_sigma_px(gain_nyquist: float, ratio: int) -> float:
    """Standard deviation (fine pixels) of the Gaussian MTF with ``gain_nyquist`` at Nyquist.

    Parameters
    ----------
    gain_nyquist : float
        Modulation transfer at the coarse Nyquist frequency, in (0, 1).
    ratio : int
        Fine-to-coarse pixel size ratio.
    """
    if not 0.0 < gain_nyquist < 1.0:
        raise DegradationError(f"MTF gain at Nyquist must be in (0, 1), got {gain_nyquist}")
    return ratio * math.sqrt(-2.0 * math.log(gain_nyquist)) / math.pi


def _as_4d(x: torch.Tensor) -> tuple[torch.Tensor, bool]:
    if x.ndim == 3:
        return x.unsqueeze(0), True
    if x.ndim == 4:
        return x, False
    raise DegradationError(f"expected an image of shape (C,H,W) or (B,C,H,W), got {tuple(x.shape)}")


def _gains(gains: float | Sequence[float], n_bands: int) -> list[float]:
    if isinstance(gains, int | float):
        return [float(gains)] * n_bands
    gains = [float(g) for g in gains]
    if len(gains) != n_bands:
        raise DegradationError(f"{len(gains)} MTF gains given for {n_bands} bands")
    return gains


def _shifted_gaussian_taps(sigma_px: float, frac: float) -> tuple[torch.Tensor, int]:
    """Normalised taps ``h[t] = g(t - K - frac)``, ``t = 0 .. 2K+1``; returns taps and K."""
    if sigma_px < 1e-6:
        # No blur: linear interpolation at the fractional position.
        return torch.tensor([1.0 - frac, frac], dtype=torch.float64), 0
    half = int(math.ceil(4.0 * sigma_px))
    t = torch.arange(-half, half + 2, dtype=torch.float64) - frac
    taps = torch.exp(-0.5 * (t / sigma_px) ** 2)
    return taps / taps.sum(), half


def gaussian_decimate(
    image: torch.Tensor,
    ratio: int,
    gains: float | Sequence[float],
    phase_px: float | None = None,
    decimate: bool = True,
) -> torch.Tensor:
    """Blur each band with its MTF-matched Gaussian and sample the coarse grid.

    Parameters
    ----------
    image : Tensor
        ``(C, H, W)`` or ``(B, C, H, W)`` fine image.
    ratio : int
        Integer ratio; the output is ``H // ratio`` x ``W // ratio`` (when ``decimate``).
    gains : float or sequence of float
        Gain at Nyquist, one for all bands or one per band.
    phase_px : float, optional
        Fine coordinate of coarse pixel 0 (default centred, ``(ratio - 1) / 2``).
    decimate : bool
        ``False`` returns the low-passed image on the fine grid (no sampling, no shift).

    Returns
    -------
    Tensor
        Same layout as ``image``; borders are replicated.
    """
    if int(ratio) != ratio or ratio < 1:
        raise DegradationError(f"ratio must be a positive integer, got {ratio}")
    ratio = int(ratio)
    x, squeezed = _as_4d(image)
    b, c, h, w = x.shape
    phase = centred_phase(ratio) if phase_px is None else float(phase_px)
    if not decimate:
        phase, step = 0.0, 1
    else:
        step = ratio
        if h < ratio or w < ratio:
            raise DegradationError(f"image {h}x{w} is smaller than the ratio {ratio}")
    q = math.floor(phase)
    frac = phase - q
    sigmas = [mtf_sigma_px(g, ratio) for g in _gains(gains, c)]
    taps = [_shifted_gaussian_taps(s, frac) for s in sigmas]
    half = max(k for _, k in taps)
    length = 2 * half + 2
    kernel = torch.zeros(c, length, dtype=torch.float64)
    for i, (tp, k) in enumerate(taps):
        # centre every band's taps in a common support of 2*half+2
        kernel[i, half - k : half - k + tp.numel()] = tp
    kernel = kernel.to(device=x.device, dtype=x.dtype)
    n_out_h = h // step
    n_out_w = w // step
    last_h = step * (n_out_h - 1) + q
    last_w = step * (n_out_w - 1) + q
    pad_l = half + max(0, -q)
    pad_rh = half + 1 + max(0, last_h - (h - 1))
    pad_rw = half + 1 + max(0, last_w - (w - 1))
    xp = F.pad(x.reshape(b, c, h, w), (pad_l, pad_rw, pad_l, pad_rh), mode="replicate")
    # separable correlation; the output index n corresponds to fine index n - max(0, -q)
    off = max(0, -q)
    kh = kernel.view(c, 1, length, 1)
    kw = kernel.view(c, 1, 1, length)
    # rows: only the rows we sample are needed
    y = F.conv2d(xp, kh, groups=c)
    y = y[:, :, off + q : off + q + step * (n_out_h - 1) + 1 : step, :]
    y = F.conv2d(y, kw, groups=c)
    y = y[:, :, :, off + q : off + q + step * (n_out_w - 1) + 1 : step]
    return y.squeeze(0) if squeezed else y


def _cubic(t: torch.Tensor, a: float = -0.5) -> torch.Tensor:
    """Keys cubic convolution kernel (``a = -0.5`` as in MATLAB's imresize)."""
    t = t.abs()
    t2, t3 = t * t, t * t * t
    near = (a + 2) * t3 - (a + 3) * t2 + 1
    far = a * t3 - 5 * a * t2 + 8 * a * t - 4 * a
    return torch.where(t <= 1, near, torch.where(t < 2, far, torch.zeros_like(t)))


def interpolation_matrix(
    n_in: int, ratio: int, phase_px: float | None = None, n_out: int | None = None
) -> torch.Tensor:
    """Dense ``(n_out, n_in)`` cubic interpolation matrix from a coarse to a fine axis.

    Fine pixel ``x`` reads coarse coordinate ``(x - phase_px) / ratio``; borders replicate.
    """
    phase = centred_phase(ratio) if phase_px is None else float(phase_px)
    n_out = n_in * ratio if n_out is None else n_out
    u = (torch.arange(n_out, dtype=torch.float64) - phase) / ratio
    base = torch.floor(u)
    mat = torch.zeros(n_out, n_in, dtype=torch.float64)
    rows = torch.arange(n_out)
    for k in (-1, 0, 1, 2):
        idx = base + k
        wgt = _cubic(u - idx)
        mat.index_put_((rows, idx.clamp(0, n_in - 1).long()), wgt, accumulate=True)
    return mat


def separable_apply(x: torch.Tensor, my: torch.Tensor, mx: torch.Tensor) -> torch.Tensor:
    """``my @ x @ mx.T`` on the last two axes, as two large GEMMs (fast on CPU and GPU)."""
    y = torch.matmul(x, mx.T)  # (..., H, w)
    return torch.matmul(y.transpose(-1, -2), my.T).transpose(-1, -2)  # (..., h, w)


def upsample(image: torch.Tensor, ratio: int, phase_px: float | None = None) -> torch.Tensor:
    """Bicubic interpolation of a coarse image onto the fine grid at the given phase.

    This is the EXP baseline; it inverts the sampling phase of :func:`gaussian_decimate`.
    """
    x, squeezed = _as_4d(image)
    _, _, h, w = x.shape
    my = interpolation_matrix(h, ratio, phase_px).to(device=x.device, dtype=x.dtype)
    mx = interpolation_matrix(w, ratio, phase_px).to(device=x.device, dtype=x.dtype)
    y = separable_apply(x, my, mx)
    return y.squeeze(0) if squeezed else y


def wald_reduce(
    ms: torch.Tensor,
    pan: torch.Tensor,
    ratio: int,
    gains_ms: float | Sequence[float],
    gain_pan: float | Sequence[float],
    phase_px: float | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Wald's protocol: degrade both sources by ``ratio``; the original ``ms`` becomes the reference.

    Parameters
    ----------
    ms : Tensor
        Coarse (spectral) source, ``(C, h, w)``; for HS/MS fusion this is the HS cube.
    pan : Tensor
        Fine (spatial) source, ``(Cp, h*ratio, w*ratio)``: PAN, MS or RGB.
    gains_ms, gain_pan : float or sequence
        Gains at Nyquist of the two sensors' MTFs.
    phase_px : float, optional
        Sampling phase (see module docstring), applied at both scales.

    Returns
    -------
    (Tensor, Tensor)
        ``(ms_reduced, pan_reduced)`` with shapes ``(C, h/ratio, w/ratio)`` and ``(Cp, h, w)``.
    """
    if pan.shape[-2] != ms.shape[-2] * ratio or pan.shape[-1] != ms.shape[-1] * ratio:
        raise DegradationError(
            f"fine source {tuple(pan.shape)} is not ratio {ratio} x coarse source {tuple(ms.shape)}"
        )
    return (
        gaussian_decimate(ms, ratio, gains_ms, phase_px),
        gaussian_decimate(pan, ratio, gain_pan, phase_px),
    )


def crop_to_multiple(image: torch.Tensor, multiple: int) -> torch.Tensor:
    """Crop the last two axes to a multiple of ``multiple`` (top-left anchored)."""
    h = image.shape[-2] - image.shape[-2] % multiple
    w = image.shape[-1] - image.shape[-1] % multiple
    return image[..., :h, :w]
