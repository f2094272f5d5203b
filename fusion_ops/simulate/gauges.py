"""Rain-gauge observer: tipping buckets in four networks, written as ISD global-hourly CSV.

Each station integrates the 1-min truth at its position, loses a wind-dependent share of the
catch (undercatch), quantises the catch into 0.254 mm (0.01 in) tips that carry over between
hours, and reports hourly totals in the ISD ``AA1`` group (period hours, depth in tenths of mm,
condition code, quality code). Occasional hours are missing and a few stations stick (repeat
their last report) for a while, as real feeds do; QC downstream has to deal with that.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd

from fusion_ops.simulate.truth import TruthModel

__all__ = [
    "ISD_COLUMNS",
    "TIP_MM",
    "GaugeDay",
    "Station",
    "isd_history_csv",
    "make_stations",
    "simulate_gauge_day",
    "station_csv",
]

TIP_MM = 0.254
#: (name, gauges, spread km, centre km east/north of the radar); a spread of ``None`` scatters the
#: network uniformly over the domain (a statewide mesonet reaching the far ranges of the radar,
#: where the calibration has most to correct).
NETWORKS: tuple[tuple[str, int, float | None, tuple[float, float]], ...] = (
    ("KSCN", 33, 35.0, (45.0, 30.0)),
    ("SJRN", 46, 70.0, (-40.0, 60.0)),
    ("SFWN", 99, 95.0, (0.0, -55.0)),
    ("MESO", 160, None, (0.0, 0.0)),
)
ISD_COLUMNS = [
    "STATION",
    "DATE",
    "SOURCE",
    "LATITUDE",
    "LONGITUDE",
    "ELEVATION",
    "NAME",
    "REPORT_TYPE",
    "CALL_SIGN",
    "QUALITY_CONTROL",
    "WND",
    "CIG",
    "VIS",
    "TMP",
    "DEW",
    "SLP",
    "AA1",
]


@dataclass(frozen=True)
class Station:
    """One gauge: ISD identifiers, position, network and its wind exposure."""

    usaf: str
    wban: str
    name: str
    network: str
    latitude_deg: float
    longitude_deg: float
    elevation_m: float
    x_km: float
    y_km: float
    mean_wind_ms: float

    @property
    def station_id(self) -> str:
        """ISD ``STATION`` field: USAF (6) + WBAN (5)."""
        return f"{self.usaf}{self.wban}"


def make_stations(truth: TruthModel, seed: int = 0) -> list[Station]:
    """The four gauge networks (33, 46, 99 clustered and 160 uniform gauges) around the radar."""
    rng = np.random.default_rng([seed, 555])
    dom = truth.domain
    lim = min(dom.width_km, dom.height_km) / 2.0 - 5.0
    out = []
    for n_idx, (net, n, spread, (cx, cy)) in enumerate(NETWORKS):
        if spread is None:
            x, y = rng.uniform(-lim, lim, n), rng.uniform(-lim, lim, n)
        else:
            x = np.clip(cx + rng.normal(0, spread / 2, n), -lim, lim)
            y = np.clip(cy + rng.normal(0, spread / 2, n), -lim, lim)
        lat, lon = dom.to_latlon(x, y)
        for k in range(n):
            out.append(
                Station(
                    usaf=f"99{n_idx + 1}{k:03d}",
                    wban="99999",
                    name=f"{net} GAUGE {k + 1:03d}, FL US",
                    network=net,
                    latitude_deg=round(float(lat[k]), 5),
                    longitude_deg=round(float(lon[k]), 5),
                    elevation_m=round(float(rng.uniform(2.0, 30.0)), 1),
                    x_km=float(x[k]),
                    y_km=float(y[k]),
                    mean_wind_ms=float(rng.uniform(1.5, 5.0)),
                )
            )
    return out


@dataclass
class GaugeDay:
    """One day of gauge data.

    Attributes
    ----------
    true_hourly_mm : (n_stations, 24) truth rain at the gauge position (no gauge errors).
    reported_hourly_mm : (n_stations, 24) what the gauge reports (NaN = missing).
    true_minute_mm_h : (n_stations, 1440) 1-min truth rain rate.

    Column ``h`` of the hourly arrays is the hour that ends at ``day + h hours`` (so column 0
    is the last hour of the previous day), matching the ISD rows dated ``hh:00``.
    """

    day: date
    stations: list[Station]
    true_hourly_mm: np.ndarray
    reported_hourly_mm: np.ndarray
    true_minute_mm_h: np.ndarray


def simulate_gauge_day(
    truth: TruthModel, stations: list[Station], day: date, seed: int = 0
) -> GaugeDay:
    """Integrate the 1-min truth at each gauge and apply the gauge's errors."""
    x = np.array([s.x_km for s in stations])
    y = np.array([s.y_km for s in stations])
    day0 = datetime(day.year, day.month, day.day, tzinfo=UTC)
    # Hour h of the day is reported at hh:00 for the hour that ends then (the first report of
    # the day closes the last hour of the day before), so every row lies inside its UTC day.
    times = [day0 + timedelta(minutes=m - 60 + 0.5) for m in range(1440)]
    rates = truth.rain_series_at_points(x, y, times)
    minute_mm = rates / 60.0
    true_hourly = minute_mm.reshape(len(stations), 24, 60).sum(axis=2)

    rng = np.random.default_rng([seed, day.toordinal(), 77])
    wind = np.array([s.mean_wind_ms for s in stations])[:, None] * rng.lognormal(
        0, 0.3, (len(stations), 1)
    )
    # Undercatch of an unshielded tipping bucket grows with wind speed (a few % per m/s).
    catch = minute_mm / (1.0 + 0.025 * wind)
    # The bucket keeps its partial fill between hours (and starts each day with a random fill).
    fill0 = rng.uniform(0, TIP_MM, (len(stations), 1))
    cum = fill0 + np.cumsum(catch, axis=1)
    tips = np.floor(cum / TIP_MM)
    tips_hour = np.diff(
        np.concatenate([np.zeros((len(stations), 1)), tips[:, 59::60]], axis=1), axis=1
    )
    reported = tips_hour * TIP_MM

    missing = rng.random(reported.shape) < 0.01
    # Outages: a few stations go silent for several hours.
    for s in np.nonzero(rng.random(len(stations)) < 0.03)[0]:
        h0 = rng.integers(0, 20)
        missing[s, h0 : h0 + rng.integers(2, 8)] = True
    # Stuck reports: the last value repeats for a few hours.
    for s in np.nonzero(rng.random(len(stations)) < 0.02)[0]:
        h0 = int(rng.integers(1, 20))
        reported[s, h0 : h0 + int(rng.integers(3, 8))] = reported[s, h0 - 1]
    reported = np.where(missing, np.nan, reported)
    return GaugeDay(day, stations, true_hourly, reported, rates)


