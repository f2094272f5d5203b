"""fusion_ops.grid: the one product grid (centres, areas, cell lookup, respacing, Dataset)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fusion_ops.grid import DEFAULT_HEIGHTS_M, EARTH_RADIUS_M, GaugePoints, ProductGrid
from orchestration.runtime.config import DomainConfig
from orchestration.runtime.resources import DomainResource

GRID = ProductGrid(27.0, 28.0, -81.0, -79.8, 0.1, name="test")


def test_cell_centres_tile_the_domain_from_its_edges() -> None:
    assert GRID.shape == (10, 12)
    np.testing.assert_array_equal(GRID.lat, 27.0 + (np.arange(10) + 0.5) * 0.1)
    np.testing.assert_array_equal(GRID.lon, -81.0 + (np.arange(12) + 0.5) * 0.1)
    assert GRID.bbox() == (-81.0, 27.0, -79.8, 28.0)
    assert GRID.heights_m == DEFAULT_HEIGHTS_M


def test_the_configured_domain_gives_the_demo_grid() -> None:
    """The default domain: 270 x 306 cells of 0.01 degree, centres half a cell inside."""
    grid = DomainResource(**DomainConfig().model_dump()).grid()
    assert grid.shape == (270, 306) and grid.name == "kmlb"
    assert grid.lat[0] == pytest.approx(26.768, abs=1e-12)
    assert grid.lon[-1] == pytest.approx(-79.129, abs=1e-12)
    assert grid.with_heights([1000, 2000]).heights_m == (1000.0, 2000.0)
    assert grid.with_heights(None) is grid


def test_cell_index_finds_the_nearest_centre_and_rejects_outside_points() -> None:
    lat = np.array([27.05, 27.149, 27.96, 26.9, 27.5])
    lon = np.array([-80.95, -80.85, -79.85, -80.0, -79.7])
    index = GRID.cell_index(lat, lon)
    assert index.tolist() == [0, 1 * 12 + 1, 9 * 12 + 11, -1, -1]


def test_cell_areas_sum_to_the_sphere() -> None:
    globe = ProductGrid(-90.0, 90.0, -180.0, 180.0, 1.0)
    areas = globe.cell_area_km2()
    assert areas.shape == (180, 360) and areas.dtype == np.float64
    assert areas.sum() == pytest.approx(4 * np.pi * EARTH_RADIUS_M**2 / 1e6, rel=1e-12)
    # a 0.1 degree cell near 27.5 N is about 11.1 km x 9.9 km
    assert GRID.cell_area_km2()[5, 0] == pytest.approx(109.6, rel=0.01)


def test_respaced_grid_covers_the_same_domain() -> None:
    coarse = GRID.respaced(0.2)
    assert coarse.shape == (5, 6) and coarse.bbox() == GRID.bbox()
    # each coarse centre is the mean of the 2 x 2 fine centres it covers
    np.testing.assert_allclose(coarse.lat, GRID.lat.reshape(5, 2).mean(axis=1), atol=1e-12)
    assert coarse.heights_m == GRID.heights_m and coarse.name == GRID.name


def test_from_centres_inverts_the_centres() -> None:
    grid = ProductGrid.from_centres(33.2, 34.1, -102.3, -101.3, 0.05, (1000.0,))
    assert grid.shape == (19, 21)
    assert grid.lat[0] == pytest.approx(33.2) and grid.lat[-1] == pytest.approx(34.1)
    assert grid.lon[0] == pytest.approx(-102.3) and grid.heights_m == (1000.0,)


def test_dataset_has_cf_coordinates_and_float32_areas() -> None:
    ds = GRID.to_dataset()
    assert ds.sizes == {"lat": 10, "lon": 12}
    assert ds["cell_area"].dtype == np.float32 and ds["cell_area"].attrs["units"] == "km2"
    np.testing.assert_array_equal(ds["cell_area"].values, GRID.cell_area_km2().astype("float32"))
    assert ds.attrs == {"domain": "test", "grid_spacing_deg": 0.1}
    assert ds["lat"].attrs["standard_name"] == "latitude"
    assert ds["lon"].attrs["units"] == "degrees_east"


@pytest.mark.parametrize(
    ("edges", "spacing"),
    [((28.0, 27.0, -81.0, -80.0), 0.1), ((27.0, 28.0, -81.0, -80.0), 0.0)],
)
def test_bad_grids_are_refused(edges, spacing) -> None:
    with pytest.raises(ValueError, match="grid"):
        ProductGrid(*edges, spacing)


def test_gauge_points_from_a_station_table() -> None:
    stations = pd.DataFrame({"station_id": [7, "b"], "lat": [27.5, 27.6], "lon": [-80.5, -80.4]})
    points = GaugePoints.from_stations(stations, radius_m=1000.0, heights_m=[500.0])
    assert points.station_id == ("7", "b") and points.lat == (27.5, 27.6)
    assert points.radius_m == 1000.0 and points.heights_m == (500.0,)
