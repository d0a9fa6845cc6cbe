"""Child process for bench_validate: hash one blob one way and print the peak RSS.

Usage: python -m bench.validate_rss_probe (validator|plain) CONNECTION_STRING CONTAINER_PREFIX PATH
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from pathlib import Path

from azure.storage.blob import BlobServiceClient

from dataops.paths import Zone
from dataops.storage import BlobZones, ConnectionStringZones


def _peak_rss_kib() -> int:
    # VmHWM is this process's own high-water mark; ru_maxrss would carry the parent's over exec.
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status")


def main() -> int:
    """Hash the blob and print {seconds, sha256, peak_rss_mb} as JSON."""
    mode, connection, prefix, path = sys.argv[1:5]
    zones = BlobZones(ConnectionStringZones(connection, container_prefix=prefix))
    started = time.perf_counter()
    if mode == "validator":
        digest = zones.sha256(Zone.LANDING, path).sha256
    else:
        # The reference: the SDK's defaults, nothing of ours between the download and hashlib.
        service = BlobServiceClient.from_connection_string(connection)
        blob = service.get_blob_client(f"{prefix}{Zone.LANDING.value}", path)
        hasher = hashlib.sha256()
        for chunk in blob.download_blob().chunks():
            hasher.update(chunk)
        digest = hasher.hexdigest()
    seconds = time.perf_counter() - started
    peak_mb = _peak_rss_kib() / 1024
    print(json.dumps({"seconds": seconds, "sha256": digest, "peak_rss_mb": peak_mb}))
    zones.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
