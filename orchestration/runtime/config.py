"""One YAML configuration file, validated with pydantic, with ``${ENV_VAR}`` interpolation.

The file is ``rainfuse.yaml`` at the project root unless ``RAINFUSE_CONFIG`` names another. Secrets are
written as ``${VAR}`` references: the reference is checked at load time (a missing variable fails with the
key that needs it) but only resolved when a filesystem is opened, so resource configuration, logs and
metadata carry the reference, never the value.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
DEFAULT_CONFIG_NAME = "rainfuse.yaml"
PROJECT_ROOT = Path(__file__).resolve().parents[2]

# Storage options whose values are credentials: they must come from the environment.
SECRET_OPTION_KEYS = frozenset(
    {"key", "secret", "token", "password", "aws_access_key_id", "aws_secret_access_key"}
)


class ConfigError(ValueError):
    """The configuration file is missing, malformed or invalid; the message names the key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DomainConfig(_Strict):
    """Product domain: a regular latitude/longitude grid."""

    name: str = "kmlb"
    lat_min_deg: float = Field(26.763, ge=-90, le=90)
    lat_max_deg: float = Field(29.463, ge=-90, le=90)
    lon_min_deg: float = Field(-82.184, ge=-180, le=180)
    lon_max_deg: float = Field(-79.124, ge=-180, le=180)
    grid_spacing_deg: float = Field(0.01, gt=0, le=1.0)

    @model_validator(mode="after")
    def _bounds_ordered(self) -> DomainConfig:
        if self.lat_min_deg >= self.lat_max_deg:
            raise ValueError("lat_min_deg must be smaller than lat_max_deg")
        if self.lon_min_deg >= self.lon_max_deg:
            raise ValueError("lon_min_deg must be smaller than lon_max_deg")
        return self


class SourceConfig(_Strict):
    """Where one source lives: a local folder or an fsspec URL (``s3://bucket/prefix``)."""

    url: str
    storage_options: dict[str, Any] = Field(default_factory=dict)

    @field_validator("storage_options")
    @classmethod
    def _secrets_from_environment(cls, options: dict[str, Any]) -> dict[str, Any]:
        for name, value in options.items():
            if name in SECRET_OPTION_KEYS and not (
                isinstance(value, str) and ENV_REFERENCE.fullmatch(value)
            ):
                raise ValueError(
                    f"storage option {name!r} is a credential: write it as ${{ENV_VAR}}, never inline"
                )
        return options


class GroundRadarSourceConfig(SourceConfig):
    sites: list[str] = Field(default_factory=lambda: ["KMLB"])


class SatelliteSourceConfig(SourceConfig):
    #: ``auto``: the GOES-East platform of each day from the era table (G16, then G19 from
    #: 2025-04-07; none before 2017-02-28); a platform name reads that platform only.
    platform: Literal["auto", "G16", "G17", "G18", "G19"] = "auto"


class SourcesConfig(_Strict):
    gauges: SourceConfig = SourceConfig(url="data/archive/gauges")
    ground_radar: GroundRadarSourceConfig = GroundRadarSourceConfig(url="data/archive/nexrad")
    spaceborne: SourceConfig = SourceConfig(url="data/archive/spaceborne")
    satellite: SatelliteSourceConfig = SatelliteSourceConfig(url="data/archive/goes")
    imagery: SourceConfig = SourceConfig(url="data/archive/imagery")
    truth: SourceConfig = SourceConfig(url="data/archive/truth")


class PartitionsConfig(_Strict):
    start_date: dt.date = dt.date(2021, 5, 20)


class ComputeConfig(_Strict):
    device: Literal["auto", "cpu", "cuda"] = "auto"
    #: CPU threads torch may use in one step (0: torch's default of one per core). One by default:
    #: steps run side by side in their own processes, and torch's per-core pool collapses as soon
    #: as another process shares the cores (a fusion training step 30.9 s with 2 threads on a
    #: busy 2-core machine, 2.45 s with 1).
    torch_threads: int = Field(1, ge=0)
    #: Steps one day's ground-radar ingest is split into (contiguous blocks of the day's volumes),
    #: so that that many workers share the longest step of the day. Read when the code location
    #: loads (it shapes the asset graph): every worker must see the same value.
    ground_radar_blocks: int = Field(2, ge=1, le=32)


class RainfuseConfig(_Strict):
    """The whole configuration. Every field has a default: the embedded synthetic scenario."""

    domain: DomainConfig = DomainConfig()
    sources: SourcesConfig = SourcesConfig()
    storage: SourceConfig = SourceConfig(url="data/storage")
    product_store: SourceConfig = SourceConfig(url="data/products")
    partitions: PartitionsConfig = PartitionsConfig()
    compute: ComputeConfig = ComputeConfig()

    def fingerprint(self) -> str:
        """Short hash of the configuration (secrets stay as references), recorded in products."""
        text = json.dumps(self.model_dump(mode="json"), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]


