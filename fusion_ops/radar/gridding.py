"""Polar gates -> regular grid, through cached sparse gate->cell maps.

The map of a volume depends only on the site, the scan geometry (elevations, azimuth grid, gate
spacing) and the target (grid or gauge neighbourhoods), so it is built once with vectorised numpy
and reused for every volume of that scan strategy; applying it is one sparse matrix product per
field (numerator and valid-gate count), a few tens of milliseconds for a full volume.

Membership rules (documented so the product is interpretable):

* horizontal: a gate belongs to the grid cell whose centre is nearest to the ground point below
  the gate (lat/lon grid: cell of the gate's lat/lon; Cartesian grid: cell of its x/y);
  for gauge neighbourhoods, to the nearest gauge within ``radius_m``;
* grid cells that no gate of a sweep falls in, though the sweep passes over them, take the gate
  whose beam contains the cell centre (the ray around its azimuth, the gate nearest its ground
  range). Far from the radar the rays of a sweep are further apart than the cells (2.6 km at
  150 km for 1 degree rays against 1 km cells); without this rule a sweep leaves every other
  cell empty there, and the lowest valid level of a cell, hence its rain rate, alternates
  between neighbouring cells (a moire pattern in the daily totals);
* vertical: a gate belongs to every height level within its half-power beam
  (``|z_level - z_gate| <= max(vertical half beam width, level spacing / 2)``);
* heights are above the radar site (a proxy for above ground level) under the 4/3-earth model.

Moments are averaged in their stored units (dBZ for reflectivity), as ``pyart.map`` does, so the
product is comparable with the library baseline; ``linear_reflectivity=True`` averages reflectivity
in linear units (mm^6 m^-3) instead, which weights the strongest echo in a cell more.
"""

from __future__ import annotations

import dataclasses
import threading
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np
import pandas as pd
import pyproj
import xarray as xr
from scipy import sparse
from scipy.spatial import cKDTree

from fusion_ops.datamodel import RadarVolume
from fusion_ops.grid import CartesianGrid, GaugePoints, ProductGrid, Target
from fusion_ops.radar.geometry import beam_height_m, ground_distance_m

#: Moments that ``linear_reflectivity=True`` averages in linear power units.
LINEAR_FIELDS = frozenset({"reflectivity"})
#: Columns of the gauge-neighbourhood profile table (:func:`gauge_profiles`), in order.
PROFILE_COLUMNS: tuple[str, ...] = (
    "station_id",
    "time",
    "site_id",
    "height_m",
    "gauge_range_m",
    "reflectivity_dbz",
    "zdr_db",
    "kdp_deg_km",
    "n_gates",
    "mean_range_m",
    "mean_beam_height_m",
)


@dataclasses.dataclass
class GateMap:
    """Sparse gate->cell weights for one (site, scan geometry, target).

    Attributes
    ----------
    matrix : scipy.sparse.csr_matrix (n_levels * n_cells, n_used_gates)
    gates_per_sweep : list of int
        Leading gates of each sweep that the map uses (sweeps are cropped to them).
    n_levels, n_cells : int
    range_m, height_m : ndarray (n_used_gates,)
        Gate geometry, for beam-height / range metadata of profiles.
    """

    matrix: sparse.csr_matrix
    gates_per_sweep: list[int]
    n_levels: int
    n_cells: int
    range_m: np.ndarray
    height_m: np.ndarray


_CACHE: OrderedDict[tuple, GateMap] = OrderedDict()
_CACHE_LOCK = threading.Lock()
_CACHE_SIZE = 32
_CACHE_STATS = {"hits": 0, "misses": 0}


def cache_stats() -> dict[str, int]:
    """Hits/misses of the gate->cell map cache (for metadata and tests)."""
    return dict(_CACHE_STATS, size=len(_CACHE))


def clear_cache() -> None:
    with _CACHE_LOCK:
        _CACHE.clear()
        _CACHE_STATS.update(hits=0, misses=0)


