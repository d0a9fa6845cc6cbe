"""How every ``avops`` command finds the local platform that ``avops dev`` is running.

``avops dev`` writes ``.avops/connection.json`` in the checkout it serves (API URL, the one local
key, the storage connection string, its state directory) and removes it when it stops. Any other
``avops`` command started in that checkout (or a folder below it) reads the file, so a second
terminal needs nothing exported. Precedence for each value: the command's option, then its
environment variable, then this file, then the built-in default.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path

__all__ = [
    "CONNECTION_FILE",
    "DEFAULT_API_URL",
    "LocalConnection",
    "find_connection",
    "local_key",
    "resolve_api",
    "resolve_storage",
]

CONNECTION_FILE = Path(".avops") / "connection.json"
DEFAULT_API_URL = "http://localhost:7071"
_KEY_FILE = "local-key"


@dataclass(frozen=True)
class LocalConnection:
    """What a running ``avops dev`` tells the other commands of its checkout."""

    api_url: str
    key: str
    storage_connection_string: str | None
    state_dir: str
    pid: int

    def write(self, path: Path) -> None:
        """Write atomically, readable by the owner only (the file holds the local key)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial")
        descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            json.dump(asdict(self), handle, indent=2)
        partial.replace(path)

    @classmethod
    def read(cls, path: Path) -> LocalConnection:
        data = json.loads(path.read_text(encoding="utf-8"))
        return cls(
            api_url=str(data["api_url"]),
            key=str(data["key"]),
            storage_connection_string=data.get("storage_connection_string"),
            state_dir=str(data["state_dir"]),
            pid=int(data.get("pid", 0)),
        )


def find_connection(start: Path | None = None) -> LocalConnection | None:
    """The connection file of the checkout around ``start`` (default: the working directory)."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / CONNECTION_FILE
        if candidate.is_file():
            try:
                return LocalConnection.read(candidate)
            except (OSError, ValueError, KeyError):
                # A half-written or foreign file: the caller falls back to options and defaults.
                return None
    return None


def resolve_api(url: str | None, key: str | None) -> tuple[str, str | None]:
    """Base URL and key for an API call: options/env first, then the local platform's file."""
    if url is not None and key is not None:
        return url, key
    local = find_connection()
    if local is None:
        return url or DEFAULT_API_URL, key
    if url is None or url.rstrip("/") == local.api_url.rstrip("/"):
        return url or local.api_url, key or local.key
    # Another URL than the local platform's: never send the local key there.
    return url, key


def resolve_storage(connection_string: str | None) -> str | None:
    """The storage connection string: setting first, else the running local platform's."""
    if connection_string:
        return connection_string
    local = find_connection()
    return local.storage_connection_string if local else None


def local_key(state_dir: Path) -> str:
    """The one key of a local platform, kept in its state so it survives restarts."""
    path = state_dir / _KEY_FILE
    if path.is_file():
        existing = path.read_text(encoding="utf-8").strip()
        if existing:
            return existing
    state_dir.mkdir(parents=True, exist_ok=True)
    key = "local-" + secrets.token_urlsafe(24)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(key)
    return key
