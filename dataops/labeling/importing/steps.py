"""The work of a ``label_import`` run: check one label file, then reject it or register it.

Rejected: ``<name>._report.json`` next to the file with every error; nothing registered.
Accepted: per measurement a LABELED datastream in the curated zone (sources: the measurement's
LABEL_EXPORT datastream), whose labels are a Delta table (``LABELS_SCHEMA``, prefix in
``stats["labels_table"]``) plus a copy of the partner's file; then the report, with the ids.

Idempotent (activities run at least once): datastream ids are derived from (export, file,
etag, measurement), tables and copies are overwritten whole, state changes are made only from
the state they leave, and the report is written last. The partner's blob is only ever read.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
from pydantic import ValidationError

from dataops.derived import DerivedStep, StepOutput
from dataops.errors import InvalidInputError, NotFoundError
from dataops.frames.delta import upload_delta_table
from dataops.labeling.importing.events import LabelUpload, labeled_datastream_id
from dataops.labeling.importing.labels import CheckedLabels, check_label_file
from dataops.labeling.package import (
    LABELS_SCHEMA,
    PACKAGE_MANIFEST,
    PackageManifest,
    report_path_for,
)
from dataops.labeling.report import ImportReport, ImportStatus, LabelFormat, LabelIssues
from dataops.labeling.validation.common import Label, PackageIndex
from dataops.models import (
    Datastream,
    DatastreamState,
    DatastreamType,
    FileRecord,
)
from dataops.paths import Zone, join_path
from dataops.storage import BlobZones
from dataops.storage.export_zones import export_zones
from dataops.store import MetadataStore
from dataops.store.transitions import advance_datastream

__all__ = [
    "LABELS_TABLE",
    "STEP",
    "fail_label_import",
    "read_report",
    "run_label_import",
]

log = logging.getLogger("avops.labeling.import")

STEP = "label_import"
# Sources: the measurement's LABEL_EXPORT datastream(s) the file's items came from.
LABEL_IMPORT = DerivedStep(step=STEP, output_type=DatastreamType.LABELED, sources=(1, None))
LABELS_TABLE = "labels"
SOURCE_FOLDER = "source"
_REPORT_MAX_BYTES = 4 * 1024 * 1024


def _same_etag(a: str, b: str) -> bool:
    # Event Grid sends the bare value, the blob SDK the quoted HTTP form.
    return a.strip('"') == b.strip('"')


def run_label_import(
    zones: BlobZones,
    store: MetadataStore,
    upload: LabelUpload,
    *,
    max_bytes: int,
    instance_id: str,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Check the file and write its report (and its LABELED datastreams when it is valid)."""
    now = now or datetime.now(UTC)
    view = export_zones(zones, upload.export_id)
    try:
        info = view.get_info(Zone.LABELED, upload.name)
    except NotFoundError:
        return {"status": "gone", "file": upload.name}
    if not _same_etag(info.etag, upload.etag):
        # A newer version has its own event and run; this one has nothing left to judge.
        return {"status": "superseded", "file": upload.name}
    issues = LabelIssues(upload.name)
    if info.size > max_bytes:
        issues.add(
            "$",
            f"{info.size} bytes, more than the {max_bytes} allowed (AVOPS_LABEL_IMPORT_MAX_BYTES)",
        )
        return _finish(view, issues.rejected(etag=upload.etag, label_format=None, now=now))
    blob = view.read_bytes(Zone.LABELED, upload.name, max_bytes=max_bytes)
    if not _same_etag(blob.etag, upload.etag):
        return {"status": "superseded", "file": upload.name}
    package = _read_package(view, upload.export_id, max_bytes)
    checked = check_label_file(upload.name, blob.data, PackageIndex(package))
    if not checked.ok:
        report = checked.issues.rejected(etag=upload.etag, label_format=checked.format, now=now)
        return _finish(view, report)
    ids = _register(view, store, upload, checked, blob.data, instance_id=instance_id)
    categories = Counter(label.category for label in checked.labels)
    report = ImportReport(
        file=upload.name,
        etag=upload.etag,
        status=ImportStatus.ACCEPTED,
        format=checked.format,
        datastream_ids=ids,
        counts={
            "items": len(checked.covered),
            "labels": len(checked.labels),
            "boxes": sum(1 for label in checked.labels if label.bbox is not None),
            "measurements": len(ids),
        },
        categories=dict(sorted(categories.items())),
        instance_id=instance_id,
        checked_at=now,
    )
    return _finish(view, report)


