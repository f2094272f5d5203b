"""The executor of each deployment profile (``RAINFUSE_PROFILE``), chosen when the code loads.

=============  ============================================================================
profile        runs steps
=============  ============================================================================
``local``      in subprocesses of the run worker (Dagster's default multiprocess executor)
``production`` same, on a PostgreSQL instance with queued runs (``deploy/production``)
``celery``     as Celery tasks: queue ``dagster`` by default, ``gpu`` for GPU assets (their
               ``dagster-celery/queue`` tag); broker and result backend from the environment
``k8s``        one Kubernetes Job per step; GPU assets add their ``dagster-k8s/config``
               (``nvidia.com/gpu`` request, node selector, tolerations)
=============  ============================================================================

The runs ``rainfuse backfill`` submits on the local and production profiles run their steps side
by side, two at a time, in processes forked from one forkserver that imported the code location
once (:func:`multiprocess_run_config`, given to every run of the backfill): imports of Dagster,
torch, Py-ART and the code location are paid once per run, not once per step. Other runs keep
Dagster's default (a fresh ``spawn`` process per step, as many at once as there are cores).

Secrets (a broker password) stay in environment variables: the executor configuration holds
``{"env": NAME}`` references, resolved by the worker at run time, never in the UI.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any

from dagster import ExecutorDefinition

from orchestration.runtime.tags import CELERY_BROKER_ENV

PROFILE_ENV = "RAINFUSE_PROFILE"
PROFILES: tuple[str, ...] = ("local", "production", "celery", "k8s")
CELERY_BACKEND_ENV = "RAINFUSE_CELERY_BACKEND"
CELERY_DEFAULT_QUEUE = "dagster"
#: Seconds between two polls of the run's Celery results by the run coordinator (dagster-celery
#: waits 1 s). A step's consumers are submitted only at the next poll after it ends, so on the
#: day's chain of about 15 dependent steps the 1-s wait cost about 8 s per run (half a tick per
#: step, on average) while the other worker sat idle. Each poll asks the result backend about the
#: steps in flight (a handful of Redis GETs).
CELERY_POLL_INTERVAL_S = float(os.environ.get("RAINFUSE_CELERY_POLL_S", "0.1"))

#: Steps one run of the local and production profiles executes at once (the multiprocess
#: executor's ``max_concurrent``): the two cores of the workstation the figures were measured on.
RUN_MAX_CONCURRENT_ENV = "RAINFUSE_RUN_MAX_CONCURRENT"
DEFAULT_RUN_MAX_CONCURRENT = 2
#: Executors (by definition name) whose config :func:`multiprocess_run_config` knows: Dagster's
#: default (multiprocess, or in process when asked) and its plain multiprocess executor.
_MULTI_OR_IN_PROCESS = "multi_or_in_process_executor"
_MULTIPROCESS = "multiprocess"


class ProfileError(ValueError):
    """``RAINFUSE_PROFILE`` names no known deployment profile."""


def current_profile() -> str:
    """The deployment profile in force (``local`` unless ``RAINFUSE_PROFILE`` says otherwise)."""
    profile = os.environ.get(PROFILE_ENV, "local").strip() or "local"
    if profile not in PROFILES:
        raise ProfileError(f"{PROFILE_ENV}={profile!r}: expected one of {', '.join(PROFILES)}")
    return profile


def celery_executor_config() -> dict[str, object]:
    """Executor config of the Celery profile; the same block goes in the workers' YAML."""
    return {
        "broker": {"env": CELERY_BROKER_ENV},
        "backend": {"env": CELERY_BACKEND_ENV},
        "config_source": {
            "task_default_queue": CELERY_DEFAULT_QUEUE,
            # One GPU step at a time per worker process: no prefetching of a second GPU task.
            "worker_prefetch_multiplier": 1,
            # A step's task is acknowledged only after it ran, and given back to the queue when
            # the process running it dies (SIGKILL, OOM killer): another process runs the step
            # again in the same run. Without the second, Celery acknowledged the task of a killed
            # process, stored WorkerLostError as its result and the whole run failed
            # (tests/integration/test_fault_worker_kill.py).
            "task_acks_late": True,
            "task_reject_on_worker_lost": True,
        },
    }


def executor_for_profile(profile: str | None = None) -> ExecutorDefinition | None:
    """The executor of ``profile`` (default: :func:`current_profile`); None keeps Dagster's default."""
    profile = profile or current_profile()
    if profile in ("local", "production"):
        return None
    if profile == "celery":
        import dagster_celery.core_execution_loop as celery_loop
        from dagster_celery import celery_executor

        # read by the loop at every tick; dagster-celery has no setting for it
        celery_loop.TICK_SECONDS = CELERY_POLL_INTERVAL_S
        return celery_executor.configured(celery_executor_config(), name="celery_executor")
    if profile == "k8s":
        from dagster_k8s import k8s_job_executor

        return k8s_job_executor.configured(
            {"max_concurrent": 8, "job_namespace": {"env": "DAGSTER_K8S_NAMESPACE"}},
            name="k8s_job_executor",
        )
    raise ProfileError(f"{PROFILE_ENV}={profile!r}: expected one of {', '.join(PROFILES)}")


