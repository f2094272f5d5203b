"""Gauge adjustment of the merged field with :mod:`wradlib.adjust`, and the withheld gauges.

The adjustment is done on daily totals, where tipping-bucket quantisation (0.254 mm per tip) and
timing errors of single hours average out, with wradlib's ``AdjustMixed`` (additive and
multiplicative error, Pfaff 2010), ``AdjustMultiply`` or ``AdjustAdd``: the errors at the gauges are
interpolated over the grid by inverse distance weighting and applied to the merged field. The
hourly fields then receive the pixel's daily factor, so the daily product is exactly the sum of
the hourly products.

A configurable fraction of the gauges is withheld from the adjustment each day and kept for
verification only. The choice is reproducible and rotates by day: stations are ordered by a hash
of their identifier and a window of ``round(fraction * n)`` stations slides along that order by
one window per day, so over ``1/fraction`` days every gauge is withheld once.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pyproj

from fusion_ops.products.errors import ProductInputError

AdjustMethod = Literal["mixed", "multiply", "add"]


def withheld_gauges(
    station_ids: list[str] | np.ndarray,
    day: dt.date | str,
    fraction: float = 0.2,
    salt: str = "rainfuse-withheld",
) -> np.ndarray:
    """Boolean mask (aligned with ``station_ids``) of the gauges withheld on ``day``.

    Parameters
    ----------
    station_ids : station identifiers (any order; the result follows it).
    day : the UTC day (``date`` or ISO string); consecutive days withhold disjoint windows.
    fraction : share of the stations withheld, in ``[0, 1)``.
    salt : changes the station order (a different, equally reproducible draw).
    """
    if not 0.0 <= fraction < 1.0:
        raise ProductInputError("withheld gauges", f"fraction must be in [0, 1), got {fraction}")
    ids = [str(s) for s in station_ids]
    if len(set(ids)) != len(ids):
        raise ProductInputError("withheld gauges", "station identifiers are not unique")
    n = len(ids)
    k = int(round(fraction * n))
    mask = np.zeros(n, dtype=bool)
    if k == 0:
        return mask
    day = dt.date.fromisoformat(day) if isinstance(day, str) else day
    order = sorted(range(n), key=lambda i: hashlib.sha256(f"{salt}:{ids[i]}".encode()).hexdigest())
    start = (day.toordinal() * k) % n
    for j in range(k):
        mask[order[(start + j) % n]] = True
    return mask


def local_xy_m(
    lat_deg: np.ndarray, lon_deg: np.ndarray, center_lat_deg: float, center_lon_deg: float
) -> np.ndarray:
    """Points -> ``(n, 2)`` metres east/north on an azimuthal-equidistant plane (for distances)."""
    crs = pyproj.CRS.from_proj4(
        f"+proj=aeqd +lat_0={center_lat_deg} +lon_0={center_lon_deg} +ellps=WGS84 +units=m"
    )
    to_xy = pyproj.Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    x, y = to_xy.transform(np.asarray(lon_deg, float).ravel(), np.asarray(lat_deg, float).ravel())
    return np.column_stack([x, y])


@dataclass(frozen=True)
class AdjustConfig:
    """Parameters of the gauge adjustment (wradlib names in brackets).

    method : ``mixed`` (AdjustMixed), ``multiply`` (AdjustMultiply) or ``add`` (AdjustAdd).
    nnear_raws : grid cells around a gauge whose ``stat`` is compared with it (nnear_raws).
    stat : ``median``, ``mean``, ``best`` (stat).
    mingages : fewer valid gauges than this -> no adjustment (mingages).
    minval_mm : gauge/grid pairs below this daily total are ignored (minval); for ``multiply``
        it keeps near-zero ratios out of the interpolation.
    nnearest : gauges used by the inverse-distance interpolation of the errors (Idw nnearest).
    idw_power : inverse-distance power (Idw p).
    min_daily_mm : pixels whose merged daily total is below this keep their merged value (a
        factor of a near-zero total is meaningless).
    factor_bounds : the per-pixel adjusted/merged daily ratio is clipped to this range.
    """

    method: AdjustMethod = "mixed"
    nnear_raws: int = 9
    stat: str = "median"
    mingages: int = 5
    minval_mm: float = 0.1
    nnearest: int = 12
    idw_power: float = 2.0
    min_daily_mm: float = 0.1
    factor_bounds: tuple[float, float] = (0.2, 5.0)


@dataclass(frozen=True)
class AdjustResult:
    """Adjusted daily total (mm), the per-pixel daily factor and how many gauges were used."""

    daily_mm: np.ndarray
    factor: np.ndarray
    n_gauges: int
    applied: bool


def _adjuster_class(method: str) -> type:
    import wradlib.adjust as wadj

    classes = {
        "mixed": wadj.AdjustMixed,
        "multiply": wadj.AdjustMultiply,
        "add": wadj.AdjustAdd,
    }
    if method not in classes:
        raise ProductInputError("adjust", f"unknown method {method!r}; use one of {list(classes)}")
    return classes[method]


def adjust_daily(
    merged_daily_mm: np.ndarray,
    grid_lat_deg: np.ndarray,
    grid_lon_deg: np.ndarray,
    gauge_lat_deg: np.ndarray,
    gauge_lon_deg: np.ndarray,
    gauge_daily_mm: np.ndarray,
    config: AdjustConfig | None = None,
) -> AdjustResult:
    """Adjust a merged daily total to the (non-withheld) gauges with wradlib.

    Parameters
    ----------
    merged_daily_mm : ``(lat, lon)`` merged daily total (mm); NaN where no source.
    grid_lat_deg, grid_lon_deg : 1-D cell-centre coordinates of the product grid.
    gauge_lat_deg, gauge_lon_deg, gauge_daily_mm : the adjusting gauges (NaN totals are ignored).
    config : adjustment parameters.

    Returns
    -------
    AdjustResult
        ``daily_mm`` is ``merged * factor`` (so it can be spread over the hours), with
        ``factor`` the clipped ratio of wradlib's adjusted field to the merged one.
    """
    config = config or AdjustConfig()
    raw = np.asarray(merged_daily_mm, dtype=float)
    lat = np.asarray(grid_lat_deg, float)
    lon = np.asarray(grid_lon_deg, float)
    if raw.shape != (lat.size, lon.size):
        raise ProductInputError(
            "adjust", f"field shape {raw.shape} does not match grid {(lat.size, lon.size)}"
        )
    obs = np.asarray(gauge_daily_mm, dtype=float).ravel()
    glat = np.asarray(gauge_lat_deg, float).ravel()
    glon = np.asarray(gauge_lon_deg, float).ravel()
    if not (obs.size == glat.size == glon.size):
        raise ProductInputError("adjust", "gauge coordinates and totals differ in length")
    ones = np.ones_like(raw)
    valid_obs = np.isfinite(obs) & (obs >= 0)
    if valid_obs.sum() < config.mingages:
        return AdjustResult(raw.copy(), ones, int(valid_obs.sum()), applied=False)

    center = (float(lat.mean()), float(lon.mean()))
    lon2d, lat2d = np.meshgrid(lon, lat)
    raw_xy = local_xy_m(lat2d, lon2d, *center)
    obs_xy = local_xy_m(glat[valid_obs], glon[valid_obs], *center)
    cls = _adjuster_class(config.method)
    adjuster = cls(
        obs_xy,
        raw_xy,
        nnear_raws=config.nnear_raws,
        stat=config.stat,
        mingages=config.mingages,
        minval=config.minval_mm,
        nnearest=min(config.nnearest, int(valid_obs.sum())),
        p=config.idw_power,
    )
    adjusted = np.asarray(adjuster(obs[valid_obs], raw.ravel()), dtype=float).reshape(raw.shape)
    lo, hi = config.factor_bounds
    usable = np.isfinite(raw) & (raw >= config.min_daily_mm) & np.isfinite(adjusted)
    with np.errstate(invalid="ignore", divide="ignore"):
        factor = np.where(usable, np.clip(adjusted / np.where(usable, raw, 1.0), lo, hi), 1.0)
    return AdjustResult(raw * factor, factor, int(valid_obs.sum()), applied=True)


def apply_daily_factor(hourly_mm_h: np.ndarray, factor: np.ndarray) -> np.ndarray:
    """Spread the daily adjustment over the hours: ``hourly * factor`` (factor on ``(lat, lon)``)."""
    return np.asarray(hourly_mm_h, float) * np.asarray(factor, float)[np.newaxis, ...]
