"""ARM precipitation products: STAMP stamppcp, MET, Pluvio2; ARM QC assessments; bad layouts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fusion_ops.gauges.qc import QCFlag, daily_totals, flag_accumulations, hourly_accumulations
from fusion_ops.readers.errors import UnreadableFileError
from fusion_ops.readers.gauges import (
    SOURCE_BAD,
    SOURCE_GOOD,
    SOURCE_SUSPECT,
    read_arm_netcdf,
    read_gauge_file,
)

DAY = "2025-06-19"
QC_DESCRIPTION = (
    "This variable contains bit-packed integer values, where each bit represents a QC test on the "
    "data. Non-zero bits indicate the QC condition given in the description for those bits; a "
    "value of 0 (no bits set) indicates the data has not failed any QC tests."
)
BAD_MINUTE = 12 * 60 + 30  # 12:31 UTC: QC bit 3 (above valid_max, Bad)
SUSPECT_MINUTE = 12 * 60 + 31  # 12:32 UTC: QC bit 4 (valid_delta, Indeterminate)
MISSING_MINUTE = 3 * 60  # 03:01 UTC: missing_value, QC bit 1


def _stamppcp_dataset(qc_layout: str = "bits"):
    """One day of 1-minute STAMP precipitation in the layout of ARM's ``stamppcp`` b1 files."""
    import xarray as xr

    n = 1440
    time = pd.date_range(f"{DAY}T00:01:00", periods=n, freq="1min")
    precip = np.zeros(n, dtype=np.float32)
    precip[12 * 60 : 12 * 60 + 40] = 0.254  # 40 tips of one 0.01 in bucket: 10.16 mm
    precip[BAD_MINUTE] = 50.0  # an impossible minute, assessed Bad by ARM
    precip[SUSPECT_MINUTE] = 0.508  # a jump, assessed Indeterminate
    precip[MISSING_MINUTE] = -9999.0
    qc = np.zeros(n, dtype=np.int32)
    qc[MISSING_MINUTE] = 1
    qc[BAD_MINUTE] = 4
    qc[SUSPECT_MINUTE] = 8
    if qc_layout == "bits":
        qc_attrs = {
            "long_name": "Quality check results on variable: Precipitation",
            "units": "1",
            "description": QC_DESCRIPTION,
            "flag_method": "bit",
            "bit_1_description": "Value is equal to missing_value.",
            "bit_1_assessment": "Bad",
            "bit_2_description": "Value is less than valid_min.",
            "bit_2_assessment": "Bad",
            "bit_3_description": "Value is greater than valid_max.",
            "bit_3_assessment": "Bad",
            "bit_4_description": "Difference between current and previous values exceeds "
            "valid_delta.",
            "bit_4_assessment": "Indeterminate",
        }
    else:  # ARM's flag_masks / flag_assessments layout
        qc_attrs = {
            "long_name": "Quality check results on variable: Precipitation",
            "units": "1",
            "flag_method": "bit",
            "flag_masks": np.array([1, 2, 4, 8], dtype=np.int32),
            "flag_meanings": "missing below_min above_max delta",
            "flag_assessments": "Bad Bad Bad Indeterminate",
        }
    ds = xr.Dataset(
        {
            "base_time": ((), np.int32(int(pd.Timestamp(DAY).timestamp()))),
            "precip": (
                "time",
                precip,
                {
                    "long_name": "Precipitation",
                    "units": "mm",
                    "missing_value": np.float32(-9999.0),
                    "valid_min": np.float32(0.0),
                    "valid_max": np.float32(10.0),
                    "valid_delta": np.float32(0.3),
                    "ancillary_variables": "qc_precip",
                },
            ),
            "qc_precip": ("time", qc, qc_attrs),
            "lat": ((), np.float32(34.1788), {"units": "degree_N"}),
            "lon": ((), np.float32(-87.4539), {"units": "degree_E"}),
            "alt": ((), np.float32(270.0), {"units": "m"}),
        },
        coords={"time": ("time", time)},
        attrs={
            "Conventions": "ARM-1.3",
            "site_id": "bnf",
            "platform_id": "stamppcp",
            "facility_id": "S40",
            "data_level": "b1",
            "location_description": "Bankhead National Forest (BNF), Alabama",
            "datastream": "bnfstamppcpS40.b1",
            "sampling_interval": "1 minute",
        },
    )
    return ds


@pytest.fixture(params=["bits", "flag_assessments"])
def stamppcp_file(request, tmp_path):
    # a name that says nothing: the product is recognised from the variables
    path = tmp_path / "gauge_day_0001.nc"
    _stamppcp_dataset(request.param).to_netcdf(path, engine="h5netcdf")
    return path


