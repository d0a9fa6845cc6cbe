"""Bad input: a clear error naming file and offset, exit code 2, nothing committed."""

from __future__ import annotations

import json
import sqlite3
import struct
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

from extract_worker.cli import main
from extract_worker.errors import EXIT_BAD_INPUT, EXIT_OK
from tests.extract_worker.mutants import flip_mcap_chunk_byte
from tests.extract_worker.recordings import (
    TRACK_LIST_MSG,
    TRACK_MSG,
    write_mcap,
    write_ros1,
    write_ros2,
)

if TYPE_CHECKING:
    from pathlib import Path


def run_cli(
    capsys: pytest.CaptureFixture[str], kind: str, src: Path, out: Path, *extra: str
) -> tuple[int, list[dict]]:
    code = main(
        ["run", "--task", kind, "--input", str(src), "--output", str(out), "--no-limits", *extra]
    )
    lines = [
        json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")
    ]
    return code, lines


def assert_nothing_committed(out: Path) -> None:
    assert not out.exists() or sorted(p.name for p in out.iterdir()) == []


def error_of(lines: list[dict]) -> str:
    (error,) = [line for line in lines if line["level"] == "error"]
    return str(error["message"])


def refused(
    capsys: pytest.CaptureFixture[str], kind: str, src: Path, out: Path, *extra: str
) -> str:
    """Run the task on bad input: it must exit with EXIT_BAD_INPUT and commit nothing; the
    one error line's message is returned for the test to check."""
    code, lines = run_cli(capsys, kind, src, out, *extra)
    assert code == EXIT_BAD_INPUT
    assert_nothing_committed(out)
    return error_of(lines)


def test_zero_byte_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "empty.bag"
    src.touch()
    message = refused(capsys, "validate", src, tmp_path / "out")
    assert message == f"{src}: offset 0: empty file (0 bytes)"


