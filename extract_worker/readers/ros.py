"""ROS 1 bags and ROS 2 bags (directories, or a bare sqlite3 file) via rosbags.

Bare MCAP files go to :mod:`extract_worker.readers.mcap_file` (any profile and encoding).

Topic filters go down to the rosbags readers, which pick messages through the chunk indexes:
chunks without a selected topic are never read or decompressed.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import struct
import tempfile
from contextlib import suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rosbags.rosbag1 import Reader as Reader1
from rosbags.rosbag1 import ReaderError as ReaderError1
from rosbags.rosbag2 import Reader as Reader2
from rosbags.rosbag2 import ReaderError as ReaderError2
from rosbags.serde import SerdeError

from extract_worker.errors import (
    BadInputError,
    ExtractError,
    LimitExceededError,
    RetryableExtractError,
    TruncatedInputError,
    UnknownTypeError,
)
from extract_worker.readers.base import MessageReader, StreamInfo, ValidationReport
from extract_worker.readers.mcap_check import check_mcap_file
from extract_worker.readers.ros2_bag import PairingReader, checkpointed_copy
from extract_worker.readers.ros_types import build_typestore

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from rosbags.interfaces import Connection
    from rosbags.typesys.store import Typestore

    from extract_worker.config import ExtractConfig

__all__ = ["RosReader", "translate_error"]

_ROS1_MAGIC = b"#ROSBAG V2.0\n"
# Errors the parsers raise on malformed bytes; anything else is a bug and propagates as is.
_PARSE_ERRORS = (
    ReaderError1,
    ReaderError2,
    SerdeError,
    struct.error,
    ValueError,
    KeyError,
    IndexError,
    EOFError,
    RuntimeError,  # lz4 frame errors
    AssertionError,  # rosbags asserts record invariants while parsing
    sqlite3.DatabaseError,
)


def translate_error(err: BaseException, path: Path, *, offset: int | None = None) -> ExtractError:
    """Map a parser's exception onto the worker's family, keeping the message."""
    if isinstance(err, ExtractError):
        return err
    if isinstance(err, MemoryError):
        return LimitExceededError(
            "parsing needs more memory than the task limit (a record claims an absurd size?)",
            path=str(path),
            offset=offset,
        )
    if (
        isinstance(err, OSError)
        and err.errno is not None
        and not isinstance(err, FileNotFoundError)
    ):
        # A real I/O error (NFS away, disk): the same input may read fine on a retry.
        return RetryableExtractError(f"{path}: I/O error: {err}")
    detail = " ".join(str(arg) for arg in err.args) or type(err).__name__
    if "not indexed" in detail.lower():
        return BadInputError(f"ROS 1 bag is not indexed: {detail}", path=str(path), offset=offset)
    return BadInputError(detail, path=str(path), offset=offset)


class RosReader(MessageReader):
    """One ROS recording: a ``.bag`` file, a ROS 2 bag directory, a ``.db3`` or ``.mcap`` file."""

    def __init__(self, path: Path, config: ExtractConfig, *, fmt: str) -> None:
        super().__init__(path, config)
        self.format = fmt
        self._reader: Reader1 | Reader2 | None = None
        self._typestore: Typestore | None = None
        self._unknown: dict[str, str] = {}
        self._by_topic: dict[str, list[Connection]] = {}
        self._link_dir: Path | None = None
        self._storage_path = path

    def open(self) -> None:
        """Open the recording, read its indexes and build the typestore."""
        if self.format == "ros1":
            self._check_ros1_header()
        try:
            reader: Reader1 | Reader2 = (
                Reader1(self.path) if self.format == "ros1" else PairingReader(self._rosbags_path())
            )
            reader.open()
        except (*_PARSE_ERRORS, OSError, MemoryError) as err:
            if self.format == "ros1" and (damage := _find_ros1_damage(self.path)):
                raise BadInputError(damage[1], path=str(self.path), offset=damage[0]) from err
            raise translate_error(err, self.path) from err
        self._reader = reader
        if isinstance(reader, PairingReader):
            self.notes.extend(reader.notes)
        for connection in reader.connections:
            # A damaged topics table (rosbag2's sqlite3) can hold NULL cells: the reader hands
            # them on as None, which no later step can use or even sort.
            for field in ("topic", "msgtype"):
                if not isinstance(getattr(connection, field), str) or not getattr(
                    connection, field
                ):
                    raise BadInputError(
                        f"connection {connection.id} has no {field} (damaged topic table)",
                        path=str(self.path),
                    )
            self._by_topic.setdefault(connection.topic, []).append(connection)

    def _types(self) -> tuple[Typestore, dict[str, str]]:
        """The typestore and unresolved topics, built on first use.

        Lazy because parsing every definition costs tens of ms that ``metadata`` and
        ``validate``'s raw passes never need.
        """
        if self._typestore is None:
            self._typestore, self._unknown = build_typestore(
                self._open_reader().connections,
                distro=self.config.ros_distro,
                msg_folder=self.config.msg_folder,
            )
        return self._typestore, self._unknown

    def _rosbags_path(self) -> Path:
        """The path to hand rosbags, which picks the ROS 2 storage plugin by file suffix.

        A bare MCAP or sqlite3 file whose name lacks the suffix (blob names, uploads) gets a
        correctly named symlink in a private temporary directory.
        """
        if self.format == "ros2" and (copy := checkpointed_copy(self.path)) is not None:
            # Messages still in a write-ahead log: read a checkpointed copy.
            self._link_dir, self._storage_path = copy
            return self._storage_path
        suffix = {"mcap": ".mcap", "ros2": ".db3"}.get(self.format)
        if self.path.is_dir() or suffix is None or self.path.suffix == suffix:
            return self.path
        self._link_dir = Path(tempfile.mkdtemp(prefix="extract-link-"))
        link = self._link_dir / f"{self.path.stem or 'recording'}{suffix}"
        link.symlink_to(self.path.resolve())
        return link

    def _check_ros1_header(self) -> None:
        """Check magic, index position and size before rosbags seeks, to name the offset."""
        size = self.path.stat().st_size
        with self.path.open("rb") as f:
            head = f.read(4096)
        if not head.startswith(_ROS1_MAGIC):
            raise BadInputError("not a ROS 1 bag (bad magic)", path=str(self.path), offset=0)
        header_start = len(_ROS1_MAGIC)
        try:
            (header_len,) = struct.unpack_from("<I", head, header_start)
            fields = _parse_ros1_header(head[header_start + 4 : header_start + 4 + header_len])
        except (struct.error, ValueError) as err:
            raise TruncatedInputError(
                f"bag header unreadable: {err}", path=str(self.path), offset=header_start
            ) from err
        index_pos = struct.unpack("<Q", fields["index_pos"])[0] if "index_pos" in fields else 0
        if index_pos == 0:
            raise BadInputError(
                "ROS 1 bag is not indexed (index_pos is 0): the recorder did not finish; "
                "run `rosbag reindex`",
                path=str(self.path),
                offset=header_start,
            )
        if index_pos >= size:
            raise TruncatedInputError(
                f"truncated: the index should start at offset {index_pos} but the file has "
                f"{size} bytes",
                path=str(self.path),
                offset=size,
            )

    def close(self) -> None:
        """Close the rosbags reader if it is open."""
        reader, self._reader = self._reader, None
        if reader is not None:
            with suppress(*_PARSE_ERRORS, OSError):
                reader.close()
        link_dir, self._link_dir = self._link_dir, None
        if link_dir is not None:
            shutil.rmtree(link_dir, ignore_errors=True)

    def _open_reader(self) -> Reader1 | Reader2:
        if self._reader is None:
            raise BadInputError("reader is not open", path=str(self.path))
        return self._reader

    def streams(self) -> list[StreamInfo]:
        """One entry per topic, with type, count and the serialization format."""
        out = []
        for topic, connections in sorted(self._by_topic.items()):
            msgtypes = sorted({c.msgtype for c in connections})
            out.append(
                StreamInfo(
                    name=topic,
                    msgtype=msgtypes[0] if len(msgtypes) == 1 else ",".join(msgtypes),
                    count=sum(c.msgcount for c in connections),
                    extra={"serialization": _serialization(connections[0])},
                )
            )
        return out

    def time_range(self) -> tuple[int | None, int | None]:
        """Earliest message time and the time after the latest, in ns."""
        reader = self._open_reader()
        if reader.message_count == 0:
            return None, None
        return reader.start_time, reader.end_time

    def unknown_types(self) -> dict[str, str]:
        """Topics whose type did not resolve, with the reason."""
        return dict(self._types()[1])

    def messages(self, topics: list[str]) -> Iterator[tuple[str, int, bytes]]:
        """Raw messages of ``topics`` in time order (all topics if ``topics`` is empty)."""
        reader = self._open_reader()
        connections = [c for t in topics for c in self._by_topic.get(t, [])]
        if topics and not connections:
            return
        try:
            for connection, timestamp, data in reader.messages(connections=connections):
                yield connection.topic, timestamp, data
        except (*_PARSE_ERRORS, OSError, MemoryError) as err:
            raise translate_error(err, self.path, offset=self._chunk_offset()) from err

    def _chunk_offset(self) -> int | None:
        """File offset of the chunk being read when a ROS 1 read failed."""
        reader = self._reader
        if isinstance(reader, Reader1):
            current: Any = getattr(reader, "current_chunk", None)
            if current and current[0] >= 0:
                return int(current[0])
        return None

    def type_fields(self, msgtype: str) -> list[tuple[str, Any]]:
        """Field definitions of ``msgtype`` from the recording's typestore."""
        return list(self._types()[0].fielddefs[msgtype][1])

    def msgtype_of(self, topic: str) -> str:
        """The type of ``topic`` (its first connection's, as rosbags normalizes it)."""
        return self._by_topic[topic][0].msgtype

    def decoder(self, topic: str) -> Callable[[bytes], Any]:
        """Deserializer for ``topic``; UnknownTypeError names the topic and its type."""
        connections = self._by_topic.get(topic)
        if not connections:
            raise BadInputError(f"no topic {topic!r} in the recording", path=str(self.path))
        msgtype = connections[0].msgtype
        typestore, unknown = self._types()
        if topic in unknown:
            raise UnknownTypeError(
                path=str(self.path), topic=topic, msgtype=msgtype, detail=unknown[topic]
            )
        if _serialization(connections[0]) == "ros1":
            deserialize = typestore.deserialize_ros1
        else:
            deserialize = typestore.deserialize_cdr
        path = self.path

        def decode(raw: bytes) -> Any:
            try:
                return deserialize(raw, msgtype)
            except (*_PARSE_ERRORS, MemoryError) as err:
                raise BadInputError(
                    f"message of type {msgtype!r} does not deserialize: {err}",
                    path=str(path),
                    field=topic,
                ) from err

        return decode

    def validate(self) -> ValidationReport:
        """Read every chunk (and check MCAP CRCs with the mcap library) without deserializing."""
        report = ValidationReport(format=self.format)
        for mcap_file in self._mcap_files():
            checks, warnings = check_mcap_file(mcap_file)
            report.checks.extend(checks)
            report.warnings.extend(warnings)
        storage = self._storage_path
        if self.format == "ros2" and storage.is_dir():
            for db in sorted(storage.glob("*.db3")):
                report.checks.append(_sqlite_check(db))
        read: dict[str, int] = dict.fromkeys(self._by_topic, 0)
        for topic, _, _ in self.messages([]):
            read[topic] += 1
        report.checks.append(f"read {sum(read.values())} messages through the index")
        if self.format == "ros2":
            for stream in self.streams():
                if read[stream.name] < stream.count:
                    raise TruncatedInputError(
                        f"metadata.yaml records {stream.count} messages on {stream.name!r} "
                        f"but {read[stream.name]} could be read",
                        path=str(self.path),
                    )
            report.warnings.extend(self.notes)
        report.warnings.extend(
            f"topic {topic!r}: {reason}" for topic, reason in sorted(self.unknown_types().items())
        )
        return report

    def _mcap_files(self) -> list[Path]:
        if self.format == "mcap":
            return [self.path]
        if self.format == "ros2" and self.path.is_dir():
            return sorted(self.path.glob("*.mcap"))
        return []


