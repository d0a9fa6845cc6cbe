"""Bare MCAP files of any profile and encoding, read with the mcap library.

Counts are established, never assumed: the summary's Statistics record when it is present
and agrees with the rest of the summary, otherwise the chunk indexes' message indexes,
otherwise a scan of the chunks (``mcap_counts``). When the summary lists the channels and
indexes every chunk, that scan is put off: the top level of the data section is walked
without opening a chunk (``mcap_layout``), and the first read of every message counts the
chunks on the way, so ``metadata`` reads each chunk once; whatever needs the counts before
such a read scans then. Messages are read through the chunk indexes in log-time order
(``mcap_merge``); files without chunk indexes are streamed, and sorted with bounded memory
when their log times are not ordered. Record access is ``mcap_records``, channels and codecs
``mcap_channels``, validate's checks ``mcap_validate``.
"""

from __future__ import annotations

import errno
from typing import IO, TYPE_CHECKING, Any

from mcap.reader import SeekingReader
from mcap.records import Channel, ChunkIndex, Message, Statistics

from extract_worker.errors import BadInputError, TruncatedInputError
from extract_worker.readers.base import MessageReader, StreamInfo, ValidationReport
from extract_worker.readers.mcap_channels import McapChannels
from extract_worker.readers.mcap_check import MCAP_ERRORS, MCAP_MAGIC, check_mcap_file
from extract_worker.readers.mcap_counts import (
    Tally,
    index_channels,
    indexes_complete,
    statistics_disagreement,
)
from extract_worker.readers.mcap_merge import merged_by_time
from extract_worker.readers.mcap_records import (
    RECORD_LIMIT,
    McapRecords,
    bad_input,
    parse_failure,
)
from extract_worker.readers.mcap_validate import (
    chunk_coverage_problem,
    index_problem,
    statistics_problem,
)
from extract_worker.readers.spill_sort import sorted_by_time

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    from extract_worker.config import ExtractConfig

__all__ = ["McapFileReader"]

# Log times are uint64 in MCAP; the outputs keep them as int64 nanoseconds.
_MAX_TIME = 1 << 63


