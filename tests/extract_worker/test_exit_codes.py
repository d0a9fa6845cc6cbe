"""Exit codes are a contract: the input's fault is 2 (never retried), the environment's is 3.

Unit tests of the classification with real library errors, and subprocess tests of the
JSON-only stderr (including what Python prints at interpreter shutdown).
"""

from __future__ import annotations

import errno
import json
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

from extract_worker.classify import classify_failure, is_input_failure
from extract_worker.errors import (
    EXIT_BAD_INPUT,
    EXIT_RETRYABLE,
    BadInputError,
    RetryableExtractError,
    TaskTimeoutError,
)
from tests.extract_worker.tables import write_mdf
from tests.worker_command import worker_run

if TYPE_CHECKING:
    from pathlib import Path


def _raised(action: object) -> BaseException:
    try:
        action()  # type: ignore[operator]
    except BaseException as err:  # noqa: BLE001 - the test wants whatever was raised
        return err
    raise AssertionError("nothing was raised")


def _zstd_corrupt() -> None:
    import zstandard

    payload = bytes(range(256)) * 40
    frame = bytearray(zstandard.ZstdCompressor(write_checksum=True).compress(payload))
    frame[len(frame) // 2] ^= 0xFF
    zstandard.decompress(bytes(frame), max_output_size=1 << 20)


def _isal_corrupt() -> None:
    from isal import isal_zlib

    data = bytearray(isal_zlib.compress(b"mdf samples " * 500))
    data[-2] ^= 0xFF  # the adler32 trailer
    isal_zlib.decompress(bytes(data))


def _nptdms_unsupported_type() -> None:
    import io
    import struct

    from nptdms.tdms_segment import TdmsSegmentObject

    # Data type 0x0B (extended float) has no size: nptdms raises "Unsupported data type".
    index = io.BytesIO(struct.pack("<LLQ", 0x0B, 1, 3))
    TdmsSegmentObject("/'g'/'c'").read_raw_data_index(index, 20, "<")


def _rosbags_bad_header() -> None:
    from rosbags.rosbag1.reader import Header

    Header.read(__import__("io").BytesIO(b"\xff\xff\xff\x7f"))


@pytest.mark.parametrize(
    "action",
    [_zstd_corrupt, _isal_corrupt, _rosbags_bad_header],
    ids=["zstd", "isal", "rosbags"],
)
def test_codec_and_parser_errors_are_bad_input(action: object) -> None:
    """zstd 'Data corruption', IsalError, a rosbags parse error: exit 2 naming the file."""
    failure = classify_failure(_raised(action), path="/in/drive.mcap")
    assert isinstance(failure, BadInputError)
    assert failure.exit_code == EXIT_BAD_INPUT
    assert str(failure).startswith("/in/drive.mcap: ")


def test_nptdms_unsupported_type_raised_in_its_frames_is_bad_input() -> None:
    """A plain ValueError is the input's when nptdms raised it (Unsupported data type...)."""
    err = _raised(_nptdms_unsupported_type)
    assert "Unsupported data type" in str(err)
    assert is_input_failure(err), repr(err)
    assert classify_failure(err, path="/in/rig.tdms").exit_code == EXIT_BAD_INPUT


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EIO, errno.ETIMEDOUT, errno.EMFILE])
def test_machine_errors_are_retryable_even_inside_a_parser(code: int) -> None:
    """Disk full or an I/O error while zstd reads is the environment's: exit 3."""

    def read_fails() -> None:
        try:
            _zstd_corrupt()
        except Exception as err:
            raise OSError(code, "device trouble") from err

    failure = classify_failure(_raised(read_fails), path="/in/x.mcap")
    assert failure.exit_code == EXIT_RETRYABLE


def test_a_bug_in_the_worker_stays_retryable() -> None:
    """A KeyError from the worker's own code is not proven bad input: exit 3, retry cap ends it."""
    failure = classify_failure(_raised(lambda: {}["missing"]), path="/in/x.bag")
    assert failure.exit_code == EXIT_RETRYABLE


def test_reader_retryable_error_caused_by_a_parser_einval_is_bad_input() -> None:
    """A reader took the parser's EINVAL (a seek the damaged file asked for) for I/O."""

    def seek_negative() -> None:
        import os
        import tempfile

        from rosbags.rosbag1 import reader as rosbag1_reader

        with tempfile.TemporaryFile() as f:
            # Run in a frame of the rosbags module, as when its reader seeks where a damaged
            # index points: lseek to a negative offset is EINVAL.
            exec("os.lseek(fd, -5, 0)", vars(rosbag1_reader) | {"os": os, "fd": f.fileno()})

    cause = _raised(seek_negative)
    assert isinstance(cause, OSError)
    assert cause.errno == errno.EINVAL

    def reader_translates() -> None:
        raise RetryableExtractError("/in/x.bag: I/O error") from cause

    failure = classify_failure(_raised(reader_translates), path="/in/x.bag")
    assert failure.exit_code == EXIT_BAD_INPUT


def test_timeouts_stay_retryable() -> None:
    """The wall-clock limit is the environment's, wherever the alarm interrupted."""
    failure = classify_failure(TaskTimeoutError("slow"), path="/in/x.bag")
    assert failure.exit_code == EXIT_RETRYABLE


def _stderr_lines(stderr: str) -> list[dict[str, object]]:
    lines = []
    for line in stderr.splitlines():
        parsed = json.loads(line)  # raises on any non-JSON line
        assert isinstance(parsed, dict), line
        lines.append(parsed)
    return lines


def test_truncated_mdf4_exits_2_with_json_only_stderr(tmp_path: Path) -> None:
    """asammdf's MDF4.__del__ used to print a plain traceback at shutdown; now all is JSON."""
    src = write_mdf(tmp_path / "drive.mf4")
    data = src.read_bytes()
    src.write_bytes(data[: len(data) // 3])
    proc = subprocess.run(
        worker_run("validate", str(src), str(tmp_path / "out")),
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == EXIT_BAD_INPUT, proc.stderr
    lines = _stderr_lines(proc.stderr)
    errors = [line for line in lines if line["level"] == "error"]
    assert len(errors) == 1
    assert str(errors[0]["message"]).startswith(f"{src}: ")


def test_unraisable_errors_and_library_text_at_shutdown_become_json_lines() -> None:
    """A __del__ failing at interpreter exit, a library's own text handler, print to stderr."""
    code = (
        "import logging, sys\n"
        "from extract_worker.logs import configure_logging\n"
        "configure_logging({'measurement_id': 'm-1'})\n"
        "own = logging.getLogger('somelib')\n"
        "own.addHandler(logging.StreamHandler())\n"
        "own.warning('[somelib WARNING] plain text')\n"
        "print('a bare line', file=sys.stderr)\n"
        "class Finalized:\n"
        "    def __del__(self):\n"
        "        raise ValueError('closing a half-open file')\n"
        "kept = Finalized()\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    lines = _stderr_lines(proc.stderr)
    messages = [str(line["message"]) for line in lines]
    assert "[somelib WARNING] plain text" in messages
    assert "a bare line" in messages
    unraisable = [line for line in lines if line.get("source") == "unraisable"]
    assert len(unraisable) == 1
    assert "closing a half-open file" in str(unraisable[0]["message"])
    assert all(line.get("measurement_id") == "m-1" for line in lines)
