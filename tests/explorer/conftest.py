"""One pipeline run of the small sample drive under devhost, shared by the explorer's checks.

The module fixture starts Azurite, the local batch pool and devhost with the unchanged
function_app, uploads the sample drive, waits until ``detect_scenes`` completed, then runs the
browser script against the live host (node + playwright-core driving Debian's chromium) and
hands its JSON answer to the tests. Screenshots go to test-artifacts/explorer/.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from rosbags.highlevel import AnyReader

from activities import runtime
from dataops.ids import instance_id_for
from dataops.manifest import parse_manifest
from dataops.models import DatastreamType, FileRecord
from dataops.settings import Settings
from dataops.storage import BlobZones
from dataops.store.sqlite import SqliteStore
from dataops.uploader import upload_measurement
from devhost.batch_runner import batch_runner
from devhost.durable.store import TERMINAL, RuntimeStatus
from devhost.host import DevHost, HostOptions
from devhost.services.azurite import AzuriteBlob
from tests.contract.conftest import (
    create_with_files,
    make_measurement,
    make_scene,
    seed_completed_raw,
)
from tests.devhost.chromium import find_chromium
from tests.devhost.hosting import run_with_host
from tests.drives import shared_drive
from tests.e2e.conftest import wait_for

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).with_name("explorer_pages.mjs")
ARTIFACTS = ROOT / "test-artifacts" / "explorer"
WRITE_KEY = "explorer-write-key"
READ_KEY = "explorer-read-key"
LOST_MEASUREMENT = "m-lost-recording"
LOST_SCENE = "scene-lost-recording"


@dataclass(frozen=True)
class ExplorerRun:
    """What the browser saw, and the truth to hold it against."""

    seen: dict[str, Any]
    truth: dict[str, Any]
    measurement_id: str
    gps_rows: int
    datastreams: int
    scene_types: list[str]
    clip_path: Path
    """The MCAP the browser downloaded through the Clip action's link."""


async def _finished(host: DevHost, instance_id: str, timeout_s: float) -> Any:
    def done() -> Any:
        instance = host.engine.get_instance(instance_id)
        return instance if instance is not None and instance.status in TERMINAL else None

    return await wait_for(done, timeout_s=timeout_s, what=f"instance {instance_id}")


def _plant_scene_of_a_lost_recording(store_path: Path, zones: BlobZones) -> None:
    """A second measurement whose RAW file is recorded but gone from the raw zone, and a scene
    of it: a clip of that scene starts, then its run fails (the Clip action's failed run)."""
    store = SqliteStore(store_path)
    try:
        recording = FileRecord(path="drive.mcap", format="mcap", size=1024, sha256="0" * 64)
        measurement = create_with_files(store, make_measurement(LOST_MEASUREMENT), [recording])
        seed_completed_raw(store, zones, measurement, None)
        store.upsert_scenes([make_scene(LOST_SCENE, measurement.id)])
    finally:
        store.close()


async def _pipeline_then_browser(
    host: DevHost, zones: BlobZones, drive: Path, chromium: str, workdir: Path
) -> tuple[dict[str, Any], str]:
    manifest = parse_manifest((drive / "manifest.json").read_bytes())
    upload_measurement(zones, drive, manifest, upload_prefix="fleet/explorer-1")
    ingest = await _finished(host, instance_id_for("ingest", "fleet/explorer-1"), 300)
    assert ingest.status is RuntimeStatus.COMPLETED, ingest.error
    output = json.loads(ingest.output)
    extracted_id = output["extraction"]["datastream_id"]
    sync = await _finished(host, instance_id_for("synchronize", extracted_id), 120)
    assert sync.status is RuntimeStatus.COMPLETED, sync.error
    enrich = await _finished(
        host, instance_id_for("enrich", json.loads(sync.output)["datastream_id"]), 120
    )
    assert enrich.status is RuntimeStatus.COMPLETED, enrich.error
    scenes = await _finished(
        host, instance_id_for("detect_scenes", json.loads(enrich.output)["datastream_id"]), 120
    )
    assert scenes.status is RuntimeStatus.COMPLETED, scenes.error
    truth = json.loads((drive / "truth.json").read_text())
    pedestrian = next(e for e in truth["events"] if e["type"] == "pedestrian_in_view")
    _plant_scene_of_a_lost_recording(workdir / "metadata.sqlite3", zones)
    config = {
        "base_url": host.base_url,
        "write_key": WRITE_KEY,
        "read_key": READ_KEY,
        "measurement_id": output["measurement_id"],
        # Mid-window, where the pedestrian is in view whatever the frame grid.
        "pedestrian_ns": (pedestrian["start_ns"] + pedestrian["end_ns"]) // 2,
        "screenshots": str(ARTIFACTS),
        "clip_path": str(workdir / "clip.mcap"),
        "ingest_instance": instance_id_for("ingest", "fleet/explorer-1"),
        "lost_scene": LOST_SCENE,
        "chromium": chromium,
    }
    config_path = workdir / "browser.json"
    config_path.write_text(json.dumps(config))
    node = shutil.which("node")
    assert node, "node is needed for the browser tests (make setup)"
    # A subprocess on the host's own loop: the host keeps serving while the browser runs.
    process = await asyncio.create_subprocess_exec(
        node,
        str(SCRIPT),
        str(config_path),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=540)
    assert process.returncode == 0, stderr.decode()[-4000:]
    return json.loads(stdout.decode().strip().splitlines()[-1]), output["measurement_id"]


