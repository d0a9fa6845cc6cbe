"""Ingest of a 5,000-file upload under devhost, in waves of sub-orchestrations.

Reference, measured in the same run: the very same work done directly, with no orchestration:
check the upload, stream-hash every file against the manifest and copy it to raw and archive
(``dataops.ingest``, the functions the activities call), on a thread pool as wide as devhost's
activity workers. Reported: both wall times, the overhead in percent, the number of
sub-orchestrations and the longest history of any one orchestration (bounded by the wave size,
500 files, not by the upload). Checked end to end: every file is in raw and in the archive,
landing is empty, and the store has one file record per file.

Run with ``make bench`` (``pytest bench -m bench -s``); results go to bench/results/.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from activities import runtime
from bench._common import ingest_directly
from dataops.ids import instance_id_for
from dataops.paths import Zone
from dataops.settings import Settings
from dataops.storage import BlobZones
from dataops.store.sqlite import SqliteStore
from devhost.durable.engine import DurableEngine
from devhost.durable.store import TERMINAL, RuntimeStatus
from devhost.host import DevHost, HostOptions
from devhost.services.azurite import AzuriteBlob

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results"
# 5,000 by default; a smaller count (still more than one 500-file wave) for a box that cannot
# spare the hour the full run takes when its cores are shared.
FILES = int(os.environ.get("AVOPS_BENCH_INGEST_FILES", "5000"))
WORKERS = max(2, os.cpu_count() or 2)


def upload_files(zones: BlobZones, prefix: str, vehicle: str, count: int = FILES) -> None:
    """``count`` small files and their manifest (written last) under ``landing/<prefix>``."""
    files = {f"chunks/{i:05d}.bin": f"{prefix}:{i}".encode() * 8 for i in range(count)}

    def put(item: tuple[str, bytes]) -> None:
        zones.write_bytes(Zone.LANDING, f"{prefix}/{item[0]}", item[1])

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(put, files.items()))
    manifest = {
        "schema_version": "1.0",
        "vehicle_id": vehicle,
        "recording_start": "2026-05-04T10:00:00Z",
        "recording_end": "2026-05-04T10:05:00Z",
        "files": [
            {
                "path": path,
                "format": "other",
                "size": len(data),
                "sha256": hashlib.sha256(data).hexdigest(),
            }
            for path, data in files.items()
        ],
    }
    zones.write_bytes(Zone.LANDING, f"{prefix}/manifest.json", json.dumps(manifest).encode())


def host_options(state_dir: Path, connection_string: str) -> HostOptions:
    """devhost as the benchmark runs it: thread activities, ``WORKERS`` wide, on Azurite."""
    return HostOptions(
        app_root=ROOT,
        state_dir=state_dir,
        port=0,
        activity_mode="thread",
        activity_workers=WORKERS,
        subscriptions_path=None,
        storage_connection_string=connection_string,
        poll_interval_s=0.1,
    )


def start_ingest(engine: DurableEngine, prefix: str) -> str:
    """Start ``ingest`` of ``prefix`` as the Event Grid trigger does, under the upload's id.

    The id matters: the reconciler (a devhost timer, every 5 minutes) starts a run for every
    landing manifest older than ``reconcile_after_minutes`` that has no instance under
    ``instance_id_for("ingest", prefix)``. A run under any other id is invisible to it, so a
    run longer than that threshold got a second, concurrent ingest of the same upload.
    """
    instance_id = instance_id_for("ingest", prefix)
    start = {**runtime.ingest_start_input(prefix), "extract": False}
    engine.start_new("ingest", instance_id, json.dumps(start))
    return instance_id


def ingest_runs(engine: DurableEngine) -> list[str]:
    """Instance ids of every top-level ``ingest`` run the host holds (the bench starts one)."""
    return sorted(
        inst.instance_id
        for inst in engine.query(name="ingest", limit=1000)
        if inst.name == "ingest" and inst.parent_instance_id is None
    )


async def _orchestrated(options: HostOptions, prefix: str) -> dict[str, Any]:
    host = DevHost(options)
    await host.start()
    try:
        started = time.perf_counter()
        instance_id = start_ingest(host.engine, prefix)
        while True:
            found = host.engine.get_instance(instance_id)
            if found is not None and found.status in TERMINAL:
                break
            await asyncio.sleep(0.2)
        elapsed = time.perf_counter() - started
        assert found.status is RuntimeStatus.COMPLETED, found.error
        # Only the bench's run: nothing (the reconciler) ingested an upload a second time.
        assert ingest_runs(host.engine) == [instance_id], ingest_runs(host.engine)
        children = host.engine.children(found.instance_id)
        output = json.loads(found.output or "{}")
        return {
            "datastream_id": output["datastream_id"],
            "raw_prefix": output["raw_prefix"],
            "orchestrated_s": elapsed,
            "sub_orchestrations": len(children),
            "parent_history_events": len(host.engine.get_history(found.instance_id)),
            "longest_wave_history_events": max(
                len(host.engine.get_history(child.instance_id)) for child in children
            ),
        }
    finally:
        await host.stop()


def _landed(zones: BlobZones, settings: Settings, prefix: str, timing: dict[str, Any]) -> None:
    """Every file in raw and archive, none left in landing, one file record each."""
    raw = sum(1 for _ in zones.list_blobs(Zone.RAW, prefix=timing.pop("raw_prefix")))
    archived = sum(1 for _ in zones.list_blobs(Zone.ARCHIVE, prefix=prefix))
    landing = sum(1 for _ in zones.list_blobs(Zone.LANDING, prefix=prefix))
    datastream_id = timing.pop("datastream_id")
    store = SqliteStore(settings.sqlite_path)
    try:
        records, continuation = 0, None
        while True:
            page = store.list_files(datastream_id, 1000, continuation)
            records += len(page.items)
            if page.continuation is None:
                break
            continuation = page.continuation
    finally:
        store.close()
    assert (raw, archived, landing, records) == (FILES, FILES, 0, FILES), (
        raw,
        archived,
        landing,
        records,
    )


@pytest.mark.bench
@pytest.mark.timeout(7200)
def test_ingest_of_5000_files_in_waves_against_the_same_work_done_directly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with AzuriteBlob(tmp_path / "azurite") as azurite:
        monkeypatch.setenv("AVOPS_STORAGE_CONNECTION_STRING", azurite.connection_string)
        monkeypatch.setenv("AVOPS_SQLITE_PATH", str(tmp_path / "metadata.sqlite3"))
        monkeypatch.setenv("AVOPS_EXTRACT_ON_INGEST", "false")
        runtime.reset()
        settings = Settings()
        zones = BlobZones.from_settings(settings)
        zones.ensure_containers()
        upload_files(zones, "bench/direct", "WVW-BENCH-DIRECT")
        upload_files(zones, "bench/waves", "WVW-BENCH-WAVES")
        reference_s = ingest_directly(zones, settings, "bench/direct", workers=WORKERS)
        options = host_options(tmp_path / "devhost", azurite.connection_string)
        timing = asyncio.run(_orchestrated(options, "bench/waves"))
        _landed(zones, settings, "bench/waves", timing)
        zones.close()
        runtime.reset()
    row = {
        "files": FILES,
        "workers": WORKERS,
        "cores": os.cpu_count(),
        "direct_s": round(reference_s, 1),
        **{k: round(v, 1) if isinstance(v, float) else v for k, v in timing.items()},
        "overhead_percent": round((timing["orchestrated_s"] - reference_s) / reference_s * 100, 1),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "bench_ingest_waves.json").write_text(json.dumps(row, indent=2) + "\n")
    print()
    print(json.dumps(row, indent=2))
