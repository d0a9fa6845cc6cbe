"""Host tests for event sources: Event Grid over Azurite, webhook input, timers, change feed."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from devhost.durable.clock import FakeClock
from devhost.durable.store import RuntimeStatus
from devhost.events.eventgrid import BlobInfo, blob_created_event
from devhost.events.subscriptions import load_subscriptions
from devhost.host import DevHost, HostOptions
from devhost.services.azurite import AzuriteBlob
from tests.devhost.conftest import read_records
from tests.devhost.hosting import client, run_with_host, sample_app_options, wait_until

SUBSCRIPTIONS = Path(__file__).parent / "apps" / "sample" / "subscriptions.json"


@pytest.fixture(scope="module")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AzuriteBlob]:
    with AzuriteBlob(tmp_path_factory.mktemp("azurite"), loose=True) as blob:
        yield blob


def _options(tmp_path: Path, **extra: Any) -> HostOptions:
    return sample_app_options(tmp_path, delivery_backoff_s=0.01, **extra)


@pytest.mark.azurite
def test_blob_created_event_starts_orchestration(
    tmp_path: Path, out_file: Path, azurite: AzuriteBlob
) -> None:
    from azure.storage.blob import BlobServiceClient

    service = BlobServiceClient.from_connection_string(azurite.connection_string)
    for name in ("landing", "other"):
        if not service.get_container_client(name).exists():
            service.create_container(name)
    landing = service.get_container_client("landing")
    landing.upload_blob("drive-1/data.mcap", b"x" * 10, overwrite=True)
    landing.upload_blob("drive-1/manifest.json", b"{}", overwrite=True)
    service.get_container_client("other").upload_blob(
        "drive-1/manifest.json", b"{}", overwrite=True
    )

    options = _options(
        tmp_path,
        subscriptions_path=SUBSCRIPTIONS,
        storage_connection_string=azurite.connection_string,
    )

    async def body(host: DevHost) -> None:
        instance_id = "ingest-drive-1_manifest.json"
        await wait_until(
            lambda: (
                (i := host.engine.get_instance(instance_id)) is not None
                and i.status is RuntimeStatus.COMPLETED
            ),
            what="orchestration started by the blob event",
        )
        await wait_until(
            lambda: len(read_records(out_file, "cloudevent")) == 2, what="cloud events"
        )
        # Same blob, same etag: no second event; a rewrite (new etag) is a new event.
        await host.poll_sources_once()
        assert len({r["id"] for r in read_records(out_file, "eventgrid")}) == 1
        landing.upload_blob("drive-1/manifest.json", b"{ }", overwrite=True)
        await wait_until(
            lambda: len({r["id"] for r in read_records(out_file, "eventgrid")}) == 2,
            what="second event",
        )
        # The rewrite reaches the CloudEvents subscription too: wait for it before stopping.
        await wait_until(
            lambda: len(read_records(out_file, "cloudevent")) == 3, what="third cloud event"
        )

    run_with_host(options, body)
    grid = read_records(out_file, "eventgrid")
    assert (
        grid[0]["subject"] == "/blobServices/default/containers/landing/blobs/drive-1/manifest.json"
    )
    assert grid[0]["type"] == "Microsoft.Storage.BlobCreated"
    # The CloudEvents subscription has no suffix filter: every landing write, nothing from "other".
    assert sorted(
        r["subject"].rsplit("/", 1)[-1] for r in read_records(out_file, "cloudevent")
    ) == [
        "data.mcap",
        "manifest.json",
        "manifest.json",
    ]


def test_subscription_file_filters() -> None:
    subs = {s.name: s for s in load_subscriptions(SUBSCRIPTIONS)}
    manifest = subs["landing-manifests"]
    subject = "/blobServices/default/containers/landing/blobs/a/MANIFEST.JSON"
    assert manifest.matches("landing", subject, "Microsoft.Storage.BlobCreated")
    assert not manifest.matches("landing", subject, "Microsoft.Storage.BlobDeleted")
    assert not manifest.matches("other", subject, "Microsoft.Storage.BlobCreated")


def test_bad_events_are_reported_and_dead_lettered(tmp_path: Path, out_file: Path) -> None:
    async def body(host: DevHost) -> None:
        hook = "/runtime/webhooks/eventgrid"
        good = {
            "id": "1",
            "subject": "/blobServices/default/containers/x/blobs/y",
            "eventType": "t",
            "eventTime": "2026-01-01T00:00:00Z",
            "data": {},
            "dataVersion": "",
            "topic": "t",
        }
        async with client(host) as http:
            malformed = await http.post(f"{hook}?functionName=on_cloud_event", content=b"{not json")
            assert malformed.status_code == 400
            assert "malformed event" in malformed.text
            missing = await http.post(f"{hook}?functionName=on_cloud_event", json={"id": "x"})
            assert missing.status_code == 400
            assert "lacks" in missing.text
            unknown = await http.post(f"{hook}?functionName=nobody", json=good)
            assert unknown.status_code == 404
            poison = await http.post(f"{hook}?functionName=rejects_events", json=good)
            assert poison.status_code == 202
            fine = await http.post(f"{hook}?functionName=on_cloud_event", json=good)
            assert fine.status_code == 202
        await wait_until(lambda: len(host.queue.dead_letters()) == 1, what="dead letter")
        await wait_until(lambda: len(read_records(out_file, "cloudevent")) == 1, what="good event")
        # An event queued for a function that does not exist is dead-lettered with the reason.
        with host.db.transaction() as conn:
            host.queue.enqueue(conn, "test", "ghost_function", good)
        host.queue.on_change()
        await wait_until(lambda: len(host.queue.dead_letters()) == 2, what="ghost dead letter")

    run_with_host(_options(tmp_path, delivery_max_attempts=3), body)


def test_dead_letter_records_attempts_and_error(tmp_path: Path, out_file: Path) -> None:
    host = DevHost(_options(tmp_path, delivery_max_attempts=3, clock=FakeClock()))
    bad = {
        "id": "1",
        "subject": "s",
        "eventType": "t",
        "eventTime": "2026-01-01T00:00:00Z",
        "data": {},
    }
    with host.db.transaction() as conn:
        host.queue.enqueue(conn, "test", "rejects_events", bad)
        host.queue.enqueue(conn, "test", "on_cloud_event", {"id": "2"})  # malformed: no retries
    clock = host.clock
    assert isinstance(clock, FakeClock)

    async def rounds() -> None:
        for _ in range(4):
            await host.queue.deliver_due(host.invoke_delivery)
            clock.advance(60)

    asyncio.run(rounds())
    letters = {d.function: d for d in host.queue.dead_letters()}
    assert letters["rejects_events"].attempts == 3
    assert "cannot take s" in letters["rejects_events"].error
    assert letters["on_cloud_event"].attempts == 1
    assert "malformed" in letters["on_cloud_event"].error
    assert host.queue.pending_count() == 0
    host.runner.close()
    host.db.close()


def test_timer_trigger_fires_on_schedule(tmp_path: Path, out_file: Path) -> None:
    clock = FakeClock()  # 12:00:00
    host = DevHost(_options(tmp_path, clock=clock))

    async def fire() -> None:
        host.timers.poll_once()
        await host.queue.deliver_due(host.invoke_delivery)
        assert read_records(out_file, "timer") == []
        clock.advance(timedelta(minutes=4, seconds=59))
        host.timers.poll_once()
        await host.queue.deliver_due(host.invoke_delivery)
        assert read_records(out_file, "timer") == []
        clock.advance(timedelta(seconds=1))  # 12:05:00
        host.timers.poll_once()
        await host.queue.deliver_due(host.invoke_delivery)
        assert len(read_records(out_file, "timer")) == 1
        clock.advance(timedelta(minutes=12))  # two schedules missed: one past-due firing
        host.timers.poll_once()
        host.timers.poll_once()
        await host.queue.deliver_due(host.invoke_delivery)

    asyncio.run(fire())
    records = read_records(out_file, "timer")
    assert [r["past_due"] for r in records] == [False, True]
    host.runner.close()
    host.db.close()


class FakeChangeLog:
    """read_changes over an in-memory log with a sequence checkpoint (the store's contract)."""

    def __init__(self) -> None:
        self.docs: list[dict[str, Any]] = []

    def write(self, doc: dict[str, Any]) -> None:
        self.docs.append(doc)

    def read_changes(self, container: str, checkpoint: str | None, max_items: int = 100) -> Any:
        assert container == "datastreams"
        after = int(checkpoint or 0)
        latest: dict[str, tuple[int, dict[str, Any]]] = {}
        for seq, doc in enumerate(self.docs, start=1):
            if seq > after:
                latest[doc["id"]] = (seq, doc)
        ordered = sorted(latest.values(), key=lambda pair: pair[0])[:max_items]
        last = ordered[-1][0] if ordered else after

        return SimpleNamespace(documents=[d for _, d in ordered], checkpoint=str(last))


def test_change_feed_at_least_once_across_restart(tmp_path: Path, out_file: Path) -> None:
    log = FakeChangeLog()
    log.write({"id": "ds-1", "state": "CREATED"})
    log.write({"id": "ds-1", "state": "COMPLETED"})
    log.write({"id": "ds-2", "state": "CREATED"})
    first = DevHost(_options(tmp_path, change_source=log, clock=FakeClock()))
    assert first.changefeed is not None
    assert first.changefeed.poll_once() == 2  # latest version only
    # "Crash" before delivering: the host goes away with the batch queued and the lease moved.
    first.runner.close()
    first.db.close()

    log.write({"id": "ds-3", "state": "CREATED"})
    second = DevHost(_options(tmp_path, change_source=log, clock=FakeClock()))
    assert second.changefeed is not None
    assert second.changefeed.lease("on_datastream_change") == "3"

    async def resume() -> None:
        await second.queue.deliver_due(second.invoke_delivery)
        assert second.changefeed is not None
        assert second.changefeed.poll_once() == 1  # only what came after the persisted lease
        await second.queue.deliver_due(second.invoke_delivery)

    asyncio.run(resume())
    seen = [(r["id"], r["state"]) for r in read_records(out_file, "change")]
    assert seen == [("ds-1", "COMPLETED"), ("ds-2", "CREATED"), ("ds-3", "CREATED")]
    second.runner.close()
    second.db.close()


def test_change_feed_from_the_sqlite_store(tmp_path: Path, out_file: Path) -> None:
    from dataops.store.sqlite import SqliteStore
    from tests.contract.conftest import make_datastream, make_measurement

    store = SqliteStore(tmp_path / "meta.sqlite3")
    store.create_measurement(make_measurement("m-1"))
    store.create_datastream(make_datastream("ds-a", "m-1"))
    store.create_datastream(make_datastream("ds-b", "m-1"))
    host = DevHost(_options(tmp_path, change_source=store, clock=FakeClock()))
    assert host.changefeed is not None

    async def pump() -> None:
        assert host.changefeed is not None
        host.changefeed.poll_once()
        await host.queue.deliver_due(host.invoke_delivery)
        assert host.changefeed.poll_once() == 0

    asyncio.run(pump())
    assert [r["id"] for r in read_records(out_file, "change")] == ["ds-a", "ds-b"]
    host.runner.close()
    host.db.close()
    store.close()


def test_poison_change_batch_is_dead_lettered_and_feed_moves_on(
    tmp_path: Path, out_file: Path
) -> None:
    log = FakeChangeLog()
    log.write({"id": "bad", "poison": True})
    clock = FakeClock()
    host = DevHost(_options(tmp_path, change_source=log, clock=clock, delivery_max_attempts=2))

    async def run() -> None:
        assert host.changefeed is not None
        host.changefeed.poll_once()
        for _ in range(3):
            await host.queue.deliver_due(host.invoke_delivery)
            clock.advance(10)
        log.write({"id": "good"})
        host.changefeed.poll_once()
        await host.queue.deliver_due(host.invoke_delivery)

    asyncio.run(run())
    assert [d.function for d in host.queue.dead_letters()] == ["on_datastream_change"]
    assert json.loads(host.queue.dead_letters()[0].payload)[0]["id"] == "bad"
    assert [r["id"] for r in read_records(out_file, "change")] == ["good"]
    host.runner.close()
    host.db.close()


def test_project_subscriptions_file_mirrors_infra_filter() -> None:
    root = Path(__file__).resolve().parents[2]
    # The file also holds the label import's subscription (tests/labeling/test_import_trigger.py).
    (sub,) = [
        s
        for s in load_subscriptions(root / "infra" / "eventgrid-subscriptions.json")
        if s.function == "on_landing_blob_created"
    ]
    lister_blob = BlobInfo(
        name="up/1/manifest.json", etag="e", size=10, content_type=None, blob_type="BlockBlob"
    )
    event = blob_created_event(
        account="devstoreaccount1",
        endpoint="http://x",
        container="landing",
        blob=lister_blob,
        now=FakeClock().now(),
    )
    assert sub.accepts("landing", event)
    empty = {**event, "data": {**event["data"], "contentLength": 0}}
    assert not sub.accepts("landing", empty)
    other_api = {**event, "data": {**event["data"], "api": "CreateFile"}}
    assert not sub.accepts("landing", other_api)
    data_file = {**event, "subject": event["subject"].replace("manifest.json", "a.mcap")}
    assert not sub.accepts("landing", data_file)
    bicep = (root / "infra" / "modules" / "eventgrid.bicep").read_text()
    assert f"var targetFunction = '{sub.function}'" in bicep
    assert f"subjectEndsWith: '{sub.subject_ends_with}'" in bicep


class FakeLister:
    """A blob listing that the test edits; same interface as the Azurite lister."""

    account_name = "devstoreaccount1"
    blob_endpoint = "http://127.0.0.1:10000/devstoreaccount1"

    def __init__(self) -> None:
        self.blobs: dict[str, list[BlobInfo]] = {"landing": []}

    def list_blobs(self, container: str) -> list[BlobInfo]:
        return list(self.blobs.get(container, []))


def test_blob_events_survive_a_restart_and_are_not_repeated(tmp_path: Path, out_file: Path) -> None:
    lister = FakeLister()
    lister.blobs["landing"].append(BlobInfo("a/x.bin", "e1", 5, None, "BlockBlob"))
    options = _options(
        tmp_path, subscriptions_path=SUBSCRIPTIONS, blob_lister=lister, clock=FakeClock()
    )
    first = DevHost(options)
    assert first.poller is not None
    assert first.poller.poll_once() == 1  # the CloudEvents subscription takes every landing blob
    first.runner.close()
    first.db.close()  # "crash" with the event queued, not delivered

    lister.blobs["landing"].append(BlobInfo("a/y.bin", "e2", 5, None, "BlockBlob"))
    second = DevHost(options)
    assert second.poller is not None
    assert second.poller.poll_once() == 1  # only the new blob: x.bin was recorded as seen

    async def deliver() -> None:
        await second.queue.deliver_due(second.invoke_delivery)

    asyncio.run(deliver())
    subjects = sorted(r["subject"].rsplit("/", 1)[-1] for r in read_records(out_file, "cloudevent"))
    assert subjects == ["x.bin", "y.bin"]
    second.runner.close()
    second.db.close()
