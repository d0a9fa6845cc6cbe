"""``POST /runs/{id}/batch-jobs/{job_id}/done``: an Azure Batch job's release task says its job
ended, and the run polls its jobs now instead of at its next timer.

The route needs no key and no role (the release task has neither): it takes only the job's
token, HMAC-SHA256 of (run, job) under AVOPS_BATCH_NOTIFY_SECRET (dataops.batch.notify), in
the ``X-AVOps-Job-Token`` header (dataops.job_signal). A token that does not match, a missing
one, or no usable secret are all the same 403, so a caller learns nothing about which part
was wrong. A valid token raises ``batch_job_done`` on that one run through the trigger's
durable client: the event only means "poll now", so the holder of a token can do nothing
but make one run poll early. The token is never logged.
"""

from __future__ import annotations

import logging

from dataops.api.dispatch import ApiContext, Call, Reply, RunHandler
from dataops.api.models import JobDoneSignalled
from dataops.api.problems import ApiError
from dataops.batch.notify import JOB_DONE_EVENT, JobDoneSigner, job_done_payload, token_matches
from dataops.errors import TerminalError
from dataops.job_signal import JOB_TOKEN_HEADER

__all__ = ["RUN_HANDLERS"]

log = logging.getLogger("avops.api.batch_signal")

_REFUSED = "not a valid job token"


def _signer(context: ApiContext) -> JobDoneSigner | None:
    try:
        return JobDoneSigner.from_setting(context.settings().batch_notify_secret)
    except TerminalError as err:
        # The operator must hear of it; the caller gets the same 403 as for a wrong token.
        log.warning("job-done signals are refused: %s", err)
        return None


async def signal_batch_job_done(context: ApiContext, call: Call) -> Reply:
    """Check the job's token, then raise ``batch_job_done`` on the run: 202, or 410 when no
    run waits any more (unknown or finished)."""
    instance_id = call.ids["id"]
    job_id = call.ids["job_id"]
    presented = call.headers.get(JOB_TOKEN_HEADER.lower(), "")
    signer = _signer(context)
    if signer is None or not token_matches(signer, instance_id, job_id, presented):
        log.warning("refused a job-done signal for job %s of run %s", job_id, instance_id)
        raise ApiError(403, _REFUSED)
    if context.runs is None:
        raise ApiError(503, "orchestrations are not available in this process")
    if not await context.runs.raise_event(instance_id, JOB_DONE_EVENT, job_done_payload(job_id)):
        raise ApiError(410, f"run {instance_id} is gone or finished: nothing waits for the job")
    log.info("job %s of run %s ended: the run polls now", job_id, instance_id)
    return Reply(body=JobDoneSignalled(instance_id=instance_id, job_id=job_id))


RUN_HANDLERS: dict[str, RunHandler] = {"signalBatchJobDone": signal_batch_job_done}
