"""Every deployment profile: `dagster definitions validate` on the real code location with the
profile's instance (PostgreSQL ones against a real server), and the settings operators rely on."""

import os
import subprocess

import pytest
import yaml

from bench.services import BIN, PROJECT_ROOT, dagster_home

pytestmark = pytest.mark.integration

DEPLOY = PROJECT_ROOT / "orchestration" / "deploy"
PROFILES = ("local", "production", "celery", "k8s")


@pytest.fixture(scope="module")
def profile_env(postgres_server):
    db = postgres_server.create_database()
    return {
        **postgres_server.env(db),
        "RAINFUSE_CELERY_BROKER": "redis://127.0.0.1:6379/0",
        "RAINFUSE_CELERY_BACKEND": "redis://127.0.0.1:6379/0",
        "DAGSTER_K8S_NAMESPACE": "rainfuse",
    }


KUBECONFIG = """apiVersion: v1
kind: Config
clusters: [{name: test, cluster: {server: "https://127.0.0.1:6443"}}]
users: [{name: test, user: {token: not-a-secret}}]
contexts: [{name: test, context: {cluster: test, user: test, namespace: rainfuse}}]
current-context: test
"""


def _outside_cluster(home):
    """The k8s profile loads the in-cluster credentials; here a kubeconfig stands in for them
    (loading it connects to nothing), every other key stays as shipped."""
    config_file = home / "dagster.yaml"
    config = yaml.safe_load(config_file.read_text())
    (home / "kubeconfig").write_text(KUBECONFIG)
    launcher = config["run_launcher"]["config"]
    launcher.update(load_incluster_config=False, kubeconfig_file=str(home / "kubeconfig"))
    config_file.write_text(yaml.safe_dump(config))


@pytest.mark.parametrize("profile", PROFILES)
def test_definitions_validate_for_profile(profile, profile_env, tmp_path):
    home = dagster_home(tmp_path, profile)
    if profile == "k8s":
        _outside_cluster(home)
    env = {**os.environ, **profile_env, "DAGSTER_HOME": str(home), "RAINFUSE_PROFILE": profile}
    result = subprocess.run(
        [str(BIN / "dagster"), "definitions", "validate", "-w", "workspace.yaml"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert "Validation successful for code location rainfuse" in output


@pytest.mark.parametrize("profile", ("local", "production", "celery"))
def test_instance_settings_of_profile(profile, profile_env, tmp_path, monkeypatch):
    from dagster import DagsterInstance

    for key, value in profile_env.items():
        monkeypatch.setenv(key, value)
    home = dagster_home(tmp_path, profile)
    with DagsterInstance.from_config(str(home)) as instance:
        config = instance.get_concurrency_config()
        limits = {
            item["key"]: item["limit"] for item in config.run_queue_config.tag_concurrency_limits
        }
        assert 1 <= limits["dagster/backfill"] < config.run_queue_config.max_concurrent_runs
        assert config.pool_config.default_pool_limit == 1
        assert config.pool_config.pool_granularity.value == "op"
        assert instance.run_monitoring_settings["free_slots_after_run_end_seconds"] > 0
        assert instance.event_log_storage.supports_global_concurrency_limits
        storage = type(instance.run_storage).__name__
        assert storage == ("SqliteRunStorage" if profile == "local" else "PostgresRunStorage")
        if profile != "local":
            assert instance.run_retries_enabled and instance.run_retries_max_retries == 2


def test_k8s_profile_launches_jobs_and_helm_values_match():
    instance_yaml = yaml.safe_load((DEPLOY / "k8s" / "dagster.yaml").read_text())
    assert instance_yaml["run_launcher"]["class"] == "K8sRunLauncher"
    values = yaml.safe_load((DEPLOY / "k8s" / "values.yaml").read_text())
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    (deployment,) = values["dagster-user-deployments"]["deployments"]
    assert deployment["dagsterApiGrpcArgs"] == ["--module-name", "orchestration.definitions"]
    env = {item["name"]: item["value"] for item in deployment["env"]}
    assert env["RAINFUSE_PROFILE"] == "k8s"
    daemon = values["dagsterDaemon"]
    assert daemon["runCoordinator"]["type"] == "QueuedRunCoordinator"
    assert daemon["runMonitoring"]["freeSlotsAfterRunEndSeconds"] > 0
    concurrency = values["concurrency"]
    assert concurrency["enabled"] and concurrency["pools"]["granularity"] == "op"
    assert {"key": "dagster/backfill", "limit": 32} in concurrency["runs"]["tagConcurrencyLimits"]
    # the Helm values and the instance file the tests validate say the same
    assert (
        instance_yaml["concurrency"]["runs"]["tag_concurrency_limits"]
        == (concurrency["runs"]["tagConcurrencyLimits"])
    )
    assert (
        instance_yaml["concurrency"]["pools"]["default_limit"]
        == (concurrency["pools"]["defaultLimit"])
    )


def test_celery_worker_config_matches_executor(monkeypatch):
    from dagster_celery.cli import get_validated_config

    from orchestration.executors import celery_executor_config

    monkeypatch.setenv("RAINFUSE_CELERY_BROKER", "redis://broker.example:6379/0")
    monkeypatch.setenv("RAINFUSE_CELERY_BACKEND", "redis://broker.example:6379/1")
    worker = get_validated_config(str(DEPLOY / "celery" / "worker.yaml"))
    assert worker["broker"] == "redis://broker.example:6379/0"
    assert worker["backend"] == "redis://broker.example:6379/1"
    file_block = yaml.safe_load((DEPLOY / "celery" / "worker.yaml").read_text())
    assert file_block["execution"]["config"] == celery_executor_config()
