"""Label import on Azurite + SQLite: a synthetic export, then valid and invalid uploads.

The export is made here, per the contract (LABEL_EXPORT datastreams in the store, package.json
in the export's share container), not by the export code.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from dataops.errors import InvalidInputError, NotFoundError
from dataops.frames.delta import download_delta_table
from dataops.labeling.importing.events import LabelUpload, labeled_datastream_id
from dataops.labeling.importing.status import list_label_imports
from dataops.labeling.importing.steps import fail_label_import, read_report, run_label_import
from dataops.labeling.package import LABELS_SCHEMA, PACKAGE_MANIFEST, PackageManifest
from dataops.models import Datastream, DatastreamState, DatastreamType, Producer
from dataops.paths import Zone
from dataops.storage import BlobZones
from dataops.storage.export_zones import export_container, export_zones
from dataops.store import LineageDirection
from dataops.store.sqlite import SqliteStore
from tests.contract.conftest import make_measurement
from tests.labeling.test_import_validation import (
    COCO_NAME,
    OPENLABEL_NAME,
    coco_document,
    encode,
    make_package,
    openlabel_document,
)

pytestmark = pytest.mark.azurite
MAX_BYTES = 1 << 20


@dataclass
class Export:
    """A synthetic export: its package, store and zones, and how to upload label files."""

    zones: BlobZones
    store: SqliteStore
    package: PackageManifest

    @property
    def export_id(self) -> str:
        return self.package.export_id

    def view(self) -> BlobZones:
        return export_zones(self.zones, self.export_id)

    def upload(self, name: str, data: bytes) -> LabelUpload:
        etag = self.view().write_bytes(Zone.LABELED, name, data, content_type="application/json")
        container = export_container(self.zones.container_name(Zone.LABELED), self.export_id)
        return LabelUpload(export_id=self.export_id, container=container, name=name, etag=etag)

    def run(self, upload: LabelUpload, *, max_bytes: int = MAX_BYTES) -> dict[str, Any]:
        return run_label_import(
            self.zones,
            self.store,
            upload,
            max_bytes=max_bytes,
            instance_id=upload.instance_id,
        )

    def labeled(self) -> list[Datastream]:
        return [
            d
            for m in ("m-1", "m-2")
            for d in self.store.list_datastreams(m, DatastreamType.LABELED)
        ]


def make_export(zones: BlobZones, store: SqliteStore) -> Export:
    """Measurements m-1, m-2, a LABEL_EXPORT datastream each, package.json in share."""
    export_id = uuid.uuid4().hex
    for measurement_id in ("m-1", "m-2"):
        store.create_measurement(make_measurement(measurement_id))
        store.create_datastream(
            Datastream(
                id=f"ds-export-{measurement_id}",
                measurement_id=measurement_id,
                type=DatastreamType.LABEL_EXPORT,
                state=DatastreamState.COMPLETED,
                zone=Zone.SHARE,
                path=export_id,
                producer=Producer(step="label_export", code_version="test"),
                sources=[],
            )
        )
    package = make_package(export_id=export_id)
    view = export_zones(zones, export_id)
    view.ensure_containers([Zone.SHARE, Zone.LABELED])
    view.write_json(Zone.SHARE, PACKAGE_MANIFEST, package.model_dump(mode="json"))
    return Export(zones, store, package)


@pytest.fixture
def export(zones: BlobZones, tmp_path: Path) -> Iterator[Export]:
    store = SqliteStore(tmp_path / "metadata.sqlite3")
    try:
        yield make_export(zones, store)
    finally:
        store.close()


def test_valid_coco_registers_a_labeled_datastream_per_measurement(
    export: Export, tmp_path: Path
) -> None:
    data = encode(coco_document())
    upload = export.upload(COCO_NAME, data)
    result = export.run(upload)
    assert result["status"] == "accepted"
    ids = [labeled_datastream_id(upload, m) for m in ("m-1", "m-2")]
    assert result["datastream_ids"] == ids

    first = export.store.get_datastream(ids[0])
    assert first.type is DatastreamType.LABELED
    assert first.state is DatastreamState.COMPLETED
    assert first.zone is Zone.CURATED
    assert first.sources == ["ds-export-m-1"]
    assert first.producer.step == "label_import"
    assert first.producer.instance_id == upload.instance_id
    assert first.stats["export_id"] == export.export_id
    assert first.stats["label_file"] == COCO_NAME
    assert first.stats["format"] == "coco"
    assert first.stats["counts"] == {"items": 1, "labels": 2, "boxes": 2}
    assert first.stats["categories"] == {"car": 1, "pedestrian": 1}

    # Lineage: label -> LABEL_EXPORT (and on to the frames through the export's own sources).
    graph = export.store.lineage(ids[0], LineageDirection.UP)
    assert set(graph.nodes) == {ids[0], "ds-export-m-1"}

    table = download_delta_table(
        export.zones, Zone.CURATED, first.stats["labels_table"], tmp_path / "cache"
    ).to_pyarrow_table()
    assert table.schema == LABELS_SCHEMA
    rows = sorted(table.to_pylist(), key=lambda r: r["label_id"])
    assert [(r["label_id"], r["category"], r["item_id"]) for r in rows] == [
        ("1", "pedestrian", 1),
        ("2", "car", 1),
    ]
    assert rows[0]["bbox_x"] == 100 and rows[0]["bbox_h"] == 40
    assert rows[0]["labeled_datastream_id"] == ids[0]
    assert rows[0]["frames_datastream_id"] == "ds-scenes-m-1"
    assert rows[0]["time_ns"] == export.package.items[0].time_ns
    assert json.loads(rows[0]["attributes_json"]) == {"iscrowd": 0}

    [copy] = export.store.list_files(ids[0]).items
    assert copy.path.startswith(first.path + "/") and copy.format == "coco"
    assert export.zones.read_bytes(Zone.CURATED, copy.path, max_bytes=MAX_BYTES).data == data

    report = read_report(export.zones, export.export_id, COCO_NAME)
    assert report is not None and report.status == "accepted"
    assert report.datastream_ids == ids and report.errors == []
    assert report.counts["labels"] == 3
    # The partner's file is only read.
    assert export.view().get_info(Zone.LABELED, COCO_NAME).etag == upload.etag


def test_a_retried_run_registers_nothing_twice(export: Export) -> None:
    upload = export.upload(COCO_NAME, encode(coco_document()))
    first = export.run(upload)
    second = export.run(upload)
    assert second == first
    assert len(export.labeled()) == 2
    assert all(d.file_count == 1 for d in export.labeled())


def test_invalid_labels_get_a_report_and_register_nothing(export: Export) -> None:
    document = coco_document()
    document["annotations"][0]["image_id"] = 99
    document["annotations"][2]["bbox"] = [630, 200, 20, 30]
    upload = export.upload(COCO_NAME, encode(document))
    result = export.run(upload)
    assert result == {
        "status": "rejected",
        "file": COCO_NAME,
        "error_count": 2,
        "datastream_ids": [],
    }
    report = read_report(export.zones, export.export_id, COCO_NAME)
    assert report is not None and report.status == "rejected" and report.etag == upload.etag
    assert report.errors[0] == (
        f"{COCO_NAME}: annotations[0].image_id: image id 99 is not in the export's package"
    )
    assert report.errors[1].startswith(f"{COCO_NAME}: annotations[2].bbox: ")
    # The report sits next to the file, under the name the contract gives it.
    names = {b.path for b in export.view().list_blobs(Zone.LABELED)}
    assert names == {COCO_NAME, "round-1/coco._report.json"}
    assert export.labeled() == []


def test_an_oversized_file_is_rejected_before_it_is_read(export: Export) -> None:
    upload = export.upload(COCO_NAME, encode(coco_document()) + b" " * 2048)
    result = export.run(upload, max_bytes=1024)
    assert result["status"] == "rejected"
    report = read_report(export.zones, export.export_id, COCO_NAME)
    assert report is not None
    assert report.errors[0].startswith(f"{COCO_NAME}: $: ")
    assert "more than the 1024 allowed (AVOPS_LABEL_IMPORT_MAX_BYTES)" in report.errors[0]
    assert export.labeled() == []


def test_an_overwritten_file_is_left_to_its_newer_run(export: Export) -> None:
    old = export.upload(COCO_NAME, b"{}")
    new = export.upload(COCO_NAME, encode(coco_document()))
    assert export.run(old)["status"] == "superseded"
    assert read_report(export.zones, export.export_id, COCO_NAME) is None
    assert export.run(new)["status"] == "accepted"


def test_import_status_lists_each_file_with_the_report_of_its_current_version(
    export: Export,
) -> None:
    accepted = export.upload(COCO_NAME, encode(coco_document()))
    export.run(accepted)
    export.upload("round-2/openlabel.json", b"{}")  # no run yet
    status = list_label_imports(export.zones, export.store, export.export_id)
    assert [(i.file, i.status) for i in status.items] == [
        (COCO_NAME, "accepted"),
        ("round-2/openlabel.json", "pending"),
    ]
    assert status.items[0].datastream_ids == [
        labeled_datastream_id(accepted, m) for m in ("m-1", "m-2")
    ]
    # A rewrite is pending again until its own run reports.
    export.upload(COCO_NAME, encode(coco_document()) + b"\n")
    assert (
        list_label_imports(export.zones, export.store, export.export_id).items[0].status
        == "pending"
    )
    # The partner can write reports too: a forged "accepted" one is not believed.
    pending = export.view().get_info(Zone.LABELED, "round-2/openlabel.json")
    forged = {
        "file": "round-2/openlabel.json",
        "etag": pending.etag,
        "status": "accepted",
        "datastream_ids": [labeled_datastream_id(accepted, "m-1")],
    }
    export.view().write_json(Zone.LABELED, "round-2/openlabel._report.json", forged)
    listed = list_label_imports(export.zones, export.store, export.export_id).items
    assert listed[1].status == "pending" and listed[1].datastream_ids == []
    with pytest.raises(NotFoundError, match="label export"):
        list_label_imports(export.zones, export.store, uuid.uuid4().hex)
    with pytest.raises(InvalidInputError, match="id: an export id is 32 lowercase hex digits"):
        list_label_imports(export.zones, export.store, "not-an-export")


def test_a_failed_run_marks_its_datastreams_failed_and_reports_it(export: Export) -> None:
    upload = export.upload(COCO_NAME, encode(coco_document()))
    # As if the run died after creating the first measurement's datastream.
    half_done = labeled_datastream_id(upload, "m-1")
    created = export.store.create_datastream(
        Datastream(
            id=half_done,
            measurement_id="m-1",
            type=DatastreamType.LABELED,
            zone=Zone.CURATED,
            path=f"2024/05/01/VIN-1/m-1/{half_done}",
            producer=Producer(step="label_import", code_version="test"),
            sources=["ds-export-m-1"],
        )
    )
    assert created.etag is not None
    export.store.transition_datastream(
        half_done, DatastreamState.PROCESSING, expected_etag=created.etag
    )
    result = fail_label_import(
        export.zones,
        export.store,
        upload,
        reason="store unavailable",
        max_bytes=MAX_BYTES,
        instance_id=upload.instance_id,
    )
    assert result["status"] == "failed" and result["datastream_ids"] == [half_done]
    assert export.store.get_datastream(half_done).state is DatastreamState.FAILED
    report = read_report(export.zones, export.export_id, COCO_NAME)
    assert report is not None and report.status == "failed"
    assert report.errors == [f"{COCO_NAME}: $: the import failed, not the file: store unavailable"]


def test_valid_openlabel_registers_the_measurements_of_its_frames(
    export: Export, tmp_path: Path
) -> None:
    upload = export.upload(OPENLABEL_NAME, encode(openlabel_document()))
    result = export.run(upload)
    assert result["status"] == "accepted"
    [datastream_id] = result["datastream_ids"]  # frames 0 and 1 are all of measurement m-1
    datastream = export.store.get_datastream(datastream_id)
    assert datastream.sources == ["ds-export-m-1"]
    assert datastream.stats["format"] == "openlabel"
    assert datastream.stats["counts"] == {"items": 3, "labels": 3, "boxes": 3}
    table = download_delta_table(
        export.zones, Zone.CURATED, datastream.stats["labels_table"], tmp_path / "cache"
    ).to_pyarrow_table()
    boxes = sorted(
        (r["item_id"], r["sensor"], r["category"], r["bbox_x"], r["bbox_y"])
        for r in table.to_pylist()
    )
    assert boxes == [
        (1, "cam_front", "pedestrian", 100.0, 50.0),
        (2, "cam_front", "pedestrian", 110.0, 50.0),
        (3, "cam_left", "car", 270.0, 215.0),
    ]
