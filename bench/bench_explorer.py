"""Explorer pages and thumbnails against the Metadata API calls they stand on (same run).

On a sqlite store of 10,000 measurements (5 datastreams each, 4 files per datastream):

- the catalog page (50 rows) against ``GET /measurements?limit=50``;
- the measurement page against the API calls a client would make for the same content:
  ``GET /measurements/{id}`` plus ``GET /datastreams/{id}/files`` and one
  ``GET /locations?sas=true`` per file shown;
- a thumbnail (240 px wide, a different 640x360 JPEG frame every request, so never a cache
  hit) from Azurite, against reading the same blob alone.

Goals: pages within 1.5x of their API calls and p95 < 200 ms; a thumbnail p95 < 50 ms.
Run: ``.venv/bin/python -m pytest bench/bench_explorer.py -m bench -s -p no:cacheprovider``;
the numbers also go to bench/results/bench_explorer.json.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dataops.api import HANDLERS, ApiContext, ApiRequest, Locator, handle
from dataops.explorer.drive import DriveReader
from dataops.models import (
    Datastream,
    DatastreamState,
    DatastreamType,
    FileRecord,
    Measurement,
    Producer,
)
from dataops.paths import Zone
from dataops.settings import Settings
from dataops.storage import BlobZones, ConnectionStringZones, zone_clients_from_settings
from dataops.store.sqlite import SqliteStore
from tests.azurite import started_azurite

# Building 10,000 measurements with their datastreams and files takes minutes on a small machine.
pytestmark = [pytest.mark.bench, pytest.mark.timeout(3600)]

MEASUREMENTS = 10_000
CHAIN = [
    DatastreamType.RAW,
    DatastreamType.EXTRACTED,
    DatastreamType.SYNCHRONIZED,
    DatastreamType.ENRICHED,
    DatastreamType.SCENES,
]
FILES = 4
RUNS = 100
FRAMES = 200
KEY = "bench-read-key"
T0 = datetime(2025, 1, 1, tzinfo=UTC)
RESULTS = Path(__file__).resolve().parent / "results"
OFFLINE = "UseDevelopmentStorage=true"


def _build(path: Path) -> SqliteStore:
    store = SqliteStore(path)
    for i in range(MEASUREMENTS):
        start = T0 + timedelta(minutes=53 * i)
        measurement_id = f"m-{i:05d}"
        store.create_measurement(
            Measurement(
                id=measurement_id,
                vehicle_id=f"VIN-{i % 200:04d}",
                recording_start=start,
                recording_end=start + timedelta(minutes=30),
                upload_prefix=f"uploads/{measurement_id}",
                files=[FileRecord(path="drive.mcap", format="mcap", size=1)],
                tags=["bench"],
                content_sha256=hashlib.sha256(measurement_id.encode()).hexdigest(),
            )
        )
        previous: list[str] = []
        for j, kind in enumerate(CHAIN):
            datastream_id = f"d-{i:05d}-{j}"
            prefix = f"2025/01/01/VIN/{measurement_id}/{datastream_id}"
            store.create_datastream(
                Datastream(
                    id=datastream_id,
                    measurement_id=measurement_id,
                    type=kind,
                    state=DatastreamState.CREATED,
                    zone=Zone.RAW if j == 0 else Zone.CURATED,
                    path=prefix,
                    producer=Producer(step=f"step-{j}", code_version="1", instance_id=f"i-{i}-{j}"),
                    sources=previous,
                )
            )
            store.attach_files(
                datastream_id,
                [
                    FileRecord(path=f"{prefix}/f{k}.parquet", format="parquet", size=k)
                    for k in range(FILES)
                ],
            )
            previous = [datastream_id]
    return store


def _p(samples: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return cuts[49] * 1000, cuts[94] * 1000


def _time(call: Callable[[int], object], runs: int) -> list[float]:
    samples = []
    for i in range(runs):
        start = time.perf_counter()
        call(i)
        samples.append(time.perf_counter() - start)
    return samples


def _get(context: ApiContext, route: str, ids: dict[str, str], params: dict[str, str]) -> bytes:
    response = handle(
        ApiRequest.build(
            method="GET",
            route=route,
            path="/api/" + route,
            route_params=ids,
            params=params,
            headers={"x-functions-key": KEY},
        ),
        context,
        HANDLERS,
    )
    assert response.status == 200, response.body[:300]
    return response.body


def _frames(zones: BlobZones, store: SqliteStore) -> str:
    """A measurement with a SYNCHRONIZED table naming 200 distinct 640x360 JPEG frames."""
    measurement_id = "m-frames"
    store.create_measurement(
        Measurement(
            id=measurement_id,
            vehicle_id="VIN-FRAMES",
            recording_start=T0,
            recording_end=T0 + timedelta(seconds=40),
            upload_prefix="uploads/frames",
            files=[FileRecord(path="drive.mcap", format="mcap", size=1)],
            content_sha256=hashlib.sha256(measurement_id.encode()).hexdigest(),
        )
    )
    rng = np.random.default_rng(3)
    paths = []
    for frame in range(FRAMES):
        image = rng.integers(0, 255, (360, 640, 3), dtype=np.uint8)
        image = cv2.GaussianBlur(image, (15, 15), 0)  # camera-like, compressible
        ok, data = cv2.imencode(".jpg", image)
        assert ok
        path = f"frames/cam/{frame:05d}.jpg"
        zones.write_bytes(Zone.EXTRACTED, path, bytes(data.tobytes()))
        paths.append(path)
    table = pa.table(
        {
            "frame": pa.array(range(FRAMES), pa.int64()),
            "time_ns": pa.array([i * 200_000_000 for i in range(FRAMES)], pa.int64()),
            "reference.path": pa.array(paths),
        }
    )
    sink = io.BytesIO()
    pq.write_table(table, sink)
    zones.write_bytes(Zone.CURATED, "frames/sync/synchronized.parquet", sink.getvalue())
    store.create_datastream(
        Datastream(
            id="d-frames-sync",
            measurement_id=measurement_id,
            type=DatastreamType.SYNCHRONIZED,
            state=DatastreamState.CREATED,
            zone=Zone.CURATED,
            path="frames/sync",
            producer=Producer(step="synchronize", code_version="1"),
            stats={"path": "frames/sync/synchronized.parquet"},
        )
    )
    for state in (DatastreamState.PROCESSING, DatastreamState.COMPLETED):
        etag = store.get_datastream("d-frames-sync").etag or ""
        store.transition_datastream("d-frames-sync", state, expected_etag=etag)
    return measurement_id


def test_explorer_pages_and_thumbnails(tmp_path_factory: pytest.TempPathFactory) -> None:
    workdir = tmp_path_factory.mktemp("bench-explorer")
    began = time.perf_counter()
    store = _build(workdir / "metadata.sqlite3")
    print(f"\nbuilt {MEASUREMENTS} measurements in {time.perf_counter() - began:.0f} s")
    settings = Settings(api_read_keys=[KEY], storage_connection_string=OFFLINE)
    locator = Locator(zone_clients_from_settings(settings), sas_minutes=15)
    context = ApiContext(settings=lambda: settings, store=lambda: store, locator=lambda: locator)
    rows: list[dict[str, object]] = []

    def compare(name: str, page: Callable[[int], object], api: Callable[[int], object]) -> None:
        page(0), api(0)  # warm both paths once
        page_p50, page_p95 = _p(_time(page, RUNS))
        api_p50, api_p95 = _p(_time(api, RUNS))
        rows.append(
            {
                "what": name,
                "page_p50_ms": round(page_p50, 2),
                "page_p95_ms": round(page_p95, 2),
                "reference_p50_ms": round(api_p50, 2),
                "reference_p95_ms": round(api_p95, 2),
                "ratio_p50": round(page_p50 / api_p50, 2),
            }
        )

    def measurement(i: int) -> str:
        return f"m-{(i * 7919) % MEASUREMENTS:05d}"

    compare(
        "catalog (50 rows) vs GET /measurements?limit=50",
        lambda i: _get(context, "explorer", {}, {"limit": "50"}),
        lambda i: _get(context, "measurements", {}, {"limit": "50"}),
    )

    def api_measurement(i: int) -> None:
        detail = json.loads(_get(context, "measurements/{id}", {"id": measurement(i)}, {}))
        for summary in detail["datastreams"]:
            files = json.loads(
                _get(context, "datastreams/{id}/files", {"id": summary["id"]}, {"limit": "25"})
            )
            for record in files["items"]:
                relative = record["path"].split("/", 6)[-1]
                _get(
                    context,
                    "locations",
                    {},
                    {"datastream": summary["id"], "path": relative, "sas": "true"},
                )

    compare(
        "measurement page vs its API calls",
        lambda i: _get(context, "explorer/measurements/{id}", {"id": measurement(i)}, {}),
        api_measurement,
    )
    store_thumbs = []
    with started_azurite(workdir / "azurite") as azurite:
        zones = BlobZones(ConnectionStringZones(azurite.connection_string))
        zones.ensure_containers([Zone.EXTRACTED, Zone.CURATED])
        measurement_id = _frames(zones, store)
        drives = DriveReader(zones, workdir / "tables")
        thumb_context = dataclasses.replace(context, drives=lambda: drives)

        def thumbnail(i: int) -> None:
            _get(
                thumb_context,
                "drives/{id}/frames/{frame}/image",
                {"id": measurement_id, "frame": str(i % FRAMES)},
                {"width": "240"},
            )

        def blob(i: int) -> None:
            zones.read_bytes(Zone.EXTRACTED, f"frames/cam/{i % FRAMES:05d}.jpg", max_bytes=1 << 24)

        blob(0)
        thumb_times = _time(thumbnail, FRAMES)  # every frame once: never a cache hit
        blob_times = _time(blob, FRAMES)
        thumb_p50, thumb_p95 = _p(thumb_times)
        blob_p50, blob_p95 = _p(blob_times)
        store_thumbs.append(
            {
                "what": "thumbnail 240 px of a 640x360 JPEG (uncached) vs reading the blob",
                "page_p50_ms": round(thumb_p50, 2),
                "page_p95_ms": round(thumb_p95, 2),
                "reference_p50_ms": round(blob_p50, 2),
                "reference_p95_ms": round(blob_p95, 2),
            }
        )
        zones.close()
    store.close()
    rows.extend(store_thumbs)
    print(f"\n{'what':<70} {'p50':>8} {'p95':>8} {'ref p50':>8} {'ref p95':>8}  (ms)")
    for row in rows:
        print(
            f"{row['what']:<70} {row['page_p50_ms']:8.2f} {row['page_p95_ms']:8.2f} "
            f"{row['reference_p50_ms']:8.2f} {row['reference_p95_ms']:8.2f}"
        )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "bench_explorer.json").write_text(
        json.dumps({"benchmark": "explorer", "measurements": MEASUREMENTS, "rows": rows}, indent=2)
        + "\n"
    )
