"""A day of gauge files from an archive, restricted to a lat/lon domain.

The archive is a local folder or any fsspec URL (``s3://bucket/prefix``) holding ISD global-hourly
files ``YYYY/<USAF><WBAN>.csv[.gz]`` (with, optionally, NOAA's ``isd-history.csv`` station list at
its root) and per-day files under ``YYYY/MM/DD/`` (ARM netCDF, GHCN-Daily or plain CSV).

Domains are ``(lat_min_deg, lat_max_deg, lon_min_deg, lon_max_deg)`` tuples, bounds included.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import fsspec
import pandas as pd

from fusion_ops.gauges.ingest import GaugeDay, ingest_gauge_day
from fusion_ops.gauges.qc import QCFlag, daily_totals

#: NOAA's ISD station list, at the archive root.
ISD_HISTORY = "isd-history.csv"

BBox = tuple[float, float, float, float]


def _glob(fs: fsspec.AbstractFileSystem, root: str, pattern: str) -> list[str]:
    """Paths (relative to ``root``) matching ``pattern`` below it, sorted."""
    prefix = f"{root}/"
    return sorted(
        p[len(prefix) :] if p.startswith(prefix) else p for p in fs.glob(prefix + pattern)
    )


def isd_station_ids_in_bbox(history: pd.DataFrame, bbox_deg: BBox) -> set[str]:
    """``USAF + WBAN`` identifiers of the ISD stations inside the domain.

    Parameters
    ----------
    history : DataFrame
        ``isd-history.csv`` read as strings (columns ``USAF, WBAN, LAT, LON``); unparsable
        positions are outside every domain.
    bbox_deg : tuple of float
        ``(lat_min_deg, lat_max_deg, lon_min_deg, lon_max_deg)``, bounds included.

    Returns
    -------
    set of str
        The identifiers ISD files are named by (``<USAF><WBAN>.csv``).

    Raises
    ------
    KeyError
        When a column is missing.
    """
    lat_min_deg, lat_max_deg, lon_min_deg, lon_max_deg = bbox_deg
    lat_deg = pd.to_numeric(history["LAT"], errors="coerce")
    lon_deg = pd.to_numeric(history["LON"], errors="coerce")
    inside = lat_deg.between(lat_min_deg, lat_max_deg) & lon_deg.between(lon_min_deg, lon_max_deg)
    return set(history.loc[inside, "USAF"] + history.loc[inside, "WBAN"])


def gauge_day_files(
    archive_url: str, day: dt.date, bbox_deg: BBox, storage_options: dict | None = None
) -> list[str]:
    """URLs of the gauge files of ``day`` in an archive.

    ISD keys ``YYYY/<USAF><WBAN>.csv[.gz]`` (restricted, when ``isd-history.csv`` is at the
    root, to stations inside the domain) and any per-day files under ``YYYY/MM/DD/`` (ARM
    netCDF, GHCN or plain CSV; the format is inferred from the name).

    Parameters
    ----------
    archive_url : str
        Root of the archive: a folder or an fsspec URL.
    day : date
        UTC day.
    bbox_deg : tuple of float
        ``(lat_min_deg, lat_max_deg, lon_min_deg, lon_max_deg)``.
    storage_options : dict, optional
        fsspec options of the archive, secrets already resolved.

    Returns
    -------
    list of str
        ISD files first (sorted), then the day's files (sorted); ``archive_url/<relative>``.
    """
    fs, root = fsspec.core.url_to_fs(archive_url, **dict(storage_options or {}))
    root = root.rstrip("/")
    rel = _glob(fs, root, f"{day:%Y}/*.csv") + _glob(fs, root, f"{day:%Y}/*.csv.gz")
    if rel and fs.exists(f"{root}/{ISD_HISTORY}"):
        try:
            with fs.open(f"{root}/{ISD_HISTORY}", "rb") as fh:
                history = pd.read_csv(fh, dtype=str)
            wanted = isd_station_ids_in_bbox(history, bbox_deg)
            rel = [r for r in rel if r.rsplit("/", 1)[-1].split(".")[0] in wanted]
        except (KeyError, ValueError, OSError):
            pass  # an unreadable station list only costs speed: read every file
    rel += _glob(fs, root, f"{day:%Y/%m/%d}/*")
    base = archive_url.rstrip("/")
    return [f"{base}/{r.lstrip('/')}" for r in rel]


@dataclasses.dataclass
class DomainGaugeDay:
    """A day of gauge files, their ingest, and the QC'd reports inside the domain."""

    files: list[str]
    gauge_day: GaugeDay
    native: pd.DataFrame
    reports_outside: int


