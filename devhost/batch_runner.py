"""The local stand-in for the Azure Batch service: a LocalPool scheduler in a daemon thread.

The app's activities only submit, poll and cancel (activities/runtime.py ``batch_backend``);
something has to run the tasks, as the Batch service does in Azure. This opens the same pool
database (same settings: ``batch/`` next to the SQLite metadata file) and runs
``run_forever`` until stopped. Worker subprocesses reach Azurite through
``AZURE_STORAGE_CONNECTION_STRING``, set here from the app's storage connection string.

:meth:`BatchRunner.notify` connects the pool to the host's engine: when a job's last task
ends, the pool raises ``batch_job_done`` on the orchestration that submitted it (the job's
``instance_id`` label), as the release task does on Azure Batch (docs/batch.md).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from dataops.batch.factory import open_batch_backend
from dataops.batch.local_pool import LocalPool
from dataops.batch.notify import JOB_DONE_EVENT, JobDone, job_done_payload
from dataops.settings import BatchBackend, Settings
from devhost.durable.engine import DurableEngine

__all__ = ["BatchRunner", "batch_runner"]

log = logging.getLogger("devhost.batch_runner")


class BatchRunner:
    """Runs the local pool's scheduler in a daemon thread; :meth:`stop` ends it."""

    def __init__(self, settings: Settings, *, max_parallel: int | None = None) -> None:
        if settings.batch_backend is not BatchBackend.LOCAL:
            raise ValueError("the batch runner is only for AVOPS_BATCH_BACKEND=local")
        if settings.storage_connection_string:
            # Tasks get blob URLs of Azurite containers; the worker authenticates with this.
            os.environ["AZURE_STORAGE_CONNECTION_STRING"] = settings.storage_connection_string
        # The factory is the one place that knows where the pool lives; zone roots are not
        # needed here because submit resolved them already.
        backend = open_batch_backend(settings, max_parallel=max_parallel)
        assert isinstance(backend, LocalPool)
        self.pool: LocalPool = backend
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="avops-batch-runner", daemon=True)

    def _run(self) -> None:
        try:
            self.pool.run_forever(self._stop)
        except Exception:
            # A dead scheduler would leave every job PENDING; say so loudly in the host log.
            log.exception("local batch pool scheduler stopped with an error")
            raise

    def notify(self, engine: DurableEngine) -> BatchRunner:
        """Raise ``batch_job_done`` on ``engine`` when a job ends (called from the scheduler)."""

        def job_done(done: JobDone) -> None:
            if not engine.raise_event(
                done.instance_id, JOB_DONE_EVENT, job_done_payload(done.job_id)
            ):
                log.info("job %s ended after %s finished", done.job_id, done.instance_id)

        self.pool.on_job_done = job_done
        return self

    def start(self) -> BatchRunner:
        """Start the scheduler thread."""
        self._thread.start()
        log.info("local batch pool running (%s)", self.pool.workdir)
        return self

    def stop(self, timeout_s: float = 30.0) -> None:
        """Stop scheduling, stop running tasks (they are requeued), close the pool."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)
        self.pool.close()


@contextmanager
def batch_runner(
    settings: Settings | None = None, *, max_parallel: int | None = None
) -> Iterator[BatchRunner]:
    """Run the local batch pool for the duration of the ``with`` block."""
    runner = BatchRunner(settings or Settings(), max_parallel=max_parallel).start()
    try:
        yield runner
    finally:
        runner.stop()
