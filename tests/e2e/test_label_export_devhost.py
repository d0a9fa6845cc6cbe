"""Labeling export end to end: the small sample through scenes, then a labeling export of its
pedestrian frames under devhost, read back through the partner's SAS links."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path
from typing import Any

import httpx
import pyarrow.parquet as pq
import pytest
from azure.core.exceptions import HttpResponseError
from azure.storage.blob import ContainerClient
from typer.testing import CliRunner
from vcd import core, types

from avops.cli import _register_commands
from avops.cli import app as cli_app
from dataops.ids import instance_id_for
from dataops.labeling.exporting.openlabel import check_openlabel
from dataops.labeling.package import PackageManifest
from dataops.labeling.taxonomy import load_taxonomy
from dataops.manifest import parse_manifest
from dataops.models import DatastreamState, DatastreamType
from dataops.paths import Zone
from dataops.store.sqlite import SqliteStore
from dataops.uploader import upload_measurement
from devhost.batch_runner import BatchRunner
from devhost.durable.store import RuntimeStatus
from devhost.host import DevHost
from tests.e2e.conftest import READ_KEY, WRITE_KEY, AppEnv, finished, run_host, wait_for
from tests.e2e.starter_answers import assert_run_accepted

pytestmark = pytest.mark.azurite
CAMERA = "camera_front_image_raw_compressed"
# The ROS 2 camera: the recording's own detections (the pre-labels) are in its pixels.
ROS2_CAMERA = f"ros2_drive/camera/{CAMERA}"
LIDAR = "lidar_points"
_register_commands()
runner = CliRunner()


def export_request(selection: dict[str, Any], sensors: list[str], **options: Any) -> dict[str, Any]:
    """The body of ``POST /label-exports`` for partner ``acme``."""
    return {"selection": selection, "sensors": sensors, "partner_id": "acme", **options}


def _scenes_done(env: AppEnv, measurement_id: str) -> bool:
    store = env.store()
    try:
        return any(
            d.state is DatastreamState.COMPLETED and d.stats.get("frames_table")
            for d in store.list_datastreams(measurement_id, DatastreamType.SCENES)
        )
    finally:
        store.close()


def _partner_edits_coco(coco: dict[str, Any]) -> dict[str, Any]:
    """A partner's pass over the pre-labels: confirm them, add one box, clear the last image."""
    images = coco["images"]
    last = images[-1]["id"]
    annotations = [dict(a) for a in coco["annotations"] if a["image_id"] != last]
    for annotation in annotations:
        annotation.pop("avops_prelabel", None)
    first = images[0]
    pedestrian = next(c["id"] for c in coco["categories"] if c["name"] == "pedestrian")
    annotations.append(
        {
            "id": max((a["id"] for a in annotations), default=0) + 1,
            "image_id": first["id"],
            "category_id": pedestrian,
            "bbox": [10.0, 20.0, 30.0, 60.0],
            "area": 1800.0,
            "iscrowd": 0,
        }
    )
    return {**coco, "annotations": annotations}


def _partner_edits_openlabel(document: dict[str, Any], frame: int) -> dict[str, Any]:
    """The same partner in an OpenLABEL tool (vcd): one new pedestrian box in ``frame``."""
    label = core.OpenLABEL()
    label.load_from_json(document)
    uid = label.add_object(name="walker-1", semantic_type="pedestrian", frame_value=frame)
    label.add_object_data(
        uid,
        types.bbox(name="shape", val=(40.0, 50.0, 20.0, 40.0), coordinate_system=CAMERA),
        frame_value=frame,
    )
    edited: dict[str, Any] = json.loads(label.stringify(pretty=False, validate=True))
    return edited


