"""One contract suite, run against every metadata store backend.

The cosmos run uses the session's ``@vercel/cosmosdb-server`` (tests/conftest.py) and gives every
test a database of its own. If the server cannot start, the cosmos tests error out: a missing
backend must be a failure, never a silent skip.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
from azure.cosmos import CosmosClient

from dataops.models import (
    Datastream,
    DatastreamState,
    DatastreamType,
    FileRecord,
    Measurement,
    Producer,
    Scene,
)
from dataops.paths import Zone
from dataops.settings import Settings, StoreBackend
from dataops.storage import BlobZones
from dataops.store import MetadataStore, all_measurement_files, open_store
from dataops.store.cosmos import CosmosStore
from dataops.store.cosmos_setup import open_containers
from dataops.store.protocol import Page
from devhost.services.cosmos_server import CosmosServer

BACKENDS = ["sqlite", "cosmos"]
T0 = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
T = TypeVar("T")


def mark_backend_tests(items: list[pytest.Item], folder: Path) -> None:
    """Mark the cosmos runs of the tests under ``folder``; the local server's certificate is
    self-signed, so its warnings are noise there (and only there)."""
    for item in items:
        if folder in Path(item.path).parents:
            item.add_marker(
                pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
            )
            if "cosmos" in item.name:
                item.add_marker(pytest.mark.cosmos)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    mark_backend_tests(items, Path(__file__).parent)


def every_page(fetch: Callable[[str | None], Page[T]], limit: int) -> list[T]:
    """All items of a paged query, first page to last (``fetch`` takes the continuation);
    no page may hold more than ``limit`` items, and the walk must end."""
    items: list[T] = []
    token: str | None = None
    for _ in range(100):
        page = fetch(token)
        assert len(page.items) <= limit
        items.extend(page.items)
        token = page.continuation
        if token is None:
            return items
    raise AssertionError("pagination did not end")


def store_settings(backend: str, tmp_path: Path, server: CosmosServer | None) -> Settings:
    """Settings that point ``open_store`` at a fresh, isolated store of ``backend``."""
    if backend == "sqlite":
        return Settings(
            store_backend=StoreBackend.SQLITE, sqlite_path=tmp_path / "db" / "metadata.sqlite3"
        )
    assert server is not None
    return Settings(
        store_backend=StoreBackend.COSMOS,
        cosmos_endpoint=server.endpoint,
        cosmos_key=server.key,
        cosmos_database=f"contract-{uuid.uuid4().hex[:12]}",
        cosmos_verify_tls=False,
    )


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """Name of the backend under test."""
    return str(request.param)


@pytest.fixture
def settings(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
    """Settings for a fresh store of the backend under test."""
    server = request.getfixturevalue("cosmos_server") if backend == "cosmos" else None
    return store_settings(backend, tmp_path, server)


@pytest.fixture
def store(settings: Settings, request: pytest.FixtureRequest) -> Iterator[MetadataStore]:
    """A fresh, empty store (own sqlite file, or own cosmos database).

    test_factory.py and test_concurrency.py open stores through ``open_store`` itself.
    """
    if settings.store_backend is StoreBackend.SQLITE:
        opened: MetadataStore = open_store(settings)
    else:
        client: CosmosClient = request.getfixturevalue("cosmos_client")
        opened = CosmosStore(open_containers(client, settings.cosmos_database))
    try:
        yield opened
    finally:
        opened.close()
        if settings.store_backend is StoreBackend.COSMOS:
            client.delete_database(settings.cosmos_database)


def sha(text: str) -> str:
    """A valid SHA-256 hex digest derived from ``text``."""
    return hashlib.sha256(text.encode()).hexdigest()


def assert_read_back_as_created(original: Any, created: Any, fetched: Any) -> None:
    """Create gave the record an etag, a read returns that etag, and every other field is
    the original's."""
    assert created.etag
    assert fetched.etag == created.etag
    assert fetched.model_dump(exclude={"etag"}) == original.model_dump(exclude={"etag"})


def make_measurement(
    measurement_id: str,
    *,
    vehicle_id: str = "VIN-1",
    start: datetime = T0,
    hours: float = 1.0,
    tags: list[str] | None = None,
    variant: str = "",
) -> Measurement:
    """A measurement whose content hash depends on its id and ``variant``."""
    return Measurement(
        id=measurement_id,
        vehicle_id=vehicle_id,
        recording_start=start,
        recording_end=start + timedelta(hours=hours),
        upload_prefix=f"uploads/{measurement_id}",
        tags=tags or [],
        content_sha256=sha(f"{measurement_id}/{variant}"),
    )


def make_datastream(
    datastream_id: str,
    measurement_id: str,
    *,
    type: DatastreamType = DatastreamType.RAW,  # noqa: A002  # mirrors the model field
    sources: list[str] | None = None,
) -> Datastream:
    """A datastream of ``measurement_id`` made from ``sources``."""
    return Datastream(
        id=datastream_id,
        measurement_id=measurement_id,
        type=type,
        zone=Zone.RAW,
        path=f"2024/05/01/VIN-1/{measurement_id}/{datastream_id}",
        producer=Producer(step="ingest", code_version="1.0.0", instance_id="inst-1"),
        sources=sources or [],
    )


def create_with_files(
    store: MetadataStore, measurement: Measurement, files: Sequence[FileRecord]
) -> Measurement:
    """``measurement`` registered with ``files`` as its manifest's (count and bytes set)."""
    counted = measurement.model_copy(
        update={"file_count": len(files), "total_bytes": sum(f.size for f in files)}
    )
    return store.create_measurement(counted, files)


def seed_completed_raw(
    store: MetadataStore, zones: BlobZones, measurement: Measurement, files_dir: Path | None
) -> Datastream:
    """A COMPLETED RAW datastream ``raw-1`` holding ``measurement``'s files from ``files_dir``,
    uploaded to the raw zone and recorded (zone paths, ``<raw path>/<file>``) as ingest leaves
    them; with ``files_dir`` None only recorded, their blobs missing (a recording lost since)."""
    raw = store.create_datastream(make_datastream("raw-1", measurement.id))
    files = list(all_measurement_files(store, measurement.id))
    for record in files if files_dir is not None else ():
        zones.upload_file(Zone.RAW, f"{raw.path}/{record.path}", files_dir / record.path)
    store.attach_files(
        raw.id,
        [record.model_copy(update={"path": f"{raw.path}/{record.path}"}) for record in files],
    )
    raw = store.get_datastream(raw.id)
    raw = store.transition_datastream(raw.id, DatastreamState.COPYING, expected_etag=str(raw.etag))
    return store.transition_datastream(
        raw.id, DatastreamState.COMPLETED, expected_etag=str(raw.etag)
    )


def make_scene(
    scene_id: str,
    measurement_id: str,
    *,
    datastream_id: str = "ds-scenes",
    vehicle_id: str = "VIN-1",
    type: str = "pedestrian",  # noqa: A002  # mirrors the model field
    start: datetime = T0,
) -> Scene:
    """A five-second scene."""
    return Scene(
        id=scene_id,
        measurement_id=measurement_id,
        datastream_id=datastream_id,
        vehicle_id=vehicle_id,
        type=type,
        start=start,
        end=start + timedelta(seconds=5),
        attributes={"objects": 3},
    )
