"""Calibration monitoring of the ground radar (GR): its reflectivity offset against the spaceborne
radar (SR), its ZDR offset in light rain, and the corrections applied before MLP-1.

**Reflectivity offset** (:func:`reflectivity_offset_day`), one daily record:

1. Every SR granule of the day (GPM 2A, or a TRMM V7 2A25 read with its 2A23) is read on its
   range bins. Its overpass time is the median time of the scans with a footprint inside the
   domain; a granule without one does not overlap the GR and is recorded as such.
2. For each site, the GR volume nearest the overpass (the listing's name times) within the
   matcher's window is read and matched (:func:`fusion_ops.calibration.srgr.match_volumes`:
   sweeps outside the window are skipped by the matcher and recorded). A file that cannot be
   read becomes a quarantine record naming it and the reason (for a GR volume the next nearest
   one in the window is tried); the rest of the day still runs.
3. The day's offset is the median of the GR - SR differences of all the day's matched samples
   pooled over its overpasses (:func:`pool_overpasses`), with their count ``n`` and the 95 %
   interval of that median (order statistics, :func:`fusion_ops.calibration.srgr.median_ci95`).
4. A day without a usable estimate (no coincident overpass, or fewer than
   :data:`MIN_Z_SAMPLES` samples) carries the last offset forward with its source date
   (:func:`carry_forward`); before any overpass the offset is 0, "no overpass yet".

**ZDR offset** (:func:`zdr_offset_day`), dual-pol days: light rain, whose intrinsic ZDR is
known from its reflectivity. Samples with Z in :data:`LIGHT_RAIN_DBZ` (after the reflectivity
correction, when one applies), below :data:`LIGHT_RAIN_MAX_HEIGHT_KM` and at least
:data:`MELTING_LAYER_MARGIN_KM` below the day's SR bright band, and RHOHV >
:data:`LIGHT_RAIN_MIN_RHOHV` where a RHOHV is given. The offset is the median of measured minus
expected ZDR (:func:`expected_light_rain_zdr`), the interval a bootstrap over volumes (samples
of one volume are correlated; volumes are the independent units).

**Significance** (:func:`is_significant`): an offset is applied when its magnitude exceeds the
threshold (:data:`Z_SIGNIFICANT_DB`, :data:`ZDR_SIGNIFICANT_DB`), its 95 % interval excludes 0 and
it rests on enough samples. :func:`corrections_to_apply` turns the day's two records into the
offsets that :func:`fusion_ops.calibration.features.correct_gr_features` subtracts from MLP-1's
reflectivity and ZDR features (0: nothing applied).

Records are plain JSON-compatible dicts (``None`` where a value is undefined).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from fusion_ops.calibration.srgr import (
    MAX_GR_RANGE_M,
    MAX_TIME_DIFF_S,
    SRGRInputError,
    match_volumes,
    median_ci95,
)
from fusion_ops.readers.errors import QuarantineRecord, UnreadableFileError, describe_exception

__all__ = [
    "carry_forward",
    "corrections_to_apply",
    "expected_light_rain_zdr",
    "is_significant",
    "light_rain_height_limit_km",
    "nearest_volumes",
    "overpass_summary",
    "overpass_time",
    "pool_overpasses",
    "reflectivity_offset_day",
    "zdr_offset",
    "zdr_offset_day",
]

#: A reflectivity offset (GR - SR, dB) is applied above this magnitude: half the +-1 dB target of
#: operational networks (Protat et al. 2022), well above the interval of one overpass (+-0.07 dB
#: on the Brisbane case) and the 0.01-0.04 dB the matching choices move it (docs/calibration.md).
Z_SIGNIFICANT_DB = 0.5
#: A ZDR offset is applied above this magnitude (the 0.1 dB ZDR calibration requirement of the
#: WSR-88D network).
ZDR_SIGNIFICANT_DB = 0.1
#: Matched SR-GR samples a day needs for its own estimate (fewer: the last one is carried).
MIN_Z_SAMPLES = 100
#: Light-rain samples and volumes a day needs for its ZDR estimate and its interval.
MIN_ZDR_SAMPLES = 100
MIN_ZDR_VOLUMES = 6
#: Light rain: reflectivity window (dBZ), lowest levels, rain-like correlation.
LIGHT_RAIN_DBZ = (20.0, 28.0)
LIGHT_RAIN_MAX_HEIGHT_KM = 1.5
LIGHT_RAIN_MIN_RHOHV = 0.98
#: Samples stay this far below the day's SR bright band (the melting layer's bottom is ~0.5 km
#: under its peak; the other 0.5 km allows for the bright band's spread over the domain).
MELTING_LAYER_MARGIN_KM = 1.0
#: Expected (intrinsic) S-band ZDR of light rain (dB) at the centres of 2 dB reflectivity bins:
#: the median ZDR of the measured drop-size distributions in ../shared/data/dsd (ARM Bankhead,
#: 2025-06-19, M1 and S30 pooled, minutes with rain > 0.1 mm/h; 41, 36, 41, 42 minutes per bin),
#: interpolated between the centres. One rain day of one climate: replace it with a longer record
#: where one exists (``expected=`` of :func:`zdr_offset`).
LIGHT_RAIN_ZDR_TABLE = ((21.0, 0.46), (23.0, 0.50), (25.0, 0.55), (27.0, 0.64))
LIGHT_RAIN_ZDR_SOURCE = (
    "median ZDR of measured DSDs (ARM BNF ldquants M1+S30, 2025-06-19, S band) per 2 dB bin "
    "20-28 dBZ: 0.46, 0.50, 0.55, 0.64 dB"
)
#: Bootstrap draws of the ZDR interval (resampled volumes), seeded.
N_BOOTSTRAP = 500


# --------------------------------------------------------------------------- small helpers


def _num(x: Any, digits: int = 4) -> float | None:
    """A finite number rounded for a record, else ``None``."""
    if x is None:
        return None
    x = float(x)
    return round(x, digits) if np.isfinite(x) else None


def _interval(ci: Sequence[Any] | None) -> list[float | None]:
    lo, hi = (None, None) if ci is None else ci
    return [_num(lo), _num(hi)]


def _iso(t: Any) -> str | None:
    if t is None or pd.isna(t):
        return None
    ts = pd.Timestamp(t)
    ts = ts.tz_convert("UTC").tz_localize(None) if ts.tzinfo else ts
    return ts.isoformat(timespec="seconds") + "Z"


def _utc_naive(t: Any) -> np.datetime64:
    ts = pd.Timestamp(t)
    ts = ts.tz_convert("UTC").tz_localize(None) if ts.tzinfo else ts
    return ts.to_datetime64().astype("datetime64[ns]")


# --------------------------------------------------------------------------- pairing


def overpass_time(sr: xr.Dataset, bbox: tuple[float, float, float, float]) -> np.datetime64 | None:
    """Median time of the scans with a footprint inside ``bbox`` (lat_min, lat_max, lon_min,
    lon_max); ``None`` when the granule has no footprint there (it does not overlap)."""
    lat, lon = sr["lat"].values, sr["lon"].values
    inside = (lat >= bbox[0]) & (lat <= bbox[1]) & (lon >= bbox[2]) & (lon <= bbox[3])
    scans = np.flatnonzero(inside.any(axis=1))
    times = sr["time"].values.astype("datetime64[ns]")[scans]
    times = times[~np.isnat(times)]
    if times.size == 0:
        return None
    return np.datetime64(int(np.median(times.astype(np.int64))), "ns")


#: Longest a volume scan lasts (s): a WSR-88D volume takes 4.5-10 minutes.
MAX_VOLUME_DURATION_S = 600.0


def nearest_volumes(
    sr_time: Any, volume_times: Sequence[Any], max_time_diff_s: float = MAX_TIME_DIFF_S
) -> list[int]:
    """Indices of the volumes whose scan lies within ``max_time_diff_s`` of ``sr_time``, nearest
    first.

    A volume spans from its start (the listing's name time) to the next volume's start, at most
    :data:`MAX_VOLUME_DURATION_S`; its distance from the SR is 0 when the SR time falls in that
    span, else the distance to the nearer end. Ties go to the nearer start. ``None``/NaT times
    are left out. (The matcher then times each sweep: those outside the window are skipped.)
    """
    t0 = _utc_naive(sr_time)
    known = [
        (i, _utc_naive(t)) for i, t in enumerate(volume_times) if t is not None and not pd.isna(t)
    ]
    known.sort(key=lambda it: it[1])
    found = []
    longest = np.timedelta64(int(MAX_VOLUME_DURATION_S * 1e9), "ns")
    for k, (i, start) in enumerate(known):
        end = start + longest
        if k + 1 < len(known):
            end = min(end, known[k + 1][1])
        from_start = float((t0 - start) / np.timedelta64(1, "s"))
        to_end = float((end - t0) / np.timedelta64(1, "s"))
        distance = 0.0 if from_start >= 0 and to_end > 0 else min(abs(from_start), abs(to_end))
        if distance <= max_time_diff_s:
            found.append((distance, abs(from_start), i))
    return [i for _, _, i in sorted(found)]


def _scans_near_site(sr: xr.Dataset, lat0: float, lon0: float, radius_m: float) -> xr.Dataset:
    """The scans with a footprint within ``radius_m`` of the site (whole scans: the parallax
    correction works scan by scan). Leaving out scans without a footprint in range changes no
    match: such scans hold no candidate profile."""
    lat, lon = np.radians(sr["lat"].values), np.radians(sr["lon"].values)
    p0, l0 = np.radians(lat0), np.radians(lon0)
    a = np.sin((lat - p0) / 2) ** 2 + np.cos(p0) * np.cos(lat) * np.sin((lon - l0) / 2) ** 2
    d = 2 * 6_371_000.0 * np.arcsin(np.sqrt(np.clip(a, 0, 1)))
    scans = np.flatnonzero((d <= radius_m).any(axis=1))
    return sr.isel(scan=scans)


# --------------------------------------------------------------------------- pooling


def _differences(matches: pd.DataFrame) -> np.ndarray:
    if len(matches) == 0:
        return np.zeros(0)
    d = (matches["gr_dbz"] - matches["sr_dbz_s"]).to_numpy(dtype=np.float64)
    return d[np.isfinite(d)]


def overpass_summary(matches: pd.DataFrame) -> dict[str, Any]:
    """GR - SR of one overpass: ``n, median_db, mean_db, ci95_db, skipped_sweeps`` (the
    elevations the matcher left out for time)."""
    d = _differences(matches)
    skipped = matches.attrs.get("skipped_sweeps", [])
    return {
        "n": int(d.size),
        "median_db": _num(np.median(d)) if d.size else None,
        "mean_db": _num(d.mean()) if d.size else None,
        "ci95_db": _interval(median_ci95(d)),
        "skipped_sweeps": [round(float(s["elevation_deg"]), 2) for s in skipped],
    }


def pool_overpasses(differences: Iterable[np.ndarray]) -> dict[str, Any]:
    """The day's offset from its overpasses' GR - SR sample differences (dB), pooled.

    Returns
    -------
    dict
        ``offset_db`` (median of all samples), ``n``, ``ci95_db`` (95 % interval of that median,
        order statistics), ``n_overpasses`` (those with samples); ``None`` without samples.
    """
    parts = [np.asarray(d, dtype=np.float64) for d in differences]
    parts = [d[np.isfinite(d)] for d in parts]
    used = [d for d in parts if d.size]
    pooled = np.concatenate(used) if used else np.zeros(0)
    return {
        "offset_db": _num(np.median(pooled)) if pooled.size else None,
        "n": int(pooled.size),
        "ci95_db": _interval(median_ci95(pooled)),
        "n_overpasses": len(used),
    }


def carry_forward(
    day: str,
    estimate: Mapping[str, Any] | None,
    previous: Mapping[str, Any] | None,
    min_n: int,
    none_note: str = "no overpass yet",
) -> dict[str, Any]:
    """The day's offset: its own estimate, else the last one carried forward, else 0.

    Parameters
    ----------
    day : ``YYYY-MM-DD``.
    estimate : the day's ``offset_db, n, ci95_db`` (e.g. :func:`pool_overpasses`); it counts
        when its offset is finite, ``n >= min_n`` and it has a 95 % interval.
    previous : the record of an earlier day (``offset_db, n, ci95_db, source, source_date``).
    min_n : samples the day's own estimate needs.
    none_note : why there is no offset at all (before the first estimate).

    Returns
    -------
    dict
        ``offset_db, n, ci95_db, source`` (``"day"``: the day's own; ``"carried"``; ``"none"``:
        0, nothing known yet), ``source_date`` (the day the offset was estimated),
        ``age_days`` and ``note``.
    """
    extra = {k: v for k, v in (estimate or {}).items() if k not in ("offset_db", "n", "ci95_db")}
    usable = (
        estimate is not None
        and estimate.get("offset_db") is not None
        and estimate.get("n", 0) >= min_n
        and None not in list(estimate.get("ci95_db") or [None])
    )
    if usable:
        return {
            "offset_db": estimate["offset_db"],
            "n": int(estimate["n"]),
            "ci95_db": list(estimate["ci95_db"]),
            "source": "day",
            "source_date": day,
            "age_days": 0,
            "note": "",
            **extra,
        }
    why_not = ""
    if estimate and estimate.get("n", 0) > 0:
        why_not = (
            f"the day's {estimate['n']} samples are fewer than {min_n}; "
            if estimate["n"] < min_n
            else "the day's estimate has no 95 % interval; "
        )
    if previous and previous.get("source") in ("day", "carried") and previous.get("source_date"):
        source_date = str(previous["source_date"])
        age = (dt.date.fromisoformat(day) - dt.date.fromisoformat(source_date)).days
        return {
            "offset_db": previous["offset_db"],
            "n": int(previous["n"]),
            "ci95_db": list(previous["ci95_db"]),
            "source": "carried",
            "source_date": source_date,
            "age_days": age,
            "note": f"{why_not}carried forward from {source_date}",
            **extra,
        }
    return {
        "offset_db": 0.0,
        "n": 0,
        "ci95_db": [None, None],
        "source": "none",
        "source_date": None,
        "age_days": None,
        "note": f"{why_not}{none_note}",
        **extra,
    }


def is_significant(
    offset_db: float | None,
    ci95_db: Sequence[float | None],
    n: int,
    threshold_db: float,
    min_n: int,
) -> tuple[bool, str]:
    """Whether an offset is applied: ``|offset| > threshold_db``, its 95 % interval excludes 0
    and ``n >= min_n``. Returns the decision and its reason in words."""
    if offset_db is None or n == 0:
        return False, "no estimate"
    if n < min_n:
        return False, f"not significant: n = {n} < {min_n}"
    if abs(offset_db) <= threshold_db:
        return False, f"not significant: |{offset_db:+.2f}| <= {threshold_db} dB"
    lo, hi = ci95_db
    if lo is None or hi is None:
        return False, "not significant: no 95 % interval"
    if lo <= 0.0 <= hi:
        return False, f"not significant: the 95 % interval {lo:+.2f} .. {hi:+.2f} dB includes 0"
    return True, (
        f"significant: |{offset_db:+.2f}| > {threshold_db} dB, 95 % {lo:+.2f} .. {hi:+.2f} dB, "
        f"n = {n}"
    )


def _decide(record: dict[str, Any], threshold_db: float, min_n: int) -> dict[str, Any]:
    ok, reason = is_significant(
        record["offset_db"] if record["source"] != "none" else None,
        record["ci95_db"],
        record["n"],
        threshold_db,
        min_n,
    )
    if record["source"] == "none":
        reason = record["note"]
    record.update(
        significant=ok,
        apply_db=record["offset_db"] if ok else 0.0,
        reason=reason,
        threshold_db=threshold_db,
        min_n=min_n,
    )
    return record


# --------------------------------------------------------------------------- reflectivity


def reflectivity_offset_day(
    day: str,
    sr_urls: Sequence[str],
    gr_urls: Mapping[str, Sequence[str]],
    bbox: tuple[float, float, float, float],
    previous: Mapping[str, Any] | None = None,
    sr_storage_options: dict | None = None,
    gr_storage_options: dict | None = None,
    max_time_diff_s: float = MAX_TIME_DIFF_S,
    max_range_m: float = MAX_GR_RANGE_M,
    threshold_db: float = Z_SIGNIFICANT_DB,
    min_n: int = MIN_Z_SAMPLES,
) -> dict[str, Any]:
    """The GR reflectivity offset (GR - SR, dB) of a day from its coincident overpasses.

    Parameters
    ----------
    day : the UTC day, ``YYYY-MM-DD``.
    sr_urls : the day's spaceborne files (GPM 2A; TRMM 2A25 and 2A23, paired by content).
    gr_urls : site -> the day's volume URLs (:func:`fusion_ops.radar.blocks.day_volume_urls` of
        one site); their times come from the names.
    bbox : the domain ``(lat_min, lat_max, lon_min, lon_max)``: a granule overlaps when it has a
        footprint inside.
    previous : the record of the day before (carried forward when the day has no estimate).
    sr_storage_options, gr_storage_options : fsspec options of the two archives.
    max_time_diff_s, max_range_m : the matcher's window and GR range.
    threshold_db, min_n : the significance rule (:func:`is_significant`).

    Returns
    -------
    dict
        :func:`carry_forward`'s keys, ``n_overpasses``, the decision (``significant``,
        ``apply_db``: the offset to subtract, 0 when not significant, ``reason``), ``overpasses``
        (one record per granule and site: ``granule, site, sr_time, gr_volume, gr_time,
        time_diff_s, status`` and :func:`overpass_summary`'s keys) and ``quarantine`` (``file,
        reason, reader`` of every file that could not be read).
    """
    from fusion_ops.readers.ground_radar import read_volume, volume_time_from_name
    from fusion_ops.readers.spaceborne import pair_trmm_companions, read_2a_bins

    quarantine: list[QuarantineRecord] = []
    overpasses: list[dict[str, Any]] = []
    differences: list[np.ndarray] = []
    granules, companions = pair_trmm_companions(list(sr_urls), sr_storage_options)
    volume_times = {s: [volume_time_from_name(u) for u in urls] for s, urls in gr_urls.items()}
    for url in granules:
        companion = companions.get(url)
        try:
            sr = read_2a_bins(url, storage_options=sr_storage_options, url_2a23=companion)
        except UnreadableFileError as error:
            quarantine.append(QuarantineRecord.from_error(error))
            continue
        except Exception as error:  # noqa: BLE001 - any reader failure is quarantined
            quarantine.append(QuarantineRecord(url, describe_exception(error), "gpm_2a"))
            continue
        sr_time = overpass_time(sr, bbox)
        for site, urls in gr_urls.items():
            base = {"granule": str(url), "companion": companion, "site": site}
            if sr_time is None:
                overpasses.append({**base, "status": "no footprint in the domain"})
                continue
            base["sr_time"] = _iso(sr_time)
            record = _match_overpass(
                sr,
                sr_time,
                urls,
                volume_times[site],
                read_volume,
                gr_storage_options,
                max_time_diff_s,
                max_range_m,
                quarantine,
            )
            diffs = record.pop("_differences", None)
            if diffs is not None:
                differences.append(diffs)
            overpasses.append({**base, **record})
    out = carry_forward(day, pool_overpasses(differences), previous, min_n)
    out = _decide({"day": day, **out}, threshold_db, min_n)
    out["overpasses"] = overpasses
    # a volume that failed for one granule fails again for the next: one record per file
    unique = {q.file: q for q in quarantine}
    out["quarantine"] = [q.as_dict() for q in unique.values()]
    return out


def _match_overpass(
    sr, sr_time, urls, times, read_volume, storage_options, max_dt_s, max_range_m, quarantine
) -> dict[str, Any]:
    """Match one granule with the site's volume nearest in time (next nearest when unreadable)."""
    candidates = nearest_volumes(sr_time, times, max_dt_s)
    if not candidates:
        return {"status": f"no GR volume within {max_dt_s:.0f} s"}
    for i in candidates:
        try:
            gr = read_volume(urls[i], fields=("reflectivity",), storage_options=storage_options)
        except UnreadableFileError as error:
            quarantine.append(QuarantineRecord.from_error(error))
            continue
        except Exception as error:  # noqa: BLE001 - any reader failure is quarantined
            quarantine.append(QuarantineRecord(urls[i], describe_exception(error), "ground_radar"))
            continue
        near = _scans_near_site(sr, gr.latitude_deg, gr.longitude_deg, max_range_m + 50_000.0)
        dt_s = abs((_utc_naive(times[i]) - _utc_naive(sr_time)) / np.timedelta64(1, "s"))
        where = {"gr_volume": str(urls[i]), "gr_time": _iso(times[i]), "time_diff_s": _num(dt_s, 1)}
        try:
            matches = match_volumes(gr, near, max_range_m=max_range_m, max_time_diff_s=max_dt_s)
        except SRGRInputError as error:
            quarantine.append(QuarantineRecord(str(sr.attrs.get("source", "")), str(error), "srgr"))
            return {**where, "status": f"SR granule unusable: {error}"}
        summary = overpass_summary(matches)
        status = "matched" if summary["n"] else "no matched samples"
        if not summary["n"] and summary["skipped_sweeps"]:
            status += f" ({len(summary['skipped_sweeps'])} sweeps outside the time window)"
        return {**where, "status": status, **summary, "_differences": _differences(matches)}
    return {"status": "every GR volume in the window was unreadable"}


