"""The records inside one MCAP chunk, split without the mcap library's per-field stream reads.

``mcap.stream_reader.breakup_chunk`` reads every field of every record through a BytesIO
wrapper: on small messages that is most of a read's time. Here messages are cut from the
decompressed chunk with one ``struct.unpack_from`` each; schemas and channels (rare) still go
through the mcap library's own record parsers.
"""

from __future__ import annotations

import struct
import zlib
from io import BytesIO
from typing import TYPE_CHECKING

import lz4.frame
import zstandard
from mcap.data_stream import ReadDataStream
from mcap.exceptions import McapError, UnsupportedCompressionError
from mcap.opcode import Opcode
from mcap.records import Channel, Chunk, Message, Schema
from mcap.stream_reader import CRCValidationError

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["chunk_data", "split_chunk"]

_RECORD_HEAD = struct.Struct("<BQ")  # opcode, content length
_MESSAGE_HEAD = struct.Struct("<HIQQ")  # channel id, sequence, log time, publish time
_HEAD = _RECORD_HEAD.size
_MESSAGE_FIELDS = _MESSAGE_HEAD.size


def chunk_data(chunk: Chunk) -> bytes:
    """The chunk's records, decompressed; its CRC checked when the writer recorded one."""
    if chunk.compression == "zstd":
        data: bytes = zstandard.decompress(chunk.data, chunk.uncompressed_size)
    elif chunk.compression == "lz4":
        data = lz4.frame.decompress(chunk.data)
    elif chunk.compression == "":
        data = chunk.data
    else:
        raise UnsupportedCompressionError(chunk.compression)
    if chunk.uncompressed_crc != 0:
        crc = zlib.crc32(data)
        if crc != chunk.uncompressed_crc:
            raise CRCValidationError(expected=chunk.uncompressed_crc, actual=crc, record=chunk)
    return data


def split_chunk(chunk: Chunk) -> Iterator[Schema | Channel | Message]:
    """Schemas, channels and messages of ``chunk`` in file order (other records skipped)."""
    data = chunk_data(chunk)
    end = len(data)
    offset = 0
    unpack_record, unpack_message = _RECORD_HEAD.unpack_from, _MESSAGE_HEAD.unpack_from
    while offset < end:
        opcode, length = unpack_record(data, offset)
        start = offset + _HEAD
        offset = start + length
        if offset > end:
            raise McapError(f"record of {length} bytes runs past the end of its chunk")
        if opcode == Opcode.MESSAGE:
            if length < _MESSAGE_FIELDS:
                raise McapError(f"message record of {length} bytes is shorter than its fields")
            channel_id, sequence, log_time, publish_time = unpack_message(data, start)
            yield Message(
                channel_id=channel_id,
                log_time=log_time,
                data=data[start + _MESSAGE_FIELDS : offset],
                publish_time=publish_time,
                sequence=sequence,
            )
        elif opcode == Opcode.SCHEMA:
            yield Schema.read(ReadDataStream(BytesIO(data[start:offset])))
        elif opcode == Opcode.CHANNEL:
            yield Channel.read(ReadDataStream(BytesIO(data[start:offset])))
