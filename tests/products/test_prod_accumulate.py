"""Daily totals from hourly rates, for grids and gauge tables."""

import numpy as np
import pandas as pd
import pytest

from fusion_ops.products import ProductInputError
from fusion_ops.products.accumulate import daily_total_mm, gauge_daily_totals


def test_daily_total_is_the_sum_when_every_hour_is_present():
    hourly = np.full((24, 2, 3), 0.5)
    total, n = daily_total_mm(hourly)
    assert total == pytest.approx(np.full((2, 3), 12.0))
    assert (n == 24).all()


def test_partial_hours_give_the_sampling_estimate_and_nan_when_never_seen():
    hourly = np.full((24, 1, 2), np.nan)
    hourly[14, 0, 0] = 3.0  # one overpass
    total, n = daily_total_mm(hourly)
    assert total[0, 0] == pytest.approx(72.0) and n[0, 0] == 1
    assert np.isnan(total[0, 1]) and n[0, 1] == 0
    assert np.isnan(daily_total_mm(hourly, min_hours=2)[0][0, 0])
    with pytest.raises(ProductInputError, match="hourly steps"):
        daily_total_mm(np.zeros((25, 1, 1)))


def _table():
    ends = pd.date_range("2009-05-20 01:00", periods=24, freq="h", tz="UTC")
    rows = []
    for station, lat, lon, amount in (("A", 28.0, -80.6, 0.254), ("B", 28.2, -80.9, 1.0)):
        for t in ends:
            rows.append((station, t, amount, lat, lon))
    rows.append(("A", pd.Timestamp("2009-05-21 01:00", tz="UTC"), 50.0, 28.0, -80.6))  # next day
    table = pd.DataFrame(rows, columns=["station_id", "time", "precip_mm", "lat_deg", "lon_deg"])
    table.loc[(table.station_id == "B") & (table.index % 24 == 5), "precip_mm"] = np.nan
    return table


def test_gauge_daily_totals_need_every_hour():
    out = gauge_daily_totals(_table(), "2009-05-20")
    assert list(out.index) == ["A", "B"]
    assert out.loc["A", "daily_mm"] == pytest.approx(24 * 0.254)
    assert out.loc["A", "n_hours"] == 24
    assert np.isnan(out.loc["B", "daily_mm"]) and out.loc["B", "n_hours"] == 23
    assert out.loc["B", "lat_deg"] == 28.2


def test_gauge_table_missing_column_names_the_input():
    with pytest.raises(ProductInputError, match="precip_mm"):
        gauge_daily_totals(_table().drop(columns="precip_mm"), "2009-05-20")


def test_partial_coverage_hour_is_not_valid():
    table = _table()
    table["coverage"] = 1.0
    table.loc[(table.station_id == "A") & (table.index == 3), "coverage"] = 0.5
    out = gauge_daily_totals(table, "2009-05-20")
    assert out.loc["A", "n_hours"] == 23 and np.isnan(out.loc["A", "daily_mm"])
