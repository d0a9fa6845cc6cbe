"""MCAP of every layout and encoding: metadata matches what was written, rows come back.

The recordings come from :mod:`tests.extract_worker.mcap_variants` (written per test with the
mcap writer). Bad variants (statistics that disagree with the data, a flipped chunk byte)
must fail with exit code 2 and name the record.
"""

from __future__ import annotations

import dataclasses
import json
from typing import TYPE_CHECKING, Any

import pyarrow.parquet as pq
import pytest

from extract_worker.errors import EXIT_BAD_INPUT, BadInputError
from tests.extract_worker.mcap_variants import (
    BASE_NS,
    GPS_TOPIC,
    LAYOUTS,
    STEP_NS,
    VARIANTS,
    Layout,
    statistics_record,
    write_variant,
)
from tests.extract_worker.mutants import flip_mcap_chunk_byte, mcap_summary
from tests.extract_worker.support import run

if TYPE_CHECKING:
    from pathlib import Path

    from extract_worker.config import ExtractConfig

_BY_NAME = {layout.name: layout for layout in LAYOUTS}


@pytest.mark.parametrize(
    ("encoding", "layout", "n"),
    VARIANTS,
    ids=[f"{e}-{layout.name}-{n}" for e, layout, n in VARIANTS],
)
def test_variant_metadata_validate_and_rows(
    encoding: str, layout: Layout, n: int, tmp_path: Path, config: ExtractConfig
) -> None:
    """Every variant: metadata per channel equals what was written, validate passes, and
    the GPS task returns the written rows in log-time order (unordered files included)."""
    written = write_variant(tmp_path / "v.mcap", encoding, layout, n)
    out = tmp_path / "out"
    meta = run("metadata", written.path, out, config)["metadata"]
    got = {
        topic: (s["type"], s["count"], s["start_ns"], s["end_ns"])
        for topic, s in meta["streams"].items()
    }
    assert got == written.expected_streams()
    assert meta["message_count"] == 2 * n
    assert (
        meta["streams"][GPS_TOPIC]["message_encoding"]
        == {"ros2": "cdr", "ros1": "ros1", "protobuf": "protobuf", "json": "json"}[encoding]
    )
    if n > 1:
        assert meta["streams"][GPS_TOPIC]["frequency_hz"] == pytest.approx(1e9 / STEP_NS)

    report = run("validate", written.path, out, config)["validation"]
    assert not [w for w in report["warnings"] if "topic" in w], report["warnings"]

    gps = run("gps", written.path, out, config)
    if n == 0:
        assert gps["files"] == []
        return
    (entry,) = gps["files"]
    table = pq.read_table(out / "gps" / entry["path"])
    assert table.column("time_ns").to_pylist() == [BASE_NS + i * STEP_NS for i in range(n)]
    assert table.column("latitude").to_pylist() == pytest.approx(written.latitudes)

    structured = run("structured", written.path, out, config)
    (status,) = structured["files"]
    assert pq.read_table(out / "structured" / status["path"]).num_rows == n


def _written(tmp_path: Path, layout: str = "chunked-none") -> Path:
    return write_variant(tmp_path / "v.mcap", "ros2", _BY_NAME[layout], 10).path


def test_statistics_disagreeing_with_the_data_fail_validate(
    tmp_path: Path, config: ExtractConfig
) -> None:
    """A Statistics record counting one message too many: validate exits 2 naming it, and
    metadata reports the count it read, with a warning naming the disagreement."""
    src = _written(tmp_path)
    summary = mcap_summary(src)
    assert summary.statistics is not None
    stats = summary.statistics
    wrong = dataclasses.replace(
        stats,
        message_count=stats.message_count + 1,
        channel_message_counts={
            cid: count + (1 if cid == 1 else 0)
            for cid, count in stats.channel_message_counts.items()
        },
    )
    data = src.read_bytes()
    original = statistics_record(stats)
    assert data.count(original) == 1
    src.write_bytes(data.replace(original, statistics_record(wrong)))

    with pytest.raises(BadInputError) as info:
        run("validate", src, tmp_path / "out", config)
    assert info.value.exit_code == EXIT_BAD_INPUT
    assert "Statistics record says message_count 21 but the file holds 20" in str(info.value)

    meta = run("metadata", src, tmp_path / "out", config)["metadata"]
    assert meta["streams"][GPS_TOPIC]["count"] == 10
    assert meta["warnings"] == [
        f"topic {GPS_TOPIC!r}: statistics records 11 messages, 10 were read"
    ]


