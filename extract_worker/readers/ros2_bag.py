"""ROS 2 bag directories as recorders of every version write them (metadata versions 4 to 9).

rosbags pairs the storage's connections with metadata.yaml's by topic, type, digest and the
parsed QoS profiles; recorders before Jazzy wrote the QoS (and the type hash) differently in
the two places, so on their bags nothing paired and nothing was read. Here a storage
connection pairs with the metadata connection of the same topic and type; a storage topic
metadata.yaml does not list is read anyway and said so in :attr:`notes`.

rosbags opens sqlite3 storage ``immutable=1``, which ignores a write-ahead log: messages a
recorder had not checkpointed (``bag.db3`` beside ``bag.db3-wal``) were invisible. Such a
file is copied and checkpointed into a private temporary directory first; the original is
never written to.
"""

from __future__ import annotations

import heapq
import shutil
import sys
import tempfile
from collections import Counter
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from rosbags.interfaces import Connection
from rosbags.rosbag2 import Reader
from rosbags.rosbag2.reader import DirectoryReader

from dataops.sqlite_wal import checkpoint_wal

if sys.version_info >= (3, 14):
    from compression import zstd
else:
    from backports import zstd

if TYPE_CHECKING:
    from collections.abc import Collection, Generator, Iterator, Mapping

__all__ = ["PairingReader", "checkpointed_copy"]


class PairingDirectoryReader(DirectoryReader):
    """rosbags' directory reader with pairing by topic and type, across every storage file."""

    def open(self) -> None:
        """Open like rosbags, then pair every storage connection (adding unlisted ones)."""
        super().open()
        self.notes: list[str] = []
        self.pairs: list[dict[int, Connection]] = []
        listed = len(self.connections)
        by_key: dict[tuple[str, str], Connection] = {}
        for conn in self.connections:
            by_key.setdefault((conn.topic, conn.msgtype), conn)
        stored: Counter[int] = Counter()
        for storage in self.storages:
            mapping: dict[int, Connection] = {}
            for found in storage.connections:
                paired = by_key.get((found.topic, found.msgtype))
                if paired is not None:
                    conn = paired
                else:
                    conn = found._replace(id=len(self.connections) + 1, owner=self)
                    self.connections.append(conn)
                    by_key[(found.topic, found.msgtype)] = conn
                mapping[found.id] = conn
                stored[conn.id] += found.msgcount
            self.pairs.append(mapping)
        for index, conn in enumerate(self.connections):
            held = stored[conn.id]
            if index >= listed:
                self.connections[index] = conn._replace(msgcount=held)
                self.notes.append(
                    f"topic {conn.topic!r} ({conn.msgtype}): {held} messages in the storage "
                    "that metadata.yaml does not list; read from the storage"
                )
            elif held != conn.msgcount:
                self.notes.append(
                    f"topic {conn.topic!r}: metadata.yaml records {conn.msgcount} messages, "
                    f"the storage holds {held}"
                )

    def messages(
        self,
        connections: Collection[Connection] = (),
        start: int | None = None,
        stop: int | None = None,
    ) -> Generator[tuple[Connection, int, bytes], None, None]:
        """Messages of ``connections`` (all if empty), merged across files in time order."""
        wanted = {c.id for c in connections}
        sources = []
        for storage, mapping in zip(self.storages, self.pairs, strict=True):
            selected = [
                found
                for found in storage.connections
                if not wanted or mapping[found.id].id in wanted
            ]
            if selected:
                sources.append(self._read(storage, mapping, selected, start, stop))
        if len(sources) == 1:
            yield from sources[0]
        else:
            yield from heapq.merge(*sources, key=lambda m: m[1])

    def _read(
        self,
        storage: Any,
        mapping: dict[int, Connection],
        selected: list[Connection],
        start: int | None,
        stop: int | None,
    ) -> Iterator[tuple[Connection, int, bytes]]:
        compressed = self.metadata.compression_mode == "message"
        for found, timestamp, data in storage.messages(selected, start, stop):
            yield mapping[found.id], timestamp, zstd.decompress(data) if compressed else data


class PairingReader(Reader):
    """rosbags' unified reader with :class:`PairingDirectoryReader` for bag directories."""

    STORAGE_PLUGINS: Mapping[str, Any] = MappingProxyType(
        {**Reader.STORAGE_PLUGINS, "dir": PairingDirectoryReader}
    )

    @property
    def notes(self) -> list[str]:
        """What reading had to work around (unlisted topics, counts that differ)."""
        return list(getattr(self.storage, "notes", []))


def _wal_pending(db: Path) -> bool:
    wal = db.with_name(f"{db.name}-wal")
    return wal.is_file() and wal.stat().st_size > 0


def checkpointed_copy(path: Path) -> tuple[Path, Path] | None:
    """``(temporary dir, path to read)`` if some sqlite3 storage has an unapplied WAL.

    Files without a WAL are symlinked, those with one are copied with it and checkpointed
    in the copy (SQLite applies the log on open), so nothing in ``path`` is modified.
    """
    dbs = sorted(path.glob("*.db3")) if path.is_dir() else [path]
    pending = [db for db in dbs if _wal_pending(db)]
    if not pending:
        return None
    tmp = Path(tempfile.mkdtemp(prefix="extract-wal-"))
    try:
        if path.is_dir():
            target = tmp / path.name
            target.mkdir()
            for item in path.iterdir():
                if item.name.endswith(("-wal", "-shm", "-journal")):
                    continue
                if item in pending:
                    _copy_with_wal(item, target / item.name)
                else:
                    (target / item.name).symlink_to(item.resolve())
        else:
            target = tmp / f"{path.stem or 'recording'}.db3"
            _copy_with_wal(path, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return tmp, target


def _copy_with_wal(db: Path, copy: Path) -> None:
    shutil.copyfile(db, copy)
    shutil.copyfile(db.with_name(f"{db.name}-wal"), copy.with_name(f"{copy.name}-wal"))
    checkpoint_wal(copy)
