"""``validate``: the file opens, is indexed, is not truncated, chunk CRCs hold. Runs first."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from extract_worker.extractors.context import TaskContext

__all__ = ["run_validation"]


def run_validation(ctx: TaskContext) -> None:
    """Check the whole file; a damaged one raises BadInputError and nothing is committed."""
    report = ctx.reader.validate()
    start, end = ctx.reader.time_range()
    body = {**asdict(report), "start_ns": start, "end_ns": end}
    ctx.output.add_summary(
        "validation", body, sensor=ctx.kind, rows=len(report.checks), start_ns=start, end_ns=end
    )
