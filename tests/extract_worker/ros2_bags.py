"""ROS 2 bags in the shape each recorder generation wrote them (metadata versions 4 to 9).

rosbags writes a current (version 8/9) sqlite3 bag; :func:`write_versioned_bag` then gives
metadata.yaml and the storage's ``topics`` table the form of version ``N``: QoS profiles as
YAML text with numeric enums (4-8) or as a list with names (9), the older recorders' QoS
values in the storage differing in form from metadata.yaml's, type hashes (7+) that differ
between the two, storage tables of the time (no ``schema``/``message_definitions`` tables
and no type hash column before version 6). Topics include a service event and action
topics as Jazzy records them. Also: bags split over two files, and a bag whose messages
are still in its write-ahead log.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import zstandard
from rosbags.rosbag2 import StoragePlugin
from rosbags.rosbag2 import Writer as Writer2
from rosbags.typesys import Stores, get_types_from_msg, get_typestore
from ruamel.yaml import YAML

from extract_worker.readers.ros_types import service_type_names

BASE_NS = 1_700_000_000 * 1_000_000_000
STEP_NS = 100_000_000
SERVICE_TOPIC = "/add_two_ints/_service_event"
FEEDBACK_TOPIC = "/fibonacci/_action/feedback"
STATUS_TOPIC = "/fibonacci/_action/status"
VERSIONS = (4, 5, 6, 7, 8, 9)

_CUSTOM = {
    "service_msgs/msg/ServiceEventInfo": (
        "uint8 event_type\nbuiltin_interfaces/Time stamp\nchar[16] client_gid\n"
        "int64 sequence_number\n"
    ),
    "example_interfaces/srv/AddTwoInts_Request": "int64 a\nint64 b\n",
    "example_interfaces/srv/AddTwoInts_Response": "int64 sum\n",
    "example_interfaces/srv/AddTwoInts_Event": (
        "service_msgs/ServiceEventInfo info\n"
        "example_interfaces/srv/AddTwoInts_Request[<=1] request\n"
        "example_interfaces/srv/AddTwoInts_Response[<=1] response\n"
    ),
    "example_interfaces/action/Fibonacci_Feedback": "int32[] sequence\n",
    "example_interfaces/action/Fibonacci_FeedbackMessage": (
        "unique_identifier_msgs/UUID goal_id\n"
        "example_interfaces/action/Fibonacci_Feedback feedback\n"
    ),
}
# The QoS a recorder offered, in the forms the generations wrote it.
_QOS_INTS = {
    "history": 3,
    "depth": 0,
    "reliability": 1,
    "durability": 2,
    "deadline": {"sec": 2147483647, "nsec": 4294967295},
    "lifespan": {"sec": 2147483647, "nsec": 4294967295},
    "liveliness": 1,
    "liveliness_lease_duration": {"sec": 2147483647, "nsec": 4294967295},
    "avoid_ros_namespace_conventions": False,
}
_QOS_STORAGE = {
    **_QOS_INTS,
    "deadline": {"sec": 0, "nsec": 0},
    "lifespan": {"sec": 0, "nsec": 0},
    "liveliness_lease_duration": {"sec": 0, "nsec": 0},
}
_QOS_NAMES = {
    **_QOS_INTS,
    "history": "unknown",
    "reliability": "reliable",
    "durability": "volatile",
    "liveliness": "automatic",
}


def _yaml_text(value: Any) -> str:
    import io

    stream = io.StringIO()
    YAML(typ="safe").dump(value, stream)
    return stream.getvalue()


_SEPARATOR = "=" * 80 + "\n"


# Types rosbags cannot generate a definition for (its generator knows only ``pkg/msg`` names):
# topic -> the type's own text and its dependencies, in the recorder's ``.msg`` form.
_EXPLICIT = {
    SERVICE_TOPIC: (
        "example_interfaces/srv/AddTwoInts_Event",
        (
            "service_msgs/msg/ServiceEventInfo",
            "example_interfaces/srv/AddTwoInts_Request",
            "example_interfaces/srv/AddTwoInts_Response",
        ),
    ),
    FEEDBACK_TOPIC: (
        "example_interfaces/action/Fibonacci_FeedbackMessage",
        ("example_interfaces/action/Fibonacci_Feedback",),
    ),
}
_DEPENDENCIES = {
    "builtin_interfaces/msg/Time": "int32 sec\nuint32 nanosec\n",
    "unique_identifier_msgs/msg/UUID": "uint8[16] uuid\n",
}


def _explicit_msgdef(topic: str) -> str:
    """The definition of ``topic``'s type with every dependency, as the recorder stores it."""
    root, deps = _EXPLICIT[topic]
    texts = {**{name: _CUSTOM[name] for name in deps}, **_DEPENDENCIES}
    parts = [_CUSTOM[root]]
    parts.extend(f"MSG: {name.replace('/msg/', '/')}\n{text}" for name, text in texts.items())
    return _SEPARATOR.join(parts)


