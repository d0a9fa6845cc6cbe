"""Typed envelopes for blob-created events (Event Grid schema and CloudEvents 1.0).

The ingest trigger acts only on a real, complete write of ``.../manifest.json`` in the landing
container; :func:`landing_upload_prefix` is that rule in one place. Before it starts a run it
checks where the event came from (:func:`check_event_origin`: the topic is a landing account,
``data.url`` is the subject's blob) and that it is current (:func:`check_event_etag`): a forged
or stale event is refused with :class:`RefusedEventError` and never creates a run.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal
from urllib.parse import unquote, urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dataops.errors import InvalidInputError, invalid_input_from
from dataops.models import MANIFEST_NAME
from dataops.paths import check_relative_path

if TYPE_CHECKING:
    from dataops.settings import Settings

__all__ = [
    "BLOB_CREATED",
    "MANIFEST_APIS",
    "BlobCreatedData",
    "BlobEvent",
    "RefusedEventError",
    "blob_location",
    "check_event_etag",
    "check_event_origin",
    "landing_accounts",
    "manifest_event_prefix",
    "storage_account_of_topic",
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
        raise invalid_input_from(err, source="event") from err


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


class RefusedEventError(InvalidInputError):
    """A forged or stale storage event: refused with its reason, no run started for it."""


_TOPIC_ACCOUNT = re.compile(
    r"/providers/Microsoft\.Storage/storageAccounts/([a-z0-9]{3,24})$", re.IGNORECASE
)
_AZURITE_ACCOUNT = "devstoreaccount1"


def storage_account_of_topic(topic: str | None) -> str | None:
    """The account name of an Event Grid storage topic (``.../storageAccounts/<name>``)."""
    match = _TOPIC_ACCOUNT.search(topic or "")
    return match.group(1).lower() if match else None


def landing_accounts(settings: Settings) -> frozenset[str]:
    """The storage accounts whose events may start ingest (lower-case names).

    The explicit setting wins; else the landing account of ``storage_account_urls`` (Azure);
    else the connection string's account, which is what devhost's event source writes into
    its topics (``devstoreaccount1`` on Azurite).
    """
    if settings.landing_storage_accounts:
        return frozenset(name.strip().lower() for name in settings.landing_storage_accounts)
    url = settings.storage_account_urls.get("landing")
    if url:
        return frozenset({(urlsplit(url).hostname or "").split(".", 1)[0].lower()})
    parts = dict(
        part.split("=", 1)
        for part in (settings.storage_connection_string or "").split(";")
        if "=" in part
    )
    if "AccountName" in parts:
        return frozenset({parts["AccountName"].lower()})
    if parts.get("UseDevelopmentStorage", "").lower() == "true":
        return frozenset({_AZURITE_ACCOUNT})
    return frozenset()


def _url_blob(url: str, account: str) -> tuple[str, str] | None:
    """(container, blob) of ``account``'s blob URL: host-style (Azure), path-style (Azurite)."""
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        return None
    path = unquote(parts.path)
    host_account = parts.hostname.split(".", 1)[0].lower()
    if host_account != account:
        # Path-style (Azurite, IP endpoints): /<account>/<container>/<blob>.
        first, _, path = path.lstrip("/").partition("/")
        if first.lower() != account:
            return None
        path = "/" + path
    container, _, name = path.lstrip("/").partition("/")
    return (container, name) if container and name else None


def check_event_origin(event: BlobEvent, accounts: frozenset[str]) -> str:
    """Refuse an event not from a landing account or whose ``data.url`` is not its subject.

    Returns the account. An event from another storage account (a shared Event Grid topic, a
    forged POST to the webhook) must not start a run: its failure would block the prefix.
    """
    account = storage_account_of_topic(event.source)
    if account is None:
        raise RefusedEventError(
            f"topic {event.source!r} is not a storage account", source="event", field="topic"
        )
    if account not in accounts:
        allowed = ", ".join(sorted(accounts)) or "none configured"
        raise RefusedEventError(
            f"topic names storage account {account!r}, not a landing account ({allowed})",
            source="event",
            field="topic",
        )
    container, name = blob_location(event.subject)
    if _url_blob(event.data.url, account) != (container, name):
        raise RefusedEventError(
            f"data.url {event.data.url[:300]!r} is not the blob the subject names "
            f"({account}/{container}/{name})",
            source="event",
            field="data.url",
        )
    return account


def _bare_etag(etag: str | None) -> str:
    # Event Grid sends 0x8D...; the blob API answers "0x8D..." (quoted): compare bare.
    return (etag or "").strip().strip('"')


def check_event_etag(event: BlobEvent, current_etag: str | None) -> str:
    """Refuse an event whose eTag is not the blob's current one; return the bare eTag.

    ``current_etag`` is None when the blob is gone. A stale event describes a write that a
    later one replaced: the later write has its own event.
    """
    sent = _bare_etag(event.data.e_tag)
    if not sent:
        raise RefusedEventError("event carries no eTag", source="event", field="data.eTag")
    if current_etag is None:
        raise RefusedEventError(
            f"stale event: the blob of eTag {sent} no longer exists",
            source="event",
            field="data.eTag",
        )
    if _bare_etag(current_etag) != sent:
        raise RefusedEventError(
            f"stale event: eTag {sent} is not the blob's current eTag {_bare_etag(current_etag)}",
            source="event",
            field="data.eTag",
        )
    return sent


def manifest_event_prefix(
    event: BlobEvent, landing_container: str, accounts: frozenset[str]
) -> str | None:
    """The upload prefix of a finished manifest write from a landing account, else None.

    Events that are no manifest write are ignored (None) whatever their origin; a manifest
    event from elsewhere, or whose url is not its subject, raises RefusedEventError.
    """
    prefix = landing_upload_prefix(event, landing_container)
    if prefix is not None:
        check_event_origin(event, accounts)
    return prefix
