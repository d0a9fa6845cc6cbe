"""Deterministic ids: measurement ids from content, Durable instance ids from landing prefixes."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable
from datetime import datetime

__all__ = ["MEASUREMENT_NAMESPACE", "derive_measurement_id", "instance_id_for"]

# Fixed forever: changing it would give every re-upload a new measurement id.
MEASUREMENT_NAMESPACE = uuid.UUID("6f1c1d2e-8a47-5b3c-9d0e-a7f4c2b91e35")


def derive_measurement_id(
    vehicle_id: str, recording_start: datetime, sha256s: Iterable[str]
) -> str:
    """UUIDv5 of (vehicle id, start, sorted file hashes): same content, same id."""
    start = recording_start.isoformat().replace("+00:00", "Z")
    name = "|".join([vehicle_id, start, *sorted(sha256s)])
    return str(uuid.uuid5(MEASUREMENT_NAMESPACE, name))


def instance_id_for(kind: str, key: str) -> str:
    """A valid Durable instance id (short, [a-z0-9-]) derived from any key, e.g. a landing prefix.

    Instance ids have length and character limits, and prefixes may hold any characters,
    so the id is a hash; ``kind`` keeps ids of different orchestrations apart.
    """
    digest = hashlib.sha256(f"{kind}\x00{key}".encode()).hexdigest()[:40]
    return f"{kind}-{digest}"
