"""Helpers of the erasure tests: two vehicles' drives, scans of every container and state file."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path
from typing import Any

import httpx
from azure.storage.blob import BlobServiceClient

from avops.sample_drive import generate_drive
from avops.sample_drive.generate import vehicle_id_for
from dataops.models import Datastream
from dataops.store.sqlite import SqliteStore

__all__ = [
    "ERASE_KEY",
    "SALT",
    "RawItems",
    "blob_digests",
    "drive_for",
    "erase",
    "files_mentioning",
    "sqlite_rows",
    "targets_of",
]

ERASE_KEY = "e2e-erase-key"
SALT = "e2e-erasure-salt"


def drive_for(out: Path, seed: int) -> Path:
    """The small sample drive of ``seed``; its vehicle id is ``vehicle_id_for(seed)``."""
    generate_drive(out, seed=seed, size="small")
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["vehicle_id"] == vehicle_id_for(seed)
    return out


def blob_digests(connection_string: str) -> dict[tuple[str, str], str]:
    """(container, blob) -> sha256 of every blob in every container of the account."""
    service = BlobServiceClient.from_connection_string(connection_string)
    found: dict[tuple[str, str], str] = {}
    with service:
        for container in service.list_containers():
            client = service.get_container_client(container.name)
            for blob in client.list_blobs():
                data = client.download_blob(blob.name).readall()
                found[(str(container.name), str(blob.name))] = hashlib.sha256(data).hexdigest()
    return found


def blobs_mentioning(connection_string: str, tokens: list[str]) -> list[str]:
    """``container/blob`` of every blob whose name or bytes hold one of ``tokens``."""
    service = BlobServiceClient.from_connection_string(connection_string)
    needles = [token.encode() for token in tokens]
    hits: list[str] = []
    with service:
        for container in service.list_containers():
            client = service.get_container_client(container.name)
            for blob in client.list_blobs():
                data = client.download_blob(blob.name).readall()
                name = f"{container.name}/{blob.name}"
                if any(t in name for t in tokens) or any(n in data for n in needles):
                    hits.append(name)
    return hits


def files_mentioning(roots: list[Path], tokens: list[str]) -> list[str]:
    """Every file below ``roots`` whose bytes (or name) hold one of ``tokens``."""
    needles = [token.encode() for token in tokens]
    hits: list[str] = []
    for root in roots:
        paths = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for path in paths:
            data = path.read_bytes()
            if any(t in str(path) for t in tokens) or any(n in data for n in needles):
                hits.append(str(path))
    return hits


RawItems = dict[tuple[str, str], str]
"""(container or table, id or row) -> the item's raw text, as the backend holds it."""


def sqlite_rows(path: Path) -> RawItems:
    """Every row of every table of the SQLite file, as JSON text (bypassing the store)."""
    found: RawItems = {}
    conn = sqlite3.connect(path)
    try:
        tables = [
            row[0]
            for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            if row[0] != "sqlite_sequence"
        ]
        for table in tables:
            for row in conn.execute(f"SELECT * FROM {table}"):  # names from the schema
                text = json.dumps(list(row), default=str)
                found[(table, text)] = text
    finally:
        conn.close()
    return found


def targets_of(store: SqliteStore, measurement_id: str) -> tuple[list[str], list[Datastream]]:
    """The measurement's id and datastream ids (what a scan must not find afterwards)."""
    datastreams = store.list_datastreams(measurement_id)
    return [measurement_id, *(d.id for d in datastreams)], datastreams


async def erase(
    base_url: str, route: str, *, key: str = ERASE_KEY, dry_run: bool = False
) -> httpx.Response:
    params: dict[str, Any] = {"dry_run": "true"} if dry_run else {}
    async with httpx.AsyncClient(timeout=120) as http:
        return await http.post(
            f"{base_url}/api/{route}", params=params, headers={"x-functions-key": key}
        )
