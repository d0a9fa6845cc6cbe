"""Under throttling, outages, lost races and dropped connections nothing is lost or duplicated.

A :class:`~tests.faults.proxy.FaultProxy` stands between the app and cosmosdb-server or
Azurite; the app reaches it through its settings only. Injected throttles (each service's own:
``429`` from Cosmos DB, ``503 ServerBusy`` from storage), ``503``/``412`` and
connections dropped mid-response are left to the SDKs' retry policies first and then to the
activity retries (retryable failures again, terminal ones never: a terminal failure here fails
the test, since every injected fault is transient). Afterwards the store documents and blob
bytes are checked against what a fault-free run writes.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from activities import enrichment as enrichment_activities
from activities import runtime
from activities import scenes as scene_activities
from activities import synchronization as synchronization_activities
from activities.serving import ActivityError
from dataops.downstream import downstream_starts
from dataops.ids import instance_id_for
from dataops.models import (
    Datastream,
    DatastreamState,
    DatastreamType,
    Measurement,
    MeasurementState,
    Producer,
)
from dataops.paths import Zone
from dataops.settings import Settings, StoreBackend
from dataops.store import MetadataStore, all_measurement_files, open_store
from devhost.durable.store import RuntimeStatus
from devhost.host import DevHost
from devhost.services.azurite import ACCOUNT_KEY, ACCOUNT_NAME
from devhost.services.cosmos_server import CosmosServer
from tests.e2e.conftest import AppEnv, run_host, wait_for
from tests.faults.proxy import FaultProxy, FaultSchedule

# Seeds of the default run; the slow soak runs many more.
SEEDS = [11, 23]
SOAK_SEEDS = list(range(100, 112))
STEP_MODULES = {
    "synchronize": synchronization_activities,
    "enrich": enrichment_activities,
    "detect_scenes": scene_activities,
}
MAX_ATTEMPTS = 8


def run_activity(
    activity: Callable[[dict[str, Any]], dict[str, Any]], params: dict[str, Any]
) -> Any:
    """What ``orchestrators.calls.call`` does: retry retryable failures, never terminal ones."""
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            return activity(params)
        except ActivityError as err:
            if not err.failure.retryable:
                raise AssertionError(
                    f"a transient fault ended as a terminal failure: {err.failure}"
                ) from err
            if attempt == MAX_ATTEMPTS:
                raise
            time.sleep(min(err.failure.retry_after_s or 0.1, 1.0))
    raise AssertionError("unreachable")


# --- the change-feed steps on Cosmos ------------------------------------------------------


@pytest.fixture(scope="module")
def cosmos_server() -> Iterator[CosmosServer]:
    with CosmosServer() as server:
        yield server


def _cosmos_settings(endpoint: str, server: CosmosServer, database: str) -> Settings:
    return Settings(
        store_backend=StoreBackend.COSMOS,
        cosmos_endpoint=endpoint,
        cosmos_key=server.key,
        cosmos_database=database,
        cosmos_verify_tls=False,
    )


def _extracted_measurement(store: MetadataStore) -> None:
    """A logger-synchronized measurement with one COMPLETED EXTRACTED datastream ``ds-1``."""
    start = datetime(2026, 5, 4, 8, tzinfo=UTC)
    store.create_measurement(
        Measurement(
            id="m-1",
            vehicle_id="WAVFAULTS0000000",
            recording_start=start,
            recording_end=start + timedelta(seconds=40),
            upload_prefix="fleet/m-1",
            logger_synchronized=True,
            content_sha256="0" * 64,
        )
    )
    extracted = store.create_datastream(
        Datastream(
            id="ds-1",
            measurement_id="m-1",
            type=DatastreamType.EXTRACTED,
            zone=Zone.EXTRACTED,
            path="2026/05/04/WAVFAULTS0000000/m-1/ds-1",
            producer=Producer(step="extract", code_version="test"),
        )
    )
    assert extracted.etag is not None
    processing = store.transition_datastream(
        "ds-1", DatastreamState.PROCESSING, expected_etag=extracted.etag
    )
    assert processing.etag is not None
    store.transition_datastream("ds-1", DatastreamState.COMPLETED, expected_etag=processing.etag)


def _run_change_feed_chain(store: MetadataStore) -> list[str]:
    """Follow the change feed: each start's prepare and run, as served activities with retries."""
    started: list[str] = []
    checkpoint: str | None = None
    while True:
        batch = store.read_changes("datastreams", checkpoint, 100)
        checkpoint = batch.checkpoint
        if not batch.documents:
            return started
        for start in downstream_starts(batch.documents):
            module = STEP_MODULES[start.orchestrator]
            datastream_id = f"{start.orchestrator}-out"
            prepare = {
                "source_datastream_id": start.input["source_datastream_id"],
                "datastream_id": datastream_id,
                "instance_id": start.instance_id,
            }
            run_activity(module.prepare, prepare)
            run_activity(module.run, {"datastream_id": datastream_id})
            started.append(start.orchestrator)