def test_truncated_ros1_bag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = write_ros1(tmp_path / "drive.bag")
    data = src.read_bytes()
    src.write_bytes(data[: len(data) // 2])
    message = refused(capsys, "validate", src, tmp_path / "out")
    assert str(src) in message
    assert f"offset {len(data) // 2}" in message
    assert "truncated" in message


def test_unindexed_ros1_bag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = write_ros1(tmp_path / "drive.bag")
    data = bytearray(src.read_bytes())
    pos = data.index(b"index_pos=") + len("index_pos=")
    data[pos : pos + 8] = struct.pack("<Q", 0)
    src.write_bytes(bytes(data))
    message = refused(capsys, "metadata", src, tmp_path / "out")
    assert "not indexed" in message


def test_mcap_with_flipped_byte_in_chunk(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = write_mcap(tmp_path / "drive.mcap", compression="none")
    chunk_start = flip_mcap_chunk_byte(src, 100)
    message = refused(capsys, "validate", src, tmp_path / "out")
    assert f"{src}: offset {chunk_start}:" in message
    assert "CRC" in message or "crc" in message


def test_truncated_mcap(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = write_mcap(tmp_path / "drive.mcap")
    data = src.read_bytes()
    src.write_bytes(data[: len(data) - 500])
    message = refused(capsys, "validate", src, tmp_path / "out")
    assert "truncated" in message or "end magic" in message


def _strip_definitions(bag: Path) -> None:
    """Make a ROS 2 sqlite3 bag look like one recorded before definitions were embedded."""
    (db,) = bag.glob("*.db3")
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE message_definitions SET encoding = '', type_description_hash = ''")
        conn.execute("DELETE FROM message_definitions")
    meta = (bag / "metadata.yaml").read_text()
    (bag / "metadata.yaml").write_text(meta)


def test_unknown_type_skips_topic_and_names_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bag = write_ros2(tmp_path / "bag")
    _strip_definitions(bag)
    out = tmp_path / "out"
    code, _ = run_cli(capsys, "structured", bag, out)
    assert code == EXIT_OK
    manifest = json.loads((out / "structured" / "_manifest.json").read_text())
    # The distro typestore resolves std_msgs/String; the custom track list is unknown.
    assert [f["stream"] for f in manifest["files"]] == ["/status"]
    (error,) = manifest["errors"]
    assert error["stream"] == "/tracks"
    assert "unknown message type 'demo_msgs/msg/TrackList' on topic '/tracks'" in error["error"]

    # Asked for explicitly, the unknown topic fails the task: exit 2, nothing committed.
    message = refused(capsys, "structured", bag, tmp_path / "out2", "--topics", "/tracks")
    assert "'/tracks'" in message


def test_msg_folder_resolves_types_a_bag_lacks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bag = write_ros2(tmp_path / "bag")
    _strip_definitions(bag)
    msgs = tmp_path / "msgs" / "demo_msgs" / "msg"
    msgs.mkdir(parents=True)
    (msgs / "Track.msg").write_text(TRACK_MSG)
    (msgs / "TrackList.msg").write_text(TRACK_LIST_MSG)
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"msg_folder": "msgs"}))
    code, _ = run_cli(capsys, "structured", bag, tmp_path / "out", "--config", str(config))
    assert code == EXIT_OK
    manifest = json.loads((tmp_path / "out" / "structured" / "_manifest.json").read_text())
    assert sorted(f["stream"] for f in manifest["files"]) == ["/status", "/tracks"]
    assert manifest["errors"] == []


def _first_chunk_data_length_offset(data: bytes) -> int:
    """Offset of the first chunk record's data length (records: len, header, len, data)."""
    pos = len(b"#ROSBAG V2.0\n")
    while True:
        (header_len,) = struct.unpack_from("<I", data, pos)
        header = data[pos + 4 : pos + 4 + header_len]
        data_len_pos = pos + 4 + header_len
        if b"op=\x05" in header:
            return data_len_pos
        (data_len,) = struct.unpack_from("<I", data, data_len_pos)
        pos = data_len_pos + 4 + data_len


def test_record_claiming_4gb_is_named_with_its_offset(tmp_path: Path) -> None:
    """A ROS 1 chunk whose data length claims ~4 GB: exit 2, the record's offset named."""
    src = write_ros1(tmp_path / "drive.bag")
    data = bytearray(src.read_bytes())
    size_pos = _first_chunk_data_length_offset(bytes(data))
    data[size_pos : size_pos + 4] = struct.pack("<I", 0xFFFFFFF0)
    src.write_bytes(bytes(data))
    out = tmp_path / "out"
    argv = [
        sys.executable, "-m", "extract_worker", "run", "--task", "structured",
        "--input", str(src), "--output", str(out), "--memory-mb", "1024",
        "--measurement-id", "m-1",
    ]  # fmt: skip
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    assert proc.returncode == EXIT_BAD_INPUT, proc.stderr
    (line,) = [json.loads(x) for x in proc.stderr.splitlines() if '"error"' in x]
    assert line["message"] == (
        f"{src}: offset {_record_start(bytes(data), size_pos)}: record claims 4294967280 bytes "
        f"of data but the file ends at {len(data)}"
    )
    assert line["measurement_id"] == "m-1"
    assert_nothing_committed(out)


def _record_start(data: bytes, data_len_pos: int) -> int:
    pos = len(b"#ROSBAG V2.0\n")
    while True:
        (header_len,) = struct.unpack_from("<I", data, pos)
        if pos + 4 + header_len == data_len_pos:
            return pos
        (data_len,) = struct.unpack_from("<I", data, pos + 4 + header_len)
        pos += 4 + header_len + 4 + data_len


def test_memory_limit_turns_a_huge_allocation_into_exit_2(tmp_path: Path) -> None:
    """RLIMIT_AS makes an absurd allocation fail inside the worker, mapped to exit 2."""
    code = (
        "import sys\n"
        "from extract_worker.cli import main\n"
        "import extract_worker.run as run\n"
        "def huge(**kw):\n"
        "    return bytearray(4 << 30)\n"
        "run.run_local_task = huge\n"
        "sys.exit(main(['run', '--task', 'metadata', '--input', sys.argv[1], '--output',"
        " sys.argv[2], '--memory-mb', '1024']))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "x.bag"), str(tmp_path / "out")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == EXIT_BAD_INPUT, proc.stderr
    assert '"error": "LimitExceededError"' in proc.stderr


def test_time_limit_raises_retryable_timeout() -> None:
    code = (
        "import time\n"
        "from extract_worker.limits import apply_limits\n"
        "apply_limits(memory_mb=2048, time_s=1)\n"
        "time.sleep(5)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert "TaskTimeoutError: task ran longer than its limit of 1 s" in proc.stderr
