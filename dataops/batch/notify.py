"""Telling the orchestration that a batch job ended, so it does not wait for its next poll.

The ``extract`` orchestration waits for the external event :data:`JOB_DONE_EVENT` *or* its
poll timer, whichever comes first; the event carries only the job id, and the orchestration
then polls the backend for the truth. So a lost, late or duplicated event costs nothing but
latency: polling stays the fallback. Who raises it:

- the local pool calls a :data:`JobDoneHook` when the last task of a job reaches a final
  state (devhost wires it to its engine's raise-event);
- on Azure Batch, the job's release task (``python -m extract_worker.notify``) POSTs to the
  app's own route :data:`JOB_DONE_ROUTE` with a token that names this one job
  (:meth:`JobDoneSigner.token`); the app checks the token and raises the event itself
  (docs/batch.md). Nothing on the Batch side ever holds a key of the durable extension.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field

from dataops.errors import TerminalError

__all__ = [
    "JOB_DONE_EVENT",
    "JOB_DONE_ROUTE",
    "JOB_TOKEN_HEADER",
    "MIN_SECRET_BYTES",
    "NOTIFY_TOKEN_ENV",
    "NOTIFY_URL_ENV",
    "JobDone",
    "JobDoneHook",
    "JobDoneSigner",
    "check_api_base_url",
    "job_done_payload",
    "job_done_url",
    "post_job_done",
    "token_matches",
]

JOB_DONE_EVENT = "batch_job_done"
# The app's route (below /api) that turns a valid job token into JOB_DONE_EVENT on the
# instance; declared in dataops/api/routes.py with this template.
JOB_DONE_ROUTE = "runs/{id}/batch-jobs/{job_id}/done"
# The header that carries the token: a header, not the query, so request logs never hold it.
JOB_TOKEN_HEADER = "X-AVOps-Job-Token"  # noqa: S105 - a header name
# The release task finds the job's route URL and its token in these variables.
NOTIFY_URL_ENV = "AVOPS_NOTIFY_URL"
NOTIFY_TOKEN_ENV = "AVOPS_NOTIFY_TOKEN"  # noqa: S105 - a variable name
# HMAC-SHA256 keys shorter than its 32-byte output weaken it; shorter secrets are refused.
MIN_SECRET_BYTES = 32
_SECRET_SETTING = "AVOPS_BATCH_NOTIFY_SECRET"  # noqa: S105 - a setting name
# Separates these tokens from any other HMAC the same secret might ever be used for.
_TOKEN_PURPOSE = "avops.batch-job-done.v1"  # noqa: S105 - public domain separator


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


def _secret_bytes(secret: str) -> bytes:
    """The secret as HMAC key; TerminalError naming the setting when it is unusable."""
    if secret.startswith("@Microsoft.KeyVault("):
        # App Service leaves a reference it cannot resolve as the literal text, which is
        # public (it is in infra/): never sign or check with it.
        raise TerminalError(f"{_SECRET_SETTING} is an unresolved Key Vault reference")
    key = secret.encode()
    if len(key) < MIN_SECRET_BYTES:
        raise TerminalError(
            f"{_SECRET_SETTING} must be at least {MIN_SECRET_BYTES} bytes (it has {len(key)})"
        )
    return key


@dataclass(frozen=True)
class JobDoneSigner:
    """Makes and checks the token of one (instance, job): HMAC-SHA256 under the app's secret.

    The token lets its holder say only "job J of run I ended, poll now" for that one job;
    it cannot be turned into a token of another job or run without the secret.
    """

    secret: bytes = field(repr=False)

    @classmethod
    def from_setting(cls, secret: str) -> JobDoneSigner:
        """From AVOPS_BATCH_NOTIFY_SECRET; TerminalError naming it when empty, short or an
        unresolved Key Vault reference."""
        if not secret:
            raise TerminalError(f"{_SECRET_SETTING} is not set")
        return cls(_secret_bytes(secret))

    def token(self, instance_id: str, job_id: str) -> str:
        """The hex token of ``job_id`` of run ``instance_id``."""
        # A JSON array keeps the parts apart whatever characters the ids hold.
        message = json.dumps([_TOKEN_PURPOSE, instance_id, job_id]).encode()
        return hmac.new(self.secret, message, hashlib.sha256).hexdigest()


def token_matches(signer: JobDoneSigner, instance_id: str, job_id: str, presented: str) -> bool:
    """``presented`` is the token of (instance, job); compared in constant time."""
    expected = signer.token(instance_id, job_id).encode()
    return hmac.compare_digest(expected, presented.encode("utf-8", "replace"))


def job_done_url(api_base_url: str, instance_id: str, job_id: str) -> str:
    """The route URL of one job below the app's API base (``https://<app>/api``)."""
    path = JOB_DONE_ROUTE.format(
        id=urllib.parse.quote(instance_id, safe=""), job_id=urllib.parse.quote(job_id, safe="")
    )
    return f"{api_base_url.rstrip('/')}/{path}"


def check_api_base_url(url: str) -> str:
    """AVOPS_BATCH_NOTIFY_URL: an absolute http(s) URL; TerminalError naming it otherwise."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.netloc or parts.query or "{" in url:
        raise TerminalError(
            "AVOPS_BATCH_NOTIFY_URL must be the app's API base URL (https://<app host>/api), "
            f"got {url!r}"
        )
    return url


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
