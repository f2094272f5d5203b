"""Reference assets that every day's products share: the product grid."""

import xarray as xr
from dagster import AssetExecutionContext, MetadataValue, asset

from orchestration.runtime.resources import DomainResource


@asset(
    group_name="reference",
    kinds={"xarray", "netcdf"},
    description="The product grid: cell-centre latitudes/longitudes and cell areas of the configured domain.",
)
def product_grid(context: AssetExecutionContext, domain: DomainResource) -> xr.Dataset:
    grid = domain.grid()
    context.add_output_metadata(
        {
            "shape": MetadataValue.json(list(grid.shape)),
            # the total of the float64 areas (the stored ones are float32)
            "area_km2": MetadataValue.float(float(grid.cell_area_km2().sum())),
        }
    )
    return grid.to_dataset()
