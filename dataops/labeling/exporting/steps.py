"""The work of a labeling export: start, plan, copy a range of items, finish, fail, revoke.

Every step is idempotent (activities run at least once): the plan is written once and read
back by later steps, items go to fixed names (a re-copy overwrites, never adds), datastream
ids are derived from (export id, measurement id), state changes are only made from the state
they leave, and ``package.json`` is written last, so its presence means the package is complete.

Where an export's state lives: ``_export.json`` (:class:`ExportRecord`) and ``_plan.json`` in
the export's package container (the partner may read them, never change them; neither holds a
secret), the LABEL_EXPORT datastreams in the metadata store, and the orchestration's status.
"""

from __future__ import annotations

import io
import logging
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from dataops import __version__
from dataops.errors import ConflictError, InvalidInputError, NotFoundError
from dataops.frames.search import FrameSearch
from dataops.labeling.exporting.coco import coco_document
from dataops.labeling.exporting.openlabel import openlabel_document
from dataops.labeling.exporting.plan import ExportPlan, PlanItem, build_plan
from dataops.labeling.exporting.request import (
    EXPORT_RECORD,
    PLAN_BLOB,
    ExportRecord,
    LabelExportRequest,
)
from dataops.labeling.exporting.selection import select_frames
from dataops.labeling.package import (
    COCO_FILE,
    OPENLABEL_FILE,
    PACKAGE_MANIFEST,
    PackageItem,
    PackageManifest,
)
from dataops.labeling.taxonomy import load_taxonomy
from dataops.models import Datastream, DatastreamState, DatastreamType, Producer
from dataops.paths import Zone
from dataops.storage import BlobZones
from dataops.storage.errors import translate_azure_errors
from dataops.storage.export_zones import export_container, export_container_client, export_zones
from dataops.storage.sas import grant_export_access, revoke_export_access
from dataops.store import MetadataStore
from dataops.store.transitions import advance_datastream

__all__ = [
    "copy_items",
    "fail_export",
    "finish_export",
    "plan_export",
    "read_plan",
    "read_record",
    "revoke_export",
    "start_export",
]

log = logging.getLogger("avops.labeling.export")

_MAX_JSON_BYTES = 256 * 1024 * 1024
_MAX_PART_BYTES = 1 << 30
_STEP = "label_export"


# ----------------------------------------------------------------------------- start


def start_export(
    zones: BlobZones,
    request: LabelExportRequest,
    *,
    export_id: str,
    instance_id: str,
    now: datetime,
    default_hours: int,
    max_hours: int,
) -> ExportRecord:
    """Both containers, the access policies and ``_export.json``; before the orchestration."""
    hours = request.expires_in_hours or default_hours
    if hours > max_hours:
        raise InvalidInputError(
            f"{hours} h is more than the {max_hours} h allowed", field="expires_in_hours"
        )
    if request.categories is None:
        # Fixed at the start: a later change of the taxonomy file does not change this export.
        request = request.model_copy(update={"categories": load_taxonomy().categories})
    record = ExportRecord(
        export_id=export_id,
        partner_id=request.partner_id,
        instance_id=instance_id,
        created_at=now,
        expires_at=now + timedelta(hours=hours),
        request=request,
    )
    view = export_zones(zones, export_id)
    view.ensure_containers([Zone.SHARE, Zone.LABELED])
    try:
        view.write_bytes(
            Zone.SHARE,
            EXPORT_RECORD,
            record.model_dump_json(by_alias=True, indent=2).encode(),
            content_type="application/json",
            overwrite=False,
        )
    except ConflictError:
        record = read_record(zones, export_id)  # a retried start: keep the first record
    grant_export_access(zones, export_id, expires_at=record.expires_at)
    return record


def read_record(zones: BlobZones, export_id: str) -> ExportRecord:
    """``_export.json`` of an export; NotFoundError if there is no such export."""
    value, _ = export_zones(zones, export_id).read_json(
        Zone.SHARE, EXPORT_RECORD, max_bytes=_MAX_JSON_BYTES
    )
    return ExportRecord.model_validate(value)


def revoke_export(zones: BlobZones, export_id: str, *, now: datetime) -> ExportRecord:
    """Delete the access policies (SAS stop working at once) and mark the record revoked."""
    view = export_zones(zones, export_id)
    blob = view.read_bytes(Zone.SHARE, EXPORT_RECORD, max_bytes=_MAX_JSON_BYTES)
    record = ExportRecord.model_validate_json(blob.data)
    revoke_export_access(zones, export_id)
    if record.revoked_at is None:
        record = record.model_copy(update={"revoked_at": now})
        view.write_bytes(
            Zone.SHARE,
            EXPORT_RECORD,
            record.model_dump_json(by_alias=True, indent=2).encode(),
            content_type="application/json",
            etag=blob.etag,
        )
    return record


# ----------------------------------------------------------------------------- plan


