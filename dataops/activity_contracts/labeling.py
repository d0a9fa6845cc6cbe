"""Contracts of the ``label_export`` and ``label_import`` orchestrations' activities."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from dataops.activity_contracts.base import ActivityContract, ActivityInput, ActivityOutput

__all__ = [
    "EXPORT_COPY",
    "EXPORT_FAIL",
    "EXPORT_FINISH",
    "EXPORT_PLAN",
    "IMPORT_FAIL",
    "IMPORT_RUN",
    "CopyOutput",
    "ExportCopyInput",
    "ExportFailInput",
    "ExportInput",
    "ExportPlanInput",
    "ImportFailInput",
    "ImportOutput",
    "ImportRunInput",
    "PlanOutput",
]


class ExportInput(ActivityInput):
    export_id: Annotated[str, Field(pattern=r"^[0-9a-f]{32}$")]


class ExportPlanInput(ExportInput):
    instance_id: str


class PlanOutput(ActivityOutput):
    items: int
    frames: int


class ExportCopyInput(ExportInput):
    first: Annotated[int, Field(ge=0)]
    last: Annotated[int, Field(ge=0)]


class CopyOutput(ActivityOutput):
    copied: int


class ExportFailInput(ExportInput):
    reason: str


class ImportRunInput(ActivityInput):
    export_id: str
    container: str
    name: str
    etag: str
    max_bytes: int
    instance_id: str


class ImportOutput(ActivityOutput):
    status: str | None = None
    error_count: int = 0
    datastream_ids: list[str] = Field(default_factory=list)


class ImportFailInput(ImportRunInput):
    reason: str


EXPORT_PLAN = ActivityContract("label_export_plan", ExportPlanInput, PlanOutput)
EXPORT_COPY = ActivityContract("label_export_copy", ExportCopyInput, CopyOutput)
EXPORT_FINISH = ActivityContract("label_export_finish", ExportInput, ActivityOutput)
EXPORT_FAIL = ActivityContract("label_export_fail", ExportFailInput, ActivityOutput)
IMPORT_RUN = ActivityContract("label_import_run", ImportRunInput, ImportOutput, cpu_bound=True)
IMPORT_FAIL = ActivityContract("label_import_fail", ImportFailInput, ActivityOutput)
