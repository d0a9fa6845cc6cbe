"""What became of each label file of an export: ``GET /api/label-exports/{id}/imports``.

Read from the export's labeled container itself (the files and the reports next to them), so
the answer is what the partner sees too. A file whose report judged another version (etag), or
that has no report yet, is ``pending``: its run has not finished.

The partner can write into that container, reports included, so an ``accepted`` report is only
believed when the metadata store agrees: each datastream it names is a LABELED datastream made
from this export's file at this etag. Otherwise the file is listed as ``pending``.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from dataops.errors import InvalidInputError, NotFoundError
from dataops.labeling.importing.steps import read_report
from dataops.labeling.package import is_label_upload
from dataops.labeling.report import ImportReport, ImportStatus, LabelFormat
from dataops.models import DatastreamType
from dataops.paths import Zone
from dataops.storage import BlobInfo, BlobZones
from dataops.storage.export_zones import check_export_id, export_zones
from dataops.store import MetadataStore

__all__ = ["MAX_LISTED_FILES", "LabelImport", "LabelImports", "list_label_imports"]

log = logging.getLogger("avops.labeling.import")

# One page is enough for a partner's rounds of label files; more is listed as truncated.
MAX_LISTED_FILES = 500


class LabelImport(BaseModel):
    """One label file and its report."""

    model_config = ConfigDict(extra="forbid")

    file: Annotated[str, Field(description="Path in the export's labeled container.")]
    size: int
    etag: str
    uploaded_at: datetime | None = None
    status: ImportStatus
    format: LabelFormat | None = None
    errors: list[str] = Field(default_factory=list)
    error_count: int = 0
    datastream_ids: list[str] = Field(default_factory=list)
    counts: dict[str, int] = Field(default_factory=dict)
    checked_at: datetime | None = None


class LabelImports(BaseModel):
    """Every label file of one export, in name order."""

    model_config = ConfigDict(extra="forbid")

    export_id: str
    items: list[LabelImport]
    truncated: bool = Field(
        default=False, description=f"More than {MAX_LISTED_FILES} label files; the first listed."
    )


def list_label_imports(zones: BlobZones, store: MetadataStore, export_id: str) -> LabelImports:
    """The export's label files with their reports; NotFoundError for an unknown export."""
    check_export_id(export_id, field="id")
    view = export_zones(zones, export_id)
    items: list[LabelImport] = []
    truncated = False
    try:
        for blob in view.list_blobs(Zone.LABELED):
            if not is_label_upload(blob.path):
                continue
            if len(items) == MAX_LISTED_FILES:
                truncated = True
                break
            items.append(_entry(zones, store, export_id, blob))
    except NotFoundError as err:
        raise NotFoundError(f"label export {export_id} not found") from err
    return LabelImports(export_id=export_id, items=items, truncated=truncated)


def _entry(zones: BlobZones, store: MetadataStore, export_id: str, blob: BlobInfo) -> LabelImport:
    entry = LabelImport(
        file=blob.path,
        size=blob.size,
        etag=blob.etag,
        uploaded_at=blob.last_modified,
        status=ImportStatus.PENDING,
    )
    report = read_report(zones, export_id, blob.path)
    if report is None or report.etag.strip('"') != blob.etag.strip('"'):
        return entry
    if report.status is ImportStatus.ACCEPTED and not _registered(store, export_id, report):
        log.warning("export %s: report of %s names no registered import", export_id, blob.path)
        return entry
    return entry.model_copy(
        update={
            "status": report.status,
            "format": report.format,
            "errors": report.errors,
            "error_count": report.error_count,
            "datastream_ids": report.datastream_ids,
            "counts": report.counts,
            "checked_at": report.checked_at,
        }
    )


def _registered(store: MetadataStore, export_id: str, report: ImportReport) -> bool:
    """Every datastream the report names was made from this export's file at this etag."""
    if not report.datastream_ids:
        return False
    for datastream_id in report.datastream_ids:
        try:
            datastream = store.get_datastream(datastream_id)
        except (NotFoundError, InvalidInputError):
            return False
        stats = datastream.stats
        if (
            datastream.type is not DatastreamType.LABELED
            or stats.get("export_id") != export_id
            or stats.get("label_file") != report.file
            or str(stats.get("label_file_etag", "")).strip('"') != report.etag.strip('"')
        ):
            return False
    return True
