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
    # Texture and speckle change only kept gates, and a kept gate's windows reach at most half a
    # window past the last range column with echo: filter that span only (upper sweeps' echo ends
    # well inside the range). One all-rejected column beyond it makes the filters' "nearest" edge
    # see what the full sweep has there, so the result is identical to filtering the whole sweep.
    cols = np.flatnonzero(keep.any(axis=0))
    if cols.size == 0:
        return keep
    reach = max(cfg.texture_window[1] // 2, 1) + 1
    span = slice(0, min(keep.shape[1], int(cols[-1]) + reach))
    near = keep[:, span]
    with np.errstate(invalid="ignore"):
        tex = local_std(np.where(near, z[:, span], np.nan), cfg.texture_window)
        near &= ~(tex > cfg.texture_max_db)
    near &= ~speckle_mask(near, cfg.speckle_min_neighbours)
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
    unwrapped along the ray, period 360, over its meteorological gates: each step between a kept
    gate and the ray's previous kept gate (the system phase before the first) is brought into
    [-180, 180), and the corrections accumulate along the ray. This is ``numpy.unwrap`` along
    the ray with the gaps bridged by the last kept phase, computed on the kept gates only (a few
    per cent of a sweep), with the same floating-point operations in the same order.
    """
    out = np.full(phi.shape, np.nan, dtype=np.float64)
    rows, cols, v = _unfold_kept_gates(phi, keep, range_m)
    out[rows, cols] = v
    return out


def _unfold_kept_gates(
    phi: np.ndarray, keep: np.ndarray, range_m: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ray index, gate index and unfolded PHIDP (deg) of the kept gates, in ray-major order.

    The work of :func:`_unfolded_phidp` on the kept gates alone.
    """
    rows, cols = np.nonzero(keep)  # row-major: each ray's kept gates in range order
    if rows.size == 0:
        return rows, cols, np.empty(0, dtype=np.float64)
    v = phi[rows, cols].astype(np.float64)
    near = v[range_m[cols] < 20e3]
    system = float(np.nanmedian(near)) if np.isfinite(near).any() else float(np.nanmedian(v))
    v = system + np.mod(v - system + 180.0, 360.0) - 180.0
    first = np.ones(rows.size, dtype=bool)
    first[1:] = rows[1:] != rows[:-1]
    previous = np.empty_like(v)
    previous[1:] = v[:-1]
    previous[first] = system
    # a ray that starts with a kept gate has no step into it (numpy.unwrap keeps the first value)
    previous[first & (cols == 0)] = v[first & (cols == 0)]
    step = v - previous
    wrapped = np.mod(step + 180.0, 360.0) - 180.0
    wrapped[(wrapped == -180.0) & (step > 0)] = 180.0
    correction = wrapped - step
    correction[np.abs(step) < 180.0] = 0.0
    # accumulate per ray; only rays with a fold have a non-zero correction
    starts = np.flatnonzero(first)
    ends = np.append(starts[1:], rows.size)
    for a, b in zip(starts, ends, strict=True):
        if correction[a:b].any():
            v[a:b] += np.cumsum(correction[a:b])
    return rows, cols, v


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


def windowed_slope_at_gates(
    rows: np.ndarray, cols: np.ndarray, values: np.ndarray, winlen: int, min_count: int
) -> np.ndarray:
    """:func:`windowed_slope` evaluated at the given gates only, from those gates only.

    ``rows``/``cols`` index the gates (ray-major order, as :func:`numpy.nonzero` gives them) and
    ``values`` their values; the slope at a gate is the least-squares slope over the listed gates
    of the same ray within half a window of it. The window sums are differences of running sums
    over the listed gates (their number, not the sweep's, sets the cost), found by binary search.
    """
    half = winlen // 2
    width = int(cols.max()) + winlen + 1 if cols.size else 1
    key = rows.astype(np.int64) * width + cols  # rays never share a window
    lo = np.searchsorted(key, key - half, side="left")
    hi = np.searchsorted(key, key + half, side="right")
    # positions relative to the middle gate keep the sums small (no cancellation)
    x = cols.astype(np.float64) - (width - winlen) / 2.0

    def window_sum(a: np.ndarray) -> np.ndarray:
        running = np.concatenate(([0.0], np.cumsum(a)))
        return running[hi] - running[lo]

    n = (hi - lo).astype(np.float64)
    sx, sy = window_sum(x), window_sum(values)
    sxx, sxy = window_sum(x * x), window_sum(x * values)
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
       a ``window_km`` window (:func:`windowed_slope_at_gates`), NaN where fewer than
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
        # KDP is wanted on the kept gates only (NaN elsewhere), and computed from them only
        rows, cols, unfolded = _unfold_kept_gates(phi, keep, sweep.range_m)
        min_count = int(np.ceil(KDP_MIN_VALID_FRACTION * winlen))
        derived = 0.5 * windowed_slope_at_gates(rows, cols, unfolded, winlen, min_count) / dr_km
        lo, hi = KDP_BOUNDS_DEG_KM
        with np.errstate(invalid="ignore"):
            derived[(derived < lo) | (derived > hi)] = np.nan
        kdp[rows, cols] = derived
    sweep.fields["specific_differential_phase"] = kdp
