"""Synthetic imagery scenes for the demo: a reflectance cube and what sensors see of it.

Pure functions over arrays:

* :func:`land_cover_map` - a smooth random land-cover class map (water, vegetation, soil, urban,
  snow/bright) on a regular grid;
* :func:`class_spectra` - distinct surface-reflectance spectra for those classes, 400-2500 nm;
* :func:`reflectance_cube` - per-pixel reflectance (>= 128 bands) with sub-class texture, and,
  given a 2-D cloud optical-depth field, clouds (bright, spectrally flat);
* :func:`gaussian_srf` / :func:`observe` - coarse HS, fine MS and PAN through spectral response
  functions, RGB through a camera response, each blurred by its MTF and decimated;
* :func:`scene_to_dataset` / :func:`write_scene_netcdf` - georeferenced xarray / NetCDF (lat/lon).

The cloud field is an argument: the caller (the rain simulation) decides where clouds are.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import xarray as xr

from fusion_ops.atomic import atomic_path
from fusion_ops.imagery.degrade import gaussian_decimate

CLASS_NAMES: tuple[str, ...] = ("water", "vegetation", "soil", "urban", "bright")


def wavelengths_nm(
    n_bands: int = 128, start_nm: float = 400.0, stop_nm: float = 2500.0
) -> np.ndarray:
    """Band centres evenly spaced over ``[start_nm, stop_nm]``."""
    if n_bands < 2:
        raise ValueError("need at least two bands")
    return np.linspace(start_nm, stop_nm, n_bands)


def _bump(wl: np.ndarray, centre: float, width: float) -> np.ndarray:
    return np.exp(-0.5 * ((wl - centre) / width) ** 2)


def _sigmoid(wl: np.ndarray, centre: float, width: float) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-(wl - centre) / width))


def class_spectra(wl_nm: np.ndarray) -> np.ndarray:
    """Reflectance (0-1) of each class in :data:`CLASS_NAMES` at ``wl_nm``; shape ``(5, L)``.

    Shapes follow textbook curves: water dark and falling into the NIR; vegetation with the
    green peak, red-edge rise to the NIR plateau and liquid-water absorptions at 1450/1940 nm;
    soil rising slowly; urban flat-grey; bright (sand/snow) high in the visible.
    """
    wl = np.asarray(wl_nm, dtype=float)
    water_abs = 1 - 0.6 * _bump(wl, 1450, 60) - 0.8 * _bump(wl, 1940, 80)
    water = 0.06 * np.exp(-np.clip(wl - 450, 0, None) / 180) + 0.005
    veg = (
        0.04
        + 0.06 * _bump(wl, 550, 35)
        + 0.42 * _sigmoid(wl, 715, 12) * np.exp(-np.clip(wl - 1100, 0, None) / 1800)
    ) * water_abs
    soil = (0.10 + 0.25 * _sigmoid(wl, 800, 250)) * (1 - 0.25 * _bump(wl, 1940, 70))
    urban = 0.18 + 0.03 * np.sin(wl / 300.0)
    bright = (0.75 - 0.5 * _sigmoid(wl, 1300, 150)) * (1 - 0.5 * _bump(wl, 1500, 80))
    return np.clip(np.stack([water, veg, soil, urban, bright]), 0.001, 1.0)


def _smooth_noise(shape: tuple[int, int], scale_px: float, rng: np.random.Generator) -> np.ndarray:
    """Gaussian-filtered white noise (FFT), zero mean, unit variance."""
    h, w = shape
    noise = rng.standard_normal((h, w))
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.fftfreq(w)[None, :]
    filt = np.exp(-2 * (np.pi * scale_px) ** 2 * (fx**2 + fy**2))
    out = np.real(np.fft.ifft2(np.fft.fft2(noise) * filt))
    return (out - out.mean()) / (out.std() + 1e-12)


def land_cover_map(
    shape: tuple[int, int], seed: int = 0, scale_px: float = 12.0, n_classes: int = 5
) -> np.ndarray:
    """Integer class map ``(H, W)``: argmax of smooth random fields, one field per class."""
    rng = np.random.default_rng(seed)
    fields = np.stack([_smooth_noise(shape, scale_px, rng) for _ in range(n_classes)])
    return fields.argmax(0).astype(np.int16)


def reflectance_cube(
    classes: np.ndarray,
    wl_nm: np.ndarray,
    cloud_optical_depth: np.ndarray | None = None,
    seed: int = 0,
    texture: float = 0.08,
) -> np.ndarray:
    """Surface (or top-of-cloud blended) reflectance ``(L, H, W)`` from a class map.

    Parameters
    ----------
    classes : ndarray of int
        ``(H, W)`` indices into :func:`class_spectra`.
    wl_nm : ndarray
        Band centres (nm).
    cloud_optical_depth : ndarray, optional
        ``(H, W)`` cloud optical depth (dimensionless, >= 0).  A simple blend: spectrally flat
        cloud reflectance ``r = tau / (tau + 7.7)`` (two-stream, asymmetry 0.85) plus the
        surface seen through the cloud, ``(1 - r) exp(-tau / 2) R_surface``.
    seed : int
        Seed of the within-class brightness texture.
    texture : float
        Relative amplitude of that texture.
    """
    classes = np.asarray(classes)
    spectra = class_spectra(wl_nm)
    if classes.min() < 0 or classes.max() >= len(spectra):
        raise ValueError(f"class indices must be in [0, {len(spectra) - 1}]")
    rng = np.random.default_rng(seed + 1)
    bright = 1.0 + texture * _smooth_noise(classes.shape, 2.0, rng)
    cube = spectra[classes].transpose(2, 0, 1) * bright[None]
    if cloud_optical_depth is not None:
        tau = np.asarray(cloud_optical_depth, dtype=float)
        if tau.shape != classes.shape:
            raise ValueError(f"cloud field {tau.shape} does not match the scene {classes.shape}")
        if np.any(tau < 0) or not np.all(np.isfinite(tau)):
            raise ValueError("cloud optical depth must be finite and >= 0")
        r_cloud = tau / (tau + 7.7)
        t = np.exp(-tau / 2.0)
        cube = r_cloud[None] + (1.0 - r_cloud[None]) * t[None] * cube
    return np.clip(cube, 0.0, 1.0).astype(np.float32)


def gaussian_srf(wl_nm: np.ndarray, centres_nm: list[float], fwhm_nm: list[float]) -> np.ndarray:
    """Gaussian spectral response functions ``(n_bands, L)``, each normalised to unit sum."""
    wl = np.asarray(wl_nm, dtype=float)
    srf = np.stack([_bump(wl, c, f / 2.3548) for c, f in zip(centres_nm, fwhm_nm, strict=True)])
    return srf / srf.sum(1, keepdims=True)


#: Sentinel-2-like MS bands (centre, FWHM in nm) and a broad PAN.
MS_BANDS_NM: tuple[tuple[float, float], ...] = (
    (490, 65),
    (560, 35),
    (665, 30),
    (705, 15),
    (740, 15),
    (783, 20),
    (842, 115),
    (1610, 90),
    (2190, 180),
)
PAN_BAND_NM: tuple[float, float] = (625, 250)
RGB_BANDS_NM: tuple[tuple[float, float], ...] = ((610, 80), (540, 80), (460, 70))


@dataclass
class SensorViews:
    """What the sensors see of one scene (all ``(C, H, W)`` float32 arrays)."""

    truth: np.ndarray  # fine reflectance cube
    hs: np.ndarray  # coarse HS (ratio_hs)
    ms: np.ndarray  # MS at ratio_ms x PAN pixel
    pan: np.ndarray  # fine PAN
    rgb: np.ndarray  # fine RGB through the camera response
    ms_truth: np.ndarray  # MS bands at the PAN resolution (the pansharpening truth)
    wavelengths_nm: np.ndarray
    ratio_hs: int
    ratio_ms: int


def observe(
    cube: np.ndarray,
    wl_nm: np.ndarray,
    ratio_hs: int = 4,
    ratio_ms: int = 4,
    camera_response: np.ndarray | None = None,
    mtf_gain: float = 0.3,
    noise_std: float = 0.0,
    seed: int = 0,
) -> SensorViews:
    """Simulate coarse HS, MS, PAN and RGB of a fine reflectance ``cube`` ``(L, H, W)``.

    MS uses :data:`MS_BANDS_NM` and is decimated by ``ratio_ms`` (PAN stays fine); HS keeps every
    band and is decimated by ``ratio_hs``; RGB goes through ``camera_response`` ``(3, L)``
    (default: Gaussian R/G/B bands).  Each decimation uses the MTF-matched Gaussian.
    """
    L, h, w = cube.shape
    if h % ratio_hs or w % ratio_hs or h % ratio_ms or w % ratio_ms:
        raise ValueError(f"scene {h}x{w} is not a multiple of ratios {ratio_hs}, {ratio_ms}")
    x = torch.from_numpy(np.ascontiguousarray(cube, dtype=np.float32))
    ms_srf = gaussian_srf(wl_nm, [c for c, _ in MS_BANDS_NM], [f for _, f in MS_BANDS_NM])
    pan_srf = gaussian_srf(wl_nm, [PAN_BAND_NM[0]], [PAN_BAND_NM[1]])
    rgb_srf = (
        gaussian_srf(wl_nm, [c for c, _ in RGB_BANDS_NM], [f for _, f in RGB_BANDS_NM])
        if camera_response is None
        else np.asarray(camera_response, dtype=float)
    )
    if rgb_srf.shape != (3, L):
        raise ValueError(f"camera response must be (3, {L}), got {rgb_srf.shape}")

    def project(srf: np.ndarray) -> torch.Tensor:
        return torch.einsum("cl,lhw->chw", torch.from_numpy(srf).float(), x)

    rng = np.random.default_rng(seed + 2)

    def noisy(a: torch.Tensor) -> np.ndarray:
        arr = a.numpy().astype(np.float32)
        if noise_std > 0:
            arr = arr + rng.normal(0.0, noise_std, arr.shape).astype(np.float32)
        return arr

    return SensorViews(
        truth=cube.astype(np.float32),
        hs=noisy(gaussian_decimate(x, ratio_hs, mtf_gain)),
        ms=noisy(gaussian_decimate(project(ms_srf), ratio_ms, mtf_gain)),
        pan=noisy(project(pan_srf)),
        rgb=noisy(project(rgb_srf)),
        ms_truth=project(ms_srf).numpy().astype(np.float32),
        wavelengths_nm=np.asarray(wl_nm, dtype=float),
        ratio_hs=ratio_hs,
        ratio_ms=ratio_ms,
    )


def synthetic_scene(
    shape: tuple[int, int] = (128, 128),
    n_bands: int = 128,
    seed: int = 0,
    cloud_optical_depth: np.ndarray | None = None,
    ratio_hs: int = 4,
    ratio_ms: int = 4,
) -> SensorViews:
    """Convenience: land cover -> reflectance (optionally clouded) -> sensor views."""
    wl = wavelengths_nm(n_bands)
    classes = land_cover_map(shape, seed)
    cube = reflectance_cube(classes, wl, cloud_optical_depth, seed)
    return observe(cube, wl, ratio_hs, ratio_ms, seed=seed)


def _axis(start: float, step: float, n: int) -> np.ndarray:
    return start + step * (np.arange(n) + 0.5)


def scene_to_dataset(
    views: SensorViews, lat_north_deg: float, lon_west_deg: float, pixel_deg: float
) -> xr.Dataset:
    """Georeferenced dataset: each view on its own lat/lon grid (pixel centres, north-up)."""
    h, w = views.pan.shape[-2:]

    def coords(factor: int, suffix: str) -> dict[str, np.ndarray]:
        n_y, n_x = h // factor, w // factor
        return {
            f"lat{suffix}": lat_north_deg - pixel_deg * factor * (np.arange(n_y) + 0.5),
            f"lon{suffix}": _axis(lon_west_deg, pixel_deg * factor, n_x),
        }

    ds = xr.Dataset(
        {
            "reflectance": (("wavelength", "lat", "lon"), views.truth),
            "pan": (("lat", "lon"), views.pan[0]),
            "rgb": (("rgb_band", "lat", "lon"), views.rgb),
            "hs": (("wavelength", "lat_hs", "lon_hs"), views.hs),
            "ms": (("ms_band", "lat_ms", "lon_ms"), views.ms),
            "ms_truth": (("ms_band", "lat", "lon"), views.ms_truth),
        },
        coords={
            **coords(1, ""),
            **coords(views.ratio_hs, "_hs"),
            **coords(views.ratio_ms, "_ms"),
            "wavelength": ("wavelength", views.wavelengths_nm, {"units": "nm"}),
            "ms_band_centre_nm": ("ms_band", np.array([c for c, _ in MS_BANDS_NM], float)),
            "rgb_band": ("rgb_band", np.array(["red", "green", "blue"])),
        },
        attrs={
            "title": "rainfuse synthetic imagery scene",
            "Conventions": "CF-1.8",
            "pixel_size_deg": pixel_deg,
            "ratio_hs": views.ratio_hs,
            "ratio_ms": views.ratio_ms,
        },
    )
    for name in ("lat", "lat_hs", "lat_ms"):
        ds[name].attrs.update(units="degrees_north", standard_name="latitude")
    for name in ("lon", "lon_hs", "lon_ms"):
        ds[name].attrs.update(units="degrees_east", standard_name="longitude")
    for name in ("reflectance", "pan", "rgb", "hs", "ms", "ms_truth"):
        ds[name].attrs["units"] = "1"
    return ds


def write_scene_netcdf(ds: xr.Dataset, path: str | Path) -> Path:
    """Write atomically (temporary file in the same folder, then rename)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        ds.to_netcdf(tmp)
    return path
