"""A change-feed consumer that raises is retried, then dead-lettered, never lost.

Our real ``on_datastream_changed`` under devhost, fed from the sqlite store's change log. Its
durable client cannot reach the host (nothing listens on the host's port yet), so every
delivery raises; after the last attempt the batch sits in the dead-letter table with its
documents, the lease has moved on, and handing those documents back to a running host starts
the step they asked for.
"""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path
from typing import Any

import pytest

from activities import runtime
from dataops.ids import instance_id_for
from devhost.durable.clock import FakeClock
from devhost.host import DevHost, HostOptions
from tests.devhost.hosting import wait_until
from tests.e2e.conftest import ROOT
from tests.unit.test_synchronization_alignment import _store_with_extracted

CONSUMER = "on_datastream_changed"
ATTEMPTS = 3


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
        delivery_max_attempts=ATTEMPTS,
        **extra,
    )


def test_a_raising_consumer_is_retried_then_dead_lettered_and_nothing_is_lost(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = _store_with_extracted(tmp_path, logger_synchronized=True)
    monkeypatch.setenv("AVOPS_SQLITE_PATH", str(tmp_path / "metadata.sqlite3"))
    runtime.reset()
    clock = FakeClock()

    async def scenario() -> dict[str, Any]:
        unreachable = DevHost(_options(tmp_path, store, port=_closed_port(), clock=clock))
        assert unreachable.changefeed is not None
        assert unreachable.changefeed.poll_once() == 1
        errors: list[str | None] = []
        for _ in range(ATTEMPTS):
            await unreachable.queue.deliver_due(unreachable.invoke_delivery)
            with unreachable.db.read() as conn:
                row = conn.execute("SELECT last_error FROM deliveries").fetchone()
            errors.append(None if row is None else row["last_error"])
            clock.advance(60)  # past any backoff
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
    # Nothing lost: the same documents start the step once handed back.
    assert seen["started"].input is not None
    assert json.loads(seen["started"].input)["source_datastream_id"] == "ds-1"