async def _imports_settled(
    http: httpx.AsyncClient, export_id: str, files: int
) -> dict[str, dict[str, Any]]:
    """The export's label files once ``files`` of them have a final report."""
    listed: dict[str, dict[str, Any]] = {}
    for _ in range(600):
        answer = await http.get(
            f"/label-exports/{export_id}/imports", headers={"x-functions-key": WRITE_KEY}
        )
        assert answer.status_code == 200, answer.text
        listed = {item["file"]: item for item in answer.json()["items"]}
        if len(listed) >= files and all(i["status"] != "pending" for i in listed.values()):
            return listed
        await asyncio.sleep(0.2)
    raise AssertionError(f"label imports of {export_id} did not settle: {listed}")


def test_pedestrian_frames_export_as_a_package_the_partner_can_read(
    app_env: AppEnv, extract_env: BatchRunner, sample_drive: Path
) -> None:
    prefix = "fleet/export-1"
    feed = SqliteStore(app_env.sqlite_path)
    write = {"x-functions-key": WRITE_KEY}

    async def body(host: DevHost) -> dict[str, Any]:
        manifest = parse_manifest((sample_drive / "manifest.json").read_bytes())
        upload_measurement(app_env.zones, sample_drive, manifest, upload_prefix=prefix)
        ingest = await finished(host, instance_id_for("ingest", prefix))
        assert ingest.status is RuntimeStatus.COMPLETED, ingest.error
        measurement_id = json.loads(ingest.output)["measurement_id"]
        await wait_for(
            lambda: _scenes_done(app_env, measurement_id), timeout_s=120, what="frame index"
        )
        async with httpx.AsyncClient(timeout=30, base_url=f"{host.base_url}/api") as http:
            bad = await http.post(
                "/label-exports",
                json=export_request({"scene_type": "x"}, []),
                headers=write,
            )
            too_long = await http.post(
                "/label-exports",
                json=export_request({"scene_type": "x"}, [CAMERA], expires_in_hours=10_000),
                headers=write,
            )
            started = await http.post(
                "/label-exports",
                json=export_request(
                    {"frames": {"object": "pedestrian"}},
                    [ROS2_CAMERA],
                    downsampling={"every_nth": 2},
                ),
                headers=write,
            )
            assert started.status_code == 202, started.text
            export_id = started.json()["export_id"]

            async def status() -> dict[str, Any]:
                answer = await http.get(f"/label-exports/{export_id}", headers=write)
                assert answer.status_code == 200, answer.text
                return dict(answer.json())

            view: dict[str, Any] = {}
            for _ in range(600):
                view = await status()
                if view["status"] in ("completed", "failed"):
                    break
                await asyncio.sleep(0.2)
            as_reader = await http.get(
                f"/label-exports/{export_id}", headers={"x-functions-key": READ_KEY}
            )
            reader_revoke = await http.post(
                f"/label-exports/{export_id}/revoke", headers={"x-functions-key": READ_KEY}
            )
            links = view["links"]
            package = ContainerClient.from_container_url(links["package"])
            files = {
                name: package.download_blob(name).readall()
                for name in ("package.json", "coco.json", "openlabel.json")
            }
            listed = sorted(b.name for b in package.list_blobs())
            images = {
                name: package.download_blob(name).readall()
                for name in listed
                if name.startswith("images/")
            }
            # The CLI: an explicit frame list, waiting with progress, printing the links.
            picked = [item["time_ns"] for item in json.loads(files["package.json"])["items"][:2]]
            frame_args = [a for t in picked for a in ("--frame", f"{measurement_id}:{t}")]
            cli = await asyncio.to_thread(
                runner.invoke,
                cli_app,
                [
                    *("export-labels", "--partner", "acme2", "--sensors", f"{CAMERA},{LIDAR}"),
                    *("--point-clouds", *frame_args, "--categories", "car,pedestrian"),
                    *("--wait", "--url", host.base_url, "--key", WRITE_KEY),
                ],
            )
            cli_package = next(
                line.split(": ", 1)[1]
                for line in cli.output.splitlines()
                if line.startswith("package (read, list): ")
            )
            cli_container = ContainerClient.from_container_url(cli_package)
            cli_manifest = json.loads(cli_container.download_blob("package.json").readall())
            clouds = {
                item["file_name"]: pq.read_table(
                    io.BytesIO(cli_container.download_blob(item["file_name"]).readall())
                )
                for item in cli_manifest["items"]
                if item["kind"] == "pointcloud"
            }
            # The partner labels the package and hands COCO and OpenLABEL back (write-only SAS).
            partner = ContainerClient.from_container_url(links["labels"])
            coco_back = _partner_edits_coco(json.loads(files["coco.json"]))
            partner.upload_blob("round-1/coco.json", json.dumps(coco_back).encode())
            first_item = json.loads(files["package.json"])["items"][0]
            openlabel_back = _partner_edits_openlabel(
                json.loads(files["openlabel.json"]), first_item["openlabel_frame"]
            )
            partner.upload_blob("round-1/openlabel.json", json.dumps(openlabel_back).encode())
            imports = await _imports_settled(http, export_id, 2)
            labeled_ids = [i for item in imports.values() for i in item["datastream_ids"]]
            lineage = {
                ds: (
                    await http.get(
                        f"/datastreams/{ds}/lineage", params={"direction": "up"}, headers=write
                    )
                ).json()
                for ds in labeled_ids
            }
            labeled_frames = await http.get(
                "/frames", params={"labeled": "true", "limit": 1000}, headers=write
            )
            unlabeled_frames = await http.get(
                "/frames",
                params={"labeled": "false", "object": "pedestrian", "limit": 1000},
                headers=write,
            )
            revoked = await http.post(f"/label-exports/{export_id}/revoke", headers=write)
            after = await status()
            with pytest.raises(HttpResponseError):
                package.download_blob("package.json").readall()
        return {
            "measurement_id": measurement_id,
            "bad": bad,
            "too_long": too_long,
            "view": view,
            "as_reader": as_reader.json(),
            "reader_revoke": reader_revoke.status_code,
            "files": files,
            "images": images,
            "revoked": revoked.status_code,
            "after": after,
            "cli": cli,
            "picked": picked,
            "cli_manifest": cli_manifest,
            "clouds": clouds,
            "coco_back": coco_back,
            "imports": imports,
            "lineage": lineage,
            "labeled_frames": labeled_frames,
            "unlabeled_frames": unlabeled_frames,
        }

    # The read key must pass the host's function-key gate too, to reach the app's role check.
    options = app_env.options(change_source=feed, named_function_keys={"reader": READ_KEY})
    result = run_host(options, body)
    feed.close()
    assert result["bad"].status_code == 400
    assert result["bad"].json()["parameter"] == "body.sensors"
    assert result["too_long"].status_code == 400
    assert result["too_long"].json()["parameter"] == "expires_in_hours"
    view = result["view"]
    assert view["status"] == "completed", view
    assert view["package_complete"] is True
    assert result["as_reader"]["status"] == "completed"
    assert result["as_reader"]["links"] is None
    assert result["reader_revoke"] == 403

    truth = json.loads((sample_drive / "truth.json").read_text())
    manifest = PackageManifest.model_validate_json(result["files"]["package.json"])
    assert manifest.items and len(manifest.items) == view["items"]
    store = app_env.store()
    measurement_id = result["measurement_id"]
    (export_ds,) = [
        d
        for d in store.list_datastreams(measurement_id, DatastreamType.LABEL_EXPORT)
        if d.stats.get("export_id") == manifest.export_id
    ]
    (scenes_ds,) = [
        d
        for d in store.list_datastreams(measurement_id, DatastreamType.SCENES)
        if d.state is DatastreamState.COMPLETED
    ]
    (extracted,) = store.list_datastreams(measurement_id, DatastreamType.EXTRACTED)
    (raw,) = store.list_datastreams(measurement_id, DatastreamType.RAW)
    assert export_ds.state is DatastreamState.COMPLETED
    assert export_ds.sources == [scenes_ds.id]
    assert export_ds.stats["items"] == len(manifest.items)
    assert export_ds.stats["export_id"] == manifest.export_id
    pedestrian_windows = [
        (e["start_ns"], e["end_ns"]) for e in truth["events"] if e["type"] == "pedestrian_in_view"
    ]
    times = [item.time_ns for item in manifest.items]
    assert times == sorted(times)
    for item in manifest.items:
        assert item.vehicle_id == truth["vehicle_id"]
        assert item.measurement_id == measurement_id
        assert item.frames_datastream_id == scenes_ds.id
        assert item.export_datastream_id == export_ds.id
        assert item.source_datastream_id == extracted.id
        assert item.raw_datastream_id == raw.id
        assert item.source_file is not None and item.source_file.startswith(raw.path)
        assert item.sensor == CAMERA
        assert any(start <= item.time_ns < end for start, end in pedestrian_windows)
        stored = app_env.zones.read_bytes(Zone.EXTRACTED, item.source_path, max_bytes=1 << 24)
        assert result["images"][item.file_name] == stored.data  # byte-identical
    assert set(result["images"]) == {item.file_name for item in manifest.items}
    # every_nth 2 over the pedestrian frames of the one measurement.
    frames = {item.frame for item in manifest.items}
    assert len(frames) == len(manifest.items)

    coco = json.loads(result["files"]["coco.json"])
    assert [image["id"] for image in coco["images"]] == [i.item_id for i in manifest.items]
    assert coco["annotations"], "the recording's pedestrian detections become pre-labels"
    assert all(a["avops_prelabel"] is True for a in coco["annotations"])
    # No categories in the request: the taxonomy file's, which already names the pre-labels'.
    assert [c["name"] for c in coco["categories"]] == load_taxonomy().categories
    check_openlabel(json.loads(result["files"]["openlabel.json"]))

    assert result["cli"].exit_code == 0, result["cli"].output
    assert "completed" in result["cli"].output
    cli_items = result["cli_manifest"]["items"]
    assert [i["time_ns"] for i in cli_items if i["kind"] == "image"] == result["picked"]
    assert [i["time_ns"] for i in cli_items if i["kind"] == "pointcloud"] == result["picked"]
    for item in cli_items:
        if item["kind"] == "pointcloud":
            # One lidar sweep: the rows of a single sample time, the one matched to the frame.
            assert item["file_name"].startswith(f"pointclouds/{LIDAR}/")
            sweep = result["clouds"][item["file_name"]]
            assert sweep.num_rows > 0
            (sweep_time,) = set(sweep.column("time_ns").to_pylist())
            assert abs(sweep_time - item["time_ns"]) <= 50_000_000  # the lidar match tolerance
    assert result["cli_manifest"]["partner_id"] == "acme2"
    assert result["cli_manifest"]["categories"] == ["car", "pedestrian"]

    _check_round_trip(result, store, manifest, export_ds.id, raw.id)

    assert result["revoked"] == 200
    assert result["after"]["revoked_at"] is not None
    assert result["after"]["links"] is None
    store.close()


