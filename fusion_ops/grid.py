"""The targets observations are mapped onto: the product grid, gauge points, a radar-centred grid.

* :class:`ProductGrid` - the one regular latitude/longitude product grid of the pipeline, defined
  by its domain edges and cell size: cell centres, cell areas, cell lookup, a coarser (or finer)
  grid over the same domain, and the reference Dataset. The configuration's ``domain`` section,
  the ``domain`` resource, the radar gridding, the satellite features, the products and the
  verification all use it;
* :class:`GaugePoints` - gauge neighbourhoods (radar profiles averaged within a radius);
* :class:`CartesianGrid` - a radar-centred x/y grid, as ``pyart.map.grid_from_radars`` uses (the
  library baseline of the ingest benchmark).

Every target carries the profile heights above the radar, :data:`DEFAULT_HEIGHTS_M` unless set.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import pandas as pd
import xarray as xr

#: Profile levels above the radar (m): 500 m to 8 km every 500 m.
DEFAULT_HEIGHTS_M: tuple[float, ...] = tuple(float(h) for h in np.arange(500.0, 8001.0, 500.0))
#: Mean Earth radius (IUGG), for cell areas.
EARTH_RADIUS_M = 6_371_008.8


def _centres(edge_min: float, edge_max: float, step: float) -> np.ndarray:
    """Centres of the ``round((edge_max - edge_min) / step)`` cells from ``edge_min``."""
    n = int(round((edge_max - edge_min) / step))
    return edge_min + (np.arange(n) + 0.5) * step


def _inclusive(first: float, last: float, step: float) -> np.ndarray:
    """Cell centres from ``first`` to ``last`` (both included) every ``step``."""
    return first + np.arange(int(round((last - first) / step)) + 1) * step


@dataclasses.dataclass(frozen=True)
class ProductGrid:
    """A regular latitude/longitude grid of square cells over a domain.

    Attributes
    ----------
    lat_min_deg, lat_max_deg, lon_min_deg, lon_max_deg : float
        Domain edges (degrees); the cells tile the domain from its south-west corner.
    spacing_deg : float
        Cell size in latitude and in longitude (degrees).
    name : str
        Domain name (product file names and attributes).
    heights_m : tuple of float
        Profile heights above the radar (m) for radar profiles on this grid.
    """

    lat_min_deg: float
    lat_max_deg: float
    lon_min_deg: float
    lon_max_deg: float
    spacing_deg: float
    name: str = "domain"
    heights_m: tuple[float, ...] = DEFAULT_HEIGHTS_M

    def __post_init__(self) -> None:
        if self.spacing_deg <= 0:
            raise ValueError(f"grid spacing must be positive, got {self.spacing_deg} deg")
        if self.lat_min_deg >= self.lat_max_deg or self.lon_min_deg >= self.lon_max_deg:
            raise ValueError(
                "grid edges must be ordered: "
                f"lat {self.lat_min_deg}..{self.lat_max_deg}, lon {self.lon_min_deg}..{self.lon_max_deg}"
            )

    @classmethod
    def from_centres(
        cls,
        first_lat_deg: float,
        last_lat_deg: float,
        first_lon_deg: float,
        last_lon_deg: float,
        spacing_deg: float,
        heights_m: Sequence[float] = DEFAULT_HEIGHTS_M,
        name: str = "domain",
    ) -> ProductGrid:
        """The grid whose first and last cell centres are the given ones (degrees)."""
        half = spacing_deg / 2
        return cls(
            first_lat_deg - half,
            last_lat_deg + half,
            first_lon_deg - half,
            last_lon_deg + half,
            spacing_deg,
            name,
            tuple(float(h) for h in heights_m),
        )

    @property
    def lat(self) -> np.ndarray:
        """Cell-centre latitudes (degrees north), ascending."""
        return _centres(self.lat_min_deg, self.lat_max_deg, self.spacing_deg)

    @property
    def lon(self) -> np.ndarray:
        """Cell-centre longitudes (degrees east), ascending."""
        return _centres(self.lon_min_deg, self.lon_max_deg, self.spacing_deg)

    @property
    def shape(self) -> tuple[int, int]:
        """(number of latitudes, number of longitudes)."""
        return self.lat.size, self.lon.size

    def bbox(self) -> tuple[float, float, float, float]:
        """(lon_min, lat_min, lon_max, lat_max) of the domain edges (degrees)."""
        return (self.lon_min_deg, self.lat_min_deg, self.lon_max_deg, self.lat_max_deg)

    def cell_index(self, lat_deg: np.ndarray, lon_deg: np.ndarray) -> np.ndarray:
        """Flat index (``i_lat * n_lon + i_lon``) of the cell holding each point; -1 outside.

        A point belongs to the cell whose centre is nearest (ties to the even index, as
        ``numpy.rint`` rounds).
        """
        lat, lon = self.lat, self.lon
        i = np.rint((np.asarray(lat_deg) - lat[0]) / self.spacing_deg).astype(np.int64)
        j = np.rint((np.asarray(lon_deg) - lon[0]) / self.spacing_deg).astype(np.int64)
        ok = (i >= 0) & (i < lat.size) & (j >= 0) & (j < lon.size)
        return np.where(ok, i * lon.size + j, -1)

    def cell_area_km2(self) -> np.ndarray:
        """Exact spherical cell areas, ``R^2 * dlon * (sin(lat_top) - sin(lat_bottom))`` (km2).

        Returns
        -------
        ndarray of float64, shape (n_lat, n_lon)
        """
        lat = self.lat
        half = np.deg2rad(self.spacing_deg / 2)
        band_m2 = EARTH_RADIUS_M**2 * (
            np.sin(np.deg2rad(lat) + half) - np.sin(np.deg2rad(lat) - half)
        )
        return np.outer(band_m2 * np.deg2rad(self.spacing_deg), np.ones(self.lon.size)) / 1e6

    def with_heights(self, heights_m: Sequence[float] | None) -> ProductGrid:
        """The same grid with other profile heights (``None`` keeps them)."""
        if heights_m is None:
            return self
        return dataclasses.replace(self, heights_m=tuple(float(h) for h in heights_m))

    def respaced(self, spacing_deg: float) -> ProductGrid:
        """A grid over the same domain with cells of ``spacing_deg`` (coarser or finer).

        The cells tile the domain from its south-west corner, as this grid's do; where the
        domain is not a whole number of new cells, the count is rounded.
        """
        return dataclasses.replace(self, spacing_deg=float(spacing_deg))

    def to_dataset(self) -> xr.Dataset:
        """The grid as a Dataset: CF coordinates and float32 ``cell_area`` (km2).

        Attributes ``domain`` and ``grid_spacing_deg`` name the grid.
        """
        return xr.Dataset(
            {
                "cell_area": (
                    ("lat", "lon"),
                    self.cell_area_km2().astype("float32"),
                    {"units": "km2"},
                )
            },
            coords={
                "lat": ("lat", self.lat, {"units": "degrees_north", "standard_name": "latitude"}),
                "lon": ("lon", self.lon, {"units": "degrees_east", "standard_name": "longitude"}),
            },
            attrs={"domain": self.name, "grid_spacing_deg": self.spacing_deg},
        )


@dataclasses.dataclass(frozen=True)
class GaugePoints:
    """Gauge neighbourhoods: radar profiles are averages of gates within ``radius_m`` of a gauge."""

    station_id: tuple[str, ...]
    lat: tuple[float, ...]
    lon: tuple[float, ...]
    radius_m: float = 1500.0
    heights_m: tuple[float, ...] = DEFAULT_HEIGHTS_M

    @classmethod
    def from_stations(
        cls,
        stations: pd.DataFrame,
        radius_m: float = 1500.0,
        heights_m: Sequence[float] = DEFAULT_HEIGHTS_M,
    ) -> GaugePoints:
        """The neighbourhoods of a station table with columns ``station_id, lat, lon`` (deg)."""
        return cls(
            tuple(stations["station_id"].astype(str)),
            tuple(stations["lat"].astype(float)),
            tuple(stations["lon"].astype(float)),
            radius_m,
            tuple(heights_m),
        )


@dataclasses.dataclass(frozen=True)
class CartesianGrid:
    """Radar-centred x/y grid (azimuthal equidistant), as ``pyart.map.grid_from_radars`` uses.

    ``x_min_m`` .. ``x_max_m`` and ``y_min_m`` .. ``y_max_m`` are the first and last cell centres.
    """

    x_min_m: float
    x_max_m: float
    y_min_m: float
    y_max_m: float
    spacing_m: float
    heights_m: tuple[float, ...]

    @property
    def x(self) -> np.ndarray:
        return _inclusive(self.x_min_m, self.x_max_m, self.spacing_m)

    @property
    def y(self) -> np.ndarray:
        return _inclusive(self.y_min_m, self.y_max_m, self.spacing_m)


#: What radar gates can be mapped onto.
Target = ProductGrid | CartesianGrid | GaugePoints
