"""Running one worker task in process, as the extractor tests do."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from extract_worker.run import run_local_task

if TYPE_CHECKING:
    from pathlib import Path

    from extract_worker.config import ExtractConfig


def run(kind: str, src: Path, out: Path, config: ExtractConfig) -> dict[str, Any]:
    """Task ``kind`` on the recording ``src`` into ``out``; its result (the committed meta)."""
    return run_local_task(kind=kind, input_path=src, output=out, config=config)