def run_max_concurrent() -> int:
    """Steps a run executes side by side: ``RAINFUSE_RUN_MAX_CONCURRENT`` (default 2)."""
    raw = os.environ.get(RUN_MAX_CONCURRENT_ENV, "").strip()
    if not raw:
        return DEFAULT_RUN_MAX_CONCURRENT
    try:
        value = int(raw)
    except ValueError:
        raise ProfileError(f"{RUN_MAX_CONCURRENT_ENV}: expected an integer, got {raw!r}") from None
    if value < 1:
        raise ProfileError(f"{RUN_MAX_CONCURRENT_ENV}: {value} is not a number of processes")
    return value


def multiprocess_run_config(
    executor_name: str, preload_modules: Sequence[str], max_concurrent: int | None = None
) -> dict[str, Any] | None:
    """Run config that runs a job's steps side by side in processes forked from a forkserver.

    ``max_concurrent`` steps at once (default :func:`run_max_concurrent`); the forkserver imports
    ``preload_modules`` (the code location's module: Dagster, torch, Py-ART and the assets with it)
    once per run, and every step process is forked from it, so a step starts in well under a
    second instead of importing everything again (Dagster's default start method, ``spawn``, pays
    the imports in every step). The forkserver never touches CUDA: importing the code location
    does not initialise it (``ComputeResource`` probes the device inside a step), so each step
    may still create its own CUDA context.

    ``executor_name`` is the name of the job's executor definition; ``None`` when that executor
    is not Dagster's multiprocess one (Celery, Kubernetes, in process): its own config stands.
    """
    block = {
        "max_concurrent": run_max_concurrent() if max_concurrent is None else max_concurrent,
        "start_method": {"forkserver": {"preload_modules": list(preload_modules)}},
    }
    if executor_name == _MULTI_OR_IN_PROCESS:
        return {"execution": {"config": {"multiprocess": block}}}
    if executor_name == _MULTIPROCESS:
        return {"execution": {"config": block}}
    return None


def gpu_routing_problems(assets: object) -> list[str]:
    """Why each GPU asset would not reach a GPU in every profile (empty list: all good).

    A GPU asset is one of kind ``torch``/``pytorch`` or one carrying any GPU marker (the ``gpu`` pool, the
    Celery ``gpu`` queue or a Kubernetes ``nvidia.com/gpu`` request); it must carry all three, so
    that no profile runs it on a CPU node or outside the pool's limit.
    """
    from dagster import AssetsDefinition

    problems: list[str] = []
    for assets_def in assets:  # type: ignore[attr-defined]
        if not isinstance(assets_def, AssetsDefinition) or not assets_def.is_executable:
            continue
        kinds = {k.lower() for key in assets_def.keys for k in assets_def.specs_by_key[key].kinds}
        name = ", ".join(key.to_user_string() for key in assets_def.keys)
        # a graph-backed asset runs each of its ops as a step of its own: each is checked
        op_defs = list(assets_def.node_def.iterate_op_defs())
        for op_def in op_defs:
            where = name if len(op_defs) == 1 else f"{name} (op {op_def.name})"
            problems.extend(_op_gpu_routing_problems(op_def, kinds, where))
    return problems


def _op_gpu_routing_problems(op_def: object, kinds: set[str], name: str) -> list[str]:
    from orchestration.runtime.tags import CELERY_GPU_QUEUE, GPU_POOL

    problems: list[str] = []
    tags = dict(op_def.tags or {})  # type: ignore[attr-defined]
    kinds = set(kinds)
    if tags.get("dagster/compute_kind"):
        kinds.add(str(tags["dagster/compute_kind"]).lower())
    k8s = tags.get("dagster-k8s/config") or {}
    if isinstance(k8s, str):  # Dagster stores structured op tags as JSON text
        k8s = json.loads(k8s)
    resources = (k8s.get("container_config") or {}).get("resources") or {}
    gpu_limit = (resources.get("limits") or {}).get("nvidia.com/gpu")
    markers = {
        "pool": op_def.pool == GPU_POOL,  # type: ignore[attr-defined]
        "celery": tags.get("dagster-celery/queue") == CELERY_GPU_QUEUE,
        "k8s": gpu_limit is not None and int(gpu_limit) >= 1,
    }
    if not (kinds & {"torch", "pytorch"} or any(markers.values())):
        return problems
    if not markers["pool"]:
        problems.append(f"{name}: not in the {GPU_POOL!r} concurrency pool")
    if not markers["celery"]:
        problems.append(f"{name}: no 'dagster-celery/queue: {CELERY_GPU_QUEUE}' op tag")
    if not markers["k8s"]:
        problems.append(f"{name}: no nvidia.com/gpu limit in its dagster-k8s/config")
    tolerations = ((k8s.get("pod_spec_config") or {}).get("tolerations")) or []
    if markers["k8s"] and not any(t.get("key") == "nvidia.com/gpu" for t in tolerations):
        problems.append(f"{name}: no toleration of the nvidia.com/gpu taint")
    return problems
