"""What one observation file holds: its kind and format, detected from its content, and a summary.

:func:`inspect_file` reads a ground-radar volume (NEXRAD Level II, ODIM_H5), a spaceborne radar
granule (GPM / TRMM 2A), a GOES ABI L1b band or a rain-gauge file (ARM netCDF, ISD, GHCN-Daily,
plain CSV), local or through fsspec, with the project's readers. The kind is decided from the
bytes (magic numbers, HDF5 groups, netCDF variables, CSV header), never from the file name.

It returns :class:`Inspection`: ``summary``, a JSON-ready dict (keys below), and ``lines``, the
human-readable description.

==========  ===================================================================================
kind        summary keys (all kinds: ``kind, format, site, lat, lon, start_time``)
==========  ===================================================================================
radar       ``n_sweeps, moments, max_dbz, capability`` (``single`` without
            ``differential_reflectivity``, else ``dual``)
spaceborne  ``instrument, n_scans, n_rays, n_bins, bin_m, max_dbz``
satellite   ``band, units, min, max`` (brightness temperature K, or reflectance %)
gauge       ``totals_mm`` ({station: mm}, usable reports after QC over the file's period)
==========  ===================================================================================

``site`` is the radar site, the satellite platform or the gauge station; ``lat``/``lon`` its
position (for a satellite, the sub-satellite point; for a spaceborne granule, the centre of its
footprints); ``start_time`` is ISO 8601 UTC.
"""

from __future__ import annotations

import dataclasses
import gzip
import io
import math
import re
from typing import Any

import fsspec
import numpy as np
import pandas as pd

from fusion_ops.readers.errors import UnreadableFileError, describe_exception
from fusion_ops.readers.remote import fs_options

READER = "inspect"
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
HDF4_MAGIC = b"\x0e\x03\x13\x01"
NETCDF3_MAGIC = (b"CDF\x01", b"CDF\x02", b"CDF\x05")
#: Moments asked of a radar volume (Py-ART names); absent ones are simply not in the file.
RADAR_MOMENTS = (
    "reflectivity",
    "velocity",
    "spectrum_width",
    "differential_reflectivity",
    "cross_correlation_ratio",
    "differential_phase",
    "specific_differential_phase",
)
SPACEBORNE_SWATHS = ("NS", "FS", "MS", "HS")


@dataclasses.dataclass
class Inspection:
    """``summary``: JSON-ready figures; ``lines``: what a person reads."""

    summary: dict[str, Any]
    lines: list[str]


def _finite(value: float) -> float | None:
    return round(float(value), 4) if value is not None and math.isfinite(float(value)) else None


def _iso(t) -> str | None:
    if t is None:
        return None
    ts = pd.Timestamp(t)
    if pd.isna(ts):
        return None
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ")


def _read(url: str, storage_options: dict | None) -> bytes:
    try:
        with fsspec.open(str(url), "rb", **fs_options(url, storage_options)) as fh:
            data = fh.read()
    except FileNotFoundError as exc:
        raise UnreadableFileError(url, "file not found", READER) from exc
    except Exception as exc:  # noqa: BLE001 - fsspec back ends raise many types
        raise UnreadableFileError(url, describe_exception(exc), READER) from exc
    if not data:
        raise UnreadableFileError(url, "empty file", READER)
    return data


def _head(data: bytes) -> bytes:
    """The first bytes, through a gzip layer if there is one."""
    if data[:2] == b"\x1f\x8b":
        try:
            with gzip.GzipFile(fileobj=io.BytesIO(data)) as fh:
                return fh.read(4096)
        except (OSError, EOFError):
            return data[:4096]
    return data[:4096]


def _hdf5_kind(url: str, data: bytes) -> tuple[str, dict]:
    """``(kind, facts)`` of an HDF5 file from its groups, variables and attributes."""
    import h5py

    try:
        with h5py.File(io.BytesIO(data), "r") as h5:
            keys = set(h5.keys())
            attrs = {k: _text(v) for k, v in h5.attrs.items()}
            if {"what", "where"} <= keys or attrs.get("Conventions", "").startswith("ODIM"):
                return "radar", {}
            if keys & set(SPACEBORNE_SWATHS) or "FileHeader" in attrs:
                return "spaceborne", _gpm_header(attrs.get("FileHeader", ""))
            if "Rad" in keys and "band_id" in keys:
                return "satellite", {}
            return "netcdf", {"variables": sorted(keys)}
    except Exception as exc:  # noqa: BLE001 - h5py raises many types on bad bytes
        raise UnreadableFileError(
            url, f"corrupt HDF5 file: {describe_exception(exc)}", READER
        ) from exc


