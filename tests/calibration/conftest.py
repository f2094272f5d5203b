"""Synthetic calibration samples with known physics (for fast unit tests of the chain).

Each gauge-hour is stratiform (bright band, Marshall-Palmer-like DSD) or convective (deep
profile, WSR-88D-like DSD, larger ZDR/KDP); the Z-R coefficients drift by day; the radar sees
the column only above its 0.5 degree beam at the gauge's range, so far gauges see the bright band
or ice. A fixed Z-R on the lowest valid level is therefore biased, while the whole profile
tells the regime and the vertical correction.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fusion_ops.calibration.features import PROFILE_HEIGHTS_M, beam_height_km, level_names

HEIGHTS_KM = np.asarray(PROFILE_HEIGHTS_M) / 1000.0
VOLUMES_PER_HOUR = 12


def _profiles(rate, convective, freezing_km, a, b, rng):
    """dBZ, ZDR, KDP profiles (n, levels) from surface rain, regime and DSD."""
    z_surface = 10 * np.log10(a * np.maximum(rate, 1e-3) ** b)
    h = HEIGHTS_KM[None, :]
    fl = freezing_km[:, None]
    conv = convective[:, None]
    # stratiform: bright band just below the freezing level, ice aloft decaying 6 dB/km
    bb = 7.0 * np.exp(-0.5 * ((h - (fl - 0.3)) / 0.25) ** 2)
    strat = np.where(h < fl, z_surface[:, None] + bb, z_surface[:, None] + bb - 6.0 * (h - fl))
    # convective: nearly constant below the freezing level, slower decay aloft, a slight
    # increase downwards in the rain (growth by coalescence)
    deep = np.where(
        h < fl, z_surface[:, None] + 0.6 * h, z_surface[:, None] + 0.6 * fl - 2.5 * (h - fl)
    )
    dbz = np.where(conv, deep, strat) + rng.normal(0, 1.0, size=(rate.size, h.size))
    dbz[dbz < 5.0] = np.nan
    zdr = np.where(h < fl, 0.3 + 0.06 * np.clip(dbz - 20, 0, None) * (1 + 0.5 * conv), 0.1)
    kdp = np.where(h < fl, np.clip(10 ** ((dbz - 45.0) / 10.0), 0, 5) * (1 + conv), 0.0)
    return dbz, np.where(np.isfinite(dbz), zdr, np.nan), np.where(np.isfinite(dbz), kdp, np.nan)


def make_mlp1_samples(n_groups: int, seed: int, n_days: int = 6) -> pd.DataFrame:
    """MLP-1 sample table (one row per volume) with ``group`` and ``gauge_rate_mm_h``."""
    rng = np.random.default_rng(seed)
    day = rng.integers(0, n_days, n_groups)
    day_a_conv = 250 * np.exp(np.random.default_rng(99).normal(0, 0.15, n_days))
    day_a_strat = 200 * np.exp(np.random.default_rng(98).normal(0, 0.15, n_days))
    convective = rng.random(n_groups) < 0.4
    wet = rng.random(n_groups) < 0.8
    hourly = np.where(
        convective, rng.lognormal(1.5, 1.0, n_groups), rng.lognormal(0.3, 0.7, n_groups)
    )
    hourly = np.where(wet, hourly, 0.0)
    a = np.where(convective, day_a_conv[day], day_a_strat[day]) * np.exp(
        rng.normal(0, 0.1, n_groups)
    )
    b = np.where(convective, 1.25, 1.6)
    freezing = rng.uniform(4.0, 5.0, n_groups)
    range_km = rng.uniform(5, 200, n_groups)

    g = np.repeat(np.arange(n_groups), VOLUMES_PER_HOUR)
    # rain of each volume: the hour's mean times a mean-one gamma fluctuation
    shape = np.where(convective[g], 1.5, 5.0)
    fluct = rng.gamma(shape, 1.0 / shape)
    fluct = fluct / np.bincount(g, fluct)[g] * VOLUMES_PER_HOUR
    rate_v = hourly[g] * fluct
    dbz, zdr, kdp = _profiles(rate_v, convective[g], freezing[g], a[g], b[g], rng)
    beam = beam_height_km(range_km)[g]
    below_beam = HEIGHTS_KM[None, :] < beam[:, None] - 0.25
    for arr in (dbz, zdr, kdp):
        arr[below_beam] = np.nan
    frame = {"group": g.astype(str), "station_id": (g % 97).astype(str)}
    for name, arr in zip(("dbz", "zdr", "kdp"), (dbz, zdr, kdp), strict=True):
        for j, col in enumerate(level_names(name)):
            frame[col] = arr[:, j]
    frame["range_km"] = range_km[g]
    frame["beam_height_km"] = beam
    # gauge: tipping bucket of 0.254 mm and 5 % catch noise
    gauge = np.round(hourly * rng.normal(1.0, 0.05, n_groups) / 0.254) * 0.254
    frame["gauge_rate_mm_h"] = np.clip(gauge, 0, None)[g]
    frame["truth_rate_mm_h"] = hourly[g]
    return pd.DataFrame(frame)


@pytest.fixture(scope="module")
def mlp1_train() -> pd.DataFrame:
    return make_mlp1_samples(1500, seed=1)


@pytest.fixture(scope="module")
def mlp1_test() -> pd.DataFrame:
    return make_mlp1_samples(600, seed=2)


def make_mlp2_samples(n: int, seed: int) -> pd.DataFrame:
    """SR footprints: Ku profile above the clutter-free bottom, type, bright band, standard
    product (a fixed type-dependent Z-R on the lowest clear bin, with beam-filling noise) and
    the GR rain target."""
    rng = np.random.default_rng(seed)
    convective = rng.random(n) < 0.35
    rate = np.where(convective, rng.lognormal(1.6, 1.0, n), rng.lognormal(0.4, 0.7, n))
    rate = np.where(rng.random(n) < 0.15, 0.0, rate)
    a = np.where(convective, 250.0, 200.0) * np.exp(rng.normal(0, 0.15, n))
    b = np.where(convective, 1.25, 1.6)
    freezing = rng.uniform(4.0, 5.0, n)
    dbz, _, _ = _profiles(rate, convective, freezing, a, b, rng)
    # Ku sees less than S in heavy rain (non-Rayleigh scattering)
    dbz = dbz - np.clip((dbz - 35.0) * 0.15, 0, None)
    zenith = rng.uniform(0, 17, n)
    cfb_km = 0.8 + 1.2 * zenith / 17.0 + rng.uniform(0, 0.3, n)
    dbz[HEIGHTS_KM[None, :] < cfb_km[:, None]] = np.nan
    frame = {c: dbz[:, j] for j, c in enumerate(level_names("zku"))}
    frame["precip_type"] = np.where(rate > 0, np.where(convective, 2, 1), 0)
    frame["bright_band_height_m"] = np.where(
        convective | (rate == 0), np.nan, (freezing - 0.3) * 1000
    )
    frame["clutter_free_bottom_m"] = cfb_km * 1000.0
    frame["local_zenith_deg"] = zenith
    lowest = np.nan_to_num(
        np.array([r[np.isfinite(r)][0] if np.isfinite(r).any() else np.nan for r in dbz]), nan=-10
    )
    std_a = np.where(convective, 300.0, 200.0)
    std_b = np.where(convective, 1.4, 1.6)
    std = (10 ** (lowest / 10) / std_a) ** (1 / std_b) * rng.lognormal(0, 0.35, n)
    frame["precip_rate_near_surface_mm_h"] = np.where(lowest > 12, std, 0.0)
    frame["gr_rain_mm_h"] = rate * rng.lognormal(0, 0.1, n)
    frame["time"] = pd.Timestamp("2009-05-20T18:00", tz="UTC")
    frame["lat"] = 28.0
    frame["lon"] = -80.6
    return pd.DataFrame(frame)


def make_mlp3_samples(n: int, seed: int) -> pd.DataFrame:
    """ABI pixels: raining deep convection (cold, thick, WV-IR near 0), stratiform rain,
    cold anvils without rain (thin: large split-window difference, low reflectance), clear
    sky and shallow cumulus; the GR hourly rain target."""
    rng = np.random.default_rng(seed)
    kind = rng.choice(5, size=n, p=[0.2, 0.15, 0.2, 0.3, 0.15])
    rain = np.zeros(n)
    conv = kind == 0
    rain[conv] = rng.lognormal(1.5, 0.9, conv.sum())
    strat = kind == 1
    rain[strat] = rng.lognormal(0.3, 0.6, strat.sum())
    tb14 = np.select(
        [conv, strat, kind == 2, kind == 3],
        [
            235 - 6 * np.log1p(rain) - rng.uniform(0, 12, n),
            245 - rng.uniform(0, 10, n),
            rng.uniform(205, 240, n),
            rng.uniform(288, 300, n),
        ],
        rng.uniform(272, 288, n),
    )
    thin = kind == 2
    tb08 = np.where(
        tb14 < 240,
        tb14 + np.where(conv, rng.normal(1, 1, n), rng.normal(-6, 2, n)),
        235 + rng.normal(0, 2, n),
    )
    tb11 = tb14 + np.where(thin, rng.uniform(2, 5, n), rng.normal(0.5, 0.3, n))
    tb13 = tb14 + rng.normal(0.3, 0.2, n)
    day = rng.random(n) < 0.5
    refl = np.select([conv, strat, thin, kind == 3], [0.8, 0.6, 0.3, 0.08], 0.4) + rng.normal(
        0, 0.05, n
    )
    return pd.DataFrame(
        {
            "bt_c08": tb08,
            "bt_c11": tb11,
            "bt_c13": tb13,
            "bt_c14": tb14,
            "refl_c02": np.where(day, 100 * refl, 0.0),
            "solar_zenith_deg": np.where(day, rng.uniform(10, 80, n), rng.uniform(95, 150, n)),
            "gr_rain_mm_h": rain,
        }
    )


@pytest.fixture()
def one_thread():
    """Tiny networks train fastest on one thread; restore the caller's setting afterwards."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