def test_an_export_that_matches_nothing_fails_with_its_reason(app_env: AppEnv) -> None:
    write = {"x-functions-key": WRITE_KEY}

    async def body(host: DevHost) -> dict[str, Any]:
        async with httpx.AsyncClient(timeout=30, base_url=f"{host.base_url}/api") as http:
            started = await http.post(
                "/label-exports",
                json=export_request({"scene_type": "hard_brake"}, [CAMERA], expires_in_hours=1),
                headers=write,
            )
            assert started.status_code == 202, started.text
            export_id = started.json()["export_id"]
            view: dict[str, Any] = {}
            for _ in range(300):
                view = (await http.get(f"/label-exports/{export_id}", headers=write)).json()
                if view["status"] in ("completed", "failed"):
                    break
                await asyncio.sleep(0.1)
            unknown = await http.get(f"/label-exports/{'0' * 32}", headers=write)
            malformed = await http.get("/label-exports/not-an-id", headers=write)
            run = await http.get(started.json()["status_url"], headers=write)
        return {
            "started": started.json(),
            "accepted": started,
            "view": view,
            "unknown": unknown,
            "bad": malformed,
            "run": run,
        }

    result = run_host(app_env.options(), body)
    # The starter's answer: the run's status route and the export's own view, no host key.
    accepted = assert_run_accepted(result["accepted"], WRITE_KEY)
    assert accepted["instance_id"] == instance_id_for("label_export", accepted["export_id"])
    assert accepted["export_url"].endswith(f"/api/label-exports/{accepted['export_id']}")
    assert result["run"].status_code == 200, result["run"].text
    assert result["run"].json()["runtime_status"] == result["view"]["runtime_status"]
    assert result["run"].json()["name"] == "label_export"
    view = result["view"]
    assert view["status"] == "failed", view
    assert "matched no frame" in view["reason"]
    assert view["package_complete"] is False
    assert view["expires_at"] == result["started"]["expires_at"]
    # Still within its lifetime and not revoked: the write role sees the links.
    assert view["links"]["package"].startswith("http://")
    assert result["unknown"].status_code == 404
    assert result["bad"].status_code == 400, result["bad"].text
    assert result["bad"].json()["parameter"] == "id", result["bad"].json()