def get_gate_map(volume: RadarVolume, target: Target) -> GateMap:
    """Cached :func:`build_gate_map`, keyed by site, scan geometry and target."""
    key = (volume.geometry_key(), target)
    with _CACHE_LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            _CACHE_STATS["hits"] += 1
            return _CACHE[key]
    gmap = build_gate_map(volume, target)
    with _CACHE_LOCK:
        _CACHE[key] = gmap
        _CACHE_STATS["misses"] += 1
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return gmap


def _vertical_pairs(
    range_m: np.ndarray, elevation_deg: float, beamwidth_deg: float, heights: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(gate index, level index) pairs of one sweep: levels within the gate's beam."""
    z = beam_height_m(range_m, elevation_deg)
    half = 0.5 * (
        beam_height_m(range_m, elevation_deg + beamwidth_deg / 2.0)
        - beam_height_m(range_m, elevation_deg - beamwidth_deg / 2.0)
    )
    dz = float(np.min(np.diff(heights))) if heights.size > 1 else 500.0
    half = np.maximum(half, dz / 2.0)
    inside = np.abs(heights[None, :] - z[:, None]) <= half[:, None]
    g, k = np.nonzero(inside)
    return g, k


def _cells_latlon(lat: np.ndarray, lon: np.ndarray, grid: ProductGrid) -> np.ndarray:
    return grid.cell_index(lat, lon)


def _cells_xy(x: np.ndarray, y: np.ndarray, grid: CartesianGrid) -> np.ndarray:
    nx, ny = grid.x.size, grid.y.size
    j = np.rint((x - grid.x_min_m) / grid.spacing_m).astype(np.int64)
    i = np.rint((y - grid.y_min_m) / grid.spacing_m).astype(np.int64)
    ok = (i >= 0) & (i < ny) & (j >= 0) & (j < nx)
    return np.where(ok, i * nx + j, -1)


def _aeqd(volume: RadarVolume) -> pyproj.Proj:
    return pyproj.Proj(
        proj="aeqd", lat_0=volume.latitude_deg, lon_0=volume.longitude_deg, ellps="WGS84"
    )


def _cell_polar(
    proj: pyproj.Proj, target: Target
) -> tuple[np.ndarray, np.ndarray] | tuple[None, None]:
    """Azimuth (deg) and ground distance (m) of every grid cell centre from the radar."""
    if isinstance(target, ProductGrid):
        lon2d, lat2d = np.meshgrid(target.lon, target.lat)
        x, y = proj(lon2d.ravel(), lat2d.ravel())
    elif isinstance(target, CartesianGrid):
        x2d, y2d = np.meshgrid(target.x, target.y)
        x, y = x2d.ravel(), y2d.ravel()
    else:
        return None, None
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    return np.rad2deg(np.arctan2(x, y)) % 360.0, np.hypot(x, y)


def _fill_pairs(
    sweep,
    ground_m: np.ndarray,
    g_idx: np.ndarray,
    k_idx: np.ndarray,
    cell_az_deg: np.ndarray,
    cell_s_m: np.ndarray,
    covered: np.ndarray,
    n_cells: int,
) -> tuple[np.ndarray, np.ndarray]:
    """(row, column) pairs giving each uncovered cell the gate whose beam contains its centre.

    ``ground_m`` is the ground distance of the sweep's used gates; columns are relative to the
    sweep's first column (``ray * n_used_gates + gate``), rows are ``cell + level * n_cells``.
    """
    ng = ground_m.size
    empty = np.zeros(0, dtype=np.int64)
    if ng < 2:
        return empty, empty
    half_gate = 0.5 * float(ground_m[1] - ground_m[0])
    cand = np.flatnonzero(
        ~covered & (cell_s_m >= ground_m[0] - half_gate) & (cell_s_m <= ground_m[-1] + half_gate)
    )
    if cand.size == 0:
        return empty, empty
    s = cell_s_m[cand]
    gate = np.clip(np.searchsorted(ground_m, s), 1, ng - 1)
    gate = np.where(s - ground_m[gate - 1] < ground_m[gate] - s, gate - 1, gate)
    ray = np.floor(cell_az_deg[cand] / sweep.azimuth_res_deg).astype(np.int64) % sweep.n_azimuth
    # the levels each gate reaches, from the sweep's (gate, level) pairs (np.nonzero in
    # _vertical_pairs returns them sorted by gate)
    start = np.searchsorted(g_idx, gate, side="left")
    count = np.searchsorted(g_idx, gate, side="right") - start
    which = np.repeat(np.arange(cand.size), count)
    offset = np.arange(which.size) - np.repeat(np.cumsum(count) - count, count)
    level = k_idx[np.repeat(start, count) + offset]
    rows = cand[which] + level * n_cells
    cols = ray[which] * ng + gate[which]
    return rows.astype(np.int64), cols.astype(np.int64)


def build_gate_map(volume: RadarVolume, target: Target) -> GateMap:
    """Build the sparse gate->cell weights of ``volume``'s scan geometry onto ``target``."""
    heights = np.asarray(target.heights_m, dtype=np.float64)
    n_levels = heights.size
    proj = _aeqd(volume)
    if isinstance(target, ProductGrid):
        n_cells = target.lat.size * target.lon.size
    elif isinstance(target, CartesianGrid):
        n_cells = target.x.size * target.y.size
    else:
        n_cells = len(target.station_id)
        gx, gy = proj(np.asarray(target.lon), np.asarray(target.lat))
        tree = cKDTree(np.column_stack([gx, gy])) if n_cells else None

    cell_az_deg, cell_s_m = _cell_polar(proj, target)
    rows_all, cols_all, rng_all, hgt_all = [], [], [], []
    gates_per_sweep: list[int] = []
    col_offset = 0
    for sweep in volume.sweeps:
        r = sweep.range_m
        g_idx, k_idx = _vertical_pairs(r, sweep.elevation_deg, volume.beamwidth_deg, heights)
        az = np.deg2rad(sweep.azimuth_deg)
        s = ground_distance_m(r, sweep.elevation_deg)
        if g_idx.size == 0 or n_cells == 0:
            gates_per_sweep.append(0)
            continue
        # only gates that can reach a level; crop the sweep to the last of them
        ng = int(g_idx.max()) + 1
        used_g = np.unique(g_idx)
        x = np.sin(az)[:, None] * s[None, used_g]
        y = np.cos(az)[:, None] * s[None, used_g]
        if isinstance(target, CartesianGrid):
            cell = _cells_xy(x, y, target)
        elif isinstance(target, ProductGrid):
            lon, lat = proj(x.ravel(), y.ravel(), inverse=True)
            cell = _cells_latlon(np.asarray(lat), np.asarray(lon), target).reshape(x.shape)
        else:
            cell = np.full(x.shape, -1, dtype=np.int64)
            gxy = tree.data
            near = (
                (x >= gxy[:, 0].min() - target.radius_m)
                & (x <= gxy[:, 0].max() + target.radius_m)
                & (y >= gxy[:, 1].min() - target.radius_m)
                & (y <= gxy[:, 1].max() + target.radius_m)
            )
            if near.any():
                d, idx = tree.query(
                    np.column_stack([x[near], y[near]]), distance_upper_bound=target.radius_m
                )
                cell[near] = np.where(np.isfinite(d), idx, -1)
        # position of each used gate in `cell`'s columns
        pos = np.searchsorted(used_g, g_idx)
        cell_pairs = cell[:, pos]  # (n_az, n_pairs)
        az_i, p_i = np.nonzero(cell_pairs >= 0)
        if az_i.size:
            rows = cell_pairs[az_i, p_i] + k_idx[p_i] * n_cells
            cols = az_i * ng + g_idx[p_i] + col_offset
            rows_all.append(rows)
            cols_all.append(cols)
        if cell_az_deg is not None:
            covered = np.zeros(n_cells, dtype=bool)
            covered[cell_pairs[az_i, p_i]] = True
            rows, cols = _fill_pairs(
                sweep, s[:ng], g_idx, k_idx, cell_az_deg, cell_s_m, covered, n_cells
            )
            rows_all.append(rows)
            cols_all.append(cols + col_offset)
        gates_per_sweep.append(ng)
        rng_all.append(np.broadcast_to(r[:ng], (az.size, ng)).ravel())
        hgt_all.append(
            np.broadcast_to(beam_height_m(r[:ng], sweep.elevation_deg), (az.size, ng)).ravel()
        )
        col_offset += az.size * ng

    if rows_all:
        rows = np.concatenate(rows_all)
        cols = np.concatenate(cols_all)
    else:
        rows = cols = np.zeros(0, dtype=np.int64)
    matrix = sparse.csr_matrix(
        (np.ones(rows.size, dtype=np.float32), (rows, cols)),
        shape=(n_levels * n_cells, col_offset),
    )
    return GateMap(
        matrix=matrix,
        gates_per_sweep=gates_per_sweep,
        n_levels=n_levels,
        n_cells=n_cells,
        range_m=np.concatenate(rng_all) if rng_all else np.zeros(0),
        height_m=np.concatenate(hgt_all) if hgt_all else np.zeros(0),
    )


def _stacked_field(volume: RadarVolume, gmap: GateMap, name: str) -> np.ndarray | None:
    parts = []
    found = False
    for sweep, ng in zip(volume.sweeps, gmap.gates_per_sweep, strict=True):
        if ng == 0:
            continue
        arr = sweep.fields.get(name)
        if arr is None:
            parts.append(np.full(sweep.n_azimuth * ng, np.nan, dtype=np.float32))
        else:
            found = True
            parts.append(arr[:, :ng].ravel())
    if not found or not parts:
        return None
    return np.concatenate(parts)


def map_field(
    volume: RadarVolume, gmap: GateMap, name: str, linear: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Average one moment over each cell and level (``linear``: in linear power units).

    Returns
    -------
    values : float32 (n_levels, n_cells), NaN where no valid gate
    counts : float32 (n_levels, n_cells), number of valid gates averaged
    """
    shape = (gmap.n_levels, gmap.n_cells)
    v = _stacked_field(volume, gmap, name)
    if v is None:
        return np.full(shape, np.nan, np.float32), np.zeros(shape, np.float32)
    valid = np.isfinite(v)
    linear = linear and name in LINEAR_FIELDS
    if linear:
        # dBZ -> Z with exp (faster than power); average power, not decibels
        v = np.exp(np.where(valid, v, 0.0) * np.float32(np.log(10.0) / 10.0))
    v = np.where(valid, v, np.float32(0.0)).astype(np.float32, copy=False)
    both = gmap.matrix @ np.column_stack([v, valid.astype(np.float32)])
    num, cnt = both[:, 0], both[:, 1]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = num / cnt
    if linear:
        with np.errstate(divide="ignore", invalid="ignore"):
            mean = 10.0 * np.log10(mean)
    mean = np.where(cnt > 0, mean, np.nan).astype(np.float32)
    return mean.reshape(shape), cnt.astype(np.float32).reshape(shape)


def grid_volume(
    volume: RadarVolume,
    grid: ProductGrid | CartesianGrid,
    fields: Sequence[str] = ("reflectivity", "differential_reflectivity"),
    linear_reflectivity: bool = False,
) -> xr.Dataset:
    """Grid a (QC'd) volume onto ``grid`` through the cached gate map.

    Returns
    -------
    xarray.Dataset
        Dims ``(time, height, lat, lon)`` (or ``y, x`` for a Cartesian grid); one variable per
        moment present plus ``n_gates`` (valid reflectivity gates per cell).
    """
    gmap = get_gate_map(volume, grid)
    if isinstance(grid, ProductGrid):
        dims = ("time", "height", "lat", "lon")
        coords = {"lat": grid.lat, "lon": grid.lon}
        hshape = (grid.lat.size, grid.lon.size)
    else:
        dims = ("time", "height", "y", "x")
        coords = {"y": grid.y, "x": grid.x}
        hshape = (grid.y.size, grid.x.size)
    coords = {
        "time": [pd.Timestamp(volume.time).to_datetime64()],
        "height": np.asarray(grid.heights_m, dtype=np.float32),
        **coords,
    }
    shape = (1, gmap.n_levels, *hshape)
    data_vars = {}
    for name in fields:
        if name not in volume.field_names():
            continue
        vals, cnt = map_field(volume, gmap, name, linear_reflectivity)
        data_vars[name] = (dims, vals.reshape(shape), {"units": _UNITS.get(name, "")})
        if name == "reflectivity":
            data_vars["n_gates"] = (dims, cnt.reshape(shape).astype(np.uint16), {"units": "1"})
    ds = xr.Dataset(data_vars, coords=coords)
    ds["height"].attrs = {"units": "m", "long_name": "height above radar site"}
    ds.attrs.update(
        site_id=volume.site_id,
        site_latitude_deg=volume.latitude_deg,
        site_longitude_deg=volume.longitude_deg,
        site_altitude_m=volume.altitude_m,
        source=volume.source,
    )
    return ds


def gauge_profiles(
    volume: RadarVolume, gauges: GaugePoints, linear_reflectivity: bool = False
) -> pd.DataFrame:
    """Vertical profiles above each gauge (neighbourhood averages at fixed heights).

    Returns
    -------
    pandas.DataFrame
        One row per (station, height): ``station_id, time, site_id, height_m, gauge_range_m,
        reflectivity_dbz, zdr_db, kdp_deg_km, n_gates, mean_range_m, mean_beam_height_m``.
        Rows exist for every station within range; values are NaN where no valid gate.
    """
    cols = list(PROFILE_COLUMNS)
    if not gauges.station_id:
        return pd.DataFrame(columns=cols)
    gmap = get_gate_map(volume, gauges)
    z, cnt = map_field(volume, gmap, "reflectivity", linear_reflectivity)
    zdr, _ = map_field(volume, gmap, "differential_reflectivity")
    kdp, _ = map_field(volume, gmap, "specific_differential_phase")
    # beam geometry of the gates in each neighbourhood (whether or not they hold data)
    ones = np.asarray(gmap.matrix.sum(axis=1)).ravel()
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_r = (gmap.matrix @ gmap.range_m) / ones
        mean_h = (gmap.matrix @ gmap.height_m) / ones
    proj = _aeqd(volume)
    gx, gy = proj(np.asarray(gauges.lon), np.asarray(gauges.lat))
    grange = np.hypot(gx, gy)
    nl, ns = gmap.n_levels, gmap.n_cells
    level = np.repeat(np.arange(nl), ns)
    station = np.tile(np.arange(ns), nl)
    df = pd.DataFrame(
        {
            "station_id": np.asarray(gauges.station_id)[station],
            "time": pd.Timestamp(volume.time),
            "site_id": volume.site_id,
            "height_m": np.asarray(gauges.heights_m, dtype=np.float32)[level],
            "gauge_range_m": grange[station].astype(np.float32),
            "reflectivity_dbz": z.ravel(),
            "zdr_db": zdr.ravel(),
            "kdp_deg_km": kdp.ravel(),
            "n_gates": cnt.ravel().astype(np.int32),
            "mean_range_m": mean_r.astype(np.float32),
            "mean_beam_height_m": mean_h.astype(np.float32),
        },
        columns=cols,
    )
    # stations the radar never sees (no gate in any level) carry no information
    seen = np.isfinite(mean_r.reshape(nl, ns)).any(axis=0)
    df = df[seen[station]].sort_values(["station_id", "height_m"]).reset_index(drop=True)
    return df


_UNITS = {
    "reflectivity": "dBZ",
    "differential_reflectivity": "dB",
    "specific_differential_phase": "deg/km",
    "cross_correlation_ratio": "1",
}
