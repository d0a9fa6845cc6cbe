"""The files of a ROS 2 bag besides its storage, as the clip step meets them in the raw zone.

metadata.yaml says whether messages are compressed one by one; a ``.db3-wal`` holds messages
the recorder had not checkpointed into the ``.db3`` when it stopped (``dataops.sqlite_wal``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from dataops.errors import InvalidInputError

if TYPE_CHECKING:
    from pathlib import Path

    from dataops.models import FileRecord

__all__ = ["is_bag_sidecar", "message_compression"]

_BAG_SIDECARS = ("metadata.yaml", "-wal", "-shm", "-journal")


def is_bag_sidecar(record: FileRecord) -> bool:
    """A ROS 2 bag's metadata.yaml or a sqlite3 log: read with the storage, not on its own."""
    return str(record.format) == "rosbag2" and record.path.endswith(_BAG_SIDECARS)


def message_compression(local: Path, name: str) -> str | None:
    """The ``compression_format`` of a bag whose metadata.yaml (``local``, the bag's ``name``)
    says ``compression_mode: message``; None when messages are stored as written."""
    try:
        info = YAML(typ="safe").load(local.read_text())["rosbag2_bagfile_information"]
    except (YAMLError, KeyError, TypeError) as err:
        raise InvalidInputError(f"{name}: not a rosbag2 metadata.yaml ({err})", field=name) from err
    if str(info.get("compression_mode") or "").lower() != "message":
        return None
    return str(info.get("compression_format") or "") or None