def fail_label_import(
    zones: BlobZones,
    store: MetadataStore,
    upload: LabelUpload,
    *,
    reason: str,
    max_bytes: int,
    instance_id: str,
    now: datetime | None = None,
) -> dict[str, Any]:
    """After an unexpected failure: LABELED datastreams of this run FAILED, report ``failed``."""
    view = export_zones(zones, upload.export_id)
    failed: list[str] = []
    for datastream in _datastreams_of_run(store, view, upload, max_bytes):
        if datastream.state in (DatastreamState.CREATED, DatastreamState.PROCESSING):
            marked = advance_datastream(
                store,
                datastream.id,
                DatastreamState.FAILED,
                when={DatastreamState.CREATED, DatastreamState.PROCESSING},
                reason=reason,
            )
            if marked.state is DatastreamState.FAILED:
                failed.append(datastream.id)
    report = ImportReport(
        file=upload.name,
        etag=upload.etag,
        status=ImportStatus.FAILED,
        errors=[f"{upload.name}: $: the import failed, not the file: {reason}"],
        error_count=1,
        datastream_ids=failed,
        instance_id=instance_id,
        checked_at=now or datetime.now(UTC),
    )
    return _finish(view, report)


def read_report(zones: BlobZones, export_id: str, name: str) -> ImportReport | None:
    """The report written for label file ``name`` of an export, None if there is none (yet)."""
    view = export_zones(zones, export_id)
    try:
        document, _ = view.read_json(
            Zone.LABELED, report_path_for(name), max_bytes=_REPORT_MAX_BYTES
        )
    except NotFoundError:
        return None
    try:
        return ImportReport.model_validate(document)
    except ValidationError as err:
        # The partner can write into this container too: a report that is not ours is no report.
        log.warning("export %s: unreadable report for %s: %s", export_id, name, err)
        return None


# ----------------------------------------------------------------------------- internals


def _finish(view: BlobZones, report: ImportReport) -> dict[str, Any]:
    view.write_json(Zone.LABELED, report_path_for(report.file), report.model_dump(mode="json"))
    log.info("label file %s: %s (%d errors)", report.file, report.status, report.error_count)
    return {
        "status": report.status.value,
        "file": report.file,
        "error_count": report.error_count,
        "datastream_ids": report.datastream_ids,
    }


def _read_package(view: BlobZones, export_id: str, max_bytes: int) -> PackageManifest:
    where = f"share/{export_id}/{PACKAGE_MANIFEST}"
    document, _ = view.read_json(Zone.SHARE, PACKAGE_MANIFEST, max_bytes=max_bytes)
    try:
        package = PackageManifest.model_validate(document)
    except ValidationError as err:
        first = err.errors(include_url=False)[0]
        field = ".".join(str(p) for p in first["loc"])
        raise InvalidInputError(first["msg"], source=where, field=field) from err
    if package.export_id != export_id:
        raise InvalidInputError(
            f"names export {package.export_id}, not {export_id}", source=where, field="export_id"
        )
    return package


def _datastreams_of_run(
    store: MetadataStore, view: BlobZones, upload: LabelUpload, max_bytes: int
) -> list[Datastream]:
    try:
        package = _read_package(view, upload.export_id, max_bytes)
    except (NotFoundError, InvalidInputError):
        return []
    found = []
    for measurement_id in sorted({item.measurement_id for item in package.items}):
        try:
            found.append(store.get_datastream(labeled_datastream_id(upload, measurement_id)))
        except NotFoundError:
            continue
    return found


