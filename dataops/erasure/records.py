"""The erasure's own blobs in the curated zone: the record, the pending request, tombstones.

- ``_erasure/records/<erasure id>.json``: what was erased, when, by whom and how much; no
  vehicle id, measurement id or path (the id is an HMAC, see ``identity``). Kept for good.
- ``_erasure/pending/<erasure id>.json``: the target in clear while the erasure runs, so the
  run's own history (input, activity inputs and outputs) needs only the erasure id. Deleted
  by the last step.
- ``_erasure/tombstones/<HMAC>``: one per erased vehicle and measurement. Ingest and the
  downstream steps refuse to work for a tombstoned target, so a run that starts during or
  after an erasure stops cleanly instead of writing new data.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, Field

from dataops.erasure.identity import ErasureTarget, TargetKind, target_key
from dataops.errors import NotFoundError, TerminalError
from dataops.paths import Zone, join_path
from dataops.storage import BlobZones

__all__ = [
    "ERASURE_PREFIX",
    "ErasedError",
    "ErasureRecord",
    "ErasureState",
    "PendingErasure",
    "check_not_erased",
    "delete_pending",
    "read_pending",
    "read_record",
    "write_pending",
    "write_record",
    "write_tombstones",
]

ERASURE_PREFIX = "_erasure"
RECORD_ZONE = Zone.CURATED
_MAX_BYTES = 1 << 20
_Model = TypeVar("_Model", bound=BaseModel)


class ErasedError(TerminalError):
    """The vehicle or measurement was erased: no run may register or derive data for it."""


class ErasureState(StrEnum):
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"


class ErasureRecord(BaseModel):
    """What an erasure did, without personal data."""

    model_config = ConfigDict(extra="forbid")

    erasure_id: str
    kind: TargetKind
    state: ErasureState
    instance_id: str
    requested_at: datetime
    requested_by: str = Field(description="How the caller authenticated (key or principal).")
    completed_at: datetime | None = None
    counts: dict[str, int] = Field(default_factory=dict)
    """Deleted items per zone (``blobs.raw``...), table, store document kind and state file."""
    reason: str | None = None


class PendingErasure(BaseModel):
    """The target of a running erasure, in clear: deleted when the erasure finishes."""

    model_config = ConfigDict(extra="forbid")

    kind: TargetKind
    target_id: str

    @property
    def target(self) -> ErasureTarget:
        return ErasureTarget(self.kind, self.target_id)


def _record_path(erasure_id: str) -> str:
    return join_path(ERASURE_PREFIX, "records", f"{erasure_id}.json")


def _pending_path(erasure_id: str) -> str:
    return join_path(ERASURE_PREFIX, "pending", f"{erasure_id}.json")


def _tombstone_path(key: str) -> str:
    return join_path(ERASURE_PREFIX, "tombstones", key)


def _read(zones: BlobZones, path: str, model: type[_Model]) -> _Model | None:
    try:
        value, _ = zones.read_json(RECORD_ZONE, path, max_bytes=_MAX_BYTES)
    except NotFoundError:
        return None
    return model.model_validate(value)


def read_record(zones: BlobZones, erasure_id: str) -> ErasureRecord | None:
    """The record, or None when no erasure with this id was ever started."""
    return _read(zones, _record_path(erasure_id), ErasureRecord)


def write_record(zones: BlobZones, record: ErasureRecord) -> None:
    zones.write_json(RECORD_ZONE, _record_path(record.erasure_id), record.model_dump(mode="json"))


def read_pending(zones: BlobZones, erasure_id: str) -> PendingErasure | None:
    """The running erasure's target; None once the erasure finished."""
    return _read(zones, _pending_path(erasure_id), PendingErasure)


def write_pending(zones: BlobZones, erasure_id: str, target: ErasureTarget) -> None:
    pending = PendingErasure(kind=target.kind, target_id=target.target_id)
    zones.write_json(RECORD_ZONE, _pending_path(erasure_id), pending.model_dump(mode="json"))


def delete_pending(zones: BlobZones, erasure_id: str) -> None:
    """Remove the pending request (idempotent)."""
    path = _pending_path(erasure_id)
    for info in zones.list_blobs(RECORD_ZONE, join_path(ERASURE_PREFIX, "pending")):
        if info.path == path:
            zones.delete(RECORD_ZONE, path, etag=info.etag)


def write_tombstones(zones: BlobZones, salt: str, kind: TargetKind, ids: list[str]) -> None:
    """One empty tombstone blob per id (idempotent: an existing one is overwritten)."""
    for target_id in ids:
        zones.write_bytes(RECORD_ZONE, _tombstone_path(target_key(salt, kind, target_id)), b"")


def check_not_erased(
    zones: BlobZones, salt: str, *, vehicle_id: str | None, measurement_id: str | None
) -> None:
    """ErasedError when the vehicle or the measurement has a tombstone.

    Without a salt no erasure can have run (erasure refuses to start without one).
    """
    if not salt:
        return
    for kind, target_id in (
        (TargetKind.VEHICLE, vehicle_id),
        (TargetKind.MEASUREMENT, measurement_id),
    ):
        if target_id is None:
            continue
        try:
            zones.get_info(RECORD_ZONE, _tombstone_path(target_key(salt, kind, target_id)))
        except NotFoundError:
            continue
        raise ErasedError(f"this {kind.value} was erased: no data is kept or derived for it")
