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
  padding.  ``sewar.full_ref.q2n`` (sewar >= 0.4.8) computes the same index block by block in
  numpy; this vectorised torch version is kept because it also returns the per-block map
  (:func:`q2n_blocks`, any step) and runs on the tensors' device.  A test pins the two to 1e-9 on
  imgWV2 and Landsat-7 crops (they differ by ~2e-16).
* D_lambda, D_s, QNR (Alparone et al. 2008): universal image quality index (UIQI, Wang & Bovik
  2002) averaged over every ``S x S`` uniform window, stride 1, valid positions (``S`` = 32 at
  the fine scale, ``32 // ratio`` at the coarse scale), exponents p = q = 1.  D_s compares each
  fused band with the PAN against each MS band with the PAN degraded by the PAN MTF.  The
  window sums come from summed-area tables (:func:`box_mean`), so the cost per pixel does not
  depend on ``S``; :func:`uiqi_map_direct` is the ``avg_pool2d`` computation they are checked
  against.  torchmetrics' ``spectral_distortion_index`` / ``spatial_distortion_index`` average
  the same |Q differences| but compute the UIQI on a Gaussian 11 x 11 (sigma 1.5) window at
  both scales; sewar's ``no_ref.d_lambda`` / ``d_s`` use its ``uqi`` (8 x 8 at both scales, with
  window sums and means mixed in its formula) and a box-filtered, resized PAN.  Their values
  differ from this window convention, so they are not used (see docs/imagery.md).
* HQNR (Aiazzi et al. 2014) = ``(1 - D_lambda^K) (1 - D_s)`` with Khan's
  ``D_lambda^K = 1 - Q2n(MTF-degraded fused, MS)``.  Neither sewar nor torchmetrics has it.
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
#
# QNR's universal image quality index (UIQI) is averaged over every S x S window (stride 1). Each
# window needs the local means, variances and covariance of the two images, i.e. box sums.
# ``avg_pool2d`` costs S^2 additions per output pixel (1024 at S = 32) and did not finish the
# full-resolution indices of a 1280 x 1280 8-band scene in 3 minutes; a summed-area table
# (integral image) gives every window sum with a few look-ups, whatever S.

#: A window whose variances sum to at most this fraction of the two bands' squared maxima is flat
#: (zero variance up to rounding); the same tolerance decides a zero local mean.
_FLAT_REL = 1e-12
#: Output rows per strip in :func:`_pair_uiqi_means` (keeps a strip's arrays near the CPU cache).
_STRIP_ROWS = 32


def _window_sums(x: torch.Tensor, window: int, dim: int) -> torch.Tensor:
    """Sums of every run of ``window`` consecutive samples along ``dim`` (valid positions).

    From the cumulative sum ``c``: ``s[0] = c[w-1]``, ``s[k] = c[k+w-1] - c[k-1]``.
    """
    n = x.shape[dim]
    c = x.cumsum(dim)
    out = torch.empty_like(c.narrow(dim, 0, n - window + 1))
    out.narrow(dim, 0, 1).copy_(c.narrow(dim, window - 1, 1))
    torch.sub(
        c.narrow(dim, window, n - window),
        c.narrow(dim, 0, n - window),
        out=out.narrow(dim, 1, n - window),
    )
    return out


def box_mean(x: torch.Tensor, window: int) -> torch.Tensor:
    """Mean of every ``window`` x ``window`` box of the last two axes (valid positions, stride 1).

    Summed-area table: with ``T[i, j] = sum(x[:i, :j])`` the box sum at ``(i, j)`` is
    ``T[i+w, j+w] - T[i, j+w] - T[i+w, j] + T[i, j]``.  ``T`` is a cumulative sum along each axis
    and that four-term difference is a window difference along each axis, so the same sums are
    formed one axis at a time (cumulative sum and difference along the rows, then the columns):
    the running sums then grow with one side of the image, not its whole area, which keeps the
    float64 rounding of the box sums near 1e-15 of the values.  Cost per pixel does not depend
    on ``window``.  Output ``(..., H - w + 1, W - w + 1)`` in float64.
    """
    h, w = x.shape[-2], x.shape[-1]
    if not 1 <= window <= min(h, w):
        raise MetricInputError(f"window {window} does not fit an image of {h}x{w}")
    x = x.double()
    rows = _window_sums(x, window, x.ndim - 1)
    return _window_sums(rows, window, x.ndim - 2).div_(float(window * window))


