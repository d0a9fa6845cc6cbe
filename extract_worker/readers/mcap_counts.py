"""Per-channel counts and log-time ranges of an MCAP file, and whether its summary agrees.

The summary can establish counts two ways: a Statistics record (trusted only when it agrees
with the rest of the summary) or message indexes on every chunk. What neither establishes is
counted by reading the chunks.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Collection

    from mcap.records import ChunkIndex, Statistics

__all__ = ["Tally", "index_channels", "indexes_complete", "statistics_disagreement"]


@dataclass
class Tally:
    """Per-channel counts and first/last log times, from one source."""

    counts: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    first: dict[int, int] = field(default_factory=dict)
    last: dict[int, int] = field(default_factory=dict)

    def add(self, channel: int, time_ns: int, n: int = 1) -> None:
        self.counts[channel] += n
        self.first[channel] = min(self.first.get(channel, time_ns), time_ns)
        self.last[channel] = max(self.last.get(channel, time_ns), time_ns)

    def merge(self, other: Tally) -> None:
        """Add ``other``'s counts and widen the time ranges by its own."""
        for channel, n in other.counts.items():
            self.add(channel, other.first[channel], n)
            self.last[channel] = max(self.last[channel], other.last[channel])


def indexes_complete(chunks: list[ChunkIndex]) -> bool:
    """True when every chunk has message indexes (a chunk without messages has none)."""
    return (
        bool(chunks)
        and all(chunk.message_index_offsets or chunk.message_index_length == 0 for chunk in chunks)
        and any(chunk.message_index_offsets for chunk in chunks)
    )


def index_channels(chunks: list[ChunkIndex]) -> set[int]:
    """Channel ids the chunk indexes' message indexes name."""
    return {c for chunk in chunks for c in chunk.message_index_offsets}


def statistics_disagreement(
    stats: Statistics, channels: Collection[int], chunks: list[ChunkIndex]
) -> str | None:
    """Why the Statistics record cannot be trusted, or None when it agrees with the summary."""
    counted = sum(stats.channel_message_counts.values())
    if counted != stats.message_count:
        return f"per-channel counts add up to {counted}, message_count is {stats.message_count}"
    if not set(stats.channel_message_counts) <= set(channels):
        return "it counts channels the summary does not list"
    if chunks:
        if stats.chunk_count != len(chunks):
            return f"chunk_count {stats.chunk_count} but {len(chunks)} chunk indexes"
        indexed = index_channels(chunks)
        counted_ids = {c for c, n in stats.channel_message_counts.items() if n}
        if indexes_complete(chunks) and indexed != counted_ids:
            return f"message indexes list channels {sorted(indexed)}, it {sorted(counted_ids)}"
        if stats.message_count and (
            stats.message_start_time != min(c.message_start_time for c in chunks)
            or stats.message_end_time != max(c.message_end_time for c in chunks)
        ):
            return "its time range differs from the chunk indexes'"
    return None
