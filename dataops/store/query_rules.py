"""Input rules that both store backends apply identically (limits, filter values, sort keys)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import get_args

from dataops.errors import ConflictError, InvalidInputError
from dataops.models import Datastream, Measurement
from dataops.store.protocol import MAX_LINEAGE_DEPTH, MAX_PAGE_SIZE, ChangeFeedContainer

__all__ = [
    "MAX_FILTER_LENGTH",
    "MAX_REQUESTED_LIMIT",
    "check_container",
    "check_datastream_recreate",
    "check_depth",
    "check_filter",
    "check_limit",
    "check_measurement_recreate",
    "time_key",
]

# Anything above MAX_PAGE_SIZE is capped; values this large are a caller bug, not a wish.
MAX_REQUESTED_LIMIT = 1_000_000
MAX_FILTER_LENGTH = 1024
CONTAINERS: frozenset[str] = frozenset(get_args(ChangeFeedContainer))


def check_limit(limit: object, *, field: str = "limit") -> int:
    """The page size to use: ``limit`` capped at MAX_PAGE_SIZE; InvalidInputError if absurd."""
    # bool is an int subclass; True as a page size is a bug, not 1.
    if not isinstance(limit, int) or isinstance(limit, bool):
        raise InvalidInputError(f"must be an integer, got {type(limit).__name__}", field=field)
    if limit < 1 or limit > MAX_REQUESTED_LIMIT:
        raise InvalidInputError(
            f"must be between 1 and {MAX_PAGE_SIZE} (larger values are capped), got {limit}",
            field=field,
        )
    return min(limit, MAX_PAGE_SIZE)


def check_depth(depth: object) -> int:
    """Lineage depth: 0..MAX_LINEAGE_DEPTH levels (larger values are capped)."""
    if not isinstance(depth, int) or isinstance(depth, bool) or depth < 0:
        raise InvalidInputError(f"must be a non-negative integer, got {depth!r}", field="depth")
    if depth > MAX_REQUESTED_LIMIT:
        raise InvalidInputError(f"unreasonable lineage depth {depth}", field="depth")
    return min(depth, MAX_LINEAGE_DEPTH)


def check_filter(value: str | None, *, field: str) -> str | None:
    """A filter value is only ever bound as a parameter; this just bounds its size and type."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInputError(f"must be a string, got {type(value).__name__}", field=field)
    if len(value) > MAX_FILTER_LENGTH:
        raise InvalidInputError(f"longer than {MAX_FILTER_LENGTH} characters", field=field)
    # A plain str: enum members are bound by value, whatever the driver does with subclasses.
    return str(value) if type(value) is not str else value


def check_container(container: object) -> ChangeFeedContainer:
    """The change-feed container name, checked against the allow-list."""
    if container not in CONTAINERS:
        raise InvalidInputError(
            f"unknown container {container!r}; expected one of {sorted(CONTAINERS)}",
            field="container",
        )
    return container  # type: ignore[return-value]  # narrowed by the membership test above


def time_key(value: datetime | None, *, field: str = "time") -> str | None:
    """Fixed-width UTC text that sorts like the time (ISO strings with and without
    fractions do not: '...00.5Z' < '...00Z')."""
    if value is None:
        return None
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise InvalidInputError("must be a timezone-aware datetime", field=field)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def check_measurement_recreate(stored: Measurement, new: Measurement) -> Measurement:
    """``stored`` for an idempotent re-create, else ConflictError naming both hashes."""
    if stored.same_content(new):
        return stored
    raise ConflictError(
        f"measurement {new.id} exists with content {stored.content_sha256}; "
        f"the new one has content {new.content_sha256}"
    )


def check_datastream_recreate(stored: Datastream, new: Datastream) -> Datastream:
    """Return ``stored`` when ``new`` describes the same product, else raise ConflictError."""
    differences = [
        name
        for name, old_value, new_value in (
            ("measurement_id", stored.measurement_id, new.measurement_id),
            ("type", stored.type, new.type),
            ("zone", stored.zone, new.zone),
            ("path", stored.path, new.path),
            ("sources", sorted(stored.sources), sorted(new.sources)),
        )
        if old_value != new_value
    ]
    if differences:
        raise ConflictError(f"datastream {new.id} exists with different {', '.join(differences)}")
    return stored
