"""Write one MCAP clip from local recordings: raw bytes for message logs, JSON for signal tables.

ROS 1 bags, ROS 2 bags and MCAP files keep their schemas and encodings: each message's bytes are
copied as they were recorded, never decoded. MCAP sources are read through their chunk indexes
(``iter_messages`` with a time range seeks to the chunks overlapping the window), ROS 1 bags
through their index and ROS 2 sqlite3 storage through its timestamp index (rosbags), so a
10 GB file costs the window, not the file. MDF4 and TDMS
signals become one JSON channel per channel group with a ``jsonschema`` schema: Foxglove plots
them without knowing either format.
"""

from __future__ import annotations

import json
import math
import tempfile
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import UTC
from pathlib import Path
from typing import IO, Any

import numpy as np
from mcap.reader import make_reader
from mcap.writer import CompressionType, Writer

from dataops.errors import InvalidInputError

__all__ = ["ClipSource", "ClipStats", "ClipWindow", "decompress_zstd_file", "write_clip"]

PROFILE_ROS1 = "ros1"
ENCODING_CDR = "cdr"
# MDF4 channel type of the master (time) channel; flag of a bus logging channel group.
_MDF_MASTER = 2
_MDF_BUS_EVENT = 0x2
# Read and write size of the streaming zstd decompression of a file-compressed .db3.
_ZSTD_BUFFER = 1 << 20


@dataclass(frozen=True)
class ClipWindow:
    """Log times ``[start_ns, end_ns]``, both inclusive; ``topics`` empty: every topic."""

    start_ns: int
    end_ns: int
    topics: frozenset[str] = frozenset()

    def wants(self, topic: str) -> bool:
        return not self.topics or topic in self.topics


@dataclass(frozen=True)
class ClipSource:
    """One local recording: ``kind`` is ``mcap``, ``rosbag1``, ``rosbag2_sqlite3`` (one
    ``.db3`` file of a ROS 2 bag, its write-ahead log already applied), ``mdf4`` or ``tdms``."""

    kind: str
    path: Path
    name: str
    """The recording's path in the measurement (names its JSON channels' topics)."""
    message_compression: str | None = None
    """``zstd`` when the bag's metadata.yaml says each message is compressed (ROS 2 only)."""
    file_compression: str | None = None
    """``zstd`` when the storage file itself is compressed (``compression_mode: file``, a
    ``.db3.zstd``): decompressed to a scratch file beside it, read, then deleted."""


@dataclass
class ClipStats:
    """What went into a clip, per topic."""

    messages: Counter[str] = field(default_factory=Counter)
    skipped: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "messages": sum(self.messages.values()),
            "topics": dict(sorted(self.messages.items())),
            "skipped": dict(sorted(self.skipped.items())),
        }