def _uiqi_from_moments(
    mx: torch.Tensor,
    my: torch.Tensor,
    vx: torch.Tensor,
    vy: torch.Tensor,
    cxy: torch.Tensor,
    tiny: float | torch.Tensor,
) -> torch.Tensor:
    """Wang & Bovik's ``Q = 4 c_xy m_x m_y / ((v_x + v_y)(m_x^2 + m_y^2))`` per window.

    Degenerate windows follow Wang's reference code (``img_qi.m``; sewar's ``uqi`` does the
    same): both windows flat -> ``2 m_x m_y / (m_x^2 + m_y^2)``; zero means -> 1.  "Flat" and
    "zero" mean at most ``tiny`` (a tolerance for rounding).
    """
    var_sum = vx + vy  # a variance below 0 is rounding; the flat test below catches it
    mean_sq = mx * mx + my * my
    q = 4.0 * cxy * mx * my / (var_sum * mean_sq)
    flat = var_sum <= tiny
    no_mean = mean_sq <= tiny
    if bool((flat | no_mean).any()):
        q = torch.where(flat | no_mean, 1.0, q)
        flat_mean = flat & ~no_mean
        q = torch.where(flat_mean, 2.0 * mx * my / torch.where(flat_mean, mean_sq, 1.0), q)
    return q


def _clamp_window(window: int, h: int, w: int) -> int:
    return max(2, min(int(window), h, w))


def _sq_max(x: torch.Tensor) -> torch.Tensor:
    """Squared maximum magnitude of each band of ``(N, H, W)`` (float64)."""
    top = torch.maximum(x.amax((-2, -1)), -x.amin((-2, -1))).double()
    return top * top


def uiqi_map(x: torch.Tensor, y: torch.Tensor, window: int) -> torch.Tensor:
    """UIQI of two ``(H, W)`` (or ``(N, H, W)``) images on every ``window`` x ``window`` box.

    Uniform window, stride 1, valid positions only (Wang's ``img_qi``); local moments from the
    summed-area table of :func:`box_mean`, on images centred on their global means (variances
    and covariances do not change; rounding shrinks).  ``window`` is clamped to
    ``[2, min(H, W)]``.  Output ``(..., H - w + 1, W - w + 1)``, float64.
    """
    if x.shape != y.shape:
        raise MetricInputError(f"UIQI images {tuple(x.shape)} and {tuple(y.shape)} differ")
    window = _clamp_window(window, x.shape[-2], x.shape[-1])
    a = x.double().reshape(-1, *x.shape[-2:])
    b = y.double().reshape(-1, *y.shape[-2:])
    oa, ob = a.mean((-2, -1), keepdim=True), b.mean((-2, -1), keepdim=True)
    a, b = a - oa, b - ob
    ma, mb = box_mean(a, window), box_mean(b, window)
    q = _uiqi_from_moments(
        ma + oa,
        mb + ob,
        box_mean(a * a, window) - ma * ma,
        box_mean(b * b, window) - mb * mb,
        box_mean(a * b, window) - ma * mb,
        (_FLAT_REL * (_sq_max(a + oa) + _sq_max(b + ob)))[:, None, None],
    )
    return q.reshape(*x.shape[:-2], *q.shape[-2:])


