"""MCAP structure check with the mcap library: end magic, summary, and every chunk's CRC.

Each chunk is read on its own through its chunk index, so a flipped byte is reported with
the chunk's file offset, and memory stays bounded by one chunk.
"""

from __future__ import annotations

import io
import struct
from typing import IO, TYPE_CHECKING

from mcap.exceptions import EndOfFile, McapError
from mcap.reader import SeekingReader
from mcap.stream_reader import StreamReader
from zstandard import ZstdError

from extract_worker.errors import BadInputError, LimitExceededError, TruncatedInputError

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["MCAP_ERRORS", "MCAP_MAGIC", "check_mcap_file"]

MCAP_MAGIC = b"\x89MCAP0\r\n"
# Chunk record: opcode (1), length (8), start (8), end (8), uncompressed size (8), then CRC.
_CHUNK_CRC_OFFSET = 33
# Errors the mcap library raises on malformed input (CRCValidationError is a ValueError).
# zstandard's ZstdError derives from Exception alone (a corrupt zstd chunk).
MCAP_ERRORS = (
    McapError,
    ValueError,
    EOFError,
    KeyError,
    RuntimeError,
    AssertionError,
    OverflowError,  # a length field too large for a read
    IndexError,
    struct.error,
    ZstdError,
)


def check_mcap_file(path: Path) -> tuple[list[str], list[str]]:
    """Check one MCAP file; return (checks, warnings), raise BadInputError on damage."""
    size = path.stat().st_size
    with path.open("rb") as f:
        if f.read(8) != MCAP_MAGIC:
            raise BadInputError("not an MCAP file (bad start magic)", path=str(path), offset=0)
        f.seek(max(size - 8, 0))
        if size < 16 or f.read(8) != MCAP_MAGIC:
            raise TruncatedInputError(
                "truncated: no MCAP end magic (the writer did not finish)",
                path=str(path),
                offset=size,
            )
        f.seek(0)
        try:
            summary = SeekingReader(f, validate_crcs=True).get_summary()
        except MemoryError as err:
            raise LimitExceededError(
                "summary section claims more memory than the task limit", path=str(path)
            ) from err
        except MCAP_ERRORS as err:
            raise BadInputError(f"summary section unreadable: {err}", path=str(path)) from err
        if summary is None or not summary.chunk_indexes:
            f.seek(0)
            _stream_check(f, path, offset=0)
            return [f"{path.name}: no chunk index; streamed the whole file with CRC checks"], []
        without_crc = 0
        for index in summary.chunk_indexes:
            start, length = index.chunk_start_offset, index.chunk_length
            if start + length > size:
                raise TruncatedInputError(
                    f"chunk claims {length} bytes but the file ends at {size}",
                    path=str(path),
                    offset=start,
                )
            f.seek(start + _CHUNK_CRC_OFFSET)
            if f.read(4) == b"\x00\x00\x00\x00":
                without_crc += 1
            f.seek(start)
            _stream_check(
                io.BytesIO(f.read(length)), path, offset=start, skip_magic=True, expected=length
            )
    chunks = len(summary.chunk_indexes)
    warnings = (
        [f"{path.name}: {without_crc} of {chunks} chunks carry no CRC (the writer left it 0)"]
        if without_crc
        else []
    )
    return [f"{path.name}: {chunks} chunks, CRCs ok"], warnings


def _stream_check(
    stream: IO[bytes], path: Path, *, offset: int, skip_magic: bool = False, expected: int = 0
) -> None:
    """Parse every record of ``stream`` with CRC validation."""
    reader = StreamReader(
        stream, skip_magic=skip_magic, validate_crcs=True, record_size_limit=1 << 31
    )
    try:
        for _ in reader.records:
            pass
    except EndOfFile as err:
        # A lone chunk record has no footer after it: running out of bytes exactly at its
        # end is success; anywhere before that the chunk is cut short.
        if not skip_magic or stream.read(1):
            raise BadInputError("MCAP record cut short", path=str(path), offset=offset) from err
        if stream.tell() < expected:
            raise TruncatedInputError(
                "MCAP chunk cut short", path=str(path), offset=offset
            ) from err
    except MemoryError as err:
        raise LimitExceededError(
            "an MCAP record claims more memory than the task limit", path=str(path), offset=offset
        ) from err
    except MCAP_ERRORS as err:
        raise BadInputError(
            f"corrupt MCAP record: {type(err).__name__}: {err}", path=str(path), offset=offset
        ) from err
