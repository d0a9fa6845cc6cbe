"""The wire between an Azure Batch job's release task and the app's job-done route.

Both ends use these names: the app when it puts the route URL and the job's token into the
release task's environment (``dataops.batch.azure_batch_models``) and checks the token on its
route (``dataops.api.batch_signal``), the release task program ``extract_worker.notify`` when it
posts. Standard library only, so the worker image carries it without ``dataops.batch``
(extract_worker/Dockerfile copies single modules). Tokens themselves: ``dataops.batch.notify``.
"""

from __future__ import annotations

import urllib.error
import urllib.parse
import urllib.request

__all__ = [
    "JOB_DONE_ROUTE",
    "JOB_TOKEN_HEADER",
    "NOTIFY_TOKEN_ENV",
    "NOTIFY_URL_ENV",
    "job_done_url",
    "post_job_done",
]

# The app's route (below /api) that turns a valid job token into batch_job_done on the run;
# declared in dataops/api/routes.py with this template.
JOB_DONE_ROUTE = "runs/{id}/batch-jobs/{job_id}/done"
# The header that carries the token: a header, not the query, so request logs never hold it.
JOB_TOKEN_HEADER = "X-AVOps-Job-Token"  # noqa: S105 - a header name
# The release task finds the job's route URL and its token in these variables.
NOTIFY_URL_ENV = "AVOPS_NOTIFY_URL"
NOTIFY_TOKEN_ENV = "AVOPS_NOTIFY_TOKEN"  # noqa: S105 - a variable name


def job_done_url(api_base_url: str, instance_id: str, job_id: str) -> str:
    """The route URL of one job below the app's API base (``https://<app>/api``)."""
    path = JOB_DONE_ROUTE.format(
        id=urllib.parse.quote(instance_id, safe=""), job_id=urllib.parse.quote(job_id, safe="")
    )
    return f"{api_base_url.rstrip('/')}/{path}"


def post_job_done(url: str, token: str, *, timeout_s: float = 10.0) -> int:
    """POST to the job's route with its token; returns the HTTP status (202 raised, 410 the
    run is gone or finished: nothing waits for the job any more).

    Raises ``urllib.error.HTTPError`` for other statuses, ``URLError`` when unreachable.
    """
    request = urllib.request.Request(  # noqa: S310 - the URL is the app's own route
        url, data=b"", headers={JOB_TOKEN_HEADER: token}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310
            return int(response.status)
    except urllib.error.HTTPError as err:
        if err.code == 410:
            return int(err.code)
        raise
