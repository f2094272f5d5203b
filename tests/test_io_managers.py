"""IO managers: round trips on a local folder and on S3 over HTTP, partition paths, atomic writes."""

import h5py
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from dagster import (
    AssetExecutionContext,
    AssetIn,
    DailyPartitionsDefinition,
    asset,
    materialize,
)
from upath import UPath

from orchestration.runtime.io_managers import UniversalIOManager, atomic_write, read_value

DAYS = DailyPartitionsDefinition(start_date="2009-05-20", timezone="UTC")


@asset(partitions_def=DAYS)
def gauge_table(context: AssetExecutionContext) -> pd.DataFrame:
    day = context.partition_key
    return pd.DataFrame({"station": ["A", "B"], "rain_mm": [1.5, 0.0], "day": [day, day]})


@asset(partitions_def=DAYS)
def rain_grid(context: AssetExecutionContext) -> xr.Dataset:
    values = np.arange(12, dtype="float32").reshape(3, 4)
    return xr.Dataset(
        {"rain": (("lat", "lon"), values, {"units": "mm"})},
        coords={"lat": [1.0, 2.0, 3.0], "lon": [10.0, 11.0, 12.0, 13.0]},
        attrs={"day": context.partition_key},
    )


@asset(partitions_def=DAYS, ins={"rain_grid": AssetIn()})
def rain_summary(
    context: AssetExecutionContext, gauge_table: pd.DataFrame, rain_grid: xr.Dataset
) -> dict:
    return {
        "total_gauge_mm": float(gauge_table.rain_mm.sum()),
        "grid_max": float(rain_grid.rain.max()),
    }


def _round_trip(io_manager: UniversalIOManager, base: UPath) -> None:
    result = materialize(
        [gauge_table, rain_grid, rain_summary],
        partition_key="2009-05-21",
        resources={"io_manager": io_manager},
    )
    assert result.success
    table = read_value(base / "gauge_table" / "2009-05-21")
    assert list(table.station) == ["A", "B"]
    assert table.rain_mm.tolist() == [1.5, 0.0]
    grid = read_value(base / "rain_grid" / "2009-05-21")
    assert grid.rain.attrs["units"] == "mm"
    np.testing.assert_array_equal(grid.rain.values, np.arange(12).reshape(3, 4))
    assert read_value(base / "rain_summary" / "2009-05-21") == {
        "total_gauge_mm": 1.5,
        "grid_max": 11.0,
    }
    # the files carry the suffix of their format, one partition per file
    assert (base / "gauge_table" / "2009-05-21.parquet").exists()
    assert (base / "rain_grid" / "2009-05-21.nc").exists()
    assert (base / "rain_summary" / "2009-05-21.json").exists()


def test_round_trip_local_folder(tmp_path):
    _round_trip(UniversalIOManager(base_url=str(tmp_path)), UPath(str(tmp_path)))


def test_round_trip_on_s3_over_http(s3_bucket):
    bucket, options = s3_bucket
    manager = UniversalIOManager(base_url=f"s3://{bucket}/storage", storage_options=options)
    base = UPath(f"s3://{bucket}/storage", **options)
    _round_trip(manager, base)
    # the objects are really on the server, listed through a fresh client
    import s3fs

    listing = s3fs.S3FileSystem(**options).find(f"{bucket}/storage")
    assert f"{bucket}/storage/rain_grid/2009-05-21.nc" in listing
    assert not [key for key in listing if key.endswith(".tmp")]


def test_multi_partition_run_writes_each_partition(tmp_path):
    from dagster import BackfillPolicy

    @asset(partitions_def=DAYS, backfill_policy=BackfillPolicy.multi_run(3))
    def daily_counts(context: AssetExecutionContext) -> dict:
        return {key: {"day": key} for key in context.partition_keys}

    result = materialize(
        [daily_counts],
        tags={
            "dagster/asset_partition_range_start": "2009-05-20",
            "dagster/asset_partition_range_end": "2009-05-22",
        },
        resources={"io_manager": UniversalIOManager(base_url=str(tmp_path))},
    )
    assert result.success
    for day in ("2009-05-20", "2009-05-21", "2009-05-22"):
        assert read_value(UPath(str(tmp_path)) / "daily_counts" / day) == {"day": day}


