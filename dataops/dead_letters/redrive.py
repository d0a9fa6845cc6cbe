"""Handing a dead letter's batch back: the current datastreams through the consumer's routing.

For each document of the record the datastream is read from the store as it is NOW and goes
through the routing the change-feed consumer uses (``dataops.downstream.starts_for`` and
``start_once``): the step it triggers starts unless its instance exists already, so a batch the
consumer did hand on before it failed, or one handed back twice, starts nothing twice. A
datastream that moved on (not COMPLETED) starts nothing and is reported with its state; one
that no longer exists (erased) is reported, not an error.

A hand-back in which every document was handled moves the record under
``<function>/redriven/...`` with who, when and the outcome per document, so it is not handed
back again by accident (a second request answers ``already_redriven``). One whose reading or
starting failed keeps the record pending, with the attempt appended to ``failed_redrives``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from dataops.dead_letters.listing import read_letter
from dataops.dead_letters.models import DocumentOutcome, Redrive, RedriveAnswer
from dataops.dead_letters.records import letter_path
from dataops.downstream import start_once, starts_for
from dataops.errors import ConflictError, DataOpsError, EtagMismatchError, NotFoundError
from dataops.ingest.runs import RunControl
from dataops.models import Datastream
from dataops.paths import Zone
from dataops.storage import BlobZones
from dataops.store import MetadataStore

__all__ = ["redrive_dead_letter"]

log = logging.getLogger("avops.deadletters")


async def _current(store: MetadataStore, datastream_id: str) -> Datastream | DocumentOutcome:
    """The datastream as it is now, or the outcome that says why there is none."""
    try:
        return await asyncio.to_thread(store.get_datastream, datastream_id)
    except NotFoundError:
        return DocumentOutcome(
            datastream_id=datastream_id,
            outcome="missing",
            detail="the datastream no longer exists (erased)",
        )
    except DataOpsError as err:
        return DocumentOutcome(
            datastream_id=datastream_id, outcome="failed", detail=f"reading it: {err}"
        )


async def _route(control: RunControl, current: Datastream) -> DocumentOutcome:
    """Start the steps ``current`` triggers, each once, as the consumer does."""
    starts = starts_for(current)
    if not starts:
        return DocumentOutcome(
            datastream_id=current.id,
            outcome="skipped",
            detail=f"state {current.state.value} ({current.type.value}): no step to start",
        )
    started: list[str] = []
    found: list[str] = []
    for start in starts:
        try:
            existing = await start_once(control, start)
        except Exception as err:  # noqa: BLE001  # any client failure is this document's outcome
            return DocumentOutcome(
                datastream_id=current.id,
                outcome="failed",
                detail=f"starting {start.orchestrator}: {type(err).__name__}: {err}",
                instance_ids=[start.instance_id],
            )
        if existing is None:
            started.append(start.instance_id)
        else:
            found.append(f"{start.instance_id} ({existing.runtime_status})")
    return DocumentOutcome(
        datastream_id=current.id,
        outcome="started" if started else "skipped",
        detail=f"started {', '.join(started)}"
        if started
        else f"its step exists already: {', '.join(found)}",
        instance_ids=[start.instance_id for start in starts],
    )


async def _hand_back(
    control: RunControl, store: MetadataStore, document: Mapping[str, Any]
) -> DocumentOutcome:
    """Route one document's current datastream as the consumer would."""
    datastream_id = document.get("id")
    if not isinstance(datastream_id, str) or not datastream_id:
        return DocumentOutcome(
            datastream_id=None, outcome="skipped", detail="the document had no id"
        )
    current = await _current(store, datastream_id)
    if isinstance(current, DocumentOutcome):
        return current
    return await _route(control, current)


def _already(record_id: str, record: Mapping[str, Any]) -> RedriveAnswer:
    earlier = Redrive.model_validate(record["redrive"])
    return RedriveAnswer(
        id=record_id,
        state="already_redriven",
        message=f"already handed back at {earlier.at.isoformat()} by {earlier.by}: nothing done",
        redrive=earlier,
    )


def _redriven_record(zones: BlobZones, record_id: str) -> dict[str, Any] | None:
    try:
        return read_letter(zones, letter_path(record_id, redriven=True))[0]
    except NotFoundError:
        return None


def _move(
    zones: BlobZones, record_id: str, record: dict[str, Any], etag: str, redrive: Redrive
) -> RedriveAnswer | None:
    """Write the handed-back record, then delete the pending one; an earlier move's answer if
    another redrive wrote it first."""
    moved = {**record, "redrive": redrive.model_dump(mode="json")}
    try:
        zones.write_json(Zone.ERROR, letter_path(record_id, redriven=True), moved, overwrite=False)
    except ConflictError:
        earlier = _redriven_record(zones, record_id)
        _delete_pending(zones, record_id, etag)
        return None if earlier is None else _already(record_id, earlier)
    _delete_pending(zones, record_id, etag)
    return None


def _delete_pending(zones: BlobZones, record_id: str, etag: str) -> None:
    path = letter_path(record_id)
    try:
        zones.delete(Zone.ERROR, path, etag=etag)
    except EtagMismatchError:
        # A failed attempt appended to it meanwhile; the handed-back copy is written: it goes.
        zones.delete(Zone.ERROR, path, etag=zones.get_info(Zone.ERROR, path).etag)
    except NotFoundError:
        log.info("dead letter %s: the pending record was removed already", record_id)


async def redrive_dead_letter(
    control: RunControl,
    zones: BlobZones,
    store: MetadataStore,
    record_id: str,
    *,
    by: str,
    now: datetime | None = None,
) -> RedriveAnswer:
    """Hand record ``record_id`` back (see the module); NotFoundError for an unknown id,
    InvalidInputError (field ``id``) for one of the wrong form."""
    path = letter_path(record_id)
    try:
        record, etag = await asyncio.to_thread(read_letter, zones, path)
    except NotFoundError:
        done = await asyncio.to_thread(_redriven_record, zones, record_id)
        if done is None:
            raise NotFoundError(f"no dead letter {record_id}") from None
        return _already(record_id, done)
    documents = record.get("documents")
    if not isinstance(documents, list):
        documents = []
    outcomes = [
        await _hand_back(control, store, d if isinstance(d, Mapping) else {}) for d in documents
    ]
    redrive = Redrive(at=now or datetime.now(UTC), by=by, documents=outcomes)
    counts = ", ".join(
        f"{sum(o.outcome == kind for o in outcomes)} {kind}"
        for kind in ("started", "skipped", "missing", "failed")
    )
    if redrive.failed:
        kept = {
            **record,
            "failed_redrives": [
                *(record.get("failed_redrives") or []),
                redrive.model_dump(mode="json"),
            ],
        }
        try:
            await asyncio.to_thread(zones.write_json, Zone.ERROR, path, kept, etag=etag)
        except EtagMismatchError as err:
            raise ConflictError(
                f"dead letter {record_id} changed while it was handed back: ask again"
            ) from err
        log.warning("dead letter %s: handing back failed (%s); the record stays", record_id, counts)
        return RedriveAnswer(
            id=record_id,
            state="failed",
            message=f"handing back failed ({counts}); the record stays pending",
            redrive=redrive,
        )
    earlier = await asyncio.to_thread(_move, zones, record_id, record, etag, redrive)
    if earlier is not None:
        return earlier
    log.info("dead letter %s handed back by %s: %s", record_id, by, counts)
    return RedriveAnswer(
        id=record_id,
        state="redriven",
        message=f"handed back ({counts}); the record moved to "
        f"{letter_path(record_id, redriven=True)}",
        redrive=redrive,
    )
