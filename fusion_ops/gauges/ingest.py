"""One day of gauge files -> QC'd native and hourly accumulation tables + quarantine."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable

import pandas as pd

from fusion_ops.gauges.qc import (
    GaugeQCConfig,
    flag_accumulations,
    hourly_accumulations,
    station_table,
)
from fusion_ops.readers.errors import QuarantineRecord, read_all
from fusion_ops.readers.gauges import empty_native, read_gauge_file


@dataclasses.dataclass
class GaugeDay:
    """QC'd gauge data of one UTC day."""

    native: pd.DataFrame
    hourly: pd.DataFrame
    stations: pd.DataFrame
    quarantine: list[QuarantineRecord]


def ingest_gauge_day(
    files: Iterable[tuple[str, str | None]] | Iterable[str],
    day: dt.date | str,
    qc_config: GaugeQCConfig | None = None,
    storage_options: dict | None = None,
) -> GaugeDay:
    """Read, QC and aggregate the gauge files of ``day``.

    Parameters
    ----------
    files : iterable of url or (url, kind)
        ``kind`` one of ``isd, ghcnd, arm, csv`` (None: inferred from the name).
    day : date
        UTC day; reports whose interval ENDS in ``(day 00:00, day+1 00:00]`` are kept.
        Daily (GHCN) reports are kept when they start on ``day``.

    Returns
    -------
    GaugeDay
        Empty tables (right columns) when there are no files: a missing source is not an error.
    """
    pairs = [(f, None) if isinstance(f, str) else (f[0], f[1]) for f in files]
    kinds = dict(pairs)
    results, quarantine = read_all(
        [u for u, _ in pairs],
        lambda u: read_gauge_file(u, kinds.get(u), storage_options),
        "gauges",
    )
    frames = [df for _, df in results if not df.empty]
    native = pd.concat(frames, ignore_index=True) if frames else empty_native()
    flagged = flag_accumulations(native, qc_config)
    start = pd.Timestamp(day, tz="UTC")
    end = start + pd.Timedelta(days=1)
    in_day = ((flagged["time_end"] > start) & (flagged["time_end"] <= end)) | (
        (flagged["period_s"] >= 86400) & (flagged["time_start"] == start)
    )
    flagged = flagged[in_day].reset_index(drop=True)
    return GaugeDay(
        native=flagged,
        hourly=hourly_accumulations(flagged),
        stations=station_table(flagged),
        quarantine=quarantine,
    )
