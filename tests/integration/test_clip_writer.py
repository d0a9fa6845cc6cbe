"""Scene clips against Azurite: the sample drive's planted pedestrian window as one MCAP."""

from __future__ import annotations

import io
import json
import urllib.request
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from mcap.reader import make_reader
from rosbags.rosbag1 import Reader as Ros1Reader
from rosbags.typesys import Stores, get_types_from_msg, get_typestore

from dataops.clips.steps import ClipRequest, prepare_clip, write_measurement_clip
from dataops.clips.writer import ClipSource, ClipWindow, write_clip
from dataops.errors import InvalidInputError
from dataops.models import DatastreamState, DatastreamType, FileRecord, Scene
from dataops.storage import BlobZones
from dataops.store.sqlite import SqliteStore
from tests.contract.conftest import create_with_files, make_measurement, seed_completed_raw
from tests.drives import shared_drive
from tests.extract_worker import ros2_bags

MARGIN_NS = 2_000_000_000
ROS2_TOPICS = (
    "/gps",
    "/status",
    ros2_bags.SERVICE_TOPIC,
    ros2_bags.FEEDBACK_TOPIC,
    ros2_bags.STATUS_TOPIC,
)


@pytest.fixture(scope="module")
def drive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The small sample drive (seed 0), shared read-only with the other folders' tests."""
    return shared_drive(tmp_path_factory, seed=0)


@pytest.fixture
def ingested(
    drive: Path, blob_zones: BlobZones, tmp_path: Path
) -> Iterator[tuple[SqliteStore, Scene, dict[str, Any]]]:
    """The drive's files in the raw zone under a COMPLETED RAW datastream, plus one scene."""
    manifest = json.loads((drive / "manifest.json").read_text())
    truth = json.loads((drive / "truth.json").read_text())
    event = next(e for e in truth["events"] if e["type"] == "pedestrian_in_view")
    store = SqliteStore(tmp_path / "meta.sqlite3")
    base = make_measurement("m-clip")
    files = [FileRecord.model_validate(item) for item in manifest["files"]]
    measurement = create_with_files(store, base, files)
    seed_completed_raw(store, blob_zones, measurement, drive)
    scene = Scene(
        id="scene-ped",
        measurement_id=measurement.id,
        datastream_id="scenes-1",
        vehicle_id=measurement.vehicle_id,
        type="pedestrian",
        start=datetime.fromtimestamp(event["start_ns"] / 1e9, UTC),
        end=datetime.fromtimestamp(event["end_ns"] / 1e9, UTC),
    )
    store.upsert_scenes([scene])
    yield store, scene, event
    store.close()


def _expected(drive: Path, start: int, end: int, topics: set[str] | None) -> Counter[str]:
    counts: Counter[str] = Counter()
    with (drive / "ros2_drive" / "ros2_drive.mcap").open("rb") as handle:
        for _, channel, message in make_reader(handle).iter_messages():
            if start <= message.log_time <= end and (not topics or channel.topic in topics):
                counts[channel.topic] += 1
    with Ros1Reader(drive / "ros1_drive.bag") as bag:
        for connection, stamp, _ in bag.messages():
            if start <= stamp <= end and (not topics or connection.topic in topics):
                counts[connection.topic] += 1
    return counts


def _fetch(url: str, target: Path) -> None:
    with urllib.request.urlopen(url, timeout=30) as answer, target.open("wb") as sink:
        while chunk := answer.read(1 << 20):
            sink.write(chunk)


