"""Bare MCAP files of any profile and encoding, read with the mcap library.

Counts are established, never assumed: the summary's Statistics record when it is present
and agrees with the rest of the summary, otherwise the chunk indexes' message indexes,
otherwise one scan of the file. Messages are read through the chunk indexes in log-time
order (a heap over overlapping chunks, as the spec describes); files without chunk indexes
are streamed, and sorted with bounded memory when their log times are not ordered.
"""

from __future__ import annotations

import errno
import heapq
from collections import defaultdict
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any

from mcap.exceptions import McapError
from mcap.reader import SeekingReader
from mcap.records import Channel, Chunk, ChunkIndex, Message, MessageIndex, Schema, Statistics
from mcap.stream_reader import StreamReader, breakup_chunk

from extract_worker.errors import (
    BadInputError,
    LimitExceededError,
    TruncatedInputError,
    UnknownTypeError,
)
from extract_worker.readers.base import MessageReader, StreamInfo, ValidationReport
from extract_worker.readers.mcap_check import MCAP_ERRORS, MCAP_MAGIC, check_mcap_file
from extract_worker.readers.mcap_decode import (
    ChannelCodec,
    UndecodableError,
    make_codec,
    normalize_msgtype,
)
from extract_worker.readers.spill_sort import sorted_by_time

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    from extract_worker.config import ExtractConfig

__all__ = ["McapFileReader"]

# What the mcap library and its decompressors raise on malformed bytes.
_PARSE_ERRORS = MCAP_ERRORS
_RECORD_LIMIT = 1 << 31
# Log times are uint64 in MCAP; the outputs keep them as int64 nanoseconds.
_MAX_TIME = 1 << 63


@dataclass
class _Tally:
    """Per-channel counts and first/last log times, from one source."""

    counts: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    first: dict[int, int] = field(default_factory=dict)
    last: dict[int, int] = field(default_factory=dict)

    def add(self, channel: int, time_ns: int, n: int = 1) -> None:
        self.counts[channel] += n
        self.first[channel] = min(self.first.get(channel, time_ns), time_ns)
        self.last[channel] = max(self.last.get(channel, time_ns), time_ns)