def read_plan(zones: BlobZones, export_id: str) -> ExportPlan:
    """``_plan.json`` of an export (NotFoundError before the plan step ran)."""
    blob = export_zones(zones, export_id).read_bytes(
        Zone.SHARE, PLAN_BLOB, max_bytes=_MAX_JSON_BYTES
    )
    return ExportPlan.model_validate_json(blob.data)


def plan_export(
    zones: BlobZones,
    store: MetadataStore,
    search: FrameSearch,
    *,
    export_id: str,
    instance_id: str,
    max_items: int,
    detections_sensor: str,
    cache_dir: Path,
) -> dict[str, Any]:
    """Resolve the selection into ``_plan.json`` (once) and the datastreams PROCESSING."""
    try:
        plan = read_plan(zones, export_id)
    except NotFoundError:
        plan = _new_plan(
            zones,
            store,
            search,
            export_id=export_id,
            max_items=max_items,
            detections_sensor=detections_sensor,
            cache_dir=cache_dir,
        )
    for planned in plan.datastreams:
        datastream = store.create_datastream(
            Datastream(
                id=planned.datastream_id,
                measurement_id=planned.measurement_id,
                type=DatastreamType.LABEL_EXPORT,
                zone=Zone.SHARE,
                path=export_id,
                producer=Producer(step=_STEP, code_version=__version__, instance_id=instance_id),
                sources=planned.sources,
            )
        )
        if datastream.state is DatastreamState.CREATED:
            advance_datastream(
                store, datastream.id, DatastreamState.PROCESSING, when={DatastreamState.CREATED}
            )
    return {
        "export_id": export_id,
        "items": len(plan.items),
        "frames": plan.frames,
        "measurements": len(plan.datastreams),
    }


def _new_plan(
    zones: BlobZones,
    store: MetadataStore,
    search: FrameSearch,
    *,
    export_id: str,
    max_items: int,
    detections_sensor: str,
    cache_dir: Path,
) -> ExportPlan:
    """Resolve the record's request and write ``_plan.json``."""
    record = read_record(zones, export_id)
    request = record.request
    frames = select_frames(
        zones,
        store,
        search,
        request.selection,
        request.downsampling,
        max_frames=max_items,
        cache_dir=cache_dir,
    )
    plan = build_plan(
        zones,
        store,
        frames,
        export_id=export_id,
        partner_id=record.partner_id,
        created_at=record.created_at,
        selection=request.selection.model_dump(mode="json", by_alias=True, exclude_none=True),
        sensors=list(request.sensors),
        include_point_clouds=request.include_point_clouds,
        detections_sensor=detections_sensor,
        max_items=max_items,
        categories=list(request.categories or load_taxonomy().categories),
    )
    if not plan.items:
        raise InvalidInputError(
            "the selection matched no frame with any of the asked sensors", field="selection"
        )
    export_zones(zones, export_id).write_bytes(
        Zone.SHARE, PLAN_BLOB, plan.model_dump_json().encode(), content_type="application/json"
    )
    return plan


# ----------------------------------------------------------------------------- copy


def copy_items(zones: BlobZones, *, export_id: str, first: int, last: int) -> dict[str, Any]:
    """Copy plan items ``[first, last)`` into the package, byte for byte as stored."""
    plan = read_plan(zones, export_id)
    view = export_zones(zones, export_id)
    items = plan.items[first:last]
    parts: dict[str, pq.ParquetFile] = {}
    copied = 0
    size = 0
    for item in items:
        if item.kind == "image" and item.part_row is None:
            info = zones.get_info(Zone.EXTRACTED, item.source_path)
            result = view.copy(
                Zone.EXTRACTED,
                item.source_path,
                Zone.SHARE,
                item.file_name,
                source_etag=info.etag,
            )
            size += result.size
        else:
            if item.source_path not in parts:
                # One part (or lidar table) at a time: the previous one is dropped first.
                parts.clear()
                blob = zones.read_bytes(Zone.EXTRACTED, item.source_path, max_bytes=_MAX_PART_BYTES)
                parts[item.source_path] = pq.ParquetFile(pa.BufferReader(blob.data))
            data = _stored_sample(parts[item.source_path], item)
            view.write_bytes(Zone.SHARE, item.file_name, data, content_type=_content_type(item))
            size += len(data)
        copied += 1
    return {"export_id": export_id, "copied": copied, "bytes": size}


def _stored_sample(parquet: pq.ParquetFile, item: PlanItem) -> bytes:
    if item.kind == "image":
        assert item.part_row is not None
        row = item.part_row
        # Read only the row group that holds the frame.
        for group in range(parquet.num_row_groups):
            rows = parquet.metadata.row_group(group).num_rows
            if row < rows:
                value = parquet.read_row_group(group, columns=["data"]).column("data")[row]
                return bytes(value.as_py())
            row -= rows
        raise InvalidInputError(
            f"row {item.part_row} is outside the frame store part",
            source=f"extracted/{item.source_path}",
        )
    points = _sweep(parquet, item.sample_time_ns, source=item.source_path)
    sink = io.BytesIO()
    pq.write_table(points, sink, compression="zstd")
    return sink.getvalue()


