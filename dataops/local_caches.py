"""Every local cache of the process that can hold a measurement's data, in one registry.

Searches and the explorer keep copies of tables (on disk, in a temp directory) and parsed rows,
file lists and thumbnails (in memory). An erasure must not leave them behind, and must not
need to know each of them: a cache registers itself here, and :func:`forget_everywhere` asks
each to drop what belongs to a :class:`CacheScope`. A cache directory is registered by its
module as well, so the copies a previous process left in it go too, even when this process
never built the cache that reads them.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TypeVar

__all__ = [
    "CacheScope",
    "LocalCache",
    "forget_everywhere",
    "register_cache",
    "register_cache_dir",
]


@dataclass(frozen=True)
class CacheScope:
    """What to forget: measurements, datastreams, and folders (zone, prefix) in storage."""

    measurement_ids: frozenset[str]
    datastream_ids: frozenset[str]
    folders: frozenset[tuple[str, str]]

    @classmethod
    def of(
        cls,
        measurement_ids: Iterable[str],
        datastream_ids: Iterable[str],
        folders: Iterable[tuple[str, str]],
    ) -> CacheScope:
        return cls(
            frozenset(measurement_ids),
            frozenset(datastream_ids),
            frozenset((zone, prefix.strip("/")) for zone, prefix in folders),
        )

    def covers_path(self, zone: str, path: str) -> bool:
        """True when ``zone/path`` is one of the folders or lies below one."""
        path = path.strip("/")
        return any(
            zone == folder_zone and (path == folder or path.startswith(f"{folder}/"))
            for folder_zone, folder in self.folders
        )


class LocalCache(Protocol):
    """A cache that can drop a scope's entries; returns how many it dropped."""

    def forget(self, scope: CacheScope) -> int: ...


class _DirectoryCache:
    """A table cache directory by itself (its entries say which table they copy)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def forget(self, scope: CacheScope) -> int:
        # Imported here: dataops.frames.delta needs deltalake, this module only the stdlib.
        from dataops.frames.delta import forget_cached_tables

        return forget_cached_tables(self.path, scope)


_Cache = TypeVar("_Cache", bound=LocalCache)
_lock = threading.Lock()
_caches: weakref.WeakSet[LocalCache] = weakref.WeakSet()
_directories: dict[Path, _DirectoryCache] = {}


def register_cache(cache: _Cache) -> _Cache:
    """Keep ``cache`` in the registry for as long as it lives (a weak reference)."""
    with _lock:
        _caches.add(cache)
    return cache


def register_cache_dir(path: Path) -> Path:
    """Register a table cache directory of the process (idempotent); returns ``path``."""
    with _lock:
        _directories.setdefault(path, _DirectoryCache(path))
    return path


def forget_everywhere(scope: CacheScope) -> int:
    """Drop ``scope`` from every registered cache and directory; how many entries went."""
    with _lock:
        targets: list[LocalCache] = [*_caches, *_directories.values()]
    return sum(cache.forget(scope) for cache in targets)