class McapFileReader(MessageReader):
    """One ``.mcap`` file, whatever its profile (ros2, ros1, protobuf, json, none)."""

    format = "mcap"
    # Bytes of messages held to merge overlapping chunks before sorting through disk instead.
    heap_budget = 256 << 20

    def __init__(self, path: Path, config: ExtractConfig) -> None:
        super().__init__(path, config)
        self._file: IO[bytes] | None = None
        self._schemas: dict[int, Schema] = {}
        self._channels: dict[int, Channel] = {}
        self._chunks: list[ChunkIndex] = []
        self._statistics: Statistics | None = None
        self._tally = _Tally()
        self.count_source = ""
        self._ordered: bool | None = None
        self._layout = (0, 0)  # chunks and messages outside chunks, from the last scan
        self._codecs: dict[int, ChannelCodec | str] = {}

    # -- opening and counting ------------------------------------------------------------

    def open(self) -> None:
        """Read the summary and establish per-channel counts."""
        size = self.path.stat().st_size
        f = self._file = self.path.open("rb")
        if f.read(8) != MCAP_MAGIC:
            raise BadInputError("not an MCAP file (bad start magic)", path=str(self.path), offset=0)
        f.seek(max(size - 8, 0))
        if size < 16 or f.read(8) != MCAP_MAGIC:
            raise TruncatedInputError(
                "truncated: no MCAP end magic (the writer did not finish)",
                path=str(self.path),
                offset=size,
            )
        f.seek(0)
        try:
            summary = SeekingReader(f, record_size_limit=_RECORD_LIMIT).get_summary()
        except OSError as err:
            if err.errno != errno.EINVAL:
                raise  # a real I/O error: retryable
            # The footer's summary offset is past what the file system can seek to.
            raise self._bad(f"summary section unreadable: {err}") from err
        except (*_PARSE_ERRORS, MemoryError) as err:
            raise self._failed("summary section unreadable", err) from err
        if summary is not None:
            self._schemas = dict(summary.schemas)
            self._channels = dict(summary.channels)
            self._chunks = sorted(
                summary.chunk_indexes, key=lambda c: (c.message_start_time, c.chunk_start_offset)
            )
            self._statistics = summary.statistics
        self._establish_counts()

    def _establish_counts(self) -> None:
        """Counts from the statistics, else the message indexes, else a scan."""
        why = self._statistics_disagree() if self._statistics is not None else None
        if self._statistics is not None and why is None:
            self.count_source = "statistics"
            for channel, n in self._statistics.channel_message_counts.items():
                if n:
                    self._tally.counts[channel] = n
        elif self._indexes_complete() and self._channels_known(self._index_channels()):
            self.count_source = "message_index"
            self._tally = self._count_from_indexes()
        else:
            self.count_source = "scan"
            self._tally = self._scan()
        if why:
            self.notes.append(f"Statistics record not used: {why}")
        schema_ids = {c.schema_id for c in self._channels.values()} - {0}
        missing = sorted(set(self._tally.counts) - set(self._channels))
        if self.count_source != "scan" and (missing or not schema_ids <= set(self._schemas)):
            # The summary does not repeat every channel or schema: read their records.
            self._ordered = self._scan_order()
        if missing := sorted(set(self._tally.counts) - set(self._channels)):
            raise self._bad(f"messages on channel ids {missing} that no Channel record defines")

    def _bad(self, message: str, offset: int | None = None) -> BadInputError:
        return BadInputError(message, path=str(self.path), offset=offset)

    def _failed(self, what: str, err: BaseException, offset: int | None = None) -> BadInputError:
        """The error for a parse failure; a record too large for memory is a limit."""
        if isinstance(err, MemoryError):
            return LimitExceededError(
                f"{what}: a record needs more memory than the task limit",
                path=str(self.path),
                offset=offset,
            )
        return self._bad(f"{what}: {type(err).__name__}: {err}", offset=offset)

    def _statistics_disagree(self) -> str | None:
        """Why the Statistics record cannot be trusted, or None when it agrees with the summary."""
        stats = self._statistics
        assert stats is not None
        counted = sum(stats.channel_message_counts.values())
        if counted != stats.message_count:
            return f"per-channel counts add up to {counted}, message_count is {stats.message_count}"
        if not self._channels_known(set(stats.channel_message_counts)):
            return "it counts channels the summary does not list"
        if self._chunks:
            if stats.chunk_count != len(self._chunks):
                return f"chunk_count {stats.chunk_count} but {len(self._chunks)} chunk indexes"
            indexed = {c for chunk in self._chunks for c in chunk.message_index_offsets}
            counted_ids = {c for c, n in stats.channel_message_counts.items() if n}
            if self._indexes_complete() and indexed != counted_ids:
                return f"message indexes list channels {sorted(indexed)}, it {sorted(counted_ids)}"
            if stats.message_count and (
                stats.message_start_time != min(c.message_start_time for c in self._chunks)
                or stats.message_end_time != max(c.message_end_time for c in self._chunks)
            ):
                return "its time range differs from the chunk indexes'"
        return None

    def _channels_known(self, ids: set[int]) -> bool:
        return ids <= set(self._channels)

    def _indexes_complete(self) -> bool:
        """True when every chunk has message indexes (a chunk without messages has none)."""
        return (
            bool(self._chunks)
            and all(
                chunk.message_index_offsets or chunk.message_index_length == 0
                for chunk in self._chunks
            )
            and any(chunk.message_index_offsets for chunk in self._chunks)
        )

    def _index_channels(self) -> set[int]:
        return {c for chunk in self._chunks for c in chunk.message_index_offsets}

    def _count_from_indexes(self) -> _Tally:
        """Counts and time ranges from the message index records (no chunk is decompressed)."""
        tally = _Tally()
        f = self._open_file()
        for chunk in self._chunks:
            for channel, offset in chunk.message_index_offsets.items():
                record = self._record_at(f, offset)
                if not isinstance(record, MessageIndex) or record.channel_id != channel:
                    raise self._bad("chunk index points at no message index", offset=offset)
                for time_ns, _ in record.records:
                    tally.add(channel, time_ns)
        return tally

    def _seek(self, f: IO[bytes], offset: int, what: str) -> None:
        """Seek to an offset the summary gave, refusing one outside the file."""
        size = self.path.stat().st_size
        if not 0 <= offset < size:
            raise self._bad(f"{what} points at offset {offset}, outside the file ({size} bytes)")
        f.seek(offset)

    def _record_at(self, f: IO[bytes], offset: int) -> Any:
        self._seek(f, offset, "a chunk index's message index offset")
        try:
            return next(StreamReader(f, skip_magic=True, record_size_limit=_RECORD_LIMIT).records)
        except (*_PARSE_ERRORS, StopIteration, MemoryError) as err:
            raise self._failed("record unreadable", err, offset=offset) from err

    def _scan_order(self) -> bool:
        """Whether log times are ordered (one pass that also collects channels and schemas)."""
        self._scan()
        return bool(self._ordered)

    def _scan(self) -> _Tally:
        """One pass over every record: counts, time ranges, channels, schemas and order."""
        tally = _Tally()
        ordered = True
        last = -1
        for record in self._records():
            if isinstance(record, Message):
                tally.add(record.channel_id, record.log_time)
                ordered = ordered and record.log_time >= last
                last = max(last, record.log_time)
        self._ordered = ordered
        return tally

    def _records(self) -> Iterator[Any]:
        """Every record of the file in order, chunks broken up, CRCs checked.

        Also notes the data section's layout for ``validate``: how many chunks it holds and
        how many messages lie outside any chunk (those no chunk index can reach).
        """
        f = self._open_file()
        f.seek(0)
        reader = StreamReader(
            f, emit_chunks=True, validate_crcs=True, record_size_limit=_RECORD_LIMIT
        )
        self._layout = (0, 0)
        chunks = loose = 0
        try:
            for record in reader.records:
                if isinstance(record, Chunk):
                    chunks += 1
                    inner = breakup_chunk(record, validate_crc=True)
                else:
                    loose += isinstance(record, Message)
                    inner = [record]
                for item in inner:
                    if isinstance(item, Schema):
                        self._schemas.setdefault(item.id, item)
                    elif isinstance(item, Channel):
                        self._channels.setdefault(item.id, item)
                    yield item
        except (*_PARSE_ERRORS, MemoryError) as err:
            raise self._failed("corrupt MCAP record", err) from err
        self._layout = (chunks, loose)

    def _open_file(self) -> IO[bytes]:
        if self._file is None:
            raise BadInputError("reader is not open", path=str(self.path))
        return self._file

    def close(self) -> None:
        """Close the file."""
        f, self._file = self._file, None
        if f is not None:
            f.close()

    # -- description ---------------------------------------------------------------------

    def _topics(self) -> dict[str, list[int]]:
        """Topic -> channel ids with messages (or declared, when nothing was counted)."""
        out: dict[str, list[int]] = {}
        for cid in sorted(self._channels):
            out.setdefault(self._channels[cid].topic, []).append(cid)
        return out

    def _schema_of(self, cid: int) -> Schema | None:
        return self._schemas.get(self._channels[cid].schema_id)

    def streams(self) -> list[StreamInfo]:
        """One entry per topic: type, established count, encodings and where the count came from."""
        out = []
        for topic, ids in sorted(self._topics().items()):
            channel = self._channels[ids[0]]
            schema = self._schema_of(ids[0])
            counts = [self._tally.counts.get(c, 0) for c in ids]
            firsts = [self._tally.first[c] for c in ids if c in self._tally.first]
            lasts = [self._tally.last[c] for c in ids if c in self._tally.last]
            out.append(
                StreamInfo(
                    name=topic,
                    msgtype=self.msgtype_of(topic),
                    count=sum(counts),
                    start_ns=min(firsts) if firsts else None,
                    end_ns=max(lasts) if lasts else None,
                    extra={
                        "schema": schema.name if schema else None,
                        "schema_encoding": schema.encoding if schema else None,
                        "message_encoding": channel.message_encoding,
                        "serialization": channel.message_encoding,
                        "count_source": self.count_source,
                    },
                )
            )
        return out

    def time_range(self) -> tuple[int | None, int | None]:
        """First log time and the time after the last, in ns."""
        stats = self._statistics
        if self.count_source == "statistics" and stats is not None:
            if not stats.message_count:
                return None, None
            return stats.message_start_time, stats.message_end_time + 1
        if not self._tally.first:
            return None, None
        return min(self._tally.first.values()), max(self._tally.last.values()) + 1

    def msgtype_of(self, topic: str) -> str:
        """The schema name (ROS names in ``pkg/msg/Type`` form); the encoding if schemaless."""
        cid = self._topics()[topic][0]
        schema = self._schema_of(cid)
        if schema is None:
            return self._channels[cid].message_encoding
        return normalize_msgtype(schema.name, schema.encoding)

    # -- decoding ------------------------------------------------------------------------

    def _codec(self, cid: int) -> ChannelCodec | str:
        """The channel's codec, or the reason it has none."""
        if cid not in self._codecs:
            channel = self._channels[cid]
            try:
                self._codecs[cid] = make_codec(channel.message_encoding, self._schema_of(cid))
            except UndecodableError as err:
                self._codecs[cid] = str(err)
        return self._codecs[cid]

    def _topic_codec(self, topic: str) -> ChannelCodec | str:
        ids = self._topics()[topic]
        schema_ids = {self._channels[c].schema_id for c in ids}
        encodings = {self._channels[c].message_encoding for c in ids}
        if len(schema_ids) > 1 or len(encodings) > 1:
            return f"channels {ids} of the topic carry different schemas or encodings"
        return self._codec(ids[0])

    def unknown_types(self) -> dict[str, str]:
        """Topics whose messages cannot be decoded, with the reason."""
        out = {}
        for topic in self._topics():
            codec = self._topic_codec(topic)
            if isinstance(codec, str):
                out[topic] = codec
        return out

    def decoder(self, topic: str) -> Callable[[bytes], Any]:
        """Decoder of ``topic``; UnknownTypeError names the topic and why it has none."""
        if topic not in self._topics():
            raise BadInputError(f"no topic {topic!r} in the recording", path=str(self.path))
        codec = self._topic_codec(topic)
        msgtype = self.msgtype_of(topic)
        if isinstance(codec, str):
            raise UnknownTypeError(path=str(self.path), topic=topic, msgtype=msgtype, detail=codec)
        decode = codec.decode
        path = str(self.path)

        def checked(raw: bytes) -> Any:
            try:
                return decode(raw)
            except Exception as err:
                raise BadInputError(
                    f"message of type {msgtype!r} does not decode: {type(err).__name__}: {err}",
                    path=path,
                    field=topic,
                ) from err

        return checked

    def type_fields(self, msgtype: str) -> list[tuple[str, Any]]:
        """Field definitions of ``msgtype`` (or a nested type) from the decodable channels."""
        for cid in sorted(self._channels):
            codec = self._codec(cid)
            if not isinstance(codec, str) and msgtype in codec.fielddefs:
                return list(codec.fielddefs[msgtype])
        raise KeyError(msgtype)

    # -- messages ------------------------------------------------------------------------

    def messages(self, topics: list[str]) -> Iterator[tuple[str, int, bytes]]:
        """Raw messages of ``topics`` (all if empty) in log-time order."""
        by_topic = self._topics()
        wanted = {c for t in (topics or by_topic) for c in by_topic.get(t, [])}
        if not wanted:
            return
        names = {cid: self._channels[cid].topic for cid in wanted}
        if self._indexes_usable():
            source = self._indexed_messages(wanted)
        else:
            source = self._streamed_messages(wanted)
        for cid, time_ns, data in source:
            if time_ns >= _MAX_TIME:
                raise self._bad(
                    f"message on {names[cid]!r} has log time {time_ns}, past the year 2262"
                )
            yield names[cid], time_ns, data

    def _indexes_usable(self) -> bool:
        return bool(self._chunks)

    def _indexed_messages(self, wanted: set[int]) -> Iterator[tuple[int, int, bytes]]:
        """Through the chunk indexes: chunks by start time, a heap over overlapping ones.

        Chunks whose time ranges overlap a lot (a channel logged late, unordered writers)
        would pile up in the heap; past ``heap_budget`` bytes the rest goes through the
        spilling sort instead. Everything left is at or after what was yielded (the heap
        only yields up to the next chunk's start), so the order holds.
        """
        heap: list[tuple[int, int, int, int, bytes]] = []
        heap_bytes = 0
        chunks = self._wanted_chunks(wanted)
        for order, chunk in chunks:
            while heap and heap[0][0] <= chunk.message_start_time:
                time_ns, _, _, cid, data = heapq.heappop(heap)
                heap_bytes -= len(data)
                yield cid, time_ns, data
            for index, (time_ns, cid, data) in enumerate(self._chunk_messages(chunk, wanted)):
                heapq.heappush(heap, (time_ns, order, index, cid, data))
                heap_bytes += len(data)
            if heap_bytes > self.heap_budget:
                rest = (
                    (time_ns, cid, data)
                    for source in (
                        ((t, c, d) for t, _, _, c, d in heap),
                        (m for _, later in chunks for m in self._chunk_messages(later, wanted)),
                    )
                    for time_ns, cid, data in source
                )
                for time_ns, cid, data in sorted_by_time(rest, budget=self.heap_budget):
                    yield cid, time_ns, data
                return
        while heap:
            time_ns, _, _, cid, data = heapq.heappop(heap)
            yield cid, time_ns, data

    def _wanted_chunks(self, wanted: set[int]) -> Iterator[tuple[int, ChunkIndex]]:
        """Chunks (with their order) that may hold a wanted channel."""
        for order, chunk in enumerate(self._chunks):
            if chunk.message_index_offsets and not wanted & set(chunk.message_index_offsets):
                continue
            yield order, chunk

    def _chunk_messages(
        self, chunk: ChunkIndex, wanted: set[int]
    ) -> Iterator[tuple[int, int, bytes]]:
        for record in self._chunk_records(self._open_file(), chunk):
            if isinstance(record, Message) and record.channel_id in wanted:
                yield record.log_time, record.channel_id, record.data

    def _chunk_records(self, f: IO[bytes], index: ChunkIndex) -> list[Any]:
        self._seek(f, index.chunk_start_offset, "a chunk index")
        try:
            record = next(
                StreamReader(
                    f, skip_magic=True, emit_chunks=True, record_size_limit=_RECORD_LIMIT
                ).records
            )
            if not isinstance(record, Chunk):
                raise McapError(f"chunk index points at a {type(record).__name__} record")
            return breakup_chunk(record, validate_crc=True)
        except (*_PARSE_ERRORS, StopIteration, MemoryError) as err:
            raise self._failed("chunk unreadable", err, offset=index.chunk_start_offset) from err

    def _streamed_messages(self, wanted: set[int]) -> Iterator[tuple[int, int, bytes]]:
        """Without chunk indexes: one pass, sorted (bounded memory) if log times are unordered."""
        if self._ordered is None:
            self._scan()
        raw = (
            (r.log_time, r.channel_id, r.data)
            for r in self._records()
            if isinstance(r, Message) and r.channel_id in wanted
        )
        if self._ordered:
            for time_ns, cid, data in raw:
                yield cid, time_ns, data
            return
        for time_ns, cid, data in sorted_by_time(raw):
            yield cid, time_ns, data

    # -- validation ----------------------------------------------------------------------

    def validate(self) -> ValidationReport:
        """CRCs and structure, then statistics, message indexes and a scan must agree."""
        report = ValidationReport(format=self.format)
        checks, warnings = check_mcap_file(self.path)
        report.checks.extend(checks)
        report.warnings.extend(warnings)
        scanned = self._scan()
        total = sum(scanned.counts.values())
        report.checks.append(f"scan: {total} messages on {len(scanned.counts)} channels")
        if self._chunks:
            self._check_chunk_coverage()
        self._check_statistics(scanned)
        if self._chunks and self._indexes_complete():
            indexed = self._count_from_indexes()
            for cid in sorted(set(indexed.counts) | set(scanned.counts)):
                if indexed.counts.get(cid, 0) != scanned.counts.get(cid, 0):
                    raise self._bad(
                        f"MessageIndex records list {indexed.counts.get(cid, 0)} messages on "
                        f"channel {cid} but the chunks hold {scanned.counts.get(cid, 0)}"
                    )
            report.checks.append("message indexes agree with the scan")
        if self._ordered is False:
            report.warnings.append("log times are not in order (allowed; sorted when read)")
        report.warnings.extend(self.notes)
        report.warnings.extend(
            f"topic {topic!r}: {reason}" for topic, reason in sorted(self.unknown_types().items())
        )
        return report

    def _check_statistics(self, scanned: _Tally) -> None:
        stats = self._statistics
        if stats is None:
            return
        total = sum(scanned.counts.values())
        if stats.message_count != total:
            raise self._bad(
                f"Statistics record says message_count {stats.message_count} but the file "
                f"holds {total} messages"
            )
        for cid in sorted(set(stats.channel_message_counts) | set(scanned.counts)):
            said, held = stats.channel_message_counts.get(cid, 0), scanned.counts.get(cid, 0)
            if said != held:
                raise self._bad(
                    f"Statistics record says channel {cid} has {said} messages but it has {held}"
                )
        if total and (
            stats.message_start_time != min(scanned.first.values())
            or stats.message_end_time != max(scanned.last.values())
        ):
            raise self._bad("Statistics record's message time range differs from the messages'")
        if self._chunks and stats.chunk_count != len(self._chunks):
            raise self._bad(
                f"Statistics record says chunk_count {stats.chunk_count} but the summary "
                f"indexes {len(self._chunks)} chunks"
            )

    def _check_chunk_coverage(self) -> None:
        """Every chunk has an index and no message lies outside the chunks (from the scan)."""
        chunks, loose = self._layout
        if chunks != len(self._chunks):
            raise self._bad(
                f"the file holds {chunks} chunks but the summary has {len(self._chunks)} "
                "ChunkIndex records"
            )
        if loose:
            raise self._bad(
                f"{loose} messages lie outside the indexed chunks (no ChunkIndex reaches them)"
            )
