"""Telling the orchestration that a batch job ended, so it does not wait for its next poll.

The ``extract`` orchestration waits for the external event :data:`JOB_DONE_EVENT` *or* its
poll timer, whichever comes first; the event carries only the job id, and the orchestration
then polls the backend for the truth. So a lost, late or duplicated event costs nothing but
latency: polling stays the fallback. Who raises it:

- the local pool calls a :data:`JobDoneHook` when the last task of a job reaches a final
  state (devhost wires it to its engine's raise-event; another process can use
  :func:`post_job_done` on the durable HTTP API);
- on Azure Batch, the job's release task (``python -m extract_worker.notify``) posts to the
  same raise-event URL when the job ends (docs/batch.md).
"""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass

__all__ = [
    "JOB_DONE_EVENT",
    "NOTIFY_URL_ENV",
    "JobDone",
    "JobDoneHook",
    "job_done_payload",
    "notify_url_template",
    "post_job_done",
    "raise_event_url",
]

JOB_DONE_EVENT = "batch_job_done"
# The release task finds the raise-event URL (with its system key) in this variable.
NOTIFY_URL_ENV = "AVOPS_NOTIFY_URL"


@dataclass(frozen=True)
class JobDone:
    """A job whose every task is final; ``instance_id`` is the orchestration to tell."""

    job_id: str
    instance_id: str
    state: str


JobDoneHook = Callable[[JobDone], None]


def job_done_payload(job_id: str) -> str:
    """The event's data: the job id only (the orchestration reads the state from the backend)."""
    return json.dumps({"job_id": job_id})


def raise_event_url(base_url: str, instance_id: str, *, task_hub: str, key: str) -> str:
    """The durable HTTP API's raise-event URL (the same on devhost and in Azure)."""
    query = urllib.parse.urlencode({"taskHub": task_hub, "connection": "Storage", "code": key})
    instance = urllib.parse.quote(instance_id, safe="")
    return (
        f"{base_url.rstrip('/')}/runtime/webhooks/durabletask/instances/{instance}"
        f"/raiseEvent/{JOB_DONE_EVENT}?{query}"
    )


def notify_url_template(base_url: str, *, task_hub: str, key: str) -> str:
    """:func:`raise_event_url` with ``{instance_id}`` left in place (AzureTaskSettings)."""
    placeholder = "{instance_id}"
    url = raise_event_url(base_url, placeholder, task_hub=task_hub, key=key)
    return url.replace(urllib.parse.quote(placeholder, safe=""), placeholder)


def post_job_done(url: str, job_id: str, *, timeout_s: float = 10.0) -> int:
    """POST the event; returns the HTTP status (202 raised, 410 instance already finished).

    Raises ``urllib.error.URLError`` (or ``HTTPError`` for other statuses) on failure.
    """
    request = urllib.request.Request(  # noqa: S310 - the URL is the app's own durable API
        url,
        data=job_done_payload(job_id).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310
            return int(response.status)
    except urllib.error.HTTPError as err:
        if err.code in (404, 410):
            # The orchestration is gone or finished: nothing waits for this job any more.
            return int(err.code)
        raise
