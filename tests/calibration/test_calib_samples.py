import numpy as np
import pandas as pd
import pytest
import xarray as xr

from fusion_ops.calibration.features import PROFILE_HEIGHTS_M
from fusion_ops.calibration.samples import (
    SampleInputError,
    footprint_average,
    gr_coverage_mask,
    is_heldout_station,
    mlp1_samples,
    mlp2_samples,
    mlp3_samples,
)

T0 = pd.Timestamp("2009-05-20T12:00", tz="UTC")


def _profiles(times, stations=("A", "B"), dbz=30.0):
    rows = []
    for s in stations:
        for t in times:
            for h in PROFILE_HEIGHTS_M:
                rows.append(
                    {
                        "station_id": s,
                        "time": t,
                        "site_id": "KMLB",
                        "height_m": float(h),
                        "gauge_range_m": 50_000.0 if s == "A" else 120_000.0,
                        "reflectivity_dbz": dbz if h < 4000 else np.nan,
                        "zdr_db": 0.5,
                        "kdp_deg_km": 0.1,
                    }
                )
    return pd.DataFrame(rows)


def test_mlp1_pairs_follow_the_gauge_interval():
    # volumes start every 5 min from 11:00 to 12:55; hourly gauge intervals [11, 12) and [12, 13)
    times = [T0 - pd.Timedelta(minutes=60) + pd.Timedelta(minutes=5 * i) for i in range(24)]
    gauges = pd.DataFrame(
        {
            "station_id": ["A", "A", "B"],
            "time_end": [T0, T0 + pd.Timedelta(hours=1), T0 + pd.Timedelta(hours=1)],
            "precip_mm": [2.0, 4.0, 1.0],
            "coverage": [1.0, 1.0, 1.0],
            "qc_flags": [0, 0, 4],
        }
    )
    out = mlp1_samples(_profiles(times), gauges)
    # B's only interval failed QC: no B samples at all
    assert set(out["station_id"]) == {"A"}
    first = out[out["interval_end"] == T0]
    second = out[out["interval_end"] == T0 + pd.Timedelta(hours=1)]
    # a volume stamped with its start time t samples [t, t + 5 min): the 12:00 volume belongs
    # to the hour that begins at 12:00, not to the one the 12:00 report closes
    assert len(first) == 12
    assert first["time"].min() == T0 - pd.Timedelta(hours=1)
    assert first["time"].max() == T0 - pd.Timedelta(minutes=5)
    assert len(second) == 12 and second["time"].min() == T0
    assert first["gauge_rate_mm_h"].unique().tolist() == [2.0]
    assert second["gauge_rate_mm_h"].unique().tolist() == [4.0]
    assert out["group"].nunique() == 2
    assert out["range_km"].iloc[0] == pytest.approx(50.0)
    assert out["dbz_h00500"].iloc[0] == 30.0 and np.isnan(out["dbz_h04000"].iloc[0])


def test_mlp1_drops_poorly_covered_intervals():
    times = [T0 - pd.Timedelta(minutes=5 * i) for i in range(3)]  # 3 of 12 volumes
    gauges = pd.DataFrame(
        {
            "station_id": ["A"],
            "time_start": [T0 - pd.Timedelta(hours=1)],
            "time_end": [T0],
            "precip_mm": [1.0],
        }
    )
    assert mlp1_samples(_profiles(times, ("A",)), gauges).empty


def test_missing_columns_name_the_table():
    with pytest.raises(SampleInputError, match="gauge accumulations: missing column"):
        mlp1_samples(_profiles([T0]), pd.DataFrame({"station_id": ["A"]}))


def test_heldout_stations_are_stable_and_about_a_quarter():
    ids = [f"72{i:04d}" for i in range(400)]
    a, b = is_heldout_station(ids), is_heldout_station(ids)
    assert np.array_equal(a, b)
    assert 0.18 < a.mean() < 0.32


def _grid_rain(times, value_fn):
    lat = np.arange(27.5, 28.5, 0.01)
    lon = np.arange(-81.0, -80.0, 0.01)
    glat, glon = np.meshgrid(lat, lon, indexing="ij")
    data = np.stack([value_fn(glat, glon, k) for k in range(len(times))])
    return xr.Dataset(
        {"rain_rate": (("time", "lat", "lon"), data.astype(np.float32))},
        coords={
            "time": [t.tz_convert(None).to_datetime64() for t in times],
            "lat": lat,
            "lon": lon,
        },
    )


def test_footprint_average_uses_cells_within_the_radius():
    ds = _grid_rain([T0], lambda la, lo, k: np.where(lo > -80.5, 10.0, 0.0))
    out = footprint_average(
        ds["rain_rate"].to_numpy(),
        ds["lat"].to_numpy(),
        ds["lon"].to_numpy(),
        np.array([28.0, 28.0, 28.0]),
        np.array([-80.2, -80.8, -80.5]),
    )
    assert out[0] == pytest.approx(10.0) and out[1] == pytest.approx(0.0)
    assert 3.0 < out[2] < 7.0  # straddles the edge


def test_mlp2_matches_volumes_within_five_minutes():
    times = [T0 + pd.Timedelta(minutes=5 * k) for k in range(4)]  # 12:00 .. 12:15
    ds = _grid_rain(times, lambda la, lo, k: np.full(la.shape, float(k)))
    fp = pd.DataFrame(
        {
            "time": [T0 + pd.Timedelta(minutes=7), T0 + pd.Timedelta(minutes=40)],
            "lat": [28.0, 28.0],
            "lon": [-80.5, -80.5],
            "precip_rate_near_surface_mm_h": [1.0, 1.0],
            "precip_type": [1, 2],
            "zku_h01000": [30.0, 35.0],
        }
    )
    out = mlp2_samples(fp, ds)
    # 12:07 matches 12:05 and 12:10 (mean of 1 and 2); 12:40 has no volume within 5 min
    assert len(out) == 1
    assert out["gr_rain_mm_h"].iloc[0] == pytest.approx(1.5)
    assert out["type_stratiform"].iloc[0] == 1.0 and out["type_convective"].iloc[0] == 0.0


def test_mlp3_pairs_inside_coverage_keep_all_rain():
    times = [T0]
    gr = _grid_rain(times, lambda la, lo, k: np.where((la > 28.0) & (la < 28.05), 5.0, 0.0))
    gr["coverage"] = (
        ("lat", "lon"),
        gr_coverage_mask(gr.lat.values, gr.lon.values, 28.0, -80.5, max_range_km=40.0),
    )
    abi = gr[["rain_rate"]].rename({"rain_rate": "bt_c14"}) * 0 + 250.0
    out = mlp3_samples(abi, gr, ["bt_c14", "bt_c08"], stride=4)
    raining = (gr["rain_rate"].values[0] > 0) & gr["coverage"].values
    assert (out["gr_rain_mm_h"] > 0).sum() == raining.sum()
    assert set(out.columns) >= {"time", "lat", "lon", "bt_c14", "gr_rain_mm_h"}
    assert "bt_c08" not in out.columns
    dry = out[out["gr_rain_mm_h"] == 0]
    assert 0 < len(dry) < (gr["coverage"].values.sum() - raining.sum()) / 8
    capped = mlp3_samples(abi, gr, ["bt_c14"], stride=1, max_pairs=40)
    assert len(capped) == 40 and (capped["gr_rain_mm_h"] > 0).sum() == 20
