"""What every extractor gets: the open reader, the staging output, the config and the filter."""

from __future__ import annotations

from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from extract_worker.commit import TaskOutput
    from extract_worker.config import ExtractConfig
    from extract_worker.readers.base import RecordingReader, StreamInfo

__all__ = ["TaskContext"]


@dataclass
class TaskContext:
    """One task run."""

    kind: str
    reader: RecordingReader
    output: TaskOutput
    config: ExtractConfig
    topics: list[str] = field(default_factory=list)

    def requested(self, name: str) -> bool:
        """True if ``--topics`` is empty or one of its globs matches ``name``."""
        return not self.topics or any(fnmatchcase(name, p) for p in self.topics)

    def explicitly_requested(self, name: str) -> bool:
        """True if ``--topics`` names ``name`` exactly (then its failure fails the task)."""
        return name in self.topics

    def selected(self, streams: list[StreamInfo]) -> list[StreamInfo]:
        """The streams this task kind takes, after the config's selections and ``--topics``."""
        return [
            s
            for s in streams
            if self.requested(s.name) and self.config.kind_of(s.name, s.msgtype) == self.kind
        ]