@pytest.fixture(scope="module")
def explorer_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ExplorerRun]:
    """The sample drive through the pipeline, then every explorer page in chromium, once."""
    chromium = find_chromium()
    workdir = tmp_path_factory.mktemp("explorer")
    drive = shared_drive(tmp_path_factory, seed=3)
    with pytest.MonkeyPatch.context() as patch, AzuriteBlob(workdir / "azurite") as azurite:
        sqlite_path = workdir / "metadata.sqlite3"
        for name, value in {
            "AVOPS_STORAGE_CONNECTION_STRING": azurite.connection_string,
            "AVOPS_SQLITE_PATH": str(sqlite_path),
            "AVOPS_API_WRITE_KEYS": WRITE_KEY,
            "AVOPS_API_READ_KEYS": READ_KEY,
            "AVOPS_EXTRACT_ON_INGEST": "true",
            "AVOPS_EXPLORER_MONITOR_URL": "/dashboard/instances/{instance_id}",
            "AVOPS_EXPLORER_TILE_URL": "",
            # The runner exports this for its workers; empty it so it is restored afterwards.
            "AZURE_STORAGE_CONNECTION_STRING": "",
        }.items():
            patch.setenv(name, value)
        runtime.reset()
        zones = BlobZones.from_settings(Settings())
        zones.ensure_containers()
        feed = SqliteStore(sqlite_path)
        try:
            with batch_runner(Settings(), max_parallel=2):
                options = HostOptions(
                    app_root=ROOT,
                    state_dir=workdir / "devhost",
                    port=0,
                    function_key=WRITE_KEY,
                    activity_mode="thread",
                    subscriptions_path=ROOT / "infra" / "eventgrid-subscriptions.json",
                    storage_connection_string=azurite.connection_string,
                    poll_interval_s=0.05,
                    delivery_backoff_s=0.05,
                    change_source=feed,
                )
                seen, measurement_id = run_with_host(
                    options,
                    lambda host: _pipeline_then_browser(host, zones, drive, chromium, workdir),
                )
            store = SqliteStore(sqlite_path)
            # The pipeline's datastreams, as the measurement page showed them: the browser
            # opened it before its Clip made a CLIP datastream.
            datastreams = [
                d
                for d in store.list_datastreams(measurement_id)
                if d.type is not DatastreamType.CLIP
            ]
            (scenes,) = [d for d in datastreams if d.type is DatastreamType.SCENES]
            scene_types = sorted(
                kind for kind, count in scenes.stats["types"].items() for _ in range(count)
            )
            store.close()
            truth = json.loads((drive / "truth.json").read_text())
            gps_rows = _gps_rows(drive)
            yield ExplorerRun(
                seen,
                truth,
                measurement_id,
                gps_rows,
                len(datastreams),
                scene_types,
                workdir / "clip.mcap",
            )
        finally:
            feed.close()
            zones.close()
            runtime.reset()


def _gps_rows(drive: Path) -> int:
    """Fixes in the ROS 1 bag's /gps/fix: what the first GPS table (by name) holds."""
    with AnyReader([drive / "ros1_drive.bag"]) as reader:
        connections = [c for c in reader.connections if c.topic == "/gps/fix"]
        return sum(1 for _ in reader.messages(connections=connections))
