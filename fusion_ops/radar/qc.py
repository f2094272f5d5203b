"""Ground-radar quality control on a :class:`~fusion_ops.datamodel.RadarVolume`.

Steps, all vectorised per sweep (rays are on a nominal azimuth grid, so filters wrap in azimuth):

1. bounds: physically impossible values become NaN;
2. non-meteorological echo (noise, ground clutter, biological): where dual-pol moments exist,
   low co-polar correlation (RHOHV); everywhere, a high texture (local standard deviation) of
   reflectivity, typical of clutter and noise but not of rain;
3. speckle: isolated gates with few valid neighbours.

The masks are applied to every moment of the sweep (one gate is either weather or not).
"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy import ndimage

from fusion_ops.datamodel import RadarVolume, Sweep

#: Physical bounds per moment (inclusive).
BOUNDS: dict[str, tuple[float, float]] = {
    "reflectivity": (-32.0, 95.0),
    "differential_reflectivity": (-8.0, 8.0),
    "cross_correlation_ratio": (0.0, 1.1),
    "differential_phase": (-180.0, 360.0),
    "specific_differential_phase": (-2.0, 20.0),
}


@dataclasses.dataclass(frozen=True)
class RadarQCConfig:
    """Thresholds of :func:`quality_control`.

    Attributes
    ----------
    rhohv_min : float
        Gates with RHOHV below this are non-meteorological (rain > 0.95; clutter/noise < 0.8).
    texture_max_db : float
        Reflectivity texture (std. dev. in a ``texture_window``, dB) above which a gate is clutter.
    texture_window : (int, int)
        Window (rays, gates) of the texture filter.
    speckle_min_neighbours : int
        A valid gate with fewer valid neighbours (of 8) is speckle.
    min_reflectivity_dbz : float
        Weaker echoes are treated as noise.
    """

    rhohv_min: float = 0.8
    texture_max_db: float = 12.0
    texture_window: tuple[int, int] = (3, 5)
    speckle_min_neighbours: int = 3
    min_reflectivity_dbz: float = -10.0


def apply_bounds(sweep: Sweep) -> None:
    """Set values outside :data:`BOUNDS` to NaN (in place)."""
    for name, arr in sweep.fields.items():
        lo, hi = BOUNDS.get(name, (-np.inf, np.inf))
        with np.errstate(invalid="ignore"):
            arr[(arr < lo) | (arr > hi)] = np.nan


def local_std(values: np.ndarray, window: tuple[int, int]) -> np.ndarray:
    """Local standard deviation ignoring NaN, wrapping in azimuth (axis 0)."""
    valid = np.isfinite(values)
    v = np.where(valid, values, 0.0).astype(np.float32)
    n = ndimage.uniform_filter(valid.astype(np.float32), window, mode=("wrap", "nearest"))
    s1 = ndimage.uniform_filter(v, window, mode=("wrap", "nearest"))
    s2 = ndimage.uniform_filter(v * v, window, mode=("wrap", "nearest"))
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = s1 / n
        var = s2 / n - mean * mean
    return np.sqrt(np.clip(var, 0.0, None))


def speckle_mask(valid: np.ndarray, min_neighbours: int) -> np.ndarray:
    """True where a valid gate has fewer than ``min_neighbours`` valid gates among its 8."""
    counts = ndimage.uniform_filter(valid.astype(np.float32), 3, mode=("wrap", "nearest")) * 9.0
    neighbours = np.rint(counts).astype(np.int16) - valid
    return valid & (neighbours < min_neighbours)


def sweep_meteo_mask(
    sweep: Sweep, cfg: RadarQCConfig, rhohv: np.ndarray | None = None
) -> np.ndarray:
    """Boolean (nazimuth, ngate): True where the gate is kept as weather.

    ``rhohv`` stands in for a sweep without its own RHOHV (a NEXRAD Doppler split cut takes it
    from the surveillance cut at the same elevation, scanned seconds earlier).
    """
    z = sweep.fields["reflectivity"]
    with np.errstate(invalid="ignore"):
        keep = np.isfinite(z) & (z >= cfg.min_reflectivity_dbz)
        rho = sweep.fields.get("cross_correlation_ratio", rhohv)
        if rho is not None:
            # NaN RHOHV (not measured at that gate) does not reject the gate.
            keep &= ~(rho < cfg.rhohv_min)
        tex = local_std(np.where(keep, z, np.nan), cfg.texture_window)
        keep &= ~(tex > cfg.texture_max_db)
    keep &= ~speckle_mask(keep, cfg.speckle_min_neighbours)
    return keep


def quality_control(volume: RadarVolume, cfg: RadarQCConfig | None = None) -> dict[str, int]:
    """Apply bounds, non-meteorological and speckle filters to every sweep (in place).

    Returns
    -------
    dict
        Gate counts: ``valid_before``, ``valid_after`` (reflectivity gates).
    """
    cfg = cfg or RadarQCConfig()
    before = after = 0
    # RHOHV of the dual-pol cuts, by elevation and azimuth grid, for the split cuts without it
    rho_by_cut = {
        (round(s.elevation_deg, 1), s.n_azimuth): s.fields["cross_correlation_ratio"].copy()
        for s in volume.sweeps
        if "cross_correlation_ratio" in s.fields
    }
    for sweep in volume.sweeps:
        if "reflectivity" not in sweep.fields:
            continue
        before += int(np.isfinite(sweep.fields["reflectivity"]).sum())
        apply_bounds(sweep)
        borrowed = None
        if "cross_correlation_ratio" not in sweep.fields:
            src = rho_by_cut.get((round(sweep.elevation_deg, 1), sweep.n_azimuth))
            if src is not None:
                borrowed = np.full(sweep.fields["reflectivity"].shape, np.nan, np.float32)
                n = min(src.shape[1], borrowed.shape[1])
                borrowed[:, :n] = src[:, :n]
        keep = sweep_meteo_mask(sweep, cfg, borrowed)
        for arr in sweep.fields.values():
            arr[~keep] = np.nan
        after += int(keep.sum())
    return {"valid_before": before, "valid_after": after}


def derive_kdp(sweep: Sweep, window_gates: int = 9) -> None:
    """Add ``specific_differential_phase`` (deg/km) from PHIDP where KDP is not in the file.

    KDP is half the range derivative of PHIDP; the derivative is the least-squares slope over
    ``window_gates`` gates (a moving-window regression as a convolution), NaN where the window
    has gaps.
    """
    if "specific_differential_phase" in sweep.fields or "differential_phase" not in sweep.fields:
        return
    phi = sweep.fields["differential_phase"]
    dr_km = float(sweep.range_m[1] - sweep.range_m[0]) / 1000.0 if sweep.range_m.size > 1 else 1.0
    half = window_gates // 2
    offsets = np.arange(-half, half + 1, dtype=np.float32)
    kernel = offsets[::-1] / float((offsets**2).sum())
    # slope = sum(off * phi) / sum(off^2): a correlation, so the kernel is reversed for convolve
    slope = ndimage.convolve1d(np.nan_to_num(phi), kernel, axis=1, mode="nearest")
    gaps = ndimage.uniform_filter1d((~np.isfinite(phi)).astype(np.float32), window_gates, axis=1)
    kdp = (0.5 * slope / dr_km).astype(np.float32)
    kdp[gaps > 0] = np.nan
    sweep.fields["specific_differential_phase"] = kdp
