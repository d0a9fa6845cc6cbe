"""Our own MCAP conformance recordings: the spec's layout variants in four encodings.

Every file is written here with the mcap library's writer (no binary fixtures): chunked or
not, each chunk compression, with or without chunk indexes, message indexes, statistics,
summary offsets, repeated schemas and channels, attachments and metadata records, and log
times in or out of order; the messages are ROS 2 (CDR), ROS 1, protobuf (Foxglove's own
schemas) or JSON (with a JSON schema). :func:`write_variant` returns what it wrote, which is
what the tests expect back.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np
from mcap.data_stream import RecordBuilder
from mcap.records import Statistics
from mcap.writer import CompressionType, IndexType
from mcap.writer import Writer as McapWriter
from mcap_protobuf.schema import build_file_descriptor_set
from rosbags.typesys import Stores, get_typestore

if TYPE_CHECKING:
    from pathlib import Path

BASE_NS = 1_700_000_000 * 1_000_000_000
STEP_NS = 50_000_000  # 20 Hz
ENCODINGS = ("ros2", "ros1", "protobuf", "json")
GPS_TOPIC, STATUS_TOPIC = "/gps", "/status"


@dataclass(frozen=True)
class Layout:
    """One layout of the spec's matrix (the writer's switches)."""

    name: str
    chunked: bool = True
    compression: str = "zstd"
    chunk_index: bool = True
    message_index: bool = True
    statistics: bool = True
    summary_offsets: bool = True
    repeat_schemas: bool = True
    repeat_channels: bool = True
    attachments: bool = False
    metadata: bool = False
    unordered: bool = False
    # Small chunks: ten messages of two channels span several chunks.
    chunk_size: int = 512


# Nothing after the data section but the footer (no statistics, indexes or repeated records).
NO_SUMMARY = Layout(
    "no-summary",
    chunk_index=False,
    message_index=False,
    statistics=False,
    summary_offsets=False,
    repeat_schemas=False,
    repeat_channels=False,
)
LAYOUTS = (
    Layout("chunked-zstd"),
    Layout("chunked-lz4", compression="lz4"),
    Layout("chunked-none", compression="none"),
    Layout("one-chunk", chunk_size=1 << 20),
    Layout("no-chunk-index", chunk_index=False),
    Layout("no-message-index", message_index=False),
    Layout("no-indexes", chunk_index=False, message_index=False),
    Layout("no-statistics", statistics=False),
    # Chunk indexes alone: counts come from reading the chunks (the first full read counts).
    Layout("chunk-index-only", message_index=False, statistics=False),
    Layout("no-summary-offsets", summary_offsets=False),
    Layout("no-repeated-channels", repeat_channels=False),
    Layout("no-repeated-schemas", repeat_schemas=False),
    NO_SUMMARY,
    Layout("attachments-metadata", attachments=True, metadata=True),
    Layout("chunked-unordered", unordered=True),
    Layout("unchunked", chunked=False),
    replace(NO_SUMMARY, name="unchunked-no-summary", chunked=False),
    Layout("unchunked-unordered", chunked=False, unordered=True),
)
BASE_LAYOUTS = ("chunked-zstd", "unchunked")


@dataclass
class Written:
    """What a variant file holds: per topic its type and log times, and the GPS rows."""

    path: Path
    msgtypes: dict[str, str]
    times: dict[str, list[int]] = field(default_factory=dict)
    latitudes: list[float] = field(default_factory=list)  # in log-time order

    def expected_streams(self) -> dict[str, tuple[str, int, int | None, int | None]]:
        """Per topic: type, count, first and last log time."""
        return {
            topic: (
                msgtype,
                len(self.times[topic]),
                min(self.times[topic], default=None),
                max(self.times[topic], default=None),
            )
            for topic, msgtype in self.msgtypes.items()
        }


@dataclass
class _Channel:
    schema_name: str
    schema_encoding: str
    schema_data: bytes
    message_encoding: str
    reported: str  # the type the reader reports


def _ros_channels(ros1: bool) -> tuple[dict[str, _Channel], Any]:
    store = get_typestore(Stores.ROS1_NOETIC if ros1 else Stores.ROS2_HUMBLE)
    out = {}
    for topic, msgtype in (
        (GPS_TOPIC, "sensor_msgs/msg/NavSatFix"),
        (STATUS_TOPIC, "std_msgs/msg/String"),
    ):
        text, _ = store.generate_msgdef(msgtype, ros_version=1 if ros1 else 2)
        name = msgtype.replace("/msg/", "/") if ros1 else msgtype
        out[topic] = _Channel(
            name,
            "ros1msg" if ros1 else "ros2msg",
            text.encode(),
            "ros1" if ros1 else "cdr",
            msgtype,
        )
    return out, store


def _ros_message(store: Any, ros1: bool, topic: str, i: int, time_ns: int) -> bytes:
    t = store.types
    if topic == STATUS_TOPIC:
        msg, msgtype = t["std_msgs/msg/String"](data=f"status {i}"), "std_msgs/msg/String"
    else:
        stamp = t["builtin_interfaces/msg/Time"](sec=time_ns // 10**9, nanosec=time_ns % 10**9)
        header = (
            t["std_msgs/msg/Header"](seq=i, stamp=stamp, frame_id="gps")
            if ros1
            else t["std_msgs/msg/Header"](stamp=stamp, frame_id="gps")
        )
        msgtype = "sensor_msgs/msg/NavSatFix"
        msg = t[msgtype](
            header=header,
            status=t["sensor_msgs/msg/NavSatStatus"](status=0, service=1),
            latitude=latitude(i),
            longitude=11.0,
            altitude=500.0,
            position_covariance=np.zeros(9, np.float64),
            position_covariance_type=0,
        )
    return bytes(store.serialize_ros1(msg, msgtype) if ros1 else store.serialize_cdr(msg, msgtype))


def latitude(i: int) -> float:
    """The latitude of GPS message ``i``."""
    return 48.0 + i * 1e-5


LOCATION_FIX_JSON_SCHEMA = {
    "title": "foxglove.LocationFix",
    "type": "object",
    "properties": {
        "timestamp": {
            "type": "object",
            "properties": {"sec": {"type": "integer"}, "nsec": {"type": "integer"}},
        },
        "frame_id": {"type": "string"},
        "latitude": {"type": "number"},
        "longitude": {"type": "number"},
        "altitude": {"type": "number"},
        "position_covariance": {"type": "array", "items": {"type": "number"}},
        "position_covariance_type": {"type": "integer"},
    },
}
STATUS_JSON_SCHEMA = {
    "type": "object",
    "properties": {
        "text": {"type": "string"},
        "level": {"type": "integer"},
        "extra": {},  # free-form: kept as JSON text
    },
}


def _protobuf_channels() -> dict[str, _Channel]:
    from foxglove_schemas_protobuf.LocationFix_pb2 import LocationFix
    from foxglove_schemas_protobuf.Log_pb2 import Log

    return {
        topic: _Channel(
            cls.DESCRIPTOR.full_name,
            "protobuf",
            build_file_descriptor_set(cls).SerializeToString(),
            "protobuf",
            cls.DESCRIPTOR.full_name,
        )
        for topic, cls in ((GPS_TOPIC, LocationFix), (STATUS_TOPIC, Log))
    }


def _protobuf_message(topic: str, i: int, time_ns: int) -> bytes:
    from foxglove_schemas_protobuf.LocationFix_pb2 import LocationFix
    from foxglove_schemas_protobuf.Log_pb2 import Log
    from google.protobuf.timestamp_pb2 import Timestamp

    stamp = Timestamp(seconds=time_ns // 10**9, nanos=time_ns % 10**9)
    if topic == STATUS_TOPIC:
        return Log(timestamp=stamp, level=2, message=f"status {i}", name="node").SerializeToString()
    return LocationFix(
        timestamp=stamp,
        frame_id="gps",
        latitude=latitude(i),
        longitude=11.0,
        altitude=500.0,
        position_covariance=[0.0] * 9,
    ).SerializeToString()


def _json_channels() -> dict[str, _Channel]:
    return {
        GPS_TOPIC: _Channel(
            "foxglove.LocationFix",
            "jsonschema",
            json.dumps(LOCATION_FIX_JSON_SCHEMA).encode(),
            "json",
            "foxglove.LocationFix",
        ),
        STATUS_TOPIC: _Channel(
            "demo.Status",
            "jsonschema",
            json.dumps(STATUS_JSON_SCHEMA).encode(),
            "json",
            "demo.Status",
        ),
    }


def _json_message(topic: str, i: int, time_ns: int) -> bytes:
    if topic == STATUS_TOPIC:
        body: dict[str, Any] = {"text": f"status {i}", "level": i % 3, "extra": {"i": [i]}}
    else:
        body = {
            "timestamp": {"sec": time_ns // 10**9, "nsec": time_ns % 10**9},
            "frame_id": "gps",
            "latitude": latitude(i),
            "longitude": 11.0,
            "altitude": 500.0,
            "position_covariance": [0.0] * 9,
            "position_covariance_type": 0,
        }
    return json.dumps(body).encode()


def _encoder(encoding: str) -> tuple[dict[str, _Channel], Any]:
    """The channels of ``encoding`` and a function (topic, i, time) -> serialized message."""
    if encoding in {"ros2", "ros1"}:
        ros1 = encoding == "ros1"
        channels, store = _ros_channels(ros1)
        return channels, lambda topic, i, t: _ros_message(store, ros1, topic, i, t)
    if encoding == "protobuf":
        return _protobuf_channels(), _protobuf_message
    if encoding == "json":
        return _json_channels(), _json_message
    raise ValueError(encoding)


def _writer(f: Any, layout: Layout) -> McapWriter:
    index = IndexType.NONE
    if layout.chunk_index:
        index |= IndexType.CHUNK
    if layout.message_index:
        index |= IndexType.MESSAGE
    index |= IndexType.ATTACHMENT | IndexType.METADATA
    return McapWriter(
        f,
        chunk_size=layout.chunk_size,
        compression=CompressionType[layout.compression.upper()],
        index_types=index,
        repeat_channels=layout.repeat_channels,
        repeat_schemas=layout.repeat_schemas,
        use_chunking=layout.chunked,
        use_statistics=layout.statistics,
        use_summary_offsets=layout.summary_offsets,
    )


def write_order(n: int, unordered: bool) -> list[int]:
    """Message indexes in the order they are written (a fixed shuffle when unordered)."""
    order = list(range(n))
    if unordered:
        order = order[1::2][::-1] + order[0::2]
    return order


def write_variant(path: Path, encoding: str, layout: Layout, n: int) -> Written:
    """Write ``n`` messages per topic of ``encoding`` in ``layout``; return what was written."""
    channels, encode = _encoder(encoding)
    written = Written(path, {topic: c.reported for topic, c in channels.items()})
    written.times = {topic: [] for topic in channels}
    with path.open("wb") as f:
        writer = _writer(f, layout)
        writer.start(
            profile="" if encoding in {"protobuf", "json"} else encoding, library="avops-tests"
        )
        ids = {}
        for topic, c in channels.items():
            schema_id = writer.register_schema(c.schema_name, c.schema_encoding, c.schema_data)
            ids[topic] = writer.register_channel(topic, c.message_encoding, schema_id)
        if layout.attachments:
            writer.add_attachment(BASE_NS, BASE_NS, "calibration.yaml", "text/yaml", b"fx: 1\n")
        if layout.metadata:
            writer.add_metadata("drive", {"vehicle": "test-car", "driver": "nobody"})
        for i in write_order(n, layout.unordered):
            time_ns = BASE_NS + i * STEP_NS
            for topic in channels:
                writer.add_message(
                    ids[topic], time_ns, encode(topic, i, time_ns), time_ns, sequence=i
                )
                written.times[topic].append(time_ns)
        writer.finish()
    written.latitudes = [latitude(i) for i in range(n)]
    return written


def statistics_record(stats: Statistics) -> bytes:
    """The bytes of a Statistics record as a writer lays it out."""
    builder = RecordBuilder()
    stats.write(builder)
    return bytes(builder.end())


VARIANTS = [
    *((encoding, layout, 10) for encoding in ENCODINGS for layout in LAYOUTS),
    *(
        (encoding, layout, n)
        for encoding in ENCODINGS
        for layout in LAYOUTS
        if layout.name in BASE_LAYOUTS
        for n in (0, 1)
    ),
]
