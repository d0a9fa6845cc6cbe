"""The one reader interface every format implements.

Two families share it: message recordings (ROS 1, ROS 2, MCAP) yield raw messages per topic
and decode them on demand; table recordings (MDF, TDMS) yield Arrow record batches per
channel group. Both describe themselves with the same :class:`StreamInfo`.
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Self

from dataops.lifecycle import ClosedOnExit

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    import pyarrow as pa

    from extract_worker.config import ExtractConfig

__all__ = [
    "CanFrames",
    "MessageReader",
    "RecordingReader",
    "StreamInfo",
    "TableReader",
    "ValidationReport",
]


@dataclass(frozen=True)
class StreamInfo:
    """One topic (message recordings) or channel group (table recordings)."""

    name: str
    msgtype: str
    count: int
    start_ns: int | None = None
    end_ns: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class ValidationReport:
    """What ``validate`` checked; a failed check raises instead of landing here."""

    format: str
    checks: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class CanFrames:
    """A batch of raw CAN frames: parallel columns, one row per frame."""

    time_ns: Any  # numpy int64
    bus: Any  # numpy int32 (bus channel; 0 when unknown)
    arbitration_id: Any  # numpy uint32
    is_extended: Any  # numpy bool
    dlc: Any  # numpy uint8
    data: list[bytes]


class RecordingReader(ClosedOnExit):
    """Opens one recording; a context manager that closes what it opened on any failure."""

    format: str = ""

    def __init__(self, path: Path, config: ExtractConfig) -> None:
        self.path = path
        self.config = config
        # What reading had to work around (reported as warnings by metadata and validate).
        self.notes: list[str] = []

    @abstractmethod
    def open(self) -> None:
        """Open the recording and read its index; raise BadInputError on bad input."""

    @abstractmethod
    def close(self) -> None:
        """Release every handle; safe to call after a failed open."""

    @abstractmethod
    def streams(self) -> list[StreamInfo]:
        """Topics or channel groups with type and count."""

    @abstractmethod
    def time_range(self) -> tuple[int | None, int | None]:
        """Start and end of the recording in ns since the epoch (None if it has no data)."""

    @abstractmethod
    def validate(self) -> ValidationReport:
        """Read the whole file's structure (indexes, CRCs, segments); raise on damage."""

    def __enter__(self) -> Self:
        """Open; close again if opening fails half-way."""
        try:
            self.open()
        except BaseException:
            self.close()
            raise
        return self


class MessageReader(RecordingReader):
    """A recording of serialized messages on topics."""

    @abstractmethod
    def messages(self, topics: list[str]) -> Iterator[tuple[str, int, bytes]]:
        """Yield ``(topic, log time ns, raw bytes)`` in time order, reading only those topics."""

    def topic_names(self) -> list[str]:
        """Every topic the recording lists, sorted; readers that can skip counting override."""
        return sorted(s.name for s in self.streams())

    @abstractmethod
    def decoder(self, topic: str) -> Callable[[bytes], Any]:
        """A function decoding raw messages of ``topic``; UnknownTypeError if it has none."""

    @abstractmethod
    def type_fields(self, msgtype: str) -> list[tuple[str, Any]]:
        """The field definitions (rosbags ``fielddefs`` form) of a resolved message type."""

    @abstractmethod
    def msgtype_of(self, topic: str) -> str:
        """The message type of ``topic``."""

    def unknown_types(self) -> dict[str, str]:
        """Topics whose type could not be resolved, with the reason."""
        return {}


class TableReader(RecordingReader):
    """A recording of channel groups (columns of samples over a master time channel)."""

    @abstractmethod
    def batches(self, group: str) -> Iterator[pa.RecordBatch]:
        """Yield the group's rows in bounded-size batches; schema metadata carries units."""

    def all_batches(self) -> Iterator[tuple[str, pa.RecordBatch]]:
        """Every group's batches; formats that interleave groups override this with one pass."""
        for stream in self.streams():
            for batch in self.batches(stream.name):
                yield stream.name, batch

    def group_metadata(self, group: str) -> dict[str, Any]:
        """Group-level metadata for the Parquet schema (source, comments, units)."""
        return {"group": group}

    def can_frames(self, group: str) -> Iterator[CanFrames]:
        """Yield raw CAN frames of a bus-logging group (only MDF has them)."""
        raise NotImplementedError(f"{self.format} has no CAN bus logging group {group!r}")
