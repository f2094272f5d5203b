"""Reference assets that every day's products share: the product grid."""

import xarray as xr
from dagster import AssetExecutionContext, MetadataValue, asset

from fusion_ops.product_grid import cell_areas_km2, product_grid_dataset
from orchestration.runtime.resources import DomainResource


@asset(
    group_name="reference",
    kinds={"xarray", "netcdf"},
    description="The product grid: cell-centre latitudes/longitudes and cell areas of the configured domain.",
)
def product_grid(context: AssetExecutionContext, domain: DomainResource) -> xr.Dataset:
    lat_deg, lon_deg = domain.latitudes_deg(), domain.longitudes_deg()
    grid = product_grid_dataset(lat_deg, lon_deg, domain.grid_spacing_deg, domain.name)
    # the total of the float64 areas (the stored ones are float32)
    area_km2 = cell_areas_km2(lat_deg, lon_deg.size, domain.grid_spacing_deg)
    context.add_output_metadata(
        {
            "shape": MetadataValue.json([int(lat_deg.size), int(lon_deg.size)]),
            "area_km2": MetadataValue.float(float(area_km2.sum())),
        }
    )
    return grid
