"""Label import activities: validate the input dict, call ``dataops.labeling.import_steps``."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from activities.runtime import blob_zones, metadata_store
from dataops.labeling.import_events import LabelUpload
from dataops.labeling.import_steps import fail_label_import, run_label_import

__all__ = ["fail", "run"]


class RunInput(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    export_id: str
    container: str
    name: str
    etag: str
    max_bytes: int
    instance_id: str

    def upload(self) -> LabelUpload:
        return LabelUpload(
            export_id=self.export_id, container=self.container, name=self.name, etag=self.etag
        )


class FailInput(RunInput):
    reason: str


def run(params: dict[str, Any]) -> dict[str, Any]:
    """Check the label file; write its report and, when valid, its LABELED datastreams."""
    args = RunInput.model_validate(params)
    return run_label_import(
        blob_zones(),
        metadata_store(),
        args.upload(),
        max_bytes=args.max_bytes,
        instance_id=args.instance_id,
    )


def fail(params: dict[str, Any]) -> dict[str, Any]:
    """After an unexpected failure: the run's LABELED datastreams FAILED, report ``failed``."""
    args = FailInput.model_validate(params)
    return fail_label_import(
        blob_zones(),
        metadata_store(),
        args.upload(),
        reason=args.reason,
        max_bytes=args.max_bytes,
        instance_id=args.instance_id,
    )
