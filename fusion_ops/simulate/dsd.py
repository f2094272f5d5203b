"""Raindrop size distributions (DSD) and their S-band polarimetric moments.

The simulator's rain is carried by drops: every wet pixel has a normalised gamma DSD plus a weak
small-drop mode, and its reflectivity Z, differential reflectivity ZDR, specific differential
phase KDP and rain rate R are integrals over that DSD. Because the DSD has more degrees of
freedom than the radar measures, no formula of (Z, ZDR) -- or of (Z, ZDR, KDP) -- returns R
exactly; ``tests/simulate/test_dsd_physics.py`` measures how much is left, against real
disdrometer data.

Physics (all pure functions over arrays):

* **Normalised gamma DSD** (Testud et al. 2001; in the D0 form of Bringi & Chandrasekar 2001,
  the one ARM's ``ldquants`` product reports)::

      N(D) = Nw f(mu) (D/D0)^mu exp(-(3.67 + mu) D/D0),
      f(mu) = 6/3.67^4 (3.67 + mu)^(mu + 4) / Gamma(mu + 4)

  with Nw [mm^-1 m^-3] the intercept normalised by the liquid water content, D0 [mm] the
  median-volume diameter and mu the shape.
* **Quadrature** over 0.1-8 mm bins 0.05 mm wide (midpoint rule).
* **Scattering**: Rayleigh scattering by oblate spheroids at S band (2.8 GHz, 10.7 cm, 20 C),
  horizontal incidence, no canting. The polarisabilities follow Gans' depolarisation factors
  of spheroids (Bringi & Chandrasekar 2001, ch. 2); the drop axis ratio is Brandes et al. (2002),
  ``r = 0.9951 + 0.02510 D - 0.03644 D^2 + 0.005303 D^3 - 0.0002492 D^4``; the permittivity of
  water is the double-Debye model of Liebe, Hufford & Manabe (1991). Z_h and Z_v are normalised
  so that spheres give the classic sixth moment; ZDR = 10 log10(Z_h/Z_v);
  ``KDP = (180/pi) lambda Re sum (f_hh - f_vv) N(D) dD``, whose Rayleigh form is the
  ``KDP ~ sum N(D) D^3 (1 - r(D))`` of Bringi & Chandrasekar (2001, ch. 7).
* **Rain rate** ``R = 6 pi 10^-4 sum v(D) D^3 N(D) dD`` (mm/h) with the terminal velocity of
  Brandes et al. (2002), ``v = -0.1021 + 4.932 D - 0.9551 D^2 + 0.07934 D^3 - 0.002362 D^4``.
* **Speed**: every moment is linear in Nw, so the moments of a unit-Nw DSD are tabulated once on
  a (ln D0, mu) grid (:func:`unit_moments` interpolates bilinearly in the logarithms).

The climatological model (:class:`DsdClimatology`, :func:`dsd_from_rain`) draws the DSD of a
pixel from its rain rate: D0 scatters around the mean D0 implied by the pixel's mean Z-R
relation (convective and stratiform relations of the truth model, Bringi et al. 2003's
maritime-convective and stratiform clusters), mu follows a constrained-gamma mu-D0 relation
(after Zhang et al. 2001) with scatter, and a small-drop mode (Thurai et al. 2017) carries a
random share of the rain. Nw is then solved so that the DSD's R equals the truth rain. The
spreads are calibrated so that the point-and-minute statistics match ARM's laser disdrometers at
Bankhead National Forest (``../shared/data/dsd``; see ``docs/simulate.md``).

References
----------
Brandes, Zhang & Vivekanandan 2002, J. Appl. Meteor. 41, 674-685.
Bringi & Chandrasekar 2001, Polarimetric Doppler Weather Radar, Cambridge Univ. Press.
Bringi, Chandrasekar, Hubbert, Gorgucci, Randeu & Schoenhuber 2003, J. Atmos. Sci. 60, 354-365.
Liebe, Hufford & Manabe 1991, Int. J. Infrared Millim. Waves 12, 659-675.
Testud, Oury, Black, Amayenc & Dou 2001, J. Appl. Meteor. 40, 1118-1140.
Thurai, Gatlin, Bringi, Petersen, Kennedy, Notaros & Carey 2017, J. Appl. Meteor. Climatol. 56.
Zhang, Vivekanandan & Brandes 2001, IEEE Trans. Geosci. Remote Sens. 39, 830-841.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.special import gammaln

__all__ = [
    "D_MAX_MM",
    "D_MIN_MM",
    "D_STEP_MM",
    "S_BAND_FREQUENCY_GHZ",
    "DsdClimatology",
    "DsdFields",
    "Moments",
    "axis_ratio_brandes",
    "diameter_bins_mm",
    "dsd_from_rain",
    "gamma_moments",
    "mean_d0_for_zr_mm",
    "mu_for_d0",
    "normalized_gamma_per_mm_m3",
    "sample_point_dsd",
    "spectrum_moments",
    "spheroid_depolarization",
    "terminal_velocity_brandes_ms",
    "unit_moments",
    "water_permittivity_liebe",
]

#: S band of the WSR-88D (2.7-3.0 GHz); 2.8 GHz is a 10.7 cm wavelength.
S_BAND_FREQUENCY_GHZ = 2.8
TEMPERATURE_C = 20.0
D_MIN_MM = 0.1
D_MAX_MM = 8.0
D_STEP_MM = 0.05
_SPEED_OF_LIGHT_MM_GHZ = 299.792458  # mm * GHz


@dataclass(frozen=True)
class Moments:
    """Radar moments and rain rate of DSDs (arrays of one shape).

    Attributes
    ----------
    z_h_mm6_m3, z_v_mm6_m3 : reflectivity factor at horizontal and vertical polarisation.
    kdp_deg_km : specific differential phase (one way).
    rain_mm_h : rain rate.
    """

    z_h_mm6_m3: np.ndarray
    z_v_mm6_m3: np.ndarray
    kdp_deg_km: np.ndarray
    rain_mm_h: np.ndarray

    @property
    def zdr_db(self) -> np.ndarray:
        """Differential reflectivity 10 log10(Z_h / Z_v)."""
        return 10.0 * np.log10(self.z_h_mm6_m3 / self.z_v_mm6_m3)

    @property
    def dbz(self) -> np.ndarray:
        """Reflectivity in dBZ."""
        return 10.0 * np.log10(self.z_h_mm6_m3)


# ---------------------------------------------------------------------------------- physics
def diameter_bins_mm() -> tuple[np.ndarray, np.ndarray]:
    """Centres and widths (mm) of the quadrature bins, 0.1 to 8 mm by 0.05 mm."""
    n = int(round((D_MAX_MM - D_MIN_MM) / D_STEP_MM))
    edges = D_MIN_MM + D_STEP_MM * np.arange(n + 1)
    return 0.5 * (edges[1:] + edges[:-1]), np.diff(edges)


def axis_ratio_brandes(d_mm: np.ndarray) -> np.ndarray:
    """Raindrop axis ratio (minor/major) of Brandes et al. (2002), kept in [0.3, 1]."""
    d = np.asarray(d_mm, dtype=np.float64)
    r = 0.9951 + 0.02510 * d - 0.03644 * d**2 + 0.005303 * d**3 - 0.0002492 * d**4
    return np.clip(r, 0.3, 1.0)


def terminal_velocity_brandes_ms(d_mm: np.ndarray) -> np.ndarray:
    """Raindrop terminal fall speed (m/s) at sea level, Brandes et al. (2002), never negative."""
    d = np.asarray(d_mm, dtype=np.float64)
    v = -0.1021 + 4.932 * d - 0.9551 * d**2 + 0.07934 * d**3 - 0.002362 * d**4
    return np.maximum(v, 0.0)


def water_permittivity_liebe(frequency_ghz: float, temperature_c: float) -> complex:
    """Complex relative permittivity (eps' + i eps'') of liquid water, Liebe et al. (1991).

    Double-Debye model: ``eps = (e0 - e1)/(1 - i f/g1) + (e1 - e2)/(1 - i f/g2) + e2`` with
    ``th = 300/T - 1``, ``e0 = 77.66 + 103.3 th``, ``e1 = 0.0671 e0``, ``e2 = 3.52``,
    ``g1 = 20.20 - 146.4 th + 316 th^2`` GHz and ``g2 = 39.8 g1``. At 2.8 GHz and 20 C it gives
    78.1 + 12.0i (|K|^2 = 0.928).
    """
    th = 300.0 / (temperature_c + 273.15) - 1.0
    e0 = 77.66 + 103.3 * th
    e1 = 0.0671 * e0
    e2 = 3.52
    g1 = 20.20 - 146.4 * th + 316.0 * th**2
    g2 = 39.8 * g1
    f = frequency_ghz
    return complex((e0 - e1) / (1 - 1j * f / g1) + (e1 - e2) / (1 - 1j * f / g2) + e2)


def spheroid_depolarization(axis_ratio: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Depolarisation factors (L_h, L_v) of oblate spheroids with a vertical symmetry axis.

    ``L_v = (1 + e^2)/e^2 (1 - arctan(e)/e)`` with ``e^2 = 1/r^2 - 1`` and ``L_h = (1 - L_v)/2``
    (Gans' factors; Bringi & Chandrasekar 2001, ch. 2); a sphere (r = 1) has 1/3 for both.
    """
    r = np.minimum(np.asarray(axis_ratio, dtype=np.float64), 1.0 - 1e-6)
    e2 = 1.0 / r**2 - 1.0
    e = np.sqrt(e2)
    lv = (1.0 + e2) / e2 * (1.0 - np.arctan(e) / e)
    return (1.0 - lv) / 2.0, lv


def normalized_gamma_per_mm_m3(
    d_mm: np.ndarray, nw_per_mm_m3: np.ndarray, d0_mm: np.ndarray, mu: np.ndarray
) -> np.ndarray:
    """Normalised gamma DSD N(D) [mm^-1 m^-3] (arguments broadcast together).

    ``N(D) = Nw f(mu) (D/D0)^mu exp(-(3.67 + mu) D/D0)``, ``f(mu) = 6/3.67^4 (3.67 + mu)^(mu+4)
    / Gamma(mu + 4)`` (Testud et al. 2001; Bringi & Chandrasekar 2001).
    """
    mu = np.asarray(mu, dtype=np.float64)
    lam = 3.67 + mu
    log_f = np.log(6.0 / 3.67**4) + (mu + 4.0) * np.log(lam) - gammaln(mu + 4.0)
    x = np.asarray(d_mm, dtype=np.float64) / np.asarray(d0_mm, dtype=np.float64)
    return np.asarray(nw_per_mm_m3) * np.exp(log_f + mu * np.log(x) - lam * x)


def spectrum_moments(
    n_per_mm_m3: np.ndarray,
    d_mm: np.ndarray,
    dd_mm: np.ndarray,
    frequency_ghz: float = S_BAND_FREQUENCY_GHZ,
    temperature_c: float = TEMPERATURE_C,
) -> Moments:
    """Moments of DSDs given on diameter bins (last axis of ``n_per_mm_m3``).

    Rayleigh scattering by Brandes-shaped oblate drops (see the module docstring); ``R`` with the
    Brandes et al. (2002) fall speed.
    """
    d = np.asarray(d_mm, dtype=np.float64)
    wavelength_mm = _SPEED_OF_LIGHT_MM_GHZ / frequency_ghz
    eps = water_permittivity_liebe(frequency_ghz, temperature_c)
    lh, lv = spheroid_depolarization(axis_ratio_brandes(d))
    p_h = (eps - 1) / (1 + lh * (eps - 1))
    p_v = (eps - 1) / (1 + lv * (eps - 1))
    p_sphere = 3 * (eps - 1) / (eps + 2)
    w_h = np.abs(p_h / p_sphere) ** 2 * d**6
    w_v = np.abs(p_v / p_sphere) ** 2 * d**6
    # Forward-scattering amplitude difference of one drop (mm): k^2/(4 pi) V (p_h - p_v).
    k = 2 * np.pi / wavelength_mm
    f_diff = (k**2 / (4 * np.pi)) * (np.pi * d**3 / 6.0) * (p_h - p_v).real
    n_dd = np.asarray(n_per_mm_m3, dtype=np.float64) * dd_mm
    # lambda [mm] f [mm] N dD [m^-3] = 1e-6 rad/m -> x 1e3 per km -> degrees.
    kdp = (180.0 / np.pi) * wavelength_mm * (n_dd @ f_diff) * 1e-3
    rain = 6e-4 * np.pi * (n_dd @ (terminal_velocity_brandes_ms(d) * d**3))
    return Moments(n_dd @ w_h, n_dd @ w_v, kdp, rain)


# ------------------------------------------------------------------ unit-Nw moment table
_LN_D0_NODES = np.linspace(np.log(0.3), np.log(4.0), 181)
_LN_D0_MIN, _LN_D0_MAX = float(_LN_D0_NODES[0]), float(_LN_D0_NODES[-1])
_MU_NODES = np.linspace(-1.0, 21.0, 45)


@lru_cache(maxsize=1)
def _unit_table() -> np.ndarray:
    """ln of (Z_h, Z_v, KDP, R) of unit-Nw gamma DSDs on the (ln D0, mu) nodes, (4, nd, nmu)."""
    d, dd = diameter_bins_mm()
    d0 = np.exp(_LN_D0_NODES)
    n1 = normalized_gamma_per_mm_m3(
        d[None, None, :], 1.0, d0[:, None, None], _MU_NODES[None, :, None]
    )
    m = spectrum_moments(n1, d, dd)
    return np.log(np.stack([m.z_h_mm6_m3, m.z_v_mm6_m3, m.kdp_deg_km, m.rain_mm_h]))


@lru_cache(maxsize=1)
def _bilinear_coefficients() -> np.ndarray:
    """Per table cell, ``v = c0 + c1 fx + (c2 + c3 fx) fy`` of each quantity: (cells, 4, 4)."""
    t = _unit_table()
    c00, c10, c01, c11 = t[:, :-1, :-1], t[:, 1:, :-1], t[:, :-1, 1:], t[:, 1:, 1:]
    coef = np.stack([c00, c10 - c00, c01 - c00, c11 - c01 - c10 + c00], axis=-1)
    # (quantity, i, j, coefficient) -> (cell, coefficient, quantity), float32 for speed.
    return np.ascontiguousarray(coef.transpose(1, 2, 3, 0)).reshape(-1, 4, 4).astype(np.float32)


def unit_moments(d0_mm: np.ndarray, mu: np.ndarray) -> Moments:
    """Moments of unit-Nw (1 mm^-1 m^-3) gamma DSDs; multiply by Nw for any other.

    Bilinear interpolation of the logarithms on a table (ln D0 from 0.3 to 4 mm in 181 nodes,
    mu from -1 to 21 in 45 nodes; float32); inputs outside are clamped. Relative error below
    0.3 % (ZDR within 0.005 dB) against the direct quadrature.
    """
    return _unit_moments_ln(np.log(np.asarray(d0_mm, dtype=np.float64)), mu)


def _unit_moments_ln(ln_d0_mm: np.ndarray, mu: np.ndarray) -> Moments:
    """:func:`unit_moments` of ln D0."""
    coef = _bilinear_coefficients()
    n_mu = _MU_NODES.size
    ln_d0 = np.clip(ln_d0_mm, _LN_D0_MIN, _LN_D0_MAX)
    x = (ln_d0 - _LN_D0_NODES[0]) * (1.0 / (_LN_D0_NODES[1] - _LN_D0_NODES[0]))
    mu_c = np.clip(np.asarray(mu, dtype=np.float64), _MU_NODES[0], _MU_NODES[-1])
    y = (mu_c - _MU_NODES[0]) * (1.0 / (_MU_NODES[1] - _MU_NODES[0]))
    i = np.minimum(x.astype(np.int64), _LN_D0_NODES.size - 2)
    j = np.minimum(y.astype(np.int64), n_mu - 2)
    fx = (x - i).astype(np.float32)[..., None]
    fy = (y - j).astype(np.float32)[..., None]
    c = coef[i * (n_mu - 1) + j]
    e = np.exp(c[..., 0, :] + c[..., 1, :] * fx + (c[..., 2, :] + c[..., 3, :] * fx) * fy)
    return Moments(e[..., 0], e[..., 1], e[..., 2], e[..., 3])


def gamma_moments(nw_per_mm_m3: np.ndarray, d0_mm: np.ndarray, mu: np.ndarray) -> Moments:
    """Moments of normalised gamma DSDs from the table (all moments are linear in Nw)."""
    u = unit_moments(d0_mm, mu)
    nw = np.asarray(nw_per_mm_m3, dtype=np.float64)
    return Moments(u.z_h_mm6_m3 * nw, u.z_v_mm6_m3 * nw, u.kdp_deg_km * nw, u.rain_mm_h * nw)


# ------------------------------------------------------------------ climatological model
@dataclass(frozen=True)
class DsdClimatology:
    """Parameters of the simulator's DSD model (see :func:`dsd_from_rain`).

    The mean D0 comes from the pixel's mean Z-R relation; the values below set the scatter
    around it. They were calibrated on the ARM disdrometer day in ``../shared/data/dsd``
    (medians D0 1.1-1.3 mm, log10 Nw 3.1-3.3 with sd 0.6, mu 6; log-RMS of R(Z) 0.45,
    R(Z, ZDR) 0.20-0.23, R(KDP) 0.18-0.20) together with the truth model's mean relations, so
    that a point-and-minute sample of a simulated day has the same statistics while no formula
    of its moments gives the rain back better than log-RMS 0.15; ``docs/simulate.md`` has the
    measured table.

    Parameters
    ----------
    mu_at_1mm, mu_per_ln_d0 : constrained-gamma relation ``mu = mu_at_1mm - mu_per_ln_d0 ln D0``
        (D0 in mm): the mu-Lambda relation of Zhang et al. (2001) has the same shape (mu falls
        as the drops grow); the slope is that of the least-squares fits of the ARM data
        (M1: 10.6 - 13.2 ln D0, S30: 9.2 - 15.4 ln D0), the intercept makes the simulator's
        median mu about 6 like theirs.
    mu_sd_heavy, mu_sd_light : scatter of mu around the relation, ``sd = heavy + light /
        (1 + R/2 mm/h)`` (the ARM data: sd 5.5 below 0.5 mm/h, 1.6 above 8 mm/h).
    mu_range : mu is kept inside (the ARM fit stops at 20).
    d0_sd_stratiform, d0_sd_convective : point-scale scatter of ln D0 around the pixel's mean,
        as ``(heavy, light)`` with ``sd = heavy + light / (1 + R / 3 mm/h)``; the regime's
        day-to-day drift, each cell's own relation and the stratiform mesoscale texture come on
        top from the truth model. The ARM data: 0.21-0.27 in light rain, 0.17-0.19 above
        8 mm/h, smaller in convective cores (Bringi et al. 2003's maritime cluster).
    small_d0_mm, small_mu : shape of the small-drop (drizzle) mode (Thurai et al. 2017).
    small_share_median, small_share_ln_sd : the small mode carries ``s / (1 + s)`` of the rain,
        ``s`` log-normal; this is the DSD's fourth degree of freedom (Z, ZDR and KDP barely see
        it), the one that leaves R undetermined even given all three moments.
    """

    mu_at_1mm: float = 9.0
    mu_per_ln_d0: float = 13.0
    mu_sd_heavy: float = 1.5
    mu_sd_light: float = 4.5
    mu_range: tuple[float, float] = (0.0, 20.0)
    d0_sd_stratiform: tuple[float, float] = (0.12, 0.12)
    d0_sd_convective: tuple[float, float] = (0.04, 0.08)
    small_d0_mm: float = 0.55
    small_mu: float = 3.0
    small_share_median: float = 0.16
    small_share_ln_sd: float = 1.4


def mu_for_d0(d0_mm: np.ndarray, clim: DsdClimatology | None = None) -> np.ndarray:
    """Mean shape mu of a DSD with median-volume diameter D0 (the constrained-gamma relation)."""
    c = clim or DsdClimatology()
    mu = c.mu_at_1mm - c.mu_per_ln_d0 * np.log(np.asarray(d0_mm, dtype=np.float64))
    return np.clip(mu, *c.mu_range)


@lru_cache(maxsize=8)
def _zr_inverse_table(clim: DsdClimatology) -> tuple[np.ndarray, np.ndarray]:
    """ln(Z/R) of the mean DSD (main mode, mu from D0) on a ln D0 grid, for inversion."""
    ln_d0 = np.linspace(np.log(0.35), np.log(3.8), 400)
    u = unit_moments(np.exp(ln_d0), mu_for_d0(np.exp(ln_d0), clim))
    ln_q = np.log(u.z_h_mm6_m3 / u.rain_mm_h)
    return np.maximum.accumulate(ln_q), ln_d0  # monotone for np.interp


def mean_d0_for_zr_mm(
    zr_a: np.ndarray, zr_b: np.ndarray, rain_mm_h: np.ndarray, clim: DsdClimatology | None = None
) -> np.ndarray:
    """D0 (mm) of the gamma DSD (with the mean mu for its D0) whose Z/R is ``a R^(b-1)``.

    This turns a mean Z-R relation into the mean drop size at each rain rate: for example
    Z = 200 R^1.6 gives D0 about 1.1 mm at 1 mm/h and 1.5 mm at 5 mm/h. The main mode makes up
    for the median small-drop mode, which lowers Z/R by ``1 + s``.
    """
    c = clim or DsdClimatology()
    ln_a = np.log(np.asarray(zr_a, dtype=np.float64))
    ln_r = np.log(np.asarray(rain_mm_h, dtype=np.float64))
    return np.exp(_mean_ln_d0(ln_a, np.asarray(zr_b, dtype=np.float64), ln_r, c))


def _mean_ln_d0(
    ln_zr_a: np.ndarray, zr_b: np.ndarray, ln_rain: np.ndarray, c: DsdClimatology
) -> np.ndarray:
    ln_q, ln_d0 = _zr_inverse_table(c)
    target = ln_zr_a + (zr_b - 1.0) * ln_rain + np.log1p(c.small_share_median)
    return np.interp(target, ln_q, ln_d0)


@dataclass
class DsdFields:
    """The DSD of each pixel and its moments at the surface (arrays of one shape).

    Attributes
    ----------
    d0_mm, mu, nw_per_mm_m3 : the normalised gamma main mode.
    small_share : share of the rain rate carried by the small-drop mode.
    z_h_mm6_m3, zdr_db, kdp_deg_km, rain_mm_h : moments of the whole DSD.
    """

    d0_mm: np.ndarray
    mu: np.ndarray
    nw_per_mm_m3: np.ndarray
    small_share: np.ndarray
    z_h_mm6_m3: np.ndarray
    zdr_db: np.ndarray
    kdp_deg_km: np.ndarray
    rain_mm_h: np.ndarray

    @property
    def log10_nw(self) -> np.ndarray:
        """log10 of Nw (mm^-1 m^-3)."""
        return np.log10(self.nw_per_mm_m3)


@lru_cache(maxsize=8)
def _small_mode(clim: DsdClimatology) -> Moments:
    return unit_moments(np.array(clim.small_d0_mm), np.array(clim.small_mu))


def dsd_from_rain(
    rain_mm_h: np.ndarray,
    convective_fraction: np.ndarray,
    zr_a: np.ndarray,
    zr_b: np.ndarray,
    eps_d0: np.ndarray,
    eps_mu: np.ndarray,
    eps_small: np.ndarray,
    clim: DsdClimatology | None = None,
) -> DsdFields:
    """The DSD of pixels with a known rain rate, from standard-normal deviates.

    Parameters
    ----------
    rain_mm_h : truth rain rate (> 0).
    convective_fraction : share of convective rain (0..1): blends the scatter of the regimes.
    zr_a, zr_b : the pixel's mean Z-R relation (Z = a R^b): sets its mean D0
        (:func:`mean_d0_for_zr_mm`).
    eps_d0, eps_mu, eps_small : standard-normal deviates (independent draws for point samples,
        smooth random fields in the truth model) of ln D0, mu and the small-mode share.
    clim : model parameters.

    Returns
    -------
    DsdFields whose ``rain_mm_h`` equals the input: Nw is solved for it.
    """
    c = clim or DsdClimatology()
    rain = np.asarray(rain_mm_h, dtype=np.float32)
    cf = np.asarray(convective_fraction, dtype=np.float32)
    ln_rain = np.log(rain)
    ln_a = np.log(np.asarray(zr_a, dtype=np.float32))
    ln_d0 = _mean_ln_d0(ln_a, np.asarray(zr_b, dtype=np.float32), ln_rain, c).astype(np.float32)
    # Point-scale scatter of ln D0 (regimes blended by the convective fraction), then mu.
    light = 1.0 / (1.0 + rain * (1.0 / 3.0))
    (s_heavy, s_light), (c_heavy, c_light) = c.d0_sd_stratiform, c.d0_sd_convective
    sd = s_heavy + s_light * light + cf * ((c_heavy - s_heavy) + (c_light - s_light) * light)
    ln_d0 = np.clip(ln_d0 + sd * eps_d0, _LN_D0_MIN, _LN_D0_MAX)
    sd_mu = c.mu_sd_heavy + c.mu_sd_light / (1.0 + rain * 0.5)
    mu = np.clip(c.mu_at_1mm - c.mu_per_ln_d0 * ln_d0 + sd_mu * eps_mu, *c.mu_range)
    s = c.small_share_median * np.exp(c.small_share_ln_sd * eps_small)
    share = s / (1.0 + s)
    main = _unit_moments_ln(ln_d0, mu)
    small = _small_mode(c)
    # Nw of each mode per unit rain, then every moment per unit rain.
    nw_main = (1.0 - share) / main.rain_mm_h
    nw_small = share / small.rain_mm_h
    z_h = nw_main * main.z_h_mm6_m3 + nw_small * small.z_h_mm6_m3
    z_v = nw_main * main.z_v_mm6_m3 + nw_small * small.z_v_mm6_m3
    kdp = nw_main * main.kdp_deg_km + nw_small * small.kdp_deg_km
    return DsdFields(
        d0_mm=np.exp(ln_d0),
        mu=mu,
        nw_per_mm_m3=nw_main * rain,
        small_share=share,
        z_h_mm6_m3=z_h * rain,
        zdr_db=10.0 * np.log10(z_h / z_v),
        kdp_deg_km=kdp * rain,
        rain_mm_h=rain,
    )


def sample_point_dsd(
    rng: np.random.Generator,
    rain_mm_h: np.ndarray,
    convective_fraction: np.ndarray,
    zr_a: np.ndarray,
    zr_b: np.ndarray,
    clim: DsdClimatology | None = None,
) -> DsdFields:
    """Independent point-and-minute DSDs for given rain rates (:func:`dsd_from_rain`)."""
    shape = np.shape(rain_mm_h)
    e = rng.standard_normal((3, *shape)).astype(np.float32)
    return dsd_from_rain(rain_mm_h, convective_fraction, zr_a, zr_b, e[0], e[1], e[2], clim)