def _text(value) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.ndarray) and value.size == 1:
        return _text(value.reshape(-1)[0])
    return str(value)


def _gpm_header(header: str) -> dict:
    """Platform and instrument of a GPM/TRMM ``FileHeader`` attribute.

    The instrument is the algorithm's (``2AKu`` -> ``Ku``, ``2ADPR`` -> ``DPR``, ``2APR`` -> ``PR``):
    a Ku-only granule of the DPR names ``InstrumentName=DPR``.
    """
    facts = dict(re.findall(r"(\w+)=([^;\n]*);", header))
    algorithm = facts.get("AlgorithmID", "").strip()
    instrument = algorithm[2:] if algorithm.startswith("2A") and len(algorithm) > 2 else ""
    return {
        "platform": facts.get("SatelliteName", "").strip(),
        "instrument": instrument or facts.get("InstrumentName", "").strip(),
    }


def detect(url: str, data: bytes) -> tuple[str, str, dict]:
    """``(kind, format, facts)`` of a file from its bytes (see the module docstring)."""
    head = _head(data)
    if head[:4] == b"AR2V" or head[:8] == b"ARCHIVE2":
        fmt = "nexrad_level2" + ("+gzip" if data[:2] == b"\x1f\x8b" else "")
        return "radar", fmt, {}
    if data[:8] == HDF5_MAGIC:
        kind, facts = _hdf5_kind(url, data)
        if kind == "radar":
            return "radar", "odim_h5", facts
        if kind == "spaceborne":
            return "spaceborne", "gpm_2a_hdf5", facts
        if kind == "satellite":
            return "satellite", "abi_l1b_netcdf4", facts
        return "gauge", "netcdf4", facts
    if data[:4] == HDF4_MAGIC:
        return "spaceborne", "trmm_2a_hdf4", {"platform": "TRMM", "instrument": "PR"}
    if data[:4] in NETCDF3_MAGIC:
        return "gauge", "netcdf3", {}
    kind = _text_gauge_kind(head)
    if kind is not None:
        return "gauge", f"{kind}_csv", {}
    raise UnreadableFileError(
        url,
        f"unknown format (first bytes {data[:8]!r}): not radar, spaceborne, ABI or gauge",
        READER,
    )


def _text_gauge_kind(head: bytes) -> str | None:
    """``isd``, ``ghcnd`` or ``plain`` from a CSV's first line, else ``None``."""
    if b"\x00" in head:
        return None
    try:
        first = head.decode("utf-8").splitlines()[0]
    except (UnicodeDecodeError, IndexError):
        return None
    columns = {c.strip().strip('"').upper() for c in first.split(",")}
    if {"STATION", "DATE"} <= columns and "AA1" in columns:
        return "isd"
    if {"STATION", "DATE", "PRCP"} <= columns:
        return "ghcnd"
    if {"STATION_ID", "TIME", "PRECIP_MM"} <= columns:
        return "plain"
    fields = first.split(",")
    if len(fields) >= 4 and re.fullmatch(r"\d{8}", fields[1].strip()) and fields[2].isalpha():
        return "ghcnd"  # headerless by-year layout: ID,YYYYMMDD,ELEMENT,VALUE,...
    return None


def inspect_file(url: str, storage_options: dict | None = None) -> Inspection:
    """Detect what ``url`` holds and summarise it.

    Raises
    ------
    UnreadableFileError
        Missing, empty, truncated, corrupt or unknown-format file (the message names it).
    """
    data = _read(url, storage_options)
    kind, fmt, facts = detect(url, data)
    try:
        if kind == "radar":
            return _radar(url, fmt, storage_options)
        if kind == "spaceborne":
            return _spaceborne(url, fmt, facts, storage_options)
        if kind == "satellite":
            return _satellite(url, fmt, data)
        return _gauge(url, fmt, storage_options)
    except UnreadableFileError:
        raise
    except Exception as exc:  # noqa: BLE001 - a reader's unexpected failure names the file too
        raise UnreadableFileError(url, describe_exception(exc), f"{READER}/{kind}") from exc


def _common(kind: str, fmt: str, site: str, lat, lon, start) -> dict[str, Any]:
    return {
        "kind": kind,
        "format": fmt,
        "site": site,
        "lat": _finite(lat),
        "lon": _finite(lon),
        "start_time": _iso(start),
    }


