"""Record orchestration histories from end-to-end runs, for the replay regression tests.

``python -m tests.record_histories`` starts Azurite and devhost (the project's app, SQLite
store), runs each scenario below to its end, and writes the durable store's history of every
instance it made (parent and sub-orchestrations) to ``tests/data/histories/<scenario>.json``.
tests/unit/test_history_replay.py replays them against the current orchestrator code: a change
that would make an instance recorded with the old code decide differently fails there.

Record again only on purpose (a deliberate, documented break of in-flight instances), and say
so in the commit: the point of the files is that they come from the code that was running.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from activities import runtime
from dataops.ids import instance_id_for
from dataops.paths import Zone
from dataops.settings import Settings
from dataops.storage import BlobZones
from devhost.durable.store import TERMINAL, Instance
from devhost.host import DevHost, HostOptions
from devhost.services.azurite import AzuriteBlob
from tests.manifests import manifest_doc

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "tests" / "data" / "histories"

FILES = {
    "ros2/metadata.yaml": b"rosbag2_bagfile_information:\n  version: 5\n",
    "ros2/ros2_0.mcap": b"\x89MCAP0\r\n" + bytes(range(256)) * 8,
    "drive.bag": b"#ROSBAG V2.0\n" + b"\x03" * 300,
}
MANY = {f"chunks/{i:02d}.bag": b"#ROSBAG V2.0\n" + bytes([i]) * 50 for i in range(7)}


def manifest(files: dict[str, bytes], **changes: Any) -> bytes:
    return json.dumps(manifest_doc(files, vehicle_id="WVW-REPLAY-001", **changes)).encode()


def upload(zones: BlobZones, prefix: str, files: dict[str, bytes], body: bytes) -> None:
    for path, data in files.items():
        zones.write_bytes(Zone.LANDING, f"{prefix}/{path}", data)
    zones.write_bytes(Zone.LANDING, f"{prefix}/manifest.json", body)


async def finished(host: DevHost, instance_id: str) -> Instance:
    for _ in range(2400):
        found = host.engine.get_instance(instance_id)
        if found is not None and found.status in TERMINAL:
            return found
        await asyncio.sleep(0.05)
    raise TimeoutError(f"{instance_id} did not finish")


def dump(host: DevHost, root: Instance) -> dict[str, Any]:
    """The instance and every sub-orchestration below it, with their histories."""
    instances: list[dict[str, Any]] = []
    todo = [root]
    while todo:
        item = todo.pop(0)
        instances.append(
            {
                "name": item.name,
                "instance_id": item.instance_id,
                "parent_instance_id": item.parent_instance_id,
                "status": item.status.value,
                "input": item.input,
                "output": item.output,
                "error": item.error,
                "history": host.engine.get_history(item.instance_id),
            }
        )
        todo.extend(sorted(host.engine.children(item.instance_id), key=lambda c: c.instance_id))
    return {"instances": instances}


Scenario = Callable[[DevHost, BlobZones], Awaitable[Instance]]


async def start(host: DevHost, prefix: str, **extra: Any) -> Instance:
    """Start ``ingest`` as the reconciler does (no event: no second run can race this one)."""
    instance_id = instance_id_for("ingest", prefix)
    start_input = {**runtime.ingest_start_input(prefix), **extra}
    host.engine.start_new("ingest", instance_id, json.dumps(start_input))
    return await finished(host, instance_id)


async def ingest_small(host: DevHost, zones: BlobZones) -> Instance:
    """Three files: inline hash and copy, completed."""
    upload(zones, "replay/small", FILES, manifest(FILES))
    return await start(host, "replay/small")


async def ingest_waves(host: DevHost, zones: BlobZones) -> Instance:
    """Seven files in waves of three: hash and copy sub-orchestrations, completed."""
    upload(zones, "replay/waves", MANY, manifest(MANY, vehicle_id="WVW-REPLAY-002"))
    return await start(host, "replay/waves", files_per_wave=3)


async def ingest_checksum_failure(host: DevHost, zones: BlobZones) -> Instance:
    """A file whose bytes do not match the manifest: failed at checksum, error zone."""
    wrong = {**FILES, "drive.bag": FILES["drive.bag"][:-1] + b"X"}
    upload(zones, "replay/bad", wrong, manifest(FILES, vehicle_id="WVW-REPLAY-003"))
    return await start(host, "replay/bad")


SCENARIOS: dict[str, Scenario] = {
    "ingest_small": ingest_small,
    "ingest_waves": ingest_waves,
    "ingest_checksum_failure": ingest_checksum_failure,
}


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp, AzuriteBlob(Path(tmp) / "azurite") as azurite:
        os.environ["AVOPS_STORAGE_CONNECTION_STRING"] = azurite.connection_string
        os.environ["AVOPS_SQLITE_PATH"] = str(Path(tmp) / "metadata.sqlite3")
        os.environ["AVOPS_EXTRACT_ON_INGEST"] = "false"
        runtime.reset()
        zones = BlobZones.from_settings(Settings())
        zones.ensure_containers()
        options = HostOptions(
            app_root=ROOT,
            state_dir=Path(tmp) / "devhost",
            port=0,
            activity_mode="thread",
            subscriptions_path=None,
            storage_connection_string=azurite.connection_string,
            poll_interval_s=0.05,
            delivery_backoff_s=0.05,
        )

        async def run_all() -> None:
            host = DevHost(options)
            await host.start()
            try:
                for name, scenario in SCENARIOS.items():
                    done = await scenario(host, zones)
                    path = OUT / f"{name}.json"
                    text = json.dumps(dump(host, done), indent=1)
                    # Tracebacks in failure details name this checkout: keep repo-relative paths.
                    path.write_text(text.replace(f"{ROOT}/", "") + "\n")
                    print(f"{name}: {done.status.value}, {path.relative_to(ROOT)}")
            finally:
                await host.stop()

        asyncio.run(run_all())
        zones.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
