"""Contracts of the ``clip`` orchestration's activities."""

from __future__ import annotations

from pydantic import Field

from dataops.activity_contracts.base import ActivityContract, ActivityInput, ActivityOutput

__all__ = ["CLIP_FAIL", "CLIP_WRITE", "ClipFailInput", "ClipInput", "ClipOutput"]


class ClipInput(ActivityInput):
    datastream_id: str


class ClipFailInput(ClipInput):
    reason: str


class ClipOutput(ActivityOutput):
    datastream_id: str
    measurement_id: str
    path: str
    bytes: int
    messages: int
    topics: dict[str, int] = Field(default_factory=dict)
    skipped: dict[str, str] = Field(default_factory=dict)
    url: str
    foxglove_url: str
    expires_at: str


CLIP_WRITE = ActivityContract("clip_write", ClipInput, ClipOutput, cpu_bound=True)
CLIP_FAIL = ActivityContract("clip_fail", ClipFailInput, ActivityOutput)
