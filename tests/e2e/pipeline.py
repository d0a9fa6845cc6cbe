"""The sample drive's one trip through the whole pipeline under devhost, for tests to read.

upload -> ingest -> extract -> (change feed) synchronize -> enrich -> detect_scenes, on the store
backend under test, fed by the change source devhost gives the app for that backend. While the
host runs, the run also does what only a running host can answer: it redelivers the EXTRACTED
document to the consumer and asks the frames and scenes API. The checks live in the tests.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from azure.cosmos import CosmosClient

from activities import runtime
from dataops.ids import instance_id_for
from dataops.manifest import parse_manifest
from dataops.models import Datastream, DatastreamState, DatastreamType
from dataops.paths import Zone
from dataops.settings import Settings
from dataops.storage import BlobZones
from dataops.store import MetadataStore, open_store
from dataops.store.sqlite import SqliteStore
from dataops.uploader import upload_measurement
from devhost.batch_runner import batch_runner
from devhost.durable.store import TERMINAL, RuntimeStatus
from devhost.events.changefeed import ChangeSource, CosmosTsSource
from devhost.host import DevHost, HostOptions
from tests.devhost.hosting import run_with_host

ROOT = Path(__file__).resolve().parents[2]
SUBSCRIPTIONS = ROOT / "infra" / "eventgrid-subscriptions.json"
WRITE_KEY = "e2e-write-key"
READ_KEY = "e2e-read-key"
CONSUMER = "on_datastream_changed"
UPLOAD_PREFIX = "fleet/pipeline-1"


async def wait_for(
    check: Callable[[], Any], *, timeout_s: float = 60.0, what: str = "condition"
) -> Any:
    """Poll ``check`` until it returns something truthy (the host runs while we sleep)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while loop.time() < deadline:
        value = check()
        if value:
            return value
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


async def finished(host: DevHost, instance_id: str, timeout_s: float = 150.0) -> Any:
    """The instance once it is COMPLETED, FAILED or TERMINATED."""
    return await wait_for(
        lambda: (
            (i := host.engine.get_instance(instance_id)) is not None and i.status in TERMINAL and i
        ),
        timeout_s=timeout_s,
        what=f"instance {instance_id} to finish",
    )


async def ingest_sample(host: DevHost, zones: BlobZones, drive: Path, prefix: str) -> Any:
    """Upload the sample drive under ``prefix``; the ingest output once it (and extraction) ran."""
    manifest = parse_manifest((drive / "manifest.json").read_bytes())
    upload_measurement(zones, drive, manifest, upload_prefix=prefix)
    ingest = await finished(host, instance_id_for("ingest", prefix))
    assert ingest.status is RuntimeStatus.COMPLETED, ingest.error
    return json.loads(ingest.output)


@dataclass
class PipelineRun:
    """What one run left behind: ids, the orchestration records, API answers, a snapshot."""

    backend: str
    settings: Settings
    env: dict[str, str]
    state_dir: Path
    cosmos_client: CosmosClient | None
    zones: BlobZones
    drive: Path
    output: dict[str, Any]
    instances: dict[str, Any]
    redelivery: dict[str, Any]
    http: dict[str, Any]
    # The measurement's datastreams right after the run, before any test added its own.
    datastreams: dict[DatastreamType, list[Datastream]] = field(default_factory=dict)

    @property
    def measurement_id(self) -> str:
        return str(self.output["measurement_id"])

    @property
    def extracted_id(self) -> str:
        return str(self.output["extraction"]["datastream_id"])

    def output_of(self, step: str) -> str:
        """The datastream id that ``step``'s orchestration made."""
        return str(json.loads(self.instances[step].output)["datastream_id"])

    def completed_datastream(
        self, kind: DatastreamType, step: str, sources: list[str]
    ) -> Datastream:
        """The run's one datastream of ``kind``: completed by ``step`` in the curated zone,
        made from ``sources``."""
        (datastream,) = self.datastreams[kind]
        assert datastream.state is DatastreamState.COMPLETED
        assert datastream.sources == sources
        assert datastream.zone is Zone.CURATED
        assert datastream.producer.step == step
        return datastream

    def store(self) -> MetadataStore:
        """A new connection to the run's metadata store (the caller closes it)."""
        return open_store(self.settings)

    def change_source(self) -> ChangeSource:
        """A new change source of the run's backend (a sqlite one is closed by the caller)."""
        return _change_source(self.settings, self.cosmos_client)

    def host_options(self, change_source: ChangeSource) -> HostOptions:
        """Options of a host on the run's devhost state: it carries on where the run stopped.

        The caller points the app's settings at the run first (``env``).
        """
        return _host_options(self.settings, self.state_dir, change_source)

    def close(self) -> None:
        self.zones.close()


def _change_source(settings: Settings, cosmos_client: CosmosClient | None) -> ChangeSource:
    if cosmos_client is None:
        return SqliteStore(settings.sqlite_path)
    return CosmosTsSource(cosmos_client.get_database_client(settings.cosmos_database))


