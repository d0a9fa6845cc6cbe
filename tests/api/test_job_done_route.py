"""``POST /api/runs/{id}/batch-jobs/{job_id}/done``: only the job's own token wakes its run.

First through the app's functions without a durable host (a refusal must come before the
durable client is touched: that client reaches nothing here), then under devhost with the real
``extract`` orchestrator waiting for its jobs on a clock that never moves, so only the signal
can wake it.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from activities import runtime
from dataops.batch.notify import JobDoneSigner
from devhost.durable.clock import FakeClock
from devhost.durable.store import RuntimeStatus
from devhost.host import DevHost, HostOptions
from tests.api.conftest import api_settings
from tests.api.function_host import FunctionHost
from tests.devhost.conftest import APPS
from tests.devhost.hosting import client, run_with_host, wait_for_status, wait_until

SECRET = "job-done-secret-" + "x" * 24
OTHER_SECRET = "another-secret-" + "y" * 24
RUN = "extract-3f9c"
JOB = "job-1"
HEADER = "X-AVOps-Job-Token"


def _route(run: str = RUN, job: str = JOB) -> str:
    return f"/api/runs/{run}/batch-jobs/{job}/done"


def _token(run: str = RUN, job: str = JOB, secret: str = SECRET) -> str:
    return JobDoneSigner.from_setting(secret).token(run, job)


@pytest.fixture
def host(monkeypatch: pytest.MonkeyPatch) -> FunctionHost:
    """The app's functions with the notify secret set (no store needed by this route)."""
    settings = api_settings(batch_notify_secret=SECRET)
    monkeypatch.setattr(runtime, "settings", lambda: settings)
    return FunctionHost()


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {HEADER: ""},
        {HEADER: "0" * 64},
        {HEADER: _token(job="job-2")},
        {HEADER: _token(run="extract-other")},
        {HEADER: _token(secret=OTHER_SECRET)},
        {HEADER: _token() + "0"},
        {HEADER: "é" * 64},
    ],
    ids=[
        "none",
        "empty",
        "zeros",
        "another-job",
        "another-run",
        "another-secret",
        "longer",
        "non-ascii",
    ],
)
def test_a_missing_or_wrong_token_is_the_same_403_and_touches_no_run(
    host: FunctionHost, headers: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    """Every refusal reads alike (nothing says which part was wrong) and comes before the
    durable client: that client reaches no host here, so touching it would not be a 403."""
    with caplog.at_level(logging.INFO):
        answer = host.request("POST", _route(), headers=headers)
    assert answer.status == 403, answer.body
    assert answer.media_type == "application/problem+json"
    assert answer.json()["detail"] == "not a valid job token"
    presented = headers.get(HEADER)
    said = [r.getMessage() for r in caplog.records if r.name == "avops.api.batch_signal"]
    assert said == [f"refused a job-done signal for job {JOB} of run {RUN}"]
    if presented:
        assert presented not in caplog.text


@pytest.mark.parametrize(("name", "status"), [("code", 403), ("token", 400)])
def test_a_token_in_the_query_is_not_taken(host: FunctionHost, name: str, status: int) -> None:
    """Only the header counts (a query string ends up in request logs): the host key's `code`
    parameter is no token, any other query parameter is refused as unknown."""
    answer = host.request("POST", _route(), params={name: _token()})
    assert answer.status == status


@pytest.mark.parametrize(
    "secret",
    ["", "short", "@Microsoft.KeyVault(VaultName=kv;SecretName=avops-batch-notify-secret)"],
)
def test_without_a_usable_secret_every_token_is_refused(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, secret: str
) -> None:
    """No secret, a short one or an unresolved Key Vault reference (public text): the route
    refuses even a token made with that very text, and tells the operator why in the log."""
    settings = api_settings(batch_notify_secret=secret)
    monkeypatch.setattr(runtime, "settings", lambda: settings)
    # A token anyone could compute from the public text (padded to a valid key length).
    guessed = JobDoneSigner(secret.ljust(32, "x").encode()).token(RUN, JOB)
    with caplog.at_level(logging.WARNING):
        answer = FunctionHost().request("POST", _route(), headers={HEADER: guessed})
    assert answer.status == 403
    assert answer.json()["detail"] == "not a valid job token"
    assert "job-done signals are refused: AVOPS_BATCH_NOTIFY_SECRET" in caplog.text


def test_ids_that_are_not_ours_are_400(host: FunctionHost) -> None:
    """Path ids are checked like every route's: no odd text reaches the durable client."""
    answer = host.request("POST", _route(run="bad%20id"), headers={HEADER: _token()})
    assert answer.status == 400
    assert answer.json()["parameter"] == "id"


def _extract_app_with_routes(app_root: Path) -> None:
    """main.py: the extract_wait test app (the real ``extract`` orchestrator, its batch a
    directory) with the project's HTTP routes registered on it."""
    app_root.mkdir()
    source = APPS / "extract_wait" / "function_app.py"
    (app_root / "main.py").write_text(
        f"""
import importlib.util

from function_app.http import bp

_spec = importlib.util.spec_from_file_location("extract_wait_app", {str(source)!r})
_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_module)
app = _module.app
app.register_functions(bp)
"""
    )


def test_under_devhost_only_a_valid_token_wakes_the_waiting_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The run waits for its job on a clock that never moves. A bad token gets 403 and raises
    nothing; the job's token (no function key: the release task has none) gets 202 and the run
    polls, finds the job done and completes. Once it finished, or for a run that never
    existed, the same route answers 410."""
    settings = api_settings(batch_notify_secret=SECRET)
    monkeypatch.setattr(runtime, "settings", lambda: settings)
    monkeypatch.setenv("EXTRACT_WAIT_DIR", str(tmp_path))
    monkeypatch.setenv("PYTHON_SCRIPT_FILE_NAME", "main.py")
    app_root = tmp_path / "app"
    _extract_app_with_routes(app_root)
    options = HostOptions(
        app_root=app_root,
        state_dir=tmp_path / "devhost",
        port=0,
        function_key="host-key-" + "k" * 24,
        activity_mode="thread",
        poll_interval_s=0.05,
        clock=FakeClock(),
    )
    polls = tmp_path / "polls"
    start = '{"measurement_id": "m1", "raw_datastream_id": "r1", "datastream_id": "d1"}'

    async def body(host: DevHost) -> dict[str, Any]:
        host.engine.start_new("extract", RUN, start)
        await wait_until(polls.exists, what="the first poll")
        await wait_for_status(host, RUN, RuntimeStatus.RUNNING, "the run waiting for its job")
        (tmp_path / "done").touch()
        async with client(host) as http:
            refused = await http.post(_route(), headers={HEADER: _token(job="job-2")})
            events_after_refusal = [
                event
                for event in host.engine.get_history(RUN)
                if event.get("Name") == "batch_job_done"
            ]
            accepted = await http.post(_route(), headers={HEADER: _token()})
            await wait_for_status(host, RUN, RuntimeStatus.COMPLETED, "the woken run")
            finished = await http.post(_route(), headers={HEADER: _token()})
            unknown = await http.post(
                _route(run="extract-none"), headers={HEADER: _token(run="extract-none")}
            )
        return {
            "refused": refused,
            "events_after_refusal": events_after_refusal,
            "accepted": accepted,
            "finished": finished,
            "unknown": unknown,
        }

    with caplog.at_level(logging.INFO):
        answers = run_with_host(options, body)
    assert answers["refused"].status_code == 403
    assert answers["events_after_refusal"] == []
    assert answers["accepted"].status_code == 202, answers["accepted"].text
    assert answers["accepted"].json() == {"instance_id": RUN, "job_id": JOB}
    # Woken, not timed out: the fake clock never moved, so no timer could fire.
    assert polls.read_text() == "2"
    assert answers["finished"].status_code == 410
    assert answers["unknown"].status_code == 410
    assert _token() not in caplog.text
