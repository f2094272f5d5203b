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

Secrets (a broker password) stay in environment variables: the executor configuration holds
``{"env": NAME}`` references, resolved by the worker at run time, never in the UI.
"""

from __future__ import annotations

import os

from dagster import ExecutorDefinition

PROFILE_ENV = "RAINFUSE_PROFILE"
PROFILES: tuple[str, ...] = ("local", "production", "celery", "k8s")
CELERY_BROKER_ENV = "RAINFUSE_CELERY_BROKER"
CELERY_BACKEND_ENV = "RAINFUSE_CELERY_BACKEND"
CELERY_DEFAULT_QUEUE = "dagster"


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
            "task_acks_late": True,
        },
    }


def executor_for_profile(profile: str | None = None) -> ExecutorDefinition | None:
    """The executor of ``profile`` (default: :func:`current_profile`); None keeps Dagster's default."""
    profile = profile or current_profile()
    if profile in ("local", "production"):
        return None
    if profile == "celery":
        from dagster_celery import celery_executor

        return celery_executor.configured(celery_executor_config(), name="celery_executor")
    if profile == "k8s":
        from dagster_k8s import k8s_job_executor

        return k8s_job_executor.configured(
            {"max_concurrent": 8, "job_namespace": {"env": "DAGSTER_K8S_NAMESPACE"}},
            name="k8s_job_executor",
        )
    raise ProfileError(f"{PROFILE_ENV}={profile!r}: expected one of {', '.join(PROFILES)}")