def test_scene_clip_holds_exactly_the_window_and_decodes(
    ingested: tuple[SqliteStore, Scene, dict[str, Any]],
    blob_zones: BlobZones,
    drive: Path,
    tmp_path: Path,
) -> None:
    """Every ROS message with log time in scene +- margin, per topic, raw bytes that decode;
    MDF4 and TDMS signals as JSON channels with a jsonschema; the SAS link serves the file."""
    store, scene, event = ingested
    clip = prepare_clip(
        store,
        ClipRequest(),
        datastream_id="clip-1",
        instance_id="clip-inst",
        default_margin_s=2.0,
        scene_id=scene.id,
    )
    assert clip.type == DatastreamType.CLIP
    assert clip.sources == ["raw-1", "scenes-1"]
    result = write_measurement_clip(blob_zones, store, datastream_id=clip.id, link_hours=1)

    start, end = event["start_ns"] - MARGIN_NS, event["end_ns"] + MARGIN_NS
    local = tmp_path / "clip.mcap"
    _fetch(result["url"], local)
    assert "sp=r" in result["url"] and "sig=" in result["url"]
    fox = parse_qs(urlsplit(result["foxglove_url"]).query)
    assert fox == {"ds": ["remote-file"], "ds.url": [result["url"]]}

    ros_counts: Counter[str] = Counter()
    json_counts: Counter[str] = Counter()
    decoded = 0
    typestore = get_typestore(Stores.EMPTY)
    with local.open("rb") as handle:
        reader = make_reader(handle)
        for schema, channel, message in reader.iter_messages():
            assert start <= message.log_time <= end, channel.topic
            assert schema is not None
            if channel.message_encoding == "json":
                assert schema.encoding == "jsonschema"
                properties = json.loads(schema.data)["properties"]
                body = json.loads(message.data)
                assert body["timestamp_ns"] == message.log_time
                assert set(body) <= set(properties)
                json_counts[channel.topic] += 1
                continue
            ros_counts[channel.topic] += 1
            if channel.message_encoding == "cdr" and channel.topic in {"/gps/fix", "/imu/data"}:
                assert schema.encoding == "ros2msg"
                typestore.register(get_types_from_msg(schema.data.decode(), schema.name))
                msg = typestore.deserialize_cdr(message.data, schema.name)
                stamp = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
                assert abs(stamp - message.log_time) < 1_000_000_000
                decoded += 1
            elif channel.message_encoding == "ros1":
                assert schema.encoding == "ros1msg"
    assert ros_counts == _expected(drive, start, end, None)
    assert decoded > 0
    # 100 Hz MDF4 vehicle signals and the 100 Hz / 20 Hz TDMS groups over the window.
    window_s = (end - start) / 1e9
    assert json_counts["/vehicle/group0"] == pytest.approx(window_s * 100, abs=2)
    assert json_counts["/daq/Analog"] == pytest.approx(window_s * 100, abs=2)
    assert json_counts["/daq/RadarClosestTarget"] == pytest.approx(window_s * 20, abs=2)
    done = store.get_datastream(clip.id)
    assert done.state == DatastreamState.COMPLETED
    assert done.stats["messages"] == sum(ros_counts.values()) + sum(json_counts.values())


def test_clip_keeps_only_the_requested_topics(
    ingested: tuple[SqliteStore, Scene, dict[str, Any]],
    blob_zones: BlobZones,
    drive: Path,
) -> None:
    """A measurement clip with ``topics`` holds those topics' messages in from..to + margin."""
    store, scene, event = ingested
    request = ClipRequest(
        from_ns=event["start_ns"],
        to_ns=event["start_ns"] + 1_000_000_000,
        margin_s=0.5,
        topics=["/vehicle/speed", "/daq/Analog"],
    )
    clip = prepare_clip(
        store,
        request,
        datastream_id="clip-2",
        instance_id="i",
        default_margin_s=2.0,
        measurement_id=scene.measurement_id,
    )
    assert clip.sources == ["raw-1"]
    result = write_measurement_clip(blob_zones, store, datastream_id=clip.id, link_hours=1)
    start, end = event["start_ns"] - 500_000_000, event["start_ns"] + 1_500_000_000
    expected = _expected(drive, start, end, {"/vehicle/speed"})
    assert set(result["topics"]) == {"/vehicle/speed", "/daq/Analog"}
    assert result["topics"]["/vehicle/speed"] == expected["/vehicle/speed"]
    assert result["topics"]["/daq/Analog"] == pytest.approx(200, abs=1)
    # A retried call (its first answer lost) hands out the written clip, writes nothing new.
    again = write_measurement_clip(blob_zones, store, datastream_id=clip.id, link_hours=1)
    assert {k: again[k] for k in ("path", "bytes", "topics")} == {
        k: result[k] for k in ("path", "bytes", "topics")
    }
    assert store.list_files(clip.id).items[0].size == result["bytes"]


def _sqlite_bag(kind: str, bag: Path) -> dict[str, int]:
    if kind == "wal":
        return ros2_bags.write_uncheckpointed_bag(bag)
    if kind == "file-zstd":
        return ros2_bags.write_file_compressed_bag(bag)
    return ros2_bags.write_versioned_bag(bag, 5 if kind == "no-definitions" else 9)


