"""Fault: a stored asset value is damaged (truncated Parquet or NetCDF) between runs.

Loading it must fail with an error that names the asset, the partition and the file, and
re-materializing that partition must repair it: every stored file then has the checksum of a
clean run's.
"""

from __future__ import annotations

import hashlib
import warnings

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from dagster import DagsterInstance, DailyPartitionsDefinition, asset, materialize

from orchestration.runtime.io_managers import UniversalIOManager

DAYS = DailyPartitionsDefinition(start_date="2021-05-20", timezone="UTC")
DAY = "2021-05-21"


@asset(partitions_def=DAYS)
def gauge_table(context) -> pd.DataFrame:
    rng = np.random.default_rng(int(context.partition_key.replace("-", "")))
    return pd.DataFrame({"station": [f"s{i}" for i in range(200)], "mm": rng.gamma(1.0, 2.0, 200)})


@asset(partitions_def=DAYS)
def rain_grid(context) -> xr.Dataset:
    rng = np.random.default_rng(int(context.partition_key.replace("-", "")) + 1)
    return xr.Dataset({"rain": (("lat", "lon"), rng.gamma(1.0, 2.0, (60, 80)).astype("f4"))})


@asset(partitions_def=DAYS)
def daily_summary(gauge_table: pd.DataFrame, rain_grid: xr.Dataset) -> dict:
    return {"gauges_mm": float(gauge_table["mm"].sum()), "grid_mm": float(rain_grid["rain"].sum())}


ASSETS = [gauge_table, rain_grid, daily_summary]


def _run(base, selection=None, raise_on_error=True):
    with warnings.catch_warnings(), DagsterInstance.ephemeral() as instance:
        warnings.simplefilter("ignore")
        return materialize(
            ASSETS,
            selection=selection,
            partition_key=DAY,
            resources={"io_manager": UniversalIOManager(base_url=str(base))},
            instance=instance,
            raise_on_error=raise_on_error,
        )


def _checksums(base) -> dict[str, str]:
    return {
        str(p.relative_to(base)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(base.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    base = tmp_path_factory.mktemp("clean")
    assert _run(base).success
    return _checksums(base)


@pytest.mark.parametrize(
    ("asset_name", "file_name"),
    [("gauge_table", f"{DAY}.parquet"), ("rain_grid", f"{DAY}.nc")],
)
def test_damaged_value_is_named_and_rematerializing_repairs_it(
    tmp_path, clean, asset_name, file_name
):
    assert _run(tmp_path).success
    assert _checksums(tmp_path) == clean  # the same values as the clean run, byte for byte
    stored = tmp_path / asset_name / file_name
    data = stored.read_bytes()
    stored.write_bytes(data[: len(data) // 2])  # a write cut short by a crash on a bad disk

    failed = _run(tmp_path, selection=[daily_summary], raise_on_error=False)
    assert not failed.success
    messages = []
    for event in failed.all_events:
        error = event.event_specific_data.error if event.is_step_failure else None
        while error is not None:  # Dagster wraps the IO manager's error: read the chain
            messages.append(error.message)
            error = error.cause
    text = " ".join(messages)
    assert f"asset {asset_name} partition {DAY}" in text, text
    assert str(stored.with_suffix("")) in text  # the file, named
    assert "re-materialize that partition to repair it" in text

    # the operator's repair: re-materialize the damaged partition, then the rest runs again
    assert _run(tmp_path, selection=[globals()[asset_name]]).success
    assert _run(tmp_path, selection=[daily_summary]).success
    assert _checksums(tmp_path) == clean
