"""``python -m extract_worker.notify``: the Azure Batch job release task.

POSTs to the app's job-done route in ``AVOPS_NOTIFY_URL`` with the job's token from
``AVOPS_NOTIFY_TOKEN`` (docs/batch.md), a few times if the app does not answer. Exit 0 when the
signal was accepted (or nothing waits for the job any more), 1 otherwise: the orchestration then
finds the job at its next poll, so a failed notification costs latency, never a result. The
token is never printed.
"""

from __future__ import annotations

import os
import sys
import time
import urllib.error

from dataops.job_signal import NOTIFY_TOKEN_ENV, NOTIFY_URL_ENV, post_job_done

ATTEMPTS = 3
BACKOFF_S = 2.0


def main(argv: list[str] | None = None) -> int:
    """Send the signal; see the module docstring for the exit codes."""
    del argv  # everything comes from the task environment, as Batch sets it
    url = os.environ.get(NOTIFY_URL_ENV)
    token = os.environ.get(NOTIFY_TOKEN_ENV)
    job_id = os.environ.get("AZ_BATCH_JOB_ID", "?")
    if not url or not token:
        sys.stderr.write(f"notify: {NOTIFY_URL_ENV} and {NOTIFY_TOKEN_ENV} must be set\n")
        return 1
    for attempt in range(1, ATTEMPTS + 1):
        try:
            status = post_job_done(url, token)
        except urllib.error.HTTPError as err:
            if 400 <= err.code < 500:
                # Refused (a token of another secret, a wrong URL): asking again changes nothing.
                sys.stderr.write(f"notify: job {job_id}: refused with HTTP {err.code}\n")
                return 1
            sys.stderr.write(f"notify: attempt {attempt} for job {job_id}: HTTP {err.code}\n")
        except (urllib.error.URLError, OSError) as err:
            sys.stderr.write(f"notify: attempt {attempt} for job {job_id} failed: {err}\n")
        else:
            sys.stdout.write(f"notify: job {job_id}: HTTP {status}\n")
            return 0
        if attempt < ATTEMPTS:
            time.sleep(BACKOFF_S * attempt)
    return 1


if __name__ == "__main__":
    sys.exit(main())
