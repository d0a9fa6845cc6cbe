"""Field types shared by the models: UTC timestamps, hashes, vehicle ids, safe names."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, Field, StringConstraints

__all__ = ["Identifier", "Sha256", "Tag", "UtcDatetime", "VehicleId", "utc_now"]


def _to_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


UtcDatetime = Annotated[AwareDatetime, AfterValidator(_to_utc)]
"""A timezone-aware timestamp, normalised to UTC (naive timestamps are rejected)."""

VehicleId = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Z0-9-]{1,32}$"),
    Field(description="Vehicle id (VIN or fleet id): 1-32 characters of A-Z, 0-9 and '-'."),
]

Identifier = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"),
    Field(description="An id usable as a path segment: letters, digits, '.', '_', '-'."),
]

Sha256 = Annotated[
    str,
    StringConstraints(pattern=r"^[0-9a-f]{64}$"),
    Field(description="Lower-case hex SHA-256 of the file's bytes."),
]

Tag = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9 ._:=/-]{0,63}$")]


def utc_now() -> datetime:
    """Current time in UTC (the only clock the models read)."""
    return datetime.now(UTC)