def _sweep(parquet: pq.ParquetFile, time_ns: int, *, source: str) -> pa.Table:
    """The point rows of one sweep (all rows with ``time_ns``), reading only row groups whose
    time statistics can hold it."""
    metadata = parquet.metadata
    leaves = [metadata.schema.column(i).path for i in range(metadata.num_columns)]
    if "time_ns" not in leaves:
        raise InvalidInputError("no time_ns column", source=f"extracted/{source}")
    leaf = leaves.index("time_ns")
    groups = []
    for group in range(metadata.num_row_groups):
        stats = metadata.row_group(group).column(leaf).statistics
        if stats is None or not stats.has_min_max or stats.min <= time_ns <= stats.max:
            groups.append(group)
    table = parquet.read_row_groups(groups)
    return table.filter(pc.equal(table.column("time_ns"), time_ns))


def _content_type(item: PlanItem) -> str:
    if item.kind == "pointcloud":
        return "application/vnd.apache.parquet"
    return "image/png" if item.file_name.endswith(".png") else "image/jpeg"


# ----------------------------------------------------------------------------- finish / fail


def finish_export(
    zones: BlobZones, store: MetadataStore, *, export_id: str, now: datetime | None = None
) -> dict[str, Any]:
    """coco.json, openlabel.json, then package.json; datastreams COMPLETED."""
    plan = read_plan(zones, export_id)
    record = read_record(zones, export_id)
    view = export_zones(zones, export_id)
    created = now or datetime.now(UTC)
    openlabel = openlabel_document(plan)  # validated before anything is written
    view.write_json(Zone.SHARE, COCO_FILE, coco_document(plan, created_at=created))
    view.write_json(Zone.SHARE, OPENLABEL_FILE, openlabel)
    fields = set(PackageItem.model_fields)
    manifest = PackageManifest(
        export_id=export_id,
        partner_id=plan.partner_id,
        created_at=plan.created_at,
        selection=plan.selection,
        sensors=plan.sensors,
        categories=plan.categories,
        items=[PackageItem.model_validate(item.model_dump(include=fields)) for item in plan.items],
    )
    # Last: its presence tells partners (and the status) the package is complete.
    view.write_json(Zone.SHARE, PACKAGE_MANIFEST, manifest.model_dump(mode="json"))
    container = export_container(zones.container_name(Zone.SHARE), export_id)
    for planned in plan.datastreams:
        mine = [item for item in plan.items if item.measurement_id == planned.measurement_id]
        kinds = Counter(item.kind for item in mine)
        stats = {
            "export_id": export_id,
            "partner_id": plan.partner_id,
            "container": container,
            "package": PACKAGE_MANIFEST,
            "items": len(mine),
            "images": kinds.get("image", 0),
            "pointclouds": kinds.get("pointcloud", 0),
            "frames": len({item.openlabel_frame for item in mine}),
            "prelabels": sum(len(item.prelabels) for item in mine),
            "expires_at": record.expires_at.isoformat(),
        }
        _finish(store, planned.datastream_id, DatastreamState.COMPLETED, stats=stats)
    log.info("label export %s: %d items packaged", export_id, len(plan.items))
    return {
        "export_id": export_id,
        "items": len(plan.items),
        "frames": plan.frames,
        "measurements": len(plan.datastreams),
        "datastream_ids": [d.datastream_id for d in plan.datastreams],
    }


def fail_export(
    zones: BlobZones, store: MetadataStore, *, export_id: str, reason: str
) -> dict[str, Any]:
    """Datastreams FAILED with ``reason`` (those the plan made; none before the plan)."""
    try:
        plan = read_plan(zones, export_id)
    except NotFoundError:
        return {"export_id": export_id, "reason": reason, "datastream_ids": []}
    for planned in plan.datastreams:
        _finish(store, planned.datastream_id, DatastreamState.FAILED, reason=reason)
    return {
        "export_id": export_id,
        "reason": reason,
        "datastream_ids": [d.datastream_id for d in plan.datastreams],
    }


def _finish(
    store: MetadataStore,
    datastream_id: str,
    target: DatastreamState,
    *,
    stats: dict[str, Any] | None = None,
    reason: str | None = None,
) -> None:
    try:
        advance_datastream(
            store,
            datastream_id,
            target,
            when={DatastreamState.CREATED, DatastreamState.PROCESSING},
            stats=stats,
            reason=reason,
        )
    except NotFoundError:
        return  # the plan step failed before making it


def package_complete(zones: BlobZones, export_id: str) -> bool:
    """Whether ``package.json`` is there (the last file an export writes)."""
    container = export_container_client(zones, Zone.SHARE, export_id)
    with translate_azure_errors(f"{container.container_name}/{PACKAGE_MANIFEST}"):
        return bool(container.get_blob_client(PACKAGE_MANIFEST).exists())
