"""Ground-radar quality control on a :class:`~fusion_ops.datamodel.RadarVolume`.

Steps, all vectorised per sweep (rays are on a nominal azimuth grid, so filters wrap in azimuth):

1. bounds: physically impossible values become NaN;
2. non-meteorological echo (noise, ground clutter, biological): where dual-pol moments exist,
   low co-polar correlation (RHOHV); everywhere, a high texture (local standard deviation) of
   reflectivity, typical of clutter and noise but not of rain;
3. speckle: isolated gates with few valid neighbours.

The masks are applied to every moment of the sweep (one gate is either weather or not).

KDP, where a file has none, is derived after QC by :func:`derive_kdp` (meteorological gates only,
PHIDP unfolded, wradlib's derivative) and bounded to :data:`KDP_BOUNDS_DEG_KM` after derivation.
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


#: KDP processing (:func:`derive_kdp`).  PHIDP is used only where the echo is meteorological:
#: co-polar correlation at least ``KDP_MIN_RHOHV`` (rain is above 0.95; noise, clutter and
#: biological echo are below) and reflectivity at least ``KDP_MIN_REFLECTIVITY_DBZ`` (below it the
#: phase is noise-dominated; KDP of such light rain is near zero anyway).
KDP_MIN_RHOHV: float = 0.9
KDP_MIN_REFLECTIVITY_DBZ: float = 10.0
#: Range window of the PHIDP derivative (km): about 4 km (17 gates of 250 m), a compromise between
#: noise (a 2-3 deg PHIDP noise gives about 0.3 deg/km of KDP noise) and resolving rain cores.
KDP_WINDOW_KM: float = 4.0
#: A window needs this fraction of meteorological gates; fewer (echo edges) give KDP = NaN.
KDP_MIN_VALID_FRACTION: float = 0.75
#: Physical KDP at S band (deg/km), applied AFTER derivation: rain gives about 0 to 10 deg/km
#: (up to about 20 in the heaviest rain and melting hail); clearly negative KDP does not occur in
#: rain (it is noise or backscatter phase at echo edges).  Values outside are set missing (NaN),
#: never clipped.  The same range as ``BOUNDS["specific_differential_phase"]`` (a file's own KDP).
KDP_BOUNDS_DEG_KM: tuple[float, float] = BOUNDS["specific_differential_phase"]


def _unfolded_phidp(phi: np.ndarray, keep: np.ndarray, range_m: np.ndarray) -> np.ndarray:
    """PHIDP (deg) on ``keep`` gates, NaN elsewhere, folded phase unfolded along each ray.

    NEXRAD reports PHIDP in [0, 360): a ray whose phase passes 360 restarts near 0.  The phase is
    first put in the half-turn around the system phase (the median phase within 20 km), then
    unwrapped along the ray (``numpy.unwrap``, period 360) over its meteorological gates.
    """
    p = np.where(keep, phi, np.nan).astype(np.float64)
    if not keep.any():
        return p
    near = p[:, range_m < 20e3]
    system = float(np.nanmedian(near)) if np.isfinite(near).any() else float(np.nanmedian(p))
    p = system + np.mod(p - system + 180.0, 360.0) - 180.0
    # carry the last kept phase across gaps so that unwrap sees only real phase steps
    idx = np.where(keep, np.arange(p.shape[1])[None, :], 0)
    np.maximum.accumulate(idx, axis=1, out=idx)
    filled = np.take_along_axis(p, idx, axis=1)
    filled = np.where(np.isnan(filled), system, filled)
    unwrapped = np.unwrap(filled, period=360.0, axis=1)
    return np.where(keep, unwrapped, np.nan)


def windowed_slope(values: np.ndarray, winlen: int, min_count: int) -> np.ndarray:
    """Least-squares slope (per gate) of ``values`` along the last axis over ``winlen`` gates.

    The regression uses the finite gates of each centred window, so a window with gaps still gets
    a slope from the gates it has; fewer than ``min_count`` finite gates give NaN. The window sums
    (count, sum x, sum x^2, sum y, sum xy) are moving sums (``scipy.ndimage.uniform_filter1d``),
    so the cost is linear in the number of gates whatever the window.
    """
    valid = np.isfinite(values)
    y = np.where(valid, values, 0.0).astype(np.float64)
    w = valid.astype(np.float64)
    # positions relative to each ray's centre keep the sums small (no cancellation)
    x = np.arange(values.shape[-1], dtype=np.float64) - values.shape[-1] / 2.0
    x = np.broadcast_to(x, values.shape)

    def window_sum(a: np.ndarray) -> np.ndarray:
        return ndimage.uniform_filter1d(a, winlen, axis=-1, mode="constant") * winlen

    n = window_sum(w)
    sx, sy = window_sum(w * x), window_sum(y)
    sxx, sxy = window_sum(w * x * x), window_sum(x * y)
    denominator = n * sxx - sx * sx
    with np.errstate(invalid="ignore", divide="ignore"):
        slope = (n * sxy - sx * sy) / denominator
    slope[(n < min_count) | (denominator <= 0)] = np.nan
    return slope


def derive_kdp(
    sweep: Sweep,
    window_km: float = KDP_WINDOW_KM,
    *,
    min_rhohv: float = KDP_MIN_RHOHV,
    min_reflectivity_dbz: float = KDP_MIN_REFLECTIVITY_DBZ,
) -> None:
    """Add ``specific_differential_phase`` (deg/km) from PHIDP where KDP is not in the file.

    1. PHIDP is kept only on meteorological gates (RHOHV >= ``min_rhohv`` and reflectivity >=
       ``min_reflectivity_dbz``, where those moments exist; the QC mask has already removed the
       rest);
    2. folded phase is unfolded along the ray (:func:`_unfolded_phidp`);
    3. KDP is half the range derivative of PHIDP: the least-squares slope over the kept gates of
       a ``window_km`` window (:func:`windowed_slope`), NaN where fewer than
       :data:`KDP_MIN_VALID_FRACTION` of its gates are kept. This is the linear-regression
       estimator of ``wradlib.dp.kdp_from_phidp`` (its ``method="lstsq"``) computed with moving
       sums: wradlib's own call took about 1 s per KLBB volume, this one a few tens of ms;
    4. KDP outside :data:`KDP_BOUNDS_DEG_KM` is set to NaN, and so is KDP on non-meteorological
       gates.
    """
    if "specific_differential_phase" in sweep.fields or "differential_phase" not in sweep.fields:
        return
    phi = sweep.fields["differential_phase"]
    keep = np.isfinite(phi)
    with np.errstate(invalid="ignore"):
        z = sweep.fields.get("reflectivity")
        if z is not None:
            keep &= z >= min_reflectivity_dbz
        rho = sweep.fields.get("cross_correlation_ratio")
        if rho is not None:
            keep &= rho >= min_rhohv
    kdp = np.full(phi.shape, np.nan, dtype=np.float32)
    if keep.any():
        dr_km = float(np.median(np.diff(sweep.range_m))) / 1000.0 if sweep.range_m.size > 1 else 1.0
        winlen = max(3, int(round(window_km / dr_km)) | 1)  # odd number of gates
        # only the rays with kept gates, out to the farthest kept gate: KDP is NaN elsewhere
        rows = np.flatnonzero(keep.any(axis=1))
        last = int(np.flatnonzero(keep.any(axis=0))[-1]) + 1
        sub_keep = keep[rows, :last]
        unfolded = _unfolded_phidp(phi[rows, :last], sub_keep, sweep.range_m[:last])
        min_count = int(np.ceil(KDP_MIN_VALID_FRACTION * winlen))
        derived = 0.5 * windowed_slope(unfolded, winlen, min_count) / dr_km
        lo, hi = KDP_BOUNDS_DEG_KM
        with np.errstate(invalid="ignore"):
            derived[~sub_keep | (derived < lo) | (derived > hi)] = np.nan
        kdp[rows, :last] = derived
    sweep.fields["specific_differential_phase"] = kdp
