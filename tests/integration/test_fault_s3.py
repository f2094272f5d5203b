"""Fault: the object store misbehaves - 503 SlowDown, latency, dropped connections.

The IO manager stores a day of three small assets (a Parquet table, a NetCDF grid, a JSON
summary that reads both) in the moto S3 server through :class:`S3FaultProxy`
(``tests/integration/conftest.py``), an HTTP proxy on loopback that, for a fixed fraction of the
requests (seeded, so the same requests fail on every run), answers ``503 SlowDown``, delays the
request, resets the connection before forwarding it, forwards half an upload and resets both
sides, or lets the server act and cuts the response in half. Then every value is read back
through the same proxy.

It proves that:

- every write and read succeeds: the S3 client retries (botocore's ``standard`` retry mode,
  which the project configures for every S3 filesystem it opens,
  :data:`orchestration.runtime.resources.S3_RETRIES`, even where ``AWS_MAX_ATTEMPTS=1`` would
  turn botocore's retries off, and s3fs's own retries on top);
- every kind of fault happened and each failed request was sent again; a ``503 SlowDown`` after
  a random backoff wait (a dropped keep-alive connection is retried at once on a new one);
- no partial object ever becomes visible: a watcher lists and reads the bucket directly (not
  through the proxy) throughout, and every object it ever saw has a final name and the bytes of
  the clean run's value (the IO manager uploads a complete scratch file in one PUT; a cut upload
  never becomes an object);
- the stored objects have the checksums of a clean run's files, and the values read back through
  the faults equal the clean run's.
"""

from __future__ import annotations

import hashlib
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from dagster import DagsterInstance, DailyPartitionsDefinition, asset, materialize

from orchestration.runtime.io_managers import UniversalIOManager
from orchestration.runtime.resources import S3_RETRIES

pytestmark = pytest.mark.integration

DAYS = DailyPartitionsDefinition(start_date="2021-05-20", timezone="UTC")
DAY = "2021-05-21"
SEED = 22
FAULT_RATE = 0.3
FAULTS = ("slowdown", "latency", "reset", "cut_upload", "cut_response")


@asset(partitions_def=DAYS)
def s3_gauges(context) -> pd.DataFrame:
    rng = np.random.default_rng(int(context.partition_key.replace("-", "")))
    return pd.DataFrame({"station": [f"s{i}" for i in range(300)], "mm": rng.gamma(1.0, 2.0, 300)})


@asset(partitions_def=DAYS)
def s3_grid(context) -> xr.Dataset:
    rng = np.random.default_rng(int(context.partition_key.replace("-", "")) + 1)
    rain = rng.gamma(1.0, 2.0, (120, 160)).astype("f4")
    return xr.Dataset({"rain": (("lat", "lon"), rain)})


@asset(partitions_def=DAYS)
def s3_summary(s3_gauges: pd.DataFrame, s3_grid: xr.Dataset) -> dict:
    return {"gauges_mm": float(s3_gauges["mm"].sum()), "grid_mm": float(s3_grid["rain"].sum())}


ASSETS = [s3_gauges, s3_grid, s3_summary]
NAMES = {
    "s3_gauges": f"{DAY}.parquet",
    "s3_grid": f"{DAY}.nc",
    "s3_summary": f"{DAY}.json",
}


def _manager(base_url: str, options: dict | None = None) -> UniversalIOManager:
    return UniversalIOManager(base_url=base_url, storage_options=options or {})


def _run(manager: UniversalIOManager):
    with warnings.catch_warnings(), DagsterInstance.ephemeral() as instance:
        warnings.simplefilter("ignore")
        return materialize(
            ASSETS,
            partition_key=DAY,
            resources={"io_manager": manager},
            instance=instance,
            raise_on_error=False,
        )


