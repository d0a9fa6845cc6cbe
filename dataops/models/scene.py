"""Scene: a time span of a measurement in which something of interest happens."""

from __future__ import annotations

from typing import Annotated, Any, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from dataops.models.common import Identifier, UtcDatetime, VehicleId

__all__ = ["Scene"]


class Scene(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: Identifier
    measurement_id: Identifier
    datastream_id: Identifier
    vehicle_id: VehicleId
    type: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
    start: UtcDatetime
    end: UtcDatetime
    confidence: Annotated[float, Field(ge=0.0, le=1.0)] = 1.0
    attributes: dict[str, Any] = Field(default_factory=dict)
    etag: str | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.end < self.start:
            raise ValueError("scene end is before its start")
        return self