def test_stamppcp_daily_total_and_qc(stamppcp_file):
    native = read_gauge_file(str(stamppcp_file))
    assert native["network"].unique().tolist() == ["arm_stamppcp"]
    assert native["station_id"].unique().tolist() == ["bnfS40_stamppcp"]
    assert len(native) == 1440  # no row is dropped, the bad minute included
    assert native["period_s"].unique().tolist() == [60]
    assert native["lat"].iloc[0] == pytest.approx(34.1788, abs=1e-4)
    assert native["elevation_m"].iloc[0] == pytest.approx(270.0)
    sq = native["source_quality"].to_numpy()
    assert sq[BAD_MINUTE] == SOURCE_BAD and sq[MISSING_MINUTE] == SOURCE_BAD
    assert sq[SUSPECT_MINUTE] == SOURCE_SUSPECT
    assert (np.delete(sq, [BAD_MINUTE, SUSPECT_MINUTE, MISSING_MINUTE]) == SOURCE_GOOD).all()
    assert np.isnan(native["precip_mm"].iloc[MISSING_MINUTE])
    assert native["precip_mm"].iloc[BAD_MINUTE] == pytest.approx(50.0)  # kept, flagged

    flagged = flag_accumulations(native)
    flags = flagged["qc_flags"].to_numpy()
    assert flags[BAD_MINUTE] & QCFlag.SOURCE
    assert flags[SUSPECT_MINUTE] & QCFlag.SUSPECT and not flags[SUSPECT_MINUTE] & QCFlag.SOURCE
    assert flags[MISSING_MINUTE] & QCFlag.MISSING
    # the day's total: 40 good tips (one replaced by the suspect 0.508 mm), the bad 50 mm excluded
    expected = 0.254 * 38 + 0.508
    total = daily_totals(flagged).set_index("station_id")["total_mm"]
    assert total["bnfS40_stamppcp"] == pytest.approx(expected, abs=1e-3)
    hourly = hourly_accumulations(flagged).set_index("time_end")
    h13 = hourly.loc[pd.Timestamp(f"{DAY}T13:00", tz="UTC")]
    assert h13["precip_mm"] == pytest.approx(expected, abs=1e-3)
    assert h13["qc_flags"] & QCFlag.SOURCE and h13["qc_flags"] & QCFlag.SUSPECT


def test_met_qc_variable_read_with_its_assessments(shared_data):
    native = read_arm_netcdf(str(shared_data / "gauges" / "bnfmetM1.b1.20250619.000000.cdf"))
    assert native["network"].iloc[0] == "arm_met"
    assert (native["source_quality"] == SOURCE_GOOD).all()
    assert native["precip_mm"].sum() == pytest.approx(19.30, abs=0.01)


def test_pluvio2_status_flags(shared_data, tmp_path):
    import xarray as xr

    src = shared_data / "gauges" / "bnfwbpluvio2M1.a1.20250619.000000.nc"
    with xr.open_dataset(src) as ds:
        ds = ds.load()
    ds["maintenance_flag"].values[100] = 1  # bucket serviced: values to be ignored
    ds["pluvio_status"].values[200] = 128  # weight measurement defective
    ds["pluvio_status"].values[300] = 64  # weight measurement unstable
    ds["pluvio_status"].values[400] = 2  # USB connected: says nothing about the value
    path = tmp_path / "pluvio.nc"
    ds.to_netcdf(path, engine="h5netcdf")
    sq = read_arm_netcdf(str(path))["source_quality"].to_numpy()
    assert sq[100] == SOURCE_BAD and sq[200] == SOURCE_BAD
    assert sq[300] == SOURCE_SUSPECT and sq[400] == SOURCE_GOOD
    assert (sq == SOURCE_GOOD).sum() == 1440 - 3


def test_rate_products_become_depths(tmp_path):
    ds = _stamppcp_dataset().rename({"precip": "precip_rate", "qc_precip": "qc_precip_rate"})
    rate = ds["precip_rate"].values
    ds["precip_rate"].values = np.where(rate == -9999.0, rate, rate * 60.0)  # mm/min -> mm/hr
    ds["precip_rate"].attrs["units"] = "mm/hr"
    path = tmp_path / "ld.nc"
    ds.to_netcdf(path, engine="h5netcdf")
    native = read_arm_netcdf(str(path))
    assert native["network"].iloc[0] == "arm_ld"
    assert native["precip_mm"].iloc[12 * 60] == pytest.approx(0.254, abs=1e-4)
    assert native["source_quality"].iloc[BAD_MINUTE] == SOURCE_BAD


def test_unknown_layout_lists_the_variables(tmp_path):
    ds = _stamppcp_dataset().rename({"precip": "rain_amount", "qc_precip": "qc_rain_amount"})
    path = tmp_path / "other.nc"
    ds.to_netcdf(path, engine="h5netcdf")
    with pytest.raises(UnreadableFileError) as info:
        read_arm_netcdf(str(path))
    message = str(info.value)
    assert str(path) in message
    assert "rain_amount" in message and "qc_rain_amount" in message and "lat" in message
    assert "tbrg_precip_total" in message and "precip" in message