class _Watcher(threading.Thread):
    """Lists and reads the bucket directly (no proxy) until stopped: what a reader could see."""

    def __init__(self, endpoint: str, bucket: str) -> None:
        super().__init__(daemon=True)
        import boto3

        self.client = boto3.client(
            "s3",
            endpoint_url=endpoint,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            region_name="us-east-1",
        )
        self.bucket = bucket
        self.seen: dict[str, set[str]] = {}
        self.listings = 0
        self.stop = threading.Event()

    def run(self) -> None:
        deadline = time.monotonic() + 300  # bounded even if the test forgets to stop it
        while not self.stop.is_set() and time.monotonic() < deadline:
            listing = self.client.list_objects_v2(Bucket=self.bucket)
            self.listings += 1
            for item in listing.get("Contents", []):
                try:
                    data = self.client.get_object(Bucket=self.bucket, Key=item["Key"])["Body"]
                    digest = hashlib.sha256(data.read()).hexdigest()
                except self.client.exceptions.NoSuchKey:
                    continue
                self.seen.setdefault(item["Key"], set()).add(digest)
            self.stop.wait(0.05)


def test_s3_faults_are_retried_and_no_partial_object_is_visible(
    tmp_path: Path, s3_server, s3_bucket, s3_fault_proxy, monkeypatch
):
    # an environment that would turn botocore's own retries off: the project's setting wins
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    monkeypatch.setenv("AWS_RETRY_MODE", "legacy")
    endpoint, _ = s3_server
    bucket, options = s3_bucket
    clean_base = tmp_path / "clean"
    assert _run(_manager(str(clean_base))).success
    clean = {
        f"storage/{name}/{file}": hashlib.sha256(
            (clean_base / name / file).read_bytes()
        ).hexdigest()
        for name, file in NAMES.items()
    }

    proxy = s3_fault_proxy(seed=SEED, fault_rate=FAULT_RATE, faults=FAULTS, latency_s=0.2)
    through_proxy = {**options, "client_kwargs": {"endpoint_url": proxy.endpoint}}
    manager = _manager(f"s3://{bucket}/storage", through_proxy)
    watcher = _Watcher(endpoint, bucket)
    watcher.start()
    try:
        result = _run(manager)
        assert result.success, [
            e.event_specific_data.error.to_string() for e in result.all_events if e.is_step_failure
        ]
        io = manager.create_io_manager(None)
        gauges = io.load_partition("s3_gauges", DAY)
        grid = io.load_partition("s3_grid", DAY).load()
        summary = io.load_partition("s3_summary", DAY)
    finally:
        watcher.stop.set()
        watcher.join(timeout=30)
    proxy.enabled = False

    # the client retried as the project configures it, not as the environment said
    assert io._base_path.fs.s3.meta.config.retries == S3_RETRIES
    # every kind of fault happened, and each failed request was tried again, successfully
    assert {entry[3] for entry in proxy.log} == {"", *FAULTS}, proxy.log
    slowdown_waits = []
    for index, (at, method, path, fault) in enumerate(proxy.log):
        if fault in ("", "latency"):  # a delayed request is answered: nothing to retry
            continue
        later = [e for e in proxy.log[index + 1 :] if (e[1], e[2]) == (method, path)]
        assert later, f"{fault}: {method} {path} was never tried again"
        if fault == "slowdown":
            slowdown_waits.append(later[0][0] - at)
    # a 503 is retried after a random backoff wait (not at once, not forever)
    assert slowdown_waits and sum(slowdown_waits) > 0.1, slowdown_waits
    assert max(slowdown_waits) < 30, slowdown_waits

    # never a partial object, never a temporary name: only final values with their final bytes
    assert watcher.listings > 10
    assert set(watcher.seen) <= set(clean), watcher.seen
    for key, digests in watcher.seen.items():
        assert digests == {clean[key]}, key

    # after: the stored objects are the clean run's files, byte for byte
    stored = {
        item["Key"]: hashlib.sha256(
            watcher.client.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
        ).hexdigest()
        for item in watcher.client.list_objects_v2(Bucket=bucket).get("Contents", [])
    }
    assert stored == clean

    # ... and what was read back through the faults is the clean run's values
    clean_io = _manager(str(clean_base)).create_io_manager(None)
    pd.testing.assert_frame_equal(gauges, clean_io.load_partition("s3_gauges", DAY))
    xr.testing.assert_identical(grid, clean_io.load_partition("s3_grid", DAY).load())
    assert summary == clean_io.load_partition("s3_summary", DAY)
