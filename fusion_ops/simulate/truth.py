"""Synthetic truth: a deterministic, time-evolving precipitation and cloud field.

The world is built from analytic objects in the local radar frame (km east/north of the site):

* convective cells: rotated Gaussian rain cores with a life cycle (growth, mature, decay), a
  tower of optically thick cloud that appears before the rain, and an anvil that drifts
  downwind and outlives the rain (cold cloud tops without rain);
* stratiform systems: large, flat-topped elliptical rain shields textured by an evolving
  periodic random field, with a bright band below the freezing level;
* shallow cumulus (daytime, no rain) from a second texture.

Every day has its own regime drawn from ``(seed, day)``: steering wind, number of cells,
freezing level, cloud base, sub-cloud evaporation and the mean drop-size distribution of each
rain type (the mean Z-R coefficients of convective and stratiform rain drift from day to day;
each cell also has its own, and a mesoscale texture modulates the stratiform one).

Rain is carried by drops (:mod:`fusion_ops.simulate.dsd`): every wet pixel has a normalised
gamma DSD (Nw, D0, mu) plus a small-drop mode. D0 scatters around the mean D0 of the pixel's
mean Z-R relation, mu follows D0 with scatter, the small mode's share is random (smooth random
fields that drift with the wind and evolve), and Nw is solved so that the DSD's rain rate is the
truth rain. Z, ZDR and KDP are integrals over that DSD, so no formula of the moments returns the
rain exactly. The state carries both the pixel's mean relation (``zr_a``, ``zr_b``) and its
DSD.

Fields are generated on demand for a time ``t``: a 2-D column state on a grid
(:meth:`TruthModel.state`), surface rain at points (:meth:`TruthModel.rain_at_points`) and the
3-D polarimetric moments at any height through a column model (:func:`column_profile`). Nothing
holds a day of 1-min 3-D fields in memory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import cached_property, lru_cache
from typing import Self

import numpy as np

from fusion_ops.simulate.domain import Domain, Grid
from fusion_ops.simulate.dsd import DsdClimatology, dsd_from_rain

__all__ = [
    "ColumnState",
    "DayRegime",
    "TruthConfig",
    "TruthModel",
    "column_profile",
    "lapse_rate_temperature_k",
]

LAPSE_RATE_K_PER_KM = 6.0
TROPOPAUSE_M = 16000.0
MELTING_LAYER_DEPTH_M = 500.0
#: Mean Z-R coefficient a of convective and stratiform rain (the day's drifts +-25 % around).
ZR_A_CONVECTIVE = 290.0
ZR_A_STRATIFORM = 240.0
#: Mean Z-R exponent b of convective and stratiform rain (the day's drifts sd 0.05 around).
ZR_B_CONVECTIVE = 1.15
ZR_B_STRATIFORM = 1.4
#: Log-normal scatter of a between convective cells and across stratiform shields.
CELL_ZR_A_LN_SD = 0.15
STRATIFORM_ZR_A_LN_SD = 0.3
_TEXTURE_N = 512
_TEXTURE_DX_KM = 2.0
#: Point-scale DSD noise: textures on a 1 km lattice (periodic over 512 km), feature size and
#: the period over which each field turns into an independent one (rotating blend of two).
_DSD_TEXTURE_DX_KM = 1.0
_DSD_TEXTURE_SCALE_KM = 3.0
_DSD_EVOLUTION_PERIOD_S = 2 * 3600.0
_DSD_FIELDS = (
    "d0_mm",
    "mu",
    "log10_nw",
    "small_share",
    "z_per_rain",
    "zdr_rain_db",
    "kdp_per_rain",
)


@dataclass(frozen=True)
class TruthConfig:
    """Scenario parameters of the truth model.

    Parameters
    ----------
    seed : random seed; the same seed and domain give the same world.
    domain : where (defaults to 300 km x 300 km around KMLB).
    cells_per_day : mean number of convective cells born per day over the simulated box
        (domain plus margin) on a day of average wetness.
    stratiform_per_day : mean number of stratiform systems per day.
    dsd : the drop-size-distribution model (:class:`~fusion_ops.simulate.dsd.DsdClimatology`).
    """

    seed: int = 0
    domain: Domain = field(default_factory=Domain)
    cells_per_day: float = 260.0
    stratiform_per_day: float = 2.5
    dsd: DsdClimatology = field(default_factory=DsdClimatology)


@dataclass(frozen=True)
class DayRegime:
    """Weather regime of one UTC day (all drawn from ``(seed, day)``)."""

    day: date
    wetness: float
    steering_u_ms: float
    steering_v_ms: float
    upper_u_ms: float
    upper_v_ms: float
    freezing_level_m: float
    cloud_base_m: float
    evaporation_per_km: float
    zr_a_convective: float
    zr_b_convective: float
    zr_a_stratiform: float
    zr_b_stratiform: float
    surface_temperature_k: float


@dataclass
class ColumnState:
    """2-D column description of the atmosphere at one time (arrays of one common shape).

    Attributes
    ----------
    rain_mm_h : surface rain rate.
    convective_fraction : share of the surface rain from convective cores (0..1).
    zr_a, zr_b : the pixel's mean Z = a R^b (Z in mm^6 m^-3, R in mm/h): the relation its drop
        population follows on average (regime of the day, the cell's own, the stratiform
        mesoscale texture). The pixel's own DSD scatters around it (below).
    freezing_level_m, cloud_base_m : heights above mean sea level.
    evaporation_per_km : rain at height z below cloud base is ``R_s exp(e z_km)``.
    echo_top_m : top of the precipitation echo (0 where no precipitation aloft).
    cloud_top_height_m : NaN where clear.
    cloud_top_temperature_k : surface skin temperature where clear.
    cloud_optical_depth : visible optical depth (0 where clear).
    d0_mm, mu, log10_nw : the pixel's normalised gamma DSD at the surface (median-volume
        diameter, shape, log10 of Nw in mm^-1 m^-3); NaN where dry or with ``rain_only``.
    small_share : share of the rain in the small-drop mode of the DSD.
    z_per_rain : surface Z / R of the DSD (mm^6 m^-3 per mm/h).
    zdr_rain_db : ZDR of the DSD (dB).
    kdp_per_rain : KDP / R of the DSD (deg/km per mm/h).

    Below cloud base evaporation changes the rain rate but not D0 and mu (only Nw), so Z and
    KDP scale with the liquid rain rate at every height and ZDR is constant in the rain column.
    """

    rain_mm_h: np.ndarray
    convective_fraction: np.ndarray
    zr_a: np.ndarray
    zr_b: np.ndarray
    freezing_level_m: np.ndarray
    cloud_base_m: np.ndarray
    evaporation_per_km: np.ndarray
    echo_top_m: np.ndarray
    cloud_top_height_m: np.ndarray
    cloud_top_temperature_k: np.ndarray
    cloud_optical_depth: np.ndarray
    d0_mm: np.ndarray
    mu: np.ndarray
    log10_nw: np.ndarray
    small_share: np.ndarray
    z_per_rain: np.ndarray
    zdr_rain_db: np.ndarray
    kdp_per_rain: np.ndarray

    def take(self, index: tuple[np.ndarray, ...] | np.ndarray) -> ColumnState:
        """Columns at an index (e.g. the grid cells under radar gates)."""
        return ColumnState(**{k: v[index] for k, v in self.__dict__.items()})


def lapse_rate_temperature_k(
    height_m: np.ndarray, surface_temperature_k: float | np.ndarray
) -> np.ndarray:
    """Air temperature (K) of a moist tropical sounding: constant lapse rate up to the tropopause."""
    z = np.minimum(np.asarray(height_m, dtype=np.float64), TROPOPAUSE_M)
    return surface_temperature_k - LAPSE_RATE_K_PER_KM * z / 1000.0


def _utc(t: datetime) -> datetime:
    if t.tzinfo is None:
        raise ValueError(f"time {t!r} must be timezone-aware (UTC)")
    return t.astimezone(UTC)


def _epoch_s(t: datetime) -> float:
    return _utc(t).timestamp()


def _periodic_texture(
    rng: np.random.Generator, scale_km: float, dx_km: float = _TEXTURE_DX_KM
) -> np.ndarray:
    """Zero-mean, unit-variance periodic Gaussian random field (Gaussian spectrum)."""
    n = _TEXTURE_N
    k = np.fft.fftfreq(n, d=dx_km)
    k2 = k[:, None] ** 2 + k[None, :] ** 2
    spec = np.exp(-0.5 * k2 * (2 * np.pi * scale_km) ** 2 / 4.0)
    noise = rng.standard_normal((n, n))
    g = np.fft.ifft2(np.fft.fft2(noise) * spec).real
    g -= g.mean()
    g /= g.std()
    return g.astype(np.float32)


def _texture_lookup(tex: np.ndarray, x_km: np.ndarray, y_km: np.ndarray) -> np.ndarray:
    """Bilinear lookup of a periodic texture at points (km)."""
    n = tex.shape[0]
    fx = np.mod(x_km / _TEXTURE_DX_KM, n)
    fy = np.mod(y_km / _TEXTURE_DX_KM, n)
    i = fx.astype(np.int64)
    j = fy.astype(np.int64)
    wx = (fx - i).astype(np.float32)
    wy = (fy - j).astype(np.float32)
    i1 = (i + 1) % n
    j1 = (j + 1) % n
    return (tex[j, i] * (1 - wx) + tex[j, i1] * wx) * (1 - wy) + (
        tex[j1, i] * (1 - wx) + tex[j1, i1] * wx
    ) * wy


@dataclass(frozen=True)
class _Systems:
    """Struct of arrays of weather systems born on one day: birth time, lifetime, start, motion."""

    t0_s: np.ndarray
    life_s: np.ndarray
    x0_km: np.ndarray
    y0_km: np.ndarray
    u_kms: np.ndarray
    v_kms: np.ndarray

    def select(self, keep: np.ndarray) -> Self:
        return type(self)(**{k: v[keep] for k, v in self.__dict__.items()})

    @classmethod
    def concat(cls, parts: list[Self]) -> Self:
        return cls(**{k: np.concatenate([p.__dict__[k] for p in parts]) for k in parts[0].__dict__})


@dataclass(frozen=True)
class _Cells(_Systems):
    """Struct of arrays describing the convective cells born on one day."""

    peak_mm_h: np.ndarray
    sig_a_km: np.ndarray
    sig_b_km: np.ndarray
    theta_rad: np.ndarray
    top_m: np.ndarray
    log_a: np.ndarray
    b: np.ndarray
    anvil_u_kms: np.ndarray
    anvil_v_kms: np.ndarray
    anvil_sig_km: np.ndarray
    anvil_od: np.ndarray


@dataclass(frozen=True)
class _Shields(_Systems):
    """Struct of arrays describing the stratiform systems born on one day."""

    ra_km: np.ndarray
    rb_km: np.ndarray
    theta_rad: np.ndarray
    peak_mm_h: np.ndarray
    top_m: np.ndarray
    od: np.ndarray


def _rain_envelope(tau: np.ndarray) -> np.ndarray:
    """Life cycle of a cell's rain, tau = age / lifetime: growth, mature stage, decay."""
    inside = (tau > 0) & (tau < 1)
    return np.where(inside, np.sin(np.pi * np.clip(tau, 0, 1)) ** 1.5, 0.0)


