"""Spaceborne-radar / ground-radar geometric volume matching (Schwaller & Morris 2011).

Each intersection of an SR ray with a GR sweep gives one matched sample: SR bins are averaged
along the ray over the vertical extent of the GR beam (the bins whose elevation seen from the GR
lies within half a beamwidth of the sweep's elevation), GR gates are averaged over the SR
footprint (gates of that sweep within the footprint radius of the ray's parallax-corrected
position at that height). Averages are taken in linear Z. The SR reflectivity is converted
from Ku to S band with the Cao et al. (2013) polynomials (rain below the melting layer, snow
above it); samples inside the melting layer are left out, as in Warren et al. (2018, JTECH
35:323), because no single conversion holds there.

Georeferencing uses wradlib: :func:`wradlib.georef.spherical_to_xyz` for the GR gates,
:func:`wradlib.georef.correct_parallax` for the SR bins, :func:`wradlib.georef.xyz_to_spherical`
for the SR bins as seen from the GR, :func:`wradlib.qual.get_bb_ratio` for the melting layer and
:class:`wradlib.trafo.KuBandToS` for the frequency conversion.

The GPM 2A reader here keeps the native range bins (the matching needs them) and accepts both the
V05/V06 layout (swath ``NS``, ``SLV/zFactorCorrected``) and V07 (``FS``, ``SLV/zFactorFinal``).
"""

from __future__ import annotations

import dataclasses
import os
import warnings

import h5py
import numpy as np
import pandas as pd
import pyproj
import wradlib
from scipy.spatial import cKDTree

SR_BIN_M = 125.0
SR_N_BINS = 176
SR_MIN_DBZ = 18.0
GR_MIN_DBZ = 18.0
#: Minimum fraction of bins/gates above threshold for a sample (percent above threshold, PAT).
MIN_PAT = 0.7
GR_BEAMWIDTH_DEG = 1.0
#: Radius of the GPM/TRMM footprint at the surface (about 5 km wide).
SR_FOOTPRINT_RADIUS_M = 2500.0
MAX_GR_RANGE_M = 150_000.0
MAX_TIME_DIFF_S = 600.0


class SRGRInputError(ValueError):
    """An SR or GR file lacks what the matching needs (message names the file and reason)."""


@dataclasses.dataclass
class SRSwath:
    """SR rays and native bins (bin 0 at the top, bin 175 the ellipsoid reference bin)."""

    source: str
    lat: np.ndarray  # (nscan, nray) footprint at the ellipsoid
    lon: np.ndarray
    dbz_ku: np.ndarray  # (nscan, nray, nbin) attenuation-corrected Ku reflectivity, NaN = none
    zenith_deg: np.ndarray  # (nscan, nray)
    bin_clutter_free_bottom: np.ndarray  # (nscan, nray) 0-based
    precip_type: np.ndarray  # (nscan, nray) 1 stratiform, 2 convective, 3 other, 0 none
    bb_height_m: np.ndarray  # (nscan, nray) NaN where none
    bb_width_m: np.ndarray
    bb_quality: np.ndarray
    scan_time: np.ndarray  # (nscan,) datetime64[ns] UTC


@dataclasses.dataclass
class GRVolume:
    """GR sweeps in polar coordinates (one entry per sweep)."""

    source: str
    site_lat: float
    site_lon: float
    site_alt_m: float
    elevation_deg: list[float]
    azimuth_deg: list[np.ndarray]
    range_m: list[np.ndarray]
    dbz: list[np.ndarray]  # (nazimuth, nrange), NaN = no echo
    sweep_time: list[np.datetime64]
    beamwidth_deg: float = GR_BEAMWIDTH_DEG


def _fill_nan(a: np.ndarray, threshold: float = -1000.0) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    return np.where(a <= threshold, np.nan, a)


