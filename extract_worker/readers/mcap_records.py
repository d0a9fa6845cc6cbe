"""Record-level reading of one open MCAP file: every record in order, or one record or chunk
at an offset the summary gave. Parse failures become bad input naming the file and offset;
a record too large for memory is a limit."""

from __future__ import annotations

from typing import IO, TYPE_CHECKING, Any

from mcap.exceptions import McapError
from mcap.records import Channel, Chunk, Message, MessageIndex, Schema
from mcap.stream_reader import StreamReader

from extract_worker.errors import BadInputError, LimitExceededError
from extract_worker.readers.mcap_check import MCAP_ERRORS
from extract_worker.readers.mcap_chunks import split_chunk
from extract_worker.readers.mcap_counts import Tally
from extract_worker.readers.mcap_layout import DataSection, walk_data_section

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from mcap.records import ChunkIndex

    from extract_worker.readers.mcap_channels import McapChannels

__all__ = ["RECORD_LIMIT", "McapRecords", "bad_input", "parse_failure"]

RECORD_LIMIT = 1 << 31
# What the mcap library and its decompressors raise on malformed bytes.
_PARSE_ERRORS = (*MCAP_ERRORS, MemoryError)


def bad_input(path: Path, message: str, offset: int | None = None) -> BadInputError:
    return BadInputError(message, path=str(path), offset=offset)


def parse_failure(
    path: Path, what: str, err: BaseException, offset: int | None = None
) -> BadInputError:
    """The error for a parse failure; a record too large for memory is a limit."""
    if isinstance(err, MemoryError):
        return LimitExceededError(
            f"{what}: a record needs more memory than the task limit",
            path=str(path),
            offset=offset,
        )
    return bad_input(path, f"{what}: {type(err).__name__}: {err}", offset)


class McapRecords:
    """Reads records of ``f``; schemas and channels met on the way go into ``catalog``."""

    def __init__(self, f: IO[bytes], path: Path, catalog: McapChannels) -> None:
        self.f = f
        self.path = path
        self.catalog = catalog
        self.layout = (0, 0)
        """Chunks and messages outside chunks in the data section, from the last full pass."""
        self.ordered: bool | None = None
        """Whether log times were in order, from the last scan."""

    def walk_outside_chunks(self) -> DataSection:
        """The data section's top level, chunks skipped (see ``mcap_layout``)."""
        try:
            return walk_data_section(self.f, self.path.stat().st_size)
        except _PARSE_ERRORS as err:
            raise parse_failure(self.path, "corrupt MCAP record", err) from err

    def scan(self) -> Tally:
        """One pass over every record: counts, time ranges, channels, schemas and order."""
        tally = Tally()
        ordered = True
        last = -1
        for record in self.all_records():
            if isinstance(record, Message):
                tally.add(record.channel_id, record.log_time)
                ordered = ordered and record.log_time >= last
                last = max(last, record.log_time)
        self.ordered = ordered
        return tally

    def all_records(self) -> Iterator[Any]:
        """Every record of the file in order, chunks broken up, CRCs checked.

        Also notes the data section's layout for ``validate``: how many chunks it holds and
        how many messages lie outside any chunk (those no chunk index can reach).
        """
        self.f.seek(0)
        reader = StreamReader(
            self.f, emit_chunks=True, validate_crcs=True, record_size_limit=RECORD_LIMIT
        )
        self.layout = (0, 0)
        chunks = loose = 0
        schemas, channels = self.catalog.schemas, self.catalog.channels
        try:
            for record in reader.records:
                if isinstance(record, Chunk):
                    chunks += 1
                    inner: Any = split_chunk(record)
                else:
                    loose += isinstance(record, Message)
                    inner = [record]
                for item in inner:
                    if isinstance(item, Schema):
                        schemas.setdefault(item.id, item)
                    elif isinstance(item, Channel):
                        channels.setdefault(item.id, item)
                    yield item
        except _PARSE_ERRORS as err:
            raise parse_failure(self.path, "corrupt MCAP record", err) from err
        self.layout = (chunks, loose)

    def count_from_indexes(self, chunks: list[ChunkIndex]) -> Tally:
        """Counts and time ranges from the message index records (no chunk is decompressed)."""
        tally = Tally()
        for chunk in chunks:
            for channel, offset in chunk.message_index_offsets.items():
                record = self._record_at(offset)
                if not isinstance(record, MessageIndex) or record.channel_id != channel:
                    raise bad_input(self.path, "chunk index points at no message index", offset)
                for time_ns, _ in record.records:
                    tally.add(channel, time_ns)
        return tally

    def chunk_records(self, index: ChunkIndex) -> list[Any]:
        """The records of the chunk ``index`` points at, CRC checked."""
        self._seek(index.chunk_start_offset, "a chunk index")
        try:
            record = next(
                StreamReader(
                    self.f, skip_magic=True, emit_chunks=True, record_size_limit=RECORD_LIMIT
                ).records
            )
            if not isinstance(record, Chunk):
                raise McapError(f"chunk index points at a {type(record).__name__} record")
            return list(split_chunk(record))
        except (*_PARSE_ERRORS, StopIteration) as err:
            raise parse_failure(
                self.path, "chunk unreadable", err, index.chunk_start_offset
            ) from err

    def _seek(self, offset: int, what: str) -> None:
        """Seek to an offset the summary gave, refusing one outside the file."""
        size = self.path.stat().st_size
        if not 0 <= offset < size:
            raise bad_input(
                self.path, f"{what} points at offset {offset}, outside the file ({size} bytes)"
            )
        self.f.seek(offset)

    def _record_at(self, offset: int) -> Any:
        self._seek(offset, "a chunk index's message index offset")
        try:
            return next(
                StreamReader(self.f, skip_magic=True, record_size_limit=RECORD_LIMIT).records
            )
        except (*_PARSE_ERRORS, StopIteration) as err:
            raise parse_failure(self.path, "record unreadable", err, offset) from err
