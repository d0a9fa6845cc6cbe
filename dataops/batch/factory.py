"""Pick and open the batch backend that the settings name."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import dataops
from dataops.batch.protocol import BatchBackend
from dataops.errors import TerminalError
from dataops.settings import BatchBackend as BatchBackendKind
from dataops.settings import Settings

if TYPE_CHECKING:
    # Only for the annotation: the local backend never loads azure-batch.
    from dataops.batch.azure_batch_models import AzureTaskSettings

__all__ = ["open_batch_backend"]


def open_batch_backend(
    settings: Settings,
    *,
    local_dir: Path | None = None,
    zone_roots: Mapping[str, str] | None = None,
    max_parallel: int | None = None,
    azure_tasks: AzureTaskSettings | None = None,
) -> BatchBackend:
    """Open ``local`` (embedded default) or ``azure`` (AVOPS_BATCH_BACKEND).

    local: database, logs and task directories under ``local_dir`` (default: ``batch/`` next
    to the SQLite metadata file); ``zone_roots`` maps zones to what tasks are given.
    azure: AVOPS_BATCH_ACCOUNT_URL and AVOPS_BATCH_POOL_ID, plus ``azure_tasks`` (image,
    registry and identity), with the app's managed identity.
    """
    if settings.batch_backend is BatchBackendKind.AZURE:
        if not settings.batch_account_url:
            raise TerminalError("AVOPS_BATCH_ACCOUNT_URL is not set")
        if azure_tasks is None:
            raise TerminalError("the azure batch backend needs the worker image settings")
        from dataops.batch.azure_batch import AzureBatchBackend

        return AzureBatchBackend.connect(
            settings.batch_account_url, pool_id=settings.batch_pool_id, task_settings=azure_tasks
        )
    from dataops.batch.local_pool import LocalPool

    directory = local_dir or settings.sqlite_path.parent / "batch"
    return LocalPool(
        directory / "pool.sqlite3",
        directory,
        max_parallel=max_parallel,
        zone_roots=zone_roots,
        env={"PYTHONPATH": _python_path()},
    )


def _python_path() -> str:
    # Tasks run in their own directories: put the tree that holds dataops (and, beside it,
    # extract_worker) on the path, or `python -m extract_worker` finds nothing from a checkout.
    root = str(Path(next(iter(dataops.__path__))).resolve().parent)
    existing = os.environ.get("PYTHONPATH")
    return os.pathsep.join([root, existing]) if existing else root
