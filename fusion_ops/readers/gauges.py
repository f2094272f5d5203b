"""Rain-gauge readers: ISD global-hourly CSV, GHCN-Daily CSV, ARM MET / Pluvio2 netCDF, plain CSV.

Every reader returns the *native accumulation table* (one row per reported accumulation):

==============  ======================  ==================================================
column          dtype                   meaning
==============  ======================  ==================================================
station_id      str                     network-unique id (ISD ``STATION``, GHCN ``ID``, ...)
network         str                     ``isd``, ``ghcnd``, ``arm_met``, ``arm_pluvio2``, ``csv``
time_start      datetime64[ns, UTC]     start of the accumulation interval
time_end        datetime64[ns, UTC]     end of the accumulation interval
period_s        int64                   interval length (s)
precip_mm       float64                 accumulated depth (mm), NaN = missing
lat, lon        float64                 station position (deg)
elevation_m     float64                 station elevation (m), NaN if unknown
station_name    str
source_quality  int64                   0 = source says good; 1 = source flags it
source_file     str
==============  ======================  ==================================================

Quality control (:mod:`fusion_ops.gauges.qc`) adds a ``qc_flags`` bit mask and the hourly table.

Plain CSV (for an operator's own network), one row per accumulation, UTF-8, header required::

    station_id,time,precip_mm,lat,lon[,period_minutes][,elevation_m][,station_name]
    GAUGE01,2016-06-01T15:00:00Z,1.2,33.60,-101.80,60

``time`` is the END of the accumulation interval (ISO 8601, UTC unless an offset is given);
``period_minutes`` defaults to 60; ``precip_mm`` is the depth over the interval (empty = missing).
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping

import fsspec
import numpy as np
import pandas as pd

from fusion_ops.readers.errors import UnreadableFileError, describe_exception
from fusion_ops.readers.remote import fs_options

#: Column name -> dtype of the native accumulation table, in column order.
NATIVE_DTYPES: dict[str, type | str] = {
    "station_id": str,
    "network": str,
    "time_start": "datetime64[ns, UTC]",
    "time_end": "datetime64[ns, UTC]",
    "period_s": "int64",
    "precip_mm": "float64",
    "lat": "float64",
    "lon": "float64",
    "elevation_m": "float64",
    "station_name": str,
    "source_quality": "int64",
    "source_file": str,
}
NATIVE_COLUMNS: tuple[str, ...] = tuple(NATIVE_DTYPES)

#: ISD AA1 quality codes that mean "passed" (NCEI ISD format document, quality code table).
_ISD_GOOD_QUALITY = set("0145789ACIMPRU")


def empty_table(dtypes: Mapping[str, type | str]) -> pd.DataFrame:
    """A table with no rows and the columns (in order) and dtypes of ``dtypes``."""
    return pd.DataFrame({name: pd.Series(dtype=dtype) for name, dtype in dtypes.items()})


def empty_native() -> pd.DataFrame:
    """The native accumulation table with no rows (correct dtypes)."""
    return empty_table(NATIVE_DTYPES)


def _finish(df: pd.DataFrame) -> pd.DataFrame:
    out = empty_native()
    if df.empty:
        return out
    df = df.copy()
    for c in NATIVE_COLUMNS:
        if c not in df:
            df[c] = np.nan if c in ("elevation_m",) else ""
    df = df[list(NATIVE_COLUMNS)]
    df["station_id"] = df["station_id"].astype(str)
    df["period_s"] = df["period_s"].astype("int64")
    df["source_quality"] = df["source_quality"].fillna(0).astype("int64")
    for c in ("precip_mm", "lat", "lon", "elevation_m"):
        df[c] = pd.to_numeric(df[c], errors="coerce").astype("float64")
    names = df["station_name"].astype(object)
    df["station_name"] = names.where(names.notna(), "").astype(str)
    return df.reset_index(drop=True)


def _read_bytes(url: str, reader: str, storage_options: dict | None = None) -> bytes:
    opts = fs_options(url, storage_options)
    try:
        with fsspec.open(str(url), "rb", compression="infer", **opts) as fh:
            data = fh.read()
    except FileNotFoundError as exc:
        raise UnreadableFileError(url, "file not found", reader) from exc
    except (OSError, EOFError) as exc:
        raise UnreadableFileError(url, describe_exception(exc), reader) from exc
    if not data.strip():
        raise UnreadableFileError(url, "empty file", reader)
    return data


def _csv_frame(url: str, data: bytes, reader: str, required: set[str]) -> pd.DataFrame:
    if b"\x00" in data[:4096]:
        raise UnreadableFileError(url, "binary content, not a CSV file", reader)
    if not data.endswith(b"\n"):
        # writers end every record with a newline; a missing one means the copy was cut
        raise UnreadableFileError(url, "truncated: last line has no end of line", reader)
    try:
        df = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False, on_bad_lines="error")
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise UnreadableFileError(url, describe_exception(exc), reader) from exc
    df.columns = [c.strip() for c in df.columns]
    missing = required - set(df.columns)
    if missing:
        raise UnreadableFileError(url, f"missing columns {sorted(missing)}", reader)
    return df


def _utc(series: pd.Series, url: str, reader: str) -> pd.Series:
    try:
        return pd.to_datetime(series, utc=True, format="ISO8601")
    except (ValueError, TypeError) as exc:
        raise UnreadableFileError(
            url, f"bad time value: {describe_exception(exc)}", reader
        ) from exc


def read_isd_csv(url: str, storage_options: dict | None = None) -> pd.DataFrame:
    """ISD global-hourly CSV (NCEI access format): precipitation from the ``AA1`` group.

    ``AA1`` is ``"period_hours,depth_tenths_mm,condition,quality"``; depth ``9999`` or period
    ``99`` is missing; rows without ``AA1`` carry no precipitation report and are skipped.
    """
    reader = "isd_csv"
    data = _read_bytes(url, reader, storage_options)
    df = _csv_frame(url, data, reader, {"STATION", "DATE", "LATITUDE", "LONGITUDE"})
    if "AA1" not in df.columns:
        return empty_native()
    df = df[df["AA1"].str.strip() != ""]
    if df.empty:
        return empty_native()
    parts = df["AA1"].str.split(",", expand=True)
    if parts.shape[1] < 4:
        raise UnreadableFileError(url, "AA1 group has fewer than 4 fields", reader)
    period_h = pd.to_numeric(parts[0], errors="coerce")
    depth = pd.to_numeric(parts[1], errors="coerce")
    quality = parts[3].fillna("").str.strip()
    end = _utc(df["DATE"], url, reader)
    bad_period = period_h.isna() | (period_h == 99) | (period_h <= 0)
    period_s = (period_h.where(~bad_period, 1) * 3600).astype("int64")
    precip = (depth / 10.0).where((depth != 9999) & depth.notna())
    out = pd.DataFrame(
        {
            "station_id": df["STATION"].str.strip(),
            "network": "isd",
            "time_end": end,
            "period_s": period_s,
            "precip_mm": precip,
            "lat": df["LATITUDE"],
            "lon": df["LONGITUDE"],
            "elevation_m": df.get("ELEVATION", np.nan),
            "station_name": df.get("NAME", ""),
            "source_quality": (~quality.isin(_ISD_GOOD_QUALITY) | bad_period).astype("int64"),
            "source_file": str(url),
        }
    )
    out["time_start"] = out["time_end"] - pd.to_timedelta(out["period_s"], unit="s")
    return _finish(out)


def read_ghcnd_csv(
    url: str, stations: pd.DataFrame | None = None, storage_options: dict | None = None
) -> pd.DataFrame:
    """GHCN-Daily CSV, PRCP in tenths of mm, either layout:

    * NCEI access CSV (header with ``STATION, DATE, PRCP``, optional ``LATITUDE, LONGITUDE,
      ELEVATION, NAME, PRCP_ATTRIBUTES``);
    * by-year / by-station CSV without header: ``ID,YYYYMMDD,ELEMENT,VALUE,MFLAG,QFLAG,SFLAG,
      OBSTIME`` (positions from ``stations``, a table with ``station_id, lat, lon[, elevation_m,
      station_name]``, e.g. parsed from ``ghcnd-stations.txt``).

    The observation day is taken as the UTC day (GHCN reports the local observing day).
    """
    reader = "ghcnd_csv"
    data = _read_bytes(url, reader, storage_options)
    head = data[:200].split(b"\n", 1)[0].upper()
    if b"STATION" in head and b"DATE" in head:
        df = _csv_frame(url, data, reader, {"STATION", "DATE", "PRCP"})
        df = df[df["PRCP"].str.strip() != ""]
        qflag = (
            df["PRCP_ATTRIBUTES"].str.split(",").str[1].fillna("")
            if "PRCP_ATTRIBUTES" in df
            else pd.Series("", index=df.index)
        )
        out = pd.DataFrame(
            {
                "station_id": df["STATION"].str.strip(),
                "day": _utc(df["DATE"], url, reader),
                "value": pd.to_numeric(df["PRCP"], errors="coerce"),
                "qflag": qflag.str.strip(),
                "lat": df.get("LATITUDE", np.nan),
                "lon": df.get("LONGITUDE", np.nan),
                "elevation_m": df.get("ELEVATION", np.nan),
                "station_name": df.get("NAME", ""),
            }
        )
    else:
        if b"\x00" in data[:4096] or not data.endswith(b"\n"):
            raise UnreadableFileError(
                url, "truncated or binary content (no final end of line)", reader
            )
        names = ["ID", "DATE", "ELEMENT", "VALUE", "MFLAG", "QFLAG", "SFLAG", "OBSTIME"]
        try:
            raw = pd.read_csv(
                io.BytesIO(data), header=None, names=names, dtype=str, keep_default_na=False
            )
        except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
            raise UnreadableFileError(url, describe_exception(exc), reader) from exc
        raw = raw[raw["ELEMENT"].str.strip() == "PRCP"]
        try:
            day = pd.to_datetime(raw["DATE"], format="%Y%m%d", utc=True)
        except ValueError as exc:
            raise UnreadableFileError(url, f"bad DATE: {describe_exception(exc)}", reader) from exc
        out = pd.DataFrame(
            {
                "station_id": raw["ID"].str.strip(),
                "day": day,
                "value": pd.to_numeric(raw["VALUE"], errors="coerce"),
                "qflag": raw["QFLAG"].str.strip(),
            }
        )
        if stations is not None and not stations.empty:
            meta = stations.set_index("station_id")
            for c in ("lat", "lon", "elevation_m", "station_name"):
                out[c] = out["station_id"].map(meta[c]) if c in meta else np.nan
        else:
            out["lat"] = out["lon"] = out["elevation_m"] = np.nan
            out["station_name"] = ""
    if out.empty:
        return empty_native()
    out["time_start"] = out["day"]
    out["time_end"] = out["day"] + pd.Timedelta(days=1)
    out["period_s"] = 86400
    out["precip_mm"] = (out["value"] / 10.0).where(out["value"] != -9999)
    out["network"] = "ghcnd"
    out["source_quality"] = (out["qflag"] != "").astype("int64")
    out["source_file"] = str(url)
    return _finish(out)


def read_arm_netcdf(url: str, storage_options: dict | None = None) -> pd.DataFrame:
    """ARM MET (``tbrg_precip_total``) or Pluvio2 (``accum_nrt``) 1-minute netCDF.

    ARM times mark the END of each interval (``time_bounds`` where present).  The ARM QC
    variable (``qc_<var>``, bit-packed, 0 = passed) sets ``source_quality``.
    """
    import xarray as xr

    reader = "arm_netcdf"
    data = _read_bytes(url, reader, storage_options)
    try:
        ds = xr.open_dataset(io.BytesIO(data), engine="h5netcdf")
    except Exception:  # noqa: BLE001 - classic netCDF-3 is not HDF5: try scipy/netCDF4
        try:
            ds = xr.open_dataset(io.BytesIO(data), engine="scipy")
        except Exception as exc:  # noqa: BLE001
            ds = _open_netcdf4_memory(url, data, reader, exc)
    with ds:
        if "tbrg_precip_total" in ds:
            var, network = "tbrg_precip_total", "arm_met"
        elif "accum_nrt" in ds:
            var, network = "accum_nrt", "arm_pluvio2"
        else:
            raise UnreadableFileError(url, "neither tbrg_precip_total nor accum_nrt found", reader)
        try:
            end = pd.to_datetime(ds["time"].values, utc=True)
            precip = np.asarray(ds[var].values, dtype=np.float64)
        except Exception as exc:  # noqa: BLE001 - truncated variables fail on access
            raise UnreadableFileError(url, describe_exception(exc), reader) from exc
        if "time_bounds" in ds:
            start = pd.to_datetime(ds["time_bounds"].values[:, 0], utc=True)
        else:
            step = pd.Timedelta(seconds=60)
            start = end - step
        qc_name = f"qc_{var}"
        srcq = (
            (np.asarray(ds[qc_name].values) != 0).astype("int64")
            if qc_name in ds
            else np.zeros(precip.size, "int64")
        )
        missing = ds[var].attrs.get("missing_value", -9999.0)
        precip = np.where(precip == missing, np.nan, precip)
        site = str(ds.attrs.get("site_id", ""))
        facility = str(ds.attrs.get("facility_id", ""))
        station = f"{site}{facility}" if site or facility else os.path.basename(str(url))[:8]
        if network == "arm_pluvio2":
            station = f"{station}_pluvio2"
        out = pd.DataFrame(
            {
                "station_id": station,
                "network": network,
                "time_start": start,
                "time_end": end,
                "period_s": ((end - start).total_seconds()).astype("int64"),
                "precip_mm": precip,
                "lat": float(ds["lat"].values) if "lat" in ds else np.nan,
                "lon": float(ds["lon"].values) if "lon" in ds else np.nan,
                "elevation_m": float(ds["alt"].values) if "alt" in ds else np.nan,
                "station_name": str(ds.attrs.get("location_description", station))[:80],
                "source_quality": srcq,
                "source_file": str(url),
            }
        )
    return _finish(out)


def _open_netcdf4_memory(url: str, data: bytes, reader: str, first_exc: Exception):
    import netCDF4
    import xarray as xr

    try:
        nc = netCDF4.Dataset("inmemory.nc", memory=data)
        return xr.open_dataset(xr.backends.NetCDF4DataStore(nc))
    except Exception as exc:  # noqa: BLE001
        raise UnreadableFileError(
            url, f"not a readable netCDF file ({describe_exception(first_exc)})", reader
        ) from exc


def read_plain_csv(url: str, storage_options: dict | None = None) -> pd.DataFrame:
    """The documented plain CSV (see module docstring)."""
    reader = "plain_csv"
    data = _read_bytes(url, reader, storage_options)
    df = _csv_frame(url, data, reader, {"station_id", "time", "precip_mm", "lat", "lon"})
    end = _utc(df["time"], url, reader)
    minutes = (
        pd.to_numeric(df["period_minutes"], errors="coerce").fillna(60)
        if "period_minutes" in df
        else pd.Series(60.0, index=df.index)
    )
    precip = pd.to_numeric(df["precip_mm"].replace("", np.nan), errors="coerce")
    out = pd.DataFrame(
        {
            "station_id": df["station_id"].str.strip(),
            "network": "csv",
            "time_end": end,
            "period_s": (minutes * 60).astype("int64"),
            "precip_mm": precip,
            "lat": df["lat"],
            "lon": df["lon"],
            "elevation_m": df.get("elevation_m", np.nan),
            "station_name": df.get("station_name", ""),
            "source_quality": 0,
            "source_file": str(url),
        }
    )
    out["time_start"] = out["time_end"] - pd.to_timedelta(out["period_s"], unit="s")
    return _finish(out)


READERS = {
    "isd": read_isd_csv,
    "ghcnd": read_ghcnd_csv,
    "arm": read_arm_netcdf,
    "csv": read_plain_csv,
}


def read_gauge_file(
    url: str, kind: str | None = None, storage_options: dict | None = None
) -> pd.DataFrame:
    """Read one gauge file; ``kind`` in :data:`READERS` or inferred from the name/content."""
    if kind is None:
        kind = guess_kind(url)
    if kind not in READERS:
        raise UnreadableFileError(url, f"unknown gauge format {kind!r}", "gauges")
    return READERS[kind](url, storage_options=storage_options)


def guess_kind(url: str) -> str:
    """Infer the gauge format from the file name (ARM datastream, GHCN id, ISD id)."""
    base = os.path.basename(str(url)).lower()
    if base.endswith((".nc", ".cdf", ".nc4")):
        return "arm"
    if "ghcn" in base or base.startswith(("us1", "usc", "usw")) or base.endswith(".csv.gz"):
        return "ghcnd"
    stem = base.split(".")[0]
    if stem.isdigit() and len(stem) == 11:
        return "isd"  # ISD global-hourly keys are <USAF><WBAN>.csv
    if "isd" in base:
        return "isd"
    return "csv"
