"""Ingest validation benchmark: our streamed SHA-256 of a landing blob over Azurite.

Reference, measured in the same run on the same blob: a plain ``download_blob().chunks()`` +
hashlib loop. Reported: throughput of both (goal: ours >= 0.9x the reference) and each one's
peak RSS for a 100 MB and a 1 GB blob (goal: the same). Each measurement runs in a fresh
process so peak RSS belongs to that one hash alone.

Run with ``make bench`` (``pytest bench -m bench -s``); results go to bench/results/.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from bench._common import run_probe, write_results
from dataops.paths import Zone
from dataops.storage import BlobZones, ConnectionStringZones
from devhost.services.azurite import AzuriteBlob

SIZES_MB = (100, 1024)
ROUNDS = 2


def _write_blob(zones: BlobZones, tmp: Path, size_mb: int) -> str:
    local = tmp / f"blob-{size_mb}.bin"
    block = bytes(range(256)) * 4096  # 1 MiB, not all zeros so nothing compresses it away
    with local.open("wb") as handle:
        for _ in range(size_mb):
            handle.write(block)
    path = f"bench/blob-{size_mb}.bin"
    zones.upload_file(Zone.LANDING, path, local)
    local.unlink()
    return path


def _probe(mode: str, connection: str, prefix: str, path: str) -> dict[str, Any]:
    return run_probe("bench.validate_rss_probe", mode, connection, prefix, path)


@pytest.mark.bench
@pytest.mark.timeout(3600)
def test_validation_throughput_and_memory_against_plain_download(tmp_path: Path) -> None:
    rows = []
    with AzuriteBlob(tmp_path / "azurite") as azurite:
        prefix = f"b{uuid.uuid4().hex[:8]}-"
        zones = BlobZones(ConnectionStringZones(azurite.connection_string, container_prefix=prefix))
        zones.ensure_containers([Zone.LANDING])
        for size_mb in SIZES_MB:
            path = _write_blob(zones, tmp_path, size_mb)
            best: dict[str, dict[str, Any]] = {}
            # Interleaved rounds, best of each: the shared VM's neighbours move absolute rates.
            for _ in range(ROUNDS):
                for mode in ("plain", "validator"):
                    run = _probe(mode, azurite.connection_string, prefix, path)
                    if mode not in best or run["seconds"] < best[mode]["seconds"]:
                        best[mode] = run
            assert best["plain"]["sha256"] == best["validator"]["sha256"]
            ours = size_mb / best["validator"]["seconds"]
            reference = size_mb / best["plain"]["seconds"]
            rows.append(
                {
                    "size_mb": size_mb,
                    "validator_mb_s": round(ours, 1),
                    "plain_mb_s": round(reference, 1),
                    "ratio": round(ours / reference, 2),
                    "validator_peak_rss_mb": round(best["validator"]["peak_rss_mb"], 1),
                    "plain_peak_rss_mb": round(best["plain"]["peak_rss_mb"], 1),
                }
            )
            zones.delete(Zone.LANDING, path, etag=zones.get_info(Zone.LANDING, path).etag)
        zones.close()
    write_results("bench_validate", rows)
    print()
    print("size    validator     plain-download+hashlib   ratio   peak RSS validator / plain")
    for row in rows:
        print(
            f"{row['size_mb']:>5} MB {row['validator_mb_s']:>8} MB/s {row['plain_mb_s']:>12} MB/s"
            f"          {row['ratio']:>5}x   {row['validator_peak_rss_mb']} / "
            f"{row['plain_peak_rss_mb']} MB"
        )