class _Out:
    """The clip writer with schemas and channels registered once per source key."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.writer = Writer(stream, compression=CompressionType.ZSTD)
        self.writer.start(profile="", library="avops-clip")
        self._schemas: dict[tuple[str, str, bytes], int] = {}
        self._channels: dict[tuple[Any, ...], int] = {}
        self.stats = ClipStats()

    def channel(
        self,
        *,
        topic: str,
        message_encoding: str,
        schema: tuple[str, str, bytes] | None,
        metadata: dict[str, str],
    ) -> int:
        schema_id = 0
        if schema is not None:
            schema_id = self._schemas.get(schema, 0)
            if not schema_id:
                name, encoding, data = schema
                schema_id = self.writer.register_schema(name=name, encoding=encoding, data=data)
                self._schemas[schema] = schema_id
        key = (topic, message_encoding, schema_id, tuple(sorted(metadata.items())))
        channel_id = self._channels.get(key)
        if channel_id is None:
            channel_id = self.writer.register_channel(
                topic=topic,
                message_encoding=message_encoding,
                schema_id=schema_id,
                metadata=metadata,
            )
            self._channels[key] = channel_id
        return channel_id

    def message(
        self, channel_id: int, topic: str, log_time: int, publish_time: int, data: bytes
    ) -> None:
        self.writer.add_message(
            channel_id=channel_id, log_time=log_time, publish_time=publish_time, data=data
        )
        self.stats.messages[topic] += 1


def write_clip(sources: list[ClipSource], window: ClipWindow, out: IO[bytes]) -> ClipStats:
    """Write every message of ``sources`` inside ``window`` to ``out``; the per-topic counts."""
    if window.end_ns < window.start_ns:
        raise InvalidInputError("the clip window ends before it starts", field="to_ns")
    clip = _Out(out)
    for source in sources:
        copy = _COPIERS.get(source.kind)
        if copy is None:
            clip.stats.skipped[source.name] = f"format {source.kind!r} has no messages to clip"
            continue
        copy(source, window, clip)
    clip.writer.finish()  # type: ignore[no-untyped-call]
    return clip.stats


def _copy_mcap(source: ClipSource, window: ClipWindow, clip: _Out) -> None:
    with source.path.open("rb") as handle:
        reader = make_reader(handle)
        # Both bounds inclusive, like the window; the chunk index seeks to the window.
        for schema, channel, message in reader.iter_messages(
            topics=sorted(window.topics) if window.topics else None,
            starting_at=window.start_ns,
            ending_at=window.end_ns,
            log_time_order=True,
        ):
            target = clip.channel(
                topic=channel.topic,
                message_encoding=channel.message_encoding,
                schema=(schema.name, schema.encoding, bytes(schema.data)) if schema else None,
                metadata=dict(channel.metadata),
            )
            clip.message(
                target, channel.topic, message.log_time, message.publish_time, message.data
            )


def _copy_rosbag1(source: ClipSource, window: ClipWindow, clip: _Out) -> None:
    from rosbags.rosbag1 import Reader

    with Reader(source.path) as reader:
        connections = [c for c in reader.connections if window.wants(c.topic)]
        if not connections:
            return
        targets: dict[int, int] = {}
        for connection in connections:
            definition = connection.msgdef.data if hasattr(connection.msgdef, "data") else ""
            ros_type = connection.msgtype.replace("/msg/", "/")
            targets[connection.id] = clip.channel(
                topic=connection.topic,
                message_encoding=PROFILE_ROS1,
                schema=(ros_type, "ros1msg", str(definition).encode()),
                metadata={"md5sum": str(connection.digest)},
            )
        # rosbags' stop is exclusive; the index seeks to the chunks of the window.
        for connection, timestamp, data in reader.messages(
            connections=connections, start=window.start_ns, stop=window.end_ns + 1
        ):
            clip.message(targets[connection.id], connection.topic, timestamp, timestamp, data)


def _ros2_schema(connection: Any, fallback: Any) -> tuple[str, str, bytes] | None:
    """The ``ros2msg``/``ros2idl`` schema of a sqlite3 connection, or None if unknown.

    Storage from Iron on carries each type's full definition; older storage has none, and
    the definition then comes from rosbags' bundled ROS 2 types (None if it has no such type).
    """
    from rosbags.interfaces import MessageDefinitionFormat

    msgdef = connection.msgdef
    if msgdef.format != MessageDefinitionFormat.NONE and msgdef.data:
        encoding = "ros2idl" if msgdef.format == MessageDefinitionFormat.IDL else "ros2msg"
        return connection.msgtype, encoding, msgdef.data.encode()
    if connection.msgtype not in fallback.fielddefs:
        return None
    text, _ = fallback.generate_msgdef(connection.msgtype, ros_version=2)
    return connection.msgtype, "ros2msg", text.encode()


def _copy_rosbag2_sqlite3(source: ClipSource, window: ClipWindow, clip: _Out) -> None:
    if source.file_compression is None:
        _copy_sqlite3_storage(source, window, clip)
        return
    if source.file_compression != "zstd":
        clip.stats.skipped[source.name] = (
            f"file compression {source.file_compression!r} is not supported"
        )
        return
    # The storage is one zstd stream: sqlite needs the plain file, so it goes to scratch disk
    # (memory stays one read buffer), is read like any .db3, and goes away whatever happens.
    with tempfile.TemporaryDirectory(prefix="avops-db3-", dir=source.path.parent) as scratch:
        plain = Path(scratch) / "storage.db3"
        decompress_zstd_file(source.path, plain, source.name)
        _copy_sqlite3_storage(replace(source, path=plain), window, clip)


def decompress_zstd_file(compressed: Path, plain: Path, name: str) -> None:
    """Stream-decompress the zstd file ``compressed`` (``name`` in the measurement) to
    ``plain`` in bounded memory; InvalidInputError naming the file when it is not zstd."""
    import zstandard

    try:
        with compressed.open("rb") as source, plain.open("wb") as target:
            zstandard.ZstdDecompressor().copy_stream(
                source, target, read_size=_ZSTD_BUFFER, write_size=_ZSTD_BUFFER
            )
    except zstandard.ZstdError as err:
        raise InvalidInputError(f"{name}: not a zstd file ({err})", field=name) from err


def _copy_sqlite3_storage(source: ClipSource, window: ClipWindow, clip: _Out) -> None:
    from rosbags.rosbag2 import Reader
    from rosbags.typesys import Stores, get_typestore

    if source.message_compression not in {None, "zstd"}:
        clip.stats.skipped[source.name] = (
            f"message compression {source.message_compression!r} is not supported"
        )
        return
    fallback = get_typestore(Stores.LATEST)
    with Reader(source.path) as reader:
        targets: dict[int, int] = {}
        for connection in reader.connections:
            if not window.wants(connection.topic):
                continue
            schema = _ros2_schema(connection, fallback)
            if schema is None:
                clip.stats.skipped[f"{source.name}:{connection.topic}"] = (
                    f"type {connection.msgtype} has no definition in the storage"
                )
                continue
            targets[connection.id] = clip.channel(
                topic=connection.topic,
                message_encoding=ENCODING_CDR,
                schema=schema,
                metadata={},
            )
        if not targets:
            return
        decompress = _zstd_decompress() if source.message_compression else None
        connections = [c for c in reader.connections if c.id in targets]
        # rosbags' stop is exclusive; the timestamp index selects the window's rows.
        for connection, timestamp, data in reader.messages(
            connections=connections, start=window.start_ns, stop=window.end_ns + 1
        ):
            body = decompress(data) if decompress else data
            clip.message(targets[connection.id], connection.topic, timestamp, timestamp, body)


def _zstd_decompress() -> Any:
    import sys

    if sys.version_info >= (3, 14):
        from compression import zstd
    else:
        from backports import zstd
    return zstd.decompress


def _json_schema(title: str, columns: dict[str, str]) -> bytes:
    properties: dict[str, Any] = {"timestamp_ns": {"type": "integer"}}
    for name, unit in columns.items():
        properties[name] = {"type": ["number", "null"], **({"description": unit} if unit else {})}
    return json.dumps(
        {"title": title, "type": "object", "properties": properties}, sort_keys=True
    ).encode()


def _number(value: Any) -> float | int | None:
    number = value.item() if hasattr(value, "item") else value
    if isinstance(number, bool):
        return int(number)
    if isinstance(number, int):
        return number
    if isinstance(number, float):
        return number if math.isfinite(number) else None
    return None


def _write_rows(
    clip: _Out,
    *,
    topic: str,
    columns: dict[str, str],
    times_ns: np.ndarray[Any, Any],
    values: dict[str, np.ndarray[Any, Any]],
) -> None:
    channel_id = clip.channel(
        topic=topic,
        message_encoding="json",
        schema=(topic.strip("/").replace("/", "."), "jsonschema", _json_schema(topic, columns)),
        metadata={},
    )
    for row, stamp in enumerate(times_ns.tolist()):
        body = {"timestamp_ns": stamp}
        body.update({name: _number(column[row]) for name, column in values.items()})
        clip.message(channel_id, topic, stamp, stamp, json.dumps(body).encode())


def _topic(source: ClipSource, group: str) -> str:
    stem = source.name.rsplit("/", 1)[-1].rsplit(".", 1)[0]
    return f"/{stem}/{group}"


def _copy_mdf4(source: ClipSource, window: ClipWindow, clip: _Out) -> None:
    from asammdf import MDF

    mdf = MDF(str(source.path))
    try:
        start = mdf.start_time
        base_ns = (
            int((start if start.tzinfo else start.replace(tzinfo=UTC)).timestamp() * 1_000_000)
            * 1000
        )
        groups: list[Any] = list(mdf.groups)
        for index, group in enumerate(groups):
            # Bus logging groups hold frames, not signals: the can extraction decodes them.
            if group.channel_group.flags & _MDF_BUS_EVENT:
                continue
            name = group.channel_group.acq_name or f"group{index}"
            topic = _topic(source, str(name))
            if not window.wants(topic):
                continue
            master = mdf.get_master(index)
            times_ns = base_ns + np.round(np.asarray(master, dtype=np.float64) * 1e9).astype(
                np.int64
            )
            first = int(np.searchsorted(times_ns, window.start_ns, side="left"))
            last = int(np.searchsorted(times_ns, window.end_ns, side="right"))
            if last <= first:
                continue
            columns: dict[str, str] = {}
            values: dict[str, np.ndarray[Any, Any]] = {}
            for channel_index, channel in enumerate(group.channels):
                if channel.channel_type == _MDF_MASTER:
                    continue
                signal = mdf.get(
                    group=index,
                    index=channel_index,
                    record_offset=first,
                    record_count=last - first,
                    raw=False,
                )
                if signal.samples.dtype.kind not in "biuf":
                    continue
                columns[channel.name] = str(signal.unit or "")
                values[channel.name] = signal.samples
            _write_rows(
                clip, topic=topic, columns=columns, times_ns=times_ns[first:last], values=values
            )
    finally:
        mdf.close()


def _copy_tdms(source: ClipSource, window: ClipWindow, clip: _Out) -> None:
    from nptdms import TdmsFile

    with TdmsFile.open(str(source.path)) as tdms:
        for group in tdms.groups():
            topic = _topic(source, group.name)
            if not window.wants(topic):
                continue
            # One JSON channel per (group, waveform timing): channels sampled alike share rows.
            timing: dict[tuple[int, int], list[Any]] = {}
            for channel in group.channels():
                props = channel.properties
                if "wf_start_time" not in props or "wf_increment" not in props:
                    continue
                started = np.datetime64(props["wf_start_time"], "ns").astype(np.int64)
                start_ns = int(started) + round(float(props.get("wf_start_offset", 0.0)) * 1e9)
                step_ns = round(float(props["wf_increment"]) * 1e9)
                if step_ns <= 0:
                    continue
                timing.setdefault((start_ns, step_ns), []).append(channel)
            for (start_ns, step_ns), channels in timing.items():
                length = min(len(channel) for channel in channels)
                first = max(0, -((start_ns - window.start_ns) // step_ns))
                last = min(length, (window.end_ns - start_ns) // step_ns + 1)
                if last <= first:
                    continue
                times_ns = start_ns + step_ns * np.arange(first, last, dtype=np.int64)
                values = {
                    channel.name: channel.read_data(offset=first, length=last - first)
                    for channel in channels
                }
                columns = {
                    channel.name: str(channel.properties.get("unit_string", ""))
                    for channel in channels
                }
                _write_rows(clip, topic=topic, columns=columns, times_ns=times_ns, values=values)


_COPIERS = {
    "mcap": _copy_mcap,
    "rosbag1": _copy_rosbag1,
    "rosbag2_sqlite3": _copy_rosbag2_sqlite3,
    "mdf4": _copy_mdf4,
    "tdms": _copy_tdms,
}
