"""Input rules that both store backends apply identically (limits, filter values, sort keys)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import get_args

from dataops.errors import ConflictError, InvalidInputError
from dataops.models import Datastream, Measurement
from dataops.store.continuation import Keyset, fingerprint
from dataops.store.protocol import (
    MAX_LINEAGE_DEPTH,
    MAX_PAGE_SIZE,
    ChangeFeedContainer,
    MeasurementQuery,
    SceneQuery,
)

__all__ = [
    "MAX_FILTER_LENGTH",
    "MAX_REQUESTED_LIMIT",
    "CheckedListing",
    "checked_files_listing",
    "checked_measurement_files_listing",
    "checked_measurement_query",
    "checked_scene_query",
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


@dataclass(frozen=True)
class CheckedListing:
    """A listing's filters, checked the same way for both backends, by name (None: unset).

    ``kind`` and the fingerprint of ``filters`` (in their order) tie a continuation token to
    this listing; each backend maps every filter name to its own condition.
    """

    kind: str
    limit: int
    filters: dict[str, str | None]
    continuation: str | None

    def keyset(self, columns: tuple[str, ...], *, descending: bool = False) -> Keyset:
        """This listing's pagination over the sort key ``columns`` (backend spelling)."""
        return Keyset(self.kind, fingerprint(*self.filters.values()), columns, descending)

    def set_filters(self) -> list[tuple[str, str]]:
        """The filters that are set, as (name, value), in order."""
        return [(name, value) for name, value in self.filters.items() if value is not None]


def checked_measurement_query(query: MeasurementQuery) -> CheckedListing:
    """Measurements: by vehicle, tag, state, and recordings overlapping [from, to]."""
    return _checked(
        "measurements",
        query.limit,
        {"vehicle_id": query.vehicle_id, "tag": query.tag, "state": query.state},
        {"recorded_from": query.recorded_from, "recorded_to": query.recorded_to},
        query.continuation,
    )


def checked_scene_query(query: SceneQuery) -> CheckedListing:
    """Scenes: by type, vehicle, measurement, and start in [from, to]."""
    return _checked(
        "scenes",
        query.limit,
        {
            "type": query.type,
            "vehicle_id": query.vehicle_id,
            "measurement_id": query.measurement_id,
        },
        {"start_from": query.start_from, "start_to": query.start_to},
        query.continuation,
    )


def _checked(
    kind: str,
    limit: object,
    values: dict[str, str | None],
    times: dict[str, datetime | None],
    continuation: str | None,
) -> CheckedListing:
    """The limit, then each value filter, then each time bound checked, in this order."""
    checked_limit = check_limit(limit)
    filters = {name: check_filter(value, field=name) for name, value in values.items()}
    filters.update({name: time_key(value, field=name) for name, value in times.items()})
    return CheckedListing(kind, checked_limit, filters, continuation)


def checked_files_listing(
    datastream_id: str, limit: object, continuation: str | None
) -> CheckedListing:
    """The file records of one datastream."""
    return _checked("files", limit, {"datastream_id": datastream_id}, {}, continuation)


def checked_measurement_files_listing(
    measurement_id: str, limit: object, continuation: str | None
) -> CheckedListing:
    """The manifest's file records of one measurement."""
    return _checked(
        "measurement_files", limit, {"measurement_id": measurement_id}, {}, continuation
    )