def resolve_env(value: Any) -> Any:
    """Replace ``${VAR}`` references in strings (recursively) with environment values."""
    if isinstance(value, str):
        return ENV_REFERENCE.sub(lambda m: os.environ[m.group(1)], value)
    if isinstance(value, dict):
        return {k: resolve_env(v) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve_env(v) for v in value]
    return value


def _check_references(value: Any, key: str) -> None:
    """Fail with the key's dotted path when a referenced environment variable is unset."""
    if isinstance(value, str):
        for name in ENV_REFERENCE.findall(value):
            if name not in os.environ:
                raise ConfigError(f"{key}: environment variable {name} is not set")
    elif isinstance(value, dict):
        for k, v in value.items():
            _check_references(v, f"{key}.{k}" if key else str(k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _check_references(v, f"{key}[{i}]")


def _interpolate_non_secrets(value: Any, key: str = "") -> Any:
    """Resolve references everywhere except inside ``storage_options`` (resolved at use time)."""
    if isinstance(value, dict):
        return {
            k: (v if k == "storage_options" else _interpolate_non_secrets(v, k))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_interpolate_non_secrets(v, key) for v in value]
    return resolve_env(value)


def _absolutise_local_urls(raw: dict[str, Any], base: Path) -> dict[str, Any]:
    """Relative local folders are relative to the configuration file, not the working directory."""

    def fix(url: str) -> str:
        if "://" in url or Path(url).is_absolute():
            return url
        return str((base / url).resolve())

    out = dict(raw)
    for section in ("storage", "product_store"):
        if isinstance(out.get(section), dict) and "url" in out[section]:
            out[section] = {**out[section], "url": fix(out[section]["url"])}
    sources = dict(out.get("sources") or {})
    for name, spec in sources.items():
        if isinstance(spec, dict) and "url" in spec:
            sources[name] = {**spec, "url": fix(spec["url"])}
    out["sources"] = sources
    for name, field in SourcesConfig.model_fields.items():
        if name not in sources:
            sources[name] = {"url": fix(field.default.url)}
    for section in ("storage", "product_store"):
        if section not in out:
            out[section] = {"url": fix(RainfuseConfig.model_fields[section].default.url)}
    return out


def _format_validation_error(error: ValidationError, source: str) -> str:
    lines = [f"invalid configuration in {source}:"]
    for item in error.errors():
        key = ".".join(str(p) for p in item["loc"]) or "<root>"
        if item["type"] == "extra_forbidden":
            lines.append(f"  {key}: unknown key")
        else:
            lines.append(f"  {key}: {item['msg']} (got {item.get('input')!r})")
    return "\n".join(lines)


def config_path(path: str | os.PathLike[str] | None = None) -> Path:
    """The configuration file in force: argument, else ``RAINFUSE_CONFIG``, else ``rainfuse.yaml``."""
    if path is not None:
        return Path(path)
    if os.environ.get("RAINFUSE_CONFIG"):
        return Path(os.environ["RAINFUSE_CONFIG"])
    return PROJECT_ROOT / DEFAULT_CONFIG_NAME


def parse_config(
    raw: dict[str, Any] | None, base_dir: Path, source: str = "<dict>"
) -> RainfuseConfig:
    """Validate an already-parsed mapping; relative local URLs resolve against ``base_dir``."""
    raw = raw or {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: the top level must be a mapping, got {type(raw).__name__}")
    _check_references(raw, "")
    interpolated = _absolutise_local_urls(_interpolate_non_secrets(raw), base_dir)
    try:
        return RainfuseConfig.model_validate(interpolated)
    except ValidationError as error:
        raise ConfigError(_format_validation_error(error, source)) from None


def load_config(path: str | os.PathLike[str] | None = None) -> RainfuseConfig:
    """Load and validate the configuration, once per file version.

    A missing default file means "all defaults" (the embedded synthetic scenario); a file named
    explicitly (argument or ``RAINFUSE_CONFIG``) must exist. The parsed configuration is cached by
    (path, modification time, size, environment), so the code location, the resources and the commands share
    one load, and an edited file is read again.
    """
    explicit = path is not None or bool(os.environ.get("RAINFUSE_CONFIG"))
    file = config_path(path)
    # ${VAR} references are checked and non-secret ones interpolated at load: the environment
    # is part of the key.
    environment = tuple(sorted(os.environ.items()))
    if not file.exists():
        if explicit:
            raise ConfigError(f"configuration file {file} does not exist")
        return _parsed(None, 0, 0, environment)
    stat = file.stat()
    return _parsed(str(file), stat.st_mtime_ns, stat.st_size, environment)


@functools.lru_cache(maxsize=16)
def _parsed(
    file_name: str | None, mtime_ns: int, size: int, environment: tuple[tuple[str, str], ...]
) -> RainfuseConfig:
    """The validated configuration of one file version (``None``: the defaults)."""
    if file_name is None:
        return parse_config({}, PROJECT_ROOT, source="defaults")
    file = Path(file_name)
    try:
        raw = yaml.safe_load(file.read_text())
    except yaml.YAMLError as error:
        raise ConfigError(f"{file}: not valid YAML: {error}") from None
    return parse_config(raw, file.resolve().parent, source=str(file))
