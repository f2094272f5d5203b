"""Spaceborne-radar / ground-radar geometric volume matching (Schwaller & Morris 2011).

Each intersection of an SR ray with a GR sweep is one matched sample, as in Warren et al. (2018,
JTECH 35:323) and wradlib's "Match spaceborne SR (GPM/TRMM) with ground radars GR" recipe:

* **SR profiles**: precipitating (``precip_type > 0``, the product's precipitation flag and
  type), their surface footprint within the GR range, and with a bright band detected by the SR
  (height, width > 0 and quality 1), so that the phase of every bin is known. Profiles without a
  detected bright band are left out, as wradlib leaves them out (their converted reflectivity is
  undefined there).
* **SR bins of a sample**: the parallax-corrected bins (:func:`wradlib.georef.correct_parallax`)
  whose elevation seen from the GR antenna (:func:`wradlib.georef.xyz_to_spherical`, 4/3 earth)
  lies within half a GR beamwidth of the sweep elevation, above the SR's clutter-free bottom and
  within the GR range. The SR sample is the linear-Z average of the detected bins, each weighted by
  its SR pulse volume.
* **GR gates of a sample**: the gates of that sweep whose centre lies within the SR footprint
  radius of the bins' mean position. The radius is computed from the SR geometry for every bin
  (``0.5 (1 + cos a) r_s tan(bw_sr / 2)``, ``r_s`` the distance from the satellite, ``a`` the
  local zenith angle, ``bw_sr`` = 0.71 deg), so it grows with the scan angle; the largest of the
  sample's bins is used. The GR sample is the linear-Z average of the gates, each weighted by its
  GR pulse volume (:func:`wradlib.qual.pulse_volume`). A gate without echo (NaN) makes the GR
  average undefined and the sample is dropped (wradlib's area-weighted average does the same).
* **Ku to S**: Cao et al. (2013) polynomials (:class:`wradlib.trafo.KuBandToS`), dry snow
  (dry hail in convective profiles) above the melting layer, rain below, and in between the
  coefficients of the melting stage given by the bin's position in the layer
  (:func:`wradlib.qual.get_bb_ratio`: median height and width of the bright bands detected in
  range). ``melting_layer="exclude"`` drops the samples that touch the layer instead (30 %
  fewer samples on the Brisbane case).
* **Time**: a GR sweep more than ``max_time_diff_s`` from the SR (the median time of the scans
  of the candidate profiles) is skipped and recorded in ``matches.attrs["skipped_sweeps"]``;
  the other sweeps are matched.

No reflectivity thresholds are applied (as in the recipe); the SR's own sensitivity (about
14 dBZ for GPM Ku) and the GR's "no echo" gates bound the samples from below. ``min_sr_detected``
asks that a fraction of a sample's SR bins have echo (0 by default, as wradlib).
docs/calibration.md compares the result with wradlib's on the Brisbane case.

The inputs come from the project's readers: the GR volume from
:func:`fusion_ops.readers.ground_radar.read_volume` (NEXRAD Level II or ODIM_H5; site, sweeps,
gate ranges, beam width and sweep times as the reader gives them) and the SR granule on its native
range bins from :func:`fusion_ops.readers.spaceborne.read_2a_bins` (GPM V05/V06 ``NS`` and V07
``FS`` layouts, TRMM PR V7 2A25 + 2A23: 176 bins of 125 m or 80 of 250 m). The bin count
(``sr.sizes["bin"]``) and the bin spacing (``sr.attrs["bin_spacing_m"]``) are the reader's;
nothing here assumes either. The orbit height (for the footprint radius) is GPM's 407 km, or
TRMM's 402.5 km (350 km before the August 2001 boost) when the bins are 250 m.
:func:`match_volumes` matches what is already read, :func:`read_inputs` reads the two (three
with a TRMM 2A23) files, :func:`match_files` reads and matches them, :func:`summarise_bias` gives
the offset (median, mean, n) with the 95 % interval of the median.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import warnings

import numpy as np
import pandas as pd
import pyproj
import wradlib
import xarray as xr
from scipy import stats

from fusion_ops.datamodel import RadarVolume

__all__ = [
    "SRGRInputError",
    "ku_to_s_band",
    "match_files",
    "match_volumes",
    "median_ci95",
    "read_inputs",
    "summarise_bias",
]

#: SR beam width (deg), GPM Ku and TRMM PR.
SR_BEAMWIDTH_DEG = 0.71
#: Nominal orbit heights (m) for the SR footprint radius (wradlib's values; TRMM after its boost).
ORBIT_HEIGHT_M = {"GPM": 407_000.0, "TRMM": 402_500.0, "TRMM_PREBOOST": 350_000.0}
TRMM_BOOST = np.datetime64("2001-08-24", "ns")
EARTH_RADIUS_M = 6_371_000.0
MAX_GR_RANGE_M = 150_000.0
MAX_TIME_DIFF_S = 600.0
#: The GR moment matched (Py-ART name, as the ground-radar reader stores it).
GR_FIELD = "reflectivity"
MELTING_LAYER_CHOICES = ("convert", "exclude")

_COLUMNS = [
    "scan",
    "ray",
    "sweep",
    "elevation_deg",
    "x_km",
    "y_km",
    "range_km",
    "height_km",
    "layer",
    "precip_type",
    "sr_dbz_ku",
    "sr_dbz_s",
    "gr_dbz",
    "n_sr_bins",
    "n_sr_detected",
    "n_gr_gates",
    "footprint_radius_m",
    "sr_volume_m3",
    "gr_volume_m3",
    "time_diff_s",
]


class SRGRInputError(ValueError):
    """The SR dataset lacks what the matching needs (a variable or attribute of the reader)."""


def ku_to_s_band(
    dbz_ku: np.ndarray,
    bb_ratio: np.ndarray,
    convective: np.ndarray | None = None,
    melting_layer: str = "convert",
) -> np.ndarray:
    """Ku -> S reflectivity (Cao et al. 2013, :class:`wradlib.trafo.KuBandToS`).

    ``bb_ratio <= 0`` (below the melting layer) uses the rain polynomial, ``>= 1`` (above) dry
    snow, or dry hail where ``convective`` is true; inside the layer the polynomial of the melting
    stage ``round(10 * bb_ratio)`` (``melting_layer="convert"``) or NaN (``"exclude"``).
    """
    dbz_ku = np.asarray(dbz_ku, dtype=np.float64)
    ratio = np.broadcast_to(bb_ratio, dbz_ku.shape)
    if convective is None:
        conv = np.zeros(dbz_ku.shape, dtype=bool)
    else:
        conv = np.broadcast_to(np.asarray(convective, dtype=bool), dbz_ku.shape)
    stage = np.clip(np.round(np.nan_to_num(ratio, nan=-1.0) * 10.0), 0, 10).astype(np.int64)
    if melting_layer == "exclude":
        ok = (ratio <= 0) | (ratio >= 1)
    elif melting_layer == "convert":
        ok = np.isfinite(ratio)
    else:
        raise ValueError(f"melting_layer must be one of {MELTING_LAYER_CHOICES}")
    ok &= np.isfinite(dbz_ku)
    snow, hail = wradlib.trafo.KuBandToS.snow, wradlib.trafo.KuBandToS.hail  # (5, 11)
    # Horner's rule with per-bin coefficient columns (one polynomial per stage and type)
    coeffs = np.where(conv[..., None], hail.T[stage], snow.T[stage])  # (..., 5)
    z = np.where(ok, dbz_ku, 0.0)
    delta = np.zeros_like(z)
    for k in range(coeffs.shape[-1] - 1, -1, -1):
        delta = delta * z + coeffs[..., k]
    return np.where(ok, dbz_ku + delta, np.nan)


def _orbit_height_m(sr: xr.Dataset) -> float:
    if "orbit_height_m" in sr.attrs:
        return float(sr.attrs["orbit_height_m"])
    satellite = str(sr.attrs.get("satellite", "")).upper()
    trmm = "TRMM" in satellite or (not satellite and float(sr.attrs["bin_spacing_m"]) == 250.0)
    if not trmm:
        return ORBIT_HEIGHT_M["GPM"]
    t = sr["time"].values.astype("datetime64[ns]")
    boosted = t.size == 0 or np.nanmax(t.astype(np.int64)) >= TRMM_BOOST.astype(np.int64)
    return ORBIT_HEIGHT_M["TRMM" if boosted else "TRMM_PREBOOST"]


@contextlib.contextmanager
def _quiet_proj():
    with warnings.catch_warnings():
        # wradlib turns the CRS into a PROJ string internally; an aeqd string loses nothing
        warnings.filterwarnings("ignore", message=".*PROJ string.*")
        yield


def match_volumes(
    gr: RadarVolume,
    sr: xr.Dataset,
    max_range_m: float = MAX_GR_RANGE_M,
    max_time_diff_s: float = MAX_TIME_DIFF_S,
    melting_layer: str = "convert",
    min_sr_detected: float = 0.0,
) -> pd.DataFrame:
    """Matched SR-GR reflectivity samples, one row per (SR ray, GR sweep) intersection.

    Parameters
    ----------
    gr : RadarVolume
        Ground-radar volume (:func:`fusion_ops.readers.ground_radar.read_volume`); sweeps
        without reflectivity are skipped. The sweep start times are used where the reader gives
        them, else the volume time.
    sr : xarray.Dataset
        Spaceborne granule on native bins (:func:`fusion_ops.readers.spaceborne.read_2a_bins`).
    max_range_m : float
        GR range limit for the SR footprints and bins.
    max_time_diff_s : float
        Sweeps further than this from the SR overpass are skipped (and recorded).
    melting_layer : {"convert", "exclude"}
        Convert SR bins inside the melting layer with Cao's melting-stage polynomials, or drop
        the samples that touch the layer.
    min_sr_detected : float
        Fraction of a sample's SR bins that must have echo (0: any, as in wradlib's recipe,
        which averages the bins with echo; 1: all, as the GR gates must).

    Returns
    -------
    pandas.DataFrame
        Columns ``scan, ray, sweep, elevation_deg, x_km, y_km, range_km, height_km, layer``
        (``below``/``above`` the melting layer, ``melting`` when the bins reach into it),
        ``precip_type, sr_dbz_ku, sr_dbz_s, gr_dbz, n_sr_bins`` (in the GR beam),
        ``n_sr_detected`` (of those, with echo: the averaged ones), ``n_gr_gates,
        footprint_radius_m, sr_volume_m3, gr_volume_m3, time_diff_s`` (SR scan - GR sweep).
        ``height_km`` and ``layer`` describe the averaged SR bins. ``gr_dbz - sr_dbz_s`` is the GR calibration
        offset estimate. ``attrs["skipped_sweeps"]``: one dict per sweep left out for time
        (``sweep, elevation_deg, time_diff_s, reason``); ``attrs["sr_time"]``: the SR time used.
    """
    if melting_layer not in MELTING_LAYER_CHOICES:
        raise ValueError(f"melting_layer must be one of {MELTING_LAYER_CHOICES}")
    needed = (
        "zku_dbz",
        "lat",
        "lon",
        "local_zenith_deg",
        "precip_type",
        "clutter_free_bottom_bin",
        "bright_band_height_m",
        "bright_band_width_m",
        "bright_band_quality",
    )
    missing = [v for v in needed if v not in sr] + [
        a for a in ("bin_spacing_m",) if a not in sr.attrs
    ]
    if missing:
        raise SRGRInputError(f"{sr.attrs.get('source', 'SR dataset')}: missing {missing}")
    site = (gr.longitude_deg, gr.latitude_deg, gr.altitude_m)
    crs = pyproj.CRS.from_proj4(
        f"+proj=aeqd +lat_0={gr.latitude_deg} +lon_0={gr.longitude_deg} +ellps=WGS84 +units=m"
    )
    fx, fy = pyproj.Transformer.from_crs("EPSG:4326", crs, always_xy=True).transform(
        sr["lon"].values, sr["lat"].values
    )
    alpha = sr["local_zenith_deg"].values.astype(np.float64)
    ptype = sr["precip_type"].values
    # a profile needs a bright band detected by the SR (the phase of its bins is known)
    bb_h = sr["bright_band_height_m"].values.astype(np.float64)
    bb_w = sr["bright_band_width_m"].values.astype(np.float64)
    bb_q = sr["bright_band_quality"].values
    has_bb = (np.nan_to_num(bb_h) > 0) & (np.nan_to_num(bb_w) > 0) & (bb_q == 1)
    near = np.hypot(fx, fy) <= max_range_m
    candidate = near & (ptype > 0) & has_bb & np.isfinite(alpha)
    skipped: list[dict] = []
    if not candidate.any():
        return _empty_matches(skipped, None)

    prof = _profiles(sr, gr, crs, fx, fy, alpha, candidate, max_range_m, melting_layer)
    cs, cr = prof.scan, prof.ray
    scan_time = sr["time"].values.astype("datetime64[ns]")
    cand_t = scan_time[cs].astype(np.int64)
    sr_t = np.datetime64(int(np.median(cand_t)), "ns")

    parts = []
    for e, sweep in enumerate(gr.sweeps):
        if GR_FIELD not in sweep.fields:
            continue
        elev = float(sweep.elevation_deg)
        sweep_time = gr.time if sweep.start_time is None else sweep.start_time
        dt_s = float(abs((sr_t - sweep_time) / np.timedelta64(1, "s")))
        if dt_s > max_time_diff_s:
            skipped.append(
                {
                    "sweep": e,
                    "elevation_deg": elev,
                    "time_diff_s": dt_s,
                    "reason": f"{dt_s:.0f} s from the SR overpass (max {max_time_diff_s:.0f})",
                }
            )
            continue
        part = _match_sweep(
            prof, sweep, gr.beamwidth_deg, site, crs, melting_layer, min_sr_detected
        )
        if part is None:
            continue
        k = part.pop("profile")
        part.update(
            scan=cs[k],
            ray=cr[k],
            sweep=np.full(k.size, e),
            elevation_deg=np.full(k.size, elev),
            precip_type=ptype[cs[k], cr[k]].astype(np.int64),
            time_diff_s=np.abs((scan_time[cs[k]] - sweep_time) / np.timedelta64(1, "s")),
        )
        parts.append(pd.DataFrame(part))
    if not parts:
        return _empty_matches(skipped, sr_t)
    out = pd.concat(parts, ignore_index=True)[_COLUMNS]
    out.attrs.update(skipped_sweeps=skipped, sr_time=str(sr_t))
    return out


@dataclasses.dataclass
class _Profiles:
    """The candidate SR profiles (precipitating, bright band, in range) on their bins."""

    scan: np.ndarray  # (P,)
    ray: np.ndarray  # (P,)
    xy: np.ndarray  # (P, nbin, 2) parallax-corrected position (GR aeqd, m)
    z: np.ndarray  # (P, nbin) height above the ellipsoid (m)
    elevation: np.ndarray  # (P, nbin) elevation seen from the GR antenna (deg)
    usable: np.ndarray  # (P, nbin) above the clutter-free bottom and within the GR range
    radius: np.ndarray  # (P, nbin) SR footprint radius (m)
    volume: np.ndarray  # (P, nbin) SR pulse volume (m3)
    dbz_s: np.ndarray  # (P, nbin) S band, NaN without echo (or in the layer when excluded)
    lin_s: np.ndarray  # (P, nbin) linear Z of dbz_s, 0 where NaN
    lin_ku: np.ndarray  # (P, nbin) linear Z of the Ku reflectivity, 0 where NaN
    ratio: np.ndarray  # (P, nbin) position in the melting layer (<= 0 below, >= 1 above)


def _profiles(sr, gr, crs, fx, fy, alpha, candidate, max_range_m, melting_layer) -> _Profiles:
    nbin = int(sr.sizes["bin"])
    dr_sr = float(sr.attrs["bin_spacing_m"])
    # parallax needs whole scans (it takes the scan direction from the centre ray)
    xyp, _, zp = wradlib.georef.correct_parallax(np.dstack([fx, fy]), nbin, dr_sr, alpha)
    cs, cr = np.nonzero(candidate)
    # wradlib counts bins upward from the ellipsoid, the file downward from space: flip back
    xyp = xyp[cs, cr, ::-1, :]
    zp = zp[cs, cr, ::-1]
    with _quiet_proj():
        r_sr, _, el_sr = wradlib.georef.xyz_to_spherical(
            np.concatenate([xyp, zp[..., None]], axis=-1), altitude=gr.altitude_m, crs=crs
        )
    # melting layer: median height and width of the bright bands detected in range
    ratio, _ = wradlib.qual.get_bb_ratio(
        sr["bright_band_height_m"].values[cs, cr],
        sr["bright_band_width_m"].values[cs, cr],
        sr["bright_band_quality"].values[cs, cr],
        zp,
    )
    dbz_ku = sr["zku_dbz"].values[cs, cr].astype(np.float64)
    convective = (sr["precip_type"].values[cs, cr] == 2)[:, None]
    dbz_s = ku_to_s_band(dbz_ku, ratio, convective, melting_layer)
    cfb = sr["clutter_free_bottom_bin"].values[cs, cr] - 1  # 0-based
    usable = (np.arange(nbin)[None, :] <= cfb[:, None]) & (r_sr <= max_range_m)
    # distance of every bin from the satellite, its footprint radius and pulse volume
    zt = _orbit_height_m(sr)
    a = alpha[cs, cr]
    nray = int(sr.sizes["ray"])
    beta = np.abs(cr - (nray - 1) / 2.0) * SR_BEAMWIDTH_DEG  # scan angle of the ray
    ro = ((EARTH_RADIUS_M + zt) * np.cos(np.radians(a - beta)) - EARTH_RADIUS_M) / np.cos(
        np.radians(a)
    )
    along = (nbin - 1 - np.arange(nbin)) * dr_sr  # along the ray from the ellipsoid bin
    r_orbit = ro[:, None] - along[None, :]
    half_bw = np.tan(np.radians(SR_BEAMWIDTH_DEG / 2.0))
    radius = 0.5 * (1 + np.cos(np.radians(a)))[:, None] * r_orbit * half_bw

    def linear(dbz):
        return np.where(np.isfinite(dbz), wradlib.trafo.idecibel(np.nan_to_num(dbz)), 0.0)

    return _Profiles(
        scan=cs,
        ray=cr,
        xy=xyp,
        z=zp,
        elevation=el_sr,
        usable=usable,
        radius=radius,
        volume=wradlib.qual.pulse_volume(r_orbit, dr_sr, SR_BEAMWIDTH_DEG),
        dbz_s=dbz_s,
        lin_s=linear(dbz_s),
        lin_ku=linear(dbz_ku),
        ratio=ratio,
    )


def _match_sweep(
    prof: _Profiles,
    sweep,
    beamwidth: float,
    site: tuple[float, float, float],
    crs,
    melting_layer: str,
    min_sr_detected: float,
) -> dict | None:
    """Samples of one sweep (columns as arrays, ``profile`` = index into the candidates)."""
    elev = float(sweep.elevation_deg)
    in_beam = (np.abs(prof.elevation - elev) <= beamwidth / 2.0) & prof.usable
    k = np.nonzero(in_beam.any(axis=1))[0]
    if k.size == 0:
        return None
    sel = in_beam[k]
    if melting_layer == "exclude":
        in_melt = (prof.ratio[k] > 0) & (prof.ratio[k] < 1)
        keep = ~(in_melt & sel).any(axis=1)
        k, sel = k[keep], sel[keep]
    detected = sel & np.isfinite(prof.dbz_s[k])
    n_det = detected.sum(axis=1)
    keep = (n_det > 0) & (n_det >= min_sr_detected * sel.sum(axis=1))
    k, sel, detected = k[keep], sel[keep], detected[keep]
    if k.size == 0:
        return None
    n_bins = sel.sum(axis=1)
    centre = (prof.xy[k] * sel[..., None]).sum(axis=1) / n_bins[:, None]
    height = (prof.z[k] * detected).sum(axis=1) / detected.sum(axis=1)  # of the averaged bins
    rad = np.where(sel, prof.radius[k], 0.0).max(axis=1)
    w = prof.volume[k] * detected
    sr_s = wradlib.trafo.decibel((w * prof.lin_s[k]).sum(axis=1) / w.sum(axis=1))
    sr_ku = wradlib.trafo.decibel((w * prof.lin_ku[k]).sum(axis=1) / w.sum(axis=1))
    r_sel = np.where(detected, prof.ratio[k], np.nan)  # where the averaged bins lie
    layer = np.where(
        np.nanmax(r_sel, axis=1) <= 0,
        "below",
        np.where(np.nanmin(r_sel, axis=1) >= 1, "above", "melting"),
    )

    # GR gates within the footprint radius of the sample's centre
    with _quiet_proj():
        gxyz, _ = wradlib.georef.spherical_to_xyz(
            sweep.range_m, sweep.azimuth_deg, elev, site, crs=crs, squeeze=True
        )
    ngate = sweep.range_m.size
    owner, gates = _gates_within(gxyz[..., :2], centre, rad, sweep.azimuth_res_deg)
    counts = np.bincount(owner, minlength=k.size)
    if gates.size == 0:
        return None
    gdbz = sweep.fields[GR_FIELD].astype(np.float64).reshape(-1)[gates]
    dr_gr = float(np.median(np.diff(sweep.range_m))) if ngate > 1 else 250.0
    gvol = wradlib.qual.pulse_volume(sweep.range_m[gates % ngate], dr_gr, beamwidth)
    no_echo = np.bincount(owner, weights=~np.isfinite(gdbz), minlength=k.size) > 0
    glin = np.where(np.isfinite(gdbz), wradlib.trafo.idecibel(np.nan_to_num(gdbz)), 0.0)
    vol_g = np.bincount(owner, weights=gvol, minlength=k.size)
    with np.errstate(invalid="ignore", divide="ignore"):
        gr = np.bincount(owner, weights=gvol * glin, minlength=k.size) / vol_g
        gr_db = wradlib.trafo.decibel(gr)
    ok = (counts > 0) & ~no_echo
    if not ok.any():
        return None
    return {
        "profile": k[ok],
        "x_km": centre[ok, 0] / 1000.0,
        "y_km": centre[ok, 1] / 1000.0,
        "range_km": np.hypot(centre[ok, 0], centre[ok, 1]) / 1000.0,
        "height_km": height[ok] / 1000.0,
        "layer": layer[ok],
        "sr_dbz_ku": sr_ku[ok],
        "sr_dbz_s": sr_s[ok],
        "gr_dbz": gr_db[ok],
        "n_sr_bins": n_bins[ok],
        "n_sr_detected": detected.sum(axis=1)[ok],
        "n_gr_gates": counts[ok],
        "footprint_radius_m": rad[ok],
        "sr_volume_m3": np.where(sel, prof.volume[k], 0.0).sum(axis=1)[ok],
        "gr_volume_m3": vol_g[ok],
    }


def _gates_within(
    gxy: np.ndarray, centre: np.ndarray, rad: np.ndarray, az_res: float
) -> tuple[np.ndarray, np.ndarray]:
    """GR gates (flat indices into ``(naz, ngate)``) whose centre lies within ``rad`` of ``centre``.

    Searches a window of the polar grid around each sample (the range gates spanning
    ``s +- rad``, the rays spanning ``+- asin(rad / s)``) and keeps the gates within the circle;
    equal to a k-d tree query on all gates, without building one per sweep.
    Returns ``(owner, gate)`` pairs, ``owner`` the sample index.
    """
    naz, ngate = gxy.shape[:2]
    ground = np.hypot(gxy[..., 0], gxy[..., 1]).mean(axis=0)  # ground distance of each gate
    s = np.hypot(centre[:, 0], centre[:, 1])
    first = np.clip(np.searchsorted(ground, s - rad) - 1, 0, ngate - 1)
    last = np.clip(np.searchsorted(ground, s + rad) + 1, 0, ngate - 1)
    nr = int((last - first).max()) + 1
    az = np.degrees(np.arctan2(centre[:, 0], centre[:, 1])) % 360.0
    ray0 = np.floor(az / az_res).astype(np.int64) % naz
    with np.errstate(invalid="ignore", divide="ignore"):
        half = np.degrees(np.arcsin(np.clip(rad / np.maximum(s, 1e-9), 0.0, 1.0)))
    half = np.where(s > rad, np.ceil(half / az_res).astype(np.int64) + 1, naz)
    owners, gates = [], []
    narrow = 2 * half + 1 < naz
    # windows of similar width together (a few samples near the radar need wide ones)
    bucket = np.where(narrow, np.ceil(np.log2(np.maximum(half, 1))), -1)
    for b in np.unique(bucket):
        group = np.nonzero(bucket == b)[0]
        if b >= 0:
            w = int(half[group].max())
            rays = (ray0[group, None] + np.arange(-w, w + 1)[None, :]) % naz
        else:  # the footprint covers the radar: every ray
            rays = np.broadcast_to(np.arange(naz), (group.size, naz))
        gi = first[group, None] + np.arange(nr)[None, :]
        inside = gi <= last[group, None]
        gi = np.minimum(gi, ngate - 1)
        d = np.hypot(
            gxy[rays[:, :, None], gi[:, None, :], 0] - centre[group, 0, None, None],
            gxy[rays[:, :, None], gi[:, None, :], 1] - centre[group, 1, None, None],
        )
        hit = (d <= rad[group, None, None]) & inside[:, None, :]
        o, a, g = np.nonzero(hit)
        owners.append(group[o])
        gates.append(rays[o, a] * ngate + gi[o, g])
    if not owners:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    owner, gate = np.concatenate(owners), np.concatenate(gates)
    order = np.argsort(owner, kind="stable")
    return owner[order], gate[order]


def match_files(
    gr_path: str | os.PathLike,
    sr_path: str | os.PathLike,
    storage_options: dict | None = None,
    sr2_path: str | os.PathLike | None = None,
    **options,
) -> pd.DataFrame:
    """Read a GR volume and an SR granule with the project's readers and match them.

    Parameters
    ----------
    gr_path : path or URL
        NEXRAD Level II or ODIM_H5 volume (:func:`~fusion_ops.readers.ground_radar.read_volume`).
    sr_path : path or URL
        GPM 2A granule, or a TRMM V7 2A25 (:func:`~fusion_ops.readers.spaceborne.read_2a_bins`).
    storage_options : dict, optional
        fsspec options for both.
    sr2_path : path or URL, optional
        The 2A23 of a TRMM 2A25 (its rain type and bright band).
    **options
        Keywords of :func:`match_volumes`.

    Raises
    ------
    fusion_ops.readers.errors.UnreadableFileError
        A file the readers cannot read (the message names it).
    """
    gr, sr = read_inputs(gr_path, sr_path, storage_options, sr2_path)
    return match_volumes(gr, sr, **options)


def read_inputs(
    gr_path: str | os.PathLike,
    sr_path: str | os.PathLike,
    storage_options: dict | None = None,
    sr2_path: str | os.PathLike | None = None,
) -> tuple[RadarVolume, xr.Dataset]:
    """The GR volume (reflectivity only) and the SR bins, read by the project's readers."""
    from fusion_ops.readers.ground_radar import read_volume
    from fusion_ops.readers.spaceborne import read_2a_bins

    gr = read_volume(str(gr_path), fields=(GR_FIELD,), storage_options=storage_options)
    sr = read_2a_bins(
        str(sr_path),
        storage_options=storage_options,
        url_2a23=None if sr2_path is None else str(sr2_path),
    )
    return gr, sr


