"""The import report: ``<name>._report.json`` written next to each label file a partner uploads.

The report is the partner's answer (accepted with the LABELED datastream ids, or rejected with
every error found, up to :data:`MAX_ERRORS`) and what ``GET /api/label-exports/{id}/imports``
shows. It names the version of the file it judged (``etag``): a report whose etag differs from
the file's current one belongs to an older upload, and the newer one is still being checked.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from dataops.models.common import UtcDatetime

__all__ = [
    "MAX_ERRORS",
    "ImportReport",
    "ImportStatus",
    "LabelFormat",
    "LabelIssues",
    "json_path",
]

# A broken export of a million boxes must not produce a million-line report.
MAX_ERRORS = 200


class ImportStatus(StrEnum):
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    FAILED = "failed"
    """The import itself failed (not the partner's file): upload the file again to retry."""
    PENDING = "pending"
    """No report (yet) for the file's current version: only the status API says this."""


class LabelFormat(StrEnum):
    COCO = "coco"
    OPENLABEL = "openlabel"


class ImportReport(BaseModel):
    """What the import decided about one version of one label file."""

    model_config = ConfigDict(extra="forbid")

    file: Annotated[str, Field(description="The label file, relative to the export's container.")]
    etag: Annotated[str, Field(description="The version of the file this report judged.")]
    status: ImportStatus
    format: LabelFormat | None = None
    errors: list[str] = Field(
        default_factory=list, description="'<file>: <JSON path>: <problem>', at most MAX_ERRORS."
    )
    error_count: Annotated[int, Field(ge=0, description="All errors, also those not listed.")] = 0
    datastream_ids: list[str] = Field(
        default_factory=list, description="LABELED datastreams, one per measurement."
    )
    counts: dict[str, int] = Field(default_factory=dict)
    categories: dict[str, int] = Field(default_factory=dict, description="Labels per category.")
    instance_id: str | None = None
    checked_at: UtcDatetime | None = None


def json_path(parts: tuple[str | int, ...] | list[str | int]) -> str:
    """``("annotations", 3, "bbox")`` -> ``annotations[3].bbox`` (``$`` for the document)."""
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "$"


class LabelIssues:
    """Collects the errors of one file: all of them counted, the first MAX_ERRORS kept."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.messages: list[str] = []
        self.count = 0

    def add(self, path: tuple[str | int, ...] | list[str | int] | str, problem: str) -> None:
        """Record ``<file>: <path>: <problem>``."""
        where = path if isinstance(path, str) else json_path(path)
        self.count += 1
        if len(self.messages) < MAX_ERRORS:
            self.messages.append(f"{self.file}: {where}: {problem}")

    def __bool__(self) -> bool:
        return self.count > 0

    def rejected(
        self, *, etag: str, label_format: LabelFormat | None, now: datetime
    ) -> ImportReport:
        """The rejection report listing what was collected."""
        return ImportReport(
            file=self.file,
            etag=etag,
            status=ImportStatus.REJECTED,
            format=label_format,
            errors=list(self.messages),
            error_count=self.count,
            checked_at=now,
        )
