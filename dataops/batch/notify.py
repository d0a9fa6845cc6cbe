"""Telling the orchestration that a batch job ended, so it does not wait for its next poll.

The ``extract`` orchestration waits for the external event :data:`JOB_DONE_EVENT` *or* its
poll timer, whichever comes first; the event carries only the job id, and the orchestration
then polls the backend for the truth. So a lost, late or duplicated event costs nothing but
latency: polling stays the fallback. Who raises it:

- the local pool calls a :data:`JobDoneHook` when the last task of a job reaches a final
  state (devhost wires it to its engine's raise-event);
- on Azure Batch, the job's release task (``python -m extract_worker.notify``) POSTs to the
  app's own route (``dataops.job_signal``: route, header, variables) with a token that names
  this one job (:meth:`JobDoneSigner.token`); the app checks the token and raises the event
  itself (docs/batch.md). Nothing on the Batch side holds a key of the durable extension.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field

from dataops.errors import TerminalError

__all__ = [
    "JOB_DONE_EVENT",
    "MIN_SECRET_BYTES",
    "JobDone",
    "JobDoneHook",
    "JobDoneSigner",
    "check_api_base_url",
    "job_done_payload",
    "token_matches",
]

JOB_DONE_EVENT = "batch_job_done"
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


def check_api_base_url(url: str) -> str:
    """AVOPS_BATCH_NOTIFY_URL: an absolute http(s) URL; TerminalError naming it otherwise."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.netloc or parts.query or "{" in url:
        raise TerminalError(
            "AVOPS_BATCH_NOTIFY_URL must be the app's API base URL (https://<app host>/api), "
            f"got {url!r}"
        )
    return url
