"""One task kind from start to commit: open, stage, extract, commit (or abort and leave nothing)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from extract_worker.commit import (
    MANIFEST_NAME,
    TaskOutput,
    clean_stale_staging,
    is_committed,
)
from extract_worker.extractors import run_task
from extract_worker.extractors.context import TaskContext
from extract_worker.logs import log
from extract_worker.readers import open_recording

if TYPE_CHECKING:
    from pathlib import Path

    from extract_worker.config import ExtractConfig
    from extract_worker.kinds import KindOptions

__all__ = ["LocalRun", "run_local_task"]


def run_local_task(
    *,
    kind: str,
    input_path: Path,
    output: Path,
    config: ExtractConfig,
    topics: list[str] | None = None,
    ids: dict[str, str] | None = None,
    force: bool = False,
    input_label: str | None = None,
) -> dict[str, Any]:
    """Run ``kind`` on a local input into a local output and return the committed manifest.

    ``input_label`` is what the manifest names as input (the blob URL when ``input_path`` is
    its scratch copy).
    """
    import json

    if is_committed(output, kind) and not force:
        log.info("already committed, nothing to do", extra={"task": kind})
        manifest: dict[str, Any] = json.loads((output / kind / MANIFEST_NAME).read_text())
        return manifest
    output.mkdir(parents=True, exist_ok=True)
    clean_stale_staging(output, kind)
    reader = open_recording(input_path, config)
    staged = TaskOutput(
        output=output,
        kind=kind,
        input_path=input_label or str(input_path),
        input_format=reader.format,
        ids=dict(ids or {}),
    )
    try:
        with reader:
            run_task(TaskContext(kind, reader, staged, config, list(topics or [])))
        manifest = staged.commit()
    except BaseException:
        staged.abort()
        raise
    log.info(
        "committed",
        extra={
            "task": kind,
            "files": manifest["file_count"],
            "rows": manifest["rows"],
            "bytes": manifest["bytes"],
            "errors": len(manifest["errors"]),
        },
    )
    return manifest


class LocalRun:
    """Kinds on a local (or NFS) input into a local output: nothing to stage.

    A path input is read in place by every kind; the kinds of one run read it within
    seconds of each other on one node, so after the first the reads come from the page cache.
    """

    def __init__(self, *, input_path: Path, output: Path, options: KindOptions) -> None:
        self.input_path = input_path
        self.output = output
        self.options = options

    def committed(self, kind: str) -> bool:
        """True if ``<output>/<kind>`` is committed and ``--force`` was not given."""
        return not self.options.force and is_committed(self.output, kind)

    def __enter__(self) -> LocalRun:
        """Nothing to stage."""
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Nothing to remove."""

    def run(self, kind: str) -> dict[str, Any]:
        """Run and commit ``kind``."""
        return run_local_task(
            kind=kind,
            input_path=self.input_path,
            output=self.output,
            config=self.options.config,
            topics=self.options.topics,
            ids=self.options.ids,
            force=self.options.force,
        )
