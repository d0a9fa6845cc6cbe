"""What ``POST /api/label-exports`` accepts, and the export record kept next to the package.

A selection is exactly one of:

- ``{"frames": {"vehicle": ..., "object": ..., "scene_type": ..., "from": ..., "to": ...}}``:
  a frame search (the filters of ``GET /api/frames``);
- ``{"scene_type": "...", "vehicle": ..., "from": ..., "to": ...}``: every frame of that
  scene type;
- ``{"frames": [{"measurement_id": ..., "time_ns": ...}, ...]}``: explicit reference frames.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from dataops.labeling.taxonomy import CategoryName
from dataops.models.common import Identifier

__all__ = [
    "EXPORT_RECORD",
    "PLAN_BLOB",
    "Downsampling",
    "ExportRecord",
    "FrameFilter",
    "FrameRef",
    "LabelExportRequest",
    "Selection",
]

# Both in the export's package container; ``_`` names are not part of the package.
EXPORT_RECORD = "_export.json"
PLAN_BLOB = "_plan.json"

_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
SensorName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,255}$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class FrameFilter(_Strict):
    """Frame search filters (AND), as ``GET /api/frames`` takes them."""

    vehicle: Annotated[str, Field(max_length=64)] | None = None
    object: Annotated[str, Field(max_length=64)] | None = None
    scene_type: Annotated[str, Field(max_length=64)] | None = None
    time_from: datetime | None = Field(default=None, alias="from")
    time_to: datetime | None = Field(default=None, alias="to")


class FrameRef(_Strict):
    """One reference frame of the frame index, by measurement and exact frame time."""

    measurement_id: Identifier
    time_ns: Annotated[int, Field(ge=0)]


class Selection(_Strict):
    """Exactly one of: ``frames`` (filters or a list) or ``scene_type``."""

    frames: FrameFilter | Annotated[list[FrameRef], Field(min_length=1)] | None = None
    scene_type: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    vehicle: Annotated[str, Field(max_length=64)] | None = None
    time_from: datetime | None = Field(default=None, alias="from")
    time_to: datetime | None = Field(default=None, alias="to")

    @model_validator(mode="after")
    def _one_kind(self) -> Self:
        if (self.frames is None) == (self.scene_type is None):
            raise ValueError("give exactly one of 'frames' and 'scene_type'")
        if self.frames is not None and (
            self.vehicle is not None or self.time_from is not None or self.time_to is not None
        ):
            raise ValueError("'vehicle', 'from' and 'to' go inside 'frames' for a frame search")
        return self

    def as_filter(self) -> FrameFilter | None:
        """The frame search this selection is (None for an explicit frame list)."""
        if isinstance(self.frames, FrameFilter):
            return self.frames
        if self.scene_type is not None:
            return FrameFilter.model_validate(
                {
                    "vehicle": self.vehicle,
                    "scene_type": self.scene_type,
                    "from": self.time_from,
                    "to": self.time_to,
                }
            )
        return None


class Downsampling(_Strict):
    """Per measurement, in time order: keep every n-th selected frame, at least this far apart."""

    every_nth: Annotated[int, Field(ge=1, le=1_000_000)] = 1
    min_interval_ms: Annotated[int, Field(ge=0, le=86_400_000)] = 0


class LabelExportRequest(_Strict):
    """Body of ``POST /api/label-exports``."""

    selection: Selection
    sensors: Annotated[list[SensorName], Field(min_length=1, max_length=32)] = Field(
        description="Camera names (and lidar names with include_point_clouds): a frame index "
        "sensor key, or its last segment (e.g. 'camera_front_image_raw_compressed')."
    )
    downsampling: Downsampling = Downsampling()
    partner_id: Annotated[str, Field(pattern=_NAME)]
    include_point_clouds: bool = False
    expires_in_hours: Annotated[int, Field(ge=1)] | None = Field(
        default=None, description="SAS lifetime; default and cap are settings."
    )
    categories: Annotated[list[CategoryName], Field(min_length=1, max_length=1000)] | None = Field(
        default=None,
        description="Object categories partners label (COCO categories, OpenLABEL "
        "ontology). Default: config/labeling-taxonomy.json. Pre-label classes are added.",
    )

    @model_validator(mode="after")
    def _unique_categories(self) -> Self:
        if self.categories is not None and len(set(self.categories)) != len(self.categories):
            raise ValueError("'categories' lists a category twice")
        return self


class ExportRecord(_Strict):
    """``_export.json`` in the package container: the request, expiry and revocation.

    It lives where the partner can read (package container, read SAS) but never write, and
    holds no secret: the SAS are derived again on every ``GET``.
    """

    format_version: Literal[1] = 1
    export_id: str
    partner_id: str
    instance_id: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None = None
    request: LabelExportRequest
