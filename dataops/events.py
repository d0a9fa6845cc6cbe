"""Typed envelopes for blob-created events (Event Grid schema and CloudEvents 1.0).

The ingest trigger acts only on a real, complete write of ``.../manifest.json`` in the landing
container; :func:`landing_upload_prefix` is that rule in one place.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dataops.errors import InvalidInputError
from dataops.models import MANIFEST_NAME
from dataops.paths import check_relative_path

__all__ = [
    "BLOB_CREATED",
    "MANIFEST_APIS",
    "BlobCreatedData",
    "BlobEvent",
    "blob_location",
    "landing_upload_prefix",
    "parse_blob_event",
]

BLOB_CREATED = "Microsoft.Storage.BlobCreated"
# Writes that leave a whole blob behind (FlushWithClose is ADLS Gen2's commit; PutBlock is not).
MANIFEST_APIS = frozenset({"PutBlob", "PutBlockList", "CopyBlob", "FlushWithClose"})
_SUBJECT_PREFIX = "/blobServices/default/containers/"


class BlobCreatedData(BaseModel):
    """The ``data`` of a storage event (wire names are camelCase)."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    api: str = ""
    content_type: str | None = Field(default=None, alias="contentType")
    content_length: int = Field(default=0, alias="contentLength")
    blob_type: str | None = Field(default=None, alias="blobType")
    url: str = ""
    e_tag: str | None = Field(default=None, alias="eTag")
    sequencer: str | None = None


class BlobEvent(BaseModel):
    """One storage event, whichever schema it arrived in."""

    model_config = ConfigDict(extra="ignore")

    id: Annotated[str, Field(max_length=256)]
    event_type: str
    subject: Annotated[str, Field(max_length=2048)]
    source: str | None = None
    event_time: datetime | None = None
    schema_name: Literal["eventgrid", "cloudevents"]
    data: BlobCreatedData


def parse_blob_event(payload: dict[str, Any]) -> BlobEvent:
    """Parse an Event Grid schema or CloudEvents 1.0 event; InvalidInputError when it is neither."""
    if not isinstance(payload, dict):
        raise InvalidInputError("event is not a JSON object", source="event")
    try:
        if "specversion" in payload:
            return BlobEvent(
                id=payload["id"],
                event_type=payload["type"],
                subject=payload.get("subject", ""),
                source=payload.get("source"),
                event_time=payload.get("time"),
                schema_name="cloudevents",
                data=BlobCreatedData.model_validate(payload.get("data") or {}),
            )
        return BlobEvent(
            id=payload["id"],
            event_type=payload["eventType"],
            subject=payload["subject"],
            source=payload.get("topic"),
            event_time=payload.get("eventTime"),
            schema_name="eventgrid",
            data=BlobCreatedData.model_validate(payload.get("data") or {}),
        )
    except KeyError as err:
        raise InvalidInputError(f"missing field {err.args[0]!r}", source="event") from err
    except ValidationError as err:
        first = err.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise InvalidInputError(first["msg"], source="event", field=field) from err


def blob_location(subject: str) -> tuple[str, str]:
    """(container, blob name) from ``/blobServices/default/containers/<c>/blobs/<name>``."""
    if not subject.startswith(_SUBJECT_PREFIX) or "/blobs/" not in subject:
        raise InvalidInputError(
            f"not a blob subject: {subject[:200]!r}", source="event", field="subject"
        )
    container, _, name = subject.removeprefix(_SUBJECT_PREFIX).partition("/blobs/")
    return container, name


def landing_upload_prefix(event: BlobEvent, landing_container: str) -> str | None:
    """The upload prefix when ``event`` is a finished manifest write in landing, else None.

    Raises InvalidPathError when it is a manifest event whose prefix is unsafe: that is hostile or
    broken input and must be reported, not silently dropped.
    """
    if event.event_type != BLOB_CREATED:
        return None
    container, name = blob_location(event.subject)
    if event.data.api not in MANIFEST_APIS or event.data.content_length <= 0:
        return None
    if container != landing_container:
        return None
    if name == MANIFEST_NAME or not name.endswith("/" + MANIFEST_NAME):
        # A manifest at the container root has no prefix to own its files.
        return None
    prefix = name.removesuffix("/" + MANIFEST_NAME)
    return check_relative_path(prefix, field="subject", source=f"{container}/{name}")