# --------------------------------------------------------------------------- ZDR


def expected_light_rain_zdr(
    z_dbz: np.ndarray, table: Sequence[tuple[float, float]] = LIGHT_RAIN_ZDR_TABLE
) -> np.ndarray:
    """Intrinsic ZDR (dB) of light rain at reflectivity ``z_dbz`` (linear between the table's
    bin centres, constant beyond them)."""
    zc, zdr = np.asarray(table, dtype=np.float64).T
    return np.interp(np.asarray(z_dbz, dtype=np.float64), zc, zdr)


def light_rain_height_limit_km(
    bright_band_height_m: np.ndarray | None,
    max_height_km: float = LIGHT_RAIN_MAX_HEIGHT_KM,
    margin_km: float = MELTING_LAYER_MARGIN_KM,
) -> tuple[float, str]:
    """Highest level (km) of light-rain samples: :data:`LIGHT_RAIN_MAX_HEIGHT_KM`, lowered to
    ``margin_km`` below the median bright-band height the SR saw that day (when it saw one)."""
    bb = np.asarray([] if bright_band_height_m is None else bright_band_height_m, np.float64)
    bb = bb[np.isfinite(bb) & (bb > 0)]
    if bb.size == 0:
        return max_height_km, f"{max_height_km} km (no SR bright band that day)"
    limit = float(np.median(bb)) / 1000.0 - margin_km
    if limit >= max_height_km:
        return max_height_km, (
            f"{max_height_km} km (SR bright band at {np.median(bb) / 1000:.1f} km, median)"
        )
    return limit, f"{limit:.2f} km ({margin_km} km below the SR bright band, median)"


