"""Query parameter models: parse and bound every input before it reaches the store.

Each model lists one route's parameters (by their wire names) and is also what the OpenAPI
parameters are generated from. Values arrive as strings; pydantic converts them. Anything that
breaks a rule becomes a 400 problem naming the parameter. Unknown parameters are refused too, so
a misspelt filter (``vehical=``) cannot silently widen a search.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, Self, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

from dataops.api.auth import KEY_PARAM
from dataops.api.problems import ApiError
from dataops.frames.search import FrameQuery
from dataops.models import DatastreamType, MeasurementState
from dataops.models.common import Identifier, Tag, UtcDatetime, VehicleId
from dataops.scenes.search import SceneTableQuery
from dataops.store import MeasurementQuery
from dataops.store.continuation import MAX_TOKEN_LENGTH
from dataops.store.protocol import MAX_LINEAGE_DEPTH, MAX_PAGE_SIZE, LineageDirection

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "DatastreamListParams",
    "DeadLetterListParams",
    "FileListParams",
    "MeasurementFilters",
    "FrameSearchParams",
    "LineageParams",
    "LocationParams",
    "MeasurementSearch",
    "NoParams",
    "SceneSearch",
    "check_id",
    "parse_params",
]

DEFAULT_PAGE_SIZE = 100

Limit = Annotated[
    int,
    Field(
        ge=1,
        le=MAX_PAGE_SIZE,
        description=f"Page size, 1-{MAX_PAGE_SIZE} (the cap: larger values are a 400).",
    ),
]
Continuation = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_TOKEN_LENGTH, pattern=r"^[A-Za-z0-9_-]+$"),
    Field(description="The `continuation` of the previous page, unchanged."),
]
SceneType = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
BlobPath = Annotated[
    str,
    StringConstraints(min_length=1, max_length=1024),
    Field(description="A file path inside the datastream (relative POSIX path); omit for all."),
]

P = TypeVar("P", bound=BaseModel)

_ISO_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")


def _iso_only(value: object) -> object:
    # pydantic also reads "1700000000" as a Unix time; a query should say what it means.
    if isinstance(value, str) and not _ISO_DATETIME.match(value):
        raise ValueError("expected an ISO 8601 date-time with a time zone")
    return value


def _four_digit_year(value: datetime) -> datetime:
    # Stores compare times as fixed-width text; years before 1000 would not sort as times.
    if value.year < 1000:
        raise ValueError("year must be 1000 or later")
    return value


QueryTime = Annotated[
    UtcDatetime,
    BeforeValidator(_iso_only),
    AfterValidator(_four_digit_year),
    Field(description="ISO 8601 date-time with a time zone."),
]


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=False)


class _TimeRange(_Params):
    recorded_from: QueryTime | None = Field(default=None, alias="from")
    recorded_to: QueryTime | None = Field(default=None, alias="to")

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.recorded_from and self.recorded_to and self.recorded_to < self.recorded_from:
            raise ValueError("'to' is before 'from'")
        return self


# Query parameter -> search query field, where the API's short name differs.
_QUERY_FIELD = {"vehicle": "vehicle_id", "measurement": "measurement_id"}


def _query_fields(params: _Params, **renamed: str) -> dict[str, Any]:
    """Every parameter's value under its search query field name (``renamed`` first)."""
    names = _QUERY_FIELD | renamed
    return {names.get(name, name): getattr(params, name) for name in type(params).model_fields}


class NoParams(_Params):
    """A route without query parameters."""


class MeasurementFilters(_TimeRange):
    """The measurement filters the store applies (the API's search and the explorer's catalog)."""

    vehicle: VehicleId | None = None
    tag: Tag | None = None

    def store_query(
        self, *, limit: int, continuation: str | None, state: MeasurementState | None = None
    ) -> MeasurementQuery:
        """One store page of these filters: ``limit`` rows after ``continuation``."""
        return MeasurementQuery(
            vehicle_id=self.vehicle,
            recorded_from=self.recorded_from,
            recorded_to=self.recorded_to,
            tag=self.tag,
            state=state,
            limit=limit,
            continuation=continuation,
        )


class MeasurementSearch(MeasurementFilters):
    """``GET /measurements``: recordings that overlap [from, to], newest first."""

    state: MeasurementState | None = None
    limit: Limit = DEFAULT_PAGE_SIZE
    continuation: Continuation | None = None


def _true_or_false(value: object) -> object:
    # Only the two words: "0", "yes" or "on" would be guesses about what the caller meant.
    if isinstance(value, str) and value not in ("true", "false"):
        raise ValueError("expected true or false")
    return value


Labeled = Annotated[bool, BeforeValidator(_true_or_false)]
LabelCategory = Annotated[
    str,
    StringConstraints(
        min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:/-]+( [A-Za-z0-9_.:/-]+)*$"
    ),
]


