"""The clip, erasure, label-export and label-import orchestrators' failure path.

When their work activity fails for good, each one records ``stage: failed`` with the reason in
its custom status, calls its fail activity with that reason (so the record says FAILED), and
then raises its own error so the Durable instance ends Failed too.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any, cast

import pytest

from orchestrators.clip import ClipFailedError, clip_orchestrator
from orchestrators.erase import ErasureFailedError, erase_orchestrator
from orchestrators.label_export import LabelExportFailedError, label_export_orchestrator
from orchestrators.label_import import LabelImportFailedError, label_import_orchestrator
from tests.orchestration_context import RecordingContext

# A terminal failure of an activity as the Durable host reports it: no retry, straight to fail.
TERMINAL = RuntimeError("[avops-error terminal ValueError] bad window\nsecond line")
REASON = "ValueError: bad window"

IMPORT_ARGS = {
    "export_id": "exp-1",
    "container": "share",
    "name": "exp-1/labels.json",
    "etag": "etag-1",
    "max_bytes": 1000,
}


def _fail_after_first_call(
    orchestrator: Callable[[Any], Generator[Any, Any, Any]], params: dict[str, Any]
) -> tuple[RecordingContext, Generator[Any, Any, Any], Any]:
    """Start ``orchestrator``, fail its first activity; the call it makes next."""
    context = RecordingContext(params, instance_id="instance-1")
    run = orchestrator(cast(Any, context))
    next(run)
    return context, run, run.throw(TERMINAL)


def test_clip_failure_marks_the_datastream_failed_then_fails_the_instance() -> None:
    """A failed clip write: status failed with the reason, clip_fail called, ClipFailedError."""
    context, run, fail_call = _fail_after_first_call(clip_orchestrator, {"datastream_id": "ds-1"})
    assert fail_call == ("clip_fail", {"datastream_id": "ds-1", "reason": REASON})
    assert context.statuses[-1] == {"stage": "failed", "datastream_id": "ds-1", "reason": REASON}
    with pytest.raises(ClipFailedError, match=f"^clip failed: {REASON}$"):
        run.send({})


def test_erasure_failure_marks_the_record_failed_then_fails_the_instance() -> None:
    """A failed deletion step: status failed with the reason, erase_fail called."""
    context, run, fail_call = _fail_after_first_call(erase_orchestrator, {"erasure_id": "er-1"})
    assert fail_call == ("erase_fail", {"erasure_id": "er-1", "reason": REASON})
    assert context.statuses[-1] == {"stage": "failed", "reason": REASON}
    with pytest.raises(ErasureFailedError, match=f"^erasure failed: {REASON}$"):
        run.send({})


def test_label_import_failure_reports_it_then_fails_the_instance() -> None:
    """A failed import check: status keeps the export and file, import_fail gets the reason."""
    context, run, fail_call = _fail_after_first_call(label_import_orchestrator, IMPORT_ARGS)
    name, payload = fail_call
    assert name == "label_import_fail"
    assert payload == {**IMPORT_ARGS, "instance_id": "instance-1", "reason": REASON}
    assert context.statuses[-1] == {
        "stage": "failed",
        "export_id": "exp-1",
        "file": "exp-1/labels.json",
        "reason": REASON,
    }
    with pytest.raises(LabelImportFailedError, match=f"^label import failed: {REASON}$"):
        run.send({})


def test_label_export_failure_marks_the_export_failed_then_fails_the_instance() -> None:
    """A failed plan: status keeps the export and its progress, export_fail gets the reason."""
    export_id = "0123456789abcdef" * 2
    context, run, fail_call = _fail_after_first_call(
        label_export_orchestrator, {"export_id": export_id}
    )
    assert fail_call == ("label_export_fail", {"export_id": export_id, "reason": REASON})
    assert context.statuses[-1] == {
        "stage": "failed",
        "export_id": export_id,
        "copied": 0,
        "reason": REASON,
    }
    with pytest.raises(LabelExportFailedError, match=f"^label export failed: {REASON}$"):
        run.send({})
