"""A change-feed consumer that raises is retried by its own policy, then dead-lettered, never lost.

Our real ``on_datastream_changed`` under devhost, fed from the sqlite store's change log. Its
durable client cannot reach the host (nothing listens on the host's port yet), so every
delivery raises; devhost retries it as Azure would, by the function's declared retry policy.
The last attempt writes the app's own dead letter to the error zone (in Azure the lease then
moves on and nothing else keeps the batch); devhost also keeps the delivery in its dead-letter
table, and handing those documents back to a running host starts the step they asked for.
"""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import Result
from typer.testing import CliRunner

from activities import runtime
from avops.cli import _register_commands
from avops.cli import app as cli_app
from dataops.dead_letters import DEAD_LETTER_PREFIX
from dataops.ids import instance_id_for
from dataops.models import DatastreamState, DatastreamType
from dataops.paths import Zone
from dataops.storage.blob_zones import BlobZones
from dataops.store.sqlite import SqliteStore
from devhost.durable.clock import FakeClock
from devhost.durable.store import RuntimeStatus
from devhost.host import DevHost, HostOptions
from function_app.downstream import CHANGE_FEED_RETRIES
from tests.devhost.hosting import wait_until
from tests.e2e.conftest import ROOT, finished
from tests.unit.test_synchronization_alignment import _store_with_extracted

CONSUMER = "on_datastream_changed"
# The consumer's declared policy: the first call plus its retries.
ATTEMPTS = CHANGE_FEED_RETRIES + 1


def _closed_port() -> int:
    """A port nothing listens on (bound once to find it free, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _options(tmp_path: Path, change_source: Any, **extra: Any) -> HostOptions:
    return HostOptions(
        app_root=ROOT,
        state_dir=tmp_path / "devhost",
        activity_mode="thread",
        function_key="k",
        change_source=change_source,
        poll_interval_s=0.05,
        **extra,
    )


async def _deliver_until_dead_lettered(tmp_path: Path, store: SqliteStore) -> dict[str, Any]:
    """Every attempt of the consumer's policy on a host whose durable client reaches nothing:
    what each attempt left, the queue's dead letter, the lease and the instances after."""
    clock = FakeClock()
    unreachable = DevHost(_options(tmp_path, store, port=_closed_port(), clock=clock))
    assert unreachable.changefeed is not None
    assert unreachable.changefeed.poll_once() == 1
    errors: list[str | None] = []
    for _ in range(ATTEMPTS):
        await unreachable.queue.deliver_due(unreachable.invoke_delivery)
        with unreachable.db.read() as conn:
            row = conn.execute("SELECT last_error FROM deliveries").fetchone()
        errors.append(None if row is None else row["last_error"])
        clock.advance(3600)  # past any backoff of the policy
    seen = {
        "errors": errors,
        "pending": unreachable.queue.pending_count(),
        "dead": unreachable.queue.dead_letters(),
        "lease": unreachable.changefeed.lease(CONSUMER),
        "instances": unreachable.engine.query(name="synchronize"),
        "again": unreachable.changefeed.poll_once(),
    }
    unreachable.runner.close()
    unreachable.db.close()
    return seen


def test_a_raising_consumer_is_retried_then_dead_lettered_and_nothing_is_lost(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, storage_account: str
) -> None:
    store = _store_with_extracted(tmp_path, logger_synchronized=True)
    monkeypatch.setenv("AVOPS_SQLITE_PATH", str(tmp_path / "metadata.sqlite3"))
    monkeypatch.setenv("AVOPS_STORAGE_CONNECTION_STRING", storage_account)
    runtime.reset()
    runtime.blob_zones().ensure_containers([Zone.ERROR])

    async def scenario() -> dict[str, Any]:
        seen = await _deliver_until_dead_lettered(tmp_path, store)

        # The operator hands the dead-lettered documents back to a running host.
        host = DevHost(_options(tmp_path, store, port=0))
        await host.start()
        try:
            (letter,) = host.queue.dead_letters()
            with host.db.transaction() as conn:
                host.queue.enqueue(conn, letter.source, letter.function, letter.payload)
            host.queue.on_change()
            started = instance_id_for("synchronize", "ds-1")
            await wait_until(
                lambda: host.engine.get_instance(started) is not None,
                what="synchronize started from the dead-lettered documents",
            )
            await wait_until(lambda: host.queue.pending_count() == 0, what="delivery done")
            seen["started"] = host.engine.get_instance(started)
        finally:
            await host.stop()
        return seen

    seen = asyncio.run(scenario())
    store.close()
    zones: BlobZones = runtime.blob_zones()
    records = [
        zones.read_json(Zone.ERROR, blob.path, max_bytes=1 << 20)[0]
        for blob in zones.list_blobs(Zone.ERROR, DEAD_LETTER_PREFIX)
    ]
    runtime.reset()
    # Retried: the first attempts failed and stayed queued with the error.
    assert seen["errors"][: ATTEMPTS - 1] == [seen["errors"][0]] * (ATTEMPTS - 1)
    assert seen["errors"][0] and "Cannot connect to host" in seen["errors"][0]
    # Then dead-lettered, with every document of the batch.
    assert seen["errors"][-1] is None and seen["pending"] == 0
    (letter,) = seen["dead"]
    assert letter.function == CONSUMER
    assert letter.source == "changefeed:datastreams"
    assert letter.attempts == ATTEMPTS
    assert "Cannot connect to host" in letter.error
    documents = json.loads(letter.payload)
    assert [(d["id"], d["type"], d["state"]) for d in documents] == [
        ("ds-1", "EXTRACTED", "COMPLETED")
    ]
    # The lease moved on (the feed is not stuck on the batch) and nothing was started.
    assert seen["lease"] is not None
    assert seen["again"] == 0
    assert seen["instances"] == []
    # The app's own record of the batch, written by its last attempt: ids and the reason only.
    (record,) = records
    assert record["function"] == CONSUMER
    assert record["attempts"] == ATTEMPTS
    assert "Cannot connect to host" in record["reason"]
    assert [(d["id"], d["measurement_id"], d["state"]) for d in record["documents"]] == [
        ("ds-1", documents[0]["measurement_id"], "COMPLETED")
    ]
    assert set(record["documents"][0]) == {"id", "measurement_id", "type", "state", "_etag", "_lsn"}
    # Nothing lost: the same documents start the step once handed back.
    assert seen["started"].input is not None
    assert json.loads(seen["started"].input)["source_datastream_id"] == "ds-1"