def test_failed_write_leaves_nothing_and_keeps_previous(tmp_path):
    final = UPath(str(tmp_path)) / "asset" / "2009-05-20"
    atomic_write({"version": 1}, final)

    class Exploding(pd.DataFrame):
        def to_parquet(self, *args, **kwargs):
            with open(args[0], "wb") as handle:
                handle.write(b"PAR1 partial")
            raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(Exploding({"a": [1]}), final)
    assert read_value(final) == {"version": 1}
    assert sorted(p.name for p in (tmp_path / "asset").iterdir()) == ["2009-05-20.json"]


def test_unsupported_type_is_a_clear_error(tmp_path):
    with pytest.raises(TypeError, match="cannot store a set"):
        atomic_write({1, 2}, UPath(str(tmp_path)) / "x")


def test_missing_value_names_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="no stored value"):
        read_value(UPath(str(tmp_path)) / "nothing" / "here")


def test_stored_path_names_where_a_partition_lies(tmp_path):
    from orchestration.runtime.io_managers import UniversalIOManager

    manager = UniversalIOManager(base_url=str(tmp_path)).create_io_manager(None)
    path = manager.stored_path("ground_radar_grid_profiles", "2009-05-20", ".nc")
    assert str(path) == str(tmp_path / "ground_radar_grid_profiles" / "2009-05-20.nc")
    assert str(manager.stored_path("product_grid", None, ".nc")) == str(
        tmp_path / "product_grid.nc"
    )


def test_stored_datasets_are_deflated_losslessly(tmp_path):
    rng = np.random.default_rng(0)
    smooth = np.cumsum(rng.normal(size=(24, 60, 70)), axis=2).astype("float32")
    smooth[:, :5] = np.nan
    codes = rng.integers(0, 255, size=(60, 70), dtype=np.uint8)
    ds = xr.Dataset(
        {
            "bt": (("time", "lat", "lon"), smooth),
            "dbz": (("lat", "lon"), codes, {"scale_factor": 0.5, "add_offset": -32.0}),
        }
    )
    ds["dbz"].encoding = {"dtype": "uint8", "_FillValue": 255}
    stored = atomic_write(ds, UPath(str(tmp_path)) / "features")
    with h5py.File(stored.path) as h5:
        assert h5["bt"].compression == "gzip" and h5["dbz"].compression == "gzip"
    back = read_value(UPath(str(tmp_path)) / "features")
    np.testing.assert_array_equal(back["bt"].values, smooth)  # NaN in the same places
    packed = read_value(UPath(str(tmp_path)) / "features", mask_and_scale=False)
    assert packed["dbz"].dtype == np.uint8
    np.testing.assert_array_equal(packed["dbz"].values, codes)
    assert "zlib" not in ds["bt"].encoding  # the caller's Dataset is left as it was


def test_load_partition_reads_what_a_run_stored(tmp_path, capsys):
    io_manager = UniversalIOManager(base_url=str(tmp_path))
    result = materialize(
        [gauge_table], partition_key="2009-05-21", resources={"io_manager": io_manager}
    )
    assert result.success
    manager = io_manager.create_io_manager(None)
    capsys.readouterr()
    table = manager.load_partition("gauge_table", "2009-05-21")
    assert table.rain_mm.tolist() == [1.5, 0.0]
    with pytest.raises(FileNotFoundError, match="no stored value"):
        manager.load_partition("gauge_table", "2009-05-22")
    assert capsys.readouterr().err == ""  # no Dagster debug lines on a command line


def test_configured_io_manager_follows_the_configuration(tmp_path, monkeypatch):
    from orchestration.runtime.io_managers import configured_io_manager

    config = tmp_path / "rainfuse.yaml"
    config.write_text(f"storage: {{url: {tmp_path / 'storage'}}}\n")
    monkeypatch.setenv("RAINFUSE_CONFIG", str(config))
    atomic_write({"day": "2009-05-20"}, UPath(str(tmp_path / "storage")) / "summary" / "2009-05-20")
    assert configured_io_manager().load_partition("summary", "2009-05-20") == {"day": "2009-05-20"}