def test_flipped_chunk_byte_fails_every_task(tmp_path: Path, config: ExtractConfig) -> None:
    """A chunk whose CRC does not match its bytes: validate and metadata exit 2 with its offset."""
    src = _written(tmp_path)
    chunk_start = flip_mcap_chunk_byte(src, 1)
    for kind in ("validate", "metadata", "gps"):
        with pytest.raises(BadInputError) as info:
            run(kind, src, tmp_path / kind, config)
        assert info.value.exit_code == EXIT_BAD_INPUT
        assert "crc" in str(info.value).lower(), str(info.value)
        assert f"offset {chunk_start}" in str(info.value), str(info.value)


def test_empty_mcap_without_channels(tmp_path: Path, config: ExtractConfig) -> None:
    """A finished MCAP with no channel at all: metadata says so, validate passes."""
    from mcap.writer import Writer

    src = tmp_path / "empty.mcap"
    with src.open("wb") as f:
        writer = Writer(f)
        writer.start(profile="", library="avops-tests")
        writer.finish()
    meta = run("metadata", src, tmp_path / "out", config)["metadata"]
    assert (meta["stream_count"], meta["message_count"], meta["start_ns"]) == (0, 0, None)
    assert run("validate", src, tmp_path / "out", config)["validation"]["checks"]


def test_metadata_json_lists_schema_and_encodings(tmp_path: Path, config: ExtractConfig) -> None:
    """The metadata file names each channel's schema, schema encoding and message encoding."""
    written = write_variant(tmp_path / "v.mcap", "protobuf", _BY_NAME["chunked-zstd"], 3)
    run("metadata", written.path, tmp_path / "out", config)
    meta = json.loads((tmp_path / "out" / "metadata" / "metadata.json").read_text())
    gps = meta["streams"][GPS_TOPIC]
    assert (gps["schema"], gps["schema_encoding"], gps["message_encoding"]) == (
        "foxglove.LocationFix",
        "protobuf",
        "protobuf",
    )
    assert gps["count_source"] == "statistics"


