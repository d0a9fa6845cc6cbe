"""Task kinds: one module each, all behind ``run_task``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from extract_worker.readers.base import MessageReader, TableReader

if TYPE_CHECKING:
    from collections.abc import Callable

    from extract_worker.extractors.context import TaskContext

__all__ = ["TASK_KINDS", "run_task"]

TASK_KINDS = (
    "validate",
    "metadata",
    "structured",
    "gps",
    "imu",
    "camera",
    "lidar",
    "radar",
    "can",
)


def _extractor(  # noqa: PLR0911 - one lazy import per kind
    kind: str, ctx: TaskContext
) -> Callable[[TaskContext], None] | None:
    """The function for ``kind`` on this reader's family (None: nothing of that kind here)."""
    if kind == "validate":
        from extract_worker.extractors.validate import run_validation

        return run_validation
    if kind == "metadata":
        from extract_worker.extractors.metadata import extract_metadata

        return extract_metadata
    if kind == "can":
        from extract_worker.extractors.can import extract_can

        return extract_can
    if isinstance(ctx.reader, TableReader):
        if kind == "structured":
            from extract_worker.extractors.groups import extract_groups

            return extract_groups
        return None
    if not isinstance(ctx.reader, MessageReader):
        return None
    if kind in {"structured", "gps", "imu"}:
        from extract_worker.extractors.table import extract_tables

        return extract_tables
    if kind == "camera":
        from extract_worker.extractors.camera import extract_camera

        return extract_camera
    if kind in {"lidar", "radar"}:
        from extract_worker.extractors.pointcloud import extract_pointclouds

        return extract_pointclouds
    return None


def run_task(ctx: TaskContext) -> None:
    """Run ``ctx.kind``; a kind with nothing to do in this format commits an empty manifest."""
    extractor = _extractor(ctx.kind, ctx)
    if extractor is not None:
        extractor(ctx)
