"""Copy and finish on Azurite from a hand-made plan: byte-identical items, no duplicates on rerun.

The plan is written directly, so the plan step only registers the datastreams (it never
re-plans an export whose ``_plan.json`` exists); selection is covered by the devhost test.
"""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dataops.errors import InvalidInputError, NotFoundError
from dataops.frames.search import FrameSearch
from dataops.labeling.exporting.plan import PreLabel
from dataops.labeling.exporting.request import PLAN_BLOB, ExportRecord, LabelExportRequest
from dataops.labeling.exporting.steps import (
    copy_items,
    fail_export,
    finish_export,
    package_complete,
    plan_export,
    start_export,
)
from dataops.labeling.package import PackageManifest
from dataops.models import DatastreamState, DatastreamType
from dataops.paths import Zone
from dataops.storage import BlobZones
from dataops.storage.export_zones import export_container_client, export_zones
from dataops.store.sqlite import SqliteStore
from tests.contract.conftest import make_measurement
from tests.labeling.plans import EXPORT_ID, make_plan, plan_item

pytestmark = pytest.mark.azurite
FILE_FRAME = "x/rec/camera/cam_front/00000000_1.jpg"
PART = "x/rec/camera/cam_rear/frames/part-00000.parquet"
FRAMES = [b"\xff\xd8rear-0", b"\xff\xd8rear-1", b"\xff\xd8rear-2"]


@pytest.fixture
def store(tmp_path: Path) -> SqliteStore:
    opened = SqliteStore(tmp_path / "metadata.sqlite3")
    opened.create_measurement(make_measurement("m-1"))
    return opened


def _part_bytes() -> bytes:
    table = pa.table(
        {
            "time_ns": pa.array([1, 2, 3], pa.int64()),
            "data": pa.array(FRAMES, pa.large_binary()),
        }
    )
    sink = io.BytesIO()
    pq.write_table(table, sink, row_group_size=1)  # the copy must find the right row group
    return sink.getvalue()


def _names(zones: BlobZones) -> list[str]:
    container = export_container_client(zones, Zone.SHARE, EXPORT_ID)
    return sorted(blob.name for blob in container.list_blobs())


def _request(selection: dict[str, Any], **options: Any) -> LabelExportRequest:
    """An export of camera ``cam`` for partner ``acme``."""
    return LabelExportRequest.model_validate(
        {"selection": selection, "sensors": ["cam"], "partner_id": "acme", **options}
    )


def _start(
    zones: BlobZones, request: LabelExportRequest, instance_id: str, now: datetime
) -> ExportRecord:
    """``start_export`` of ``EXPORT_ID`` with the default and maximum expiry of a week."""
    return start_export(
        zones,
        request,
        export_id=EXPORT_ID,
        instance_id=instance_id,
        now=now,
        default_hours=168,
        max_hours=168,
    )


