"""ROS 2 bags as the official recorder writes them: every metadata version, split, WAL.

The bags come from :mod:`tests.extract_worker.ros2_bags`. Counts must equal what
metadata.yaml records; validate must pass on these healthy bags.
"""

from __future__ import annotations

import hashlib
import sqlite3
from typing import TYPE_CHECKING, Any

import pyarrow.parquet as pq
import pytest
from ruamel.yaml import YAML

from extract_worker.errors import EXIT_BAD_INPUT, BadInputError
from tests.extract_worker.ros2_bags import (
    FEEDBACK_TOPIC,
    SERVICE_TOPIC,
    VERSIONS,
    write_split_bag,
    write_uncheckpointed_bag,
    write_versioned_bag,
)
from tests.extract_worker.support import run

if TYPE_CHECKING:
    from pathlib import Path

    from extract_worker.config import ExtractConfig


def _counts(meta: dict[str, Any]) -> dict[str, int]:
    return {topic: s["count"] for topic, s in meta["streams"].items()}


@pytest.mark.parametrize("version", VERSIONS)
def test_every_metadata_version_reads_its_counts(
    version: int, tmp_path: Path, config: ExtractConfig
) -> None:
    """Versions 4-9 with their QoS and type-hash forms: counts equal metadata.yaml's, validate
    passes, and the service event and action feedback topics extract into tables where the
    storage carries their definitions (version 6 on), or are listed as unknown where not."""
    bag = tmp_path / "bag"
    counts = write_versioned_bag(bag, version)
    out = tmp_path / "out"
    meta = run("metadata", bag, out, config)["metadata"]
    assert _counts(meta) == counts
    assert meta["warnings"] == []
    assert run("validate", bag, out, config)["validation"]["checks"]

    structured = run("structured", bag, out, config)
    paths = {f["stream"]: f["path"] for f in structured["files"]}
    if version < 6:
        # No message_definitions table then, and Humble's typestore lacks these types.
        assert {e["stream"] for e in structured["errors"]} == {SERVICE_TOPIC, FEEDBACK_TOPIC}
        assert set(paths) == {"/status", "/fibonacci/_action/status"}
        return
    assert structured["errors"] == []
    service = pq.read_table(out / "structured" / paths[SERVICE_TOPIC]).to_pylist()
    assert [row["request"][0]["a"] for row in service] == list(range(10))
    feedback = pq.read_table(out / "structured" / paths[FEEDBACK_TOPIC]).to_pylist()
    assert feedback[3]["feedback.sequence"] == [0, 1, 2]


def test_split_bag_counts_both_files(tmp_path: Path, config: ExtractConfig) -> None:
    """A bag over two storage files: every message of both, in time order."""
    bag = tmp_path / "bag"
    counts = write_split_bag(bag, version=6)
    out = tmp_path / "out"
    meta = run("metadata", bag, out, config)["metadata"]
    assert _counts(meta) == counts
    gps = run("gps", bag, out, config)
    table = pq.read_table(out / "gps" / gps["files"][0]["path"])
    times = table.column("time_ns").to_pylist()
    assert len(times) == 10 and times == sorted(times)
    assert run("validate", bag, out, config)["validation"]["checks"]


def test_topic_missing_from_metadata_is_read_and_reported(
    tmp_path: Path, config: ExtractConfig
) -> None:
    """A storage topic metadata.yaml does not list is read anyway and named in a warning."""
    bag = tmp_path / "bag"
    counts = write_versioned_bag(bag, 9)
    yaml = YAML(typ="safe")
    doc = yaml.load((bag / "metadata.yaml").read_text())
    info = doc["rosbag2_bagfile_information"]
    info["topics_with_message_count"] = [
        t for t in info["topics_with_message_count"] if t["topic_metadata"]["name"] != "/status"
    ]
    info["message_count"] -= counts["/status"]
    with (bag / "metadata.yaml").open("w") as f:
        yaml.dump(doc, f)
    out = tmp_path / "out"
    meta = run("metadata", bag, out, config)["metadata"]
    assert _counts(meta) == counts
    assert meta["warnings"] == [
        "topic '/status' (std_msgs/msg/String): 10 messages in the storage that "
        "metadata.yaml does not list; read from the storage"
    ]


def test_zero_read_against_metadata_count_is_bad_input(
    tmp_path: Path, config: ExtractConfig
) -> None:
    """metadata.yaml says 10 messages but the storage has none: exit 2, never an empty success."""
    bag = tmp_path / "bag"
    write_versioned_bag(bag, 8)
    (db,) = bag.glob("*.db3")
    with sqlite3.connect(db) as conn:
        conn.execute(
            "DELETE FROM messages WHERE topic_id = (SELECT id FROM topics WHERE name = '/gps')"
        )
    conn.close()
    for kind in ("metadata", "validate"):
        with pytest.raises(BadInputError) as info:
            run(kind, bag, tmp_path / kind, config)
        assert info.value.exit_code == EXIT_BAD_INPUT
        assert "10 messages" in str(info.value) and "/gps" in str(info.value)


def test_uncheckpointed_wal_is_read_and_left_untouched(
    tmp_path: Path, config: ExtractConfig
) -> None:
    """Messages still in talker.db3-wal are counted and extracted; the bag's files keep their
    bytes (the WAL is applied in a private copy)."""
    bag = tmp_path / "bag"
    counts = write_uncheckpointed_bag(bag)
    (db,) = bag.glob("*.db3")
    # The fixture is what it claims: the main file alone holds no message.
    with sqlite3.connect(f"file:{db}?immutable=1", uri=True) as conn:
        assert conn.execute("SELECT count(*) FROM messages").fetchone() == (0,)
    conn.close()
    before = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in bag.iterdir()}

    out = tmp_path / "out"
    assert _counts(run("metadata", bag, out, config)["metadata"]) == counts
    assert run("validate", bag, out, config)["validation"]["checks"]
    gps = run("gps", bag, out, config)
    assert gps["files"][0]["rows"] == 10
    assert {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in bag.iterdir()} == before


@pytest.mark.parametrize("version", [8, 9])
def test_mcap_storage_with_metadata_in_another_form(
    version: int, tmp_path: Path, config: ExtractConfig
) -> None:
    """MCAP storage (the recorder's default since Iron) whose channels carry QoS and type
    hashes in another form than metadata.yaml: every message is still read and validated."""
    bag = tmp_path / "bag"
    counts = write_versioned_bag(bag, version, storage="mcap")
    out = tmp_path / "out"
    meta = run("metadata", bag, out, config)["metadata"]
    assert _counts(meta) == counts
    assert meta["warnings"] == []
    assert run("validate", bag, out, config)["validation"]["checks"]
