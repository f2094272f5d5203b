"""How a GPU asset asks for a GPU, in every deployment profile at once.

Use ``@asset(..., pool=GPU_POOL, op_tags=GPU_OP_TAGS)`` on every asset that trains or runs a network:

- ``pool="gpu"``: Dagster's concurrency pool, limited in the instance so a backfill never queues more
  GPU steps than there are GPUs;
- ``dagster-celery/queue: gpu``: the Celery executor routes the step to workers listening on ``gpu``;
- ``dagster-k8s/config``: the Kubernetes executor requests one ``nvidia.com/gpu`` on a GPU node.

The step still picks its device from the compute resource, so the same asset runs on CPU.
"""

GPU_POOL = "gpu"
CELERY_GPU_QUEUE = "gpu"

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