def uiqi_map_direct(x: torch.Tensor, y: torch.Tensor, window: int) -> torch.Tensor:
    """The map of :func:`uiqi_map` from ``avg_pool2d`` box means (``window^2`` adds per pixel).

    The slow reference that the summed-area table is checked against, and the speed baseline of
    ``bench/imagery.py --full-res-speed``.
    """
    if x.shape != y.shape:
        raise MetricInputError(f"UIQI images {tuple(x.shape)} and {tuple(y.shape)} differ")
    window = _clamp_window(window, x.shape[-2], x.shape[-1])
    a = x.double().reshape(-1, 1, *x.shape[-2:])
    b = y.double().reshape(-1, 1, *y.shape[-2:])

    def box(t: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(t, window, stride=1)

    ma, mb = box(a), box(b)
    tiny = _FLAT_REL * (_sq_max(a[:, 0]) + _sq_max(b[:, 0]))
    q = _uiqi_from_moments(
        ma,
        mb,
        box(a * a) - ma**2,
        box(b * b) - mb**2,
        box(a * b) - ma * mb,
        tiny[:, None, None, None],
    )
    return q.reshape(*x.shape[:-2], *q.shape[-2:])


def uiqi_sliding(x: torch.Tensor, y: torch.Tensor, window: int) -> torch.Tensor:
    """Mean UIQI of two ``(H, W)`` images over sliding uniform windows (summed-area table)."""
    return uiqi_map(x, y, window).mean()


def _pair_uiqi_means(x: torch.Tensor, y: torch.Tensor | None, window: int) -> torch.Tensor:
    """Mean UIQI maps of band pairs, as :func:`uiqi_map` gives them, averaged.

    ``y=None``: every pair ``(x_i, x_j)``, ``i < j``, in ``triu_indices`` order; otherwise each
    band of ``x`` ``(C, H, W)`` with the single band ``y`` ``(1, H, W)``.

    Computed in strips of :data:`_STRIP_ROWS` output rows: a strip's window sums need only its
    rows plus ``window - 1``, and its arrays stay small enough for the CPU cache (on a
    1280 x 1280 8-band image 2-3x faster than whole-image arrays, with the same sums).  The
    degenerate-window rules of :func:`_uiqi_from_moments` are applied only to pairs whose bands
    both have a near-flat (or near-zero-mean) window in the strip; elsewhere they cannot apply.
    """
    c, h, w = x.shape
    window = _clamp_window(window, h, w)
    ox = x.mean((-2, -1), keepdim=True, dtype=torch.float64)
    oy = ox if y is None else y.mean((-2, -1), keepdim=True, dtype=torch.float64)
    sx = _sq_max(x)
    sy = sx if y is None else _sq_max(y)
    # (first band, slice of second bands, offset in the output) for each group of pairs
    if y is None:
        groups, starts = [], [0]
        for i in range(c - 1):
            groups.append((i, slice(i + 1, c)))
            starts.append(starts[-1] + c - 1 - i)
    else:
        groups, starts = [(b, slice(0, 1)) for b in range(c)], list(range(c + 1))
    # conservative per-band screen for degenerate windows (2x the largest pair tolerance)
    screen = 2.0 * _FLAT_REL * float(sx.max() + sy.max())
    n_rows = h - window + 1
    acc = torch.zeros(starts[-1], dtype=torch.float64, device=x.device)
    for r0 in range(0, n_rows, _STRIP_ROWS):
        r1 = min(r0 + _STRIP_ROWS, n_rows)
        xs = x[:, r0 : r1 + window - 1].double() - ox
        mx = box_mean(xs, window)
        vx = box_mean(xs * xs, window).sub_(mx * mx)
        mean_x = mx + ox
        if y is None:
            ys, my, vy, mean_y = xs, mx, vx, mean_x
        else:
            ys = y[:, r0 : r1 + window - 1].double() - oy
            my = box_mean(ys, window)
            vy = box_mean(ys * ys, window).sub_(my * my)
            mean_y = my + oy
        sq_x, sq_y = mean_x * mean_x, mean_y * mean_y
        low_x = (vx.amin((-2, -1)) <= screen, sq_x.amin((-2, -1)) <= screen)
        low_y = (vy.amin((-2, -1)) <= screen, sq_y.amin((-2, -1)) <= screen)
        for k, (i, js) in enumerate(groups):
            cov = box_mean(xs[i] * ys[js], window).sub_(mx[i] * my[js])
            if bool(((low_x[0][i] & low_y[0][js]) | (low_x[1][i] & low_y[1][js])).any()):
                tiny = (_FLAT_REL * (sx[i] + sy[js]))[:, None, None]
                q = _uiqi_from_moments(mean_x[i], mean_y[js], vx[i], vy[js], cov, tiny)
            else:
                q = cov.mul_(mean_x[i]).mul_(mean_y[js]).mul_(4.0)
                q.div_((vx[i] + vy[js]).mul_(sq_x[i] + sq_y[js]))
            acc[starts[k] : starts[k + 1]] += q.sum((-2, -1))
    return acc / float(n_rows * (w - window + 1))


def _interband_q(x: torch.Tensor, window: int) -> torch.Tensor:
    """Mean UIQI of every band pair ``i < j`` of ``x`` ``(C, H, W)`` (``triu_indices`` order)."""
    if x.shape[0] < 2:
        return torch.zeros(0, dtype=torch.float64)
    return _pair_uiqi_means(x, None, window)


def _band_pan_q(x: torch.Tensor, pan: torch.Tensor, window: int) -> torch.Tensor:
    """Mean UIQI of each band of ``x`` ``(C, H, W)`` with ``pan`` ``(H, W)``; shape ``(C,)``."""
    return _pair_uiqi_means(x, pan.reshape(1, *pan.shape[-2:]), window)


def _check_full_res(
    fused: torch.Tensor, ms: torch.Tensor, pan: torch.Tensor | None, ratio: int
) -> None:
    if fused.ndim != 3 or ms.ndim != 3 or fused.shape[0] != ms.shape[0]:
        raise MetricInputError(
            f"fused {tuple(fused.shape)} and MS {tuple(ms.shape)} must be (C, H, W) with equal C"
        )
    if fused.shape[-2:] != (ms.shape[-2] * ratio, ms.shape[-1] * ratio):
        raise MetricInputError(
            f"fused {tuple(fused.shape[-2:])} is not ratio {ratio} x MS {tuple(ms.shape[-2:])}"
        )
    if pan is not None and tuple(pan.shape) != (1, *fused.shape[-2:]):
        raise MetricInputError(
            f"PAN {tuple(pan.shape)} must be (1, {fused.shape[-2]}, {fused.shape[-1]})"
        )


def _distortion(q_hi: torch.Tensor, q_lo: torch.Tensor, p: int) -> float:
    if q_hi.numel() == 0:
        return 0.0
    return float(((q_hi - q_lo).abs() ** p).mean() ** (1.0 / p))


def d_lambda(
    fused: torch.Tensor, ms: torch.Tensor, ratio: int, window: int = 32, p: int = 1
) -> float:
    """Spectral distortion of QNR: inter-band UIQI changes between the MS and the fused image.

    ``(mean over band pairs i < j of |Q(f_i, f_j) - Q(ms_i, ms_j)|^p)^(1/p)`` with the UIQI
    averaged over sliding ``window`` boxes at the fine scale and ``window // ratio`` boxes at the
    coarse scale.
    """
    _check_full_res(fused, ms, None, ratio)
    return _distortion(_interband_q(fused, window), _interband_q(ms, max(2, window // ratio)), p)


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
    """Spatial distortion of QNR: UIQI(fused_b, PAN) against UIQI(ms_b, MTF-degraded PAN).

    ``(mean over bands of |Q(f_b, P) - Q(ms_b, P_lr)|^q)^(1/q)``, ``P_lr`` = the PAN blurred by
    its MTF (gain ``gain_pan`` at Nyquist) and decimated at ``phase_px``.
    """
    _check_full_res(fused, ms, pan, ratio)
    pan_lr = gaussian_decimate(pan, ratio, gain_pan, phase_px)[0]
    return _distortion(
        _band_pan_q(fused, pan[0], window), _band_pan_q(ms, pan_lr, max(2, window // ratio)), q
    )


def qnr(
    fused: torch.Tensor,
    ms: torch.Tensor,
    pan: torch.Tensor,
    ratio: int,
    gain_pan: float,
    phase_px: float | None = None,
) -> dict[str, float]:
    """``{"D_lambda", "D_s", "QNR"}`` at full resolution (p = q = 1, alpha = beta = 1)."""
    dl = d_lambda(fused, ms, ratio)
    ds = d_s(fused, ms, pan, ratio, gain_pan, phase_px)
    return {"D_lambda": dl, "D_s": ds, "QNR": (1 - dl) * (1 - ds)}


def d_lambda_khan(
    fused: torch.Tensor,
    ms: torch.Tensor,
    ratio: int,
    gains_ms: float | Sequence[float],
    phase_px: float | None = None,
) -> float:
    """Khan's spectral distortion: ``1 - Q2n(MS, fused blurred by the MS MTF and decimated)``."""
    _check_full_res(fused, ms, None, ratio)
    degraded = gaussian_decimate(fused, ratio, gains_ms, phase_px)
    return 1.0 - q2n(ms, degraded, min(32, ms.shape[-1], ms.shape[-2]))


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
    dlk = d_lambda_khan(fused, ms, ratio, gains_ms, phase_px)
    ds = d_s(fused, ms, pan, ratio, gain_pan, phase_px)
    return {"D_lambda_K": dlk, "D_s": ds, "HQNR": (1 - dlk) * (1 - ds)}


def full_resolution_scores(
    fused: torch.Tensor,
    ms: torch.Tensor,
    pan: torch.Tensor,
    ratio: int,
    gains_ms: float | Sequence[float],
    gain_pan: float,
    phase_px: float | None = None,
) -> dict[str, float]:
    """``D_lambda``, ``D_s``, ``QNR``, ``D_lambda_K`` and ``HQNR`` (the values of :func:`qnr` and
    :func:`hqnr`, with D_s computed once)."""
    dl = d_lambda(fused, ms, ratio)
    ds = d_s(fused, ms, pan, ratio, gain_pan, phase_px)
    dlk = d_lambda_khan(fused, ms, ratio, gains_ms, phase_px)
    return {
        "D_lambda": dl,
        "D_s": ds,
        "QNR": (1 - dl) * (1 - ds),
        "D_lambda_K": dlk,
        "HQNR": (1 - dlk) * (1 - ds),
    }


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