def _host_options(settings: Settings, state_dir: Path, feed: ChangeSource) -> HostOptions:
    return HostOptions(
        app_root=ROOT,
        state_dir=state_dir,
        port=0,
        function_key=WRITE_KEY,
        activity_mode="thread",
        subscriptions_path=SUBSCRIPTIONS,
        storage_connection_string=settings.storage_connection_string,
        poll_interval_s=0.05,
        delivery_backoff_s=0.05,
        change_source=feed,
    )


async def _through_the_chain(
    host: DevHost, zones: BlobZones, drive: Path, feed: ChangeSource
) -> dict[str, Any]:
    output = await ingest_sample(host, zones, drive, UPLOAD_PREFIX)
    extracted_id = output["extraction"]["datastream_id"]
    sync_id = instance_id_for("synchronize", extracted_id)
    sync = await finished(host, sync_id, timeout_s=90)
    assert sync.status is RuntimeStatus.COMPLETED, sync.error
    # Redeliver the EXTRACTED document, as the backend's feed holds it, twice to the consumer.
    documents = [
        d for d in feed.read_changes("datastreams", None, 1000).documents if d["id"] == extracted_id
    ]
    for _ in range(2):
        with host.db.transaction() as conn:
            host.queue.enqueue(conn, "changefeed:datastreams", CONSUMER, json.dumps(documents))
    host.queue.on_change()
    await wait_for(lambda: host.queue.pending_count() == 0, what="redeliveries")
    redelivery = {
        "documents": documents,
        "again": host.engine.get_instance(sync_id),
        "instances": host.engine.query(name="synchronize"),
        "dead": host.queue.dead_letters(),
    }
    synchronized_id = json.loads(sync.output)["datastream_id"]
    enrich = await finished(host, instance_id_for("enrich", synchronized_id), timeout_s=90)
    assert enrich.status is RuntimeStatus.COMPLETED, enrich.error
    enriched_id = json.loads(enrich.output)["datastream_id"]
    # ENRICHED COMPLETED -> detect_scenes, its instance derived from the ENRICHED id.
    scenes = await finished(host, instance_id_for("detect_scenes", enriched_id), timeout_s=90)
    assert scenes.status is RuntimeStatus.COMPLETED, scenes.error
    return {
        "output": output,
        "instances": {"synchronize": sync, "enrich": enrich, "detect_scenes": scenes},
        "redelivery": redelivery,
        "http": await _ask_the_api(host, output["measurement_id"], drive),
    }


async def _ask_the_api(host: DevHost, measurement_id: str, drive: Path) -> dict[str, Any]:
    """The frame index and the scenes through the API (pages of 10, so continuations run)."""
    headers = {"x-functions-key": WRITE_KEY}
    vehicle = json.loads((drive / "truth.json").read_text())["vehicle_id"]
    pedestrian_frames: list[dict[str, Any]] = []
    params: dict[str, Any] = {"object": "pedestrian", "limit": 10}
    async with httpx.AsyncClient(timeout=30, base_url=f"{host.base_url}/api") as http:
        while True:
            page = await http.get("/frames", params=params, headers=headers)
            assert page.status_code == 200, page.text
            pedestrian_frames.extend(page.json()["items"])
            if page.json()["continuation"] is None:
                break
            params["continuation"] = page.json()["continuation"]
        return {
            "pedestrian_frames": pedestrian_frames,
            "braking": await http.get(
                "/frames", params={"scene_type": "hard_brake", "limit": 1000}, headers=headers
            ),
            "bad": await http.get("/frames", params={"limit": 100000}, headers=headers),
            # GET /api/scenes answers from the scenes Delta table of the SCENES datastream.
            "scenes": await http.get(
                "/scenes", params={"measurement": measurement_id, "limit": 1000}, headers=headers
            ),
            "brakes": await http.get(
                "/scenes", params={"type": "hard_brake", "vehicle": vehicle}, headers=headers
            ),
        }


def run_pipeline(
    *,
    backend: str,
    env: Mapping[str, str],
    state_dir: Path,
    drive: Path,
    cosmos_client: CosmosClient | None = None,
) -> PipelineRun:
    """Run the sample drive to SCENES with the app's settings from ``env`` (restored after)."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        # The batch runner exports AZURE_STORAGE_CONNECTION_STRING for its workers: undone after.
        patch.setenv("AZURE_STORAGE_CONNECTION_STRING", "")
        runtime.reset()
        settings = Settings()
        zones = BlobZones.from_settings(settings)
        zones.ensure_containers()
        feed = _change_source(settings, cosmos_client)
        options = _host_options(settings, state_dir, feed)
        try:
            with batch_runner(settings, max_parallel=4):
                result = run_with_host(
                    options, lambda host: _through_the_chain(host, zones, drive, feed)
                )
        except BaseException:
            zones.close()
            raise
        finally:
            if isinstance(feed, SqliteStore):
                feed.close()
            runtime.reset()
    run = PipelineRun(
        backend=backend,
        settings=settings,
        env=dict(env),
        state_dir=state_dir,
        cosmos_client=cosmos_client,
        zones=zones,
        drive=drive,
        **result,
    )
    store = run.store()
    try:
        for datastream in store.list_datastreams(run.measurement_id):
            run.datastreams.setdefault(datastream.type, []).append(datastream)
    finally:
        store.close()
    return run
