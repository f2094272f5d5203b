"""One ground-radar volume -> QC'd vertical profiles above gauges and on the product grid.

This is the per-volume ingest step (read + QC + KDP + profiles + gridding); a day is processed by
streaming volumes through :func:`ingest_volumes` so that only one volume is in memory at a time.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator, Sequence

import numpy as np
import pandas as pd
import xarray as xr

from fusion_ops.radar.geometry import RadarVolume
from fusion_ops.radar.gridding import (
    CartesianGrid,
    GaugePoints,
    LatLonGrid,
    gauge_profiles,
    grid_volume,
)
from fusion_ops.radar.qc import RadarQCConfig, derive_kdp, quality_control
from fusion_ops.readers.errors import QuarantineRecord, UnreadableFileError, describe_exception
from fusion_ops.readers.ground_radar import DEFAULT_FIELDS, read_volume

PROFILE_FIELDS: tuple[str, ...] = (
    "reflectivity",
    "differential_reflectivity",
    "specific_differential_phase",
)


@dataclasses.dataclass
class VolumeProducts:
    """What one volume contributes to the day."""

    source: str
    site_id: str
    time: pd.Timestamp
    grid: xr.Dataset | None
    profiles: pd.DataFrame
    qc: dict[str, int]
    max_reflectivity_dbz: float


def max_needed_range_m(
    site_lat: float,
    site_lon: float,
    grid: LatLonGrid | CartesianGrid | None,
    gauges: GaugePoints | None,
    margin_m: float = 5000.0,
) -> float:
    """Farthest slant range any target can use (gates beyond it are not decoded)."""
    import pyproj

    far = 0.0
    geod = pyproj.Geod(ellps="WGS84")
    if isinstance(grid, CartesianGrid):
        far = float(
            np.hypot(
                max(abs(grid.x_min_m), abs(grid.x_max_m)), max(abs(grid.y_min_m), abs(grid.y_max_m))
            )
        )
    elif isinstance(grid, LatLonGrid):
        lats = np.array([grid.lat_min, grid.lat_min, grid.lat_max, grid.lat_max])
        lons = np.array([grid.lon_min, grid.lon_max, grid.lon_min, grid.lon_max])
        _, _, d = geod.inv(np.full(4, site_lon), np.full(4, site_lat), lons, lats)
        far = float(np.max(d))
    if gauges is not None and gauges.station_id:
        n = len(gauges.station_id)
        _, _, d = geod.inv(np.full(n, site_lon), np.full(n, site_lat), gauges.lon, gauges.lat)
        far = max(far, float(np.max(d)) + gauges.radius_m)
    # ground distance is slightly shorter than slant range; the margin covers it
    return far + margin_m if far > 0 else 0.0


def process_volume(
    volume: RadarVolume,
    grid: LatLonGrid | CartesianGrid | None,
    gauges: GaugePoints | None,
    qc_config: RadarQCConfig | None = None,
) -> VolumeProducts:
    """QC a read volume, derive KDP and extract gauge profiles and the gridded profiles."""
    stats = quality_control(volume, qc_config)
    for sweep in volume.sweeps:
        derive_kdp(sweep)
    prof = gauge_profiles(volume, gauges) if gauges is not None else pd.DataFrame()
    gridded = grid_volume(volume, grid, PROFILE_FIELDS) if grid is not None else None
    return VolumeProducts(
        source=volume.source,
        site_id=volume.site_id,
        time=pd.Timestamp(volume.time),
        grid=gridded,
        profiles=prof,
        qc=stats,
        max_reflectivity_dbz=volume.max_reflectivity_dbz(),
    )


def ingest_volume(
    url: str,
    grid: LatLonGrid | CartesianGrid | None,
    gauges: GaugePoints | None,
    site_lat_lon: tuple[float, float] | None = None,
    qc_config: RadarQCConfig | None = None,
    storage_options: dict | None = None,
) -> VolumeProducts:
    """Read + QC + profiles + gridding of one volume file.

    ``site_lat_lon`` (known from the site table) lets the reader drop gates beyond the farthest
    target before converting them; without it the whole range is decoded.
    """
    max_range = None
    if site_lat_lon is not None:
        max_range = max_needed_range_m(site_lat_lon[0], site_lat_lon[1], grid, gauges) or None
    volume = read_volume(url, DEFAULT_FIELDS, max_range, storage_options)
    return process_volume(volume, grid, gauges, qc_config)


def ingest_volumes(
    urls: Iterable[str],
    grid: LatLonGrid | CartesianGrid | None,
    gauges: GaugePoints | None,
    site_lat_lon: tuple[float, float] | None = None,
    qc_config: RadarQCConfig | None = None,
    storage_options: dict | None = None,
    quarantine: list[QuarantineRecord] | None = None,
) -> Iterator[VolumeProducts]:
    """Stream volumes: yields products one at a time; unreadable files go to ``quarantine``."""
    for url in urls:
        try:
            yield ingest_volume(url, grid, gauges, site_lat_lon, qc_config, storage_options)
        except UnreadableFileError as err:
            if quarantine is not None:
                quarantine.append(QuarantineRecord.from_error(err))
        except Exception as exc:  # noqa: BLE001 - one bad volume must not stop the day
            if quarantine is not None:
                quarantine.append(
                    QuarantineRecord(str(url), describe_exception(exc), "ground_radar")
                )


def empty_profiles_frame() -> pd.DataFrame:
    """The gauge-profile table with no rows (a day without radar data)."""
    return pd.DataFrame(columns=list(PROFILE_COLUMNS))


PROFILE_COLUMNS: Sequence[str] = (
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

__all__ = [
    "PROFILE_COLUMNS",
    "VolumeProducts",
    "empty_profiles_frame",
    "ingest_volume",
    "ingest_volumes",
    "max_needed_range_m",
    "process_volume",
]
