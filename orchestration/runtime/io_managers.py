"""IO managers on universal-pathlib: local folders and ``s3://`` through the same code.

One manager stores each asset value in the format that suits its type:

=================  ==========  ==========================
value              suffix      format
=================  ==========  ==========================
pandas DataFrame   .parquet    Apache Parquet (pyarrow)
xarray Dataset     .nc         NetCDF-4 (h5netcdf); loaded lazily
dict / list        .json       JSON
bytes              .bin        raw bytes
=================  ==========  ==========================

Paths are ``<base>/<asset key parts>/<partition key>.<suffix>``. Writes are atomic: the value goes to a
temporary name beside the final one and is moved into place only when complete, so a failed step
never leaves a half-written output; a write that fails (no space left on the device) raises
:class:`StoredValueWriteError`, naming the asset, the partition and the file. A multi-partition
run (backfill policy with several partitions per run) may return a ``dict`` keyed by partition
key; each value is stored under its own partition.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any

import pandas as pd
import xarray as xr
from dagster import (
    AssetKey,
    ConfigurableIOManagerFactory,
    InputContext,
    MetadataValue,
    OutputContext,
    UPathIOManager,
    build_input_context,
)
from pydantic import Field
from upath import UPath

from fusion_ops.atomic import atomic_fs_path, is_local_fs
from orchestration.runtime.config import RainfuseConfig, SourceConfig, load_config, resolve_env
from orchestration.runtime.resources import inside_root, with_s3_retries

SUFFIXES = (".parquet", ".nc", ".json", ".bin")


def _suffix_for(obj: Any) -> str:
    if isinstance(obj, pd.DataFrame):
        return ".parquet"
    if isinstance(obj, xr.Dataset):
        return ".nc"
    if isinstance(obj, dict | list):
        return ".json"
    if isinstance(obj, bytes):
        return ".bin"
    raise TypeError(
        f"cannot store a {type(obj).__name__}: return a pandas DataFrame, xarray Dataset, "
        "JSON-compatible dict/list or bytes"
    )


#: Lossless deflate level of stored Datasets. The daily ABI features (18 float32 fields, 24 hours)
#: go from 135 MB to 24 MB, for about 0.7 s more to write and 0.6 s more to read; a backfilled
#: year of them from 49 GB to 9 GB.
NETCDF_DEFLATE_LEVEL = 1
_COMPRESSION_KEYS = ("zlib", "compression", "compression_opts")


def _compressed(ds: xr.Dataset) -> xr.Dataset:
    """A shallow copy whose data variables are deflated, unless their encoding says otherwise."""
    out = ds.copy(deep=False)
    for var in out.data_vars.values():
        if var.ndim and not any(key in var.encoding for key in _COMPRESSION_KEYS):
            var.encoding = {**var.encoding, "zlib": True, "complevel": NETCDF_DEFLATE_LEVEL}
    return out


def _serialise(obj: Any, suffix: str, local_file: str) -> None:
    if suffix == ".parquet":
        obj.to_parquet(local_file, index=True)
    elif suffix == ".nc":
        # HDF5 writes the file in memory and the bytes go to disk in one plain write. Written
        # in place, a full disk failed HDF5's close of the file; h5netcdf/h5py kept objects of
        # the half-closed file, and freeing them later (at garbage collection, or inside the
        # next HDF5 call) killed the process with a segmentation fault (h5netcdf 1.8, h5py
        # 3.16): a run or Celery worker lost long after the step reported the error
        # (tests/integration/test_fault_disk_full.py). Costs the file's compressed size in
        # memory (50 MB for a day of radar grid profiles), about the same time.
        data = _compressed(obj).to_netcdf(engine="h5netcdf")
        with open(local_file, "wb") as handle:
            handle.write(data)
    elif suffix == ".json":
        with open(local_file, "w") as handle:
            json.dump(obj, handle, indent=1, sort_keys=True, default=str)
    else:
        with open(local_file, "wb") as handle:
            handle.write(obj)


def atomic_write(obj: Any, final: UPath, *, what: str | None = None) -> UPath:
    """Serialise ``obj`` to ``final`` (suffix chosen by type) through a temporary name.

    ``what`` (``asset <key> partition <key>``): an ``OSError`` of the write (no space left on
    the device, ...) is raised as a :class:`StoredValueWriteError` naming it and the final file.
    """
    suffix = _suffix_for(obj)
    target = final.with_name(final.name + suffix)
    # local: temporary beside the final name, then moved; S3: one PUT of a scratch file
    try:
        with atomic_fs_path(target.fs, target.path) as local:
            _serialise(obj, suffix, local)
    except OSError as error:
        if what is None:
            raise
        raise StoredValueWriteError(what, target, error) from error
    # A value whose type changed must not leave its previous format behind to be loaded instead.
    for other in SUFFIXES:
        if other != suffix:
            stale = final.with_name(final.name + other)
            if stale.fs.exists(stale.path):
                stale.fs.rm(stale.path)
    return target


def read_value(final: UPath, mask_and_scale: bool = True) -> Any:
    """Load what :func:`atomic_write` stored at ``final`` (whatever its suffix).

    ``mask_and_scale=False`` opens a NetCDF value with its packed codes (e.g. uint8 radar codes)
    instead of decoded floats.
    """
    for suffix in SUFFIXES:
        path = final.with_name(final.name + suffix)
        fs = path.fs
        if not fs.exists(path.path):
            continue
        if suffix == ".parquet":
            with fs.open(path.path, "rb") as handle:
                return pd.read_parquet(handle)
        if suffix == ".nc":
            # Lazy: a day of packed radar grids decodes to several GB of floats, so variables are
            # read (and unpacked) only when a consumer selects them.
            source = path.path if is_local_fs(fs) else fs.open(path.path, "rb")
            return xr.open_dataset(source, engine="h5netcdf", mask_and_scale=mask_and_scale)
        if suffix == ".json":
            return json.loads(fs.cat_file(path.path))
        return fs.cat_file(path.path)
    raise FileNotFoundError(f"no stored value at {final} (looked for {', '.join(SUFFIXES)})")


def stored_path_of(manager: Any, asset_key: str, partition: str | None, suffix: str) -> UPath:
    """``manager.stored_path(...)``, or a clear error when the IO manager cannot say it."""
    if not hasattr(manager, "stored_path"):
        raise TypeError(
            f"the io_manager ({type(manager).__name__}) cannot say where it stores values; "
            f"{asset_key} needs a storage that steps can read by path"
        )
    return manager.stored_path(asset_key, partition, suffix)


class StoredValueError(RuntimeError):
    """A stored asset value exists but cannot be read (truncated or corrupt): names the asset,
    the partition and the file, and says how to repair it."""

    def __init__(self, what: str, path: UPath | str, error: BaseException) -> None:
        reason = f"{type(error).__name__}: {error}".splitlines()[0][:300]
        super().__init__(
            f"{what}: the stored value {path} cannot be read ({reason}); re-materialize "
            "that partition to repair it"
        )


class StoredValueWriteError(RuntimeError):
    """An asset value could not be written (disk full, permission, I/O error): names the asset,
    the partition and the final file, and says that nothing was stored there."""

    def __init__(self, what: str, path: UPath | str, error: OSError) -> None:
        reason = os.strerror(error.errno) if error.errno else str(error).splitlines()[0][:300]
        code = f"errno {error.errno}, " if error.errno else ""
        super().__init__(
            f"{what}: cannot write the stored value {path} ({code}{reason}); nothing was stored "
            "under that name (the partial temporary file was removed): fix the storage (free "
            "space) and re-materialize that partition"
        )


def _describe_output(context: OutputContext, partition: str | None) -> str:
    """``asset <key> partition <key>`` of a value being stored."""
    try:
        key = context.asset_key.to_user_string()
    except Exception:  # noqa: BLE001 - an op output without an asset key
        key = context.name
    return f"asset {key} partition {partition}" if partition else f"asset {key}"


def _describe_input(context: InputContext, path: UPath) -> str:
    """``asset <key> partition <key>`` of a stored value (what an operator re-materializes).

    The value's file is named by its partition (``<base>/<asset>/<partition>``), which also
    tells the partition of a window input that loads several.
    """
    try:
        key = context.asset_key.to_user_string()
    except Exception:  # noqa: BLE001 - an op output without an asset key
        key = path.parent.name
    return f"asset {key} partition {path.name}" if context.has_asset_partitions else f"asset {key}"


class _TypedUPathIOManager(UPathIOManager):
    extension = None  # the suffix follows the value's type

    def stored_path(self, asset_key: str, partition: str | None, suffix: str) -> UPath:
        """Where the value of ``asset_key`` (``partition``) lies, for readers that stream it
        (e.g. a day of gridded radar volumes read block by block) instead of loading it whole."""
        path = self._base_path / inside_root(asset_key)
        if not partition:
            return path.with_suffix(suffix)
        return path / inside_root(f"{partition}{suffix}")

    def load_partition(self, asset_key: str, partition_key: str | None = None) -> Any:
        """The value stored for ``asset_key`` (its ``partition_key``), loaded as Dagster loads an input.

        Builds Dagster's input context for the key and partition (:func:`dagster.build_input_context`,
        as ``Definitions.load_asset_value`` does) and calls :meth:`load_input`: the path and the
        format are the ones a downstream step reads, and no caller rebuilds them by hand.
        ``asset_key`` is the key's user string (``a/b`` for a key with two parts).

        Raises
        ------
        FileNotFoundError
            Nothing is stored for that partition.
        """
        context = build_input_context(
            asset_key=AssetKey.from_user_string(asset_key), partition_key=partition_key
        )
        context.log.setLevel(logging.WARNING)  # no per-partition debug lines on a command line
        return self.load_input(context)

    def dump_to_path(self, context: OutputContext, obj: Any, path: UPath) -> None:
        partition = context.asset_partition_key if context.has_asset_partitions else None
        target = atomic_write(obj, path, what=_describe_output(context, partition))
        context.add_output_metadata({"stored_at": MetadataValue.path(str(target))})

    def load_from_path(self, context: InputContext, path: UPath) -> Any:
        try:
            return read_value(path)
        except FileNotFoundError:
            raise
        except Exception as error:  # noqa: BLE001 - any decoder's error on a damaged file
            raise StoredValueError(_describe_input(context, path), path, error) from error

    def get_metadata(self, context: OutputContext, obj: Any) -> dict[str, Any]:
        if isinstance(obj, pd.DataFrame):
            return {"rows": MetadataValue.int(len(obj))}
        if isinstance(obj, xr.Dataset):
            return {"dims": MetadataValue.json({k: int(v) for k, v in obj.sizes.items()})}
        return {}

    def handle_output(self, context: OutputContext, obj: Any) -> None:
        if obj is None:
            return
        if context.has_asset_partitions and len(context.asset_partition_keys) > 1:
            keys = list(context.asset_partition_keys)
            if not (isinstance(obj, dict) and set(obj) == set(keys)):
                raise TypeError(
                    f"{context.asset_key.to_user_string()}: a run over {len(keys)} partitions must "
                    "return a dict keyed by partition key"
                )
            base = self._get_path_without_extension(context)
            for key in keys:
                if obj[key] is not None:
                    atomic_write(obj[key], base / key, what=_describe_output(context, key))
            context.add_output_metadata({"partitions_written": MetadataValue.int(len(keys))})
            return
        super().handle_output(context, obj)


class UniversalIOManager(ConfigurableIOManagerFactory):
    """Stores asset values under ``base_url`` (folder or ``s3://``) in a format chosen by type."""

    base_url: str = Field(description="Folder or fsspec URL under which asset values are stored")
    storage_options: dict[str, Any] = Field(
        default_factory=dict, description="fsspec options; ${ENV} references resolved at use"
    )

    def create_io_manager(self, context: Any) -> _TypedUPathIOManager:
        options = with_s3_retries(self.base_url, resolve_env(self.storage_options))
        base = UPath(self.base_url, **options)
        return _TypedUPathIOManager(base_path=base)


def configured_io_manager(config: RainfuseConfig | None = None) -> _TypedUPathIOManager:
    """The IO manager the definitions build from ``config`` (default: the current configuration).

    For commands that read stored values outside a run (``rainfuse verify``, ``rainfuse
    evaluate``): ``configured_io_manager().load_partition(asset_key, day)``.
    """
    return io_manager_resource((config or load_config()).storage).create_io_manager(None)


def io_manager_resource(storage: SourceConfig) -> UniversalIOManager:
    """The IO manager resource of the ``storage`` section of the configuration."""
    return UniversalIOManager(base_url=storage.url, storage_options=dict(storage.storage_options))