def typestore() -> Any:
    """Humble's types plus the service event and action feedback types."""
    store = get_typestore(Stores.ROS2_HUMBLE)
    types: dict[str, Any] = {}
    for name, text in _CUSTOM.items():
        types.update(get_types_from_msg(text, name))
    store.register(service_type_names(types))
    return store


def _messages(store: Any, i: int) -> dict[str, tuple[str, Any]]:
    t = store.types
    stamp = t["builtin_interfaces/msg/Time"](sec=1_700_000_000, nanosec=i)
    return {
        "/gps": (
            "sensor_msgs/msg/NavSatFix",
            t["sensor_msgs/msg/NavSatFix"](
                header=t["std_msgs/msg/Header"](stamp=stamp, frame_id="gps"),
                status=t["sensor_msgs/msg/NavSatStatus"](status=0, service=1),
                latitude=48.0 + i * 1e-5,
                longitude=11.0,
                altitude=500.0,
                position_covariance=np.zeros(9, np.float64),
                position_covariance_type=0,
            ),
        ),
        "/status": ("std_msgs/msg/String", t["std_msgs/msg/String"](data=f"ok {i}")),
        SERVICE_TOPIC: (
            "example_interfaces/srv/AddTwoInts_Event",
            t["example_interfaces/srv/AddTwoInts_Event"](
                info=t["service_msgs/msg/ServiceEventInfo"](
                    event_type=i % 4,
                    stamp=stamp,
                    client_gid=np.zeros(16, np.uint8),
                    sequence_number=i,
                ),
                request=[t["example_interfaces/srv/AddTwoInts_Request"](a=i, b=2)],
                response=[],
            ),
        ),
        FEEDBACK_TOPIC: (
            "example_interfaces/action/Fibonacci_FeedbackMessage",
            t["example_interfaces/action/Fibonacci_FeedbackMessage"](
                goal_id=t["unique_identifier_msgs/msg/UUID"](uuid=np.zeros(16, np.uint8)),
                feedback=t["example_interfaces/action/Fibonacci_Feedback"](
                    sequence=np.arange(i % 5, dtype=np.int32)
                ),
            ),
        ),
        STATUS_TOPIC: (
            "action_msgs/msg/GoalStatusArray",
            t["action_msgs/msg/GoalStatusArray"](status_list=[]),
        ),
    }


def write_current_bag(path: Path, indexes: range, storage: str = "sqlite3") -> dict[str, int]:
    """A rosbags-written bag (version 9) with messages ``indexes``; counts per topic."""
    store = typestore()
    counts: dict[str, int] = {}
    plugin = StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3
    with Writer2(path, version=9, storage_plugin=plugin) as writer:
        conns: dict[str, Any] = {}
        for i in indexes:
            for topic, (msgtype, msg) in _messages(store, i).items():
                if topic not in conns:
                    conns[topic] = (
                        writer.add_connection(
                            topic,
                            msgtype,
                            msgdef=_explicit_msgdef(topic),
                            rihs01="RIHS01_" + "c" * 64,
                        )
                        if topic in _EXPLICIT
                        else writer.add_connection(topic, msgtype, typestore=store)
                    )
                writer.write(conns[topic], BASE_NS + i * STEP_NS, store.serialize_cdr(msg, msgtype))
                counts[topic] = counts.get(topic, 0) + 1
    return counts


def _metadata(
    version: int, files: list[str], counts: dict[str, int], types: dict[str, str], n: int
) -> dict[str, Any]:
    """metadata.yaml of ``version`` for ``files`` holding ``counts`` messages per topic."""
    total = sum(counts.values())
    topics = []
    for topic, count in counts.items():
        meta: dict[str, Any] = {
            "name": topic,
            "type": types[topic],
            "serialization_format": "cdr",
            "offered_qos_profiles": [_QOS_NAMES] if version >= 9 else _yaml_text([_QOS_INTS]),
        }
        if version >= 7:
            meta["type_description_hash"] = "RIHS01_" + "a" * 64
        topics.append({"topic_metadata": meta, "message_count": count})
    info: dict[str, Any] = {
        "version": version,
        "storage_identifier": "sqlite3",
        "relative_file_paths": files,
        "duration": {"nanoseconds": (n - 1) * STEP_NS},
        "starting_time": {"nanoseconds_since_epoch": BASE_NS},
        "message_count": total,
        "topics_with_message_count": topics,
        "compression_format": "",
        "compression_mode": "",
    }
    if version >= 5:
        info["files"] = [
            {"path": f, "starting_time": {"nanoseconds_since_epoch": BASE_NS}} for f in files
        ]
    if version >= 6:
        info["custom_data"] = {}
    if version >= 8:
        info["ros_distro"] = "humble" if version == 8 else "jazzy"
    return {"rosbag2_bagfile_information": info}


