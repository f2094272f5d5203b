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

The inputs come from the project's readers: the GR volume from
:func:`fusion_ops.readers.ground_radar.read_volume` (NEXRAD Level II or ODIM_H5; site, sweeps,
gate ranges, beam width and sweep times as the reader gives them) and the SR granule on its native
range bins from :func:`fusion_ops.readers.spaceborne.read_2a_bins` (GPM V05/V06 ``NS`` and V07
``FS`` layouts, TRMM PR V7 2A25 + 2A23: 176 bins of 125 m or 80 of 250 m). The bin count
(``sr.sizes["bin"]``) and the bin spacing (``sr.attrs["bin_spacing_m"]``) are the reader's;
nothing here assumes either. :func:`match_volumes` matches what is
already read, :func:`match_files` reads and matches two files.
"""

from __future__ import annotations

import os
import warnings

import numpy as np
import pandas as pd
import pyproj
import wradlib
import xarray as xr
from scipy.spatial import cKDTree

from fusion_ops.datamodel import RadarVolume

__all__ = ["ku_to_s_band", "match_files", "match_volumes", "summarise_bias"]

SR_MIN_DBZ = 18.0
GR_MIN_DBZ = 18.0
#: Minimum fraction of bins/gates above threshold for a sample (percent above threshold, PAT).
MIN_PAT = 0.7
#: Radius of the GPM/TRMM footprint at the surface (about 5 km wide).
SR_FOOTPRINT_RADIUS_M = 2500.0
MAX_GR_RANGE_M = 150_000.0
MAX_TIME_DIFF_S = 600.0
#: The GR moment matched (Py-ART name, as the ground-radar reader stores it).
GR_FIELD = "reflectivity"


class SRGRInputError(ValueError):
    """The SR and GR inputs cannot be matched (e.g. too far apart in time)."""


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


def match_volumes(
    gr: RadarVolume,
    sr: xr.Dataset,
    sr_min_dbz: float = SR_MIN_DBZ,
    gr_min_dbz: float = GR_MIN_DBZ,
    min_pat: float = MIN_PAT,
    max_range_m: float = MAX_GR_RANGE_M,
    max_time_diff_s: float = MAX_TIME_DIFF_S,
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

    Returns
    -------
    pandas.DataFrame
        Columns ``scan, ray, sweep, elevation_deg, range_km, height_km, layer`` (``below``/
        ``above`` the melting layer), ``precip_type, sr_dbz_ku, sr_dbz_s, gr_dbz, n_sr_bins,
        n_gr_gates, time_diff_s``. ``gr_dbz - sr_dbz_s`` is the GR calibration offset estimate.

    Raises
    ------
    SRGRInputError
        When SR and GR are further apart in time than ``max_time_diff_s``.
    """
    dbz_ku = sr["zku_dbz"].values.astype(np.float64)
    scan_time = sr["time"].values.astype("datetime64[ns]")
    sr_t = np.median(scan_time.astype(np.int64))
    site = (gr.longitude_deg, gr.latitude_deg, gr.altitude_m)
    crs = pyproj.CRS.from_proj4(
        f"+proj=aeqd +lat_0={gr.latitude_deg} +lon_0={gr.longitude_deg} +ellps=WGS84 +units=m"
    )
    to_xy = pyproj.Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    fx, fy = to_xy.transform(sr["lon"].values, sr["lat"].values)
    near = np.hypot(fx, fy) <= max_range_m + SR_FOOTPRINT_RADIUS_M
    if not near.any():
        return _empty_matches()

    # parallax: wradlib counts bins upward from the ground, the file downward from space
    nbin = int(sr.sizes["bin"])
    xyp, _, zp = wradlib.georef.correct_parallax(
        np.dstack([fx, fy]), nbin, float(sr.attrs["bin_spacing_m"]), sr["local_zenith_deg"].values
    )
    xyp, zp = xyp[:, :, ::-1, :], zp[:, :, ::-1]  # back to file order (bin 0 at the top)
    # elevation and range of every SR bin as seen from the GR antenna (4/3 earth)
    xyz = np.concatenate([xyp, zp[..., None]], axis=-1)
    with warnings.catch_warnings():
        # wradlib turns the CRS into a PROJ string internally; an aeqd string loses nothing
        warnings.filterwarnings("ignore", message=".*PROJ string.*")
        r_sr, _, el_sr = wradlib.georef.xyz_to_spherical(xyz, altitude=gr.altitude_m, crs=crs)
    ratio, _ = wradlib.qual.get_bb_ratio(
        sr["bright_band_height_m"].values,
        sr["bright_band_width_m"].values,
        sr["bright_band_quality"].values,
        zp,
    )
    dbz_s = ku_to_s_band(dbz_ku, ratio)
    # SR reflectivity below its sensitivity counts as "below threshold", not as missing
    clutter_free_bottom = sr["clutter_free_bottom_bin"].values - 1  # 0-based
    sr_valid = np.arange(nbin)[None, None, :] <= clutter_free_bottom[..., None]
    precip_type = sr["precip_type"].values

    rows = []
    for e, sweep in enumerate(gr.sweeps):
        if GR_FIELD not in sweep.fields:
            continue
        elev = sweep.elevation_deg
        sweep_time = gr.time if sweep.start_time is None else sweep.start_time
        dt_s = abs((np.datetime64(int(sr_t), "ns") - sweep_time) / np.timedelta64(1, "s"))
        if dt_s > max_time_diff_s:
            raise SRGRInputError(
                f"{gr.source} sweep {e} is {dt_s:.0f} s from {sr.attrs.get('source', 'the SR')} "
                f"(max {max_time_diff_s})"
            )
        in_beam = (np.abs(el_sr - elev) <= gr.beamwidth_deg / 2.0) & sr_valid & near[..., None]
        in_beam &= r_sr <= max_range_m
        scans, rays = np.nonzero(in_beam.any(axis=-1))
        if scans.size == 0:
            continue
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*PROJ string.*")
            gxyz, _ = wradlib.georef.spherical_to_xyz(
                sweep.range_m, sweep.azimuth_deg, elev, site, crs=crs, squeeze=True
            )
        gdbz = sweep.fields[GR_FIELD].astype(np.float64).reshape(-1)
        tree = cKDTree(gxyz[..., :2].reshape(-1, 2))
        for s, r in zip(scans, rays, strict=True):
            sel = in_beam[s, r]
            zs = dbz_s[s, r, sel]
            zk = dbz_ku[s, r, sel]
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
            rows.append(
                {
                    "scan": int(s),
                    "ray": int(r),
                    "sweep": e,
                    "elevation_deg": elev,
                    "range_km": float(np.hypot(*centre)) / 1000.0,
                    "height_km": float(zp[s, r, sel].mean()) / 1000.0,
                    "layer": "below" if np.all(ratio[s, r, sel] <= 0) else "above",
                    "precip_type": int(precip_type[s, r]),
                    "sr_dbz_ku": float(_linear_mean_db(zk[above_sr])),
                    "sr_dbz_s": float(_linear_mean_db(zs[above_sr])),
                    "gr_dbz": float(_linear_mean_db(gz[above_gr])),
                    "n_sr_bins": int(sel.sum()),
                    "n_gr_gates": len(gates),
                    "time_diff_s": float(dt_s),
                }
            )
    return pd.DataFrame(rows) if rows else _empty_matches()


def match_files(
    gr_path: str | os.PathLike,
    sr_path: str | os.PathLike,
    storage_options: dict | None = None,
    **options: float,
) -> pd.DataFrame:
    """Read a GR volume and an SR granule with the project's readers and match them.

    Parameters
    ----------
    gr_path : path or URL
        NEXRAD Level II or ODIM_H5 volume (:func:`~fusion_ops.readers.ground_radar.read_volume`).
    sr_path : path or URL
        GPM/TRMM 2A granule (:func:`~fusion_ops.readers.spaceborne.read_2a_bins`).
    storage_options : dict, optional
        fsspec options for both.
    **options
        Thresholds of :func:`match_volumes`.

    Raises
    ------
    fusion_ops.readers.errors.UnreadableFileError
        A file the readers cannot read (the message names it).
    """
    from fusion_ops.readers.ground_radar import read_volume
    from fusion_ops.readers.spaceborne import read_2a_bins

    gr = read_volume(str(gr_path), fields=(GR_FIELD,), storage_options=storage_options)
    sr = read_2a_bins(str(sr_path), storage_options=storage_options)
    return match_volumes(gr, sr, **options)


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
