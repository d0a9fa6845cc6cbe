"""Response models of the explorer's JSON data routes (the drive view reads these)."""

from __future__ import annotations

from pydantic import BaseModel, Field

__all__ = [
    "Box",
    "DriveFrame",
    "DriveFrames",
    "DriveScene",
    "DriveScenes",
    "DriveSignals",
    "DriveTrack",
    "RoadLine",
]


class RoadLine(BaseModel):
    """One road of the drive's road network as [lat, lon] vertices."""

    road_class: str | None = None
    points: list[tuple[float, float]]


class DriveTrack(BaseModel):
    """The drive's GPS route: every row of one GPS table of the EXTRACTED datastream."""

    measurement_id: str
    sensor: str | None = Field(description="The GPS sensor (`<recording>/gps/<stream>`).")
    time_ns: list[int]
    latitude: list[float | None]
    longitude: list[float | None]
    roads: list[RoadLine] = Field(
        default_factory=list,
        description="The road network the drive was uploaded with (RAW `roads.geojson`), if any.",
    )


class DriveSignals(BaseModel):
    """Per reference frame of the SYNCHRONIZED table: time and the vehicle signals (null: none)."""

    measurement_id: str
    datastream_id: str
    time_ns: list[int]
    speed_mps: list[float | None]
    accel_long_mps2: list[float | None]
    yaw_rate_rps: list[float | None]


class DriveScene(BaseModel):
    """A scene as a band on the timeline."""

    id: str
    type: str
    start_ns: int
    end_ns: int


class DriveScenes(BaseModel):
    """Every scene of the measurement's scenes tables, by start."""

    measurement_id: str
    items: list[DriveScene]


class Box(BaseModel):
    """A box on the reference frame, in its pixels."""

    kind: str = Field(description="`detection` (perception or detector) or `label`.")
    category: str
    score: float | None = None
    x_min: float
    y_min: float
    x_max: float
    y_max: float


class DriveFrame(BaseModel):
    """One reference frame: its time and the boxes to draw on it."""

    frame: int
    time_ns: int
    has_image: bool
    boxes: list[Box]


class DriveFrames(BaseModel):
    """A page of the drive's reference frames, in time order (ties by frame number)."""

    measurement_id: str
    reference: str | None = Field(description="The reference camera sensor.")
    width: int | None = Field(default=None, description="Reference frame width in pixels.")
    height: int | None = Field(default=None, description="Reference frame height in pixels.")
    items: list[DriveFrame]
    continuation: str | None = Field(
        default=None, description="Pass as `continuation` for the next page; null: the last."
    )
