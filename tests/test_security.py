"""The threat model of docs/operations.md ("Security"), one test (or more) per item.

1. credentials come from the environment only and never reach the UI, logs, metadata or values;
2. the alert webhook (its URL is a secret; http(s) only): tests/test_ops_sensors.py
   (``test_refused_webhook_is_logged_without_the_secret``, ``test_webhook_must_be_http``);
3. model files are loaded as safetensors only (no pickle is ever unpickled);
4. keys and paths never leave the storage root;
5. the web server: local UI on loopback only, a read-only server for viewers in the cluster.
"""

from __future__ import annotations

import datetime as dt
import io
import pathlib
import warnings

import pytest
import torch
import yaml
from dagster import AssetKey, DagsterInstance, materialize

from orchestration.runtime.config import PROJECT_ROOT, ConfigError, parse_config

KEY_ID = "AKIArainfuseThreatModel7c1f"
SECRET = "rf-secret-value-93ab0e51d2"


def test_inline_credentials_are_refused(tmp_path):
    raw = {"sources": {"gauges": {"url": "s3://b/g", "storage_options": {"secret": SECRET}}}}
    with pytest.raises(ConfigError, match="credential"):
        parse_config(raw, tmp_path)


def test_credentials_never_reach_events_metadata_or_stored_values(s3_bucket, tmp_path, monkeypatch):
    """A gauge day read from S3 with credentials from the environment: the run's every event,
    the resource configuration, the metadata and the stored value hold the reference only."""
    import s3fs

    from assets.ingest import gauge_hourly, gauge_observations
    from orchestration.runtime.io_managers import UniversalIOManager
    from orchestration.runtime.resources import ArchiveResource, DomainResource

    bucket, options = s3_bucket
    endpoint = options["client_kwargs"]["endpoint_url"]
    day = dt.date(2021, 5, 20)
    rows = ["station_id,time,precip_mm,lat,lon,period_minutes"]
    for sid, lat, lon in (("MLB1", 28.10, -80.65), ("MLB2", 27.90, -80.90), ("MLB3", 28.40, -81.2)):
        rows += [
            f"{sid},2021-05-20T{h:02d}:00:00Z,{0.2 * h:.1f},{lat},{lon},60" for h in range(1, 24)
        ]
    s3 = s3fs.S3FileSystem(**options)
    s3.pipe(f"{bucket}/archive/gauges/2021/05/20/network.csv", ("\n".join(rows) + "\n").encode())
    # the local S3 server accepts any credentials: these are the operator's, from the environment
    monkeypatch.setenv("RF_TEST_KEY", KEY_ID)
    monkeypatch.setenv("RF_TEST_SECRET", SECRET)
    storage = {
        "key": "${RF_TEST_KEY}",
        "secret": "${RF_TEST_SECRET}",
        "client_kwargs": {"endpoint_url": endpoint},
    }
    config = parse_config(
        {
            "sources": {
                "gauges": {"url": f"s3://{bucket}/archive/gauges", "storage_options": storage}
            }
        },
        tmp_path,
    )
    resources = {
        "gauge_archive": ArchiveResource(
            url=config.sources.gauges.url,
            storage_options=dict(config.sources.gauges.storage_options),
        ),
        "domain": DomainResource(
            lat_min_deg=26.763,
            lat_max_deg=29.463,
            lon_min_deg=-82.184,
            lon_max_deg=-79.124,
            grid_spacing_deg=0.05,
        ),
        "io_manager": UniversalIOManager(base_url=str(tmp_path / "storage")),
    }
    with warnings.catch_warnings(), DagsterInstance.ephemeral() as instance:
        warnings.simplefilter("ignore")
        result = materialize(
            [gauge_observations, gauge_hourly],
            partition_key=day.isoformat(),
            resources=resources,
            instance=instance,
        )
        assert result.success
        observations = result.asset_value(AssetKey("gauge_observations"))
        assert observations["station_id"].nunique() == 3  # the credentials did open the archive
        logs = instance.all_logs(result.run_id)
        run = instance.get_run_by_id(result.run_id)
    text = "\n".join(str(entry) for entry in logs) + repr(run)
    assert "${RF_TEST_SECRET}" in repr(resources["gauge_archive"])
    for value in (KEY_ID, SECRET):
        assert value not in text
        assert value not in repr(resources["gauge_archive"])
        assert value not in repr(config.model_dump())
        for stored in (tmp_path / "storage").rglob("*"):
            if stored.is_file():
                assert value.encode() not in stored.read_bytes(), stored