def test_overlapping_chunks_past_the_heap_budget_sort_through_disk(
    tmp_path: Path, config: ExtractConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Chunks whose times overlap more than the merge heap may hold: the rest is sorted
    through spilled runs and the rows still come out in log-time order."""
    from extract_worker.readers.mcap_file import McapFileReader

    monkeypatch.setattr(McapFileReader, "heap_budget", 64)
    written = write_variant(tmp_path / "v.mcap", "ros2", _BY_NAME["chunked-unordered"], 10)
    gps = run("gps", written.path, tmp_path / "out", config)
    table = pq.read_table(tmp_path / "out" / "gps" / gps["files"][0]["path"])
    assert table.column("time_ns").to_pylist() == [BASE_NS + i * STEP_NS for i in range(10)]
    assert table.column("latitude").to_pylist() == pytest.approx(written.latitudes)


def test_chunk_missing_from_the_chunk_indexes_fails_validate(
    tmp_path: Path, config: ExtractConfig
) -> None:
    """A summary that indexes one chunk fewer than the file holds: reading through the
    indexes would drop that chunk's messages, so validate exits 2 naming the ChunkIndex."""
    layout = Layout("plain-summary", statistics=False, summary_offsets=False)
    src = write_variant(tmp_path / "v.mcap", "ros2", layout, 10).path
    n = _drop_last_chunk_index(src)
    message = str(_fails_validate(src, tmp_path, config))
    assert f"the file holds {n} chunks but the summary has {n - 1} ChunkIndex records" in message


def _drop_last_chunk_index(src: Path) -> int:
    """Cut the last ChunkIndex record out of the summary; how many there were."""
    from mcap.data_stream import RecordBuilder

    summary = mcap_summary(src)
    assert len(summary.chunk_indexes) > 1
    builder = RecordBuilder()
    summary.chunk_indexes[-1].write(builder)
    record = bytes(builder.end())
    data = src.read_bytes()
    assert data.count(record) == 1
    src.write_bytes(data.replace(record, b""))
    return len(summary.chunk_indexes)


def _fails_validate(src: Path, tmp_path: Path, config: ExtractConfig) -> BadInputError:
    with pytest.raises(BadInputError) as info:
        run("validate", src, tmp_path / "out", config)
    assert info.value.exit_code == EXIT_BAD_INPUT
    return info.value


POINT_IDL = """module demo_msgs {
  module msg {
    struct Point2 {
      double x;
      double y;
      string label;
    };
  };
};
"""


def test_ros2idl_schema_decodes_into_a_table(tmp_path: Path, config: ExtractConfig) -> None:
    """A CDR channel whose schema is ROS 2 IDL (as rosbag2 stores IDL-defined types, with the
    ``IDL:`` separator form) becomes a structured table of its fields."""
    from mcap.writer import Writer
    from rosbags.typesys import Stores, get_types_from_idl, get_typestore

    store = get_typestore(Stores.EMPTY)
    store.register(get_types_from_idl(POINT_IDL))
    src = tmp_path / "idl.mcap"
    schema_text = "=" * 80 + "\nIDL: demo_msgs/msg/Point2\n" + POINT_IDL
    with src.open("wb") as f:
        writer = Writer(f)
        writer.start(profile="ros2", library="avops-tests")
        sid = writer.register_schema("demo_msgs/msg/Point2", "ros2idl", schema_text.encode())
        cid = writer.register_channel("/point", "cdr", sid)
        point = store.types["demo_msgs/msg/Point2"]
        for i in range(3):
            data = store.serialize_cdr(
                point(x=float(i), y=2.0, label=f"p{i}"), "demo_msgs/msg/Point2"
            )
            writer.add_message(cid, BASE_NS + i, bytes(data), BASE_NS + i)
        writer.finish()
    manifest = run("structured", src, tmp_path / "out", config)
    assert manifest["errors"] == []
    rows = pq.read_table(tmp_path / "out" / "structured" / manifest["files"][0]["path"])
    assert rows.column("x").to_pylist() == [0.0, 1.0, 2.0]
    assert rows.column("label").to_pylist() == ["p0", "p1", "p2"]


def test_metadata_without_message_indexes_reads_each_chunk_once(
    tmp_path: Path, config: ExtractConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Chunk indexes but no statistics or message indexes: the counts come from reading the
    chunks, and ``metadata``'s own read is that count (every chunk opened once, not twice)."""
    from extract_worker.readers import mcap_records

    opened: list[int] = []
    split = mcap_records.split_chunk

    def counted(chunk: Any) -> Any:
        opened.append(chunk.message_start_time)
        return split(chunk)

    monkeypatch.setattr(mcap_records, "split_chunk", counted)
    written = write_variant(tmp_path / "v.mcap", "ros2", _BY_NAME["chunk-index-only"], 10)
    summary = mcap_summary(written.path)
    assert len(summary.chunk_indexes) > 1
    meta = run("metadata", written.path, tmp_path / "out", config)["metadata"]
    assert {s["count_source"] for s in meta["streams"].values()} == {"scan"}
    assert meta["message_count"] == 20
    assert meta["warnings"] == []
    assert len(opened) == len(summary.chunk_indexes)


def test_unindexed_chunk_is_counted_and_metadata_says_it_was_not_read(
    tmp_path: Path, config: ExtractConfig
) -> None:
    """A chunk the summary does not index, in a file without message indexes or statistics:
    the scan (not put off, as the indexes do not cover the file) counts its messages and
    metadata warns that the read through the indexes found fewer."""
    src = write_variant(tmp_path / "v.mcap", "ros2", _BY_NAME["chunk-index-only"], 10).path
    _drop_last_chunk_index(src)
    meta = run("metadata", src, tmp_path / "out", config)["metadata"]
    assert meta["message_count"] < 20
    assert any("scan records" in w and "were read" in w for w in meta["warnings"]), meta