def _register(
    view: BlobZones,
    store: MetadataStore,
    upload: LabelUpload,
    checked: CheckedLabels,
    data: bytes,
    *,
    instance_id: str,
) -> list[str]:
    """One COMPLETED LABELED datastream per measurement the file covers; their ids."""
    assert checked.format is not None
    label_format = checked.format
    labels_by_measurement: dict[str, list[Label]] = defaultdict(list)
    for label in checked.labels:
        labels_by_measurement[label.item.measurement_id].append(label)
    items_by_measurement: dict[str, set[int]] = defaultdict(set)
    export_streams: dict[str, set[str]] = defaultdict(set)
    for item in checked.covered:
        items_by_measurement[item.measurement_id].add(item.item_id)
        export_streams[item.measurement_id].add(item.export_datastream_id)
    ids: list[str] = []
    for measurement_id in sorted(items_by_measurement):
        sources = sorted(export_streams[measurement_id])
        for source_id in sources:
            source = store.get_datastream(source_id)
            if source.type is not DatastreamType.LABEL_EXPORT:
                raise InvalidInputError(
                    f"datastream {source_id} is {source.type}, not LABEL_EXPORT",
                    source=f"share/{upload.export_id}/{PACKAGE_MANIFEST}",
                    field="items.export_datastream_id",
                )
        datastream_id = labeled_datastream_id(upload, measurement_id)
        LABEL_IMPORT.open(
            store,
            measurement_id=measurement_id,
            datastream_id=datastream_id,
            instance_id=instance_id,
            sources=sources,
        )
        ids.append(datastream_id)
        labels = labels_by_measurement.get(measurement_id, [])
        stats = {
            "export_id": upload.export_id,
            "label_file": upload.name,
            "label_file_etag": upload.etag,
            "format": label_format.value,
            "counts": {
                "items": len(items_by_measurement[measurement_id]),
                "labels": len(labels),
                "boxes": sum(1 for label in labels if label.bbox is not None),
            },
            "categories": dict(sorted(Counter(label.category for label in labels).items())),
        }
        # A datastream COMPLETED already is a retried activity after this measurement's commit.
        written = _MeasurementLabels(view, upload, labels, data, label_format, stats)
        LABEL_IMPORT.run(store, datastream_id, written.write)
    return ids


@dataclass(frozen=True)
class _MeasurementLabels:
    """One measurement's share of an accepted label file, and what its datastream records."""

    view: BlobZones
    upload: LabelUpload
    labels: list[Label]
    data: bytes
    label_format: LabelFormat
    stats: dict[str, Any]

    def write(self, datastream: Datastream) -> StepOutput:
        """The labels as a Delta table, plus a copy of the partner's file."""
        table_prefix = join_path(datastream.path, LABELS_TABLE)
        upload_delta_table(
            self.view,
            Zone.CURATED,
            table_prefix,
            _labels_table(
                self.labels, export_id=self.upload.export_id, datastream_id=datastream.id
            ),
        )
        copy_path = join_path(datastream.path, SOURCE_FOLDER, self.upload.name.rsplit("/", 1)[-1])
        self.view.write_bytes(Zone.CURATED, copy_path, self.data, content_type="application/json")
        copy = FileRecord(
            path=copy_path,
            format=self.label_format.value,
            size=len(self.data),
            sha256=hashlib.sha256(self.data).hexdigest(),
            meta={"kind": "label_file", "source": f"labeled/{self.upload.export_id}"},
        )
        return StepOutput({**self.stats, "labels_table": table_prefix}, [copy])


def _labels_table(labels: list[Label], *, export_id: str, datastream_id: str) -> pa.Table:
    """The LABELS_SCHEMA rows of one measurement's labels."""
    columns: dict[str, list[Any]] = {name: [] for name in LABELS_SCHEMA.names}
    for label in labels:
        item = label.item
        box = label.bbox or (None, None, None, None)
        row: dict[str, Any] = {
            "vehicle_id": item.vehicle_id,
            "measurement_id": item.measurement_id,
            "export_id": export_id,
            "labeled_datastream_id": datastream_id,
            "frames_datastream_id": item.frames_datastream_id,
            "frame": item.frame,
            "time_ns": item.time_ns,
            "sensor": item.sensor,
            "item_id": item.item_id,
            "label_id": label.label_id,
            "category": label.category,
            "bbox_x": box[0],
            "bbox_y": box[1],
            "bbox_w": box[2],
            "bbox_h": box[3],
            "attributes_json": json.dumps(label.attributes, sort_keys=True, default=str),
        }
        for name, value in row.items():
            columns[name].append(value)
    return pa.table(columns, schema=LABELS_SCHEMA)