def _check_round_trip(
    result: dict[str, Any],
    store: SqliteStore,
    manifest: PackageManifest,
    export_datastream_id: str,
    raw_datastream_id: str,
) -> None:
    """Labels handed back: LABELED datastreams, lineage to the bag, and label search."""
    imports = result["imports"]
    assert set(imports) == {"round-1/coco.json", "round-1/openlabel.json"}
    verdicts = {name: (item["status"], item.get("errors")) for name, item in imports.items()}
    assert all(status == "accepted" for status, _ in verdicts.values()), verdicts
    measurement_id = manifest.items[0].measurement_id
    labeled = {d.id: d for d in store.list_datastreams(measurement_id, DatastreamType.LABELED)}
    for item in imports.values():
        (datastream_id,) = item["datastream_ids"]
        datastream = labeled[datastream_id]
        assert datastream.state is DatastreamState.COMPLETED
        assert datastream.sources == [export_datastream_id]
        assert datastream.stats["export_id"] == manifest.export_id
    by_format = {d.stats["format"]: d for d in labeled.values()}
    assert by_format["coco"].stats["counts"]["labels"] == len(result["coco_back"]["annotations"])
    # Lineage walks from the label up to the recording the frames came from.
    for datastream_id, graph in result["lineage"].items():
        nodes = {node["id"]: node for node in graph["nodes"]}
        assert export_datastream_id in nodes, datastream_id
        assert raw_datastream_id in nodes, datastream_id
    # Label search: exactly the frames the partner's labels are on.
    by_item = {item.item_id: item for item in manifest.items}
    # The OpenLABEL file keeps every pre-label and adds one box; COCO drops the last image's.
    prelabels = json.loads(result["files"]["coco.json"])["annotations"]
    annotated = [*prelabels, *result["coco_back"]["annotations"]]
    labeled_times = {by_item[a["image_id"]].time_ns for a in annotated}
    labeled_times.add(manifest.items[0].time_ns)  # the OpenLABEL box
    answer = result["labeled_frames"]
    assert answer.status_code == 200, answer.text
    frames = answer.json()["items"]
    assert {f["time_ns"] for f in frames} == labeled_times
    assert all("pedestrian" in f["label_categories"] for f in frames)
    unlabeled = result["unlabeled_frames"].json()["items"]
    assert unlabeled, "pedestrian frames the export left out (every_nth 2) have no labels"
    assert not {f["time_ns"] for f in unlabeled} & labeled_times
