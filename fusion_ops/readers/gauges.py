"""Rain-gauge readers: ISD global-hourly CSV, GHCN-Daily CSV, ARM precipitation netCDF, plain CSV.

Every reader returns the *native accumulation table* (one row per reported accumulation):

==============  ======================  ==================================================
column          dtype                   meaning
==============  ======================  ==================================================
station_id      str                     network-unique id (ISD ``STATION``, GHCN ``ID``, ...)
network         str                     ``isd``, ``ghcnd``, ``arm_met``, ``arm_pluvio2``,
                                        ``arm_stamppcp``, ``arm_ld``, ``arm_aosmet``, ``csv``
time_start      datetime64[ns, UTC]     start of the accumulation interval
time_end        datetime64[ns, UTC]     end of the accumulation interval
period_s        int64                   interval length (s)
precip_mm       float64                 accumulated depth (mm), NaN = missing
lat, lon        float64                 station position (deg)
elevation_m     float64                 station elevation (m), NaN if unknown
station_name    str
source_quality  int64                   0 = source says good; 1 = source flags it bad;
                                        2 = source calls it suspect (ARM Indeterminate)
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


#: ARM precipitation variables, in order of preference: ``(variable, network, station suffix,
#: datastream)``.  The product is recognised by the variables a file holds, never by its name;
#: whether a variable is a depth per interval or a rate is read from its ``units``.
ARM_PRECIP_VARIABLES: tuple[tuple[str, str, str, str], ...] = (
    ("tbrg_precip_total", "arm_met", "", "MET tipping bucket, mm per interval"),
    ("tbrg_precip_total_corr", "arm_met", "", "MET tipping bucket, corrected, mm per interval"),
    ("accum_nrt", "arm_pluvio2", "_pluvio2", "Pluvio2 weighing gauge, mm per interval"),
    ("accum_rtnrt", "arm_pluvio2", "_pluvio2", "Pluvio2, real time / non real time, mm"),
    ("intensity_rtnrt", "arm_pluvio2", "_pluvio2", "Pluvio2 intensity, mm/hr"),
    ("intensity_rt", "arm_pluvio2", "_pluvio2", "Pluvio2 heavy-precipitation intensity, mm/hr"),
    ("precip", "arm_stamppcp", "_stamppcp", "STAMP tipping bucket (stamppcp), mm per interval"),
    ("precip_rate", "arm_ld", "_ld", "Parsivel2 laser disdrometer (ld), mm/hr"),
    ("rain_intensity", "arm_aosmet", "_aosmet", "AOS MET Vaisala WXT, mm/hr"),
)

#: ARM QC assessments: ``Bad``/``Incorrect`` (automated tests / after DQR) make a value bad,
#: ``Indeterminate``/``Suspect`` make it suspect.
_ARM_BAD = {"bad", "incorrect"}
_ARM_SUSPECT = {"indeterminate", "suspect"}

#: Pluvio2 ``pluvio_status`` bits (``flag_meanings``) that make a value bad or suspect; the USB
#: and bucket-fill bits say nothing about the measurement.
_PLUVIO_STATUS_BAD = {
    "weight_change_not_permitted",
    "volt_supply_below_7V",
    "weight_measure_defective",
    "weight_below_min",
    "weight_above_max",
    "no_weight_calib",
}
_PLUVIO_STATUS_SUSPECT = {"weight_measure_unstable", "restart_power_failure", "restart_firmware"}

#: ``source_quality`` values.
SOURCE_GOOD, SOURCE_BAD, SOURCE_SUSPECT = 0, 1, 2


def _open_arm(url: str, data: bytes, reader: str):
    import xarray as xr

    try:
        return xr.open_dataset(io.BytesIO(data), engine="h5netcdf")
    except Exception:  # noqa: BLE001 - classic netCDF-3 is not HDF5: try scipy/netCDF4
        try:
            return xr.open_dataset(io.BytesIO(data), engine="scipy")
        except Exception as exc:  # noqa: BLE001
            return _open_netcdf4_memory(url, data, reader, exc)


def arm_precip_variable(variables) -> tuple[str, str, str] | None:
    """``(variable, network, station suffix)`` of the ARM precipitation product whose variables
    ``variables`` holds, or ``None``."""
    for var, network, suffix, _ in ARM_PRECIP_VARIABLES:
        if var in variables:
            return var, network, suffix
    return None


def _depth_per_interval(values: np.ndarray, units: str, period_s: np.ndarray) -> np.ndarray | None:
    """Depth (mm) from a variable in ``units``; ``None`` for units it does not know."""
    u = units.strip().lower().replace(" ", "")
    if u in ("mm", "millimeters", "millimetres"):
        return values
    if u in ("mm/hr", "mm/h", "mmhr-1", "mmh-1", "mm/hour", "mmh^-1", "mmhr^-1"):
        return values * period_s / 3600.0
    return None


def _bit_assessments(qc, attrs: Mapping) -> tuple[int, int, int]:
    """Masks ``(bad, suspect, described)`` of an ARM bit-packed QC variable.

    Either ``bit_N_assessment`` attributes (N from 1, bit value ``2**(N-1)``) on the variable or,
    for older files, ``qc_bit_N_assessment`` global attributes; or ``flag_masks`` with
    ``flag_assessments`` (ARM's newer layout).
    """
    bad = suspect = described = 0
    masks = qc.attrs.get("flag_masks")
    assessments = qc.attrs.get("flag_assessments")
    if masks is not None and assessments is not None:
        if isinstance(assessments, str):
            assessments = assessments.split()
        pairs = zip(np.atleast_1d(masks).tolist(), list(assessments), strict=False)
    else:
        pairs = []
        for n in range(1, 64):
            text = qc.attrs.get(f"bit_{n}_assessment", attrs.get(f"qc_bit_{n}_assessment"))
            if text is not None:
                pairs.append((1 << (n - 1), text))
    for mask, text in pairs:
        word = str(text).strip().lower()
        described |= int(mask)
        if word in _ARM_BAD:
            bad |= int(mask)
        else:  # Indeterminate, Suspect or a word ARM has not defined: use with caution
            suspect |= int(mask)
    return bad, suspect, described


def _as_int(values) -> np.ndarray:
    v = np.asarray(values, dtype=np.float64)
    return np.nan_to_num(v, nan=0.0).astype(np.int64)


def arm_source_quality(ds, var: str) -> np.ndarray:
    """Per-value ``source_quality`` of ``ds[var]`` from ARM's QC (0 good, 1 bad, 2 suspect).

    The ARM QC variable (``qc_<var>``, or a ``qc_`` name in ``ancillary_variables``) is a
    bit-packed integer, 0 = passed every test; each set bit is assessed by its
    ``bit_N_assessment`` (or ``flag_masks``/``flag_assessments``): Bad / Incorrect -> bad,
    Indeterminate / Suspect -> suspect; a set bit the file does not describe counts as bad.
    Pluvio2 files carry no ``qc_`` variable: their ancillary ``maintenance_flag`` and
    ``reset_flag`` (non-zero: bucket emptied or serviced, "values should be ignored") make a value
    bad, and ``pluvio_status`` bits are assessed by name (:data:`_PLUVIO_STATUS_BAD`,
    :data:`_PLUVIO_STATUS_SUSPECT`).
    """
    n = ds[var].size
    quality = np.full(n, SOURCE_GOOD, dtype=np.int64)
    ancillary = str(ds[var].attrs.get("ancillary_variables", "")).split()
    qc_names = [f"qc_{var}"] + [a for a in ancillary if a.startswith("qc_") and a != f"qc_{var}"]
    for name in qc_names:
        if name not in ds:
            continue
        qc = ds[name]
        bits = _as_int(qc.values).reshape(-1)
        bad, suspect, described = _bit_assessments(qc, ds.attrs)
        is_bad = (bits & (bad | ~described)) != 0
        is_suspect = (bits & suspect) != 0
        return np.where(is_bad, SOURCE_BAD, np.where(is_suspect, SOURCE_SUSPECT, SOURCE_GOOD))
    for name in ("maintenance_flag", "reset_flag"):
        if name in ds and ds[name].shape == ds[var].shape:
            quality = np.where(_as_int(ds[name].values).reshape(-1) != 0, SOURCE_BAD, quality)
    if "pluvio_status" in ds and ds["pluvio_status"].shape == ds[var].shape:
        status = ds["pluvio_status"]
        masks = np.atleast_1d(status.attrs.get("flag_masks", [])).tolist()
        meanings = str(status.attrs.get("flag_meanings", "")).split()
        bad = sum(int(m) for m, w in zip(masks, meanings, strict=False) if w in _PLUVIO_STATUS_BAD)
        sus = sum(
            int(m) for m, w in zip(masks, meanings, strict=False) if w in _PLUVIO_STATUS_SUSPECT
        )
        bits = _as_int(status.values).reshape(-1)
        quality = np.where((bits & bad) != 0, SOURCE_BAD, quality)
        quality = np.where(((bits & sus) != 0) & (quality == 0), SOURCE_SUSPECT, quality)
    return quality


def read_arm_netcdf(url: str, storage_options: dict | None = None) -> pd.DataFrame:
    """An ARM precipitation netCDF: MET, STAMP ``stamppcp``, Pluvio2, LD or AOS MET.

    The product is detected from the variables the file holds (:data:`ARM_PRECIP_VARIABLES`,
    first match): MET ``tbrg_precip_total`` (mm per interval), STAMP ``stamppcp`` ``precip``
    (mm per interval), Pluvio2 ``accum_nrt`` (mm) or its intensities (mm/hr), the laser
    disdrometer's ``precip_rate`` and the AOS MET ``rain_intensity`` (mm/hr); a rate becomes a
    depth over its interval.  ARM times mark the END of each interval (``time_bounds`` where
    present, else the file's time step).  ARM's QC sets ``source_quality``
    (:func:`arm_source_quality`: 0 good, 1 bad, 2 suspect); values are flagged, never dropped.
    """
    reader = "arm_netcdf"
    data = _read_bytes(url, reader, storage_options)
    ds = _open_arm(url, data, reader)
    with ds:
        found = arm_precip_variable(ds.variables)
        if found is None:
            names = ", ".join(sorted(str(v) for v in ds.data_vars)) or "none"
            known = ", ".join(v for v, *_ in ARM_PRECIP_VARIABLES)
            raise UnreadableFileError(
                url,
                f"not a known ARM precipitation layout: none of {known}; variables found: {names}",
                reader,
            )
        var, network, suffix = found
        try:
            end = pd.to_datetime(ds["time"].values, utc=True)
            values = np.asarray(ds[var].values, dtype=np.float64).reshape(-1)
        except Exception as exc:  # noqa: BLE001 - truncated variables fail on access
            raise UnreadableFileError(url, describe_exception(exc), reader) from exc
        if values.size != end.size:
            raise UnreadableFileError(url, f"{var} is not a time series {ds[var].dims}", reader)
        if "time_bounds" in ds:
            start = pd.to_datetime(ds["time_bounds"].values[:, 0], utc=True)
        else:
            steps = np.diff(end.asi8) / 1e9 if end.size > 1 else np.array([60.0])
            step = float(np.median(steps)) if steps.size and np.median(steps) > 0 else 60.0
            start = end - pd.Timedelta(seconds=step)
        period_s = np.asarray((end - start).total_seconds(), dtype=np.float64)
        fill = [ds[var].attrs.get(k) for k in ("missing_value", "_FillValue")]
        fill = [f for f in fill if f is not None] + [-9999.0]
        values = np.where(np.isin(values, np.asarray(fill, dtype=np.float64)), np.nan, values)
        units = str(ds[var].attrs.get("units", "mm"))
        precip = _depth_per_interval(values, units, period_s)
        if precip is None:
            raise UnreadableFileError(url, f"{var} has units {units!r}, not mm or mm/hr", reader)
        srcq = arm_source_quality(ds, var)
        site = str(ds.attrs.get("site_id", ""))
        facility = str(ds.attrs.get("facility_id", ""))
        station = f"{site}{facility}" if site or facility else os.path.basename(str(url))[:8]
        station = f"{station}{suffix}"

        def scalar(name: str) -> float:
            return float(np.asarray(ds[name].values).reshape(-1)[0]) if name in ds else np.nan

        out = pd.DataFrame(
            {
                "station_id": station,
                "network": network,
                "time_start": start,
                "time_end": end,
                "period_s": period_s.astype("int64"),
                "precip_mm": precip,
                "lat": scalar("lat"),
                "lon": scalar("lon"),
                "elevation_m": scalar("alt"),
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
    """Read one gauge file; ``kind`` in :data:`READERS`, else netCDF by content, else by name."""
    if kind is None:
        kind = "arm" if is_netcdf(url, storage_options) else guess_kind(url)
    if kind not in READERS:
        raise UnreadableFileError(url, f"unknown gauge format {kind!r}", "gauges")
    return READERS[kind](url, storage_options=storage_options)


#: First bytes of netCDF-3 (classic, 64-bit offset, 64-bit data) and netCDF-4 (HDF5) files.
NETCDF_MAGIC = (b"CDF\x01", b"CDF\x02", b"CDF\x05", b"\x89HDF\r\n\x1a\n")


def is_netcdf(url: str, storage_options: dict | None = None) -> bool:
    """Whether the file starts like a netCDF file (False where it cannot be opened)."""
    try:
        with fsspec.open(
            str(url), "rb", compression="infer", **fs_options(url, storage_options)
        ) as fh:
            head = fh.read(8)
    except (OSError, EOFError, ValueError):
        return False
    return head.startswith(NETCDF_MAGIC)


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
