"""The batch backend protocol: what orchestrator activities call, whichever backend runs."""

from __future__ import annotations

from typing import Protocol

from dataops.batch.spec import JobSpec, JobStatus

__all__ = ["BatchBackend"]


class BatchBackend(Protocol):
    """Run jobs of dependent tasks; local process pool or Azure Batch."""

    def submit(self, spec: JobSpec) -> str:
        """Create the job and its tasks; return the job id.

        Idempotent: submitting a job id that exists returns it and adds nothing twice (a
        submit that crashed half way is completed by the next one).
        """
        ...

    def status(self, job_id: str) -> JobStatus:
        """The job's state and every task's state, exit code, retries and log location.

        NotFoundError if the job is unknown.
        """
        ...

    def cancel(self, job_id: str) -> None:
        """Stop running tasks and never start the others (idempotent)."""
        ...

    def close(self) -> None:
        """Release connections and clients."""
        ...
