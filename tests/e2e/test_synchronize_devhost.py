"""Synchronization end to end: ingest -> extract -> datastreams change feed -> ``synchronize``.

The app runs under devhost on Azurite with the sqlite store's change log feeding the
``cosmos_db_trigger`` consumer; the local batch pool runs the extraction tasks in the test.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest

from dataops.ids import instance_id_for
from dataops.models import DatastreamState, DatastreamType
from dataops.paths import Zone
from dataops.store.sqlite import SqliteStore
from devhost.batch_runner import BatchRunner
from devhost.durable.store import RuntimeStatus
from devhost.host import DevHost
from tests.e2e.conftest import AppEnv, finished, ingest_sample, run_host, wait_for

pytestmark = pytest.mark.azurite
CONSUMER = "on_datastream_changed"
REFERENCE = "ros1_drive.bag/camera/camera_front_image_raw_compressed"


def _window(truth: dict[str, Any], kind: str) -> tuple[int, int]:
    event = next(e for e in truth["events"] if e["type"] == kind)
    return int(event["start_ns"]), int(event["end_ns"])


def test_extracted_datastream_is_synchronized_once_from_the_change_feed(
    app_env: AppEnv, extract_env: BatchRunner, sample_drive: Path
) -> None:
    # The drive's manifest leaves synchronization to the pipeline.
    assert json.loads((sample_drive / "manifest.json").read_text())["logger_synchronized"] is False
    prefix = "fleet/sync-1"
    feed = SqliteStore(app_env.sqlite_path)

    async def body(host: DevHost) -> dict[str, Any]:
        output = await ingest_sample(host, app_env.zones, sample_drive, prefix)
        assert output["extraction"]["status"] == "Completed", output
        extracted_id = output["extraction"]["datastream_id"]
        sync_id = instance_id_for("synchronize", extracted_id)
        sync = await finished(host, sync_id, timeout_s=60)
        # Redeliver the EXTRACTED document twice through devhost's change-feed queue.
        documents = [
            d
            for d in feed.read_changes("datastreams", None, 1000).documents
            if d["id"] == extracted_id
        ]
        assert documents and documents[0]["state"] == "COMPLETED"
        for _ in range(2):
            with host.db.transaction() as conn:
                host.queue.enqueue(conn, "changefeed:datastreams", CONSUMER, documents)
        host.queue.on_change()
        await wait_for(lambda: host.queue.pending_count() == 0, what="redeliveries")
        again = host.engine.get_instance(sync_id)
        return {
            "output": output,
            "sync": sync,
            "again": again,
            "instances": host.engine.query(name="synchronize"),
            "dead": host.queue.dead_letters(),
        }

    result = run_host(app_env.options(change_source=feed), body)
    feed.close()
    sync = result["sync"]
    assert sync.status is RuntimeStatus.COMPLETED, sync.error
    # Exactly one run: the redeliveries found the instance and started nothing.
    assert [i.instance_id for i in result["instances"]] == [sync.instance_id]
    assert result["again"].execution_id == sync.execution_id
    assert result["again"].updated_at == sync.updated_at
    assert not result["dead"]

    output = result["output"]
    extracted_id = output["extraction"]["datastream_id"]
    store = app_env.store()
    synchronized = store.list_datastreams(output["measurement_id"], DatastreamType.SYNCHRONIZED)
    assert len(synchronized) == 1
    datastream = synchronized[0]
    assert datastream.state is DatastreamState.COMPLETED
    assert datastream.sources == [extracted_id]
    assert datastream.zone is Zone.CURATED
    assert datastream.producer.step == "synchronize"
    assert datastream.producer.instance_id == sync.instance_id
    stats = datastream.stats
    assert stats.get("rows") == 200, stats
    assert stats["reference"]["sensor"] == REFERENCE
    sensors = stats["sensors"]
    for name in ("ros1_drive.bag/gps/gps_fix", "ros2_drive/gps/gps_fix", "ros2_drive/imu/imu_data"):
        assert sensors[name]["match_rate"] >= 0.99, (name, sensors[name])
        assert sensors[name]["max_abs_offset_ms"] <= sensors[name]["tolerance_ms"]
    assert sensors["ros2_drive/camera/camera_front_image_raw"]["match_rate"] >= 0.99
    assert stats["signals"]["speed_mps"]["sensor"] == "ros1_drive.bag/structured/vehicle_speed"
    # Signals decoded from the CAN bus with the measurement's DBC are sensors too.
    can = sorted(name for name in sensors if name.startswith("vehicle.mf4/can/"))
    assert can and can[-1].endswith("/VehicleDynamics"), sorted(sensors)
    assert sensors[can[-1]]["match_rate"] >= 0.99

    files = store.list_files(datastream.id).items
    assert [f.path for f in files] == [f"{datastream.path}/synchronized.parquet"]
    blob = app_env.zones.read_bytes(Zone.CURATED, files[0].path, max_bytes=64 << 20)
    table = pq.read_table(io.BytesIO(blob.data))
    extracted = store.get_datastream(extracted_id)
    assert table.num_rows == 200
    times = table.column("time_ns").to_numpy()
    assert np.all(np.diff(times) > 0)
    reference_paths = table.column("reference.path").to_pylist()
    assert all(p.startswith(f"{extracted.path}/{REFERENCE}/") for p in reference_paths)
    # Frame paths point at real frames in the extracted zone, also for matched cameras.
    assert app_env.zones.get_info(Zone.EXTRACTED, reference_paths[-1]).size > 0
    ros2_frames = table.column("ros2_drive/camera/camera_front_image_raw.path").to_pylist()
    assert app_env.zones.get_info(Zone.EXTRACTED, ros2_frames[0]).size > 0
    gps_path = table.column("ros2_drive/gps/gps_fix.path").to_pylist()
    assert gps_path[0].endswith("/ros2_drive/gps/gps_fix/data.parquet")
    offsets = table.column("ros2_drive/imu/imu_data.offset_ns").to_numpy(zero_copy_only=False)
    assert np.nanmax(np.abs(offsets)) <= 10_000_000
    for column in ("yaw_rate_rps", "latitude", "longitude", "accel_long_mps2"):
        assert table.column(column).null_count <= 2, column

    # Speed against the ground truth: ~13.9 m/s before the brake, ~0 while stopped.
    truth = json.loads((sample_drive / "truth.json").read_text())
    speed = table.column("speed_mps").to_numpy(zero_copy_only=False)
    brake_start, _ = _window(truth, "hard_brake")
    stop_start, stop_end = _window(truth, "stop")
    cruising = (times > brake_start - 3_000_000_000) & (times < brake_start - 500_000_000)
    stopped = (times >= stop_start + 200_000_000) & (times < stop_end - 200_000_000)
    assert cruising.sum() >= 10 and stopped.sum() >= 20
    assert np.allclose(speed[cruising], 13.9, atol=0.3)
    assert np.all(np.abs(speed[stopped]) < 0.1)
    # The consumer never wrote the triggering document: still COMPLETED with its own etag.
    assert store.get_datastream(extracted_id).producer.step == "extract"
    store.close()
