"""What the benchmarks share: where results go, probes in child processes, a devhost of
the project's own app."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from activities import runtime
from avops.cli.activity_modes import activity_placement
from dataops import ingest
from dataops.ids import instance_id_for
from dataops.manifest import parse_manifest
from dataops.settings import Settings
from dataops.storage import BlobZones
from dataops.uploader import upload_measurement
from devhost.durable.store import TERMINAL, RuntimeStatus
from devhost.host import DevHost, HostOptions
from devhost.services.azurite import AzuriteBlob

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results"
SUBSCRIPTIONS = ROOT / "infra" / "eventgrid-subscriptions.json"


def write_results(name: str, data: Any) -> Path:
    """``bench/results/<name>.json``, indented, for the docs' numbers to come from."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(data, indent=2) + "\n")
    return path


def run_probe(
    module: str, *args: str, env: dict[str, str] | None = None, timeout_s: float = 1800
) -> dict[str, Any]:
    """Run ``python -m <module> <args>`` from the repository root in a fresh process (its peak
    RSS is its own) and return the JSON object on the last line it prints."""
    completed = subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
    if completed.returncode != 0:
        raise AssertionError(f"{module} {' '.join(args)} failed:\n{completed.stderr[-4000:]}")
    return dict(json.loads(completed.stdout.strip().splitlines()[-1]))


def project_host_options(
    state_dir: Path, storage_connection_string: str, poll_interval_s: float, **extra: Any
) -> HostOptions:
    """A devhost of the project's own app on a free port, fed by its Event Grid subscriptions,
    its activities placed as ``avops dev`` places them (I/O-bound ones in threads)."""
    activity_mode, thread_activities = activity_placement("auto")
    extra.setdefault("activity_mode", activity_mode)
    extra.setdefault("thread_activities", thread_activities)
    return HostOptions(
        app_root=ROOT,
        state_dir=state_dir,
        port=0,
        subscriptions_path=SUBSCRIPTIONS,
        storage_connection_string=storage_connection_string,
        poll_interval_s=poll_interval_s,
        **extra,
    )


@dataclass(frozen=True)
class IngestRun:
    """An ingest run with its extraction: its output and where the time went."""

    output: dict[str, Any]
    upload_s: float
    total_s: float

    @property
    def extracted_id(self) -> str:
        return str(self.output["extraction"]["datastream_id"])


def use_local_stack(
    monkeypatch: pytest.MonkeyPatch, azurite: AzuriteBlob, sqlite_path: Path
) -> None:
    """Point the app (settings, activities) at ``azurite`` and a SQLite store at
    ``sqlite_path``, extracting on ingest; the activities' cached clients start afresh."""
    monkeypatch.setenv("AVOPS_STORAGE_CONNECTION_STRING", azurite.connection_string)
    monkeypatch.setenv("AVOPS_SQLITE_PATH", str(sqlite_path))
    monkeypatch.setenv("AVOPS_EXTRACT_ON_INGEST", "true")
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", azurite.connection_string)
    runtime.reset()


async def ingest_with_extraction(
    host: DevHost, zones: BlobZones, drive: Path, prefix: str, poll_s: float
) -> IngestRun:
    """Upload ``drive`` under ``prefix`` and wait for its ingest run, which must complete with
    its extraction; the clock starts with the upload."""
    manifest = parse_manifest((drive / "manifest.json").read_bytes())
    started = time.perf_counter()
    await asyncio.to_thread(upload_measurement, zones, drive, manifest, upload_prefix=prefix)
    uploaded = time.perf_counter()
    instance_id = instance_id_for("ingest", prefix)
    while True:
        found = host.engine.get_instance(instance_id)
        if found is not None and found.status in TERMINAL:
            break
        await asyncio.sleep(poll_s)
    ended = time.perf_counter()
    assert found.status is RuntimeStatus.COMPLETED, found.error
    output = json.loads(found.output or "{}")
    assert output["extraction"]["status"] == "Completed", output
    return IngestRun(output, upload_s=uploaded - started, total_s=ended - started)


def ingest_directly(zones: BlobZones, settings: Settings, prefix: str, *, workers: int) -> float:
    """Ingest's work with no orchestration: check the upload at ``prefix``, stream-hash every
    file against the manifest and copy it to raw and archive, ``workers`` files at a time (the
    functions the ingest activities call), then delete it from landing (not timed). Returns
    the wall time."""
    started = time.perf_counter()
    checked = ingest.check_upload(
        zones,
        prefix,
        max_manifest_bytes=settings.manifest_max_bytes,
        unlisted=settings.unlisted_files,
    )
    assert not checked.missing, checked.missing

    def one(item: Any) -> None:
        ingest.verify_checksum(
            zones, prefix, item.path, etag=item.etag, sha256=item.sha256, size=item.size
        )
        ingest.copy_to_raw_and_archive(
            zones,
            upload_prefix=prefix,
            path=item.path,
            etag=item.etag,
            sha256=item.sha256,
            raw_prefix=f"bench-direct/{prefix}",
        )

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(one, checked.files))
    elapsed = time.perf_counter() - started
    # Not timed: the upload leaves landing, as after an ingest. Left there, it is a manifest
    # with no run, and the reconciler timer of a devhost the bench starts afterwards would
    # ingest it a second time once it is older than reconcile_after_minutes.
    ingest.delete_from_landing(
        zones,
        upload_prefix=prefix,
        files=[item.to_dict() for item in checked.files],
        manifest_etag=checked.manifest_etag,
    )
    return elapsed