def test_items_copy_byte_identical_and_reruns_add_nothing(
    zones: BlobZones, store: SqliteStore, tmp_path: Path
) -> None:
    request = _request({"scene_type": "pedestrian_in_view"})
    record = _start(zones, request, "label_export-1", datetime.now(UTC))
    # A retried start keeps the first record.
    again = _start(zones, request, "label_export-1", datetime.now(UTC) + timedelta(hours=1))
    assert again == record
    zones.write_bytes(Zone.EXTRACTED, FILE_FRAME, b"\xff\xd8front")
    zones.write_bytes(Zone.EXTRACTED, PART, _part_bytes())
    box = PreLabel(category="pedestrian", bbox=[1.0, 2.0, 3.0, 4.0], score=0.5)
    plan = make_plan(
        [
            plan_item(1, frame=0, source_path=FILE_FRAME, prelabels=[box]),
            plan_item(2, frame=0, sensor="cam_rear", source_path=PART, part_row=2),
            plan_item(3, frame=1, sensor="cam_rear", source_path=PART, part_row=0),
        ]
    )
    export_zones(zones, EXPORT_ID).write_bytes(
        Zone.SHARE, PLAN_BLOB, plan.model_dump_json().encode()
    )
    search = FrameSearch(zones, tmp_path / "cache")
    arguments = {
        "export_id": EXPORT_ID,
        "instance_id": "label_export-1",
        "max_items": 10,
        "detections_sensor": "*/structured/*detections*",
        "cache_dir": tmp_path / "cache",
    }
    planned = plan_export(zones, store, search, **arguments)  # type: ignore[arg-type]
    assert planned == {"export_id": EXPORT_ID, "items": 3, "frames": 2, "measurements": 1}
    plan_export(zones, store, search, **arguments)  # type: ignore[arg-type]
    (datastream,) = store.list_datastreams("m-1", DatastreamType.LABEL_EXPORT)
    assert datastream.state is DatastreamState.PROCESSING
    assert datastream.sources == ["ds-scenes"]

    assert copy_items(zones, export_id=EXPORT_ID, first=0, last=2)["copied"] == 2
    assert copy_items(zones, export_id=EXPORT_ID, first=2, last=3)["copied"] == 1
    before = _names(zones)
    copy_items(zones, export_id=EXPORT_ID, first=0, last=3)  # a retried chunk
    assert _names(zones) == before
    view = export_zones(zones, EXPORT_ID)

    def read(name: str) -> bytes:
        return view.read_bytes(Zone.SHARE, name, max_bytes=1 << 20).data

    assert read("images/cam_front/1.jpg") == b"\xff\xd8front"
    assert read("images/cam_rear/2.jpg") == FRAMES[2]
    assert read("images/cam_rear/3.jpg") == FRAMES[0]

    result = finish_export(zones, store, export_id=EXPORT_ID)
    assert result["items"] == 3
    assert package_complete(zones, EXPORT_ID)
    first_manifest = read("package.json")
    finish_export(zones, store, export_id=EXPORT_ID)  # a retried finish
    manifest = PackageManifest.model_validate_json(read("package.json"))
    assert read("package.json") == first_manifest
    assert [item.item_id for item in manifest.items] == [1, 2, 3]
    assert "part_row" not in json.loads(first_manifest)["items"][0]  # plan-only fields stay out
    assert len(json.loads(read("coco.json"))["annotations"]) == 1
    assert _names(zones) == sorted([*before, "coco.json", "openlabel.json", "package.json"])
    (datastream,) = store.list_datastreams("m-1", DatastreamType.LABEL_EXPORT)
    assert datastream.state is DatastreamState.COMPLETED
    assert datastream.stats["items"] == 3
    assert datastream.stats["prelabels"] == 1
    assert datastream.stats["expires_at"] == record.expires_at.isoformat()
    # A late fail (e.g. a replayed failure path) leaves a COMPLETED export alone.
    fail_export(zones, store, export_id=EXPORT_ID, reason="late")
    assert store.get_datastream(datastream.id).state is DatastreamState.COMPLETED
    store.close()


def test_expiry_above_the_cap_is_refused_naming_the_field(zones: BlobZones) -> None:
    request = _request({"scene_type": "stop"}, expires_in_hours=200)
    with pytest.raises(InvalidInputError) as caught:
        _start(zones, request, "i", datetime.now(UTC))
    assert caught.value.field == "expires_in_hours"
    assert _names_or_none(zones) is None  # nothing was created


def _names_or_none(zones: BlobZones) -> list[str] | None:
    container = export_container_client(zones, Zone.SHARE, EXPORT_ID)
    return sorted(b.name for b in container.list_blobs()) if container.exists() else None


def test_a_failed_export_marks_its_datastreams_failed_with_the_reason(
    zones: BlobZones, store: SqliteStore, tmp_path: Path
) -> None:
    # Before any plan there is nothing to mark.
    assert fail_export(zones, store, export_id=EXPORT_ID, reason="x")["datastream_ids"] == []
    export_zones(zones, EXPORT_ID).ensure_containers([Zone.SHARE])
    plan = make_plan([plan_item(1, frame=0, source_path=FILE_FRAME)])
    export_zones(zones, EXPORT_ID).write_bytes(
        Zone.SHARE, PLAN_BLOB, plan.model_dump_json().encode()
    )
    plan_export(
        zones,
        store,
        FrameSearch(zones, tmp_path / "cache"),
        export_id=EXPORT_ID,
        instance_id="label_export-2",
        max_items=10,
        detections_sensor="*/structured/*detections*",
        cache_dir=tmp_path / "cache",
    )
    # The source frame is missing: the copy fails, then the orchestrator calls fail.
    with pytest.raises(NotFoundError):
        copy_items(zones, export_id=EXPORT_ID, first=0, last=1)
    result = fail_export(zones, store, export_id=EXPORT_ID, reason="source gone")
    (datastream,) = store.list_datastreams("m-1", DatastreamType.LABEL_EXPORT)
    assert result["datastream_ids"] == [datastream.id]
    assert datastream.state is DatastreamState.FAILED
    assert datastream.state_reason == "source gone"
    store.close()