def _empty_matches(skipped: list[dict], sr_t) -> pd.DataFrame:
    out = pd.DataFrame({c: pd.Series(dtype=object if c == "layer" else float) for c in _COLUMNS})
    out.attrs.update(skipped_sweeps=skipped, sr_time=None if sr_t is None else str(sr_t))
    return out


def median_ci95(values: np.ndarray) -> tuple[float, float]:
    """Distribution-free 95 % interval of the median (order statistics).

    ``[x_(j), x_(n+1-j)]`` of the sorted values with the largest ``j`` whose coverage
    ``1 - 2 P(B <= j - 1)``, ``B ~ Binomial(n, 1/2)``, is at least 95 %; NaN below 6 values.
    """
    x = np.sort(np.asarray(values, dtype=np.float64))
    n = x.size
    if n < 6:
        return float("nan"), float("nan")
    m = int(stats.binom.ppf(0.025, n, 0.5))
    j = m if stats.binom.cdf(m, n, 0.5) > 0.025 else m + 1
    j = max(j, 1)
    return float(x[j - 1]), float(x[n - j])


def summarise_bias(matches: pd.DataFrame) -> dict:
    """GR - SR (S band) offset: ``n``, ``median_db``, ``mean_db``, ``std_db``, ``ci95``.

    ``ci95`` is the 95 % interval of the median (:func:`median_ci95`). Also per layer:
    ``n_below``, ``median_below_db`` (and ``above``, ``melting``).
    """
    diff = (matches["gr_dbz"] - matches["sr_dbz_s"]).to_numpy(dtype=np.float64)
    diff = diff[np.isfinite(diff)]
    nan = float("nan")
    out: dict = {
        "n": int(diff.size),
        "median_db": float(np.median(diff)) if diff.size else nan,
        "mean_db": float(diff.mean()) if diff.size else nan,
        "std_db": float(diff.std(ddof=1)) if diff.size > 1 else nan,
        "ci95": median_ci95(diff),
    }
    layers = matches["layer"].to_numpy() if len(matches) else np.array([], dtype=object)
    d_all = (matches["gr_dbz"] - matches["sr_dbz_s"]).to_numpy(dtype=np.float64)
    for layer in ("below", "above", "melting"):
        d = d_all[(layers == layer) & np.isfinite(d_all)]
        out[f"n_{layer}"] = int(d.size)
        out[f"median_{layer}_db"] = float(np.median(d)) if d.size else nan
    return out
