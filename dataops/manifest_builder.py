"""Build a manifest for a local directory of logger output (what ``avops upload`` does).

Formats are detected by name: a directory holding ``metadata.yaml`` is a ROS 2 bag and each of
its files is listed as ``rosbag2``; other files by extension. Hashing streams in 8 MiB chunks.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path

from dataops.errors import InvalidInputError
from dataops.models import MANIFEST_NAME, FileFormat, Manifest, ManifestFile
from dataops.paths import check_relative_path

__all__ = [
    "HASH_CHUNK_BYTES",
    "RECORDING_FORMATS",
    "build_manifest",
    "detect_format",
    "recording_paths",
    "sha256_of_file",
]

HASH_CHUNK_BYTES = 8 * 1024 * 1024
_BY_SUFFIX = {
    ".bag": FileFormat.ROSBAG1,
    ".mcap": FileFormat.MCAP,
    ".mf4": FileFormat.MDF4,
    ".mdf": FileFormat.MDF4,
    ".tdms": FileFormat.TDMS,
    ".dbc": FileFormat.DBC,
}
# Formats whose files hold timestamped recordings (sidecars such as DBC files do not).
RECORDING_FORMATS = frozenset(
    {FileFormat.ROSBAG1, FileFormat.ROSBAG2, FileFormat.MCAP, FileFormat.MDF4, FileFormat.TDMS}
)
# Written by tools next to the data, never part of a measurement.
_IGNORED_NAMES = frozenset({MANIFEST_NAME, ".DS_Store", "Thumbs.db"})
_IGNORED_SUFFIXES = (".tdms_index", ".part", ".tmp")


def sha256_of_file(path: Path, progress: Callable[[int], None] | None = None) -> str:
    """Streamed SHA-256 of a file; ``progress`` gets the bytes of each chunk read."""
    digest = hashlib.sha256()
    buffer = bytearray(HASH_CHUNK_BYTES)
    view = memoryview(buffer)
    with path.open("rb", buffering=0) as handle:
        while count := handle.readinto(buffer):
            digest.update(view[:count])
            if progress is not None:
                progress(count)
    return digest.hexdigest()


def detect_format(relative: str, ros2_dirs: Iterable[str]) -> FileFormat:
    """The manifest format of a file at ``relative`` below the upload root."""
    parent = relative.rsplit("/", 1)[0] if "/" in relative else ""
    if parent and parent in set(ros2_dirs):
        return FileFormat.ROSBAG2
    suffix = Path(relative).suffix.lower()
    return _BY_SUFFIX.get(suffix, FileFormat.OTHER)


def _listed_files(root: Path) -> list[Path]:
    files = []
    for path in sorted(root.rglob("*")):
        if path.is_symlink():
            raise InvalidInputError("symbolic links are not uploaded", source=str(path))
        if not path.is_file() or path.name in _IGNORED_NAMES:
            continue
        if path.name.endswith(_IGNORED_SUFFIXES):
            continue
        files.append(path)
    return files


def recording_paths(root: Path) -> list[Path]:
    """The recordings below ``root``: each ROS 2 bag directory once, and every recording file.

    A ROS 2 bag is its directory (``metadata.yaml`` plus storage files), so its files are not
    listed one by one; everything else is listed when its format holds timestamped data.
    """
    files = _listed_files(root)
    bag_dirs = sorted({p.parent for p in files if p.name == "metadata.yaml"})
    found: list[Path] = list(bag_dirs)
    for path in files:
        if any(path.is_relative_to(bag) for bag in bag_dirs):
            continue
        if detect_format(path.relative_to(root).as_posix(), ()) in RECORDING_FORMATS:
            found.append(path)
    return found


def build_manifest(
    root: Path,
    *,
    vehicle_id: str,
    recording_start: datetime,
    recording_end: datetime,
    tags: list[str] | None = None,
    measurement_id: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> Manifest:
    """Describe every file below ``root`` (hashing each); raise InvalidInputError on bad names."""
    if not root.is_dir():
        raise InvalidInputError("not a directory", source=str(root))
    files = _listed_files(root)
    if not files:
        raise InvalidInputError("no files to upload", source=str(root))
    ros2_dirs = {p.parent.relative_to(root).as_posix() for p in files if p.name == "metadata.yaml"}
    entries = []
    for path in files:
        relative = check_relative_path(path.relative_to(root).as_posix(), source=str(root))
        entries.append(
            ManifestFile(
                path=relative,
                format=detect_format(relative, ros2_dirs),
                size=path.stat().st_size,
                sha256=sha256_of_file(path, progress),
            )
        )
    return Manifest(
        schema_version="1.0",
        vehicle_id=vehicle_id,
        recording_start=recording_start,
        recording_end=recording_end,
        files=entries,
        measurement_id=measurement_id,
        tags=tags or [],
    )