def _check_chain_in(store: MetadataStore) -> None:
    """One datastream per step, each COMPLETED, linked to its source: none lost, none twice."""
    by_type = {
        kind: store.list_datastreams("m-1", kind)
        for kind in (
            DatastreamType.SYNCHRONIZED,
            DatastreamType.ENRICHED,
            DatastreamType.SCENES,
        )
    }
    assert {kind: len(found) for kind, found in by_type.items()} == dict.fromkeys(by_type, 1)
    (synchronized,) = by_type[DatastreamType.SYNCHRONIZED]
    (enriched,) = by_type[DatastreamType.ENRICHED]
    (scenes,) = by_type[DatastreamType.SCENES]
    for datastream in (synchronized, enriched, scenes):
        assert datastream.state is DatastreamState.COMPLETED, datastream
    assert synchronized.sources == ["ds-1"]
    assert enriched.sources == [synchronized.id]
    assert scenes.sources == [synchronized.id, enriched.id]
    assert scenes.producer.instance_id == instance_id_for("detect_scenes", enriched.id)


def _chain_under_faults(
    cosmos_server: CosmosServer,
    monkeypatch: pytest.MonkeyPatch,
    seed: int,
    kinds: tuple[str, ...] = ("throttle", "503", "412", "drop"),
    rate: float = 0.25,
) -> FaultProxy:
    database = f"faults-{uuid.uuid4().hex[:10]}"
    direct = open_store(_cosmos_settings(cosmos_server.endpoint, cosmos_server, database))
    _extracted_measurement(direct)
    # A 412 on a step's etag-guarded datastream write is a lost race: the step reads the
    # datastream again and re-applies its change (dataops.store.transitions).
    schedule = FaultSchedule(seed=seed, rate=rate, kinds=kinds)
    with FaultProxy(cosmos_server.endpoint, schedule, service="cosmos") as proxy:
        for key, value in cosmos_server.settings_env(database).items():
            monkeypatch.setenv(key, value)
        monkeypatch.setenv("AVOPS_COSMOS_ENDPOINT", proxy.url + "/")
        # A logger-synchronized chain reads no blob; the steps still open the zones' clients.
        monkeypatch.setenv(
            "AVOPS_STORAGE_CONNECTION_STRING",
            f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT_NAME};"
            f"AccountKey={ACCOUNT_KEY};BlobEndpoint=http://127.0.0.1:9/{ACCOUNT_NAME};",
        )
        runtime.reset()
        try:
            started = _run_change_feed_chain(direct)
        finally:
            runtime.reset()
    assert started == ["synchronize", "enrich", "detect_scenes"]
    _check_chain_in(direct)
    direct.close()
    return proxy


