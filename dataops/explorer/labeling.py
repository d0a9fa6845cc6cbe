"""The labeling page's data: the exports (one container pair each) and their imports.

Exports are found by their package containers (``<share container>-<export id>``), listed in
name order and capped; each one's ``_export.json`` gives partner, times and revocation. The
partner links are bearer secrets: only the write role gets them, and only while the export is
neither expired nor revoked (as ``GET /api/label-exports/{id}`` does).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from dataops.errors import NotFoundError
from dataops.labeling.exporting import steps as export_steps
from dataops.labeling.exporting.request import ExportRecord
from dataops.labeling.importing.status import LabelImports, list_label_imports
from dataops.paths import Zone
from dataops.storage import BlobZones
from dataops.storage.errors import translate_azure_errors
from dataops.storage.export_zones import EXPORT_ID_PATTERN
from dataops.storage.sas import export_links
from dataops.store import MetadataStore

__all__ = ["ExportSummary", "export_summary", "list_exports"]

MAX_EXPORTS = 100


@dataclass(frozen=True)
class ExportSummary:
    """What the labeling page shows of one export."""

    record: ExportRecord
    status: str
    """``active``, ``expired`` or ``revoked``."""
    package_complete: bool
    package_url: str | None
    labels_url: str | None
    imports: LabelImports | None


def list_exports(zones: BlobZones, limit: int = MAX_EXPORTS) -> list[str]:
    """Export ids by their package containers, in name order, at most ``limit``."""
    share = zones._clients.container(Zone.SHARE)  # the client export_zones reaches, too
    prefix = f"{share.container_name}-"
    service = share._get_blob_service_client()  # export containers sit beside it
    ids: list[str] = []
    with translate_azure_errors(f"{prefix}*"):
        for container in service.list_containers(name_starts_with=prefix):
            export_id = str(container.name)[len(prefix) :]
            if EXPORT_ID_PATTERN.match(export_id):
                ids.append(export_id)
                if len(ids) >= limit:
                    break
    return ids


def export_summary(
    zones: BlobZones,
    store: MetadataStore,
    export_id: str,
    *,
    now: datetime,
    with_links: bool,
    with_imports: bool,
) -> ExportSummary:
    """Status, links (``with_links``: the caller has the write role) and imports of one export."""
    record = export_steps.read_record(zones, export_id)
    if record.revoked_at is not None:
        status = "revoked"
    elif now >= record.expires_at:
        status = "expired"
    else:
        status = "active"
    links = (
        export_links(zones, export_id, expires_at=record.expires_at)
        if with_links and status == "active"
        else None
    )
    imports = None
    if with_imports:
        try:
            imports = list_label_imports(zones, store, export_id)
        except NotFoundError:
            imports = None
    return ExportSummary(
        record=record,
        status=status,
        package_complete=export_steps.package_complete(zones, export_id),
        package_url=links.package_url if links else None,
        labels_url=links.labels_url if links else None,
        imports=imports,
    )
