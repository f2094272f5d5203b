"""Geostationary imager observer: GOES-East ABI radiances of the truth's clouds.

A deliberately simple radiative model that keeps the relations the retrieval relies on:

* infrared brightness temperature mixes the cloud-top temperature and the clear-sky scene by
  the cloud's infrared emissivity ``1 - exp(-tau/2)`` (thick anvils are as cold as their tops,
  with or without rain below); water-vapour and CO2 bands see clouds only above their
  emission level; thin ice gives the split-window (11.2 - 12.3 um) difference;
* visible/near-infrared reflectance follows the cloud optical depth (two-stream
  ``tau / (tau + 13.3)`` for g = 0.85) over a land or sea surface, scaled by the cosine of the
  solar zenith angle, and is zero at night; ice clouds absorb at 1.6 um.

Values are computed on each band's own fixed-grid sector at native resolution and written by
:func:`fusion_ops.simulate.formats.abi_l1b.write_abi_l1b`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property

import numpy as np

from fusion_ops.eras import PLATFORM_SECTOR
from fusion_ops.simulate.formats.abi_l1b import AbiGrid, abi_lat_lon, abi_sector_grid
from fusion_ops.simulate.truth import ColumnState, TruthModel

__all__ = ["DEFAULT_ABI_BANDS", "GeoImager", "is_land", "solar_zenith_deg"]

DEFAULT_ABI_BANDS = (1, 2, 3, 5, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16)
# Clear-sky brightness-temperature offsets from the skin temperature (K), bands 7-16.
_CLEAR_OFFSET_K = {
    7: 0.0,
    8: -66.0,
    9: -55.0,
    10: -45.0,
    11: -3.0,
    12: -25.0,
    13: -2.0,
    14: -3.0,
    15: -5.0,
    16: -22.0,
}
# Surface reflectance (sea, land) of the reflective bands.
_SURFACE_REFL = {1: (0.06, 0.05), 2: (0.04, 0.08), 3: (0.02, 0.32), 5: (0.01, 0.22)}


def is_land(lat_deg: np.ndarray, lon_deg: np.ndarray) -> np.ndarray:
    """Crude Florida land mask: land west of the Atlantic coast line and east of the Gulf coast."""
    east_coast = -80.6 - 0.45 * (np.asarray(lat_deg) - 28.1)
    gulf_coast = -82.7 + 0.2 * (np.asarray(lat_deg) - 28.1)
    lon = np.asarray(lon_deg)
    return (lon < east_coast) & (lon > gulf_coast)


def solar_zenith_deg(t: datetime, lat_deg: np.ndarray, lon_deg: np.ndarray) -> np.ndarray:
    """Solar zenith angle (degrees) from the NOAA approximation of declination and time."""
    t = t.astimezone(UTC)
    doy = t.timetuple().tm_yday
    g = 2 * np.pi / 365.0 * (doy - 1 + (t.hour - 12) / 24.0)
    decl = (
        0.006918
        - 0.399912 * np.cos(g)
        + 0.070257 * np.sin(g)
        - 0.006758 * np.cos(2 * g)
        + 0.000907 * np.sin(2 * g)
        - 0.002697 * np.cos(3 * g)
        + 0.00148 * np.sin(3 * g)
    )
    eqt = 229.18 * (
        0.000075
        + 0.001868 * np.cos(g)
        - 0.032077 * np.sin(g)
        - 0.014615 * np.cos(2 * g)
        - 0.040849 * np.sin(2 * g)
    )
    minutes = t.hour * 60 + t.minute + t.second / 60.0
    ha = np.deg2rad((minutes + eqt + 4 * np.asarray(lon_deg)) / 4.0 - 180.0)
    lat = np.deg2rad(lat_deg)
    cosz = np.sin(lat) * np.sin(decl) + np.cos(lat) * np.cos(decl) * np.cos(ha)
    return np.rad2deg(np.arccos(np.clip(cosz, -1, 1)))


@dataclass
class GeoImager:
    """ABI mesoscale-like sector over the domain.

    Parameters
    ----------
    truth : the synthetic atmosphere.
    bands : ABI bands to simulate (default C01-C03, C05, C07-C16).
    width_km : sector size at nadir scale (the domain size by default).
    platform : ``G16`` or ``G19`` (GOES-East, sub-satellite longitude -75.2), ``G17`` or ``G18``
        (GOES-West, -137.2); :func:`fusion_ops.eras.abi_platforms` tells which served a day.
    """

    truth: TruthModel
    bands: tuple[int, ...] = DEFAULT_ABI_BANDS
    width_km: float | None = None
    platform: str = "G16"
    seed: int = 0
    _cache: dict = field(default_factory=dict, repr=False)

    @cached_property
    def satellite_lon_deg(self) -> float:
        return -75.2 if PLATFORM_SECTOR.get(self.platform, "east") == "east" else -137.2

    def grid(self, band: int) -> tuple[AbiGrid, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Sector grid of a band, its lat/lon and the truth-grid cell of every pixel (cached)."""
        if band not in self._cache:
            dom = self.truth.domain
            width = self.width_km or max(dom.width_km, dom.height_km)
            g = abi_sector_grid(
                dom.center_lat_deg, dom.center_lon_deg, width, band, self.satellite_lon_deg
            )
            lat, lon = abi_lat_lon(g)
            x, y = dom.to_xy_km(np.nan_to_num(lat), np.nan_to_num(lon))
            j, i, _ = self.truth.grid.index(x, y)
            self._cache[band] = (g, lat, lon, j * self.truth.grid.nx + i, is_land(lat, lon))
        return self._cache[band]

    def scene(
        self, t: datetime, state: ColumnState | None = None
    ) -> dict[int, tuple[AbiGrid, np.ndarray]]:
        """Per band: (grid, brightness temperature K or reflectance factor) at time ``t``."""
        state = state or self.truth.state(t)
        flat = ColumnState(**{k: v.reshape(-1) for k, v in state.__dict__.items()})
        rng = np.random.default_rng([self.seed, int(t.timestamp()), 5])
        out = {}
        for band in self.bands:
            g, lat, lon, idx, land = self.grid(band)
            c = flat.take(idx)
            tau = c.cloud_optical_depth.astype(np.float64)
            ctt = c.cloud_top_temperature_k.astype(np.float64)
            if band >= 7:
                tskin = self.truth.regime(t.date()).surface_temperature_k
                sza = solar_zenith_deg(t, lat, lon)
                day = np.clip(np.cos(np.deg2rad(sza)), 0, None)
                t_surf = np.where(land, tskin + 5.0 * day, tskin - 0.5)
                clear = t_surf + _CLEAR_OFFSET_K[band]
                eps = 1.0 - np.exp(-0.5 * tau)
                if band == 7:
                    # 3.9 um: water clouds emit less and reflect sunlight in daytime.
                    ice = ctt < 253.0
                    eps = eps * np.where(ice, 0.95, 0.85)
                    clear = clear + 8.0 * day
                    bt = (
                        eps * ctt
                        + (1 - eps) * clear
                        + np.where(ice, 0.0, 25.0 * day * tau / (tau + 13.3))
                    )
                else:
                    bt = eps * ctt + (1 - eps) * clear
                    if band in (8, 9, 10, 16):
                        bt = np.minimum(bt, clear)  # clouds below the emission level are hidden
                    if band == 15:
                        bt = bt - 6.0 * eps * (1 - eps) * (ctt < 253.0)  # split window of thin ice
                val = bt + rng.normal(0, 0.15, bt.shape)
            else:
                sza = solar_zenith_deg(t, lat, lon)
                mu0 = np.clip(np.cos(np.deg2rad(sza)), 0, None)
                sea_r, land_r = _SURFACE_REFL[band]
                rs = np.where(land, land_r, sea_r)
                rc = tau / (tau + 13.3)
                if band == 5:
                    rc = rc * np.where(ctt < 253.0, 0.55, 0.9)
                refl = rc + (1 - rc) ** 2 * rs / (1 - rc * rs)
                val = refl * mu0 + rng.normal(0, 0.003, refl.shape)
            out[band] = (g, np.where(np.isfinite(lat), val, np.nan).astype(np.float32))
        return out
