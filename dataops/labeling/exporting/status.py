"""Answers of the label-export endpoints: the request body parsed, and the export's status view.

The status combines the export record (expiry, revocation), the orchestration (stage,
progress, result or failure) and whether ``package.json`` exists. Links (the partner SAS
URLs) are shown only to callers with the write role, and only while the export is neither
revoked nor expired: a read-role caller can follow an export without being able to hand out
access to it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import ValidationError

from dataops.errors import InvalidInputError
from dataops.labeling.exporting.request import ExportRecord, LabelExportRequest
from dataops.storage.sas import ExportLinks

__all__ = ["MAX_REQUEST_BYTES", "export_view", "parse_export_request"]

MAX_REQUEST_BYTES = 1024 * 1024
_STATES = {
    "Pending": "running",
    "Running": "running",
    "ContinuedAsNew": "running",
    "Completed": "completed",
    "Failed": "failed",
    "Terminated": "failed",
    "Canceled": "failed",
}


def parse_export_request(body: bytes) -> LabelExportRequest:
    """The request body; InvalidInputError naming the first bad field (``body.<path>``)."""
    if len(body) > MAX_REQUEST_BYTES:
        raise InvalidInputError(f"larger than {MAX_REQUEST_BYTES} bytes", field="body")
    try:
        return LabelExportRequest.model_validate_json(body)
    except ValidationError as err:
        first = err.errors(include_url=False, include_input=False)[0]
        # Union members show up as their class names in the location: leave those out.
        path = [str(p) for p in first["loc"] if not (isinstance(p, str) and p[:1].isupper())]
        where = ".".join(["body", *path])
        raise InvalidInputError(first["msg"], field=where) from None


def export_view(
    record: ExportRecord,
    *,
    runtime_status: str | None,
    custom_status: Any,
    output: Any,
    package_complete: bool,
    links: ExportLinks | None,
    now: datetime,
) -> dict[str, Any]:
    """The JSON of ``GET /api/label-exports/{id}``."""
    progress = custom_status if isinstance(custom_status, dict) else {}
    result = output if isinstance(output, dict) else {}
    state = _STATES.get(runtime_status or "", "unknown")
    if package_complete:
        state = "completed"
    view: dict[str, Any] = {
        "export_id": record.export_id,
        "partner_id": record.partner_id,
        "instance_id": record.instance_id,
        "status": state,
        "stage": progress.get("stage"),
        "runtime_status": runtime_status,
        "items": progress.get("items", result.get("items")),
        "copied": progress.get("copied"),
        "frames": progress.get("frames", result.get("frames")),
        "datastream_ids": result.get("datastream_ids", []),
        "reason": progress.get("reason") or (output if state == "failed" else None),
        "package_complete": package_complete,
        "created_at": record.created_at.isoformat(),
        "expires_at": record.expires_at.isoformat(),
        "expired": now >= record.expires_at,
        "revoked_at": record.revoked_at.isoformat() if record.revoked_at else None,
        "request": record.request.model_dump(mode="json", by_alias=True, exclude_none=True),
        "links": None,
    }
    if links is not None:
        view["links"] = {
            "package": links.package_url,
            "labels": links.labels_url,
            "expires_at": links.expires_at.isoformat(),
            "signed_with": links.signed_with,
            "package_permissions": "read, list",
            "labels_permissions": "create, write",
        }
    return view