class _Payload:
    """A pickle that would create a file when unpickled."""

    def __init__(self, marker: pathlib.Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (self.marker,))


@pytest.mark.parametrize("loader", ["calibration", "imagery"])
def test_model_files_are_safetensors_only(tmp_path, loader):
    from fusion_ops.calibration.versioning import ModelFileError as CalibrationModelError
    from fusion_ops.calibration.versioning import load_model_or_fallback
    from fusion_ops.imagery.products import ModelFileError as ImageryModelError
    from fusion_ops.imagery.products import model_from_bytes

    marker = tmp_path / "unpickled"
    buffer = io.BytesIO()
    torch.save({"weights": _Payload(marker)}, buffer)  # a torch checkpoint is a pickle
    data = buffer.getvalue()
    if loader == "calibration":
        with pytest.raises((CalibrationModelError, ValueError)):
            load_model_or_fallback(data, "mlp1_model/2021-05-20")
    else:
        with pytest.raises((ImageryModelError, ValueError)):
            model_from_bytes(data)
    assert not marker.exists()  # nothing was unpickled


@pytest.mark.parametrize("relative", ["../escape.nc", "2021/../../escape", "a/../../b", "s3://x/y"])
def test_paths_never_leave_the_storage_root(tmp_path, relative):
    from orchestration.runtime.io_managers import UniversalIOManager
    from orchestration.runtime.resources import (
        ArchiveResource,
        PathOutsideRootError,
        ProductStoreResource,
    )

    archive = ArchiveResource(url=str(tmp_path / "archive"))
    store = ProductStoreResource(url=str(tmp_path / "products"))
    for call in (archive.full_path, archive.url_of, archive.upath):
        with pytest.raises(PathOutsideRootError, match="leaves the storage root"):
            call(relative)
    with pytest.raises(PathOutsideRootError, match="leaves the storage root"):
        store.write_bytes(relative, b"x")
    manager = UniversalIOManager(base_url=str(tmp_path / "storage")).create_io_manager(None)
    with pytest.raises(PathOutsideRootError):
        manager.stored_path("gauge_observations", relative, ".nc")
    with pytest.raises(PathOutsideRootError):
        manager.stored_path(relative, "2021-05-20", ".nc")
    # nothing was written anywhere: not beside the roots, not above them
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []
    assert not list(tmp_path.parent.glob("escape*"))
    # inside the root: unchanged
    assert archive.full_path("2021/05/20/KMLB") == f"{tmp_path / 'archive'}/2021/05/20/KMLB"


def test_local_ui_binds_loopback_and_viewers_get_a_read_only_server():
    makefile = (PROJECT_ROOT / "Makefile").read_text()
    ui_lines = [line for line in makefile.splitlines() if "dagster dev" in line]
    assert ui_lines and all("0.0.0.0" not in line for line in ui_lines)  # dagster dev: 127.0.0.1
    values = yaml.safe_load((PROJECT_ROOT / "orchestration/deploy/k8s/values.yaml").read_text())
    web = values["dagsterWebserver"]
    assert web["enableReadOnly"] is True  # the chart's second, read-only webserver for viewers
    assert web.get("service", {}).get("type", "ClusterIP") == "ClusterIP"  # no public IP
