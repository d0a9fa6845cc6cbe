"""Query parameters of the explorer's pages and data routes.

The pages' filter forms submit every field, empty or not: an empty field means "no filter",
so empty strings are dropped before validation. Anything else breaks the same rules as the
Metadata API's parameters and becomes a 400 page naming the parameter.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from dataops.api.params import (
    Continuation,
    LabelCategory,
    Labeled,
    MeasurementFilters,
    ObjectClass,
    SceneType,
    _Params,
    _TimeRange,
)
from dataops.explorer.drive import MAX_FRAMES_PAGE
from dataops.models.common import VehicleId

__all__ = [
    "CatalogParams",
    "DriveFramesParams",
    "DriveParams",
    "ImageParams",
    "LabelingParams",
    "SearchParams",
]

# Frame times are int64 nanoseconds in the tables: a larger bound could not be compared to them.
_MAX_NS = 2**63 - 1
PageSize = Annotated[int, Field(ge=1, le=200, description="Rows per page, 1-200.")]
Project = Annotated[str, Field(min_length=1, max_length=128, description="Manifest project.")]


def _drop_empty(values: Any) -> Any:
    if isinstance(values, dict):
        return {name: value for name, value in values.items() if value != ""}
    return values


class CatalogParams(MeasurementFilters):
    """``GET /explorer``: the catalog's filters (AND); recordings overlapping [from, to]."""

    project: Project | None = None
    scene_type: SceneType | None = Field(
        default=None, description="Only measurements with a scene of this type."
    )
    labeled: Labeled | None = Field(
        default=None, description="`true`: only measurements with labels; `false`: without."
    )
    limit: PageSize = 50
    continuation: Continuation | None = None

    _empty = model_validator(mode="before")(_drop_empty)


class DriveParams(_Params):
    """``GET /explorer/drives/{id}``: where the time cursor starts, frames per request."""

    t: int | None = Field(
        default=None, ge=0, description="Cursor time, UNIX ns (a search result's frame time)."
    )
    frames_page: int = Field(
        default=500,
        ge=10,
        le=MAX_FRAMES_PAGE,
        description="Frames the view loads per request around its cursor.",
    )

    _empty = model_validator(mode="before")(_drop_empty)


class DriveFramesParams(_Params):
    """``GET /drives/{id}/frames``: a page of frames, from a time on."""

    limit: int = Field(
        default=MAX_FRAMES_PAGE,
        ge=1,
        le=MAX_FRAMES_PAGE,
        description=f"Frames per page, 1-{MAX_FRAMES_PAGE}.",
    )
    from_ns: int | None = Field(
        default=None,
        ge=0,
        le=_MAX_NS,
        description="Only frames at or after this time, UNIX ns.",
    )
    continuation: Continuation | None = None


class SearchParams(_TimeRange):
    """``GET /explorer/search``: frame or scene search with the API's filters."""

    kind: Literal["frames", "scenes"] = "frames"
    vehicle: VehicleId | None = None
    object: ObjectClass | None = None
    scene_type: SceneType | None = Field(
        default=None, description="Frames inside / scenes of this type."
    )
    labeled: Labeled | None = None
    label: LabelCategory | None = None
    limit: PageSize = 48
    continuation: Continuation | None = None

    _empty = model_validator(mode="before")(_drop_empty)


class ImageParams(_Params):
    """``GET /drives/{id}/frames/{frame}/image``: full frame, or a thumbnail ``width`` wide."""

    width: int | None = Field(
        default=None, ge=16, le=1920, description="Thumbnail width in pixels (never upscaled)."
    )


class LabelingParams(_Params):
    """``GET /explorer/labeling``: the exports; ``export`` also shows that one's imports."""

    export: Annotated[str, Field(pattern=r"^[0-9a-f]{32}$")] | None = Field(
        default=None, description="An export id (32 lowercase hex digits)."
    )

    _empty = model_validator(mode="before")(_drop_empty)
