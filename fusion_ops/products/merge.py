"""Hourly merging of GR, SR and satellite rain by inverse error variance.

Each source ``i`` gives a rain rate ``R_i`` (mm/h) on the product grid (NaN where it has no
estimate) and an error standard deviation ``sigma_i`` (mm/h) taken from the calibration chain's
held-out evaluation. Assuming independent, unbiased errors, the minimum-variance combination is

    R = sum_i w_i R_i / sum_i w_i,   w_i = 1 / sigma_i**2,   sigma_R = (sum_i w_i) ** -0.5

so the fused field leans on the most accurate source available at each pixel, and its
uncertainty (standard deviation) shrinks where several sources agree in coverage. The ground
radar's error grows with range (beam height above the surface, beam broadening, lost low-level
echo), which :class:`RangeErrorModel` represents; beyond its maximum range the radar is absent.

The spaceborne radar sees one instant of the hour along a narrow swath; its hourly error adds a
temporal sampling term to the evaluated instantaneous error (:func:`sampled_error_std`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyproj

from fusion_ops.products.errors import ProductInputError

FLAG_BITS: dict[str, int] = {"gr": 1, "sr": 2, "sat": 4}
"""Bit of each source in the per-pixel source flag (CF ``flag_masks``)."""
FLAG_MEANINGS: dict[str, str] = {
    "gr": "ground_radar",
    "sr": "spaceborne_radar",
    "sat": "geostationary_satellite",
}
SR_FOOTPRINT_RADIUS_KM = 3.0
"""Search radius (km) when gridding spaceborne footprints: the one default of the fusion and the
verification (about half the ~5 km footprint spacing plus a margin)."""

_GEOD = pyproj.Geod(ellps="WGS84")


@dataclass(frozen=True)
class RangeErrorModel:
    """Error standard deviation of the ground-radar rain as a function of range.

    Parameters
    ----------
    range_km : ranges (km, increasing) at which the error is known, e.g. the centres of the range
        bins of the calibration chain's evaluation.
    rmse_mm_h : hourly RMSE (mm/h) at those ranges; linearly interpolated between them and held
        constant outside.
    max_range_km : beyond this range the radar gives no estimate (NaN error: source absent).
    """

    range_km: tuple[float, ...]
    rmse_mm_h: tuple[float, ...]
    max_range_km: float = 230.0

    def __post_init__(self) -> None:
        r = np.asarray(self.range_km, dtype=float)
        e = np.asarray(self.rmse_mm_h, dtype=float)
        if r.ndim != 1 or r.size == 0 or r.shape != e.shape:
            raise ProductInputError(
                "gr error model", "range_km and rmse_mm_h must be equal-length 1-D sequences"
            )
        if np.any(np.diff(r) <= 0):
            raise ProductInputError("gr error model", "range_km must be strictly increasing")
        if np.any(~np.isfinite(e)) or np.any(e <= 0):
            raise ProductInputError("gr error model", f"rmse_mm_h must be > 0, got {list(e)}")

    @classmethod
    def parametric(
        cls,
        rmse_mm_h: float,
        reference_range_km: float = 80.0,
        growth_per_100km: float = 0.6,
        max_range_km: float = 230.0,
    ) -> RangeErrorModel:
        """Error that grows quadratically with range, anchored on one evaluated RMSE.

        ``sigma(r) = s0 * (1 + g * (r / 100 km)**2)`` with ``s0`` chosen so that ``sigma`` equals
        ``rmse_mm_h`` at ``reference_range_km`` (typically the mean range of the evaluation
        gauges). The quadratic form follows the beam height, which grows with the square of the
        range on the 4/3-earth model and dominates the range dependence at long range.
        """
        if not rmse_mm_h > 0:
            raise ProductInputError("gr error model", f"rmse_mm_h must be > 0, got {rmse_mm_h}")
        ranges = np.linspace(0.0, max_range_km, 24)
        shape = 1.0 + growth_per_100km * (ranges / 100.0) ** 2
        s0 = rmse_mm_h / (1.0 + growth_per_100km * (reference_range_km / 100.0) ** 2)
        return cls(
            tuple(float(r) for r in ranges),
            tuple(float(v) for v in s0 * shape),
            max_range_km=max_range_km,
        )

    @classmethod
    def fitted(
        cls,
        range_km: np.ndarray,
        rmse_mm_h: np.ndarray,
        counts: np.ndarray | None = None,
        max_range_km: float = 230.0,
        floor_mm_h: float = 0.02,
    ) -> RangeErrorModel:
        """The quadratic model ``a + b (r / 100 km)**2`` (``a, b >= 0``) fitted to binned RMSEs.

        A day's per-range-bin RMSEs come from few gauge hours in the outer bins and are noisy
        (an outer bin may even score better than an inner one); the fit, weighted by the pairs in
        each bin, keeps the physically expected growth with beam height and never lets a lucky
        bin make the radar look perfect far away. ``floor_mm_h`` bounds the error from below.
        """
        from scipy.optimize import nnls

        r = np.asarray(range_km, dtype=float)
        e = np.asarray(rmse_mm_h, dtype=float)
        n = np.ones_like(r) if counts is None else np.asarray(counts, dtype=float)
        ok = np.isfinite(r) & np.isfinite(e) & (n > 0)
        if not ok.any():
            raise ProductInputError("gr error model", "no finite range bin to fit")
        w = np.sqrt(n[ok])
        basis = np.column_stack([np.ones(ok.sum()), (r[ok] / 100.0) ** 2]) * w[:, None]
        (a, b), _ = nnls(basis, e[ok] * w)
        ranges = np.linspace(0.0, max_range_km, 24)
        values = np.maximum(a + b * (ranges / 100.0) ** 2, floor_mm_h)
        return cls(tuple(float(v) for v in ranges), tuple(float(v) for v in values), max_range_km)

    def std_mm_h(self, range_km: np.ndarray) -> np.ndarray:
        """Error standard deviation (mm/h) at ``range_km``; NaN beyond the maximum range."""
        r = np.asarray(range_km, dtype=float)
        std = np.interp(r, np.asarray(self.range_km), np.asarray(self.rmse_mm_h))
        return np.where(r <= self.max_range_km, std, np.nan)


def range_from_site_km(
    lat_deg: np.ndarray, lon_deg: np.ndarray, site_lat_deg: float, site_lon_deg: float
) -> np.ndarray:
    """Geodesic distance (km, WGS84) of every cell of a 1-D lat/lon grid from a radar site.

    Returns an array shaped ``(lat.size, lon.size)``.
    """
    lon2d, lat2d = np.meshgrid(np.asarray(lon_deg, float), np.asarray(lat_deg, float))
    _, _, dist_m = _GEOD.inv(
        np.full(lon2d.shape, site_lon_deg), np.full(lat2d.shape, site_lat_deg), lon2d, lat2d
    )
    return np.asarray(dist_m) / 1000.0


def sampled_error_std(instant_std_mm_h: float, sampling_std_mm_h: float) -> float:
    """Hourly error of a snapshot source: instantaneous error plus temporal sampling error."""
    return float(np.hypot(instant_std_mm_h, sampling_std_mm_h))


@dataclass(frozen=True)
class MergeResult:
    """The fused rain (mm/h), its standard deviation (mm/h) and the bitwise source flag."""

    rain_mm_h: np.ndarray
    std_mm_h: np.ndarray
    source_flag: np.ndarray


def merge(
    estimates_mm_h: Mapping[str, np.ndarray | None],
    error_std_mm_h: Mapping[str, np.ndarray | float],
) -> MergeResult:
    """Inverse-error-variance merge of the available sources, pixel by pixel.

    Parameters
    ----------
    estimates_mm_h : source name (``gr``, ``sr``, ``sat``) -> rain rate (mm/h), any common shape
        (one hour ``(lat, lon)`` or a day ``(time, lat, lon)``); NaN where the source has no
        estimate. ``None`` means the source is absent altogether.
    error_std_mm_h : source name -> error standard deviation (mm/h), broadcastable to the
        estimates (a scalar, a ``(lat, lon)`` range-dependent field, ...). NaN means absent.

    Returns
    -------
    MergeResult
        NaN rain/std and flag 0 where no source has an estimate.
    """
    present = {k: v for k, v in estimates_mm_h.items() if v is not None}
    if not present:
        raise ProductInputError("merge", "no source estimate given")
    unknown = set(present) - set(FLAG_BITS)
    if unknown:
        raise ProductInputError("merge", f"unknown source(s) {sorted(unknown)}")
    shapes = {k: np.shape(v) for k, v in present.items()}
    shape = next(iter(shapes.values()))
    if any(s != shape for s in shapes.values()):
        raise ProductInputError("merge", f"sources on different grids: {shapes}")

    weight_sum = np.zeros(shape)
    weighted = np.zeros(shape)
    flag = np.zeros(shape, dtype=np.uint8)
    for name, values in present.items():
        if name not in error_std_mm_h:
            raise ProductInputError("merge", f"no error standard deviation for source {name!r}")
        x = np.asarray(values, dtype=float)
        std = np.broadcast_to(np.asarray(error_std_mm_h[name], dtype=float), shape)
        if np.any(std[np.isfinite(std)] <= 0):
            raise ProductInputError("merge", f"error standard deviation of {name!r} must be > 0")
        valid = np.isfinite(x) & np.isfinite(std)
        w = np.where(valid, 1.0 / np.where(valid, std, 1.0) ** 2, 0.0)
        weight_sum += w
        weighted += w * np.where(valid, x, 0.0)
        flag |= np.where(valid, FLAG_BITS[name], 0).astype(np.uint8)
    covered = weight_sum > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        rain = np.where(covered, weighted / weight_sum, np.nan)
        std = np.where(covered, 1.0 / np.sqrt(weight_sum), np.nan)
    # Every input is non-negative; clipping only removes round-off.
    return MergeResult(np.maximum(rain, 0.0, where=covered, out=rain), std, flag)


def footprints_to_grid(
    lat_deg: np.ndarray,
    lon_deg: np.ndarray,
    values: np.ndarray,
    grid_lat_deg: np.ndarray,
    grid_lon_deg: np.ndarray,
    radius_km: float = SR_FOOTPRINT_RADIUS_KM,
) -> np.ndarray:
    """Nearest-footprint resampling of swath samples onto the product grid (pyresample).

    Cells farther than ``radius_km`` from every footprint centre are NaN (outside the swath);
    with ~5 km spaceborne footprints a radius of half the footprint spacing plus a margin fills
    the swath without bleeding beyond it.
    """
    from pyresample import geometry, kd_tree

    lat = np.asarray(lat_deg, dtype=float).ravel()
    lon = np.asarray(lon_deg, dtype=float).ravel()
    val = np.asarray(values, dtype=float).ravel()
    lon2d, lat2d = np.meshgrid(np.asarray(grid_lon_deg, float), np.asarray(grid_lat_deg, float))
    keep = np.isfinite(lat) & np.isfinite(lon) & np.isfinite(val)
    if not keep.any():
        return np.full(lat2d.shape, np.nan)
    swath = geometry.SwathDefinition(lons=lon[keep], lats=lat[keep])
    grid = geometry.GridDefinition(lons=lon2d, lats=lat2d)
    return kd_tree.resample_nearest(
        swath,
        val[keep],
        grid,
        radius_of_influence=radius_km * 1000.0,
        fill_value=np.nan,
    ).astype(float)


#: Networks whose held-out evaluation sets the merge's error model (GR, SR, satellite rain).
ERROR_MODEL_NETWORKS = ("mlp1", "mlp2", "mlp3")
#: Entries of a day's evaluation record that identify its models, not score them: kept from the
#: product day's own record (provenance and the cold-start flag need them, the weights do not).
IDENTITY_KEYS = ("model", "model_version", "fallback")


def _pooled_rmse(entries: list[Mapping[str, Any]]) -> tuple[float | None, int]:
    """RMSE and pair count of several days' entries of one network: exact from the sufficient
    statistics where every entry has them, else the pair-weighted mean square error."""
    from fusion_ops.scores import pool, score_from_stats

    usable = [e for e in entries if e.get("rmse") is not None and np.isfinite(e["rmse"])]
    if usable and all(isinstance(e.get("stats"), Mapping) for e in usable):
        scored = score_from_stats(pool(e["stats"] for e in usable))
        n = int(scored["n"])
        rmse = float(scored["rmse"])
        return (rmse if n > 0 and np.isfinite(rmse) and rmse > 0 else None), n
    n = sum(int(e.get("n") or 0) for e in usable)
    if n <= 0:
        return None, 0
    mse = sum(float(e["rmse"]) ** 2 * int(e.get("n") or 0) for e in usable) / n
    return (float(np.sqrt(mse)) if mse > 0 else None), n


def _pooled_range_table(entries: list[Mapping[str, Any]]) -> dict[str, list[float]] | None:
    """Per-range-bin MLP-1 RMSE of several days pooled bin by bin (pair-weighted squares)."""
    sums: dict[float, list[float]] = {}
    for entry in entries:
        table = entry.get("rmse_by_range")
        if not isinstance(table, Mapping) or not table.get("range_km"):
            continue
        counts = table.get("n") or [1] * len(table["range_km"])
        for r, e, n in zip(table["range_km"], table["rmse"], counts, strict=True):
            if e is None or not np.isfinite(e) or not n:
                continue
            acc = sums.setdefault(float(r), [0.0, 0.0])
            acc[0] += float(e) ** 2 * float(n)
            acc[1] += float(n)
    if not sums:
        return None
    ranges = sorted(sums)
    return {
        "range_km": ranges,
        "rmse": [float(np.sqrt(sums[r][0] / sums[r][1])) for r in ranges],
        "n": [int(sums[r][1]) for r in ranges],
    }


def training_window_evaluation(
    day_record: Mapping[str, Any] | None,
    window_records: Mapping[str, Mapping[str, Any] | None] | None,
    day: str | None = None,
) -> dict[str, Any]:
    """The evaluation record the merge of day D uses: scores of the days before D only.

    The chain's evaluation of day D scores D's models at D's held-out gauges, and those gauges
    overlap the gauges the product withholds for its own verification: weights taken from it
    would be tuned, in part, on the verification gauges. So the scores (``rmse``, ``n``,
    ``stats``, ``rmse_by_range``) of each network are pooled over the evaluation records of the
    *window* (days strictly before D; a record of D or later is ignored): exactly from the
    sufficient statistics (:func:`fusion_ops.scores.pool`), the MLP-1 range table bin by bin. Days
    on which the network was in the same state as on D (trained, or the same fallback) are
    preferred; when none is, every window day is used. Only the identity of D's own models
    (:data:`IDENTITY_KEYS`: version and fallback, for provenance and the cold-start flag) and
    ``not_planned`` come from ``day_record``; none of its scores does. A network without a scored
    window day gets no ``rmse``, and :func:`fusion_ops.products.inputs.source_errors` uses its
    documented default and says so.

    Parameters
    ----------
    day_record : the chain's evaluation record of D (``None``: none).
    window_records : evaluation records of earlier days, keyed by ISO day (``None`` entries and
        days not before D are skipped).
    day : D (ISO date); default ``day_record["day"]``.

    Returns
    -------
    dict
        An evaluation record (``{"mlp1": {"rmse": ..., "rmse_by_range": ...}, ...}``) with
        ``error_model_window``: the days whose scores were pooled, per network.
    """
    day_record = dict(day_record or {})
    day = day or day_record.get("day")
    records = {
        str(k): v
        for k, v in sorted((window_records or {}).items())
        if isinstance(v, Mapping) and (day is None or str(k) < str(day))
    }
    out: dict[str, Any] = {}
    for key, value in day_record.items():
        if isinstance(value, Mapping) and key != "not_planned":
            out[key] = {k: value[k] for k in IDENTITY_KEYS if k in value}
        elif key in ("day", "not_planned"):
            out[key] = value
    window: dict[str, list[str]] = {}
    for name in ERROR_MODEL_NETWORKS:
        own = (day_record.get(name) or {}).get("fallback")
        entries = {d: r.get(name) for d, r in records.items() if isinstance(r.get(name), Mapping)}
        same = {d: e for d, e in entries.items() if e.get("fallback") == own}
        chosen = same or entries
        rmse, n = _pooled_rmse(list(chosen.values()))
        entry = out.setdefault(name, {})
        if rmse is not None:
            entry.update({"rmse": rmse, "n": n})
            window[name] = sorted(chosen)
        else:
            window[name] = []
        if name == "mlp1":
            table = _pooled_range_table(list(chosen.values()))
            if table is not None:
                entry["rmse_by_range"] = table
    out["error_model_window"] = window
    return out


def evaluation_for_day(loaded: Any, day: str) -> dict[str, Any]:
    """:func:`training_window_evaluation` of what the product asset loads for its evaluation input.

    The input maps ``calibration_evaluation`` over the days ``D - window .. D``; Dagster hands it
    over as ``{day: record}`` for several partitions (missing ones left out), as the bare record
    when the window holds one partition (the first day of the partitions: D itself), or ``None``.
    D's record gives its models' identity, the earlier days the scores.
    """
    if loaded is None:
        return training_window_evaluation(None, None, day)
    if isinstance(loaded, Mapping) and loaded and all(_is_iso_day(k) for k in loaded):
        window = {str(k): v for k, v in loaded.items() if str(k) != day}
        return training_window_evaluation(loaded.get(day), window, day)
    return training_window_evaluation(loaded, None, day)


def _is_iso_day(key: Any) -> bool:
    import datetime as dt

    try:
        dt.date.fromisoformat(str(key))
    except ValueError:
        return False
    return True