class SceneSearch(_TimeRange):
    """``GET /scenes``: scenes whose start lies in [from, to], by start time."""

    type: SceneType | None = Field(default=None, description="Scene type, e.g. `pedestrian`.")
    vehicle: VehicleId | None = None
    measurement: Identifier | None = None
    labeled: Labeled | None = Field(
        default=None,
        description="`true`: only scenes with a label inside [start, end]; `false`: only "
        "scenes without.",
    )
    label: LabelCategory | None = Field(
        default=None, description="Only scenes with a label of this category inside them."
    )
    limit: Limit = DEFAULT_PAGE_SIZE
    continuation: Continuation | None = None

    def table_query(self) -> SceneTableQuery:
        """The scenes table query of these parameters (the time window bounds the start)."""
        return SceneTableQuery(
            **_query_fields(self, recorded_from="start_from", recorded_to="start_to")
        )


ObjectClass = Annotated[
    str,
    StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$"),
    Field(description="Object class seen in the frame, e.g. `pedestrian`."),
]


class FrameSearchParams(_TimeRange):
    """``GET /frames``: reference frames whose time lies in [from, to], by time."""

    vehicle: VehicleId | None = None
    object: ObjectClass | None = None
    scene_type: SceneType | None = Field(
        default=None, description="Only frames inside a scene of this type."
    )
    labeled: Labeled | None = Field(
        default=None,
        description="`true`: only frames with at least one label; `false`: only frames without.",
    )
    label: LabelCategory | None = Field(
        default=None, description="Only frames with a label of this category, e.g. `pedestrian`."
    )
    limit: Limit = DEFAULT_PAGE_SIZE
    continuation: Continuation | None = None

    def frame_query(self) -> FrameQuery:
        """The frame index query of these parameters."""
        return FrameQuery(
            **_query_fields(
                self, object="object_class", recorded_from="time_from", recorded_to="time_to"
            )
        )


class FileListParams(_Params):
    """``GET /datastreams/{id}/files`` and ``GET /measurements/{id}/files``."""

    limit: Limit = DEFAULT_PAGE_SIZE
    continuation: Continuation | None = None


class LineageParams(_Params):
    """``GET /datastreams/{id}/lineage``."""

    direction: LineageDirection = Field(
        default=LineageDirection.BOTH, description="`up` (sources), `down` (consumers), `both`."
    )
    depth: int = Field(
        default=8, ge=0, le=MAX_LINEAGE_DEPTH, description="Levels to walk from the datastream."
    )


class EraseParams(_Params):
    """``POST /vehicles/{vehicle_id}/erase``, ``POST /measurements/{id}/erase``."""

    dry_run: bool = Field(
        default=False, description="List everything the erasure would delete; delete nothing."
    )


class DeadLetterListParams(_Params):
    """``GET /deadletters``: the change feed's dead letters, newest first."""

    function: Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")] | None = (
        Field(default=None, description="Only the records of this consumer function.")
    )
    measurement: Identifier | None = Field(
        default=None, description="Only records naming a document of this measurement."
    )
    redriven: Labeled = Field(
        default=False,
        description="`true`: the records already handed back (with who, when and the outcome) "
        "instead of the pending ones.",
    )
    limit: Limit = DEFAULT_PAGE_SIZE
    continuation: Continuation | None = None


class LocationParams(_Params):
    """``GET /locations``."""

    datastream: Identifier
    path: BlobPath | None = None
    sas: bool = Field(default=False, description="Also return a short-lived read-only SAS.")


def _parameter_name(model: type[BaseModel], error_loc: tuple[int | str, ...]) -> str | None:
    if not error_loc:
        return None
    name = str(error_loc[0])
    field = model.model_fields.get(name)
    return field.alias if field is not None and field.alias else name


def parse_params(model: type[P], params: Mapping[str, str]) -> P:
    """Validate query ``params`` into ``model``; ApiError 400 naming the first bad parameter."""
    values = {name: value for name, value in params.items() if name != KEY_PARAM}
    try:
        return model.model_validate(values)
    except ValidationError as err:
        first = err.errors(include_url=False, include_input=False)[0]
        parameter = _parameter_name(model, tuple(first["loc"]))
        if first["type"] == "extra_forbidden":
            raise ApiError(400, "unknown query parameter", parameter=parameter) from None
        where = f"{parameter}: " if parameter else ""
        raise ApiError(400, f"{where}{first['msg']}", parameter=parameter) from None


class _IdCheck(BaseModel):
    id: Identifier


def check_id(value: str, *, parameter: str = "id") -> str:
    """A path id must look like one of ours (so no odd text reaches a query, even bound)."""
    try:
        return _IdCheck(id=value).id
    except ValidationError:
        raise ApiError(
            400, "not a valid id (letters, digits, '.', '_', '-'; at most 128)", parameter=parameter
        ) from None


class DatastreamListParams(_Params):
    """``GET /measurements/{id}/datastreams``."""

    type: DatastreamType | None = Field(default=None, description="Only datastreams of this type.")
