"""``validate``'s agreement checks for MCAP: statistics, message indexes and chunk coverage
against what one scan of the file counted. Each returns the reason of a disagreement (the
reader turns it into bad input naming the file) or None."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mcap.records import Statistics

    from extract_worker.readers.mcap_counts import Tally

__all__ = ["chunk_coverage_problem", "index_problem", "statistics_problem"]


def statistics_problem(stats: Statistics, scanned: Tally, chunk_indexes: int) -> str | None:
    """Where the Statistics record differs from the scan (``chunk_indexes``: 0 if none)."""
    total = sum(scanned.counts.values())
    if stats.message_count != total:
        return (
            f"Statistics record says message_count {stats.message_count} but the file "
            f"holds {total} messages"
        )
    for cid in sorted(set(stats.channel_message_counts) | set(scanned.counts)):
        said, held = stats.channel_message_counts.get(cid, 0), scanned.counts.get(cid, 0)
        if said != held:
            return f"Statistics record says channel {cid} has {said} messages but it has {held}"
    if total and (
        stats.message_start_time != min(scanned.first.values())
        or stats.message_end_time != max(scanned.last.values())
    ):
        return "Statistics record's message time range differs from the messages'"
    if chunk_indexes and stats.chunk_count != chunk_indexes:
        return (
            f"Statistics record says chunk_count {stats.chunk_count} but the summary "
            f"indexes {chunk_indexes} chunks"
        )
    return None


def index_problem(indexed: Tally, scanned: Tally) -> str | None:
    """Where the message indexes' counts differ from the chunks'."""
    for cid in sorted(set(indexed.counts) | set(scanned.counts)):
        listed, held = indexed.counts.get(cid, 0), scanned.counts.get(cid, 0)
        if listed != held:
            return (
                f"MessageIndex records list {listed} messages on channel {cid} but the chunks "
                f"hold {held}"
            )
    return None


def chunk_coverage_problem(chunks: int, loose: int, chunk_indexes: int) -> str | None:
    """Every chunk has an index and no message lies outside the chunks (from the scan)."""
    if chunks != chunk_indexes:
        return (
            f"the file holds {chunks} chunks but the summary has {chunk_indexes} ChunkIndex records"
        )
    if loose:
        return f"{loose} messages lie outside the indexed chunks (no ChunkIndex reaches them)"
    return None