def _radar(url: str, fmt: str, storage_options: dict | None) -> Inspection:
    from fusion_ops.readers.ground_radar import read_volume

    vol = read_volume(url, fields=RADAR_MOMENTS, storage_options=storage_options)
    moments = vol.field_names()
    capability = "dual" if "differential_reflectivity" in moments else "single"
    summary = _common("radar", fmt, vol.site_id, vol.latitude_deg, vol.longitude_deg, vol.time)
    summary.update(
        n_sweeps=len(vol.sweeps),
        moments=moments,
        max_dbz=_finite(vol.max_reflectivity_dbz()),
        capability=capability,
    )
    lines = [
        f"{url}",
        f"  ground radar, {fmt}: site {vol.site_id} at {vol.latitude_deg:.4f} N "
        f"{vol.longitude_deg:.4f} E, {vol.altitude_m:.0f} m; volume start {summary['start_time']}",
        f"  {len(vol.sweeps)} sweeps; {capability}-polarisation; moments: {', '.join(moments)}",
    ]
    for i, s in enumerate(vol.sweeps):
        r = s.range_m
        gate = float(r[1] - r[0]) if r.size > 1 else float("nan")
        lines.append(
            f"  sweep {i:2d}: elevation {s.elevation_deg:5.2f} deg, {s.n_azimuth} azimuths, "
            f"{r.size} gates of {gate:.0f} m to {float(r[-1]) / 1000:.1f} km"
        )
    for name in moments:
        values = [s.fields[name] for s in vol.sweeps if name in s.fields]
        lo = min((np.nanmin(v) for v in values if np.isfinite(v).any()), default=np.nan)
        hi = max((np.nanmax(v) for v in values if np.isfinite(v).any()), default=np.nan)
        lines.append(f"  {name}: {lo:.2f} .. {hi:.2f}")
    return Inspection(summary, lines)


def _spaceborne(url: str, fmt: str, facts: dict, storage_options: dict | None) -> Inspection:
    from fusion_ops.readers.spaceborne import read_2a_bins

    ds = read_2a_bins(url, storage_options=storage_options)
    z = np.asarray(ds["zku_dbz"].values, dtype=np.float64)
    lat = np.asarray(ds["lat"].values, dtype=np.float64)
    lon = np.asarray(ds["lon"].values, dtype=np.float64)
    ok = np.isfinite(lat) & np.isfinite(lon) & (np.abs(lat) <= 90) & (np.abs(lon) <= 180)
    platform = facts.get("platform") or str(ds.attrs.get("platform", "")) or "unknown"
    instrument = facts.get("instrument") or str(ds.attrs.get("instrument", "")) or "unknown"
    times = ds["time"].values
    summary = _common(
        "spaceborne",
        fmt,
        platform,
        float(np.median(lat[ok])) if ok.any() else None,
        float(np.median(lon[ok])) if ok.any() else None,
        times[0] if times.size else None,
    )
    max_dbz = float(np.nanmax(z)) if np.isfinite(z).any() else None
    summary.update(
        instrument=instrument,
        n_scans=int(ds.sizes["scan"]),
        n_rays=int(ds.sizes["ray"]),
        n_bins=int(ds.sizes["bin"]),
        bin_m=_finite(ds.attrs.get("bin_spacing_m", np.nan)),
        max_dbz=_finite(max_dbz),
    )
    precip = np.asarray(ds["precip_type"].values)
    lines = [
        f"{url}",
        f"  spaceborne radar, {fmt}: {platform} {instrument}, swath {ds.attrs.get('swath', '?')}, "
        f"scans {_iso(times[0]) if times.size else '?'} .. {_iso(times[-1]) if times.size else '?'}",
        f"  {summary['n_scans']} scans x {summary['n_rays']} rays x {summary['n_bins']} bins of "
        f"{summary['bin_m']} m; reflectivity {ds.attrs.get('reflectivity_variable', '?')}",
        f"  footprints lat {np.nanmin(lat[ok]):.3f} .. {np.nanmax(lat[ok]):.3f}, "
        f"lon {np.nanmin(lon[ok]):.3f} .. {np.nanmax(lon[ok]):.3f}"
        if ok.any()
        else "  footprints: no valid position",
        f"  reflectivity max {summary['max_dbz']} dBZ; "
        f"{int((precip > 0).sum())} of {precip.size} footprints with precipitation",
    ]
    return Inspection(summary, lines)


