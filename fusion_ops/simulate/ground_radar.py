"""Ground radar observer: a WSR-88D volume scan of the truth.

Each gate samples the 3-D truth along the beam: heights from the 4/3 effective-earth model
(:func:`fusion_ops.radar.geometry.gate_geometry`, on ``wradlib.georef.bin_altitude``: the
geometry the gridding of real volumes uses), the beam's vertical extent by Gaussian-weighted
sub-beams (beam broadening), receiver noise growing with range, a speckle of measurement error,
static ground clutter near the radar, partial beam blockage in one sector and the polarimetric moments
(ZDR, PHIDP as twice the range-integrated KDP plus a system phase, RHOHV) of a dual-pol radar
(:attr:`ScanStrategy.dual_pol`; a single-pol WSR-88D, before its 2011-2013 upgrade, records
reflectivity, velocity and spectrum width only). Radial velocity comes
from a sheared steering wind. Calibration errors (:class:`RadarCalibration`: a fixed or slowly
drifting reflectivity offset and a ZDR offset per radar) are zero unless the scenario sets them.
The result is a :class:`~fusion_ops.simulate.formats.nexrad_level2.RadarVolume` that the Level II
encoder writes.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property

import numpy as np

from fusion_ops.radar.geometry import gate_geometry
from fusion_ops.simulate.formats.nexrad_level2 import RadarVolume, Sweep
from fusion_ops.simulate.truth import ColumnState, TruthModel, column_profile

__all__ = [
    "SINGLE_POL_MOMENTS",
    "VCP21_ELEVATIONS_DEG",
    "RadarCalibration",
    "RadarObserver",
    "ScanStrategy",
    "gate_geometry",
]

#: Elevation angles of VCP 21 (9 elevations), used once per volume (no split cuts).
VCP21_ELEVATIONS_DEG = (0.5, 1.45, 2.4, 3.35, 4.3, 6.0, 9.9, 14.6, 19.5)


@dataclass(frozen=True)
class ScanStrategy:
    """Volume coverage pattern and sampling of the simulated WSR-88D.

    Parameters
    ----------
    vcp : VCP number written to the file.
    elevations_deg : fixed elevation angles (9-14 for WSR-88D patterns).
    azimuth_res_deg : ray spacing on all sweeps (1.0 everywhere, fast) ...
    super_res_lowest : ... or 0.5 deg on the lowest two sweeps (super resolution) when True.
    first_gate_m, gate_spacing_m, max_range_m : range sampling of every moment.
    max_height_m : gates whose beam centre is above this height are not recorded (the
        archive truncates high elevations the same way, which saves time).
    beamwidth_deg : half-power beam width (the WSR-88D has 0.95 deg).
    n_subbeams : vertical samples across +-1 beam width for beam broadening.
    dual_pol : True records ZDR, PHI and RHO as well (dual polarization); False only REF, VEL
        and SW, as every WSR-88D before the dual-pol upgrade (see :mod:`fusion_ops.eras`).
    """

    vcp: int = 21
    elevations_deg: tuple[float, ...] = VCP21_ELEVATIONS_DEG
    azimuth_res_deg: float = 1.0
    super_res_lowest: bool = False
    first_gate_m: float = 2125.0
    gate_spacing_m: float = 1000.0
    max_range_m: float = 230_000.0
    max_height_m: float = 20_000.0
    beamwidth_deg: float = 0.95
    n_subbeams: int = 5
    nyquist_velocity_ms: float = 26.0
    unambiguous_range_m: float = 466_000.0
    dual_pol: bool = True


#: The moments of a single-polarization WSR-88D.
SINGLE_POL_MOMENTS = ("REF", "VEL", "SW")


@dataclass(frozen=True)
class RadarCalibration:
    """Calibration errors of a simulated radar; all zero (a perfect radar) by default.

    Real radars carry both: SR-GR comparisons find ground-radar reflectivity offsets of a few dB
    that drift over weeks (e.g. Warren et al. 2018, J. Atmos. Oceanic Technol. 35, 323-346),
    and ZDR needs a calibration of a few tenths of a dB; issue 19 asks for a Z offset with sigma
    about 1.5 dB drifting slowly and a ZDR offset with sigma about 0.2 dB per radar.

    Parameters
    ----------
    z_bias_db : fixed offset added to every reflectivity (dB).
    z_drift_sigma_db : standard deviation of a random, slowly drifting reflectivity offset
        (about 1.5 dB for a realistic radar); it adds to ``z_bias_db``.
    z_drift_days : the drift's time scale: independent values every ``z_drift_days`` (knots
        at multiples of it since 1970-01-01), interpolated in between with constant variance.
    zdr_bias_db : fixed offset added to every ZDR (dB).
    zdr_sigma_db : standard deviation of the radar's own random ZDR offset (about 0.2 dB),
        constant in time; it adds to ``zdr_bias_db``.

    The random parts come from the observer's seed and the radar's site, so a scenario is
    reproducible; a calibration error shifts the measured power, not the signal-to-noise
    ratio, so it leaves the detected gates unchanged.
    """

    z_bias_db: float = 0.0
    z_drift_sigma_db: float = 0.0
    z_drift_days: float = 20.0
    zdr_bias_db: float = 0.0
    zdr_sigma_db: float = 0.0

    def biases_db(self, site: str, t: datetime, seed: int = 0) -> tuple[float, float]:
        """The (Z, ZDR) offsets in dB of radar ``site`` at time ``t`` (timezone-aware)."""
        key = zlib.crc32(site.encode())
        z = self.z_bias_db
        if self.z_drift_sigma_db > 0:
            x = t.timestamp() / (86400.0 * self.z_drift_days)
            k = int(np.floor(x))
            w1 = x - k
            w0 = 1.0 - w1
            knots = [
                np.random.default_rng([seed, key, 1902, k + j]).standard_normal() for j in (0, 1)
            ]
            unit = (w0 * knots[0] + w1 * knots[1]) / np.hypot(w0, w1)
            z += self.z_drift_sigma_db * float(unit)
        zdr = self.zdr_bias_db
        if self.zdr_sigma_db > 0:
            zdr += self.zdr_sigma_db * float(
                np.random.default_rng([seed, key, 1901]).standard_normal()
            )
        return float(z), float(zdr)


@dataclass
class _SweepGeometry:
    elevation_deg: float
    azimuth_deg: np.ndarray  # (n_rays,)
    range_m: np.ndarray  # (n_gates,)
    flat_index: np.ndarray  # (n_rays, n_gates) index into the truth grid, -1 outside
    sub_heights_m: np.ndarray  # (n_sub, n_gates)
    sub_weights: np.ndarray  # (n_sub,)
    blockage_loss: np.ndarray  # (n_rays,) linear power factor
    clutter_z_lin: np.ndarray  # (n_rays, n_gates)
    noise_z_lin: np.ndarray  # (n_gates,)


@dataclass
class RadarObserver:
    """Samples a :class:`TruthModel` like a WSR-88D at the domain centre.

    Parameters
    ----------
    truth : the synthetic atmosphere.
    strategy : scan strategy (elevations, sampling).
    noise_dbz_at_1km : receiver noise expressed as reflectivity at 1 km (grows as 20 log10 r).
    snr_threshold_db : gates below this signal-to-noise ratio are written as below threshold.
    blockage_sector_deg : azimuth sector with partial beam blockage (trees/buildings).
    blockage_loss_db : two-way power loss in that sector, per elevation (lowest first).
    clutter_radius_km : ground clutter appears on the lowest sweeps within this range.
    system_phase_deg : PHIDP offset of the system.
    seed : noise seed (combined with the volume time, so each volume is reproducible).
    calibration : reflectivity and ZDR calibration errors (none by default).
    """

    truth: TruthModel
    strategy: ScanStrategy = field(default_factory=ScanStrategy)
    noise_dbz_at_1km: float = -45.0
    snr_threshold_db: float = 2.0
    blockage_sector_deg: tuple[float, float] = (118.0, 134.0)
    blockage_loss_db: tuple[float, ...] = (5.0, 1.5)
    clutter_radius_km: float = 40.0
    system_phase_deg: float = 60.0
    seed: int = 0
    calibration: RadarCalibration = field(default_factory=RadarCalibration)

    @cached_property
    def geometry(self) -> list[_SweepGeometry]:
        """Gate geometry, grid lookups, clutter and blockage per sweep (computed once)."""
        s = self.strategy
        dom = self.truth.domain
        grid = self.truth.grid
        rng = np.random.default_rng([self.seed, 4242])
        n_full = int(np.floor((s.max_range_m - s.first_gate_m) / s.gate_spacing_m)) + 1
        r_full = s.first_gate_m + s.gate_spacing_m * np.arange(n_full)
        # One static clutter map on a fine polar grid around the site, reused by every sweep.
        clutter_r = np.arange(0, self.clutter_radius_km * 1000 + 250, 250.0)
        patches = rng.random((720, clutter_r.size)) < 0.08 * np.exp(-clutter_r / 15000.0)[None, :]
        clutter_db = np.where(patches, rng.uniform(15.0, 55.0, patches.shape), -np.inf)
        out = []
        sub = (
            np.linspace(-1.0, 1.0, s.n_subbeams) * s.beamwidth_deg
            if s.n_subbeams > 1
            else np.zeros(1)
        )
        w = np.exp(-4 * np.log(2) * (sub / s.beamwidth_deg) ** 2)
        w = w / w.sum()
        for k, el in enumerate(s.elevations_deg):
            res = 0.5 if (s.super_res_lowest and k < 2) else s.azimuth_res_deg
            az = (np.arange(int(round(360.0 / res))) + 0.5) * res
            h_c, _ = gate_geometry(r_full, el, dom.radar_height_m)
            too_high = h_c > s.max_height_m
            n_g = max(int(np.argmax(too_high)) if too_high.any() else n_full, 10)
            r = r_full[:n_g]
            _, ground = gate_geometry(r, el, dom.radar_height_m)
            x = ground[None, :] / 1000.0 * np.sin(np.deg2rad(az))[:, None]
            y = ground[None, :] / 1000.0 * np.cos(np.deg2rad(az))[:, None]
            j, i, inside = grid.index(x, y)
            flat = np.where(inside, j * grid.nx + i, -1).astype(np.int64)
            sub_h = np.stack([gate_geometry(r, el + d, dom.radar_height_m)[0] for d in sub])
            loss = np.ones(az.size)
            if k < len(self.blockage_loss_db):
                a0, a1 = self.blockage_sector_deg
                in_sector = (az >= a0) & (az <= a1)
                loss[in_sector] = 10 ** (-self.blockage_loss_db[k] / 10.0)
            # Clutter falls off quickly with elevation (main lobe leaves the ground).
            damp_db = 18.0 * max(el - 0.5, 0.0) / 0.95
            ia = np.clip((az / 0.5).astype(int), 0, 719)
            ir = np.clip(np.searchsorted(clutter_r, r), 0, clutter_r.size - 1)
            cdb = clutter_db[ia[:, None], ir[None, :]] - damp_db
            c_lin = np.where(
                np.isfinite(cdb) & (r[None, :] < self.clutter_radius_km * 1000),
                10 ** (cdb / 10),
                0.0,
            )
            noise = 10 ** ((self.noise_dbz_at_1km + 20 * np.log10(r / 1000.0)) / 10.0)
            out.append(
                _SweepGeometry(el, az, r, flat, sub_h, w, loss, c_lin.astype(np.float32), noise)
            )
        return out

    def volume(
        self, start: datetime, duration_s: float = 290.0, state: ColumnState | None = None
    ) -> RadarVolume:
        """Scan one volume starting at ``start`` (UTC); the truth is frozen at mid-volume.

        ``state`` may pass the truth column state at mid-volume when the caller has it already.
        """
        s = self.strategy
        dom = self.truth.domain
        t_mid = start + timedelta(seconds=duration_s / 2)
        state = state if state is not None else self.truth.state(t_mid)
        flat_state = ColumnState(**{k: v.reshape(-1) for k, v in state.__dict__.items()})
        reg = self.truth.regime(t_mid.date())
        rng = np.random.default_rng([self.seed, int(start.timestamp())])
        bias = self.calibration.biases_db(dom.site, t_mid, self.seed)
        n_sw = len(self.geometry)
        sweeps = []
        for k, g in enumerate(self.geometry):
            fields = self._sample_sweep(g, flat_state, reg, rng, bias)
            n_rays = g.azimuth_deg.size
            t0 = k * duration_s / n_sw
            times = t0 + (np.arange(n_rays) + 0.5) * (duration_s / n_sw) / n_rays
            sweeps.append(
                Sweep(
                    elevation_deg=float(g.elevation_deg),
                    azimuth_deg=g.azimuth_deg.astype(np.float64),
                    time_offset_s=times,
                    first_gate_m=float(g.range_m[0]),
                    gate_spacing_m=float(s.gate_spacing_m),
                    fields=fields,
                    nyquist_velocity_ms=s.nyquist_velocity_ms,
                    unambiguous_range_m=s.unambiguous_range_m,
                )
            )
        return RadarVolume(
            site=dom.site,
            latitude_deg=dom.center_lat_deg,
            longitude_deg=dom.center_lon_deg,
            height_m=dom.radar_height_m,
            start_time=start,
            vcp=s.vcp,
            sweeps=sweeps,
        )

    def _sample_sweep(
        self,
        g: _SweepGeometry,
        cols: ColumnState,
        reg,
        rng,
        bias_db: tuple[float, float] = (0.0, 0.0),
    ) -> dict[str, np.ndarray]:
        n_rays, n_gates = g.flat_index.shape
        valid = g.flat_index >= 0
        idx = np.where(valid, g.flat_index, 0)
        rain = np.where(valid, cols.rain_mm_h[idx], 0.0)
        echo = rain > 0
        z_sig = np.zeros((n_rays, n_gates), np.float32)
        zdr_w = np.zeros_like(z_sig)
        rho_w = np.zeros_like(z_sig)
        kdp = np.zeros_like(z_sig)
        if echo.any():
            sel = np.nonzero(echo)
            c = cols.take(idx[sel])
            gate = sel[1]
            for h, wk in zip(g.sub_heights_m, g.sub_weights, strict=True):
                p = column_profile(c, h[gate])
                zl = p["z_lin"] * wk * (h[gate] > 0)  # sub-beams below ground see no rain
                z_sig[sel] += zl
                zdr_w[sel] += zl * 10 ** (np.nan_to_num(p["zdr_db"]) / 10)
                rho_w[sel] += zl * np.nan_to_num(p["rhohv"])
                kdp[sel] += wk * p["kdp_deg_km"]
        z_sig *= g.blockage_loss[:, None]
        z_all = z_sig + g.clutter_z_lin
        noise_all = np.broadcast_to(g.noise_z_lin[None, :], z_all.shape)
        # Only gates with some return can pass the SNR threshold: a noise-only gate would need
        # a noise estimate ~2.6x too high, which a 30-pulse average practically never gives.
        cand = np.nonzero(z_all > 0.1 * noise_all)
        z_tot = z_all[cand]
        noise = noise_all[cand]
        clutter = g.clutter_z_lin[cand]
        zs = z_sig[cand]
        m = z_tot.size
        n_meas = noise * rng.gamma(30.0, 1 / 30.0, size=m)
        z_est = z_tot + n_meas - noise
        snr_db = 10 * np.log10(np.maximum(z_est, 1e-10) / noise)
        detected = snr_db > self.snr_threshold_db
        dbz = 10 * np.log10(np.maximum(z_est, 1e-10)) + rng.normal(0, 1.0, m) + bias_db[0]

        clut_share = clutter / np.maximum(z_tot, 1e-10)
        zdr_rain = 10 * np.log10(np.where(zs > 0, zdr_w[cand] / np.maximum(zs, 1e-10), 1.0))
        rho_rain = np.where(zs > 0, rho_w[cand] / np.maximum(zs, 1e-10), 0.0)
        lo_snr = 1.0 / (1.0 + 10 ** (snr_db / 10.0))
        zdr = (1 - clut_share) * zdr_rain + clut_share * rng.normal(0, 3.0, m)
        zdr = zdr + rng.normal(0, 0.2, m) + lo_snr * rng.normal(0, 2.0, m) + bias_db[1]
        rho = (1 - clut_share) * rho_rain + clut_share * rng.uniform(0.5, 0.85, m)
        rho = np.clip(rho * (1 - 0.3 * lo_snr) + rng.normal(0, 0.005, m), 0.21, 1.05)
        dr_km = (g.range_m[1] - g.range_m[0]) / 1000.0 if g.range_m.size > 1 else 1.0
        phidp_all = self.system_phase_deg + 2.0 * np.cumsum(kdp, axis=1) * dr_km
        phidp = phidp_all[cand] + rng.normal(0, 2.0, m) + lo_snr * rng.normal(0, 20.0, m)
        phidp = np.mod(phidp, 360.0)

        # Radial velocity of the sheared steering wind at the gate height; clutter is at rest.
        h_c = g.sub_heights_m[g.sub_heights_m.shape[0] // 2][cand[1]]
        shear = np.clip(h_c / 10000.0, 0, 1)
        u = reg.steering_u_ms + (reg.upper_u_ms - reg.steering_u_ms) * shear
        v = reg.steering_v_ms + (reg.upper_v_ms - reg.steering_v_ms) * shear
        az = np.deg2rad(g.azimuth_deg)[cand[0]]
        vr = (u * np.sin(az) + v * np.cos(az)) * np.cos(np.deg2rad(g.elevation_deg))
        vr = (1 - clut_share) * vr + rng.normal(0, 1.0, m)
        vn = self.strategy.nyquist_velocity_ms
        vr = np.mod(vr + vn, 2 * vn) - vn
        sw = np.clip(1.0 + 2.5 * (1 - clut_share) + rng.normal(0, 0.5, m), 0.0, 15.0)

        rows, cols_ = cand[0][detected], cand[1][detected]

        def scatter(a: np.ndarray) -> np.ndarray:
            out = np.full((n_rays, n_gates), np.nan, np.float32)
            out[rows, cols_] = a[detected]
            return out

        fields = {"REF": scatter(dbz), "VEL": scatter(vr), "SW": scatter(sw)}
        if self.strategy.dual_pol:
            fields.update(
                ZDR=scatter(np.clip(zdr, -7.9, 7.9)), PHI=scatter(phidp), RHO=scatter(rho)
            )
        # A single-pol volume draws the same random numbers: its REF, VEL and SW are exactly
        # those of the dual-pol volume of the same seed and time.
        return fields

    def scan_times(self, day_start: datetime, cadence_min: float) -> list[datetime]:
        """Volume start times of one UTC day at a fixed cadence."""
        n = int(round(24 * 60 / cadence_min))
        return [day_start + timedelta(minutes=cadence_min * i) for i in range(n)]
