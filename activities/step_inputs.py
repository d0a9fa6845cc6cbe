"""Inputs of the prepare, run and fail activities of every change-feed step."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

__all__ = ["FailInput", "PrepareInput", "RunInput"]


class _Input(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class PrepareInput(_Input):
    source_datastream_id: str
    datastream_id: str
    instance_id: str


class RunInput(_Input):
    datastream_id: str


class FailInput(_Input):
    datastream_id: str
    reason: str
