"""``python -m extract_worker.notify``: the Azure Batch job release task.

Posts the ``batch_job_done`` event for ``AZ_BATCH_JOB_ID`` to the raise-event URL in
``AVOPS_NOTIFY_URL`` (docs/batch.md), a few times if the app does not answer. Exit 0 when the
event was accepted (or nothing waits for it any more), 1 otherwise: the orchestration then
finds the job at its next poll, so a failed notification costs latency, never a result.
"""

from __future__ import annotations

import os
import sys
import time
import urllib.error

from dataops.batch.notify import NOTIFY_URL_ENV, post_job_done

ATTEMPTS = 3
BACKOFF_S = 2.0


def main(argv: list[str] | None = None) -> int:
    """Send the event; see the module docstring for the exit codes."""
    del argv  # everything comes from the task environment, as Batch sets it
    url = os.environ.get(NOTIFY_URL_ENV)
    job_id = os.environ.get("AZ_BATCH_JOB_ID")
    if not url or not job_id:
        sys.stderr.write(f"notify: {NOTIFY_URL_ENV} and AZ_BATCH_JOB_ID must be set\n")
        return 1
    for attempt in range(1, ATTEMPTS + 1):
        try:
            status = post_job_done(url, job_id)
        except (urllib.error.URLError, OSError) as err:
            sys.stderr.write(f"notify: attempt {attempt} for job {job_id} failed: {err}\n")
            if attempt < ATTEMPTS:
                time.sleep(BACKOFF_S * attempt)
            continue
        sys.stdout.write(f"notify: job {job_id}: HTTP {status}\n")
        return 0
    return 1


if __name__ == "__main__":
    sys.exit(main())
