"""A small synthetic product day: truth, three imperfect sources and gauges, built from arrays.

The sources carry the errors the merge and the adjustment are designed for: the ground radar a
smooth multiplicative bias and noise that grows with range, the spaceborne radar one overpass
along a swath, the satellite a displaced, smoothed and noisy field; gauges undercatch and quantise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
from scipy import ndimage

from fusion_ops.products.merge import RangeErrorModel, footprints_to_grid, range_from_site_km

SITE = (28.113, -80.654)
DAY = "2009-05-21"


@dataclass
class SyntheticDay:
    day: str
    lat: np.ndarray
    lon: np.ndarray
    truth_mm_h: np.ndarray
    truth_daily_mm: np.ndarray
    sources: dict[str, np.ndarray | None]
    error_std: dict[str, np.ndarray | float]
    gauges: pd.DataFrame
    gauge_hourly: pd.DataFrame
    footprints: pd.DataFrame
    range_km: np.ndarray


def make_synthetic_day(seed: int = 7, day: str = DAY) -> SyntheticDay:
    rng = np.random.default_rng(seed)
    lat = np.round(27.61 + 0.02 * np.arange(50), 6)
    lon = np.round(-81.19 + 0.02 * np.arange(55), 6)
    lon2d, lat2d = np.meshgrid(lon, lat)
    x_km = (lon2d - SITE[1]) * 111.2 * np.cos(np.deg2rad(SITE[0]))
    y_km = (lat2d - SITE[0]) * 111.2
    hours = np.arange(24)

    # Truth: moving convective cells on a weak stratiform background.
    truth = np.zeros((24, lat.size, lon.size))
    for _ in range(9):
        x0, y0 = rng.uniform(-60, 60, 2)
        u, v = rng.uniform(-8, 8, 2)
        peak, width = rng.uniform(6, 30), rng.uniform(6, 15)
        t0, life = rng.uniform(0, 20), rng.uniform(3, 8)
        for h in hours:
            amp = peak * np.exp(-(((h - t0) / life) ** 2))
            d2 = (x_km - x0 - u * (h - t0)) ** 2 + (y_km - y0 - v * (h - t0)) ** 2
            truth[h] += amp * np.exp(-d2 / (2 * width**2))
    strat = ndimage.gaussian_filter(rng.gamma(0.5, 2.0, (lat.size, lon.size)), 6)
    truth += 0.6 * strat[None] * (np.sin(hours / 24 * 2 * np.pi)[:, None, None] > 0)
    truth[truth < 0.1] = 0.0

    rng_km = range_from_site_km(lat, lon, *SITE)
    gr_model = RangeErrorModel.parametric(1.2, reference_range_km=50.0, growth_per_100km=1.5)
    gr_std = gr_model.std_mm_h(rng_km)
    bias = 0.75 + 0.1 * np.sin(x_km / 40.0) * np.cos(y_km / 50.0)
    gr = truth * bias[None] + rng.normal(0, 1, truth.shape) * gr_std[None] * (truth > 0)
    gr = np.clip(gr, 0, None)

    # One spaceborne overpass at 14 UTC through a slanted swath; 5 km footprints.
    sr = np.full_like(truth, np.nan)
    fx, fy = np.meshgrid(np.arange(-90, 90, 5.0), np.arange(-90, 90, 5.0))
    in_swath = np.abs(fx + 0.4 * fy) < 40
    flat = SITE[0] + fy[in_swath] / 111.2
    flon = SITE[1] + fx[in_swath] / (111.2 * np.cos(np.deg2rad(SITE[0])))
    fi = np.clip(np.rint((flat - lat[0]) / 0.02).astype(int), 0, lat.size - 1)
    fj = np.clip(np.rint((flon - lon[0]) / 0.02).astype(int), 0, lon.size - 1)
    f_rain = np.clip(truth[14][fi, fj] * 1.1 + rng.normal(0, 1.5, fi.size), 0, None)
    sr[14] = footprints_to_grid(flat, flon, f_rain, lat, lon, radius_km=3.6)

    smooth = ndimage.gaussian_filter(np.roll(truth, 2, axis=2), (0, 2, 2))
    sat = np.clip(smooth * 0.9 + rng.normal(0, 1.5, truth.shape) * (smooth > 0.3), 0, None)

    n = 90
    glat = rng.uniform(lat[2], lat[-3], n)
    glon = rng.uniform(lon[2], lon[-3], n)
    gi = np.rint((glat - lat[0]) / 0.02).astype(int)
    gj = np.rint((glon - lon[0]) / 0.02).astype(int)
    truth_daily = truth.sum(axis=0)
    g_hourly = np.floor(truth[:, gi, gj] * 0.96 / 0.254) * 0.254  # (24, n) undercatch, tips
    ids = [f"G{k:03d}" for k in range(n)]
    gauges = pd.DataFrame(
        {"lat_deg": glat, "lon_deg": glon, "daily_mm": g_hourly.sum(axis=0)},
        index=pd.Index(ids, name="station_id"),
    )
    ends = pd.Timestamp(day, tz="UTC") + pd.to_timedelta(np.arange(1, 25), unit="h")
    gauge_hourly = pd.DataFrame(
        {
            "station_id": np.tile(ids, 24),
            "time_end": np.repeat(ends, n),
            "precip_mm": g_hourly.ravel(),
            "lat": np.tile(glat, 24),
            "lon": np.tile(glon, 24),
        }
    )
    footprints = pd.DataFrame(
        {
            "time": pd.Timestamp(day, tz="UTC") + pd.Timedelta(hours=14, minutes=20),
            "lat": flat,
            "lon": flon,
            "rain_mm_h": f_rain,
        }
    )
    return SyntheticDay(
        day=day,
        lat=lat,
        lon=lon,
        truth_mm_h=truth,
        truth_daily_mm=truth_daily,
        sources={"gr": gr, "sr": sr, "sat": sat},
        error_std={"gr": gr_std, "sr": 3.0, "sat": 2.5},
        gauges=gauges,
        gauge_hourly=gauge_hourly,
        footprints=footprints,
        range_km=rng_km,
    )


@pytest.fixture(scope="module")
def synthetic_day() -> SyntheticDay:
    return make_synthetic_day()


def product_datasets(f, provenance):
    """The hourly and daily product Datasets of a fused day (``fuse_day``'s result)."""
    from fusion_ops.products.writers import daily_product_dataset, hourly_product_dataset

    hourly = hourly_product_dataset(
        f.day, f.lat_deg, f.lon_deg, f.hourly_mm_h, f.hourly_std_mm_h, f.hourly_flag, provenance
    )
    daily = daily_product_dataset(
        f.day,
        f.lat_deg,
        f.lon_deg,
        f.daily_mm,
        f.daily_std_mm,
        f.daily_flag,
        f.hours_observed,
        provenance,
    )
    return hourly, daily
