"""The top level of an MCAP data section, walked without opening a single chunk.

Chunks are skipped by seeking past them; only the records outside them are read: schemas,
channels and messages a writer left outside any chunk (no chunk index reaches those). With
chunk indexes in the summary this is all a file needs before its chunks are read.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from io import BytesIO
from typing import IO

from mcap.data_stream import ReadDataStream
from mcap.exceptions import McapError
from mcap.opcode import Opcode
from mcap.records import Channel, Schema

from extract_worker.readers.mcap_counts import Tally

__all__ = ["DataSection", "walk_data_section"]

_RECORD_HEAD = struct.Struct("<BQ")  # opcode, content length
_MESSAGE_HEAD = struct.Struct("<HIQ")  # channel id, sequence, log time
_MAGIC_SIZE = 8
# Larger schema or channel records than this are not a writer's: refuse before reading them.
_RECORD_LIMIT = 1 << 31


@dataclass
class DataSection:
    """What the data section holds outside its chunks."""

    chunks: int = 0
    loose: Tally = field(default_factory=Tally)
    """Messages outside any chunk."""
    schemas: list[Schema] = field(default_factory=list)
    channels: list[Channel] = field(default_factory=list)


def walk_data_section(f: IO[bytes], size: int) -> DataSection:
    """Every top-level record from the header to DataEnd; chunks counted, never read.

    Raises ``McapError`` on a record that runs past the end of the file.
    """
    section = DataSection()
    offset = _MAGIC_SIZE
    while offset < size:
        f.seek(offset)
        head = f.read(_RECORD_HEAD.size)
        if len(head) < _RECORD_HEAD.size:
            raise McapError(f"record header at offset {offset} cut short by the end of the file")
        opcode, length = _RECORD_HEAD.unpack(head)
        start = offset + _RECORD_HEAD.size
        offset = start + length
        if offset > size:
            raise McapError(f"record at {start - _RECORD_HEAD.size} runs past the end of the file")
        if opcode in {Opcode.DATA_END, Opcode.FOOTER}:
            break
        if opcode == Opcode.CHUNK:
            section.chunks += 1
        elif opcode == Opcode.MESSAGE:
            if length < _MESSAGE_HEAD.size:
                raise McapError(f"message record of {length} bytes is shorter than its fields")
            channel, _, log_time = _MESSAGE_HEAD.unpack(_read(f, _MESSAGE_HEAD.size))
            section.loose.add(channel, log_time)
        elif opcode in {Opcode.SCHEMA, Opcode.CHANNEL}:
            if length > _RECORD_LIMIT:
                raise McapError(f"{Opcode(opcode).name} record of {length} bytes")
            stream = ReadDataStream(BytesIO(_read(f, length)))
            if opcode == Opcode.SCHEMA:
                section.schemas.append(Schema.read(stream))
            else:
                section.channels.append(Channel.read(stream))
    return section


def _read(f: IO[bytes], n: int) -> bytes:
    data = f.read(n)
    if len(data) < n:
        raise McapError("record cut short by the end of the file")
    return data
