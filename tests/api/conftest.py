"""Route tests run against both store backends through the app's real HTTP functions.

A session-scoped store per backend is seeded once with a small fleet (measurements, a lineage
chain of datastreams, files, scenes); read-only tests share it, and tests that change state
create datastreams of their own in it. ``activities.runtime`` is pointed at that store and at
settings with one read and one write key. cosmosdb-server is started by the fixture and a
failure to start fails the cosmos tests, never skips them.
"""

from __future__ import annotations

import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
import urllib3
from azure.cosmos import CosmosClient

from activities import runtime
from dataops.frames.tables import ns_floor
from dataops.models import DatastreamType, FileRecord, MeasurementState
from dataops.paths import Zone
from dataops.settings import Settings, StoreBackend
from dataops.storage import BlobZones, ConnectionStringZones
from dataops.store import MetadataStore
from dataops.store.cosmos import CosmosStore
from dataops.store.cosmos_setup import open_containers
from dataops.store.sqlite import SqliteStore
from devhost.services.azurite import AzuriteBlob
from tests.api.function_host import FunctionHost
from tests.contract.conftest import (
    T0,
    create_with_files,
    make_datastream,
    make_measurement,
    make_scene,
    mark_backend_tests,
)
from tests.index_tables import FrameRow, LabelRow, publish_labels, publish_scenes

BACKENDS = ["sqlite", "cosmos"]
READ_KEY = "read-key-" + "r" * 24
WRITE_KEY = "write-key-" + "w" * 24
# Offline: URLs and SAS tokens are computed locally, no request is made with this.
OFFLINE_STORAGE = "UseDevelopmentStorage=true"
SECOND = 1_000_000_000


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    mark_backend_tests(items, Path(__file__).parent)


@dataclass(frozen=True)
class Fleet:
    """Ids of the seeded documents the tests look for."""

    backend: str
    store: MetadataStore
    measurements: tuple[str, ...] = ("m-a1", "m-a2", "m-b1", "m-c1", "m-c2")
    raw: str = "ds-raw"
    extracted: str = "ds-ext"
    synchronized: str = "ds-sync"
    other_raw: str = "ds-raw-b1"


MANIFEST_FILES = [
    FileRecord(path=f"drive/part-{i}.mcap", format="mcap", size=10 + i) for i in (3, 1, 4, 0, 2)
]


def seed(store: MetadataStore) -> None:
    """Write the fleet the tests expect into an empty store."""
    layout = [
        ("m-a1", "VIN-A", 0, ["highway", "rain"]),
        ("m-a2", "VIN-A", 2, ["city"]),
        ("m-b1", "VIN-B", 4, ["highway"]),
        ("m-c1", "VIN-C", 6, []),
        ("m-c2", "VIN-C", 8, ["night"]),
    ]
    for measurement_id, vehicle, hour, tags in layout:
        measurement = make_measurement(
            measurement_id, vehicle_id=vehicle, start=T0 + timedelta(hours=hour), tags=tags
        )
        # m-a1's manifest listed five files: its file records.
        manifest_files = MANIFEST_FILES if measurement_id == "m-a1" else []
        create_with_files(store, measurement, manifest_files)
    store.set_measurement_state("m-a1", MeasurementState.INGESTED)
    store.create_datastream(make_datastream(Fleet.raw, "m-a1"))
    store.create_datastream(
        make_datastream(Fleet.extracted, "m-a1", type=DatastreamType.EXTRACTED, sources=[Fleet.raw])
    )
    store.create_datastream(
        make_datastream(
            Fleet.synchronized,
            "m-a1",
            type=DatastreamType.SYNCHRONIZED,
            sources=[Fleet.extracted],
        )
    )
    store.create_datastream(make_datastream(Fleet.other_raw, "m-b1"))
    store.attach_files(
        Fleet.raw,
        [FileRecord(path=f"file-{i:02d}.mcap", format="mcap", size=100 + i) for i in range(7)],
    )
    store.upsert_scenes(
        [
            make_scene("sc-1", "m-a1", type="pedestrian", vehicle_id="VIN-A", start=T0),
            make_scene(
                "sc-2", "m-a1", type="cut_in", vehicle_id="VIN-A", start=T0 + timedelta(minutes=5)
            ),
            make_scene(
                "sc-3", "m-b1", type="pedestrian", vehicle_id="VIN-B", start=T0 + timedelta(hours=4)
            ),
        ]
    )


