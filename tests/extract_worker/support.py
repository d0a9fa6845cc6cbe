"""Running one worker task in process, as the extractor tests do; recordings into Azurite."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from extract_worker.run import run_local_task

if TYPE_CHECKING:
    from pathlib import Path

    from azure.storage.blob import BlobServiceClient

    from extract_worker.config import ExtractConfig


def run(kind: str, src: Path, out: Path, config: ExtractConfig) -> dict[str, Any]:
    """Task ``kind`` on the recording ``src`` into ``out``; its result (the committed meta)."""
    return run_local_task(kind=kind, input_path=src, output=out, config=config)


def upload_to_raw(service: BlobServiceClient, local: Path, name: str) -> None:
    """A file, or every file of a directory (a ROS 2 bag), to ``raw/<name>[/<relative path>]``."""
    container = service.get_container_client("raw")
    files = [local] if local.is_file() else sorted(p for p in local.rglob("*") if p.is_file())
    for path in files:
        blob = name if local.is_file() else f"{name}/{path.relative_to(local).as_posix()}"
        with path.open("rb") as f:
            container.upload_blob(blob, f, overwrite=True)
