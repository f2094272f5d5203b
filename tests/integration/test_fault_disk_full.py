"""Fault: the disk of the storage path fills up while an asset value is being written.

The IO manager's storage root lies on a real 1 MiB tmpfs mounted for the test (``mount -t tmpfs
-o size=1m``: a size-limited filesystem, so the kernel itself answers ``ENOSPC``; nothing is
simulated). A ballast file leaves about 300 KB free; a small upstream value fits, the ~700 KB
NetCDF grid that follows does not, and its write runs out of space part-way through.

It proves that the step fails with an error naming the asset, the partition, the final file and
"No space left on device"; that no partial file is left anywhere under the storage root (the
temporary file of the atomic write is removed, nothing appears under the final name); that the
process survives it (garbage collection and later HDF5 writes: before the IO manager wrote
NetCDF through memory, HDF5's failed close left objects whose release crashed the process); and
that once the space is freed, re-materializing the failed partition succeeds and every stored
file has the checksum of a clean run's.

Mounting needs root with ``CAP_SYS_ADMIN`` (CI runs the tests as root). Without it there is no
honest way to make the kernel answer ``ENOSPC`` on a folder (``RLIMIT_FSIZE`` raises ``EFBIG``,
``/dev/full`` is a device, not a folder a writer can create a temporary file in), so the test
skips and says so.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import os
import shutil
import subprocess
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from dagster import DagsterInstance, DailyPartitionsDefinition, asset, materialize

from orchestration.runtime.io_managers import UniversalIOManager

pytestmark = pytest.mark.integration

DAYS = DailyPartitionsDefinition(start_date="2021-05-20", timezone="UTC")
DAY = "2021-05-21"
FS_SIZE = "1m"
BALLAST_BYTES = 740_000


@asset(partitions_def=DAYS)
def disk_gauges(context) -> pd.DataFrame:
    rng = np.random.default_rng(int(context.partition_key.replace("-", "")))
    return pd.DataFrame({"station": [f"s{i}" for i in range(200)], "mm": rng.gamma(1.0, 2.0, 200)})


@asset(partitions_def=DAYS)
def disk_grid(context) -> xr.Dataset:
    # random rain does not deflate: ~700 KB on disk, more than the space left
    rng = np.random.default_rng(int(context.partition_key.replace("-", "")) + 1)
    rain = rng.gamma(1.0, 2.0, (400, 500)).astype("f4")
    return xr.Dataset({"rain": (("lat", "lon"), rain)})


@asset(partitions_def=DAYS)
def disk_summary(disk_gauges: pd.DataFrame, disk_grid: xr.Dataset) -> dict:
    return {"gauges_mm": float(disk_gauges["mm"].sum()), "grid_mm": float(disk_grid["rain"].sum())}


ASSETS = [disk_gauges, disk_grid, disk_summary]


def _run(base: Path, selection=None):
    with warnings.catch_warnings(), DagsterInstance.ephemeral() as instance:
        warnings.simplefilter("ignore")
        return materialize(
            ASSETS,
            selection=selection,
            partition_key=DAY,
            resources={"io_manager": UniversalIOManager(base_url=str(base))},
            instance=instance,
            raise_on_error=False,
        )


def _checksums(base: Path) -> dict[str, str]:
    return {
        str(p.relative_to(base)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(base.rglob("*"))
        if p.is_file()
    }


def _error_text(result) -> str:
    messages = []
    for event in result.all_events:
        error = event.event_specific_data.error if event.is_step_failure else None
        while error is not None:  # Dagster wraps the IO manager's error: read the chain
            messages.append(error.message)
            error = error.cause
    return " ".join(messages)


@contextlib.contextmanager
def _small_filesystem(size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` mounted on a fresh folder; unmounted and removed at the end."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a size-limited tmpfs needs root (CAP_SYS_ADMIN); see the docstring")
    mount_point = Path(tempfile.mkdtemp(prefix="rainfuse-diskfull-"))
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    if mounted.returncode != 0:
        mount_point.rmdir()
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.strip()}); see the docstring")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], capture_output=True, timeout=30)
        mount_point.rmdir()


def test_disk_full_fails_clearly_leaves_no_partial_file_and_rerun_repairs(tmp_path):
    clean_base = tmp_path / "clean"
    assert _run(clean_base).success
    clean = _checksums(clean_base)

    with _small_filesystem(FS_SIZE) as mount_point:
        ballast = mount_point / "ballast"
        ballast.write_bytes(b"\0" * BALLAST_BYTES)
        storage = mount_point / "storage"
        # room for the gauges and the start of the grid, not for the whole grid
        free = shutil.disk_usage(mount_point).free
        grid_size = (clean_base / "disk_grid" / f"{DAY}.nc").stat().st_size
        assert 4 * (clean_base / "disk_gauges" / f"{DAY}.parquet").stat().st_size < free
        assert free < grid_size / 2, (free, grid_size)

        failed = _run(storage)
        assert not failed.success
        text = _error_text(failed)
        final = storage / "disk_grid" / f"{DAY}.nc"
        assert f"asset disk_grid partition {DAY}" in text, text
        assert f"cannot write the stored value {final}" in text, text
        assert "No space left on device" in text, text
        # nothing partial: only the upstream value that fitted; no temporary, no grid, no summary
        left = sorted(
            str(p.relative_to(mount_point)) for p in mount_point.rglob("*") if p.is_file()
        )
        assert left == ["ballast", f"storage/disk_gauges/{DAY}.parquet"], left
        assert not [p for p in mount_point.rglob(".*")], "a temporary file was left behind"

        # the process survives what the failed write left behind: garbage collection, then
        # more HDF5 writes (these killed it with a segmentation fault when HDF5 wrote in place)
        gc.collect()

        # the operator frees space and re-materializes the failed partition and what follows
        ballast.unlink()
        assert _run(storage, selection=[disk_grid, disk_summary]).success
        assert _checksums(storage) == clean