def _weighted_median(sorted_values: np.ndarray, weights: np.ndarray) -> float:
    c = np.cumsum(weights)
    return float(sorted_values[np.searchsorted(c, 0.5 * c[-1])])


def zdr_offset(
    z_dbz: np.ndarray,
    zdr_db: np.ndarray,
    height_km: np.ndarray,
    volume: np.ndarray,
    rhohv: np.ndarray | None = None,
    z_offset_db: float = 0.0,
    max_height_km: float = LIGHT_RAIN_MAX_HEIGHT_KM,
    z_window_dbz: tuple[float, float] = LIGHT_RAIN_DBZ,
    min_rhohv: float = LIGHT_RAIN_MIN_RHOHV,
    expected: Sequence[tuple[float, float]] = LIGHT_RAIN_ZDR_TABLE,
    n_bootstrap: int = N_BOOTSTRAP,
    seed: int = 0,
) -> dict[str, Any]:
    """ZDR offset (measured - intrinsic, dB) from light rain, on samples of any kind.

    Parameters
    ----------
    z_dbz, zdr_db, height_km : per sample (gates of sweeps, or profile levels): reflectivity,
        ZDR and height above the radar.
    volume : per sample, the volume it belongs to (any label; the unit of the bootstrap).
    rhohv : per sample, where known: only RHOHV > ``min_rhohv`` counts.
    z_offset_db : the GR reflectivity offset to remove first (``Z - z_offset_db`` selects the
        window and gives the expected ZDR).
    max_height_km : highest sample (below the melting layer).
    z_window_dbz : light rain, ``lo <= Z < hi``.
    expected : the intrinsic Z-ZDR table (:data:`LIGHT_RAIN_ZDR_TABLE`).
    n_bootstrap, seed : the interval: volumes resampled with replacement.

    Returns
    -------
    dict
        ``offset_db`` (median of ZDR - expected over the samples), ``n`` (samples),
        ``n_volumes``, ``ci95_db`` (2.5 and 97.5 % of the bootstrap medians; ``None`` with
        fewer than :data:`MIN_ZDR_VOLUMES` volumes), ``mean_db``.
    """
    z = np.asarray(z_dbz, dtype=np.float64) - z_offset_db
    zdr = np.asarray(zdr_db, dtype=np.float64)
    h = np.asarray(height_km, dtype=np.float64)
    keep = np.isfinite(z) & np.isfinite(zdr) & np.isfinite(h)
    keep &= (z >= z_window_dbz[0]) & (z < z_window_dbz[1]) & (h <= max_height_km)
    if rhohv is not None:
        rho = np.asarray(rhohv, dtype=np.float64)
        keep &= np.isfinite(rho) & (rho > min_rhohv)
    residual = zdr[keep] - expected_light_rain_zdr(z[keep], expected)
    groups = np.unique(np.asarray(volume)[keep], return_inverse=True)[1].reshape(-1)
    n_vol = int(groups.max()) + 1 if groups.size else 0
    out: dict[str, Any] = {
        "offset_db": _num(np.median(residual)) if residual.size else None,
        "mean_db": _num(residual.mean()) if residual.size else None,
        "n": int(residual.size),
        "n_volumes": n_vol,
        "ci95_db": [None, None],
    }
    if residual.size and n_vol >= MIN_ZDR_VOLUMES:
        order = np.argsort(residual, kind="stable")
        values, g = residual[order], groups[order]
        rng = np.random.default_rng(seed)
        medians = np.empty(n_bootstrap)
        for b in range(n_bootstrap):
            weight = np.bincount(rng.integers(0, n_vol, n_vol), minlength=n_vol)[g]
            medians[b] = _weighted_median(values, weight) if weight.any() else np.nan
        out["ci95_db"] = _interval(np.nanpercentile(medians, [2.5, 97.5]))
    return out


