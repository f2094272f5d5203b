"""Sharpen coarse GOES ABI bands with the 0.5 km red band (C02), MTF-GLP with regression gain.

Additive injection ``band_up + g (C02 - C02_lp)`` with ``g = cov(band_up, C02_lp) / var(C02_lp)``
(the context-based-decision gain, global): unlike the multiplicative HPM it stays stable at night,
when the reflective bands sit at their noise floor and the ratio would amplify C02 noise.

Works on the native-resolution scene of :func:`fusion_ops.readers.satellite.native_scene_dataset`
(bands on ``y_<res>m`` / ``x_<res>m`` axes).  The ratio and the sampling phase are read from the
coordinates, so any sector (meso, CONUS, full disk) and any integer ratio work.  Quality: at full
resolution HQNR; at reduced resolution (Wald: C02 and the band both degraded by the ratio, the
band is the reference) the scores of HPM and of plain interpolation.
"""

from __future__ import annotations

import numpy as np
import torch
import xarray as xr

from fusion_ops.imagery import classic
from fusion_ops.imagery.degrade import GENERIC_MTF_MS, GENERIC_MTF_PAN, gaussian_decimate, upsample
from fusion_ops.imagery.metrics import hqnr, score_reduced

#: Reflective bands that a red-band detail injection can sharpen (blue, veggie, snow/ice).
DEFAULT_TARGETS: tuple[str, ...] = ("C01", "C03", "C05")


class AbiSharpenError(ValueError):
    """The scene lacks the fine band, or a band's grid is not an integer multiple of it."""


def glp_regression(
    ms: torch.Tensor, pan: torch.Tensor, ratio: int, gain: float, phase_px: float
) -> torch.Tensor:
    """MTF-GLP with a global regression injection gain per band (additive, no division)."""
    up = upsample(ms, ratio, phase_px)
    p_lp = upsample(gaussian_decimate(pan, ratio, gain, phase_px), ratio, phase_px)
    pc = p_lp - p_lp.mean()
    g = ((up - up.mean(dim=(1, 2), keepdim=True)) * pc).mean(dim=(1, 2), keepdim=True)
    g = g / pc.pow(2).mean().clamp_min(1e-12)
    return up + g * (pan - p_lp)


def _axis_phase(fine: np.ndarray, coarse: np.ndarray) -> tuple[int, float]:
    step_f = float(fine[1] - fine[0])
    step_c = float(coarse[1] - coarse[0])
    ratio_f = step_c / step_f
    ratio = int(round(ratio_f))
    if ratio < 1 or abs(ratio_f - ratio) > 1e-3:
        raise AbiSharpenError(f"pixel size ratio {ratio_f:.4f} is not an integer")
    return ratio, float((coarse[0] - fine[0]) / step_f)


def sharpen_native_scene(
    ds: xr.Dataset, fine_var: str = "C02", targets: tuple[str, ...] = DEFAULT_TARGETS
) -> tuple[xr.Dataset, dict[str, float]]:
    """Return the target bands on the ``fine_var`` grid and per-band quality metrics."""
    if fine_var not in ds:
        raise AbiSharpenError(f"scene has no {fine_var} band (has {sorted(ds.data_vars)})")
    fine = ds[fine_var]
    ydim, xdim = fine.dims
    pan = torch.from_numpy(np.nan_to_num(fine.values.astype(np.float32)))[None]
    out: dict[str, tuple] = {}
    metrics: dict[str, float] = {}
    for name in targets:
        if name not in ds:
            continue
        band = ds[name]
        cy, cx = band.dims
        ratio, phase_x = _axis_phase(ds[xdim].values, ds[cx].values)
        ratio_y, phase_y = _axis_phase(ds[ydim].values, ds[cy].values)
        if ratio_y != ratio or abs(phase_x - phase_y) > 1e-3:
            raise AbiSharpenError(f"{name}: grid ratios/phases differ between axes")
        ms = torch.from_numpy(np.nan_to_num(band.values.astype(np.float32)))[None]
        p = pan[:, : ms.shape[-2] * ratio, : ms.shape[-1] * ratio]
        fused = glp_regression(ms, p, ratio, GENERIC_MTF_MS, phase_x)
        out[name] = ((ydim, xdim), fused[0].numpy(), {**band.attrs, "sharpened_with": fine_var})
        h = hqnr(fused, ms, p, ratio, GENERIC_MTF_MS, GENERIC_MTF_PAN, phase_x)
        metrics[f"{name}_HQNR"] = h["HQNR"]
        # Wald's protocol at reduced resolution: the band itself is the reference
        ms_lr = gaussian_decimate(ms, ratio, GENERIC_MTF_MS, phase_x)
        pan_lr = gaussian_decimate(p, ratio, GENERIC_MTF_PAN, phase_x)
        border = 5 * ratio + 1
        for method, img in (
            ("glp", glp_regression(ms_lr, pan_lr, ratio, GENERIC_MTF_MS, phase_x)),
            ("exp", classic.exp_upsample(ms_lr, ratio, phase_x)),
        ):
            s = score_reduced(ms, img, ratio, border, with_ssim=False)
            metrics[f"{name}_{method}_PSNR"] = s["PSNR"]
            metrics[f"{name}_{method}_ERGAS"] = s["ERGAS"]
    coords = {ydim: ds[ydim].values, xdim: ds[xdim].values}
    result = xr.Dataset(
        {k: v for k, v in out.items()},
        coords=coords,
        attrs={"method": "MTF-GLP, regression gain", "fine_band": fine_var, **ds.attrs},
    )
    return result, metrics
