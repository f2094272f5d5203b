"""The product grid from its cell centres: as a :class:`LatLonGrid` and as a reference Dataset."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xarray as xr

from fusion_ops.datamodel import LatLonGrid

#: Mean Earth radius (IUGG), for cell areas.
EARTH_RADIUS_M = 6_371_008.8


def latlon_grid(
    lat_deg: np.ndarray,
    lon_deg: np.ndarray,
    spacing_deg: float,
    heights_m: Sequence[float] | None = None,
) -> LatLonGrid:
    """The :class:`LatLonGrid` whose cell centres are ``lat_deg`` x ``lon_deg``.

    Parameters
    ----------
    lat_deg, lon_deg : ndarray
        Ascending, evenly spaced cell-centre latitudes and longitudes (degrees).
    spacing_deg : float
        Their spacing (degrees).
    heights_m : sequence of float, optional
        Profile heights (m); the grid's default when None.

    Returns
    -------
    LatLonGrid
    """
    kw = {} if heights_m is None else {"heights_m": heights_m}
    return LatLonGrid(
        float(lat_deg[0]),
        float(lat_deg[-1]),
        float(lon_deg[0]),
        float(lon_deg[-1]),
        spacing_deg,
        **kw,
    )


def cell_areas_km2(lat_deg: np.ndarray, n_lon: int, spacing_deg: float) -> np.ndarray:
    """Exact spherical cell areas, ``R^2 * dlon * (sin(lat_top) - sin(lat_bottom))``.

    Parameters
    ----------
    lat_deg : ndarray
        Cell-centre latitudes (degrees).
    n_lon : int
        Number of longitudes.
    spacing_deg : float
        Cell size in latitude and longitude (degrees).

    Returns
    -------
    ndarray of float64
        ``(lat, lon)`` areas in km2.
    """
    half = np.deg2rad(spacing_deg / 2)
    band_m2 = EARTH_RADIUS_M**2 * (
        np.sin(np.deg2rad(lat_deg) + half) - np.sin(np.deg2rad(lat_deg) - half)
    )
    return np.outer(band_m2 * np.deg2rad(spacing_deg), np.ones(n_lon)) / 1e6


def product_grid_dataset(
    lat_deg: np.ndarray, lon_deg: np.ndarray, spacing_deg: float, domain_name: str
) -> xr.Dataset:
    """The product grid as a Dataset: CF coordinates and float32 ``cell_area`` (km2).

    Parameters
    ----------
    lat_deg, lon_deg : ndarray
        Cell-centre latitudes and longitudes (degrees).
    spacing_deg : float
        Cell size (degrees).
    domain_name : str
        Stored in the ``domain`` attribute.

    Returns
    -------
    Dataset
        ``cell_area (lat, lon)``; attributes ``domain``, ``grid_spacing_deg``.
    """
    area_km2 = cell_areas_km2(lat_deg, lon_deg.size, spacing_deg)
    return xr.Dataset(
        {"cell_area": (("lat", "lon"), area_km2.astype("float32"), {"units": "km2"})},
        coords={
            "lat": ("lat", lat_deg, {"units": "degrees_north", "standard_name": "latitude"}),
            "lon": ("lon", lon_deg, {"units": "degrees_east", "standard_name": "longitude"}),
        },
        attrs={"domain": domain_name, "grid_spacing_deg": spacing_deg},
    )
