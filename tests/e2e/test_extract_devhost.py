"""Extraction end to end: ingest -> ``extract`` sub-orchestration -> local batch pool -> EXTRACTED.

The app runs under devhost on Azurite; the local pool's scheduler (the stand-in for the Batch
service) runs in the test through devhost.batch_runner, on the same database as the app.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import httpx
import pytest

from dataops.batch import TaskState, derive_job_id
from dataops.ids import instance_id_for
from dataops.manifest import parse_manifest
from dataops.models import DatastreamState, DatastreamType
from dataops.paths import Zone
from dataops.store import LineageDirection
from dataops.uploader import upload_measurement
from devhost.batch_runner import BatchRunner
from devhost.durable.store import RuntimeStatus
from devhost.host import DevHost
from tests.e2e.conftest import WRITE_KEY, AppEnv, finished, run_host
from tests.e2e.starter_answers import assert_run_accepted

pytestmark = pytest.mark.azurite


def upload(env: AppEnv, root: Path, prefix: str) -> None:
    manifest = parse_manifest((root / "manifest.json").read_bytes())
    upload_measurement(env.zones, root, manifest, upload_prefix=prefix)


def extracted_names(env: AppEnv, prefix: str) -> set[str]:
    return {b.path for b in env.zones.list_blobs(Zone.EXTRACTED, prefix)}


# Two full extractions of the sample drive through devhost and the local pool: minutes on a
# busy 2-core machine, so it gets more than the suite's default 300 s.
@pytest.mark.timeout(900)
def test_sample_drive_extracts_every_format_and_a_rerun_keeps_the_old_datastream(
    app_env: AppEnv, extract_env: BatchRunner, sample_drive: Path
) -> None:
    prefix = "fleet/extract-1"

    async def body(host: DevHost) -> dict[str, Any]:
        upload(app_env, sample_drive, prefix)
        ingest = await finished(host, instance_id_for("ingest", prefix))
        assert ingest.status is RuntimeStatus.COMPLETED, ingest.error
        output = json.loads(ingest.output)
        extract = host.engine.get_instance(instance_id_for("extract", output["datastream_id"]))
        assert extract is not None
        first = {"ingest": output, "extract_status": extract.status, "extract": extract}
        base = f"{host.base_url}/api/measurements"
        keyed = {"x-functions-key": WRITE_KEY}
        async with httpx.AsyncClient(timeout=30) as http:
            unknown = await http.post(
                f"{base}/{output['measurement_id'][:-1]}0/extract", headers=keyed
            )
            no_key = await http.post(f"{base}/{output['measurement_id']}/extract")
            rerun = await http.post(f"{base}/{output['measurement_id']}/extract", headers=keyed)
            busy = await http.post(f"{base}/{output['measurement_id']}/extract", headers=keyed)
        accepted = assert_run_accepted(rerun, WRITE_KEY)
        assert accepted["datastream_id"] == rerun.headers["X-AVOps-Datastream-Id"]
        rerun_id = accepted["instance_id"]
        again = await finished(host, rerun_id)
        return {
            **first,
            "unknown": unknown.status_code,
            "no_key": no_key.status_code,
            "busy": busy.status_code,
            "rerun": rerun,
            "rerun_instance": again,
        }

    result = run_host(app_env.options(), body)
    output = result["ingest"]
    extraction = output["extraction"]
    assert result["extract_status"] is RuntimeStatus.COMPLETED, result["extract"].error
    assert extraction["status"] == "Completed"
    custom = json.loads(result["extract"].custom_status)
    assert custom["stage"] == "completed"
    # The sample drive's four recordings are small: one task each runs all their kinds.
    assert custom["tasks_done"] == custom["tasks_total"] == 4

    store = app_env.store()
    raw_id = output["datastream_id"]
    first = store.get_datastream(extraction["datastream_id"])
    assert first.type is DatastreamType.EXTRACTED
    assert first.state is DatastreamState.COMPLETED
    assert first.sources == [raw_id]
    assert first.producer.step == "extract"
    assert first.file_count == extraction["files"] > 0
    names = extracted_names(app_env, first.path)
    recordings = {"ros2_drive": "rosbag2", "ros1_drive.bag": "rosbag1", "vehicle.mf4": "mdf4"}
    recordings["daq.tdms"] = "tdms"
    kinds_of = {
        "rosbag2": ["validate", "metadata", "camera", "lidar", "radar", "gps", "imu", "can"],
        "rosbag1": ["validate", "metadata", "camera", "lidar", "radar", "gps", "imu", "can"],
        "mdf4": ["validate", "metadata", "structured", "can"],
        "tdms": ["validate", "metadata", "structured"],
    }
    for recording, fmt in recordings.items():
        for kind in [*kinds_of[fmt], "structured"]:
            assert f"{first.path}/{recording}/{kind}/_SUCCESS" in names, (recording, kind)

    def outputs(recording: str, kind: str, suffix: str) -> list[str]:
        start = f"{first.path}/{recording}/{kind}/"
        return [n for n in names if n.startswith(start) and n.endswith(suffix)]

    assert outputs("ros2_drive", "camera", ".jpg"), "ROS 2 camera frames"
    assert outputs("ros1_drive.bag", "camera", "index.parquet"), "ROS 1 compressed camera"
    assert outputs("ros2_drive", "lidar", ".parquet")
    assert outputs("ros2_drive", "gps", "data.parquet")
    assert outputs("ros2_drive", "imu", "data.parquet")
    assert outputs("vehicle.mf4", "can", ".parquet")
    # The measurement's DBC sidecar reached the can tasks: signals beside the raw frames.
    assert outputs("vehicle.mf4", "can", "decoded/VehicleDynamics.parquet")
    assert outputs("ros2_drive", "can", "decoded/VehicleDynamics.parquet")
    assert outputs("vehicle.mf4", "structured", ".parquet"), "MDF4 channel groups"
    assert outputs("daq.tdms", "structured", ".parquet"), "TDMS groups"
    stats = first.stats
    assert stats["kinds"]["camera"]["files"] > 0
    assert stats["kinds"]["camera"]["bytes"] > 0
    ros2 = stats["recordings"]["ros2_drive"]
    assert ros2["format"] == "rosbag2"
    assert ros2["start_ns"] < ros2["end_ns"]
    assert ros2["topics"]
    files = store.list_files(first.id, limit=1000).items
    assert {f.meta["kind"] for f in files} >= {"camera", "lidar", "gps", "imu", "can"}
    assert all(f.path.startswith(first.path + "/") for f in files)

    # Rerun over HTTP: a new EXTRACTED datastream, the old one kept, both below RAW.
    assert result["unknown"] == 404
    assert result["no_key"] == 401
    assert result["busy"] == 409
    assert result["rerun_instance"].status is RuntimeStatus.COMPLETED, result[
        "rerun_instance"
    ].error
    second_id = result["rerun"].headers["X-AVOps-Datastream-Id"]
    assert second_id != first.id
    second = store.get_datastream(second_id)
    assert second.state is DatastreamState.COMPLETED
    assert second.sources == [raw_id]
    assert store.get_datastream(first.id).state is DatastreamState.COMPLETED
    lineage = store.lineage(raw_id, LineageDirection.DOWN)
    assert {first.id, second.id} <= set(lineage.nodes)
    assert {(e.source, e.target) for e in lineage.edges} >= {
        (raw_id, first.id),
        (raw_id, second.id),
    }
    store.close()


def test_a_truncated_bag_fails_validate_and_no_dependent_task_runs(
    app_env: AppEnv, extract_env: BatchRunner, sample_drive: Path, tmp_path: Path
) -> None:
    drive = tmp_path / "bad"
    drive.mkdir()
    data = (sample_drive / "ros1_drive.bag").read_bytes()
    (drive / "ros1_drive.bag").write_bytes(data[: len(data) // 2])
    document = json.loads((sample_drive / "manifest.json").read_text())
    truncated = (drive / "ros1_drive.bag").read_bytes()
    document["files"] = [
        {
            "path": "ros1_drive.bag",
            "format": "rosbag1",
            "size": len(truncated),
            "sha256": hashlib.sha256(truncated).hexdigest(),
        }
    ]
    (drive / "manifest.json").write_text(json.dumps(document))
    prefix = "fleet/bad-1"

    async def body(host: DevHost) -> Any:
        upload(app_env, drive, prefix)
        return await finished(host, instance_id_for("ingest", prefix))

    ingest = run_host(app_env.options(), body)
    # RAW is verified: the ingest completes, and says that extraction failed.
    assert ingest.status is RuntimeStatus.COMPLETED, ingest.error
    output = json.loads(ingest.output)
    assert output["extraction"]["status"] == "Failed"
    assert "task validate exit 2" in output["extraction"]["reason"]
    store = app_env.store()
    extracted = store.list_datastreams(output["measurement_id"], DatastreamType.EXTRACTED)
    assert len(extracted) == 1
    failed = extracted[0]
    assert failed.state is DatastreamState.FAILED
    assert failed.sources == [output["datastream_id"]]
    reason = failed.state_reason or ""
    assert "recording ros1_drive.bag task validate exit 2 log " in reason
    log_path = Path(reason.split(" log ", 1)[1].split(";", 1)[0])
    assert log_path.is_file()
    # Nothing but validate ran: no other kind wrote anything. The bag is small, so its one
    # task ran every kind; it stopped after validate, with validate's exit code, not retried.
    assert not extracted_names(app_env, failed.path)
    job_status = extract_env.pool.status(derive_job_id("extract", failed.id, "ros1_drive.bag"))
    assert list(job_status.tasks) == ["kinds"]
    task = job_status.tasks["kinds"]
    assert (task.state, task.exit_code, task.retries) == (TaskState.FAILED, 2, 0)
    log_lines = [json.loads(line) for line in log_path.read_text().splitlines() if line[:1] == "{"]
    assert {line["task"] for line in log_lines if line.get("level") == "error"} == {"validate"}
    assert not [line for line in log_lines if line.get("message") == "committed"]
    assert store.get_datastream(output["datastream_id"]).state is DatastreamState.COMPLETED
    store.close()
    shutil.rmtree(drive)