def _isd_rows(station: Station, day: date, hourly_mm: np.ndarray) -> list[list[str]]:
    rows = []
    for h in range(24):
        t = datetime(day.year, day.month, day.day, h)  # report closing the hour (h-1, h]
        v = hourly_mm[h]
        if np.isfinite(v):
            tenths = int(round(v * 10))
            # Condition 3 = measured (begin/end of period); 2 = trace for a sub-0.1 mm amount.
            aa1 = f"01,{tenths:04d},{3 if tenths > 0 else 9},1"
        else:
            aa1 = "01,9999,9,9"
        rows.append(
            [
                station.station_id,
                t.strftime("%Y-%m-%dT%H:%M:%S"),
                "4",
                f"{station.latitude_deg:.5f}",
                f"{station.longitude_deg:.5f}",
                f"{station.elevation_m:.1f}",
                station.name,
                "FM-15",
                "99999",
                "V020",
                "999,9,9,9999,9",
                "99999,9,9,9",
                "999999,9,9,9",
                "+9999,9",
                "+9999,9",
                "99999,9",
                aa1,
            ]
        )
    return rows


def station_csv(station: Station, days: dict[date, np.ndarray], existing: str | None = None) -> str:
    """ISD global-hourly CSV text of one station; merges into ``existing`` text (same year).

    Rows for the given days replace earlier rows of those days, so re-writing a day is
    idempotent.
    """
    frames = []
    if existing:
        old = pd.read_csv(io.StringIO(existing), dtype=str, keep_default_na=False)
        keep = ~old["DATE"].str[:10].isin({d.isoformat() for d in days})
        frames.append(old.loc[keep, ISD_COLUMNS])
    for d, hourly in days.items():
        frames.append(pd.DataFrame(_isd_rows(station, d, hourly), columns=ISD_COLUMNS))
    df = pd.concat(frames, ignore_index=True).sort_values("DATE", kind="stable")
    buf = io.StringIO()
    df.to_csv(buf, index=False, quoting=csv.QUOTE_ALL, lineterminator="\n")
    return buf.getvalue()


def isd_history_csv(stations: list[Station], begin: date, end: date) -> str:
    """Station list in the layout of NOAA's ``isd-history.csv``."""
    buf = io.StringIO()
    w = csv.writer(buf, quoting=csv.QUOTE_ALL, lineterminator="\n")
    w.writerow(
        [
            "USAF",
            "WBAN",
            "STATION NAME",
            "CTRY",
            "STATE",
            "ICAO",
            "LAT",
            "LON",
            "ELEV(M)",
            "BEGIN",
            "END",
        ]
    )
    for s in stations:
        w.writerow(
            [
                s.usaf,
                s.wban,
                s.name.split(",")[0],
                "US",
                "FL",
                "",
                f"{s.latitude_deg:+.3f}",
                f"{s.longitude_deg:+.3f}",
                f"{s.elevation_m:+.1f}",
                begin.strftime("%Y%m%d"),
                end.strftime("%Y%m%d"),
            ]
        )
    return buf.getvalue()
