"""Label import activities: typed input -> ``dataops.labeling.importing.steps``."""

from __future__ import annotations

from typing import Any

from activities.runtime import blob_zones, metadata_store
from activities.serving import served
from dataops.activity_contracts import labeling as contracts
from dataops.labeling.importing.events import LabelUpload
from dataops.labeling.importing.steps import fail_label_import, run_label_import

__all__ = ["fail", "run"]


def _upload(args: contracts.ImportRunInput) -> LabelUpload:
    return LabelUpload(
        export_id=args.export_id, container=args.container, name=args.name, etag=args.etag
    )


@served(contracts.IMPORT_RUN)
def run(args: contracts.ImportRunInput) -> dict[str, Any]:
    """Check the label file; write its report and, when valid, its LABELED datastreams."""
    return run_label_import(
        blob_zones(),
        metadata_store(),
        _upload(args),
        max_bytes=args.max_bytes,
        instance_id=args.instance_id,
    )


@served(contracts.IMPORT_FAIL)
def fail(args: contracts.ImportFailInput) -> dict[str, Any]:
    """After an unexpected failure: the run's LABELED datastreams FAILED, report ``failed``."""
    return fail_label_import(
        blob_zones(),
        metadata_store(),
        _upload(args),
        reason=args.reason,
        max_bytes=args.max_bytes,
        instance_id=args.instance_id,
    )
