"""Configuration: defaults, validation errors naming the key, ${ENV} secrets."""

import datetime as dt
from pathlib import Path

import pytest

from orchestration.runtime.config import ConfigError, load_config, parse_config


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rainfuse.yaml"
    path.write_text(text)
    return path


def test_defaults_are_the_embedded_scenario(tmp_path, monkeypatch):
    monkeypatch.delenv("RAINFUSE_CONFIG", raising=False)
    config = parse_config({}, tmp_path)
    assert config.partitions.start_date == dt.date(2021, 5, 20)
    assert config.compute.device == "auto"
    assert config.sources.satellite.platform == "auto"
    # 300 km x 300 km around KMLB (28.113 N, -80.654 E)
    assert config.domain.lat_min_deg < 28.113 < config.domain.lat_max_deg
    assert config.domain.lon_min_deg < -80.654 < config.domain.lon_max_deg
    assert config.sources.ground_radar.sites == ["KMLB"]
    # relative local folders resolve against the configuration's folder
    assert config.sources.gauges.url == str(tmp_path / "data/archive/gauges")


def test_valid_file_with_s3_source(tmp_path, monkeypatch):
    monkeypatch.setenv("MY_SECRET", "s3cr3t-value")
    path = write(
        tmp_path,
        """
domain: {lat_min_deg: 10, lat_max_deg: 11, lon_min_deg: 20, lon_max_deg: 21, grid_spacing_deg: 0.05}
sources:
  ground_radar: {url: "s3://unidata-nexrad-level2", storage_options: {anon: true}, sites: [KLBB]}
  spaceborne: {url: "s3://ops/gpm", storage_options: {key: "${MY_SECRET}", secret: "${MY_SECRET}"}}
partitions: {start_date: "2016-06-01"}
compute: {device: cpu}
""",
    )
    config = load_config(path)
    assert config.sources.ground_radar.url == "s3://unidata-nexrad-level2"
    assert config.sources.ground_radar.storage_options == {"anon": True}
    assert config.partitions.start_date == dt.date(2016, 6, 1)
    assert config.domain.grid_spacing_deg == 0.05
    # the secret stays a reference in the validated configuration
    assert config.sources.spaceborne.storage_options["secret"] == "${MY_SECRET}"
    assert "s3cr3t-value" not in config.model_dump_json()


def test_unknown_key_is_named(tmp_path):
    path = write(tmp_path, "domain:\n  grid_spacing: 0.01\n")
    with pytest.raises(ConfigError, match=r"domain\.grid_spacing: unknown key"):
        load_config(path)


def test_wrong_type_is_named(tmp_path):
    path = write(tmp_path, "domain:\n  grid_spacing_deg: fine\n")
    with pytest.raises(ConfigError, match=r"domain\.grid_spacing_deg"):
        load_config(path)
    path = write(tmp_path, "compute:\n  device: tpu\n")
    with pytest.raises(ConfigError, match=r"compute\.device"):
        load_config(path)


def test_missing_secret_is_named(tmp_path, monkeypatch):
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    path = write(
        tmp_path,
        'sources:\n  spaceborne:\n    url: "s3://b/p"\n    storage_options: {secret: "${NOT_SET_ANYWHERE}"}\n',
    )
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert "sources.spaceborne.storage_options.secret" in str(info.value)
    assert "NOT_SET_ANYWHERE" in str(info.value)


def test_inline_credential_is_refused(tmp_path):
    path = write(tmp_path, 'storage: {url: "s3://b", storage_options: {secret: "plain-text"}}\n')
    with pytest.raises(ConfigError, match="credential"):
        load_config(path)


def test_bad_bounds_and_yaml(tmp_path):
    path = write(tmp_path, "domain: {lat_min_deg: 30, lat_max_deg: 20}\n")
    with pytest.raises(ConfigError, match="lat_min_deg must be smaller"):
        load_config(path)
    path = write(tmp_path, "domain: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(path)


def test_environment_selects_the_file(tmp_path, monkeypatch):
    path = write(tmp_path, "compute: {device: cuda}\n")
    monkeypatch.setenv("RAINFUSE_CONFIG", str(path))
    assert load_config().compute.device == "cuda"
    monkeypatch.setenv("RAINFUSE_CONFIG", str(tmp_path / "absent.yaml"))
    with pytest.raises(ConfigError, match="does not exist"):
        load_config()


def test_non_secret_values_are_interpolated(tmp_path, monkeypatch):
    monkeypatch.setenv("BUCKET", "ops-bucket")
    config = load_config(write(tmp_path, 'product_store: {url: "s3://${BUCKET}/products"}\n'))
    assert config.product_store.url == "s3://ops-bucket/products"


def test_fingerprint_changes_with_configuration(tmp_path):
    a = parse_config({}, tmp_path)
    b = parse_config({"compute": {"device": "cpu"}}, tmp_path)
    assert a.fingerprint() != b.fingerprint()
    assert a.fingerprint() == parse_config({}, tmp_path).fingerprint()


def test_torch_threads_default_to_one_and_reach_the_compute_resource(tmp_path):
    import torch

    from orchestration.runtime.resources import build_resources

    config = load_config(write(tmp_path, "compute:\n  device: cpu\n"))
    assert config.compute.torch_threads == 1
    compute = build_resources(config)["compute"]
    before = torch.get_num_threads()
    try:
        assert compute.torch_device().type == "cpu" and torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
    with pytest.raises(ConfigError, match=r"compute\.torch_threads"):
        load_config(write(tmp_path, "compute:\n  torch_threads: -1\n"))


def test_ground_radar_blocks_default_and_bounds(tmp_path):
    assert (
        load_config(write(tmp_path, "compute:\n  device: cpu\n")).compute.ground_radar_blocks == 2
    )
    assert (
        load_config(
            write(tmp_path, "compute:\n  ground_radar_blocks: 4\n")
        ).compute.ground_radar_blocks
        == 4
    )
    for bad in (0, 33, "two"):
        with pytest.raises(ConfigError, match=r"compute\.ground_radar_blocks"):
            load_config(write(tmp_path, f"compute:\n  ground_radar_blocks: {bad}\n"))


def test_both_embedded_scenarios_load(monkeypatch):
    from orchestration.runtime.config import PROJECT_ROOT

    modern = load_config(PROJECT_ROOT / "rainfuse.yaml")
    trmm = load_config(PROJECT_ROOT / "scenarios" / "trmm.yaml")
    assert modern.partitions.start_date == dt.date(2021, 5, 20)
    assert trmm.partitions.start_date == dt.date(2009, 5, 20)
    # the TRMM era's data sit beside the default's, never in the same folders
    assert trmm.sources.ground_radar.url == str(PROJECT_ROOT / "data/trmm/archive/nexrad")
    assert modern.storage.url != trmm.storage.url
    assert modern.sources.satellite.platform == trmm.sources.satellite.platform == "auto"