def read_gpm_2a(path: str | os.PathLike) -> SRSwath:
    """Read a GPM/TRMM 2A Ku (or DPR, Ku frequency) file, V05/V06 ``NS`` or V07 ``FS`` layout."""
    path = str(path)
    try:
        handle = h5py.File(path, "r")
    except OSError as err:
        raise SRGRInputError(f"{path}: not a readable HDF5 file ({err})") from None
    with handle as f:
        if "NS" in f:
            g, zname = f["NS"], "SLV/zFactorCorrected"
        elif "FS" in f:
            g, zname = f["FS"], "SLV/zFactorFinal"
        else:
            raise SRGRInputError(f"{path}: no NS or FS swath group (has {list(f)})")
        try:
            z = g[zname][:]
            if z.ndim == 4:  # V07 DPR: (scan, ray, bin, frequency); Ku is frequency 0
                z = z[..., 0]
            st = g["ScanTime"]
            times = pd.to_datetime(
                {
                    "year": st["Year"][:].astype(int),
                    "month": st["Month"][:].astype(int),
                    "day": st["DayOfMonth"][:].astype(int),
                    "hour": st["Hour"][:].astype(int),
                    "minute": st["Minute"][:].astype(int),
                    "second": st["Second"][:].astype(int),
                    "ms": st["MilliSecond"][:].astype(int),
                }
            ).to_numpy()
            ptype_raw = g["CSF/typePrecip"][:]
            swath = SRSwath(
                source=path,
                lat=g["Latitude"][:].astype(np.float64),
                lon=g["Longitude"][:].astype(np.float64),
                dbz_ku=_fill_nan(z),
                zenith_deg=g["PRE/localZenithAngle"][:].astype(np.float64),
                bin_clutter_free_bottom=g["PRE/binClutterFreeBottom"][:].astype(int) - 1,
                precip_type=np.where(ptype_raw > 0, ptype_raw // 10_000_000, 0),
                bb_height_m=_fill_nan(g["CSF/heightBB"][:]),
                bb_width_m=_fill_nan(g["CSF/widthBB"][:]),
                bb_quality=g["CSF/qualityBB"][:].astype(int),
                scan_time=times,
            )
        except KeyError as err:
            raise SRGRInputError(f"{path}: missing variable {err}") from None
    if swath.dbz_ku.shape[-1] != SR_N_BINS:
        raise SRGRInputError(f"{path}: {swath.dbz_ku.shape[-1]} range bins, expected {SR_N_BINS}")
    return swath


def read_odim_volume(path: str | os.PathLike, quantity: str = "DBZH") -> GRVolume:
    """Read an ODIM_H5 polar volume with xradar (works without a ``Conventions`` attribute)."""
    import xradar

    path = str(path)
    try:
        tree = xradar.io.open_odim_datatree(path)
    except Exception as err:  # xradar raises many types for a bad file
        raise SRGRInputError(f"{path}: not a readable ODIM_H5 volume ({err})") from None
    root = tree.ds
    vol = GRVolume(
        source=path,
        site_lat=float(root["latitude"]),
        site_lon=float(root["longitude"]),
        site_alt_m=float(root["altitude"]),
        elevation_deg=[],
        azimuth_deg=[],
        range_m=[],
        dbz=[],
        sweep_time=[],
    )
    for name in sorted(
        (k for k in tree.children if k.startswith("sweep_")), key=lambda k: int(k.split("_")[1])
    ):
        sw = tree[name].ds
        if quantity not in sw:
            continue
        vol.elevation_deg.append(float(sw["sweep_fixed_angle"]))
        vol.azimuth_deg.append(sw["azimuth"].to_numpy().astype(np.float64))
        vol.range_m.append(sw["range"].to_numpy().astype(np.float64))
        vol.dbz.append(sw[quantity].to_numpy().astype(np.float64))
        vol.sweep_time.append(sw["time"].to_numpy().min())
    if not vol.dbz:
        raise SRGRInputError(f"{path}: no sweep holds {quantity}")
    return vol


def ku_to_s_band(dbz_ku: np.ndarray, bb_ratio: np.ndarray) -> np.ndarray:
    """Ku -> S reflectivity (Cao et al. 2013): rain polynomial below the melting layer, snow above.

    ``bb_ratio <= 0`` below the layer, ``>= 1`` above, in between inside (returned as NaN).
    """
    coeffs = wradlib.trafo.KuBandToS.snow  # (5, 11): column 0 rain, 10 dry snow
    out = np.full_like(dbz_ku, np.nan, dtype=np.float64)
    below = np.isfinite(dbz_ku) & (bb_ratio <= 0)
    above = np.isfinite(dbz_ku) & (bb_ratio >= 1)
    out[below] = dbz_ku[below] + wradlib.util.calculate_polynomial(dbz_ku[below], coeffs[:, 0])
    out[above] = dbz_ku[above] + wradlib.util.calculate_polynomial(dbz_ku[above], coeffs[:, 10])
    return out


def _linear_mean_db(dbz: np.ndarray, axis=None) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return wradlib.trafo.decibel(np.nanmean(wradlib.trafo.idecibel(dbz), axis=axis))


def match_sr_gr(
    sr: SRSwath,
    gr: GRVolume,
    sr_min_dbz: float = SR_MIN_DBZ,
    gr_min_dbz: float = GR_MIN_DBZ,
    min_pat: float = MIN_PAT,
    max_range_m: float = MAX_GR_RANGE_M,
    max_time_diff_s: float = MAX_TIME_DIFF_S,
) -> pd.DataFrame:
    """Matched SR-GR reflectivity samples, one row per (SR ray, GR sweep) intersection.

    Columns: ``scan, ray, sweep, elevation_deg, range_km, height_km, layer`` (``below``/``above``
    the melting layer), ``precip_type, sr_dbz_ku, sr_dbz_s, gr_dbz, n_sr_bins, n_gr_gates,
    time_diff_s``. ``gr_dbz - sr_dbz_s`` is the GR calibration offset estimate.

    Raises
    ------
    SRGRInputError
        When SR and GR are further apart in time than ``max_time_diff_s``.
    """
    sr_t = np.median(sr.scan_time.astype("datetime64[ns]").astype(np.int64))
    crs = pyproj.CRS.from_proj4(
        f"+proj=aeqd +lat_0={gr.site_lat} +lon_0={gr.site_lon} +ellps=WGS84 +units=m"
    )
    to_xy = pyproj.Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    fx, fy = to_xy.transform(sr.lon, sr.lat)
    near = np.hypot(fx, fy) <= max_range_m + SR_FOOTPRINT_RADIUS_M
    if not near.any():
        return _empty_matches()

    # parallax: wradlib counts bins upward from the ground, the file downward from space
    nbin = sr.dbz_ku.shape[-1]
    xyp, _, zp = wradlib.georef.correct_parallax(np.dstack([fx, fy]), nbin, SR_BIN_M, sr.zenith_deg)
    xyp, zp = xyp[:, :, ::-1, :], zp[:, :, ::-1]  # back to file order (bin 0 at the top)
    # elevation and range of every SR bin as seen from the GR antenna (4/3 earth)
    xyz = np.concatenate([xyp, zp[..., None]], axis=-1)
    with warnings.catch_warnings():
        # wradlib turns the CRS into a PROJ string internally; an aeqd string loses nothing
        warnings.filterwarnings("ignore", message=".*PROJ string.*")
        r_sr, _, el_sr = wradlib.georef.xyz_to_spherical(xyz, altitude=gr.site_alt_m, crs=crs)
    ratio, _ = wradlib.qual.get_bb_ratio(sr.bb_height_m, sr.bb_width_m, sr.bb_quality, zp)
    dbz_s = ku_to_s_band(sr.dbz_ku, ratio)
    bins = np.arange(nbin)
    clutter_free = bins[None, None, :] <= sr.bin_clutter_free_bottom[..., None]
    # SR reflectivity below its sensitivity counts as "below threshold", not as missing
    sr_valid = clutter_free

    rows = []
    for e, elev in enumerate(gr.elevation_deg):
        dt_s = abs((np.datetime64(int(sr_t), "ns") - gr.sweep_time[e]) / np.timedelta64(1, "s"))
        if dt_s > max_time_diff_s:
            raise SRGRInputError(
                f"{gr.source} sweep {e} is {dt_s:.0f} s from {sr.source} (max {max_time_diff_s})"
            )
        in_beam = (np.abs(el_sr - elev) <= gr.beamwidth_deg / 2.0) & sr_valid & near[..., None]
        in_beam &= r_sr <= max_range_m
        scans, rays = np.nonzero(in_beam.any(axis=-1))
        if scans.size == 0:
            continue
        az = gr.azimuth_deg[e]
        rng = gr.range_m[e]
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*PROJ string.*")
            gxyz, _ = wradlib.georef.spherical_to_xyz(
                rng, az, elev, (gr.site_lon, gr.site_lat, gr.site_alt_m), crs=crs, squeeze=True
            )
        gxy = gxyz[..., :2].reshape(-1, 2)
        gdbz = gr.dbz[e].reshape(-1)
        tree = cKDTree(gxy)
        for s, r in zip(scans, rays, strict=True):
            sel = in_beam[s, r]
            zs = dbz_s[s, r, sel]
            zk = sr.dbz_ku[s, r, sel]
            if np.isnan(zs).any():  # touches the melting layer
                continue
            above_sr = np.nan_to_num(zk, nan=-99.0) >= sr_min_dbz
            if above_sr.mean() < min_pat:
                continue
            centre = xyp[s, r, sel].mean(axis=0)
            gates = tree.query_ball_point(centre, SR_FOOTPRINT_RADIUS_M)
            if not gates:
                continue
            gz = gdbz[gates]
            above_gr = np.nan_to_num(gz, nan=-99.0) >= gr_min_dbz
            if above_gr.mean() < min_pat:
                continue
            height = float(zp[s, r, sel].mean())
            rows.append(
                {
                    "scan": int(s),
                    "ray": int(r),
                    "sweep": e,
                    "elevation_deg": elev,
                    "range_km": float(np.hypot(*centre)) / 1000.0,
                    "height_km": height / 1000.0,
                    "layer": "below" if np.all(ratio[s, r, sel] <= 0) else "above",
                    "precip_type": int(sr.precip_type[s, r]),
                    "sr_dbz_ku": float(_linear_mean_db(zk[above_sr])),
                    "sr_dbz_s": float(_linear_mean_db(zs[above_sr])),
                    "gr_dbz": float(_linear_mean_db(gz[above_gr])),
                    "n_sr_bins": int(sel.sum()),
                    "n_gr_gates": len(gates),
                    "time_diff_s": float(dt_s),
                }
            )
    return pd.DataFrame(rows) if rows else _empty_matches()


def _empty_matches() -> pd.DataFrame:
    cols = [
        "scan",
        "ray",
        "sweep",
        "elevation_deg",
        "range_km",
        "height_km",
        "layer",
        "precip_type",
        "sr_dbz_ku",
        "sr_dbz_s",
        "gr_dbz",
        "n_sr_bins",
        "n_gr_gates",
        "time_diff_s",
    ]
    return pd.DataFrame(columns=cols)


def summarise_bias(matches: pd.DataFrame) -> dict[str, float | int]:
    """Mean/median GR-SR difference (dB) overall and by layer, with sample counts."""
    out: dict[str, float | int] = {"n": len(matches)}
    if matches.empty:
        out.update(mean_gr_minus_sr_db=float("nan"), median_gr_minus_sr_db=float("nan"))
        return out
    diff = matches["gr_dbz"] - matches["sr_dbz_s"]
    out["mean_gr_minus_sr_db"] = float(diff.mean())
    out["median_gr_minus_sr_db"] = float(diff.median())
    out["std_gr_minus_sr_db"] = float(diff.std())
    for layer in ("below", "above"):
        d = diff[matches["layer"] == layer]
        out[f"n_{layer}"] = int(d.size)
        out[f"mean_{layer}_db"] = float(d.mean()) if d.size else float("nan")
    return out