def seed_index(store: MetadataStore, zones: BlobZones) -> None:
    """The seeded scenes as the search reads them: SCENES and LABELED tables in curated.

    m-a1 has an older SCENES datastream whose scene a rerun replaced (never found) and two
    label imports; m-b1 has no labels.
    """
    a1 = {"vehicle_id": "VIN-A", "measurement_id": "m-a1"}
    b1 = {"vehicle_id": "VIN-B", "measurement_id": "m-b1"}
    publish_scenes(
        store,
        zones,
        datastream_id="ds-scenes-a1-old",
        scenes=[make_scene("sc-old", "m-a1", vehicle_id="VIN-A", datastream_id="ds-scenes-a1-old")],
        **a1,
    )
    a1_scenes = [
        make_scene("sc-1", "m-a1", type="pedestrian", vehicle_id="VIN-A", start=T0),
        make_scene(
            "sc-2", "m-a1", type="cut_in", vehicle_id="VIN-A", start=T0 + timedelta(minutes=5)
        ),
    ]
    publish_scenes(
        store,
        zones,
        datastream_id="ds-scenes-a1",
        scenes=[s.model_copy(update={"datastream_id": "ds-scenes-a1"}) for s in a1_scenes],
        frames=[
            *(
                FrameRow(
                    ns_floor(T0) + i * SECOND,
                    objects=["pedestrian"] if i < 4 else ["car"],
                    scene_ids=["sc-1"],
                    scene_types=["pedestrian"],
                )
                for i in range(6)
            ),
            *(
                FrameRow(
                    ns_floor(T0) + (300 + i) * SECOND,
                    objects=["car"],
                    scene_ids=["sc-2"],
                    scene_types=["cut_in"],
                )
                for i in range(3)
            ),
        ],
        **a1,
    )
    publish_scenes(
        store,
        zones,
        datastream_id="ds-scenes-b1",
        scenes=[
            make_scene(
                "sc-3",
                "m-b1",
                type="pedestrian",
                vehicle_id="VIN-B",
                start=T0 + timedelta(hours=4),
                datastream_id="ds-scenes-b1",
            )
        ],
        frames=[
            FrameRow(ns_floor(T0 + timedelta(hours=4)) + i * SECOND, objects=["pedestrian"])
            for i in range(3)
        ],
        **b1,
    )
    # Two label imports of m-a1: a frame's categories add up over both.
    publish_labels(
        store,
        zones,
        datastream_id="ds-labels-a1-1",
        frames_datastream_id="ds-scenes-a1",
        labels=[LabelRow(ns_floor(T0) + SECOND, "pedestrian", frame=1)],
        **a1,
    )
    publish_labels(
        store,
        zones,
        datastream_id="ds-labels-a1-2",
        frames_datastream_id="ds-scenes-a1",
        labels=[
            LabelRow(ns_floor(T0) + SECOND, "bicycle", frame=1),
            LabelRow(ns_floor(T0) + 301 * SECOND, "traffic sign", frame=7),
        ],
        **a1,
    )


@pytest.fixture(scope="session")
def index_zones(azurite: AzuriteBlob) -> Iterator[BlobZones]:
    """The curated zone, where the fleet's scenes, frames and labels tables live."""
    zones = BlobZones(ConnectionStringZones(azurite.connection_string, container_prefix="fleet-"))
    zones.ensure_containers([Zone.CURATED])
    try:
        yield zones
    finally:
        zones.close()


@pytest.fixture(scope="session", params=BACKENDS)
def fleet(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    index_zones: BlobZones,
) -> Iterator[Fleet]:
    """A seeded store of the backend under test, shared by the session."""
    backend = str(request.param)
    database = ""
    if backend == "sqlite":
        store: MetadataStore = SqliteStore(tmp_path_factory.mktemp("api") / "metadata.sqlite3")
    else:
        client: CosmosClient = request.getfixturevalue("cosmos_client")
        database = f"api-{uuid.uuid4().hex[:12]}"
        store = CosmosStore(open_containers(client, database))
    seed(store)
    seed_index(store, index_zones)
    try:
        yield Fleet(backend=backend, store=store)
    finally:
        store.close()
        if database:
            # Teardown may run after tests of other folders, outside this folder's filter.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", urllib3.exceptions.InsecureRequestWarning)
                client.delete_database(database)


def api_settings(**overrides: object) -> Settings:
    """Settings with one read and one write key and offline storage."""
    values: dict[str, object] = {
        "store_backend": StoreBackend.SQLITE,
        "storage_connection_string": OFFLINE_STORAGE,
        "api_read_keys": [READ_KEY],
        "api_write_keys": [WRITE_KEY],
        **overrides,
    }
    return Settings(**values)  # type: ignore[arg-type]  # keyword names checked by pydantic


@pytest.fixture
def host(fleet: Fleet, index_zones: BlobZones, monkeypatch: pytest.MonkeyPatch) -> FunctionHost:
    """The app's functions, with activities.runtime pointed at the fleet's store and tables."""
    settings = api_settings()
    monkeypatch.setattr(runtime, "settings", lambda: settings)
    monkeypatch.setattr(runtime, "metadata_store", lambda: fleet.store)
    monkeypatch.setattr(runtime, "blob_zones", lambda: index_zones)
    return FunctionHost()


def read(key: str = READ_KEY) -> dict[str, str]:
    """Headers with an API key."""
    return {"x-functions-key": key}


def write() -> dict[str, str]:
    """Headers with the write key."""
    return {"x-functions-key": WRITE_KEY}


def new_datastream(fleet: Fleet, *, measurement_id: str = "m-c1") -> str:
    """A fresh CREATED datastream of its own for a test that changes state."""
    datastream_id = f"ds-{uuid.uuid4().hex[:10]}"
    fleet.store.create_datastream(make_datastream(datastream_id, measurement_id))
    return datastream_id
