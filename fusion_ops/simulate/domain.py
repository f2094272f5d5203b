"""Simulation domain: a local azimuthal-equidistant frame around the radar and the product grid.

All simulated physics is computed in kilometres east (``x_km``) and north (``y_km``) of the
radar site; observers convert to latitude/longitude only when they write a file.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pyproj


@dataclass(frozen=True)
class Domain:
    """Square simulation domain centred on a ground radar.

    Parameters
    ----------
    site : ICAO of the radar at the centre.
    center_lat_deg, center_lon_deg : radar position (degrees).
    radar_height_m : antenna height above mean sea level (m).
    width_km, height_km : size of the scored domain (km).
    margin_km : extra belt simulated around the domain so the radar (230 km range) and the
        satellite footprints see weather beyond the scored box instead of an empty edge.
    grid_km : spacing of the internal truth grid (km); 1 km or finer meets the 1-km requirement.
    product_res_deg : spacing of the lat/lon product grid the truth is written on (degrees).
    """

    site: str = "KMLB"
    center_lat_deg: float = 28.113
    center_lon_deg: float = -80.654
    radar_height_m: float = 11.0
    width_km: float = 300.0
    height_km: float = 300.0
    margin_km: float = 100.0
    grid_km: float = 1.0
    product_res_deg: float = 0.01

    @cached_property
    def _proj(self) -> pyproj.Transformer:
        aeqd = pyproj.CRS.from_proj4(
            f"+proj=aeqd +lat_0={self.center_lat_deg} +lon_0={self.center_lon_deg} "
            "+x_0=0 +y_0=0 +ellps=WGS84 +units=m"
        )
        return pyproj.Transformer.from_crs("EPSG:4326", aeqd, always_xy=True)

    def to_xy_km(self, lat_deg: np.ndarray, lon_deg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Latitude/longitude (degrees) -> x, y (km east/north of the radar)."""
        x, y = self._proj.transform(np.asarray(lon_deg), np.asarray(lat_deg))
        return np.asarray(x) / 1000.0, np.asarray(y) / 1000.0

    def to_latlon(self, x_km: np.ndarray, y_km: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """x, y (km) -> latitude, longitude (degrees)."""
        lon, lat = self._proj.transform(
            np.asarray(x_km) * 1000.0, np.asarray(y_km) * 1000.0, direction="INVERSE"
        )
        return np.asarray(lat), np.asarray(lon)

    @property
    def half_extent_km(self) -> float:
        """Half-width of the simulated box including the margin (km)."""
        return max(self.width_km, self.height_km) / 2.0 + self.margin_km

    def product_grid(self) -> tuple[np.ndarray, np.ndarray]:
        """1-D latitude and longitude centres (degrees) of the product grid over the domain."""
        dlat = self.height_km / 2.0 / 111.2
        dlon = self.width_km / 2.0 / (111.2 * np.cos(np.deg2rad(self.center_lat_deg)))
        r = self.product_res_deg
        n_lat = int(np.floor(2 * dlat / r))
        n_lon = int(np.floor(2 * dlon / r))
        lat = self.center_lat_deg - (n_lat - 1) * r / 2.0 + r * np.arange(n_lat)
        lon = self.center_lon_deg - (n_lon - 1) * r / 2.0 + r * np.arange(n_lon)
        return np.round(lat, 6), np.round(lon, 6)


@dataclass(frozen=True)
class Grid:
    """Regular grid in the local frame: cell centres ``x0 + i*dx`` (km)."""

    x0_km: float
    y0_km: float
    nx: int
    ny: int
    dx_km: float

    @property
    def x_km(self) -> np.ndarray:
        return self.x0_km + self.dx_km * np.arange(self.nx)

    @property
    def y_km(self) -> np.ndarray:
        return self.y0_km + self.dx_km * np.arange(self.ny)

    @classmethod
    def centred(cls, half_extent_km: float, dx_km: float) -> Grid:
        """Square grid covering ``[-half, half]`` in both directions."""
        n = int(np.ceil(2 * half_extent_km / dx_km)) + 1
        x0 = -(n - 1) * dx_km / 2.0
        return cls(x0, x0, n, n, dx_km)

    def index(
        self, x_km: np.ndarray, y_km: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Nearest cell (row j, column i) of points, and a mask of points inside the grid."""
        i = np.rint((np.asarray(x_km) - self.x0_km) / self.dx_km).astype(np.int64)
        j = np.rint((np.asarray(y_km) - self.y0_km) / self.dx_km).astype(np.int64)
        inside = (i >= 0) & (i < self.nx) & (j >= 0) & (j < self.ny)
        return np.clip(j, 0, self.ny - 1), np.clip(i, 0, self.nx - 1), inside

    def bilinear(self, field: np.ndarray, x_km: np.ndarray, y_km: np.ndarray) -> np.ndarray:
        """Bilinear interpolation of a (ny, nx) field at points (clamped at the edges)."""
        fx = np.clip((np.asarray(x_km) - self.x0_km) / self.dx_km, 0, self.nx - 1.000001)
        fy = np.clip((np.asarray(y_km) - self.y0_km) / self.dx_km, 0, self.ny - 1.000001)
        i = fx.astype(np.int64)
        j = fy.astype(np.int64)
        wx = fx - i
        wy = fy - j
        return (
            field[j, i] * (1 - wx) * (1 - wy)
            + field[j, i + 1] * wx * (1 - wy)
            + field[j + 1, i] * (1 - wx) * wy
            + field[j + 1, i + 1] * wx * wy
        )
