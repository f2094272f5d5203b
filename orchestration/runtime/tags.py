"""Op tags and pools the assets carry: GPU routing and the Celery priority of the critical path.

How a GPU asset asks for a GPU, in every deployment profile at once.

Use ``@asset(..., pool=GPU_POOL, op_tags=GPU_OP_TAGS)`` on every asset that trains or runs a network:

- ``pool="gpu"``: Dagster's concurrency pool, limited in the instance so a backfill never queues more
  GPU steps than there are GPUs;
- ``dagster-celery/queue: gpu``: the Celery executor routes the step to workers listening on ``gpu``;
- ``dagster-k8s/config``: the Kubernetes executor requests one ``nvidia.com/gpu`` on a GPU node.

The step still picks its device from the compute resource, so the same asset runs on CPU.
"""

import os

GPU_POOL = "gpu"
CELERY_GPU_QUEUE = "gpu"
CELERY_BROKER_ENV = "RAINFUSE_CELERY_BROKER"

GPU_OP_TAGS: dict[str, object] = {
    "dagster-celery/queue": CELERY_GPU_QUEUE,
    "dagster-k8s/config": {
        "container_config": {
            "resources": {
                "requests": {"cpu": "2", "memory": "8Gi", "nvidia.com/gpu": "1"},
                "limits": {"memory": "16Gi", "nvidia.com/gpu": "1"},
            }
        },
        "pod_spec_config": {
            "node_selector": {"rainfuse/accelerator": "nvidia-gpu"},
            "tolerations": [
                {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
            ],
        },
    },
}


def is_gpu_asset_tags(op_tags: dict[str, object] | None) -> bool:
    """True when the tags route a step to a GPU (used by the deployment tests)."""
    return bool(op_tags) and op_tags.get("dagster-celery/queue") == CELERY_GPU_QUEUE


CELERY_PRIORITY_TAG = "dagster-celery/priority"


def critical_path_op_tags(broker_url: str | None = None) -> dict[str, str]:
    """Op tags that put a step ahead of the others in the Celery queue (other profiles ignore them).

    For the steps that head the day's longest chain (gauges -> ground radar -> calibration ->
    products): without them a free worker takes whatever was queued first, e.g. the imagery steps
    that became ready at the start of the run, while the radar ingest waits. Measured on the quick
    day with 2 workers, ``ground_radar`` waited 31 s in the queue behind them.

    Brokers disagree on the direction: kombu's Redis transport serves priority 0 first, AMQP
    brokers (RabbitMQ) serve the highest value first; ``broker_url`` (default: the profile's
    ``RAINFUSE_CELERY_BROKER``, read when the code loads) picks the value.
    """
    broker = (
        broker_url if broker_url is not None else os.environ.get(CELERY_BROKER_ENV, "")
    ).lower()
    first = "9" if broker.startswith(("amqp", "pyamqp", "rpc")) else "0"
    return {CELERY_PRIORITY_TAG: first}
