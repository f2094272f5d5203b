"""Dagster resources built from the configuration: archives, product store, domain grid, compute device."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import IO, TYPE_CHECKING, Any

import fsspec
from dagster import ConfigurableResource
from pydantic import Field
from upath import UPath

from fusion_ops.atomic import atomic_fs_path, write_bytes_atomic
from fusion_ops.grid import ProductGrid
from orchestration.runtime.config import RainfuseConfig, SourceConfig, resolve_env

if TYPE_CHECKING:
    import torch


class PathOutsideRootError(ValueError):
    """A relative path that would leave the archive or store it is taken against."""


def inside_root(relative: str) -> str:
    """``relative`` without a leading ``/``, or :class:`PathOutsideRootError` when a ``..``
    segment would lead out of the root (keys from listings and partition keys end up here)."""
    text = str(relative)
    parts = [p for p in text.replace("\\", "/").split("/") if p not in ("", ".")]
    if ".." in parts or "://" in text:
        raise PathOutsideRootError(f"path {text!r} leaves the storage root: refused")
    return "/".join(parts)


#: botocore's retry settings for every S3 filesystem the project opens (archives, product store,
#: IO manager), unless ``storage_options`` give ``config_kwargs.retries`` themselves. ``standard``
#: mode retries throttling (``503 SlowDown``), other 5xx answers and dropped or reset connections
#: with exponential backoff and jitter (a random wait below 1, 2, 4, ... s, at most 20 s), 8
#: attempts in all (the first and 7 retries), whatever ``AWS_RETRY_MODE``/``AWS_MAX_ATTEMPTS``
#: or ``~/.aws/config`` say; s3fs then retries a read cut short (5 tries) on top. Exercised by
#: ``tests/integration/test_fault_s3.py`` through a fault-injecting proxy.
S3_RETRIES: dict[str, Any] = {"total_max_attempts": 8, "mode": "standard"}


def with_s3_retries(url: str, options: dict[str, Any]) -> dict[str, Any]:
    """``options`` (fsspec storage options of ``url``) with :data:`S3_RETRIES` added for S3 URLs."""
    if not str(url).startswith(("s3://", "s3a://")):
        return options
    config = dict(options.get("config_kwargs") or {})
    config.setdefault("retries", dict(S3_RETRIES))
    return {**options, "config_kwargs": config}


class ArchiveResource(ConfigurableResource):
    """Read access to one source archive: a local folder or any fsspec URL (``s3://...``).

    ``storage_options`` may hold ``${ENV_VAR}`` references; they are resolved only when the
    filesystem is opened, so the UI and logs never show a secret.
    """

    url: str = Field(
        description="Root of the archive: a folder or an fsspec URL such as s3://bucket/prefix"
    )
    storage_options: dict[str, Any] = Field(
        default_factory=dict,
        description="fsspec options (anon, endpoint_url via client_kwargs, ${ENV} references for secrets)",
    )

    def filesystem(self) -> tuple[fsspec.AbstractFileSystem, str]:
        """The fsspec filesystem and the root path inside it."""
        options = with_s3_retries(self.url, resolve_env(self.storage_options))
        fs, root = fsspec.core.url_to_fs(self.url, **options)
        return fs, root.rstrip("/")

    def upath(self, *parts: str) -> UPath:
        """A universal path below the root (``path.fs`` is the configured filesystem)."""
        path = UPath(self.url, **with_s3_retries(self.url, resolve_env(self.storage_options)))
        return path.joinpath(*(inside_root(p) for p in parts)) if parts else path

    def full_path(self, relative: str) -> str:
        """Path of ``relative`` inside the filesystem (no protocol)."""
        _, root = self.filesystem()
        return f"{root}/{inside_root(relative)}" if relative else root

    def url_of(self, relative: str) -> str:
        """A URL for ``relative`` that readers taking URLs (Py-ART, satpy via fsspec) accept."""
        return f"{self.url.rstrip('/')}/{inside_root(relative)}"

    def exists(self, relative: str) -> bool:
        fs, _ = self.filesystem()
        return fs.exists(self.full_path(relative))

    def glob(self, pattern: str) -> list[str]:
        """Paths (relative to the root) matching a glob pattern, sorted."""
        fs, root = self.filesystem()
        prefix = f"{root}/"
        return sorted(
            p[len(prefix) :] if p.startswith(prefix) else p for p in fs.glob(prefix + pattern)
        )

    def open(self, relative: str, mode: str = "rb") -> IO[Any]:
        fs, _ = self.filesystem()
        return fs.open(self.full_path(relative), mode)

    def read_bytes(self, relative: str) -> bytes:
        fs, _ = self.filesystem()
        return fs.cat_file(self.full_path(relative))


class RadarArchiveResource(ArchiveResource):
    """A ground-radar archive (NEXRAD Level II key layout) and the sites to ingest from it."""

    sites: list[str] = Field(default_factory=lambda: ["KMLB"], description="ICAO site identifiers")


class SatelliteArchiveResource(ArchiveResource):
    """A GOES ABI L1b archive (``ABI-L1b-RadM/YYYY/DDD/HH/...`` key layout)."""

    platform: str = Field(
        "auto", description="G16, G17, G18, G19 or auto (the day's GOES-East platform)"
    )


class ProductStoreResource(ArchiveResource):
    """Where finished products go; every write is atomic (temporary name, then move)."""

    def write_bytes(self, relative: str, data: bytes) -> str:
        """Write ``data`` atomically and return the final URL."""
        fs, _ = self.filesystem()
        write_bytes_atomic(data, self.full_path(relative), fs)
        return self.url_of(relative)

    @contextlib.contextmanager
    def atomic_local_file(self, relative: str) -> Iterator[str]:
        """Yield a local path to write; on success it is moved to ``relative`` in one step.

        Writers that need a real file (netCDF4, rasterio) write there; a failure removes it and
        leaves any previous product untouched (:func:`fusion_ops.atomic.atomic_fs_path`).
        """
        fs, _ = self.filesystem()
        with atomic_fs_path(fs, self.full_path(relative)) as local:
            yield local


class DomainResource(ConfigurableResource):
    """The configured domain; :meth:`grid` is the product grid every asset uses."""

    name: str = "kmlb"
    lat_min_deg: float
    lat_max_deg: float
    lon_min_deg: float
    lon_max_deg: float
    grid_spacing_deg: float

    def grid(self, heights_m: Sequence[float] | None = None) -> ProductGrid:
        """The product grid of the domain (with profile heights ``heights_m``, if given)."""
        grid = ProductGrid(
            self.lat_min_deg,
            self.lat_max_deg,
            self.lon_min_deg,
            self.lon_max_deg,
            self.grid_spacing_deg,
            name=self.name,
        )
        return grid.with_heights(heights_m)


class ComputeResource(ConfigurableResource):
    """The torch device for training and inference. ``auto`` picks CUDA when present.

    CUDA is probed only when :meth:`torch_device` is called inside a step, never at import: the
    multiprocess executor spawns workers and an early CUDA context would break them.
    """

    device: str = Field("auto", description="auto | cpu | cuda | cuda:N")
    torch_threads: int = Field(0, description="CPU threads for torch; 0 keeps torch's default")

    def torch_device(self) -> torch.device:
        import torch

        if self.torch_threads > 0:
            torch.set_num_threads(self.torch_threads)
        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        if self.device.startswith("cuda") and not torch.cuda.is_available():
            raise RuntimeError(
                f"compute.device is {self.device!r} but no CUDA device is available on this worker"
            )
        return torch.device(self.device)


def _archive(spec: SourceConfig, cls: type[ArchiveResource] = ArchiveResource) -> ArchiveResource:
    return cls(url=spec.url, storage_options=dict(spec.storage_options))


def build_resources(config: RainfuseConfig) -> dict[str, Any]:
    """Every resource the assets use, keyed as the assets ask for them."""
    from orchestration.runtime.io_managers import io_manager_resource

    sources = config.sources
    return {
        "gauge_archive": _archive(sources.gauges),
        "radar_archive": RadarArchiveResource(
            url=sources.ground_radar.url,
            storage_options=dict(sources.ground_radar.storage_options),
            sites=list(sources.ground_radar.sites),
        ),
        "spaceborne_archive": _archive(sources.spaceborne),
        "satellite_archive": SatelliteArchiveResource(
            url=sources.satellite.url,
            storage_options=dict(sources.satellite.storage_options),
            platform=sources.satellite.platform,
        ),
        "imagery_archive": _archive(sources.imagery),
        "truth_archive": _archive(sources.truth),
        "product_store": _archive(config.product_store, ProductStoreResource),
        "domain": DomainResource(**config.domain.model_dump()),
        "compute": ComputeResource(
            device=config.compute.device, torch_threads=config.compute.torch_threads
        ),
        "io_manager": io_manager_resource(config.storage),
    }