def zdr_offset_day(
    day: str,
    profiles: pd.DataFrame | None,
    capability: str,
    bright_band_height_m: np.ndarray | None = None,
    z_record: Mapping[str, Any] | None = None,
    previous: Mapping[str, Any] | None = None,
    threshold_db: float = ZDR_SIGNIFICANT_DB,
    min_n: int = MIN_ZDR_SAMPLES,
) -> dict[str, Any]:
    """The GR ZDR offset of a day from light rain in the ingest's gauge profiles.

    The ingest keeps ZDR per volume only as neighbourhood means at fixed heights above the
    gauges (``ground_radar_gauge_profiles``: ``time, height_m, reflectivity_dbz, zdr_db``), not
    per gate and without RHOHV: those profiles are the samples (the ingest's QC has already
    removed gates with RHOHV < 0.8, texture and speckle), one volume per ``time``.

    Parameters
    ----------
    day : ``YYYY-MM-DD``.
    profiles : the day's gauge profiles (``None``/empty: no samples).
    capability : the era table's ``"dual"``, ``"single"`` or ``"unknown"`` (then the data tell:
        a profile table without a finite ZDR is single-pol).
    bright_band_height_m : the day's SR bright-band heights (melting layer), if any.
    z_record : the day's reflectivity record: its ``apply_db`` is removed from Z first.
    previous : the day before's ZDR record (carried forward without a usable estimate).
    threshold_db, min_n : the significance rule.

    Returns
    -------
    dict
        As :func:`reflectivity_offset_day` (no ``overpasses``/``quarantine``) with ``n_volumes``,
        ``capability``, ``max_height_km`` and why, ``z_correction_db`` and ``expected``.
    """
    z_apply = float((z_record or {}).get("apply_db") or 0.0)
    limit, why = light_rain_height_limit_km(bright_band_height_m)
    has_zdr = (
        profiles is not None
        and len(profiles) > 0
        and "zdr_db" in profiles
        and bool(np.isfinite(profiles["zdr_db"].to_numpy(dtype=np.float64)).any())
    )
    base = {
        "day": day,
        "capability": capability,
        "max_height_km": round(limit, 3),
        "max_height_reason": why,
        "z_correction_db": z_apply,
        "expected": LIGHT_RAIN_ZDR_SOURCE,
        "samples": "ground_radar_gauge_profiles (neighbourhood means at fixed heights)",
    }
    if capability == "single" or (capability != "dual" and not has_zdr):
        why_none = (
            "single-pol day (era table): no ZDR"
            if capability == "single"
            else "no ZDR in the day's profiles"
        )
        record = carry_forward(day, None, None, min_n, why_none)
        return _decide({**base, **record, "n_volumes": 0}, threshold_db, min_n)
    estimate = None
    if has_zdr:
        estimate = zdr_offset(
            profiles["reflectivity_dbz"].to_numpy(dtype=np.float64),
            profiles["zdr_db"].to_numpy(dtype=np.float64),
            profiles["height_m"].to_numpy(dtype=np.float64) / 1000.0,
            # naive UTC: a tz-aware column to NumPy is an object array of Timestamps (slow)
            pd.to_datetime(profiles["time"], utc=True).dt.tz_localize(None).to_numpy(),
            z_offset_db=z_apply,
            max_height_km=limit,
        )
    record = carry_forward(day, estimate, previous, min_n, "no light rain yet")
    record.setdefault("n_volumes", 0)
    return _decide({**base, **record}, threshold_db, min_n)


# --------------------------------------------------------------------------- corrections


def corrections_to_apply(
    z_record: Mapping[str, Any] | None, zdr_record: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The offsets to subtract from MLP-1's GR features, and what they rest on.

    Returns
    -------
    dict
        ``reflectivity_db`` and ``zdr_db`` (0.0 when not significant or not monitored) and, for
        each, ``reflectivity``/``zdr``: ``applied, offset_db, source_date, n, reason``.
    """
    out: dict[str, Any] = {}
    for name, record in (("reflectivity", z_record), ("zdr", zdr_record)):
        if not record:
            info = {
                "applied": False,
                "offset_db": None,
                "source_date": None,
                "n": 0,
                "reason": "no monitoring record for the day",
            }
        else:
            info = {
                "applied": bool(record.get("significant")),
                "offset_db": record.get("offset_db"),
                "source_date": record.get("source_date"),
                "n": int(record.get("n") or 0),
                "reason": str(record.get("reason", "")),
            }
        out[f"{name}_db"] = float(record["apply_db"]) if info["applied"] else 0.0
        out[name] = info
    return out
