"""When a drive was recorded, read from its recordings (for uploads that come without a manifest).

Every reader knows its recording's time range (ROS bag indexes, the MCAP summary, the MDF
header plus its master channels, TDMS waveform properties), so a manifest written for a folder
takes the drive's start and end from the data instead of the files' modification times, which
are the copy time of whatever moved the files last.

Times before 2000-01-01 are taken as relative clocks (simulation time, time since boot) rather
than wall-clock time: such a recording tells nothing about the date and is skipped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from extract_worker.config import ExtractConfig
from extract_worker.errors import ExtractError
from extract_worker.readers import open_recording

if TYPE_CHECKING:
    from collections.abc import Iterable
    from pathlib import Path

__all__ = ["EARLIEST_WALL_CLOCK_NS", "RecordingSpan", "recording_span"]

# 2000-01-01T00:00:00Z: below this a timestamp is a relative clock, not a date.
EARLIEST_WALL_CLOCK_NS = 946_684_800 * 1_000_000_000


@dataclass
class RecordingSpan:
    """The union of the recordings' time ranges, and why any recording did not contribute."""

    start_ns: int | None = None
    end_ns: int | None = None
    used: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)

    @property
    def start(self) -> datetime | None:
        return _as_datetime(self.start_ns)

    @property
    def end(self) -> datetime | None:
        # Rounded up to whole microseconds, so the last message lies inside [start, end].
        return _as_datetime(None if self.end_ns is None else -(-self.end_ns // 1000) * 1000)

    def add(self, name: str, start_ns: int | None, end_ns: int | None) -> None:
        """Widen the span by one recording's range, or note why it cannot count."""
        if start_ns is None or end_ns is None:
            self.skipped[name] = "holds no timestamped data"
            return
        if start_ns < EARLIEST_WALL_CLOCK_NS:
            self.skipped[name] = "its clock is relative (before 2000-01-01), not a date"
            return
        self.start_ns = start_ns if self.start_ns is None else min(self.start_ns, start_ns)
        self.end_ns = end_ns if self.end_ns is None else max(self.end_ns, end_ns)
        self.used.append(name)


def recording_span(
    recordings: Iterable[Path], config: ExtractConfig | None = None
) -> RecordingSpan:
    """Read each recording's time range (a file, or a ROS 2 bag directory) and join them.

    A recording that cannot be opened is listed in ``skipped`` with the reader's reason; it is
    not an error here, because ingest validates every recording and records its failure.
    """
    config = config or ExtractConfig()
    span = RecordingSpan()
    for path in recordings:
        try:
            with open_recording(path, config) as reader:
                start_ns, end_ns = reader.time_range()
        except (ExtractError, OSError) as err:
            span.skipped[path.name] = str(err)
            continue
        span.add(path.name, start_ns, end_ns)
    return span


def _as_datetime(value_ns: int | None) -> datetime | None:
    if value_ns is None:
        return None
    seconds, rest_ns = divmod(value_ns, 1_000_000_000)
    return datetime.fromtimestamp(seconds, UTC).replace(microsecond=rest_ns // 1000)
