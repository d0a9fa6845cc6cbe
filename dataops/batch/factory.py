"""Pick and open the batch backend that the settings name."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import dataops
from dataops.batch.notify import JobDoneHook, JobDoneSigner, check_api_base_url
from dataops.batch.protocol import BatchBackend
from dataops.errors import TerminalError
from dataops.settings import BatchBackend as BatchBackendKind
from dataops.settings import Settings

if TYPE_CHECKING:
    # Only for the annotation: the local backend never loads azure-batch.
    from dataops.batch.azure_batch_models import AzureTaskSettings

__all__ = ["azure_task_settings", "open_batch_backend"]


def open_batch_backend(
    settings: Settings,
    *,
    local_dir: Path | None = None,
    zone_roots: Mapping[str, str] | None = None,
    max_parallel: int | None = None,
    azure_tasks: AzureTaskSettings | None = None,
    on_job_done: JobDoneHook | None = None,
) -> BatchBackend:
    """Open ``local`` (embedded default) or ``azure`` (AVOPS_BATCH_BACKEND).

    local: database, logs and task directories under ``local_dir`` (default: ``batch/`` next
    to the SQLite metadata file); ``zone_roots`` maps zones to what tasks are given; slots:
    ``max_parallel``, else AVOPS_BATCH_LOCAL_SLOTS, else the CPU count; ``on_job_done`` is
    called by the scheduler when a job ends (dataops.batch.notify).
    azure: AVOPS_BATCH_ACCOUNT_URL and AVOPS_BATCH_POOL_ID, with the app's managed identity;
    tasks run as :func:`azure_task_settings` says, unless ``azure_tasks`` replaces that.
    """
    if settings.batch_backend is BatchBackendKind.AZURE:
        if not settings.batch_account_url:
            raise TerminalError("AVOPS_BATCH_ACCOUNT_URL is not set")
        tasks = azure_tasks if azure_tasks is not None else azure_task_settings(settings)
        from dataops.batch.azure_batch import AzureBatchBackend

        return AzureBatchBackend.connect(
            settings.batch_account_url, pool_id=settings.batch_pool_id, task_settings=tasks
        )
    from dataops.batch.local_pool import LocalPool

    directory = local_dir or settings.sqlite_path.parent / "batch"
    return LocalPool(
        directory / "pool.sqlite3",
        directory,
        max_parallel=max_parallel or settings.batch_local_slots,
        zone_roots=zone_roots,
        on_job_done=on_job_done,
        env={"PYTHONPATH": _python_path()},
    )


def azure_task_settings(settings: Settings) -> AzureTaskSettings:
    """How Azure Batch tasks run, from the AVOPS_BATCH_* settings infra/ sets.

    The zones are the pool's NFS mounts (the default roots), so no zone root is passed.
    With AVOPS_BATCH_NOTIFY_URL set, jobs signal their end to the app's job-done route, which
    needs AVOPS_BATCH_NOTIFY_SECRET to sign their tokens (TerminalError naming it otherwise).
    """
    if not settings.batch_worker_image:
        raise TerminalError(
            "AVOPS_BATCH_WORKER_IMAGE is not set: the azure batch backend needs the worker image"
        )
    if settings.batch_registry_server and not settings.batch_identity_id:
        # A private registry without an identity reference would fail every task at image pull.
        raise TerminalError(
            "AVOPS_BATCH_IDENTITY_ID is not set: the pool pulls from "
            f"{settings.batch_registry_server} with its managed identity"
        )
    from dataops.batch.azure_batch_models import AzureTaskSettings

    notify_url = None
    signer = None
    if settings.batch_notify_url:
        notify_url = check_api_base_url(settings.batch_notify_url)
        signer = JobDoneSigner.from_setting(settings.batch_notify_secret)
    return AzureTaskSettings(
        image=settings.batch_worker_image,
        registry_server=settings.batch_registry_server or None,
        identity_resource_id=settings.batch_identity_id or None,
        identity_client_id=settings.batch_identity_client_id or None,
        notify_api_base_url=notify_url,
        notify_signer=signer,
    )


def _python_path() -> str:
    # Tasks run in their own directories: put the tree that holds dataops (and, beside it,
    # extract_worker) on the path, or `python -m extract_worker` finds nothing from a checkout.
    root = str(Path(next(iter(dataops.__path__))).resolve().parent)
    existing = os.environ.get("PYTHONPATH")
    return os.pathsep.join([root, existing]) if existing else root