def _satellite(url: str, fmt: str, data: bytes) -> Inspection:
    import xarray as xr

    with xr.open_dataset(io.BytesIO(data), engine="h5netcdf") as ds:
        band = int(np.asarray(ds["band_id"].values).reshape(-1)[0])
        rad = np.asarray(ds["Rad"].values, dtype=np.float64)  # scaled, fill -> NaN
        if band <= 6:
            values = rad * float(ds["kappa0"].values) * 100.0
            units, quantity = "%", "reflectance"
        else:
            fk1, fk2, bc1, bc2 = (
                float(ds[k].values)
                for k in ("planck_fk1", "planck_fk2", "planck_bc1", "planck_bc2")
            )
            with np.errstate(invalid="ignore", divide="ignore"):
                values = (fk2 / np.log(fk1 / rad + 1.0) - bc1) / bc2
            units, quantity = "K", "brightness temperature"
        values = np.where(np.isfinite(values), values, np.nan)
        platform = _text(ds.attrs.get("platform_ID", "")) or "GOES"
        sub_lat = float(ds["nominal_satellite_subpoint_lat"].values)
        sub_lon = float(ds["nominal_satellite_subpoint_lon"].values)
        start = _text(ds.attrs.get("time_coverage_start", "")) or None
        wavelength = float(np.asarray(ds["band_wavelength"].values).reshape(-1)[0])
        extent = ds["geospatial_lat_lon_extent"].attrs if "geospatial_lat_lon_extent" in ds else {}
        scene = _text(ds.attrs.get("scene_id", ""))
        resolution = _text(ds["Rad"].attrs.get("resolution", ""))
    summary = _common("satellite", fmt, platform, sub_lat, sub_lon, start)
    lo = float(np.nanmin(values)) if np.isfinite(values).any() else None
    hi = float(np.nanmax(values)) if np.isfinite(values).any() else None
    summary.update(band=f"C{band:02d}", units=units, min=_finite(lo), max=_finite(hi))
    lines = [
        f"{url}",
        f"  geostationary imager, {fmt}: {platform}, sub-satellite point {sub_lat:.2f} N "
        f"{sub_lon:.2f} E; {scene} scan start {summary['start_time']}",
        f"  band C{band:02d} ({wavelength:.2f} um), {rad.shape[0]} x {rad.shape[1]} pixels, "
        f"{resolution}",
    ]
    if extent:
        lines.append(
            f"  scene centre {float(extent.get('geospatial_lat_center', np.nan)):.2f} N "
            f"{float(extent.get('geospatial_lon_center', np.nan)):.2f} E"
        )
    lines.append(f"  {quantity}: {summary['min']} .. {summary['max']} {units}")
    return Inspection(summary, lines)


def _gauge(url: str, fmt: str, storage_options: dict | None) -> Inspection:
    from fusion_ops.gauges.qc import daily_totals, flag_accumulations
    from fusion_ops.readers.gauges import read_gauge_file

    kind = {"isd_csv": "isd", "ghcnd_csv": "ghcnd", "plain_csv": "csv"}.get(fmt, "arm")
    native = read_gauge_file(url, kind=kind, storage_options=storage_options)
    if native.empty:
        raise UnreadableFileError(url, "no precipitation reports in the file", READER)
    flagged = flag_accumulations(native)
    totals = daily_totals(flagged)
    totals_mm = {str(r.station_id): _finite(r.total_mm) for r in totals.itertuples(index=False)}
    first = native.iloc[0]
    stations = native["station_id"].unique().tolist()
    networks = ", ".join(sorted(native["network"].unique()))
    fmt = f"{fmt} ({networks})"
    site = stations[0] if len(stations) == 1 else f"{len(stations)} stations"
    summary = _common("gauge", fmt, site, first["lat"], first["lon"], native["time_start"].min())
    summary["totals_mm"] = totals_mm
    lines = [
        f"{url}",
        f"  rain gauges, {fmt}: {len(stations)} station(s), {len(native)} reports, "
        f"{_iso(native['time_start'].min())} .. {_iso(native['time_end'].max())}",
    ]
    for station, group in native.groupby("station_id", sort=True):
        g0 = group.iloc[0]
        flags = flagged.loc[group.index, "qc_flags"]
        periods = sorted({int(p) for p in group["period_s"].unique()})
        lines.append(
            f"  {station}: {g0['lat']:.4f} N {g0['lon']:.4f} E {g0['elevation_m']:.0f} m, "
            f"{len(group)} reports of {'/'.join(str(p) for p in periods)} s, "
            f"depth {np.nanmin(group['precip_mm']):.2f} .. {np.nanmax(group['precip_mm']):.2f} mm, "
            f"{int((flags != 0).sum())} flagged; total {totals_mm.get(str(station))} mm"
        )
    return Inspection(summary, lines)