def _tower_envelope(tau: np.ndarray) -> np.ndarray:
    """Cloud tower: appears before the rain (tau -0.2) and collapses soon after it ends."""
    s = (tau + 0.2) / 1.3
    return np.where((s > 0) & (s < 1), np.sin(np.pi * np.clip(s, 0, 1)), 0.0)


def _anvil_envelope(tau: np.ndarray) -> np.ndarray:
    """Anvil: spreads from the mature stage on and outlives the rain by about a lifetime."""
    s = (tau - 0.3) / 1.9
    return np.where((s > 0) & (s < 1), np.sin(np.pi * np.clip(s, 0, 1)) ** 0.7, 0.0)


class TruthModel:
    """Deterministic synthetic atmosphere; see the module docstring.

    Parameters
    ----------
    config : scenario; ``TruthConfig()`` is the default KMLB scenario.
    """

    def __init__(self, config: TruthConfig | None = None) -> None:
        self.config = config or TruthConfig()
        self.domain = self.config.domain
        rng = np.random.default_rng([self.config.seed, 7919])
        self._tex_strat_a = _periodic_texture(rng, 12.0)
        self._tex_strat_b = _periodic_texture(rng, 12.0)
        self._tex_cumulus = _periodic_texture(rng, 4.0)
        self.grid = Grid.centred(self.domain.half_extent_km, self.domain.grid_km)

    # ------------------------------------------------------------------ regimes and objects
    @lru_cache(maxsize=8)  # noqa: B019 - a handful of days per model, cached for speed
    def regime(self, day: date) -> DayRegime:
        """The weather regime of a UTC day."""
        rng = np.random.default_rng([self.config.seed, day.toordinal(), 1])
        speed = rng.uniform(2.5, 9.0)
        direction = rng.uniform(0, 2 * np.pi)
        upper_speed = rng.uniform(6.0, 16.0)
        upper_dir = direction + rng.normal(0, 0.6)
        fl = rng.uniform(4500.0, 5000.0)
        return DayRegime(
            day=day,
            wetness=float(np.clip(rng.lognormal(0.0, 0.35), 0.55, 1.7)),
            steering_u_ms=float(speed * np.sin(direction)),
            steering_v_ms=float(speed * np.cos(direction)),
            upper_u_ms=float(upper_speed * np.sin(upper_dir)),
            upper_v_ms=float(upper_speed * np.cos(upper_dir)),
            freezing_level_m=float(fl),
            cloud_base_m=float(rng.uniform(800.0, 1500.0)),
            evaporation_per_km=float(rng.uniform(0.05, 0.22)),
            zr_a_convective=float(ZR_A_CONVECTIVE * np.exp(rng.normal(0, 0.25))),
            zr_b_convective=float(
                np.clip(
                    rng.normal(ZR_B_CONVECTIVE, 0.05),
                    ZR_B_CONVECTIVE - 0.15,
                    ZR_B_CONVECTIVE + 0.15,
                )
            ),
            zr_a_stratiform=float(ZR_A_STRATIFORM * np.exp(rng.normal(0, 0.25))),
            zr_b_stratiform=float(
                np.clip(
                    rng.normal(ZR_B_STRATIFORM, 0.05), ZR_B_STRATIFORM - 0.1, ZR_B_STRATIFORM + 0.15
                )
            ),
            surface_temperature_k=float(273.15 + LAPSE_RATE_K_PER_KM * fl / 1000.0),
        )

    @lru_cache(maxsize=8)  # noqa: B019
    def _cells(self, day: date) -> _Cells:
        reg = self.regime(day)
        rng = np.random.default_rng([self.config.seed, day.toordinal(), 2])
        day0 = datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()
        n = rng.poisson(self.config.cells_per_day * reg.wetness)
        # Florida convection peaks in the afternoon (about 19 UTC); a small background at night.
        hour = np.concatenate(
            [
                rng.normal(19.0, 2.6, size=int(0.8 * n)),
                rng.uniform(0.0, 24.0, size=n - int(0.8 * n)),
            ]
        )
        hour = np.mod(hour, 24.0)
        half = self.domain.half_extent_km + 40.0
        # Cells cluster along a few lines (sea-breeze fronts / outflow boundaries).
        n_lines = max(1, rng.poisson(4))
        lx = rng.uniform(-half, half, n_lines)
        ly = rng.uniform(-half, half, n_lines)
        lang = rng.uniform(0, np.pi, n_lines)
        which = rng.integers(0, n_lines, n)
        along = rng.uniform(-120, 120, n)
        across = rng.normal(0, 10, n)
        clustered = rng.random(n) < 0.6
        x0 = np.where(
            clustered,
            lx[which] + along * np.cos(lang[which]) - across * np.sin(lang[which]),
            rng.uniform(-half, half, n),
        )
        y0 = np.where(
            clustered,
            ly[which] + along * np.sin(lang[which]) + across * np.cos(lang[which]),
            rng.uniform(-half, half, n),
        )
        u = (reg.steering_u_ms + rng.normal(0, 1.5, n)) / 1000.0
        v = (reg.steering_v_ms + rng.normal(0, 1.5, n)) / 1000.0
        sig_a = rng.uniform(2.0, 5.5, n)
        return _Cells(
            t0_s=day0 + hour * 3600.0,
            life_s=rng.uniform(35.0, 110.0, n) * 60.0,
            x0_km=x0,
            y0_km=y0,
            u_kms=u,
            v_kms=v,
            peak_mm_h=np.clip(rng.lognormal(np.log(40.0), 0.55, n), 8.0, 200.0),
            sig_a_km=sig_a,
            sig_b_km=sig_a * rng.uniform(0.5, 1.0, n),
            theta_rad=rng.uniform(0, np.pi, n),
            top_m=rng.uniform(10500.0, 15800.0, n),
            log_a=np.log(reg.zr_a_convective) + rng.normal(0, CELL_ZR_A_LN_SD, n),
            b=np.clip(
                reg.zr_b_convective + rng.normal(0, 0.05, n),
                ZR_B_CONVECTIVE - 0.15,
                ZR_B_CONVECTIVE + 0.35,
            ),
            anvil_u_kms=(reg.upper_u_ms - reg.steering_u_ms) / 1000.0 + 0 * u,
            anvil_v_kms=(reg.upper_v_ms - reg.steering_v_ms) / 1000.0 + 0 * v,
            anvil_sig_km=rng.uniform(12.0, 30.0, n),
            anvil_od=rng.uniform(4.0, 25.0, n),
        )

    @lru_cache(maxsize=8)  # noqa: B019
    def _shields(self, day: date) -> _Shields:
        reg = self.regime(day)
        rng = np.random.default_rng([self.config.seed, day.toordinal(), 3])
        day0 = datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()
        n = rng.poisson(self.config.stratiform_per_day * reg.wetness)
        half = self.domain.half_extent_km
        ra = rng.uniform(45.0, 120.0, n)
        return _Shields(
            t0_s=day0 + rng.uniform(0.0, 24.0, n) * 3600.0,
            life_s=rng.uniform(4.0, 11.0, n) * 3600.0,
            x0_km=rng.uniform(-half, half, n),
            y0_km=rng.uniform(-half, half, n),
            u_kms=np.full(n, reg.steering_u_ms / 1000.0),
            v_kms=np.full(n, reg.steering_v_ms / 1000.0),
            ra_km=ra,
            rb_km=ra * rng.uniform(0.4, 0.9, n),
            theta_rad=rng.uniform(0, np.pi, n),
            peak_mm_h=rng.uniform(2.5, 9.0, n),
            top_m=rng.uniform(7500.0, 10500.0, n),
            od=rng.uniform(15.0, 50.0, n),
        )

    def _active(self, t_s: float) -> tuple[_Cells, _Shields, DayRegime]:
        """Objects alive at ``t_s`` (born today or yesterday) and today's regime."""
        day = datetime.fromtimestamp(t_s, UTC).date()
        cells, shields = [], []
        for d in (day - timedelta(days=1), day):
            c = self._cells(d)
            tau = (t_s - c.t0_s) / c.life_s
            cells.append(c.select((tau > -0.25) & (tau < 2.25)))
            s = self._shields(d)
            tau = (t_s - s.t0_s) / s.life_s
            shields.append(s.select((tau > 0) & (tau < 1)))
        return _Cells.concat(cells), _Shields.concat(shields), self.regime(day)

    # ------------------------------------------------------------------ evaluation
    def rain_at_points(self, x_km: np.ndarray, y_km: np.ndarray, t: datetime) -> np.ndarray:
        """Surface rain rate (mm/h) at arbitrary points; cost ~ points x live objects."""
        x = np.asarray(x_km, dtype=np.float64)
        y = np.asarray(y_km, dtype=np.float64)
        t_s = _epoch_s(t)
        cells, shields, _ = self._active(t_s)
        rain = np.zeros(x.shape, dtype=np.float64)
        for k in range(cells.t0_s.size):
            rain += self._cell_rain(cells, k, t_s, x, y)
        strat = np.zeros(x.shape, dtype=np.float64)
        for k in range(shields.t0_s.size):
            strat += self._shield_rain(shields, k, t_s, x, y)
        total = rain + strat
        total[total < 0.05] = 0.0
        return total.astype(np.float32)

    def rain_series_at_points(
        self, x_km: np.ndarray, y_km: np.ndarray, times: list[datetime]
    ) -> np.ndarray:
        """Surface rain rate (mm/h) at points for many times at once: shape (n_points, n_times).

        Same values as :meth:`rain_at_points` per time, vectorised over time per object (the
        gauges integrate 1-min rain this way).
        """
        x = np.asarray(x_km, dtype=np.float64).reshape(-1)
        y = np.asarray(y_km, dtype=np.float64).reshape(-1)
        t_s = np.array([_epoch_s(t) for t in times])
        days = sorted({datetime.fromtimestamp(v, UTC).date() for v in (t_s.min(), t_s.max())})
        days = sorted(set(days) | {days[0] - timedelta(days=1)})
        out = np.zeros((t_s.size, x.size))
        for d in days:
            c = self._cells(d)
            for k in range(c.t0_s.size):
                tau = (t_s - c.t0_s[k]) / c.life_s[k]
                act = (tau > 0) & (tau < 1)
                if not act.any():
                    continue
                age = t_s[act] - c.t0_s[k]
                env = np.sin(np.pi * tau[act]) ** 1.5
                dx = x[None, :] - (c.x0_km[k] + c.u_kms[k] * age)[:, None]
                dy = y[None, :] - (c.y0_km[k] + c.v_kms[k] * age)[:, None]
                ct, st = np.cos(c.theta_rad[k]), np.sin(c.theta_rad[k])
                a = (dx * ct + dy * st) / c.sig_a_km[k]
                b = (-dx * st + dy * ct) / c.sig_b_km[k]
                out[act] += c.peak_mm_h[k] * env[:, None] * np.exp(-0.5 * (a * a + b * b))
            sh = self._shields(d)
            for k in range(sh.t0_s.size):
                tau = (t_s - sh.t0_s[k]) / sh.life_s[k]
                for n in np.nonzero((tau > 0) & (tau < 1))[0]:
                    out[n] += self._shield_rain(sh, k, float(t_s[n]), x, y)
        out[out < 0.05] = 0.0
        return out.T.astype(np.float32)

    def state(self, t: datetime, grid: Grid | None = None, rain_only: bool = False) -> ColumnState:
        """Column state on a regular grid (default: the internal truth grid) at time ``t``.

        ``rain_only`` skips the cloud fields (a fast path for accumulating surface rain).
        """
        g = grid or self.grid
        t_s = _epoch_s(t)
        cells, shields, reg = self._active(t_s)
        shape = (g.ny, g.nx)
        xs, ys = g.x_km, g.y_km
        conv = np.zeros(shape, np.float64)
        conv_loga = np.zeros(shape, np.float64)
        conv_b = np.zeros(shape, np.float64)
        echo_top = np.zeros(shape, np.float64)
        od = np.zeros(shape, np.float64)
        top = np.zeros(shape, np.float64)

        def window(xc: float, yc: float, radius: float) -> tuple[slice, slice] | None:
            i0 = int(np.searchsorted(xs, xc - radius))
            i1 = int(np.searchsorted(xs, xc + radius))
            j0 = int(np.searchsorted(ys, yc - radius))
            j1 = int(np.searchsorted(ys, yc + radius))
            if i1 <= i0 or j1 <= j0:
                return None
            return slice(j0, j1), slice(i0, i1)

        for k in range(cells.t0_s.size):
            age = t_s - cells.t0_s[k]
            tau = age / cells.life_s[k]
            xc = cells.x0_km[k] + cells.u_kms[k] * age
            yc = cells.y0_km[k] + cells.v_kms[k] * age
            if 0 < tau < 1:
                w = window(xc, yc, 4.0 * cells.sig_a_km[k])
                if w is not None:
                    xx, yy = np.meshgrid(xs[w[1]], ys[w[0]])
                    r = self._cell_rain(cells, k, t_s, xx, yy)
                    conv[w] += r
                    conv_loga[w] += r * cells.log_a[k]
                    conv_b[w] += r * cells.b[k]
                    et = np.where(r > 0.2, cells.top_m[k] - 1500.0, 0.0)
                    echo_top[w] = np.maximum(echo_top[w], et)
            if rain_only:
                continue
            tower = _tower_envelope(np.array(tau))
            if tower > 0:
                w = window(xc, yc, 3.0 * 1.8 * cells.sig_a_km[k])
                if w is not None:
                    xx, yy = np.meshgrid(xs[w[1]], ys[w[0]])
                    d2 = ((xx - xc) ** 2 + (yy - yc) ** 2) / (1.8 * cells.sig_a_km[k]) ** 2
                    o = 80.0 * tower * np.exp(-0.5 * d2)
                    od[w] += o
                    h = np.where(o > 1.0, cells.top_m[k] * (0.55 + 0.45 * tower), 0.0)
                    top[w] = np.maximum(top[w], h)
            anvil = _anvil_envelope(np.array(tau))
            if anvil > 0:
                drift = max(0.0, age - 0.3 * cells.life_s[k])
                ax = xc + cells.anvil_u_kms[k] * drift
                ay = yc + cells.anvil_v_kms[k] * drift
                sig = cells.anvil_sig_km[k] * (0.4 + 0.6 * anvil)
                w = window(ax, ay, 2.5 * sig)
                if w is not None:
                    xx, yy = np.meshgrid(xs[w[1]], ys[w[0]])
                    d2 = ((xx - ax) ** 2 + (yy - ay) ** 2) / sig**2
                    shape_ = np.exp(-0.5 * d2**2)  # flat-topped anvil with a sharp edge
                    o = cells.anvil_od[k] * anvil * shape_
                    od[w] += o
                    h = np.where(o > 0.3, cells.top_m[k] - 700.0, 0.0)
                    top[w] = np.maximum(top[w], h)

        strat = np.zeros(shape, np.float64)
        strat_top = np.zeros(shape, np.float64)
        for k in range(shields.t0_s.size):
            age = t_s - shields.t0_s[k]
            xc = shields.x0_km[k] + shields.u_kms[k] * age
            yc = shields.y0_km[k] + shields.v_kms[k] * age
            w = window(xc, yc, 1.6 * shields.ra_km[k])
            if w is None:
                continue
            xx, yy = np.meshgrid(xs[w[1]], ys[w[0]])
            r = self._shield_rain(shields, k, t_s, xx, yy)
            strat[w] += r
            if rain_only:
                continue
            q = self._shield_q(shields, k, t_s, xx, yy)
            env = np.sin(np.pi * np.clip(age / shields.life_s[k], 0, 1))
            o = shields.od[k] * env * np.exp(-((q / 1.4) ** 2))
            od[w] += o
            top[w] = np.maximum(top[w], np.where(o > 0.5, shields.top_m[k], 0.0))
            strat_top[w] = np.maximum(strat_top[w], np.where(r > 0.05, shields.top_m[k] - 1000, 0))

        rain = conv + strat
        rain[rain < 0.05] = 0.0
        with np.errstate(invalid="ignore", divide="ignore"):
            cf = np.where(conv + strat > 0, conv / (conv + strat), 0.0)
            log_a_c = np.where(conv > 0, conv_loga / conv, np.log(reg.zr_a_convective))
            b_c = np.where(conv > 0, conv_b / conv, reg.zr_b_convective)
        # Stratiform DSDs vary in space too (aggregation vs. riming regions): a texture that
        # drifts with the flow modulates a (log-normal, sigma 0.45).
        log_a_s = np.full(shape, np.log(reg.zr_a_stratiform))
        wet_s = strat > 0
        if wet_s.any():
            jj, ii = np.nonzero(wet_s)
            drift_x = reg.steering_u_ms / 1000.0 * (t_s % 86400.0)
            drift_y = reg.steering_v_ms / 1000.0 * (t_s % 86400.0)
            gx = 0.5 * (xs[ii] - drift_x) + 333.0
            gy = 0.5 * (ys[jj] - drift_y) + 333.0
            log_a_s[jj, ii] += STRATIFORM_ZR_A_LN_SD * _texture_lookup(self._tex_strat_b, gx, gy)
        log_a = cf * log_a_c + (1 - cf) * log_a_s
        b = cf * b_c + (1 - cf) * reg.zr_b_stratiform
        xx_all = xs[None, :]
        fl = reg.freezing_level_m + 120.0 * (ys[:, None] / 150.0) + 0.0 * xx_all
        cb = np.full(shape, reg.cloud_base_m)
        # Light stratiform rain evaporates more (smaller drops, drier sub-cloud layer).
        evap = reg.evaporation_per_km * (1.0 - 0.7 * cf) * (1.0 + 2.0 / (1.0 + rain))
        echo = np.maximum(echo_top, strat_top)
        echo = np.where(rain > 0, np.maximum(echo, fl + 500.0), echo)

        if rain_only:
            nan = np.full(shape, np.nan)
            return ColumnState(
                rain_mm_h=rain.astype(np.float32),
                convective_fraction=cf,
                zr_a=np.exp(log_a),
                zr_b=b,
                freezing_level_m=fl,
                cloud_base_m=cb,
                evaporation_per_km=evap,
                echo_top_m=echo,
                cloud_top_height_m=nan,
                cloud_top_temperature_k=nan,
                cloud_optical_depth=nan,
                **dict.fromkeys(_DSD_FIELDS, nan),
            )
        drops = self._dsd_state(rain, cf, log_a, b, xs, ys, t_s, reg)
        # Shallow fair-weather cumulus in daytime (no rain): tops at 1.5-3 km.
        local_hour = (datetime.fromtimestamp(t_s, UTC).hour + 19) % 24 + 0.5
        day_factor = np.clip(np.sin(np.pi * (local_hour - 9.0) / 10.0), 0.0, None)
        if day_factor > 0:
            cu = _texture_lookup(self._tex_cumulus, xs[None, :] + 0.0 * ys[:, None], ys[:, None])
            cu_od = 8.0 * day_factor * np.clip(cu - 0.9, 0.0, None)
            cu_top = np.where(cu_od > 0.3, reg.cloud_base_m + 1200.0 * np.clip(cu - 0.9, 0, 1), 0)
            od += cu_od
            top = np.maximum(top, cu_top)
        cloudy = (top > 0) & (od > 0.3)
        cth = np.where(cloudy, top, np.nan)
        # Skin temperature: land warms in the day, the sea stays near the air temperature.
        tskin = reg.surface_temperature_k + 4.0 * day_factor
        ctt = np.where(cloudy, lapse_rate_temperature_k(top, reg.surface_temperature_k), tskin)
        return ColumnState(
            rain_mm_h=rain.astype(np.float32),
            convective_fraction=cf.astype(np.float32),
            zr_a=np.exp(log_a).astype(np.float32),
            zr_b=b.astype(np.float32),
            freezing_level_m=fl.astype(np.float32),
            cloud_base_m=cb.astype(np.float32),
            evaporation_per_km=evap.astype(np.float32),
            echo_top_m=echo.astype(np.float32),
            cloud_top_height_m=cth.astype(np.float32),
            cloud_top_temperature_k=ctt.astype(np.float32),
            cloud_optical_depth=np.where(cloudy, od, 0.0).astype(np.float32),
            **drops,
        )

    def columns_at_points(self, x_km: np.ndarray, y_km: np.ndarray, t: datetime) -> ColumnState:
        """Column state at arbitrary points (nearest cell of the internal grid at ``t``)."""
        st = self.state(t)
        j, i, _ = self.grid.index(x_km, y_km)
        return st.take((j, i))

    def polarimetric(
        self, x_km: np.ndarray, y_km: np.ndarray, height_m: np.ndarray, t: datetime
    ) -> dict[str, np.ndarray]:
        """3-D truth at points ``(x, y, z)`` and time ``t``: see :func:`column_profile`.

        Columns come from the nearest cell of the 1-km truth grid; arrays broadcast together.
        """
        x, y, z = np.broadcast_arrays(
            np.asarray(x_km, float), np.asarray(y_km, float), np.asarray(height_m, float)
        )
        j, i, inside = self.grid.index(x, y)
        cols = self.state(t).take((j, i))
        cols.rain_mm_h = np.where(inside, cols.rain_mm_h, 0.0).astype(np.float32)
        return column_profile(cols, z)

    # ------------------------------------------------------------------ drop sizes
    @cached_property
    def _dsd_textures(self) -> np.ndarray:
        """Six unit-variance textures on a 1 km lattice, flattened: (6, 512 * 512)."""
        rng = np.random.default_rng([self.config.seed, 7919, 19])
        tex = [_periodic_texture(rng, _DSD_TEXTURE_SCALE_KM, _DSD_TEXTURE_DX_KM) for _ in range(6)]
        return np.stack(tex).reshape(6, -1)

    def _dsd_noise(
        self, xs: np.ndarray, ys: np.ndarray, flat: np.ndarray, t_s: float, reg: DayRegime
    ) -> np.ndarray:
        """Standard-normal fields (3, n) at wet cells (flat indices into the ``(ys, xs)`` grid):
        ln D0, mu and the small-drop share.

        The textures drift with the steering wind (nearest 1 km node) and evolve: each field is
        ``cos(p) A + sin(p) B`` with the phase ``p`` turning once per two hours.
        """
        n = _TEXTURE_N
        sec = t_s % 86400.0
        ix = np.rint((xs - reg.steering_u_ms / 1000.0 * sec) / _DSD_TEXTURE_DX_KM).astype(np.int64)
        iy = np.rint((ys - reg.steering_v_ms / 1000.0 * sec) / _DSD_TEXTURE_DX_KM).astype(np.int64)
        jj, ii = np.divmod(flat, xs.size)
        tex = self._dsd_textures[:, (iy % n)[jj] * n + (ix % n)[ii]]
        phase = 2 * np.pi * t_s / _DSD_EVOLUTION_PERIOD_S
        return float(np.cos(phase)) * tex[:3] + float(np.sin(phase)) * tex[3:]

    def _dsd_state(
        self,
        rain: np.ndarray,
        cf: np.ndarray,
        log_a: np.ndarray,
        b: np.ndarray,
        xs: np.ndarray,
        ys: np.ndarray,
        t_s: float,
        reg: DayRegime,
    ) -> dict[str, np.ndarray]:
        """The DSD of every wet cell (:func:`~fusion_ops.simulate.dsd.dsd_from_rain`).

        Its mean D0 follows the cell's mean Z-R relation; D0, mu and the small-drop share
        scatter around it with smooth random fields; Nw makes the DSD's rain rate the truth's.
        """
        block = np.full((len(_DSD_FIELDS), *rain.shape), np.nan, np.float32)
        out = dict(zip(_DSD_FIELDS, block, strict=True))
        flat = np.flatnonzero(rain > 0)
        if flat.size == 0:
            return out
        eps = self._dsd_noise(xs, ys, flat, t_s, reg)
        r = rain.ravel()[flat].astype(np.float32)
        f = dsd_from_rain(
            r,
            cf.ravel()[flat].astype(np.float32),
            np.exp(log_a.ravel()[flat].astype(np.float32)),
            b.ravel()[flat].astype(np.float32),
            eps[0],
            eps[1],
            eps[2],
            self.config.dsd,
        )
        values = {
            "d0_mm": f.d0_mm,
            "mu": f.mu,
            "log10_nw": f.log10_nw,
            "small_share": f.small_share,
            "z_per_rain": f.z_h_mm6_m3 / r,
            "zdr_rain_db": f.zdr_db,
            "kdp_per_rain": f.kdp_deg_km / r,
        }
        for k, v in values.items():
            out[k].reshape(-1)[flat] = v
        return out

    # ------------------------------------------------------------------ object shapes
    @staticmethod
    def _cell_rain(c: _Cells, k: int, t_s: float, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        age = t_s - c.t0_s[k]
        env = _rain_envelope(np.array(age / c.life_s[k]))
        if env <= 0:
            return np.zeros(np.shape(x))
        dx = x - (c.x0_km[k] + c.u_kms[k] * age)
        dy = y - (c.y0_km[k] + c.v_kms[k] * age)
        ct, st = np.cos(c.theta_rad[k]), np.sin(c.theta_rad[k])
        a = (dx * ct + dy * st) / c.sig_a_km[k]
        b = (-dx * st + dy * ct) / c.sig_b_km[k]
        return c.peak_mm_h[k] * env * np.exp(-0.5 * (a * a + b * b))

    @staticmethod
    def _shield_q(s: _Shields, k: int, t_s: float, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        age = t_s - s.t0_s[k]
        dx = x - (s.x0_km[k] + s.u_kms[k] * age)
        dy = y - (s.y0_km[k] + s.v_kms[k] * age)
        ct, st = np.cos(s.theta_rad[k]), np.sin(s.theta_rad[k])
        a = (dx * ct + dy * st) / s.ra_km[k]
        b = (-dx * st + dy * ct) / s.rb_km[k]
        return np.sqrt(a * a + b * b)

    def _shield_rain(
        self, s: _Shields, k: int, t_s: float, x: np.ndarray, y: np.ndarray
    ) -> np.ndarray:
        age = t_s - s.t0_s[k]
        tau = age / s.life_s[k]
        if not 0 < tau < 1:
            return np.zeros(np.shape(x))
        env = np.sin(np.pi * tau) ** 0.8
        q = self._shield_q(s, k, t_s, x, y)
        inside = q < 1.6
        out = np.zeros(np.shape(x))
        if not inside.any():
            return out
        # Texture moves with the shield and evolves (rotating blend of two fields).
        xa = x[inside] - s.u_kms[k] * age
        ya = y[inside] - s.v_kms[k] * age
        phase = 2 * np.pi * t_s / (6 * 3600.0)
        g = np.cos(phase) * _texture_lookup(self._tex_strat_a, xa, ya) + np.sin(
            phase
        ) * _texture_lookup(self._tex_strat_b, xa, ya)
        shape_ = np.exp(-(q[inside] ** 4))
        out[inside] = s.peak_mm_h[k] * env * shape_ * np.exp(0.6 * g - 0.18)
        return out


def column_profile(cols: ColumnState, height_m: np.ndarray) -> dict[str, np.ndarray]:
    """Polarimetric S-band moments at heights above columns (the 3-D truth).

    Parameters
    ----------
    cols : column state, arrays of shape ``S``.
    height_m : heights above mean sea level, shape broadcastable with ``S`` (e.g. ``S + (k,)``
        after adding a trailing axis to the columns).

    Returns
    -------
    dict with ``z_lin`` (mm^6 m^-3, 0 = no echo), ``zdr_db``, ``kdp_deg_km``, ``rhohv``,
    ``rain_mm_h`` (liquid rain rate at that height, 0 above the melting layer) and ``phase``
    (0 liquid, 1 melting, 2 ice, -1 none).
    """
    z = np.asarray(height_m, dtype=np.float32)
    if z.ndim == cols.rain_mm_h.ndim + 1:
        cols = ColumnState(**{k: v[..., None] for k, v in cols.__dict__.items()})
    rs = cols.rain_mm_h
    cf = cols.convective_fraction
    fl = cols.freezing_level_m
    cb = cols.cloud_base_m
    e = cols.evaporation_per_km
    ml_bottom = fl - MELTING_LAYER_DEPTH_M
    # Liquid rain grows upward to cloud base (sub-cloud evaporation) then stays constant.
    z_rain = np.clip(z, 0.0, cb)
    rain_z = rs * np.exp(e * z_rain / 1000.0)
    has = rs > 0
    # The DSD's D0 and mu are constant in the rain column; Nw follows the rain rate.
    zpr = np.where(has, cols.z_per_rain, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        zr_db = np.where(has, 10 * np.log10(zpr * np.maximum(rain_z, 1e-6)), -99.0)
        zr_top = np.where(
            has, 10 * np.log10(zpr * np.maximum(rs * np.exp(e * cb / 1000.0), 1e-6)), -99.0
        )
    # Ice above the freezing level: weaker in stratiform snow, slow decrease in convective cores.
    offset = -3.0 + 4.0 * cf
    slope = 6.0 - 3.5 * cf
    zice_fl = zr_top + offset
    zice = zice_fl - slope * (z - fl) / 1000.0
    # Melting layer: blend from rain to ice plus a bright band peaked 200 m below 0 C.
    frac = np.clip((z - ml_bottom) / MELTING_LAYER_DEPTH_M, 0.0, 1.0)
    bump = np.exp(-0.5 * ((z - (fl - 200.0)) / 110.0) ** 2) * (1.0 - cf)
    zml = (1 - frac) * zr_top + frac * zice_fl + 8.0 * bump
    liquid = z < ml_bottom
    melting = (z >= ml_bottom) & (z < fl)
    dbz = np.where(liquid, zr_db, np.where(melting, zml, zice))
    echo = has & (z <= np.maximum(cols.echo_top_m, 0)) & (dbz > -15)
    dbz = np.where(echo, dbz, -99.0)
    z_lin = np.where(echo, 10.0 ** (dbz / 10.0), 0.0)

    # ZDR and KDP of the pixel's DSD (fusion_ops.simulate.dsd); melting drops keep 30 % of KDP.
    zdr_rain = np.where(has, cols.zdr_rain_db, 0.0)
    kdp_rain = np.where(has, cols.kdp_per_rain, 0.0) * rain_z
    zdr = np.where(liquid, zdr_rain, np.where(melting, zdr_rain * (1 - frac) + 0.3 * frac, 0.25))
    zdr = zdr + 1.2 * bump * melting
    kdp = np.where(liquid, kdp_rain, np.where(melting, 0.3 * kdp_rain, 0.02))
    rho = np.where(
        liquid, 0.995 - 0.006 * zdr_rain, np.where(melting, 0.985 - 0.085 * bump, 0.99 - 0.02 * cf)
    )
    phase = np.where(echo, np.where(liquid, 0, np.where(melting, 1, 2)), -1)
    return {
        "z_lin": z_lin.astype(np.float32),
        "zdr_db": np.where(echo, zdr, np.nan).astype(np.float32),
        "kdp_deg_km": np.where(echo, kdp, 0.0).astype(np.float32),
        "rhohv": np.where(echo, rho, np.nan).astype(np.float32),
        "rain_mm_h": np.where(echo & liquid, rain_z, 0.0).astype(np.float32),
        "phase": phase.astype(np.int8),
    }
