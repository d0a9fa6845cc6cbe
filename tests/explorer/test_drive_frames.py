"""The drive view's frames route in pages, and thumbnails that cost one blob read.

Through the API's dispatch (``handle``) on a SQLite store and a storage account of the test's
own on the session's Azurite: a drive of 25 reference frames whose SYNCHRONIZED table is not in
time order and has two frames at one time, and an ENRICHED table with a box on one frame.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pyarrow as pa
import pytest
from azure.core.pipeline.transport import RequestsTransport

from dataops.api import HANDLERS, ApiContext, ApiRequest, ApiResponse, Locator, handle
from dataops.explorer.drive import DriveReader
from dataops.models import (
    Datastream,
    DatastreamState,
    DatastreamType,
    FileRecord,
    Producer,
)
from dataops.paths import Zone
from dataops.settings import Settings
from dataops.storage import BlobZones, ConnectionStringZones, zone_clients_from_settings
from dataops.store.continuation import encode_token, fingerprint
from dataops.store.sqlite import SqliteStore
from tests.drive_frames import add_completed, parquet_bytes, seed_frames_drive

KEY = "frames-read-key"
T0 = datetime(2025, 3, 1, tzinfo=UTC)
T0_NS = int(T0.timestamp()) * 1_000_000_000
STEP_NS = 100_000_000
FRAMES = 25
BOXED = 17  # the frame with a detection box


@dataclass(frozen=True)
class Drive:
    context: ApiContext
    measurement_id: str
    order: list[tuple[int, int]]
    """(time_ns, frame) of every frame in the order the route must return them."""


def _time_of(frame: int) -> int:
    # Frames 10 and 11 share a time: the page order breaks the tie by frame number.
    return T0_NS + (frame - (1 if frame >= 11 else 0)) * STEP_NS


def _image(frame: int) -> bytes:
    image = np.zeros((90, 160, 3), dtype=np.uint8)
    image[:, :80] = (0, 0, 255)
    return bytes(cv2.imencode(".jpg", image)[1].tobytes())


def _seed(store: SqliteStore, zones: BlobZones) -> str:
    measurement_id = "m-paged"
    shuffled = list(range(FRAMES))[::-1]  # written newest first: the route sorts
    seed_frames_drive(
        store,
        zones,
        measurement_id=measurement_id,
        start=T0,
        rows=[(frame, _time_of(frame)) for frame in shuffled],
        image=_image,
    )
    box = {"class": "pedestrian", "score": 0.9, "x_min": 1.0, "y_min": 2.0}
    objects = pa.array([[{**box, "x_max": 30.0, "y_max": 40.0}]])
    enriched = pa.table({"time_ns": pa.array([_time_of(BOXED)], pa.int64()), "objects": objects})
    zones.write_bytes(Zone.CURATED, "paged/enriched/enriched.parquet", parquet_bytes(enriched))
    add_completed(
        store,
        Datastream(
            id="d-paged-enriched",
            measurement_id=measurement_id,
            type=DatastreamType.ENRICHED,
            state=DatastreamState.CREATED,
            zone=Zone.CURATED,
            path="paged/enriched",
            producer=Producer(step="enrich", code_version="1"),
        ),
    )
    store.attach_files(
        "d-paged-enriched",
        [FileRecord(path="paged/enriched/enriched.parquet", format="parquet", size=1)],
    )
    return measurement_id


@pytest.fixture
def drive(storage_account: str, tmp_path: Path) -> Iterator[Drive]:
    zones = BlobZones(ConnectionStringZones(storage_account))
    zones.ensure_containers([Zone.EXTRACTED, Zone.CURATED])
    store = SqliteStore(tmp_path / "metadata.sqlite3")
    settings = Settings(api_read_keys=[KEY], storage_connection_string="UseDevelopmentStorage=true")
    locator = Locator(zone_clients_from_settings(settings), sas_minutes=15)
    drives = DriveReader(zones, tmp_path / "tables")
    context = ApiContext(
        settings=lambda: settings,
        store=lambda: store,
        locator=lambda: locator,
        drives=lambda: drives,
    )
    try:
        measurement_id = _seed(store, zones)
        order = sorted((_time_of(frame), frame) for frame in range(FRAMES))
        yield Drive(context, measurement_id, order)
    finally:
        store.close()
        zones.close()


def _get(drive: Drive, route: str, ids: dict[str, str], **params: str) -> ApiResponse:
    return handle(
        ApiRequest.build(
            method="GET",
            route=route,
            path="/api/" + route,
            route_params={"id": drive.measurement_id, **ids},
            params=params,
            headers={"x-functions-key": KEY},
        ),
        drive.context,
        HANDLERS,
    )


def _frames(drive: Drive, **params: str) -> dict[str, Any]:
    answer = _get(drive, "drives/{id}/frames", {}, **params)
    assert answer.status == 200, answer.body[:300]
    body: dict[str, Any] = answer.json()
    return body


def test_pages_walk_every_frame_once_in_time_then_frame_order(drive: Drive) -> None:
    """Pages of 10 then 10 then 5; together every frame once, ties by frame number."""
    seen: list[tuple[int, int]] = []
    sizes = []
    token = None
    while True:
        page = _frames(drive, limit="10", **({"continuation": token} if token else {}))
        sizes.append(len(page["items"]))
        seen.extend((item["time_ns"], item["frame"]) for item in page["items"])
        token = page["continuation"]
        if token is None:
            break
    assert sizes == [10, 10, 5]
    assert seen == drive.order
    assert seen[10:12] == [(_time_of(10), 10), (_time_of(11), 11)]  # the tie, across a page end


def test_a_page_from_a_time_starts_at_the_first_frame_not_before_it(drive: Drive) -> None:
    """from_ns opens the page at the cursor's frame, with that page's boxes; paging on works."""
    page = _frames(drive, limit="5", from_ns=str(_time_of(15)))
    assert [item["frame"] for item in page["items"]] == [15, 16, 17, 18, 19]
    boxes = {item["frame"]: item["boxes"] for item in page["items"]}
    assert [box["category"] for box in boxes[BOXED]] == ["pedestrian"]
    assert all(not boxes[frame] for frame in boxes if frame != BOXED)
    rest = _frames(drive, limit="5", from_ns=str(_time_of(15)), continuation=page["continuation"])
    assert [item["frame"] for item in rest["items"]] == [20, 21, 22, 23, 24]
    assert rest["continuation"] is None
    between = _frames(drive, limit="1", from_ns=str(_time_of(15) - 1))
    assert [item["frame"] for item in between["items"]] == [15]
    assert _frames(drive, from_ns=str(_time_of(FRAMES) + 1))["items"] == []


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"continuation": "bm90LWEtdG9rZW4"}, "continuation"),  # base64 of "not-a-token"
        ({"continuation": "x"}, "continuation"),
        ({"limit": "0"}, "limit"),
        ({"limit": "100000"}, "limit"),
        ({"from_ns": "-1"}, "from_ns"),
        ({"from_ns": "soon"}, "from_ns"),
        ({"from_ns": str(2**63)}, "from_ns"),  # beyond the tables' int64 times
    ],
)
def test_bad_paging_parameters_are_400_naming_the_parameter(
    drive: Drive, params: dict[str, str], parameter: str
) -> None:
    """A garbled token, a page size outside 1-2000 or a bad start time: 400 naming it."""
    answer = _get(drive, "drives/{id}/frames", {}, **params)
    assert answer.status == 400, answer.body[:300]
    assert answer.json()["parameter"] == parameter


def test_a_token_of_another_start_or_a_forged_position_is_400(drive: Drive) -> None:
    """A token only continues the listing it came from; a hand-made key that is no key is 400."""
    page = _frames(drive, limit="5")
    foreign = _get(
        drive,
        "drives/{id}/frames",
        {},
        continuation=page["continuation"],
        from_ns=str(_time_of(3)),
    )
    assert foreign.status == 400
    assert foreign.json()["parameter"] == "continuation"
    forged = encode_token("drive-frames", fingerprint(drive.measurement_id, None), ["x", "1"])
    answer = _get(drive, "drives/{id}/frames", {}, continuation=forged)
    assert answer.status == 400
    assert answer.json()["parameter"] == "continuation"


def test_a_thumbnail_costs_one_blob_request_once_the_table_is_read(
    drive: Drive, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The synchronized table is cached and not revalidated per request; the frame is one GET."""
    first = _get(drive, "drives/{id}/frames/{frame}/image", {"frame": "3"}, width="80")
    assert first.status == 200
    requests: list[str] = []
    original = RequestsTransport.send

    def record(self: RequestsTransport, request: Any, **kwargs: Any) -> Any:
        requests.append(f"{request.method} {request.url.split('?')[0].rsplit('/', 1)[-1]}")
        return original(self, request, **kwargs)

    monkeypatch.setattr(RequestsTransport, "send", record)
    thumb = _get(drive, "drives/{id}/frames/{frame}/image", {"frame": "4"}, width="80")
    assert thumb.status == 200 and thumb.media_type == "image/jpeg"
    image = cv2.imdecode(np.frombuffer(thumb.body, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None and image.shape[:2] == (45, 80)
    assert requests == ["GET 00004.jpg"]
    missing = _get(drive, "drives/{id}/frames/{frame}/image", {"frame": "99"}, width="80")
    assert missing.status == 404
    assert "no frame 99" in missing.json()["detail"]


def test_a_rewritten_table_is_read_again_once_its_check_is_due(
    drive: Drive, storage_account: str, tmp_path: Path
) -> None:
    """Past the revalidation time the table's etag is asked again: a new table is served."""
    zones = BlobZones(ConnectionStringZones(storage_account))
    eager = DriveReader(zones, tmp_path / "eager", revalidate_s=0.0)
    store = drive.context.store()
    assert len(eager.frames(store, drive.measurement_id).items) == FRAMES
    fewer = pa.table(
        {
            "frame": pa.array([0, 1], pa.int64()),
            "time_ns": pa.array([_time_of(0), _time_of(1)], pa.int64()),
            "reference.path": pa.array(["m-paged/cam/00000.jpg", "m-paged/cam/00001.jpg"]),
        }
    )
    zones.write_bytes(Zone.CURATED, "m-paged/sync/synchronized.parquet", parquet_bytes(fewer))
    assert [f.frame for f in eager.frames(store, drive.measurement_id).items] == [0, 1]
    zones.close()


def test_a_synchronized_table_without_times_is_404_naming_the_file_and_column(
    drive: Drive, storage_account: str, tmp_path: Path
) -> None:
    """A table the synchronize step did not write (no time_ns) is no frames, said plainly."""
    zones = BlobZones(ConnectionStringZones(storage_account))
    broken = pa.table({"frame": pa.array([0], pa.int64())})
    zones.write_bytes(Zone.CURATED, "m-paged/sync/synchronized.parquet", parquet_bytes(broken))
    reader = DriveReader(zones, tmp_path / "tables", revalidate_s=0.0)
    fresh = dataclasses.replace(
        drive, context=dataclasses.replace(drive.context, drives=lambda: reader)
    )
    routes = [("drives/{id}/frames", {}), ("drives/{id}/frames/{frame}/image", {"frame": "0"})]
    for route, ids in routes:
        answer = _get(fresh, route, ids)
        assert answer.status == 404
        assert answer.json()["detail"] == (
            "curated/m-paged/sync/synchronized.parquet: the synchronized table of m-paged "
            "has no time_ns column"
        )
    zones.close()