def _serialization(connection: Connection) -> str:
    """``cdr`` for ROS 2 connections, ``ros1`` for ROS 1 ones (which carry no format field)."""
    return str(getattr(connection.ext, "serialization_format", "ros1"))


def _parse_ros1_header(data: bytes) -> dict[str, bytes]:
    """Parse a ROS 1 record header (``len name=value`` fields)."""
    fields: dict[str, bytes] = {}
    pos = 0
    while pos < len(data):
        (length,) = struct.unpack_from("<I", data, pos)
        pos += 4
        if pos + length > len(data):
            raise ValueError(f"header field of {length} bytes runs past the header")
        name, sep, value = data[pos : pos + length].partition(b"=")
        if not sep:
            raise ValueError("header field without '='")
        fields[name.decode("ascii", "replace")] = value
        pos += length
    return fields


def _find_ros1_damage(path: Path) -> tuple[int, str] | None:
    """Walk the bag's records (length, header, length, data) for the first impossible size.

    Only run after rosbags failed to open the bag, to turn "unpack requires a buffer" into
    "the record at offset X claims N bytes but the file ends at Y".
    """
    size = path.stat().st_size
    pos = len(_ROS1_MAGIC)
    with path.open("rb") as f:
        while pos < size:
            f.seek(pos)
            raw = f.read(4)
            if len(raw) < 4:
                return pos, f"record cut short: the file ends at {size}"
            (header_len,) = struct.unpack("<I", raw)
            if pos + 4 + header_len + 4 > size:
                return pos, f"record header claims {header_len} bytes but the file ends at {size}"
            f.seek(pos + 4 + header_len)
            (data_len,) = struct.unpack("<I", f.read(4))
            end = pos + 4 + header_len + 4 + data_len
            if end > size:
                return pos, f"record claims {data_len} bytes of data but the file ends at {size}"
            pos = end
    return None


def _sqlite_check(db: Path) -> str:
    """Run SQLite's quick_check on a ROS 2 storage file (read-only)."""
    uri = f"file:{os.fspath(db)}?mode=ro"
    try:
        with sqlite3.connect(uri, uri=True) as conn:
            (result,) = conn.execute("PRAGMA quick_check").fetchone()
    except sqlite3.DatabaseError as err:
        raise BadInputError(f"sqlite storage is damaged: {err}", path=str(db)) from err
    if result != "ok":
        raise BadInputError(f"sqlite quick_check: {result}", path=str(db))
    return f"{db.name}: sqlite quick_check ok"
