"""Host tests over real HTTP: starters, status URLs, the durable client API, keys, bad input."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from devhost.durable.store import RuntimeStatus
from devhost.host import DevHost, HostOptions
from tests.devhost.hosting import (
    client,
    run_with_host,
    sample_app_options,
    wait_for_status,
    wait_until,
)


@pytest.fixture
def options(tmp_path: Path, out_file: Path) -> HostOptions:
    return sample_app_options(tmp_path, function_key="test-key")


def test_http_starter_202_then_status_200_with_output(options: HostOptions) -> None:
    async def body(host: DevHost) -> None:
        async with client(host) as http:
            started = await http.post(
                "/api/orchestrators/hello_seq?code=test-key", json=["Ada", "Bo"]
            )
            assert started.status_code == 202, started.text
            links = started.json()
            assert started.headers["Location"] == links["statusQueryGetUri"]
            status_url = links["statusQueryGetUri"]
            for _ in range(500):
                polled = await http.get(status_url)
                if polled.status_code == 200:
                    break
                assert polled.status_code == 202
                await asyncio.sleep(0.02)
            assert polled.status_code == 200
            doc = polled.json()
            assert doc["runtimeStatus"] == "Completed"
            assert doc["output"] == ["Hello Ada", "Hello Bo"]
            assert doc["input"] == ["Ada", "Bo"]

    run_with_host(options, body)


def test_durable_client_api_through_http(options: HostOptions) -> None:
    async def body(host: DevHost) -> None:
        async with client(host) as http:
            started = await http.post("/api/orchestrators/approval?code=test-key")
            instance_id = started.json()["id"]
            await wait_until(
                lambda: (
                    (i := host.engine.get_instance(instance_id)) is not None
                    and i.status is RuntimeStatus.RUNNING
                ),
                what="approval running",
            )
            status = await http.get(f"/api/manage/{instance_id}/status?code=test-key")
            assert status.json()["customStatus"] == "waiting for approval"
            raised = await http.post(
                f"/api/manage/{instance_id}/raise?event=approve&code=test-key", json={"ok": True}
            )
            assert raised.status_code == 202, raised.text
            await wait_for_status(host, instance_id, RuntimeStatus.COMPLETED, "approval completed")
            assert json.loads(host.engine.get_instance(instance_id).output or "") == {  # type: ignore[union-attr]
                "approved": {"ok": True}
            }
            purged = await http.delete(f"/api/manage/{instance_id}/purge?code=test-key")
            assert purged.json() == {"deleted": 1}

            sleeper = (await http.post("/api/orchestrators/sleeper?code=test-key")).json()["id"]
            await wait_for_status(host, sleeper, RuntimeStatus.RUNNING, "sleeper running")
            term = await http.post(f"/api/manage/{sleeper}/terminate?code=test-key")
            assert term.status_code == 202
            await wait_for_status(host, sleeper, RuntimeStatus.TERMINATED, "sleeper terminated")

    run_with_host(options, body)


def test_routes_keys_and_bad_input(options: HostOptions) -> None:
    async def body(host: DevHost) -> None:
        async with client(host) as http:
            assert (await http.get("/api/items/7")).status_code == 401
            ok = await http.get("/api/items/7?q=x", headers={"x-functions-key": "test-key"})
            assert ok.json() == {"id": 7, "q": "x"}
            assert (await http.get("/api/items/seven?code=test-key")).status_code == 404
            assert (await http.post("/api/items/7?code=test-key")).status_code == 405
            assert (await http.get("/api/public/a/b")).text == "a/b"
            unknown = await http.get("/api/nowhere")
            assert unknown.status_code == 404
            assert "no function serves /api/nowhere" in unknown.text
            boom = await http.get("/api/boom")
            assert boom.status_code == 500
            assert "http function exploded on purpose" in boom.text
            missing = await http.post("/api/orchestrators/no_such_orch?code=test-key")
            assert missing.status_code == 500  # the SDK raises inside the starter
            # The host keeps serving after every one of these.
            assert (await http.get("/api/public/still-here")).text == "still-here"

    run_with_host(options, body)


def test_webhook_start_new_semantics(options: HostOptions) -> None:
    async def body(host: DevHost) -> None:
        base = "/runtime/webhooks/durabletask"
        async with client(host) as http:
            first = await http.post(f"{base}/orchestrators/sleeper/fixed-id")
            assert first.status_code == 202
            await wait_for_status(host, "fixed-id", RuntimeStatus.RUNNING, "running")
            again = await http.post(f"{base}/orchestrators/sleeper/fixed-id")
            assert again.status_code == 409
            assert "already Running" in again.text
            await http.post(f"{base}/instances/fixed-id/terminate?reason=x")
            await wait_for_status(host, "fixed-id", RuntimeStatus.TERMINATED, "terminated")
            replaced = await http.post(
                f"{base}/orchestrators/hello_seq/fixed-id", json=json.dumps(["z"])
            )
            assert replaced.status_code == 202
            await wait_for_status(
                host, "fixed-id", RuntimeStatus.COMPLETED, "replaced run completed"
            )
            listed = await http.get(f"{base}/instances?runtimeStatus=Completed")
            assert [i["instanceId"] for i in listed.json()] == ["fixed-id"]
            assert (await http.get(f"{base}/instances/nope")).status_code == 404
            bad = await http.post(f"{base}/orchestrators/not_an_orchestrator")
            assert bad.status_code == 400

    run_with_host(options, body)
