"""Issue 8 end to end: ingest -> extract -> datastreams change feed -> ``synchronize``.

The session's pipeline run (tests/e2e/pipeline.py) on each store backend: the app under devhost
on Azurite, with the backend's own change feed driving the ``cosmos_db_trigger`` consumer and
the local batch pool running the extraction tasks.
"""

from __future__ import annotations

import io
import json
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest

from dataops.models import DatastreamType
from dataops.paths import Zone
from tests.e2e.pipeline import PipelineRun

pytestmark = [
    pytest.mark.azurite,
    # The cosmos run talks to cosmosdb-server's self-signed certificate on purpose.
    pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning"),
]
REFERENCE = "ros1_drive.bag/camera/camera_front_image_raw_compressed"


def _window(truth: dict[str, Any], kind: str) -> tuple[int, int]:
    event = next(e for e in truth["events"] if e["type"] == kind)
    return int(event["start_ns"]), int(event["end_ns"])


def test_extracted_datastream_is_synchronized_once_from_the_change_feed(
    pipeline_run: PipelineRun,
) -> None:
    """The EXTRACTED document starts one synchronize, on either backend; redeliveries none."""
    run = pipeline_run
    manifest = json.loads((run.drive / "manifest.json").read_text())
    # The sample's manifest leaves synchronization to the pipeline.
    assert manifest["logger_synchronized"] is False
    assert run.output["extraction"]["status"] == "Completed", run.output
    sync = run.instances["synchronize"]
    redelivery = run.redelivery
    # The redelivered documents are the backend's own: raw Cosmos documents on cosmos.
    (document,) = redelivery["documents"]
    assert document["state"] == "COMPLETED"
    assert ("idx" in document) is (run.backend == "cosmos")
    # Exactly one run: the redeliveries found the instance and started nothing.
    assert [i.instance_id for i in redelivery["instances"]] == [sync.instance_id]
    assert redelivery["again"].execution_id == sync.execution_id
    assert redelivery["again"].updated_at == sync.updated_at
    assert not redelivery["dead"]

    extracted_id = run.extracted_id
    store = run.store()
    datastream = run.completed_datastream(
        DatastreamType.SYNCHRONIZED, "synchronize", [extracted_id]
    )
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
    blob = run.zones.read_bytes(Zone.CURATED, files[0].path, max_bytes=64 << 20)
    table = pq.read_table(io.BytesIO(blob.data))
    extracted = store.get_datastream(extracted_id)
    assert table.num_rows == 200
    times = table.column("time_ns").to_numpy()
    assert np.all(np.diff(times) > 0)
    reference_paths = table.column("reference.path").to_pylist()
    assert all(p.startswith(f"{extracted.path}/{REFERENCE}/") for p in reference_paths)
    # Frame paths point at real frames in the extracted zone, also for matched cameras.
    assert run.zones.get_info(Zone.EXTRACTED, reference_paths[-1]).size > 0
    ros2_frames = table.column("ros2_drive/camera/camera_front_image_raw.path").to_pylist()
    assert run.zones.get_info(Zone.EXTRACTED, ros2_frames[0]).size > 0
    gps_path = table.column("ros2_drive/gps/gps_fix.path").to_pylist()
    assert gps_path[0].endswith("/ros2_drive/gps/gps_fix/data.parquet")
    offsets = table.column("ros2_drive/imu/imu_data.offset_ns").to_numpy(zero_copy_only=False)
    assert np.nanmax(np.abs(offsets)) <= 10_000_000
    for column in ("yaw_rate_rps", "latitude", "longitude", "accel_long_mps2"):
        assert table.column(column).null_count <= 2, column

    # Speed against the ground truth: ~13.9 m/s before the brake, ~0 while stopped.
    truth = json.loads((run.drive / "truth.json").read_text())
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