def gauge_day_in_domain(
    archive_url: str, day: dt.date, bbox_deg: BBox, storage_options: dict | None = None
) -> DomainGaugeDay:
    """Ingest the day's gauge files (:func:`gauge_day_files`) and keep the reports in the domain.

    Parameters
    ----------
    archive_url : str
        Root of the gauge archive.
    day : date
        UTC day.
    bbox_deg : tuple of float
        ``(lat_min_deg, lat_max_deg, lon_min_deg, lon_max_deg)``, bounds included.
    storage_options : dict, optional
        fsspec options of the archive, secrets already resolved.

    Returns
    -------
    DomainGaugeDay
        ``native`` holds the reports inside the domain (index reset); ``reports_outside`` counts
        the others.
    """
    files = gauge_day_files(archive_url, day, bbox_deg, storage_options)
    gauge_day = ingest_gauge_day(files, day, storage_options=storage_options)
    native = gauge_day.native
    lat_min_deg, lat_max_deg, lon_min_deg, lon_max_deg = bbox_deg
    inside = native["lat"].between(lat_min_deg, lat_max_deg) & native["lon"].between(
        lon_min_deg, lon_max_deg
    )
    return DomainGaugeDay(
        files, gauge_day, native[inside].reset_index(drop=True), int((~inside).sum())
    )


def gauge_stations(native: pd.DataFrame) -> pd.DataFrame:
    """One row per station: ``station_id``, ``lat``, ``lon`` (its first report's position).

    Parameters
    ----------
    native : DataFrame
        QC'd native reports (``station_id, lat, lon`` at least).

    Returns
    -------
    DataFrame
        Sorted by ``station_id``.
    """
    return native.groupby("station_id", as_index=False)[["lat", "lon"]].first()


def station_daily_totals(native: pd.DataFrame) -> pd.DataFrame:
    """Each station's daily total (:func:`~fusion_ops.gauges.qc.daily_totals`) with its position.

    Parameters
    ----------
    native : DataFrame
        QC'd native reports of the day.

    Returns
    -------
    DataFrame
        ``station_id, network, total_mm, lat, lon``.
    """
    return daily_totals(native).merge(gauge_stations(native), on="station_id")


def qc_flag_counts(native: pd.DataFrame) -> dict[str, int]:
    """Reports carrying each QC flag, keyed by the flag's lower-case name.

    Parameters
    ----------
    native : DataFrame
        QC'd native reports (``qc_flags`` bit mask).

    Returns
    -------
    dict of str to int
        One entry per :class:`~fusion_ops.gauges.qc.QCFlag`, in the enum's order.
    """
    return {f.name.lower(): int(((native["qc_flags"] & int(f)) > 0).sum()) for f in QCFlag}


def gauge_day_figures(day: DomainGaugeDay, totals: pd.DataFrame) -> dict:
    """Figures of a day of gauge reports in the domain, as plain values.

    Parameters
    ----------
    day : DomainGaugeDay
        The day (:func:`gauge_day_in_domain`).
    totals : DataFrame
        Its stations' daily totals (:func:`station_daily_totals`).

    Returns
    -------
    dict
        ``files``, ``stations``, ``reports``, ``reports_outside_domain``, ``flagged_reports``
        (int), ``flags`` (:func:`qc_flag_counts`), ``networks`` (sorted list) and
        ``domain_mean_total_mm`` (float, NaN without a station total).
    """
    native = day.native
    return {
        "files": len(day.files),
        "stations": int(native["station_id"].nunique()),
        "reports": len(native),
        "reports_outside_domain": day.reports_outside,
        "flagged_reports": int((native["qc_flags"] > 0).sum()),
        "flags": qc_flag_counts(native),
        "networks": sorted(native["network"].unique().tolist()),
        "domain_mean_total_mm": float(totals["total_mm"].mean()) if len(totals) else float("nan"),
    }


def hourly_figures(hourly: pd.DataFrame) -> dict:
    """Figures of a table of hourly accumulations, as plain values.

    Parameters
    ----------
    hourly : DataFrame
        :func:`~fusion_ops.gauges.qc.hourly_accumulations` (``station_id``, ``coverage``).

    Returns
    -------
    dict
        ``station_hours``, ``stations`` and ``complete_hours`` (coverage of at least 0.99), int.
    """
    return {
        "station_hours": len(hourly),
        "stations": int(hourly["station_id"].nunique()),
        "complete_hours": int((hourly["coverage"] >= 0.99).sum()),
    }
