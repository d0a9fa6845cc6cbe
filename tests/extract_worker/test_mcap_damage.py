"""Damaged MCAP files found by mutating the conformance recordings: each is exit 2 with a
message naming the damage, never an unexpected exception (which would be retried as exit 3)."""

from __future__ import annotations

import json
import struct
from typing import TYPE_CHECKING

import pytest
from mcap.reader import SeekingReader
from mcap.writer import Writer

from extract_worker.errors import EXIT_BAD_INPUT, BadInputError
from extract_worker.run import run_local_task
from tests.extract_worker.mcap_variants import LAYOUTS, write_variant

if TYPE_CHECKING:
    from pathlib import Path

    from extract_worker.config import ExtractConfig

_ZSTD = next(layout for layout in LAYOUTS if layout.name == "chunked-zstd")


def _fails(kind: str, src: Path, tmp_path: Path, config: ExtractConfig) -> str:
    with pytest.raises(BadInputError) as info:
        run_local_task(kind=kind, input_path=src, output=tmp_path / kind, config=config)
    assert info.value.exit_code == EXIT_BAD_INPUT
    return str(info.value)


def test_corrupt_zstd_chunk(tmp_path: Path, config: ExtractConfig) -> None:
    """Garbage inside a zstd chunk: zstandard's own error becomes bad input with the offset."""
    src = write_variant(tmp_path / "v.mcap", "ros2", _ZSTD, 10).path
    with src.open("rb") as f:
        summary = SeekingReader(f).get_summary()
    assert summary is not None
    chunk = summary.chunk_indexes[0]
    data = bytearray(src.read_bytes())
    end = chunk.chunk_start_offset + chunk.chunk_length
    data[end - 12 : end - 4] = b"\xff" * 8
    src.write_bytes(bytes(data))
    for kind in ("validate", "metadata"):
        message = _fails(kind, src, tmp_path, config)
        assert f"offset {chunk.chunk_start_offset}" in message


def test_footer_pointing_past_any_seekable_offset(tmp_path: Path, config: ExtractConfig) -> None:
    """A footer whose summary offset no file system can seek to is bad input, not an I/O error."""
    src = write_variant(tmp_path / "v.mcap", "ros2", _ZSTD, 3).path
    data = bytearray(src.read_bytes())
    # Footer: opcode, length, summary_start (u64), summary_offset_start (u64), crc; then magic.
    footer = len(data) - 8 - 20 - 9
    data[footer + 9 : footer + 17] = struct.pack("<Q", (1 << 64) - 1)
    src.write_bytes(bytes(data))
    assert "summary section unreadable" in _fails("metadata", src, tmp_path, config)


def test_json_integer_beyond_int64(tmp_path: Path, config: ExtractConfig) -> None:
    """A JSON integer the schema types as integer but that does not fit 64 bits: the task
    names the topic instead of failing inside pyarrow."""
    src = tmp_path / "big.mcap"
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}}
    with src.open("wb") as f:
        writer = Writer(f)
        writer.start(profile="", library="avops-tests")
        sid = writer.register_schema("demo.Count", "jsonschema", json.dumps(schema).encode())
        cid = writer.register_channel("/count", "json", sid)
        writer.add_message(cid, 1, b'{"n": 1}', 1)
        writer.add_message(cid, 2, json.dumps({"n": 1 << 70}).encode(), 2)
        writer.finish()
    message = _fails("structured", src, tmp_path, config)
    assert "/count" in message and "does not fit in 64 bits" in message


def test_schema_missing_a_nested_type_is_listed(tmp_path: Path, config: ExtractConfig) -> None:
    """A ros2msg schema referring to a type it does not define: the topic is listed as
    undecodable with that type named; the other topic still extracts."""
    src = write_variant(tmp_path / "v.mcap", "ros2", _ZSTD, 3).path
    data = src.read_bytes()
    damaged = data.replace(b"MSG: std_msgs/Header\n", b"MSG: std_msgs/Headex\n")
    assert damaged != data
    src.write_bytes(damaged)
    manifest = run_local_task(kind="gps", input_path=src, output=tmp_path / "o", config=config)
    (error,) = manifest["errors"]
    assert error["stream"] == "/gps"
    assert "does not define 'std_msgs/msg/Header'" in error["error"]
