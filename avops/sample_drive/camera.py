"""Synthetic front-camera pictures and the pedestrian boxes drawn into them.

The picture is a pinhole projection of a flat road: sky gradient, grass, asphalt, lane markings
that move with the distance travelled and shift sideways during the lane change, and a box per
pedestrian in view. The same projection gives the detection boxes, so detections match pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from avops.sample_drive.route import LANE_WIDTH_M, Drive

__all__ = ["Box", "CameraModel", "pedestrian_boxes", "render_frame"]

CAMERA_HEIGHT_M = 1.4
PEDESTRIAN_HEIGHT_M = 1.75
PEDESTRIAN_WIDTH_M = 0.6
DASH_PERIOD_M = 12.0
# Road-frame lateral positions (left of the right-lane centre) of the lines: right edge, centre
# (dashed), left edge; and of the asphalt edges.
SOLID_LINES = (-LANE_WIDTH_M / 2, LANE_WIDTH_M * 1.5)
DASHED_LINE = LANE_WIDTH_M / 2
ROAD_EDGES = (-LANE_WIDTH_M / 2 - 0.5, LANE_WIDTH_M * 1.5 + 0.5)


@dataclass(frozen=True)
class Box:
    """A pedestrian's image box in pixels (clipped to the image)."""

    pedestrian_id: str
    u_min: float
    v_min: float
    u_max: float
    v_max: float

    @property
    def center(self) -> tuple[float, float]:
        """Box centre (u, v)."""
        return ((self.u_min + self.u_max) / 2, (self.v_min + self.v_max) / 2)


class CameraModel:
    """A 90-degree horizontal field-of-view pinhole camera with a prepared background."""

    def __init__(self, width: int, height: int) -> None:
        self.width = width
        self.height = height
        self.f = width / 2.0
        self.cx = width / 2.0
        self.horizon = round(height * 0.45)
        rows = np.arange(height, dtype=np.float64)
        below = rows - self.horizon
        # Depth of the ground seen by each row; rows at or above the horizon see the sky.
        with np.errstate(divide="ignore"):
            self.row_depth = np.where(below > 0, self.f * CAMERA_HEIGHT_M / below, np.inf)
        self.cols = np.arange(width, dtype=np.float64)[None, :]
        self.background = self._background()

    def _background(self) -> NDArray[np.uint8]:
        image = np.empty((self.height, self.width, 3), dtype=np.uint8)
        sky_t = np.linspace(0.0, 1.0, self.horizon)[:, None]
        top, bottom = np.array([70, 120, 200]), np.array([190, 215, 235])
        image[: self.horizon] = (top + (bottom - top) * sky_t)[:, None, :].astype(np.uint8)
        ground_t = np.linspace(0.0, 1.0, self.height - self.horizon)[:, None]
        far, near = np.array([90, 125, 70]), np.array([60, 100, 45])
        image[self.horizon :] = (far + (near - far) * ground_t)[:, None, :].astype(np.uint8)
        return image

    def column_of(
        self, left_m: NDArray[np.float64] | float, depth: NDArray[np.float64] | float
    ) -> NDArray[np.float64]:
        """Image column of a road-frame point ``left_m`` to the left at ``depth`` ahead."""
        return np.asarray(self.cx - self.f * np.asarray(left_m) / np.asarray(depth), np.float64)


def pedestrian_boxes(drive: Drive, t: float, camera: CameraModel) -> list[Box]:
    """Boxes of the pedestrians in view at drive time ``t`` (empty outside their windows)."""
    boxes = []
    s_now = float(drive.at(drive.distance, t))
    offset = float(drive.at(drive.lateral_offset, t))
    for ped in drive.pedestrians:
        if not ped.start <= t < ped.end:
            continue
        s_start = float(drive.at(drive.distance, ped.start))
        depth = max(s_start + ped.ahead_m - s_now, 2.0)
        left = ped.left_m + ped.walk_ms * (t - ped.start) - offset
        u = float(camera.column_of(left, depth))
        half_w = camera.f * PEDESTRIAN_WIDTH_M / 2 / depth
        v_bottom = camera.horizon + camera.f * CAMERA_HEIGHT_M / depth
        v_top = camera.horizon + camera.f * (CAMERA_HEIGHT_M - PEDESTRIAN_HEIGHT_M) / depth
        boxes.append(
            Box(
                ped.id,
                float(np.clip(u - half_w, 0, camera.width - 1)),
                float(np.clip(v_top, 0, camera.height - 1)),
                float(np.clip(u + half_w, 0, camera.width - 1)),
                float(np.clip(v_bottom, 0, camera.height - 1)),
            )
        )
    return boxes


def render_frame(
    drive: Drive, t: float, camera: CameraModel
) -> tuple[NDArray[np.uint8], list[Box]]:
    """The rgb8 picture at drive time ``t`` and the pedestrian boxes drawn into it."""
    image = camera.background.copy()
    h0 = camera.horizon + 1
    depth = camera.row_depth[h0:, None]
    offset = float(drive.at(drive.lateral_offset, t))
    travelled = float(drive.at(drive.distance, t))
    ground = image[h0:]
    cols = camera.cols
    left_edge = camera.column_of(ROAD_EDGES[1] - offset, depth)
    right_edge = camera.column_of(ROAD_EDGES[0] - offset, depth)
    ground[(cols >= left_edge) & (cols <= right_edge)] = (85, 85, 90)
    # Painted lines are 15 cm wide but never thinner than a pixel, so far dashes do not vanish.
    half_width = np.maximum(camera.f * 0.075 / depth, 0.6)
    for line in SOLID_LINES:
        ground[np.abs(cols - camera.column_of(line - offset, depth)) <= half_width] = (
            235,
            235,
            235,
        )
    dash_on = ((depth + travelled) % DASH_PERIOD_M) < DASH_PERIOD_M / 2
    dashed = np.abs(cols - camera.column_of(DASHED_LINE - offset, depth)) <= half_width
    ground[dashed & dash_on] = (235, 235, 210)
    boxes = pedestrian_boxes(drive, t, camera)
    for box in boxes:
        u0, v0, u1, v1 = (round(box.u_min), round(box.v_min), round(box.u_max), round(box.v_max))
        image[v0 : v1 + 1, u0 : u1 + 1] = (200, 60, 40)
        # A darker head third makes it read as a person rather than a traffic sign.
        image[v0 : v0 + max((v1 - v0) // 5, 1), u0 : u1 + 1] = (90, 60, 50)
    return image, boxes