def _age_storage(db: Path, version: int) -> None:
    """Give the storage's tables the form the recorder of ``version`` wrote."""
    conn = sqlite3.connect(db)
    try:
        qos = _yaml_text([_QOS_STORAGE])
        conn.execute("UPDATE topics SET offered_qos_profiles = ?", (qos,))
        if version < 6:
            conn.execute("DROP TABLE schema")
            conn.execute("DROP TABLE message_definitions")
            conn.execute("ALTER TABLE topics DROP COLUMN type_description_hash")
        if version == 4:
            conn.execute("ALTER TABLE topics DROP COLUMN offered_qos_profiles")
        if version >= 7:
            conn.execute("UPDATE topics SET type_description_hash = ?", ("RIHS01_" + "b" * 64,))
        conn.commit()
    finally:
        conn.close()


def write_versioned_bag(
    path: Path, version: int, n: int = 10, storage: str = "sqlite3"
) -> dict[str, int]:
    """A bag of metadata ``version`` with ``n`` messages per topic; counts per topic.

    With ``storage="mcap"`` only metadata.yaml takes the version's form (the MCAP channels keep
    the QoS and type hashes rosbags wrote, which then differ from metadata.yaml's).
    """
    counts = write_current_bag(path, range(n), storage)
    types = {topic: msgtype for topic, (msgtype, _) in _messages(typestore(), 0).items()}
    (stored,) = path.glob("*.mcap" if storage == "mcap" else "*.db3")
    if storage != "mcap":
        _age_storage(stored, version)
    info = _metadata(version, [stored.name], counts, types, n)
    info["rosbag2_bagfile_information"]["storage_identifier"] = storage
    (path / "metadata.yaml").write_text(_yaml_text(info))
    return counts


def write_split_bag(path: Path, version: int = 9, n: int = 10) -> dict[str, int]:
    """One bag over two storage files (messages ``0..n/2`` and the rest), as a split recording."""
    half = n // 2
    first = write_current_bag(path, range(half))
    second_dir = path.parent / f"{path.name}-part2"
    second = write_current_bag(second_dir, range(half, n))
    (db0,) = path.glob("*.db3")
    (db1,) = second_dir.glob("*.db3")
    part = path / f"{path.name}_1.db3"
    shutil.move(db1, part)
    shutil.rmtree(second_dir)
    counts = {topic: first[topic] + second[topic] for topic in first}
    types = {topic: msgtype for topic, (msgtype, _) in _messages(typestore(), 0).items()}
    for db in (db0, part):
        _age_storage(db, version)
    (path / "metadata.yaml").write_text(
        _yaml_text(_metadata(version, [db0.name, part.name], counts, types, n))
    )
    return counts


def write_uncheckpointed_bag(path: Path, n: int = 10) -> dict[str, int]:
    """A bag whose messages are all in ``<db>-wal``: what a recorder leaves when killed.

    The messages are inserted through a WAL-mode connection with automatic checkpoints off,
    and the three files are copied while that connection is still open.
    """
    source = path.parent / f"{path.name}-source"
    counts = write_current_bag(source, range(n))
    (source_db,) = source.glob("*.db3")
    path.mkdir()
    shutil.copy(source / "metadata.yaml", path / "metadata.yaml")
    live = path.parent / f"{path.name}-live.db3"
    shutil.copy(source_db, live)
    conn = sqlite3.connect(live)
    conn.execute("DELETE FROM messages")
    conn.commit()
    conn.execute("VACUUM")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA wal_autocheckpoint=0")
    conn.execute("ATTACH DATABASE ? AS recorded", (str(source_db),))
    conn.execute("INSERT INTO messages SELECT * FROM recorded.messages")
    conn.commit()
    try:
        target = path / source_db.name
        shutil.copy(live, target)
        for suffix in ("-wal", "-shm"):
            shutil.copy(live.with_name(live.name + suffix), target.with_name(target.name + suffix))
    finally:
        conn.close()
    live.unlink()
    shutil.rmtree(source)
    return counts


def write_file_compressed_bag(path: Path, n: int = 10) -> dict[str, int]:
    """A bag recorded with ``compression_mode: file``: its one sqlite3 storage file compressed
    as a whole into ``<name>.db3.zstd`` (one zstd frame, as rosbag2's compressor writes it),
    metadata.yaml naming the compressed file and the compression."""
    counts = write_versioned_bag(path, 9, n)
    (db,) = path.glob("*.db3")
    packed = db.with_name(db.name + ".zstd")
    with db.open("rb") as plain, packed.open("wb") as target:
        zstandard.ZstdCompressor().copy_stream(plain, target)
    db.unlink()
    yaml = YAML(typ="safe")
    meta = yaml.load((path / "metadata.yaml").read_text())
    info = meta["rosbag2_bagfile_information"]
    info["relative_file_paths"] = [packed.name]
    info["files"][0]["path"] = packed.name
    info["compression_format"] = "zstd"
    info["compression_mode"] = "FILE"
    (path / "metadata.yaml").write_text(_yaml_text(meta))
    return counts
