"""A day of sources read from a local S3 server (moto on loopback) through the same readers."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import s3fs

from fusion_ops.gauges.ingest import ingest_gauge_day
from fusion_ops.gauges.qc import daily_totals
from fusion_ops.grid import ProductGrid
from fusion_ops.readers.ground_radar import list_volumes, read_volume
from fusion_ops.readers.satellite import hourly_features, list_abi_files
from fusion_ops.readers.spaceborne import read_2a

C13 = "OR_ABI-L1b-RadM1-M6C13_G17_s20193351027275_e20193351027344_c20193351027405.nc"


@pytest.mark.integration
def test_day_of_sources_from_s3(s3_bucket, shared_data):
    bucket, opts = s3_bucket
    fs = s3fs.S3FileSystem(**opts)
    base = f"{bucket}/archive"
    fs.put_file(
        str(shared_data / "radar" / "KLBB20160601_150025_V06"),
        f"{base}/nexrad/2016/06/01/KLBB/KLBB20160601_150025_V06",
    )
    fs.pipe_file(f"{base}/nexrad/2016/06/01/KLBB/KLBB20160601_155500_V06", b"AR2V0006.")
    fs.put_file(
        str(shared_data / "gauges" / "bnfmetM1.b1.20250619.000000.cdf"),
        f"{base}/gauges/2025/06/19/bnfmetM1.b1.20250619.000000.cdf",
    )
    gpm = "2A.GPM.Ku.V9-20211125.20140308-S220950-E234217.000144.V07A.HDF5"
    fs.put_file(str(shared_data / "spaceborne" / gpm), f"{base}/spaceborne/2014/03/08/{gpm}")
    fs.put_file(str(shared_data / "satellite" / C13), f"{base}/goes/ABI-L1b-RadM/2019/335/10/{C13}")

    root = f"s3://{base}"
    urls = list_volumes(f"{root}/nexrad", "2016-06-01", "KLBB", opts)
    assert [u.rsplit("/", 1)[-1] for u in urls] == [
        "KLBB20160601_150025_V06",
        "KLBB20160601_155500_V06",
    ]
    assert all(u.startswith("s3://") for u in urls)
    vol = read_volume(urls[0], storage_options=opts)
    assert len(vol.sweeps) == 11 and vol.max_reflectivity_dbz() == pytest.approx(71.5)

    gauges = fs.ls(f"{base}/gauges/2025/06/19")
    day = ingest_gauge_day([f"s3://{g}" for g in gauges], "2025-06-19", storage_options=opts)
    tot = daily_totals(day.native).set_index("station_id")["total_mm"]
    assert tot["bnfM1"] == pytest.approx(19.30, abs=0.01)

    sb = read_2a(f"{root}/spaceborne/2014/03/08/{gpm}", storage_options=opts)
    assert sb.sizes["footprint"] == 100

    files = list_abi_files(f"{root}/goes", "2019-12-01", "ABI-L1b-RadM", storage_options=opts)
    assert [f.rsplit("/", 1)[-1] for f in files] == [C13]
    grid = ProductGrid.from_centres(36.0, 37.0, -121.0, -120.0, 0.1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        feats, quarantine = hourly_features(files, grid, storage_options=opts)
    assert not quarantine and feats.sizes["time"] == 1
    bt = feats["bt_c13"].values
    assert np.isfinite(bt).all() and bt.min() >= 217.0 and bt.max() <= 286.5
