"""select_frames on frame index tables in Azurite: search, explicit lists, downsampling, cap."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from dataops.errors import InvalidInputError
from dataops.frames.search import FrameSearch
from dataops.labeling.exporting.request import Downsampling, Selection
from dataops.labeling.exporting.selection import select_frames
from dataops.models import FileRecord, Measurement
from dataops.storage import BlobZones
from dataops.store.sqlite import SqliteStore
from tests.index_tables import FrameRow, publish_scenes

pytestmark = pytest.mark.azurite
START = datetime(2024, 5, 1, tzinfo=UTC)
T0 = int(START.timestamp()) * 1_000_000_000
STEP = 100_000_000  # 10 Hz
CAMERA = "rec/camera/front"


def _measurement(store: SqliteStore, measurement_id: str) -> None:
    store.create_measurement(
        Measurement(
            id=measurement_id,
            vehicle_id="VIN-1",
            recording_start=START,
            recording_end=START + timedelta(minutes=1),
            upload_prefix=f"uploads/{measurement_id}",
            file_count=1,
            total_bytes=1,
            content_sha256=hashlib.sha256(measurement_id.encode()).hexdigest(),
        ),
        [FileRecord(path="drive.mcap", format="mcap", size=1)],
    )


@pytest.fixture
def indexed(zones: BlobZones, tmp_path: Path) -> SqliteStore:
    """Two measurements, 10 frames each; frames 2..7 of each have a pedestrian."""
    store = SqliteStore(tmp_path / "metadata.sqlite3")
    for measurement_id in ("m-1", "m-2"):
        _measurement(store, measurement_id)
        publish_scenes(
            store,
            zones,
            datastream_id=f"scenes-{measurement_id}",
            vehicle_id="VIN-1",
            measurement_id=measurement_id,
            scenes=[],
            frames=[
                FrameRow(
                    time_ns=T0 + index * STEP,
                    objects=["pedestrian"] if 2 <= index <= 7 else [],
                    paths={CAMERA: f"{measurement_id}/front/{index}.jpg"},
                )
                for index in range(10)
            ],
        )
    return store


def _select(
    zones: BlobZones,
    store: SqliteStore,
    tmp_path: Path,
    selection: dict[str, object],
    rule: Downsampling,
    *,
    max_frames: int = 100,
) -> list[tuple[str, int]]:
    frames = select_frames(
        zones,
        store,
        FrameSearch(zones, tmp_path / "cache"),
        Selection.model_validate(selection),
        rule,
        max_frames=max_frames,
        cache_dir=tmp_path / "cache",
    )
    return [(f.measurement_id, (f.time_ns - T0) // STEP) for f in frames]


def test_search_then_every_nth_per_measurement(
    zones: BlobZones, indexed: SqliteStore, tmp_path: Path
) -> None:
    kept = _select(
        zones, indexed, tmp_path, {"frames": {"object": "pedestrian"}}, Downsampling(every_nth=2)
    )
    assert kept == [("m-1", 2), ("m-1", 4), ("m-1", 6), ("m-2", 2), ("m-2", 4), ("m-2", 6)]


def test_selected_frames_carry_their_paths_and_frame_numbers(
    zones: BlobZones, indexed: SqliteStore, tmp_path: Path
) -> None:
    (frame,) = select_frames(
        zones,
        indexed,
        FrameSearch(zones, tmp_path / "cache"),
        Selection.model_validate({"frames": [{"measurement_id": "m-2", "time_ns": T0 + 3 * STEP}]}),
        Downsampling(),
        max_frames=10,
        cache_dir=tmp_path / "cache",
    )
    assert (frame.frame, frame.frames_datastream_id, frame.vehicle_id) == (3, "scenes-m-2", "VIN-1")
    assert frame.paths == {CAMERA: "m-2/front/3.jpg"}


def test_explicit_frames_with_min_interval(
    zones: BlobZones, indexed: SqliteStore, tmp_path: Path
) -> None:
    refs = [{"measurement_id": "m-1", "time_ns": T0 + i * STEP} for i in (5, 0, 1, 3)]
    kept = _select(zones, indexed, tmp_path, {"frames": refs}, Downsampling(min_interval_ms=150))
    assert kept == [("m-1", 0), ("m-1", 3), ("m-1", 5)]


def test_an_unknown_explicit_frame_names_its_position(
    zones: BlobZones, indexed: SqliteStore, tmp_path: Path
) -> None:
    refs = [
        {"measurement_id": "m-1", "time_ns": T0},
        {"measurement_id": "m-1", "time_ns": T0 + 1},
    ]
    with pytest.raises(InvalidInputError) as caught:
        _select(zones, indexed, tmp_path, {"frames": refs}, Downsampling())
    assert caught.value.field == "selection.frames[1]"
    refs = [{"measurement_id": "m-9", "time_ns": T0}]
    with pytest.raises(InvalidInputError) as caught:
        _select(zones, indexed, tmp_path, {"frames": refs}, Downsampling())
    assert caught.value.field == "selection.frames[0]"


def test_more_frames_than_the_cap_is_refused(
    zones: BlobZones, indexed: SqliteStore, tmp_path: Path
) -> None:
    with pytest.raises(InvalidInputError) as caught:
        _select(
            zones,
            indexed,
            tmp_path,
            {"frames": {"object": "pedestrian"}},
            Downsampling(),
            max_frames=11,
        )
    assert caught.value.field == "selection"
    # The same selection fits once downsampled.
    kept = _select(
        zones,
        indexed,
        tmp_path,
        {"frames": {"object": "pedestrian"}},
        Downsampling(every_nth=2),
        max_frames=11,
    )
    assert len(kept) == 6
