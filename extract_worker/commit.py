"""Staging, manifest and commit of one task's output.

A task writes everything under ``<output>/_staging/<kind>.<run id>/``; the commit writes
``_manifest.json`` and ``_SUCCESS`` there, then renames the directory to ``<output>/<kind>``
in one atomic step. A crash leaves only a staging directory (removed by the next run); a
rerun of a committed task finds ``_SUCCESS`` and does nothing.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from dataops.paths import slug
from extract_worker import __version__

__all__ = [
    "MANIFEST_NAME",
    "STAGING_DIR",
    "SUCCESS_NAME",
    "OutputFile",
    "TaskOutput",
    "clean_stale_staging",
    "code_version",
    "is_committed",
    "topic_slug",
]

MANIFEST_NAME = "_manifest.json"
SUCCESS_NAME = "_SUCCESS"
STAGING_DIR = "_staging"


def code_version() -> str:
    """Package version plus the image's build revision when the Dockerfile set one."""
    revision = os.environ.get("EXTRACT_WORKER_REVISION", "")
    return f"{__version__}+{revision}" if revision else __version__


def topic_slug(name: str) -> str:
    """A path segment for a topic or channel group name (``/a/b`` -> ``a_b``)."""
    return slug(name)


def is_committed(output: Path, kind: str) -> bool:
    """True if ``<output>/<kind>`` was committed by an earlier run."""
    return (output / kind / SUCCESS_NAME).is_file()


@dataclass
class OutputFile:
    """One file a task produced, as listed in the manifest."""

    path: str
    stream: str
    sensor: str
    rows: int
    bytes: int = 0
    start_ns: int | None = None
    end_ns: int | None = None
    downsampling: dict[str, Any] | None = None


@dataclass
class TaskOutput:
    """The staging directory of one task run and the manifest it accumulates."""

    output: Path
    kind: str
    input_path: str
    input_format: str
    ids: dict[str, str] = field(default_factory=dict)
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    files: list[OutputFile] = field(default_factory=list)
    errors: list[dict[str, str]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.staging = self.output / STAGING_DIR / f"{self.kind}.{self.run_id}"
        self.staging.mkdir(parents=True, exist_ok=False)
        self._started = time.time()

    def directory(self, stream: str) -> Path:
        """The staging directory for one stream: ``<kind>/<stream-slug>/``."""
        path = self.staging / topic_slug(stream)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def add(self, item: OutputFile) -> None:
        """Record a finished file; its size is read from the staged file unless given."""
        if not item.bytes:
            item.bytes = (self.staging / item.path).stat().st_size
        self.files.append(item)

    def add_summary(
        self,
        name: str,
        body: dict[str, Any],
        *,
        sensor: str,
        rows: int,
        start_ns: int | None,
        end_ns: int | None,
    ) -> None:
        """Stage ``body`` as ``<name>.json`` (a file of every stream, ``*``) and carry it in the
        manifest under ``name`` too."""
        (self.staging / f"{name}.json").write_text(json.dumps(body, indent=2) + "\n")
        self.extra[name] = body
        self.add(
            OutputFile(
                path=f"{name}.json",
                stream="*",
                sensor=sensor,
                rows=rows,
                start_ns=start_ns,
                end_ns=end_ns,
            )
        )

    def manifest(self) -> dict[str, Any]:
        """The manifest as a JSON-able dict."""
        starts = [f.start_ns for f in self.files if f.start_ns is not None]
        ends = [f.end_ns for f in self.files if f.end_ns is not None]
        return {
            "task": self.kind,
            "run_id": self.run_id,
            "code_version": code_version(),
            "input": {"path": self.input_path, "format": self.input_format},
            "ids": self.ids,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "seconds": round(time.time() - self._started, 3),
            "files": [asdict(f) for f in self.files],
            "file_count": len(self.files),
            "rows": sum(f.rows for f in self.files),
            "bytes": sum(f.bytes for f in self.files),
            "time_range": {
                "start_ns": min(starts) if starts else None,
                "end_ns": max(ends) if ends else None,
            },
            "errors": self.errors,
            **self.extra,
        }

    def commit(self) -> dict[str, Any]:
        """Write manifest and marker, then move the staging directory into place atomically."""
        manifest = self.manifest()
        (self.staging / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2) + "\n")
        (self.staging / SUCCESS_NAME).write_text(self.run_id + "\n")
        final = self.output / self.kind
        if final.exists():
            # Left by a run that crashed after a commit was undone, or a --force rerun:
            # move it aside first so the rename below stays one atomic step.
            aside = self.output / STAGING_DIR / f"{self.kind}.{self.run_id}.old"
            final.rename(aside)
            self.staging.replace(final)
            shutil.rmtree(aside, ignore_errors=True)
        else:
            self.staging.replace(final)
        _remove_if_empty(self.output / STAGING_DIR)
        return manifest

    def abort(self) -> None:
        """Remove the staging directory: nothing of a failed run stays behind."""
        shutil.rmtree(self.staging, ignore_errors=True)
        _remove_if_empty(self.output / STAGING_DIR)


def clean_stale_staging(output: Path, kind: str) -> None:
    """Remove staging directories of earlier crashed runs of ``kind``."""
    staging = output / STAGING_DIR
    if staging.is_dir():
        for stale in staging.glob(f"{kind}.*"):
            shutil.rmtree(stale, ignore_errors=True)


def _remove_if_empty(path: Path) -> None:
    try:
        path.rmdir()
    except OSError:
        return
