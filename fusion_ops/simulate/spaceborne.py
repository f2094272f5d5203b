"""Spaceborne precipitation radar observer (TRMM PR / GPM Ku-like).

Written as the archive of the platform holds it: GPM 2A V07 HDF5 (:func:`write_gpm_2a`) for
GPM, TRMM PR V7 2A25 + 2A23 HDF4 granules (:func:`write_trmm_v7`) for TRMM.

Orbit: circular, spherical earth, J2 nodal precession. Two scenarios: ``"orbit"`` places the first
overpass over the domain on the first simulated day at a seeded time and later ones follow from
the orbit (most days then see no coincident rain); ``"coincident"`` (the default) anchors each
day's orbit so that the pass crosses the rainiest part of the ground-radar coverage, the way
SR-GR comparison studies select coincident overpasses with rain from years of orbits. Scan:
cross-track +-17 deg, 49 rays, 176 range bins of 125 m, ~5 km footprints.

Measured profile: every footprint is the Gaussian-weighted sum of 9 sub-beams (non-uniform
beam filling), each sampling the 3-D truth along its slanted path (parallax), attenuated by a
Ku-band k-Z relation (two-way path-integrated attenuation), plus the surface echo spreading
above the surface up to ``binClutterFreeBottom`` and receiver noise.

The "standard product" (``SLV``, ``SRT``, ``CSF``) follows the structure of the real 2A
algorithms at their full strength (:func:`_standard_product`): attenuation correction by
Hitschfeld-Bordan with the simulator's own mean k-Z coefficients per phase (rain, melting layer,
ice, placed by the 0 degC height), its coefficient adjusted (the alpha-adjustment of Iguchi et
al. 2000, JAM 39:2038) towards the surface reference PIA by the SRT's reliability; rain from the
GPM DPR's DSD-based R-Dm relations at epsilon = 1 per rain type (Seto et al. 2021, JMSJ
99:205), i.e. the DSD of the algorithm's database, not the pixel's. What it cannot know, as the
real product cannot: the pixel's own DSD, the beam filling inside the footprint, evaporation
below the clutter-free bottom, and a rain type that is right only most of the time.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import h5py
import numpy as np

from fusion_ops.simulate.formats import trmm_hdf4
from fusion_ops.simulate.truth import (
    MELTING_LAYER_DEPTH_M,
    ColumnState,
    TruthModel,
    column_profile,
)

__all__ = [
    "Overpass",
    "SpaceborneConfig",
    "find_overpasses",
    "observe_overpass",
    "rainiest_point",
    "trmm_v7_arrays",
    "write_gpm_2a",
    "write_trmm_v7",
]

EARTH_RADIUS_KM = 6371.0
MU_KM3_S2 = 398600.4418
OMEGA_EARTH = 7.2921159e-5
J2 = 1.08263e-3
N_RAY = 49
N_BIN = 176
BIN_M = 125.0
F_FILL = np.float32(-9999.9)
I_FILL = -9999
B_FILL = -99
NOISE_CODE = np.float32(-28888.0)
#: "No bright band" in the 2A ``CSF`` heights and widths (real V07 granules), and in ``qualityBB``.
NO_BB = np.float32(-1111.1)
NO_BB_INT = -1111

#: Ku-band one-way specific attenuation of the simulated world, ``k = K_ALPHA Z_ku^K_BETA``
#: (dB/km, Z in mm^6 m^-3), times a factor per phase (liquid, melting, ice).
K_ALPHA = 2.8e-4
K_BETA = 0.78
K_PHASE_FACTOR = (1.0, 3.0, 0.08)
#: Ku sees less than S band in heavy liquid rain (Mie effect of large drops):
#: ``dBZ_ku = dBZ_s - MIE_SLOPE (dBZ_s - MIE_ONSET_DBZ)`` above the onset.
MIE_ONSET_DBZ = 30.0
MIE_SLOPE = 0.06


@dataclass(frozen=True)
class SpaceborneConfig:
    """Platform: ``"TRMM"`` (35 deg, 402.5 km) or ``"GPM"`` (65 deg, 407 km)."""

    platform: str = "TRMM"
    scan_angle_max_deg: float = 17.0
    scan_period_s: float = 0.6
    footprint_km: float = 5.0
    min_detectable_dbz: float = 15.0
    #: ``"coincident"`` (one pass a day over the rainiest ground-radar area) or ``"orbit"``.
    overpass_mode: str = "coincident"
    #: Radius (km) around the radar searched for rain in ``"coincident"`` mode.
    coincidence_radius_km: float = 120.0

    @property
    def inclination_deg(self) -> float:
        return 35.0 if self.platform.upper() == "TRMM" else 65.0

    @property
    def altitude_km(self) -> float:
        return 402.5 if self.platform.upper() == "TRMM" else 407.0

    @property
    def epoch(self) -> datetime:
        """Launch epoch used to count orbit numbers."""
        if self.platform.upper() == "TRMM":
            return datetime(1997, 11, 27, 21, 27, tzinfo=UTC)
        return datetime(2014, 2, 27, 18, 37, tzinfo=UTC)


@dataclass
class Overpass:
    """Scans of one pass over the domain."""

    times: np.ndarray  # (nscan,) POSIX seconds
    latitude_deg: np.ndarray  # (nscan, 49)
    longitude_deg: np.ndarray
    sc_lat_deg: np.ndarray  # (nscan,)
    sc_lon_deg: np.ndarray
    scan_angle_deg: np.ndarray  # (49,)
    zenith_deg: np.ndarray  # (49,)
    heading_rad: np.ndarray  # (nscan,)
    orbit_number: int


class _Orbit:
    def __init__(
        self,
        truth: TruthModel,
        cfg: SpaceborneConfig,
        seed: int,
        first_day: date,
        target: tuple[float, float, float] | None = None,
    ) -> None:
        dom = truth.domain
        self.cfg = cfg
        self.a = EARTH_RADIUS_KM + cfg.altitude_km
        self.n = np.sqrt(MU_KM3_S2 / self.a**3)
        inc = np.deg2rad(cfg.inclination_deg)
        self.inc = inc
        self.raan_rate = -1.5 * self.n * J2 * (EARTH_RADIUS_KM / self.a) ** 2 * np.cos(inc)
        rng = np.random.default_rng([seed, 31337])
        self.t_ref = (
            datetime(first_day.year, first_day.month, first_day.day, tzinfo=UTC).timestamp()
            + rng.uniform(15, 22) * 3600
        )
        lat_c = np.deg2rad(dom.center_lat_deg + rng.uniform(-0.4, 0.4))
        u0 = np.arcsin(np.clip(np.sin(lat_c) / np.sin(inc), -1, 1))
        if rng.random() < 0.5:
            u0 = np.pi - u0  # descending pass
        self.u0 = u0
        lon_c = np.deg2rad(dom.center_lon_deg + rng.uniform(-0.6, 0.6))
        if target is not None:
            # the pass crosses (lat, lon) at time t: a coincident rainy overpass
            self.t_ref, lat_t, lon_t = target
            u_t = np.arcsin(np.clip(np.sin(np.deg2rad(lat_t)) / np.sin(inc), -1, 1))
            u0 = np.pi - u_t if u0 > np.pi / 2 else u_t
            self.u0 = u0
            lon_c = np.deg2rad(lon_t)
        self.raan0 = lon_c - np.arctan2(np.cos(inc) * np.sin(u0), np.cos(u0))

    def subpoint(self, t_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        dt = np.asarray(t_s) - self.t_ref
        u = self.u0 + self.n * dt
        raan = self.raan0 + self.raan_rate * dt
        lat = np.arcsin(np.sin(self.inc) * np.sin(u))
        lon = raan + np.arctan2(np.cos(self.inc) * np.sin(u), np.cos(u)) - OMEGA_EARTH * dt
        return np.rad2deg(lat), np.rad2deg(np.angle(np.exp(1j * lon)))

    def orbit_number(self, t_s: float) -> int:
        """Revolutions since launch (counted from 2000 for a platform simulated before launch)."""
        epoch = self.cfg.epoch.timestamp()
        if t_s < epoch:
            epoch = datetime(2000, 1, 1, tzinfo=UTC).timestamp()
        return int((t_s - epoch) * self.n / (2 * np.pi)) % 1_000_000 + 1


def _destination(lat, lon, bearing, dist_km):
    p1, l1, b = np.deg2rad(lat), np.deg2rad(lon), bearing
    d = np.asarray(dist_km) / EARTH_RADIUS_KM
    p2 = np.arcsin(np.sin(p1) * np.cos(d) + np.cos(p1) * np.sin(d) * np.cos(b))
    l2 = l1 + np.arctan2(np.sin(b) * np.sin(d) * np.cos(p1), np.cos(d) - np.sin(p1) * np.sin(p2))
    return np.rad2deg(p2), np.rad2deg(np.angle(np.exp(1j * l2)))


def _bearing(lat1, lon1, lat2, lon2):
    p1, p2 = np.deg2rad(lat1), np.deg2rad(lat2)
    dl = np.deg2rad(lon2 - lon1)
    return np.arctan2(
        np.sin(dl) * np.cos(p2), np.cos(p1) * np.sin(p2) - np.sin(p1) * np.cos(p2) * np.cos(dl)
    )


def rainiest_point(
    truth: TruthModel, day: date, radius_km: float = 120.0, step_min: int = 20, seed: int = 0
) -> tuple[float, float, float]:
    """Time (POSIX s), latitude and longitude of the day's rainiest spot near the radar.

    The truth's surface rain is sampled every ``step_min`` minutes inside ``radius_km`` of the
    radar; the time with the largest area above 1 mm/h wins and the point is the rain-weighted
    centroid of that area. A dry day gives a seeded time over the radar.
    """
    rng = np.random.default_rng([seed, day.toordinal(), 4242])
    day0 = datetime(day.year, day.month, day.day, tzinfo=UTC)
    xx, yy = np.meshgrid(truth.grid.x_km, truth.grid.y_km)
    near = np.hypot(xx, yy) <= radius_km
    best = (0.0, day0.timestamp() + rng.uniform(15, 22) * 3600, 0.0, 0.0)
    for minute in range(0, 1440, step_min):
        t = day0 + timedelta(minutes=minute)
        rain = np.where(near, truth.state(t).rain_mm_h, 0.0)
        wet = rain >= 1.0
        area = float(wet.sum())
        if area > best[0]:
            w = np.where(wet, rain, 0.0)
            cx, cy = float((w * xx).sum() / w.sum()), float((w * yy).sum() / w.sum())
            best = (area, t.timestamp(), cx, cy)
    lat, lon = truth.domain.to_latlon(np.array([best[2]]), np.array([best[3]]))
    return best[1], float(lat[0]), float(lon[0])


def find_overpasses(
    truth: TruthModel,
    day: date,
    cfg: SpaceborneConfig | None = None,
    seed: int = 0,
    first_day: date | None = None,
) -> list[Overpass]:
    """Passes whose swath touches the scored domain during a UTC day.

    In ``"coincident"`` mode (see :class:`SpaceborneConfig`) the orbit is anchored on the day's
    rainiest point near the radar and ``first_day`` is ignored.
    """
    cfg = cfg or SpaceborneConfig()
    if cfg.overpass_mode == "coincident":
        target = rainiest_point(truth, day, cfg.coincidence_radius_km, seed=seed)
        orbit = _Orbit(truth, cfg, seed, day, target)
    elif cfg.overpass_mode == "orbit":
        orbit = _Orbit(truth, cfg, seed, first_day or day)
    else:
        raise ValueError(
            f"overpass_mode must be 'coincident' or 'orbit', got {cfg.overpass_mode!r}"
        )
    dom = truth.domain
    day0 = datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()
    coarse = day0 + np.arange(0, 86400, 5.0)
    lat, lon = orbit.subpoint(coarse)
    x, y = dom.to_xy_km(lat, lon)
    half = max(dom.width_km, dom.height_km) / 2
    near = (np.abs(x) < half + 160) & (np.abs(y) < half + 160)
    passes = []
    idx = np.nonzero(near)[0]
    if idx.size == 0:
        return passes
    groups = np.split(idx, np.nonzero(np.diff(idx) > 1)[0] + 1)
    alpha = np.linspace(-cfg.scan_angle_max_deg, cfg.scan_angle_max_deg, N_RAY)
    ratio = (EARTH_RADIUS_KM + cfg.altitude_km) / EARTH_RADIUS_KM
    zen = np.rad2deg(np.arcsin(ratio * np.sin(np.deg2rad(np.abs(alpha)))))
    ground = EARTH_RADIUS_KM * np.deg2rad(zen - np.abs(alpha)) * np.sign(alpha)
    for g in groups:
        # scans of this UTC day only: a pass crossing midnight is the next day's from 00 UTC on
        t0, t1 = max(coarse[g[0]] - 5, day0), min(coarse[g[-1]] + 5, day0 + 86400.0)
        t = np.arange(t0, t1, cfg.scan_period_s)
        slat, slon = orbit.subpoint(t)
        nlat, nlon = orbit.subpoint(t + 1.0)
        head = _bearing(slat, slon, nlat, nlon)
        flat, flon = _destination(
            slat[:, None], slon[:, None], head[:, None] + np.pi / 2, ground[None, :]
        )
        fx, fy = dom.to_xy_km(flat, flon)
        inside = ((np.abs(fx) < dom.width_km / 2) & (np.abs(fy) < dom.height_km / 2)).any(axis=1)
        if not inside.any():
            continue
        k = np.nonzero(inside)[0]
        sl = slice(k[0], k[-1] + 1)
        passes.append(
            Overpass(
                t[sl],
                flat[sl],
                flon[sl],
                slat[sl],
                slon[sl],
                alpha,
                zen,
                head[sl],
                orbit.orbit_number(float(t[k[0]])),
            )
        )
    return passes


@dataclass
class _Profiles:
    z_measured: np.ndarray  # dBZ with -28888 below noise
    z_true_ku: np.ndarray  # unattenuated, footprint averaged (linear)
    pia_db: np.ndarray  # (nscan, nray) true two-way PIA at the surface
    bin_clutter_free_bottom: np.ndarray  # 1-based
    bin_real_surface: np.ndarray  # 1-based
    height_m: np.ndarray
    cols: ColumnState  # footprint-centre columns
    scan_angle_deg: np.ndarray | None = None  # (49,)


def observe_overpass(
    truth: TruthModel, ov: Overpass, cfg: SpaceborneConfig | None = None, seed: int = 0
) -> _Profiles:
    """Simulate the measured Ku profiles of a pass."""
    cfg = cfg or SpaceborneConfig()
    dom = truth.domain
    t_mid = datetime.fromtimestamp(float(ov.times[len(ov.times) // 2]), UTC)
    state = truth.state(t_mid)
    grid = truth.grid
    flat_state = ColumnState(**{k: v.reshape(-1) for k, v in state.__dict__.items()})
    ns = ov.times.size
    cosz = np.cos(np.deg2rad(ov.zenith_deg))  # (49,)
    k_bins = np.arange(N_BIN)
    height = ((N_BIN - 1 - k_bins)[None, :] * BIN_M * cosz[:, None]).astype(np.float32)  # (49,176)
    fx, fy = dom.to_xy_km(ov.latitude_deg, ov.longitude_deg)
    # Cross-track unit vector in the local frame (toward increasing ray index).
    hd = ov.heading_rad[:, None] + np.pi / 2
    ex, ey = np.sin(hd), np.cos(hd)
    ax_, ay_ = np.sin(ov.heading_rad)[:, None], np.cos(ov.heading_rad)[:, None]
    sigma = cfg.footprint_km / 2.355
    offs = np.array([-1.0, 0.0, 1.0]) * 1.2 * sigma
    rng = np.random.default_rng([seed, int(ov.times[0])])
    z_meas_lin = np.zeros((ns, N_RAY, N_BIN), np.float64)
    z_true_lin = np.zeros_like(z_meas_lin)
    pia_lin = np.zeros((ns, N_RAY))
    wsum = 0.0
    # Parallax: a bin at height h is displaced toward the satellite by h tan(zenith).
    sgn = np.sign(ov.scan_angle_deg)[None, :, None]
    shift = height[None, :, :] / 1000.0 * np.tan(np.deg2rad(ov.zenith_deg))[None, :, None] * -sgn
    for oa in offs:
        for oc in offs:
            w = np.exp(-0.5 * (oa / sigma) ** 2) * np.exp(-0.5 * (oc / sigma) ** 2)
            bx = fx[:, :, None] + (oc + shift) * ex[:, :, None] + oa * ax_[:, :, None]
            by = fy[:, :, None] + (oc + shift) * ey[:, :, None] + oa * ay_[:, :, None]
            j, i, inside = grid.index(bx, by)
            idx = np.where(inside, j * grid.nx + i, 0)
            c = flat_state.take(idx)
            c.rain_mm_h = np.where(inside, c.rain_mm_h, 0.0)
            p = column_profile(c, np.broadcast_to(height[None], idx.shape))
            zs = p["z_lin"].astype(np.float64)
            dbz = 10 * np.log10(np.maximum(zs, 1e-10))
            # Ku sees less than S band in heavy rain (Mie effect of large drops).
            liquid = p["phase"] == 0
            mie = np.where(liquid, MIE_SLOPE * np.clip(dbz - MIE_ONSET_DBZ, 0, None), 0.0)
            zku = np.where(zs > 0, 10 ** ((dbz - mie) / 10), 0.0)
            factor = np.select([liquid, p["phase"] == 1], K_PHASE_FACTOR[:2], K_PHASE_FACTOR[2])
            k_db = K_ALPHA * zku**K_BETA * factor
            pia = 2.0 * np.cumsum(k_db, axis=2) * (BIN_M / 1000.0)
            z_meas_lin += w * zku * 10 ** (-pia / 10)
            z_true_lin += w * zku
            pia_lin += w * 10 ** (-pia[:, :, -1] / 10)
            wsum += w
    z_meas_lin /= wsum
    z_true_lin /= wsum
    pia_db = -10 * np.log10(np.maximum(pia_lin / wsum, 1e-10))
    surf = np.full((ns, N_RAY), N_BIN, np.int16)  # 1-based, flat sea-level world
    n_clutter = (
        4 + np.round(14 * (np.abs(ov.scan_angle_deg) / cfg.scan_angle_max_deg) ** 1.5)
    ).astype(np.int16)
    cfb = (surf - n_clutter[None, :]).astype(np.int16)
    # Surface echo: strong at the surface bin (attenuated by the rain above: the SRT signal),
    # spreading upward over the clutter region and below noise above the clutter-free bottom.
    z_surf_db = 58.0 - 0.6 * np.abs(ov.scan_angle_deg)[None, :] - pia_db
    above = (surf[:, :, None] - 1) - k_bins[None, None, :]  # bins above the surface bin
    clut_db = z_surf_db[:, :, None] - 65.0 * above / (n_clutter[None, :, None] + 1.0)
    clutter = np.where(above >= 0, 10 ** (clut_db / 10), 0.0)
    noise = 10 ** (9.0 / 10) * rng.gamma(8.0, 1 / 8.0, z_meas_lin.shape)
    total = z_meas_lin + clutter + noise
    zm = 10 * np.log10(total) + rng.normal(0, 0.4, total.shape)
    zm = np.where(zm > 7.5, zm, NOISE_CODE).astype(np.float32)
    j, i, _ = grid.index(fx, fy)
    return _Profiles(
        z_measured=zm,
        z_true_ku=z_true_lin.astype(np.float32),
        pia_db=pia_db.astype(np.float32),
        bin_clutter_free_bottom=cfb,
        bin_real_surface=surf,
        height_m=np.broadcast_to(height[None], (ns, N_RAY, N_BIN)).astype(np.float32),
        cols=state.take((j, i)),
        scan_angle_deg=np.asarray(ov.scan_angle_deg, np.float64),
    )


#: GPM DPR R-Dm relations at epsilon = 1, ``R = p Dm^q`` (mm/h, Dm in mm), per rain type
#: (Seto et al. 2021, JMSJ 99:205; GPM DPR Level-2 ATBD V07); the DPR's DSD is a normalised
#: gamma of shape ``DPR_MU``.
DPR_R_DM: dict[str, tuple[float, float]] = {
    "stratiform": (0.401, 6.131),
    "convective": (1.370, 5.420),
}
DPR_MU = 3.0
#: Range of rain rates (mm/h) over which the R-Dm relations are summarised as Z = a R^b.
DPR_FIT_RANGE_MM_H = (0.1, 100.0)
#: Prior standard deviation of ln(epsilon) of the alpha-adjustment (the k-Z coefficient of a
#: footprint differs from the mean one by beam filling and by the melting layer's share).
LN_EPSILON_PRIOR_SD = 0.4
EPSILON_RANGE = (0.2, 5.0)
#: Hitschfeld-Bordan is stopped where its PIA would exceed this (the correction diverges).
PIA_MAX_DB = 20.0
#: A clear-air surface reference needs this many rain-free footprints of the same ray.
MIN_REFERENCE_FOOTPRINTS = 10


def _fall_speed_m_s(d_mm: np.ndarray) -> np.ndarray:
    """Terminal fall speed of raindrops (Atlas, Srivastava & Sekhon 1973)."""
    return np.clip(9.65 - 10.3 * np.exp(-0.6 * d_mm), 0.0, None)


@functools.cache
def dpr_zr(rain_type: str) -> tuple[float, float]:
    """``Z = a R^b`` (Rayleigh Z in mm^6 m^-3, R in mm/h) of a DPR rain type at epsilon = 1.

    Along the R-Dm relation of :data:`DPR_R_DM`, a normalised gamma DSD of shape
    :data:`DPR_MU` has ``Nw = R / R1(Dm)``; its Rayleigh reflectivity follows, and a power law
    is fitted in log-log over :data:`DPR_FIT_RANGE_MM_H` (the relation itself is a power law in
    Dm, so the fit is close: within 6 % in Z over that range).
    """
    from math import gamma

    p, q = DPR_R_DM[rain_type]
    mu = DPR_MU
    f_mu = 6.0 / 4**4 * (4 + mu) ** (mu + 4) / gamma(mu + 4)
    d = np.linspace(0.01, 10.0, 4000)
    dm = np.linspace(0.5, 3.5, 61)[:, None]
    shape = f_mu * (d / dm) ** mu * np.exp(-(4 + mu) * d / dm)  # N(D) / Nw
    r1 = 6e-4 * np.pi * np.trapezoid(_fall_speed_m_s(d) * d**3 * shape, d, axis=1)
    z1 = np.trapezoid(d**6 * shape, d, axis=1)
    rate = p * dm[:, 0] ** q
    z = rate / r1 * z1
    lo, hi = DPR_FIT_RANGE_MM_H
    fit = (rate >= lo) & (rate <= hi)
    b, log_a = np.polyfit(np.log(rate[fit]), np.log(z[fit]), 1)
    return float(np.exp(log_a)), float(b)


def _surface_reference(
    sigma_db: np.ndarray, precip: np.ndarray, scan_angle_deg: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Clear-air surface echo per ray (dB) and its standard deviation, from the granule.

    The rain-free footprints of each ray give its reference (median) and spread; a ray with
    fewer than :data:`MIN_REFERENCE_FOOTPRINTS` takes a straight line in ``|scan angle|``
    through all rain-free footprints. NaN where the granule has none.
    """
    n_ray = sigma_db.shape[1]
    ref = np.full(n_ray, np.nan)
    sd = np.full(n_ray, np.nan)
    clear = ~precip & np.isfinite(sigma_db)
    angle = np.broadcast_to(np.abs(scan_angle_deg)[None, :], sigma_db.shape)
    if clear.sum() >= 3:
        slope, icpt = np.polyfit(angle[clear], sigma_db[clear], 1)
        resid = sigma_db[clear] - (icpt + slope * angle[clear])
        ref[:] = icpt + slope * np.abs(scan_angle_deg)
        sd[:] = np.std(resid, ddof=1)
    for ray in range(n_ray):
        values = sigma_db[clear[:, ray], ray]
        if values.size >= MIN_REFERENCE_FOOTPRINTS:
            ref[ray] = np.median(values)
            sd[ray] = np.std(values, ddof=1)
    return ref, np.maximum(sd, 0.1)