@pytest.mark.parametrize("kind", ["current", "wal", "no-definitions", "file-zstd"])
def test_sqlite3_ros2_bag_clip_holds_the_window_and_decodes(
    blob_zones: BlobZones, tmp_path: Path, kind: str
) -> None:
    """A ROS 2 bag in sqlite3 storage is clipped: exactly its messages with log time in the
    window, per topic, as ``cdr`` with ``ros2msg`` schemas the ROS 2 decoder reads back.
    Messages still in the write-ahead log count; a bag without stored definitions takes
    rosbags' ROS 2 types, and a topic whose type is unknown there is listed as skipped; a bag
    recorded with ``compression_mode: file`` (``.db3.zstd``) is clipped like the plain one."""
    bag = tmp_path / "drive" / "bag"
    bag.parent.mkdir()
    _sqlite_bag(kind, bag)
    files = [
        FileRecord(path=f"bag/{item.name}", format="rosbag2", size=item.stat().st_size)
        for item in sorted(bag.iterdir())
    ]
    assert any(f.path.endswith("-wal") for f in files) == (kind == "wal")
    assert any(f.path.endswith(".db3.zstd") for f in files) == (kind == "file-zstd")
    store = SqliteStore(tmp_path / "meta.sqlite3")
    measurement = create_with_files(store, make_measurement("m-sqlite"), files)
    seed_completed_raw(store, blob_zones, measurement, tmp_path / "drive")
    # Messages 3..6 of the ten per topic (both window ends inclusive).
    base, step = ros2_bags.BASE_NS, ros2_bags.STEP_NS
    start, end = base + 3 * step, base + 6 * step
    clip = prepare_clip(
        store,
        ClipRequest(from_ns=start, to_ns=end, margin_s=0.0),
        datastream_id="clip-sqlite",
        instance_id="i",
        default_margin_s=2.0,
        measurement_id=measurement.id,
    )
    result = write_measurement_clip(blob_zones, store, datastream_id=clip.id, link_hours=1)
    store.close()
    local = tmp_path / "clip.mcap"
    _fetch(result["url"], local)

    counts: Counter[str] = Counter()
    latitudes = []
    typestore = get_typestore(Stores.EMPTY)
    with local.open("rb") as handle:
        for schema, channel, message in make_reader(handle).iter_messages():
            assert start <= message.log_time <= end
            assert schema is not None and schema.encoding == "ros2msg"
            assert channel.message_encoding == "cdr"
            counts[channel.topic] += 1
            if channel.topic == "/gps":
                typestore.register(get_types_from_msg(schema.data.decode(), schema.name))
                fix = typestore.deserialize_cdr(message.data, schema.name)
                latitudes.append(round(fix.latitude, 6))
    # Humble-era service event and action feedback types: not among rosbags' ROS 2 types.
    custom = {ros2_bags.SERVICE_TOPIC, ros2_bags.FEEDBACK_TOPIC}
    unknown = custom if kind == "no-definitions" else set()
    expected = {topic: 4 for topic in ROS2_TOPICS if topic not in unknown}
    assert dict(counts) == expected
    assert latitudes == [48.00003, 48.00004, 48.00005, 48.00006]
    assert result["topics"] == expected
    assert sorted(result["skipped"]) == sorted(f"bag/bag.db3:{topic}" for topic in unknown)


def test_file_compressed_storage_is_read_from_a_scratch_copy_that_goes_away(
    tmp_path: Path,
) -> None:
    """A ``.db3.zstd`` is decompressed to a scratch file beside it, clipped like a ``.db3``
    (exactly its messages in the window), and the scratch is gone afterwards; a file that is
    not zstd is an error naming it, and leaves no scratch either."""
    bag = tmp_path / "bag"
    ros2_bags.write_file_compressed_bag(bag)
    (packed,) = bag.glob("*.db3.zstd")
    before = sorted(item.name for item in bag.iterdir())
    base, step = ros2_bags.BASE_NS, ros2_bags.STEP_NS
    window = ClipWindow(base + 2 * step, base + 4 * step)
    source = ClipSource("rosbag2_sqlite3", packed, "bag/bag.db3.zstd", file_compression="zstd")
    out = io.BytesIO()
    stats = write_clip([source], window, out)
    assert dict(stats.messages) == dict.fromkeys(ROS2_TOPICS, 3)
    stamps = [m.log_time for _, _, m in make_reader(io.BytesIO(out.getvalue())).iter_messages()]
    assert sorted(set(stamps)) == [base + 2 * step, base + 3 * step, base + 4 * step]
    assert sorted(item.name for item in bag.iterdir()) == before
    bad = bag / "bad.db3.zstd"
    bad.write_bytes(b"SQLite format 3\0" + bytes(64))
    broken = ClipSource("rosbag2_sqlite3", bad, "bag/bad.db3.zstd", file_compression="zstd")
    with pytest.raises(InvalidInputError, match=r"bag/bad\.db3\.zstd: not a zstd file"):
        write_clip([broken], window, io.BytesIO())
    assert sorted(item.name for item in bag.iterdir()) == sorted([*before, bad.name])
