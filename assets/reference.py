"""Reference assets that every day's products share: the product grid."""

import numpy as np
import xarray as xr
from dagster import AssetExecutionContext, MetadataValue, asset

from orchestration.runtime.resources import DomainResource

EARTH_RADIUS_M = 6_371_008.8


@asset(
    group_name="reference",
    kinds={"xarray", "netcdf"},
    description="The product grid: cell-centre latitudes/longitudes and cell areas of the configured domain.",
)
def product_grid(context: AssetExecutionContext, domain: DomainResource) -> xr.Dataset:
    lat = domain.latitudes_deg()
    lon = domain.longitudes_deg()
    half = np.deg2rad(domain.grid_spacing_deg / 2)
    # Exact spherical cell area: R^2 * dlon * (sin(lat_top) - sin(lat_bottom)).
    band_m2 = EARTH_RADIUS_M**2 * (np.sin(np.deg2rad(lat) + half) - np.sin(np.deg2rad(lat) - half))
    area_km2 = np.outer(band_m2 * np.deg2rad(domain.grid_spacing_deg), np.ones(lon.size)) / 1e6
    grid = xr.Dataset(
        {"cell_area": (("lat", "lon"), area_km2.astype("float32"), {"units": "km2"})},
        coords={
            "lat": ("lat", lat, {"units": "degrees_north", "standard_name": "latitude"}),
            "lon": ("lon", lon, {"units": "degrees_east", "standard_name": "longitude"}),
        },
        attrs={"domain": domain.name, "grid_spacing_deg": domain.grid_spacing_deg},
    )
    context.add_output_metadata(
        {
            "shape": MetadataValue.json([int(lat.size), int(lon.size)]),
            "area_km2": MetadataValue.float(float(area_km2.sum())),
        }
    )
    return grid
