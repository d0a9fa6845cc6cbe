"""``metadata``: format, time range and per-stream type, count, frequency and bytes -> JSON."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from extract_worker.errors import BadInputError
from extract_worker.readers.base import MessageReader, StreamInfo

if TYPE_CHECKING:
    from extract_worker.extractors.context import TaskContext

__all__ = ["extract_metadata"]


def extract_metadata(ctx: TaskContext) -> None:
    """Write ``metadata/metadata.json`` and put the same summary into the manifest."""
    reader = ctx.reader
    per_stream: dict[str, dict[str, Any]] = {}
    warnings: list[str] = []
    if isinstance(reader, MessageReader):
        # One raw pass (no deserialization) gives exact bytes and first/last times per topic.
        # The recording's own counts are asked for after it: a reader that has to count by
        # reading (an MCAP without statistics or message indexes) counts in this same pass.
        names = [name for name in reader.topic_names() if ctx.requested(name)]
        counts = dict.fromkeys(names, 0)
        sizes = dict.fromkeys(names, 0)
        firsts: dict[str, int] = {}
        lasts: dict[str, int] = {}
        for topic, time_ns, data in reader.messages(names):
            counts[topic] += 1
            sizes[topic] += len(data)
            if topic not in firsts:
                firsts[topic] = time_ns
            lasts[topic] = time_ns
        streams = [s for s in reader.streams() if ctx.requested(s.name)]
        start, end = reader.time_range()
        warnings = _count_disagreements(reader, streams, counts)
        for s in streams:
            per_stream[s.name] = _describe(
                s.msgtype,
                counts.get(s.name, 0),
                sizes.get(s.name, 0),
                firsts.get(s.name),
                lasts.get(s.name),
                s.extra,
            )
        # Unresolvable types are reported by validate (warnings) and by the extracting
        # tasks (manifest errors); metadata stays a raw pass without parsing definitions.
    else:
        streams = [s for s in reader.streams() if ctx.requested(s.name)]
        start, end = reader.time_range()
        for s in streams:
            per_stream[s.name] = _describe(
                s.msgtype, s.count, s.extra.get("bytes", 0), s.start_ns, s.end_ns, s.extra
            )
    summary = {
        "format": reader.format,
        "path": str(reader.path),
        "start_ns": start,
        "end_ns": end,
        "duration_s": (end - start) / 1e9 if start is not None and end is not None else None,
        "stream_count": len(per_stream),
        "message_count": sum(v["count"] for v in per_stream.values()),
        "streams": per_stream,
        "warnings": [*reader.notes, *warnings],
    }
    ctx.output.add_summary(
        "metadata", summary, sensor=ctx.kind, rows=len(per_stream), start_ns=start, end_ns=end
    )


def _count_disagreements(
    reader: MessageReader, streams: list[StreamInfo], counts: dict[str, int]
) -> list[str]:
    """Where the container's own count differs from what was read.

    The count read is the one reported; a stream the container says has messages but of
    which none could be read is bad input, never a successful empty result.
    """
    warnings = []
    for s in streams:
        read = counts.get(s.name, 0)
        if s.count == read:
            continue
        source = s.extra.get("count_source", "the recording's index")
        if read == 0:
            raise BadInputError(
                f"{source} records {s.count} messages but none could be read",
                path=str(reader.path),
                field=s.name,
            )
        warnings.append(f"topic {s.name!r}: {source} records {s.count} messages, {read} were read")
    return warnings


def _describe(  # noqa: PLR0917 - one positional per column of the summary
    msgtype: str,
    count: int,
    size: int,
    first: int | None,
    last: int | None,
    extra: dict[str, Any],
) -> dict[str, Any]:
    """One stream's entry; frequency from the first and last message times."""
    span = (last - first) / 1e9 if first is not None and last is not None else 0.0
    return {
        "type": msgtype,
        "count": count,
        "bytes": size,
        "start_ns": first,
        "end_ns": last,
        "frequency_hz": round((count - 1) / span, 6) if count > 1 and span > 0 else None,
        **{k: v for k, v in extra.items() if k != "bytes"},
    }