@pytest.mark.cosmos
@pytest.mark.parametrize("seed", SEEDS)
def test_change_feed_steps_on_cosmos_under_faults_write_each_datastream_once(
    cosmos_server: CosmosServer, monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    """synchronize -> enrich -> detect_scenes through throttles, outages, lost races, drops."""
    proxy = _chain_under_faults(cosmos_server, monkeypatch, seed)
    assert proxy.injected, "the schedule injected faults"
    assert proxy.forwarded > 0


@pytest.mark.cosmos
def test_change_feed_steps_re_apply_state_changes_that_lose_a_race(
    cosmos_server: CosmosServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only lost races: every step's etag-guarded datastream write that gets a 412 is re-read
    and re-applied, and the chain still writes each datastream once, COMPLETED."""
    proxy = _chain_under_faults(cosmos_server, monkeypatch, seed=5, kinds=("412",), rate=0.4)
    lost = [item for item in proxy.injected if item.kind == "412"]
    assert any("/colls/datastreams/" in item.path for item in lost), proxy.injected


@pytest.mark.slow
@pytest.mark.cosmos
@pytest.mark.parametrize("seed", SOAK_SEEDS)
def test_change_feed_soak_under_faults(
    cosmos_server: CosmosServer, monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    """The same chain over many seeds: every kind of fault lands on some store write."""
    proxy = _chain_under_faults(cosmos_server, monkeypatch, seed)
    assert proxy.injected


# --- ingest on Azurite --------------------------------------------------------------------

FILES = {
    "ros2/metadata.yaml": b"rosbag2_bagfile_information:\n  version: 5\n",
    "ros2/ros2_0.mcap": b"\x89MCAP0\r\n" + bytes(range(256)) * 300,
    "drive.bag": b"#ROSBAG V2.0\n" + b"\x01" * 20_000,
}


def _manifest() -> bytes:
    return json.dumps(
        {
            "schema_version": "1.0",
            "vehicle_id": "WVW-FAULTS-01",
            "recording_start": "2026-05-04T10:00:00Z",
            "recording_end": "2026-05-04T10:05:00Z",
            "files": [
                {
                    "path": path,
                    "format": "rosbag2" if path.startswith("ros2/") else "rosbag1",
                    "size": len(data),
                    "sha256": hashlib.sha256(data).hexdigest(),
                }
                for path, data in FILES.items()
            ],
        }
    ).encode()


def _ingest_under_faults(
    app_env: AppEnv, monkeypatch: pytest.MonkeyPatch, seed: int, prefix: str, rate: float
) -> FaultProxy:
    # No 412 on the landing delete: a real one means the upload was rewritten after its
    # copies, and the run deliberately fails rather than delete bytes it never validated.
    schedule = FaultSchedule(seed, rate=rate, race_methods=("GET", "HEAD", "PUT"))
    # The test's own storage account on the session's Azurite.
    parts = dict(p.split("=", 1) for p in app_env.connection_string.split(";") if p)
    account, endpoint = parts["AccountName"], parts["BlobEndpoint"].rstrip("/")
    with FaultProxy(endpoint.rsplit("/", 1)[0], schedule, service="storage") as proxy:
        # Only the app goes through the proxy; devhost's own event polling stays direct.
        monkeypatch.setenv(
            "AVOPS_STORAGE_CONNECTION_STRING",
            f"DefaultEndpointsProtocol=http;AccountName={account};"
            f"AccountKey={ACCOUNT_KEY};BlobEndpoint={proxy.url}/{account};",
        )
        runtime.reset()
        for path, data in FILES.items():
            app_env.zones.write_bytes(Zone.LANDING, f"{prefix}/{path}", data)
        app_env.zones.write_bytes(Zone.LANDING, f"{prefix}/manifest.json", _manifest())
        instance_id = instance_id_for("ingest", prefix)

        async def body(host: DevHost) -> Any:
            return await wait_for(
                lambda: (
                    (i := host.engine.get_instance(instance_id)) is not None
                    and i.status in {RuntimeStatus.COMPLETED, RuntimeStatus.FAILED}
                    and i
                ),
                timeout_s=150,
                what="the ingest run under faults",
            )

        try:
            done = run_host(app_env.options(), body)
        finally:
            runtime.reset()
    assert done.status is RuntimeStatus.COMPLETED, done.error
    _check_ingested(app_env, prefix, json.loads(done.output)["measurement_id"])
    return proxy


def _check_ingested(app_env: AppEnv, prefix: str, measurement_id: str) -> None:
    """Raw and archive hold every file's exact bytes once; one datastream; landing empty."""
    store = app_env.store()
    try:
        measurement = store.get_measurement(measurement_id)
        assert measurement.state is MeasurementState.INGESTED
        (raw,) = store.list_datastreams(measurement_id)
        assert raw.type is DatastreamType.RAW
        assert raw.state is DatastreamState.COMPLETED
        raw_blobs = {b.path: b for b in app_env.zones.list_blobs(Zone.RAW)}
        assert len(raw_blobs) == len(FILES)
        for path, data in FILES.items():
            (raw_path,) = [p for p in raw_blobs if p.endswith(f"/{path}") or p == path]
            copied = app_env.zones.read_bytes(Zone.RAW, raw_path, max_bytes=1 << 20)
            assert copied.data == data, raw_path
            archived = app_env.zones.read_bytes(Zone.ARCHIVE, f"{prefix}/{path}", max_bytes=1 << 20)
            assert archived.data == data, path
        recorded = {f.path: f for f in all_measurement_files(store, measurement_id)}
        assert {p: recorded[p].sha256 for p in FILES} == {
            p: hashlib.sha256(d).hexdigest() for p, d in FILES.items()
        }
        assert list(app_env.zones.list_blobs(Zone.LANDING, prefix)) == []
    finally:
        store.close()


@pytest.mark.azurite
def test_ingest_on_azurite_under_faults_copies_every_byte_once(
    app_env: AppEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A devhost ingest run through throttles, outages, lost races and mid-body drops."""
    proxy = _ingest_under_faults(app_env, monkeypatch, seed=7, prefix="faults/1", rate=0.1)
    assert proxy.injected, "the schedule injected faults"
    assert {"throttle", "drop"} <= proxy.kinds_injected(), proxy.injected


@pytest.mark.slow
@pytest.mark.azurite
@pytest.mark.parametrize("seed", SOAK_SEEDS[:6])
def test_ingest_soak_under_faults(
    app_env: AppEnv, monkeypatch: pytest.MonkeyPatch, seed: int, tmp_path: Path
) -> None:
    """More seeds of the ingest run; each ends with every byte copied once."""
    del tmp_path
    proxy = _ingest_under_faults(app_env, monkeypatch, seed=seed, prefix=f"soak/{seed}", rate=0.25)
    assert proxy.injected