def _standard_product(
    prof: _Profiles, cfg: SpaceborneConfig, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """The level-2 retrieval from the measured profile, after the real 2A algorithms.

    1. **Precipitation**: bins above the clutter-free bottom with echo above the instrument's
       sensitivity (``min_detectable_dbz``).
    2. **Surface reference (SRT)**: PIA_SRT = clear-air surface echo of the ray
       (:func:`_surface_reference`) minus the footprint's surface echo, reliable (``reliabFlag``
       1) above 3 standard deviations of the reference, marginal (2) above 1, else 3.
    3. **Attenuation correction**: Hitschfeld-Bordan with ``k = eps alpha(phase) Z^beta``, the
       simulator's mean coefficients per phase (:data:`K_ALPHA`, :data:`K_PHASE_FACTOR`; phase
       from the 0 degC height and the melting layer's depth). ``eps`` combines a prior (1, with
       :data:`LN_EPSILON_PRIOR_SD`) and the value that makes the HB PIA equal PIA_SRT, weighted
       by their variances (the SRT's from the reference spread): the alpha-adjustment of the
       TRMM 2A25 / GPM 2A hybrid (Iguchi et al. 2000). The path below the clutter-free bottom
       is taken at the reflectivity of that bin.
    4. **Rain**: liquid bins are converted to the Rayleigh (S-band) scale with the simulator's
       mean Ku/S ratio, then ``R`` from the DPR's epsilon = 1 relation of the rain type
       (:func:`dpr_zr`); the near-surface rate is the clutter-free bottom's.
    5. **Classification**: convective/stratiform from the cell's convective share with
       misclassification noise; a bright band in stratiform rain at the melting layer, with its
       height, width and quality.
    """
    zm = prof.z_measured
    ns = zm.shape[0]
    cfb0 = prof.bin_clutter_free_bottom.astype(int) - 1  # 0-based
    kb = np.arange(N_BIN)[None, None, :]
    usable = kb <= cfb0[:, :, None]
    signal = np.where((zm > cfg.min_detectable_dbz) & usable, zm, np.nan)
    precip = np.isfinite(signal).any(axis=2)
    h = prof.height_m
    fl = prof.cols.freezing_level_m
    # --- surface reference technique
    surface = prof.bin_real_surface.astype(int) - 1
    sigma = np.take_along_axis(zm, surface[:, :, None], axis=2)[:, :, 0].astype(np.float64)
    sigma = np.where(sigma > NOISE_CODE + 1, sigma, np.nan)
    scan_angle = prof.scan_angle_deg
    if scan_angle is None:
        scan_angle = np.linspace(-cfg.scan_angle_max_deg, cfg.scan_angle_max_deg, N_RAY)
    ref, ref_sd = _surface_reference(sigma, precip, scan_angle)
    pia_srt = np.where(precip, ref[None, :] - sigma, np.nan)
    srt_sd = np.broadcast_to(ref_sd[None, :], pia_srt.shape)
    with np.errstate(invalid="ignore"):
        reliab = np.where(pia_srt >= 3 * srt_sd, 1, np.where(pia_srt >= srt_sd, 2, 3))
    reliab = np.where(precip, reliab, 9)
    # --- Hitschfeld-Bordan, alpha per phase, adjusted towards the SRT
    phase = np.where(
        h < (fl - MELTING_LAYER_DEPTH_M)[:, :, None], 0, np.where(h < fl[:, :, None], 1, 2)
    )
    alpha = K_ALPHA * np.asarray(K_PHASE_FACTOR)[phase]
    zlin = np.where(np.isfinite(signal), 10 ** (signal / 10), 0.0)
    dr_km = BIN_M / 1000.0
    integrand = alpha * zlin**K_BETA * dr_km
    integral = np.cumsum(integrand, axis=2)
    at_cfb = np.take_along_axis(integral, cfb0[:, :, None], axis=2)[:, :, 0]
    step_cfb = np.take_along_axis(integrand, cfb0[:, :, None], axis=2)[:, :, 0]
    integral_surface = at_cfb + (surface - cfb0) * step_cfb
    q = 0.2 * np.log(10) * K_BETA
    with np.errstate(divide="ignore", invalid="ignore"):
        t = 10 ** (-0.1 * K_BETA * pia_srt)
        eps_srt = (1 - t) / (q * integral_surface)
        ok = precip & (pia_srt > 0) & (integral_surface > 0) & (eps_srt > 0)
        sd_ln = srt_sd * 0.1 * K_BETA * np.log(10) * t / (1 - t)
        weight = np.where(ok, LN_EPSILON_PRIOR_SD**2 / (LN_EPSILON_PRIOR_SD**2 + sd_ln**2), 0.0)
        ln_eps = np.where(ok, weight * np.log(np.where(ok, eps_srt, 1.0)), 0.0)
    eps = np.clip(np.exp(ln_eps), *EPSILON_RANGE)
    floor = 10 ** (-0.1 * K_BETA * PIA_MAX_DB)
    denom = np.clip(1 - q * eps[:, :, None] * integral, floor, None)
    zc = zlin / denom ** (1 / K_BETA)
    pia_est = -10 / K_BETA * np.log10(np.clip(1 - q * eps * integral_surface, floor, None))
    zf_db = np.where(zc > 0, 10 * np.log10(np.maximum(zc, 1e-10)), np.nan)
    # Below the clutter-free bottom the product extends the last clean value to the surface.
    near = np.take_along_axis(zf_db, cfb0[:, :, None], axis=2)[:, :, 0]
    zf_db = np.where(kb > cfb0[:, :, None], near[:, :, None], zf_db)
    # --- rain type, then rain from the DPR relation of the type
    cf = prof.cols.convective_fraction
    conv = (cf + rng.normal(0, 0.15, cf.shape)) > 0.5
    (a_s, b_s), (a_c, b_c) = dpr_zr("stratiform"), dpr_zr("convective")
    a = np.where(conv, a_c, a_s)[:, :, None]
    b = np.where(conv, b_c, b_s)[:, :, None]
    liquid = phase == 0
    above = np.clip(zf_db - MIE_ONSET_DBZ, 0, None)
    z_rayleigh_db = np.where(liquid, zf_db + above * MIE_SLOPE / (1 - MIE_SLOPE), zf_db)
    rate = np.where(np.isfinite(z_rayleigh_db), (10 ** (z_rayleigh_db / 10) / a) ** (1 / b), 0.0)
    rate = np.where(precip[:, :, None], rate, 0.0)
    zf_out = np.where(np.isfinite(zf_db) & precip[:, :, None], zf_db, F_FILL)
    zf_out[:, :, -1] = F_FILL
    rate_out = rate.astype(np.float32)
    rate_out[:, :, -1] = F_FILL
    rns = np.where(precip, np.take_along_axis(rate, cfb0[:, :, None], axis=2)[:, :, 0], 0.0)
    zns = np.where(precip, near, F_FILL)
    zns = np.where(np.isfinite(zns), zns, F_FILL)
    top_bin = np.where(precip, np.argmax(np.isfinite(signal), axis=2), -1)
    storm_top = np.where(
        precip,
        np.take_along_axis(h, np.clip(top_bin, 0, None)[:, :, None], axis=2)[:, :, 0],
        F_FILL,
    )
    bb = precip & ~conv & (cf < 0.3)
    hbb = np.where(bb, fl - 200.0 + rng.normal(0, 120.0, fl.shape), NO_BB)
    wbb = MELTING_LAYER_DEPTH_M + rng.normal(0.0, 60.0, fl.shape)
    wbb = np.where(bb, np.clip(wbb, 2 * BIN_M, None), NO_BB)
    typ = np.where(precip, np.where(conv, 20000000, np.where(bb, 10100000, 10000000)), -1111)
    return {
        "SLV/zFactorFinal": zf_out.astype(np.float32),
        "SLV/precipRate": rate_out,
        "SLV/precipRateNearSurface": rns.astype(np.float32),
        "SLV/zFactorFinalNearSurface": zns.astype(np.float32),
        "SLV/piaFinal": np.where(precip, pia_est, 0.0).astype(np.float32),
        "SLV/binEchoBottom": np.where(precip, cfb0 + 1, I_FILL).astype(np.int16),
        "SRT/pathAtten": np.where(precip & np.isfinite(pia_srt), pia_srt, F_FILL).astype(
            np.float32
        ),
        "SRT/reliabFlag": reliab.astype(np.int16),
        "PRE/flagPrecip": precip.astype(np.int32),
        "PRE/heightStormTop": storm_top.astype(np.float32),
        "PRE/binStormTop": np.where(precip, top_bin + 1, I_FILL).astype(np.int16),
        "CSF/typePrecip": typ.astype(np.int32),
        "CSF/heightBB": hbb.astype(np.float32),
        "CSF/widthBB": wbb.astype(np.float32),
        "CSF/qualityBB": np.where(bb, 1, NO_BB_INT).astype(np.int32),
        "CSF/flagBB": np.where(precip, bb.astype(np.int32), -1111).astype(np.int32),
        "VER/heightZeroDeg": fl.astype(np.float32),
        "_ns": np.array(ns),
    }


_UNITS = {
    "Latitude": "degrees",
    "Longitude": "degrees",
    "PRE/zFactorMeasured": "dBZ",
    "PRE/height": "m",
    "PRE/elevation": "m",
    "PRE/localZenithAngle": "degree",
    "PRE/heightStormTop": "m",
    "SLV/zFactorFinal": "dBZ",
    "SLV/zFactorFinalNearSurface": "dBZ",
    "SLV/precipRate": "mm/hr",
    "SLV/precipRateNearSurface": "mm/hr",
    "SLV/piaFinal": "dB",
    "SRT/pathAtten": "dB",
    "CSF/heightBB": "m",
    "CSF/widthBB": "m",
    "VER/heightZeroDeg": "m",
    "ScanTime/Year": "years",
    "ScanTime/Month": "months",
    "ScanTime/DayOfMonth": "days",
    "ScanTime/DayOfYear": "days",
    "ScanTime/Hour": "hours",
    "ScanTime/Minute": "minutes",
    "ScanTime/Second": "s",
    "ScanTime/MilliSecond": "ms",
    "ScanTime/SecondOfDay": "s",
    "navigation/scLat": "degrees",
    "navigation/scLon": "degrees",
    "navigation/dprAlt": "m",
}


def _dims(shape: tuple[int, ...]) -> str:
    names = {1: "nscan", 2: "nscan,nray", 3: "nscan,nray,nbin"}
    return names[len(shape)]


def _put(grp: h5py.Group, name: str, data: np.ndarray) -> None:
    data = np.asarray(data)
    if data.dtype.kind == "f":
        fill: float | int = np.asarray(-9999.9, data.dtype)
    elif data.dtype.itemsize == 1:
        fill = np.asarray(B_FILL, data.dtype)
    else:
        fill = np.asarray(I_FILL, data.dtype)
    ds = grp.create_dataset(name, data=data, fillvalue=fill)
    ds.attrs["DimensionNames"] = np.bytes_(_dims(data.shape))
    if name in _UNITS:
        ds.attrs["Units"] = np.bytes_(_UNITS[name])
        ds.attrs["units"] = np.bytes_(_UNITS[name])
    ds.attrs["_FillValue"] = fill
    ds.attrs["CodeMissingValue"] = np.bytes_(str(-9999.9 if data.dtype.kind == "f" else int(fill)))


def gpm_2a_filename(cfg: SpaceborneConfig, start: datetime, end: datetime, orbit: int) -> str:
    """Real 2A naming: ``2A.GPM.Ku.V9-20211125.YYYYMMDD-SHHMMSS-EHHMMSS.NNNNNN.V07A.HDF5``."""
    head = "2A.TRMM.PR.V9-20220125" if cfg.platform.upper() == "TRMM" else "2A.GPM.Ku.V9-20211125"
    return f"{head}.{start:%Y%m%d}-S{start:%H%M%S}-E{end:%H%M%S}.{orbit:06d}.V07A.HDF5"


def write_gpm_2a(
    fobj, truth: TruthModel, ov: Overpass, cfg: SpaceborneConfig | None = None, seed: int = 0
) -> dict[str, float]:
    """Simulate a pass and write it as a 2A V07 file (``FS`` swath) to a binary file object.

    Returns a small summary (scans, rain footprints, max near-surface rain, max true PIA).
    """
    cfg = cfg or SpaceborneConfig()
    prof, slv = _observe_and_retrieve(truth, ov, cfg, seed)
    ns = int(slv.pop("_ns"))
    times = [datetime.fromtimestamp(float(t), UTC) for t in ov.times]
    start, end = times[0], times[-1]
    name = gpm_2a_filename(cfg, start, end, ov.orbit_number)
    inst = "PR" if cfg.platform.upper() == "TRMM" else "Ku"
    with h5py.File(fobj, "w", libver="earliest") as f:
        f.attrs["FileHeader"] = np.bytes_(
            f"DOI=10.5067/GPM/{'PR/TRMM' if inst == 'PR' else 'DPR/Ku'}/2A/07;\nAlgorithmID=2A{inst};\n"
            f"AlgorithmVersion={'9.20220125' if inst == 'PR' else '9.20211125'};\nFileName={name};\n"
            f"SatelliteName={cfg.platform.upper()};\nInstrumentName={'PR' if inst == 'PR' else 'DPR'};\n"
            f"GenerationDateTime={end:%Y-%m-%dT%H:%M:%S.000Z};\n"
            f"StartGranuleDateTime={start:%Y-%m-%dT%H:%M:%S.000Z};\nStopGranuleDateTime={end:%Y-%m-%dT%H:%M:%S.000Z};\n"
            f"GranuleNumber={ov.orbit_number};\nNumberOfSwaths=1;\nNumberOfGrids=0;\nGranuleStart=SOUTHERNMOST_LATITUDE;\n"
            "TimeInterval=ORBIT;\nProcessingSystem=rainfuse-simulator;\nProductVersion=V07A;\nEmptyGranule=NOT_EMPTY;\nMissingData=0;\n"
        )
        f.attrs["FileInfo"] = np.bytes_(
            "DataFormatVersion=7g;\nMetadataStyle=PVL;\nEndianType=LITTLE_ENDIAN;\n"
        )
        f.attrs["JAXAInfo"] = np.bytes_(
            f"GranuleFirstScanUTCDateTime={start:%Y-%m-%dT%H:%M:%S.000Z};\nGranuleLastScanUTCDateTime={end:%Y-%m-%dT%H:%M:%S.000Z};\n"
            f"NumberOfRainPixelsFS={int(slv['PRE/flagPrecip'].sum())};\nDielectricFactorKu=0.925500;\n"
        )
        g = f.create_group("FS")
        g.attrs["SwathHeader"] = np.bytes_(
            f"NumberScansInSet=1;\nMaximumNumberScansTotal=10000;\nNumberScansBeforeGranule=0;\nNumberScansGranule={ns};\n"
            "NumberScansAfterGranule=0;\nNumberPixels=49;\nScanType=CROSSTRACK;\n"
        )
        _put(g, "Latitude", ov.latitude_deg.astype(np.float32))
        _put(g, "Longitude", ov.longitude_deg.astype(np.float32))
        st = g.create_group("ScanTime")
        ms = np.array([t.microsecond // 1000 for t in times], np.int16)
        _put(st, "Year", np.array([t.year for t in times], np.int16))
        _put(st, "Month", np.array([t.month for t in times], np.int8))
        _put(st, "DayOfMonth", np.array([t.day for t in times], np.int8))
        _put(st, "Hour", np.array([t.hour for t in times], np.int8))
        _put(st, "Minute", np.array([t.minute for t in times], np.int8))
        _put(st, "Second", np.array([t.second for t in times], np.int8))
        _put(st, "MilliSecond", ms)
        _put(st, "DayOfYear", np.array([t.timetuple().tm_yday for t in times], np.int16))
        _put(
            st,
            "SecondOfDay",
            np.array(
                [t.hour * 3600 + t.minute * 60 + t.second + t.microsecond / 1e6 for t in times]
            ),
        )
        for grp in ("PRE", "SLV", "SRT", "CSF", "VER", "navigation"):
            g.create_group(grp)
        _put(g, "PRE/zFactorMeasured", prof.z_measured)
        _put(g, "PRE/height", prof.height_m)
        _put(g, "PRE/binClutterFreeBottom", prof.bin_clutter_free_bottom)
        _put(g, "PRE/binRealSurface", prof.bin_real_surface)
        _put(g, "PRE/elevation", np.zeros((ns, N_RAY), np.float32))
        _put(
            g,
            "PRE/localZenithAngle",
            np.broadcast_to(ov.zenith_deg.astype(np.float32), (ns, N_RAY)).copy(),
        )
        _put(g, "PRE/landSurfaceType", np.zeros((ns, N_RAY), np.int32))
        for k, v in slv.items():
            _put(g, k, v)
        _put(g, "navigation/scLat", ov.sc_lat_deg.astype(np.float32))
        _put(g, "navigation/scLon", ov.sc_lon_deg.astype(np.float32))
        _put(g, "navigation/dprAlt", np.full(ns, cfg.altitude_km * 1000.0, np.float32))
    rns = slv["SLV/precipRateNearSurface"]
    return {
        "name": name,
        "n_scans": ns,
        "rain_footprints": int((rns > 0).sum()),
        "max_precip_rate_near_surface_mm_h": float(rns.max()),
        "max_true_pia_db": float(prof.pia_db.max()),
    }


def _observe_and_retrieve(
    truth: TruthModel, ov: Overpass, cfg: SpaceborneConfig, seed: int
) -> tuple[_Profiles, dict[str, np.ndarray]]:
    """The measured profiles of a pass and its standard product (same for every file format)."""
    prof = observe_overpass(truth, ov, cfg, seed)
    rng = np.random.default_rng([seed, int(ov.times[0]), 9])
    return prof, _standard_product(prof, cfg, rng)


#: The 125 m bin of the GPM-layout profile at the centre of each of the 80 TRMM V7 250 m bins:
#: both grids end at the ellipsoid bin (176th and 80th), and 250 m is two 125 m bins.
_TRMM_FROM_GPM_BIN = (
    N_BIN - 1 - 2 * (trmm_hdf4.TRMM_V7_NBIN - 1 - np.arange(trmm_hdf4.TRMM_V7_NBIN))
)
#: 2A23 ``status`` written: a bright band detected (a "good" code, below 50), rain without a
#: bright band, no rain.
_STATUS_BB, _STATUS_RAIN, _STATUS_NO_RAIN = 10, 110, 168


def trmm_v7_arrays(
    slv: dict[str, np.ndarray], seed: int, t0: float
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The 2A25 and 2A23 arrays of a pass from the standard product the GPM writer writes.

    ``seed`` and ``t0`` (the pass's first scan, POSIX s) seed the bright-band width noise.

    ``correctZFactor`` is ``SLV/zFactorFinal`` on 80 bins of 250 m: both layouts share the
    ellipsoid bin and 250 m is twice 125 m, so every other 125 m bin is a 250 m bin centre and
    the resampling takes it (no echo where the product has none).  Surface rain is the
    near-surface rate (the product extends the lowest clutter-free value to the surface).  The
    2A23 rain type comes from ``CSF/typePrecip`` (convective 200, stratiform with a bright band
    100, without 130, no rain -88), the bright-band height from ``CSF/heightBB`` and its width
    from the truth's melting layer (500 m) with a little noise.
    """
    zf = slv["SLV/zFactorFinal"][:, :, _TRMM_FROM_GPM_BIN].astype(np.float64)
    z = np.where(zf > F_FILL + 1, zf, np.nan)
    rns = slv["SLV/precipRateNearSurface"].astype(np.float32)
    rain = np.asarray(slv["PRE/flagPrecip"]) > 0
    typ = np.asarray(slv["CSF/typePrecip"])
    bb = rain & (np.asarray(slv["CSF/flagBB"]) == 1)
    rain_type = np.full(typ.shape, -88, np.int16)
    rain_type[rain & (typ // 10_000_000 == 2)] = 200
    rain_type[rain & (typ // 10_000_000 == 1)] = 130
    rain_type[bb & (typ // 10_000_000 == 1)] = 100
    rng = np.random.default_rng([seed, int(t0), 23])
    width = MELTING_LAYER_DEPTH_M + rng.normal(0.0, 60.0, typ.shape)
    hbb = np.asarray(slv["CSF/heightBB"], np.float64)
    no_bb = np.where(rain, trmm_hdf4.NO_BRIGHT_BAND, trmm_hdf4.NO_RAIN_CODE)
    status = np.where(bb, _STATUS_BB, np.where(rain, _STATUS_RAIN, _STATUS_NO_RAIN))
    a25 = {
        "z_dbz": z,
        "near_surface_rain_mm_h": rns,
        "surface_rain_mm_h": rns,
        "freezing_height_m": np.asarray(slv["VER/heightZeroDeg"], np.float32),
    }
    a23 = {
        "rain_type": rain_type,
        "rain_flag": np.where(rain, 20, 0).astype(np.int16),
        "bright_band_height_m": np.where(bb, np.rint(hbb), no_bb).astype(np.int16),
        "bright_band_width_m": np.where(bb, np.rint(width), no_bb).astype(np.int16),
        "status": status.astype(np.uint8),
    }
    return a25, a23


def write_trmm_v7(
    truth: TruthModel, ov: Overpass, cfg: SpaceborneConfig | None = None, seed: int = 0
) -> tuple[dict[str, bytes], dict]:
    """Simulate a pass and write it as a TRMM PR V7 2A25 and its 2A23 (HDF4).

    Same footprints, scan times and product as :func:`write_gpm_2a` (see
    :func:`trmm_v7_arrays` for the V7 layout).  pyhdf writes only to local files: each granule
    is written in a temporary folder and returned as bytes.

    Returns
    -------
    files : dict
        File name (``2A25.YYYYMMDD.OOOOO.7.HDF``, then the 2A23) -> bytes.
    summary : dict
        As :func:`write_gpm_2a` gives, ``name`` being the 2A25 and ``companion`` the 2A23.
    """
    cfg = cfg or SpaceborneConfig()
    prof, slv = _observe_and_retrieve(truth, ov, cfg, seed)
    times = [datetime.fromtimestamp(float(t), UTC) for t in ov.times]
    a25, a23 = trmm_v7_arrays(slv, seed, float(ov.times[0]))
    swath = {
        "latitude": ov.latitude_deg.astype(np.float32),
        "longitude": ov.longitude_deg.astype(np.float32),
        "times": times,
        "granule": ov.orbit_number,
    }
    zenith = np.broadcast_to(ov.zenith_deg.astype(np.float32), ov.latitude_deg.shape)
    name25 = trmm_hdf4.trmm_v7_filename("2A25", times[0], ov.orbit_number)
    name23 = trmm_hdf4.trmm_v7_filename("2A23", times[0], ov.orbit_number)
    files = {
        name25: trmm_hdf4.hdf4_bytes(
            lambda path: trmm_hdf4.write_2a25(path, **swath, **a25, local_zenith_deg=zenith),
            name25,
        ),
        name23: trmm_hdf4.hdf4_bytes(
            lambda path: trmm_hdf4.write_2a23(path, **swath, **a23), name23
        ),
    }
    rns = a25["near_surface_rain_mm_h"]
    summary = {
        "name": name25,
        "companion": name23,
        "n_scans": int(ov.times.size),
        "rain_footprints": int((rns > 0).sum()),
        "max_precip_rate_near_surface_mm_h": float(rns.max()),
        "max_true_pia_db": float(prof.pia_db.max()),
    }
    return files, summary


def overpass_time(ov: Overpass) -> datetime:
    """Start time of a pass (UTC)."""
    return datetime.fromtimestamp(float(ov.times[0]), UTC) + timedelta(0)
