"""The Celery profile end to end, on real services started here on 127.0.0.1.

PostgreSQL holds the instance (the celery profile's dagster.yaml, unchanged), Redis is the Celery
broker and result backend, two ``dagster-celery worker start`` workers listen on the queues
``dagster`` and ``gpu``, and the moto S3 server is the IO manager's shared store. A daily partition
of the tiny code location runs with the Celery executor chosen by ``RAINFUSE_PROFILE=celery``; the
test then checks from PostgreSQL and S3 that the GPU step ran on the gpu worker, the others on the
dagster worker, the outputs are in S3, and the run's events are in PostgreSQL.
"""

import json
import os
import subprocess
from pathlib import Path

import pytest

from bench.services import BIN, DEPLOY_DIR, PROJECT_ROOT, celery_workers, dagster_home, tail

pytestmark = pytest.mark.integration

LOCATION_FILE = Path(__file__).with_name("ops_location.py")
PARTITION = "2024-01-05"
WORKER_CONFIG = DEPLOY_DIR / "celery" / "worker.yaml"
#: worker name -> its queues (each worker sees its name in RAINFUSE_WORKER_NAME)
QUEUES = {"cpu": ("dagster",), "gpu": ("gpu",)}


@pytest.fixture(scope="module")
def celery_run(postgres_server, redis_url, s3_server, tmp_path_factory):
    """Start workers, materialize one partition through Celery, stop everything; yield facts."""
    import s3fs

    folder = tmp_path_factory.mktemp("ops_celery")
    endpoint, options = s3_server
    bucket = "rainfuse-ops-celery"
    s3 = s3fs.S3FileSystem(**options)
    s3.mkdir(bucket)
    db = postgres_server.create_database()
    home = dagster_home(folder, "celery")
    env = {
        **os.environ,
        **postgres_server.env(db),
        "DAGSTER_HOME": str(home),
        "RAINFUSE_PROFILE": "celery",
        "RAINFUSE_CELERY_BROKER": redis_url,
        "RAINFUSE_CELERY_BACKEND": redis_url,
        "RAINFUSE_OPS_STORAGE": f"s3://{bucket}/dagster-storage",
        "RAINFUSE_OPS_S3_ENDPOINT": endpoint,
        "AWS_ACCESS_KEY_ID": options["key"],
        "AWS_SECRET_ACCESS_KEY": options["secret"],
        "PYTHONPATH": os.pathsep.join([str(LOCATION_FILE.parent), str(PROJECT_ROOT)]),
    }
    # each worker answers a ping before the run starts; all are stopped when the block ends
    with celery_workers(QUEUES, env, WORKER_CONFIG, folder, timeout_s=90) as workers:
        result = subprocess.run(
            [
                str(BIN / "dagster"), "asset", "materialize", "-f", str(LOCATION_FILE),
                "-d", str(PROJECT_ROOT), "--select", "ops_ingest,ops_gpu_fit,ops_product",
                "--partition", PARTITION,
            ],
            env=env, capture_output=True, text=True, timeout=240, cwd=PROJECT_ROOT,
        )  # fmt: skip
        logs = {name: tail(worker.log_path) for name, worker in workers.items()}
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:] + str(logs)
    assert all(worker.poll() is not None for worker in workers.values())
    yield {"db": db, "home": home, "env": env, "s3": s3, "bucket": bucket}


def _instance(facts):
    from dagster import DagsterInstance

    saved = {k: os.environ.get(k) for k in facts["env"]}
    os.environ.update({k: facts["env"][k] for k in facts["env"] if k.startswith("DAGSTER_")})
    try:
        return DagsterInstance.from_config(str(facts["home"]))
    finally:
        for key, value in saved.items():
            if key.startswith("DAGSTER_"):
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


def test_gpu_step_ran_on_gpu_worker(celery_run):
    from dagster import DagsterEventType, DagsterRunStatus

    instance = _instance(celery_run)
    try:
        (run,) = instance.get_runs()
        assert run.status == DagsterRunStatus.SUCCESS
        assert run.tags["dagster/partition"] == PARTITION
        worker_of_step = {}
        for record in instance.all_logs(run.run_id, of_type=DagsterEventType.ENGINE_EVENT):
            metadata = record.dagster_event.engine_event_data.metadata
            if "Celery worker" in metadata:
                worker_of_step[record.step_key] = metadata["Celery worker"].value.split("@")[0]
        assert worker_of_step == {"ops_ingest": "cpu", "ops_gpu_fit": "gpu", "ops_product": "cpu"}
        # the step itself saw the gpu worker's environment
        (materialization,) = instance.fetch_materializations(
            __import__("dagster").AssetKey("ops_gpu_fit"), limit=5
        ).records
        assert materialization.asset_materialization.metadata["worker"].value == "gpu"
    finally:
        instance.dispose()


def test_outputs_landed_in_s3(celery_run):
    s3, bucket = celery_run["s3"], celery_run["bucket"]
    stored = sorted(s3.find(f"{bucket}/dagster-storage"))
    assert stored == [
        f"{bucket}/dagster-storage/{name}/{PARTITION}.json"
        for name in ("ops_gpu_fit", "ops_ingest", "ops_product")
    ]
    fit = json.loads(s3.cat_file(f"{bucket}/dagster-storage/ops_gpu_fit/{PARTITION}.json"))
    # 2024-01-05: rain 5 mm -> gain 1.5, computed on the gpu worker
    assert fit == {"day": PARTITION, "gain": 1.5, "worker": "gpu"}
    product = json.loads(s3.cat_file(f"{bucket}/dagster-storage/ops_product/{PARTITION}.json"))
    assert product["rain_mm"] == pytest.approx(7.5)


def test_run_events_are_in_postgres(celery_run, postgres_server):
    db = celery_run["db"]
    ((run_id, status),) = postgres_server.query(db, "SELECT run_id, status FROM runs")
    assert status == "SUCCESS"
    counts = dict(
        postgres_server.query(
            db,
            "SELECT dagster_event_type, count(*) FROM event_logs WHERE run_id = %s "
            "GROUP BY dagster_event_type",
            (run_id,),
        )
    )
    assert counts["ASSET_MATERIALIZATION"] == 3
    assert counts["STEP_SUCCESS"] == 3
    # run-level events keep their historical name in storage
    assert counts["PIPELINE_SUCCESS"] == 1
    # every step's start and its hand-off to a Celery worker were recorded
    assert counts["STEP_START"] == 3 and counts["ENGINE_EVENT"] >= 3