READER = "deadletter-reader-key"


def test_a_dead_letter_is_listed_and_handed_back_through_the_api_and_cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, storage_account: str
) -> None:
    """The consumer's record (no devhost queue involved) is what the operator sees and hands
    back: ``avops deadletters list`` shows it, ``redrive`` starts synchronize through the
    consumer's routing and the chain reaches SYNCHRONIZED COMPLETED; a second redrive is a
    no-op that says so; a key without the write role gets 403 on both routes."""
    store = _store_with_extracted(tmp_path, logger_synchronized=True)
    monkeypatch.setenv("AVOPS_SQLITE_PATH", str(tmp_path / "metadata.sqlite3"))
    monkeypatch.setenv("AVOPS_STORAGE_CONNECTION_STRING", storage_account)
    monkeypatch.setenv("AVOPS_API_WRITE_KEYS", "k")
    monkeypatch.setenv("AVOPS_API_READ_KEYS", READER)
    runtime.reset()
    runtime.blob_zones().ensure_containers()
    _register_commands()

    def cli(url: str, *args: str) -> Result:
        return CliRunner().invoke(cli_app, ["deadletters", *args, "--url", url, "--key", "k"])

    async def scenario() -> dict[str, Any]:
        await _deliver_until_dead_lettered(tmp_path, store)
        seen: dict[str, Any] = {}
        host = DevHost(_options(tmp_path, store, port=0, named_function_keys={"reader": READER}))
        await host.start()
        try:
            async with httpx.AsyncClient(base_url=host.base_url, timeout=30) as http:
                reader = {"x-functions-key": READER}
                seen["read_list"] = (await http.get("/api/deadletters", headers=reader)).status_code
                listed = await asyncio.to_thread(cli, host.base_url, "list", "--json")
                seen["listed"] = listed
                record_id = json.loads(listed.stdout)["items"][0]["id"]
                seen["read_redrive"] = (
                    await http.post(f"/api/deadletters/{record_id}/redrive", headers=reader)
                ).status_code
                seen["redrive"] = await asyncio.to_thread(
                    cli, host.base_url, "redrive", record_id, "--yes"
                )
                started = instance_id_for("synchronize", "ds-1")
                seen["run"] = await finished(host, started, timeout_s=60)
                seen["again"] = await asyncio.to_thread(
                    cli, host.base_url, "redrive", record_id, "--yes"
                )
                writer = {"x-functions-key": "k"}
                seen["pending"] = (await http.get("/api/deadletters", headers=writer)).json()
                seen["handed_back"] = (
                    await http.get("/api/deadletters", params={"redriven": "true"}, headers=writer)
                ).json()
                seen["instances"] = host.engine.query(name="synchronize")
        finally:
            await host.stop()
        return seen

    try:
        seen = asyncio.run(scenario())
        synchronized = store.list_datastreams("m-1", DatastreamType.SYNCHRONIZED)
    finally:
        store.close()
        runtime.reset()
    assert (seen["read_list"], seen["read_redrive"]) == (403, 403)
    assert seen["listed"].exit_code == 0, seen["listed"].output
    (item,) = json.loads(seen["listed"].stdout)["items"]
    assert (item["function"], item["attempts"]) == (CONSUMER, ATTEMPTS)
    assert "Cannot connect to host" in item["reason"]
    assert [(d["id"], d["state"]) for d in item["documents"]] == [("ds-1", "COMPLETED")]
    redrive = seen["redrive"]
    assert redrive.exit_code == 0, redrive.output
    assert f"{item['id']}: redriven: handed back (1 started" in redrive.stdout
    # The step ran once and the chain moved on to its next state.
    assert seen["run"].status is RuntimeStatus.COMPLETED, seen["run"].error
    assert len(seen["instances"]) == 1
    (made,) = synchronized
    assert made.state is DatastreamState.COMPLETED
    assert made.sources == ["ds-1"]
    # Handed back once: a second redrive starts nothing and says so.
    again = seen["again"]
    assert again.exit_code == 0, again.output
    assert "already_redriven" in again.stdout and "nothing done" in again.stdout
    assert seen["pending"]["items"] == []
    (moved,) = seen["handed_back"]["items"]
    assert moved["id"] == item["id"]
    assert moved["redriven"]["by"] == "key (write)"
    assert [d["outcome"] for d in moved["redriven"]["documents"]] == ["started"]