class McapFileReader(MessageReader):
    """One ``.mcap`` file, whatever its profile (ros2, ros1, protobuf, json, none)."""

    format = "mcap"
    # Bytes of messages held to merge overlapping chunks before sorting through disk instead.
    heap_budget = 256 << 20

    def __init__(self, path: Path, config: ExtractConfig) -> None:
        super().__init__(path, config)
        self._file: IO[bytes] | None = None
        self._io: McapRecords | None = None
        self._catalog = McapChannels(str(path))
        self._chunks: list[ChunkIndex] = []
        self._statistics: Statistics | None = None
        self._tally = Tally()
        self.count_source = ""
        # Put-off scan: the messages outside chunks (counted); the chunks are still to count.
        self._deferred: Tally | None = None
        # What a read of every channel counts on the way while the scan is put off.
        self._reading_tally: Tally | None = None

    # -- opening and counting ------------------------------------------------------------

    def open(self) -> None:
        """Read the summary and establish per-channel counts (or put off their scan)."""
        size = self.path.stat().st_size
        f = self._file = self.path.open("rb")
        self._io = McapRecords(f, self.path, self._catalog)
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
            summary = SeekingReader(f, record_size_limit=RECORD_LIMIT).get_summary()
        except OSError as err:
            if err.errno != errno.EINVAL:
                raise  # a real I/O error: retryable
            # The footer's summary offset is past what the file system can seek to.
            raise self._bad(f"summary section unreadable: {err}") from err
        except (*MCAP_ERRORS, MemoryError) as err:
            raise parse_failure(self.path, "summary section unreadable", err) from err
        if summary is not None:
            self._catalog.schemas.update(summary.schemas)
            self._catalog.channels.update(summary.channels)
            self._chunks = sorted(
                summary.chunk_indexes, key=lambda c: (c.message_start_time, c.chunk_start_offset)
            )
            self._statistics = summary.statistics
        self._establish_counts()

    def _establish_counts(self) -> None:
        """Counts from the statistics, else the message indexes, else a scan."""
        channels = self._catalog.channels
        why = (
            statistics_disagreement(self._statistics, channels, self._chunks)
            if self._statistics is not None
            else None
        )
        if self._statistics is not None and why is None:
            self.count_source = "statistics"
            for channel, n in self._statistics.channel_message_counts.items():
                if n:
                    self._tally.counts[channel] = n
        elif indexes_complete(self._chunks) and index_channels(self._chunks) <= set(channels):
            self.count_source = "message_index"
            self._tally = self._records().count_from_indexes(self._chunks)
        else:
            self.count_source = "scan"
            if not self._put_off_scan():
                self._tally = self._records().scan()
        if why:
            self.notes.append(f"Statistics record not used: {why}")
        missing = sorted(set(self._tally.counts) - set(channels))
        if self.count_source != "scan" and (missing or not self._schemas_listed()):
            # The summary does not repeat every channel or schema: read their records.
            self._records().scan()
        self._check_channels_defined()

    def _schemas_listed(self) -> bool:
        """Every channel's schema is known."""
        ids = {c.schema_id for c in self._catalog.channels.values()} - {0}
        return ids <= set(self._catalog.schemas)

    def _put_off_scan(self) -> bool:
        """Walk the data section outside the chunks; True if the chunks' scan can wait.

        It can when the summary lists channels with their schemas and indexes every chunk
        the data section holds: then each message is reachable through a chunk index and a
        complete read counts them. Otherwise (no channels in the summary, chunks without an
        index) the scan runs now, as it also finds the records the summary leaves out.
        """
        if not self._chunks or not self._catalog.channels or not self._schemas_listed():
            return False
        section = self._records().walk_outside_chunks()
        if section.chunks != len(self._chunks):
            return False
        for schema in section.schemas:
            self._catalog.schemas.setdefault(schema.id, schema)
        for channel in section.channels:
            self._catalog.channels.setdefault(channel.id, channel)
        self._deferred = section.loose
        self._tally = Tally()
        self._tally.merge(section.loose)
        return True

    def _established(self) -> Tally:
        """The counts; a put-off scan runs now if no complete read has counted the chunks."""
        if self._deferred is not None:
            self._deferred = None
            self._tally = self._records().scan()
            self._check_channels_defined()
        return self._tally

    def _check_channels_defined(self) -> None:
        if missing := sorted(set(self._tally.counts) - set(self._catalog.channels)):
            raise self._bad(f"messages on channel ids {missing} that no Channel record defines")

    def _bad(self, message: str) -> BadInputError:
        return bad_input(self.path, message)

    def _records(self) -> McapRecords:
        if self._io is None:
            raise BadInputError("reader is not open", path=str(self.path))
        return self._io

    def close(self) -> None:
        """Close the file."""
        f, self._file, self._io = self._file, None, None
        if f is not None:
            f.close()

    # -- description ---------------------------------------------------------------------

    def topic_names(self) -> list[str]:
        """Every topic, sorted (from the channels: nothing is counted)."""
        return sorted(self._catalog.topics())

    def streams(self) -> list[StreamInfo]:
        """One entry per topic: type, established count, encodings and where the count came from."""
        tally = self._established()
        out = []
        for topic, ids in sorted(self._catalog.topics().items()):
            channel = self._catalog.channels[ids[0]]
            schema = self._catalog.schema_of(ids[0])
            firsts = [tally.first[c] for c in ids if c in tally.first]
            lasts = [tally.last[c] for c in ids if c in tally.last]
            out.append(
                StreamInfo(
                    name=topic,
                    msgtype=self.msgtype_of(topic),
                    count=sum(tally.counts.get(c, 0) for c in ids),
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
        tally = self._established()
        if not tally.first:
            return None, None
        return min(tally.first.values()), max(tally.last.values()) + 1

    def msgtype_of(self, topic: str) -> str:
        """The schema name (ROS names in ``pkg/msg/Type`` form); the encoding if schemaless."""
        return self._catalog.msgtype_of(topic)

    def unknown_types(self) -> dict[str, str]:
        """Topics whose messages cannot be decoded, with the reason."""
        return self._catalog.unknown_types()

    def decoder(self, topic: str) -> Callable[[bytes], Any]:
        """Decoder of ``topic``; UnknownTypeError names the topic and why it has none."""
        return self._catalog.decoder(topic)

    def type_fields(self, msgtype: str) -> list[tuple[str, Any]]:
        """Field definitions of ``msgtype`` (or a nested type) from the decodable channels."""
        return self._catalog.type_fields(msgtype)

    # -- messages ------------------------------------------------------------------------

    def messages(self, topics: list[str]) -> Iterator[tuple[str, int, bytes]]:
        """Raw messages of ``topics`` (all if empty) in log-time order.

        While the scan is put off, a read of every channel counts the chunks on the way;
        once it is complete those are the established counts.
        """
        by_topic = self._catalog.topics()
        wanted = {c for t in (topics or by_topic) for c in by_topic.get(t, [])}
        if not wanted:
            return
        names = {cid: self._catalog.channels[cid].topic for cid in wanted}
        counting = self._deferred is not None and wanted == set(self._catalog.channels)
        self._reading_tally = Tally() if counting else None
        if self._chunks:
            source = merged_by_time(
                self._wanted_chunks(wanted),
                lambda chunk: self._chunk_messages(chunk, wanted),
                self.heap_budget,
            )
        else:
            source = self._streamed_messages(wanted)
        for cid, time_ns, data in source:
            if time_ns >= _MAX_TIME:
                raise self._bad(
                    f"message on {names[cid]!r} has log time {time_ns}, past the year 2262"
                )
            yield names[cid], time_ns, data
        read, self._reading_tally = self._reading_tally, None
        if read is not None and self._deferred is not None:
            read.merge(self._deferred)
            self._deferred = None
            self._tally = read
            self._check_channels_defined()

    def _wanted_chunks(self, wanted: set[int]) -> Iterator[tuple[int, ChunkIndex]]:
        """Chunks (with their order) that may hold a wanted channel."""
        for order, chunk in enumerate(self._chunks):
            if chunk.message_index_offsets and not wanted & set(chunk.message_index_offsets):
                continue
            yield order, chunk

    def _chunk_messages(
        self, chunk: ChunkIndex, wanted: set[int]
    ) -> Iterator[tuple[int, int, bytes]]:
        counted = self._reading_tally
        for record in self._records().chunk_records(chunk):
            if isinstance(record, Message):
                if counted is not None:
                    counted.add(record.channel_id, record.log_time)
                if record.channel_id in wanted:
                    yield record.log_time, record.channel_id, record.data
            elif isinstance(record, Channel) and record.id not in self._catalog.channels:
                # A channel the summary left out: this read cannot stand for the scan.
                self._reading_tally = counted = None

    def _streamed_messages(self, wanted: set[int]) -> Iterator[tuple[int, int, bytes]]:
        """Without chunk indexes: one pass, sorted (bounded memory) if log times are unordered."""
        records = self._records()
        if records.ordered is None:
            records.scan()
        raw = (
            (r.log_time, r.channel_id, r.data)
            for r in records.all_records()
            if isinstance(r, Message) and r.channel_id in wanted
        )
        if records.ordered:
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
        records = self._records()
        scanned = records.scan()
        total = sum(scanned.counts.values())
        report.checks.append(f"scan: {total} messages on {len(scanned.counts)} channels")
        chunks = len(self._chunks)
        if chunks and (problem := chunk_coverage_problem(*records.layout, chunks)):
            raise self._bad(problem)
        if self._statistics is not None and (
            problem := statistics_problem(self._statistics, scanned, chunks)
        ):
            raise self._bad(problem)
        if indexes_complete(self._chunks):
            if problem := index_problem(records.count_from_indexes(self._chunks), scanned):
                raise self._bad(problem)
            report.checks.append("message indexes agree with the scan")
        if records.ordered is False:
            report.warnings.append("log times are not in order (allowed; sorted when read)")
        report.warnings.extend(self.notes)
        report.warnings.extend(
            f"topic {topic!r}: {reason}" for topic, reason in sorted(self.unknown_types().items())
        )
        return report
