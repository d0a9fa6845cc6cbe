"""Ingest end to end: upload -> Event Grid -> ``ingest`` -> raw + archive, or the error zone."""

from __future__ import annotations

import functools
import json
import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from dataops.ids import instance_id_for
from dataops.manifest import parse_manifest
from dataops.models import DatastreamState, DatastreamType, MeasurementState, content_hash
from dataops.paths import Zone
from dataops.uploader import upload_measurement
from devhost.durable.store import TERMINAL, RuntimeStatus
from devhost.host import DevHost
from tests import manifests
from tests.e2e import pipeline
from tests.e2e.conftest import AppEnv, run_host, wait_for
from tests.e2e.crash_hosting import run_crash_host

pytestmark = pytest.mark.azurite
TOPIC_PREFIX = "/subscriptions/0/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/"


def account_of(env: AppEnv) -> str:
    """The storage account of the test (each test has its own on the session's Azurite)."""
    match = re.search(r"AccountName=([^;]+)", env.connection_string)
    assert match, env.connection_string
    return match.group(1)


def landing_names(env: AppEnv, prefix: str = "") -> set[str]:
    return {b.path for b in env.zones.list_blobs(Zone.LANDING, prefix or None)}


def zone_names(env: AppEnv, zone: Zone) -> set[str]:
    return {b.path for b in env.zones.list_blobs(zone)}


def instance(host: DevHost, prefix: str) -> Any:
    return host.engine.get_instance(instance_id_for("ingest", prefix))


async def finished(host: DevHost, prefix: str, timeout_s: float = 120.0) -> Any:
    """The ingest run of ``prefix`` once it is COMPLETED, FAILED or TERMINATED."""
    return await pipeline.finished(host, instance_id_for("ingest", prefix), timeout_s)


def scheduled(host: DevHost, instance_id: str, name: str) -> int:
    """How many times the orchestrator scheduled activity ``name`` (history TaskScheduled)."""
    return sum(
        1
        for event in host.engine.get_history(instance_id)
        if event.get("EventType") == 4 and event.get("Name") == name
    )


def test_sample_drive_is_ingested_with_every_format_and_lineage(
    app_env: AppEnv, sample_drive: Path
) -> None:
    manifest = json.loads((sample_drive / "manifest.json").read_text())
    prefix = "fleet/drive-1"

    async def body(host: DevHost) -> Any:
        upload_measurement(
            app_env.zones, sample_drive, build_manifest_from(manifest), upload_prefix=prefix
        )
        return await finished(host, prefix)

    done = run_host(app_env.options(activity_mode="process"), body)
    assert done.status is RuntimeStatus.COMPLETED, done.error
    output = json.loads(done.output)
    raw_prefix = output["raw_prefix"]
    assert raw_prefix.startswith("2026/05/04/")
    listed = {f["path"] for f in manifest["files"]}
    assert zone_names(app_env, Zone.RAW) == {f"{raw_prefix}/{p}" for p in listed}
    assert zone_names(app_env, Zone.ARCHIVE) == {f"{prefix}/{p}" for p in listed}
    assert landing_names(app_env) == set()
    formats = {f["format"] for f in manifest["files"]}
    assert {"rosbag1", "rosbag2", "mdf4", "tdms", "dbc"} <= formats

    store = app_env.store()
    measurement = store.get_measurement(output["measurement_id"])
    assert measurement.state is MeasurementState.INGESTED
    raw = store.get_datastream(output["datastream_id"])
    assert raw.type is DatastreamType.RAW
    assert raw.state is DatastreamState.COMPLETED
    assert raw.producer.instance_id == instance_id_for("ingest", prefix)
    assert raw.file_count == len(listed)
    custom = json.loads(done.custom_status)
    assert custom["stage"] == "completed"
    assert custom["files_done"] == custom["files_total"] == len(listed)
    assert custom["bytes_done"] == sum(f["size"] for f in manifest["files"])
    store.close()


def build_manifest_from(document: dict[str, Any]) -> Any:
    return parse_manifest(json.dumps(document).encode())


FILES = {
    "ros2/metadata.yaml": b"rosbag2_bagfile_information:\n  version: 5\n",
    "ros2/ros2_0.mcap": b"\x89MCAP0\r\n" + bytes(range(256)) * 200,
    "drive.bag": b"#ROSBAG V2.0\n" + b"\x01" * 4000,
}


def manifest_doc(files: dict[str, bytes], **extra: Any) -> dict[str, Any]:
    return manifests.manifest_doc(files, vehicle_id="WVW-E2E-001", **extra)


def put_files(env: AppEnv, prefix: str, files: dict[str, bytes]) -> None:
    for path, data in files.items():
        env.zones.write_bytes(Zone.LANDING, f"{prefix}/{path}", data)


def put_manifest(env: AppEnv, prefix: str, document: dict[str, Any] | bytes) -> None:
    body = document if isinstance(document, bytes) else json.dumps(document).encode()
    env.zones.write_bytes(Zone.LANDING, f"{prefix}/manifest.json", body)


def manifest_event(env: AppEnv, prefix: str, event_id: str) -> list[dict[str, Any]]:
    info = env.zones.get_info(Zone.LANDING, f"{prefix}/manifest.json")
    return [
        {
            "id": event_id,
            "topic": TOPIC_PREFIX + account_of(env),
            "subject": f"/blobServices/default/containers/landing/blobs/{prefix}/manifest.json",
            "eventType": "Microsoft.Storage.BlobCreated",
            "eventTime": "2026-05-04T10:06:00Z",
            "dataVersion": "",
            "metadataVersion": "1",
            "data": {
                "api": "PutBlob",
                "eTag": info.etag,
                "contentLength": info.size,
                "blobType": "BlockBlob",
                "url": f"http://127.0.0.1/{account_of(env)}/landing/{prefix}/manifest.json",
            },
        }
    ]


def error_doc(env: AppEnv, prefix: str) -> dict[str, Any]:
    document, _ = env.zones.read_json(Zone.ERROR, f"{prefix}/_error.json", max_bytes=1 << 20)
    assert isinstance(document, dict)
    return document


def test_the_same_event_ten_times_concurrently_gives_one_run_and_one_copy_each(
    app_env: AppEnv,
) -> None:
    prefix = "dup/1"
    put_files(app_env, prefix, FILES)
    put_manifest(app_env, prefix, manifest_doc(FILES))

    async def body(host: DevHost) -> Any:
        import asyncio

        hook = f"{host.base_url}/runtime/webhooks/eventgrid?functionName=on_landing_blob_created"
        async with httpx.AsyncClient(timeout=30) as http:
            responses = await asyncio.gather(
                *(http.post(hook, json=manifest_event(app_env, prefix, f"e{i}")) for i in range(10))
            )
        assert all(r.status_code < 300 for r in responses), [r.text for r in responses]
        done = await finished(host, prefix)
        # One copy activity per file, however many events arrived.
        assert scheduled(host, done.instance_id, "ingest_copy_file") == len(FILES)
        assert len(host.engine.query(name="ingest")) == 1
        # A duplicate after completion starts nothing either.
        before = len(host.engine.get_history(done.instance_id))
        async with httpx.AsyncClient(timeout=30) as http:
            late = await http.post(hook, json=manifest_event_after(app_env, done, prefix))
        assert late.status_code < 300
        await host.poll_sources_once()
        again = instance(host, prefix)
        assert again.execution_id == done.execution_id
        assert len(host.engine.get_history(done.instance_id)) == before
        return done

    done = run_host(app_env.options(), body)
    assert done.status is RuntimeStatus.COMPLETED, done.error
    store = app_env.store()
    measurement_id = json.loads(done.output)["measurement_id"]
    assert len(store.list_datastreams(measurement_id)) == 1
    store.close()
    assert len(zone_names(app_env, Zone.RAW)) == len(FILES)


@pytest.mark.parametrize(
    ("forge", "reason"),
    [
        (lambda e: e.update(topic=TOPIC_PREFIX + "stattacker"), "topic"),
        (lambda e: e["data"].update(url="http://127.0.0.1/devstoreaccount1/landing/x.json"), "url"),
        (lambda e: e["data"].update(eTag="0x8D000000STALE"), "eTag"),
    ],
)
def test_a_forged_or_stale_event_is_refused_and_never_blocks_the_prefix(
    app_env: AppEnv, forge: Any, reason: str
) -> None:
    """Another account's topic, a url that is not the subject, a stale eTag: refused with the
    reason (the trigger fails, Event Grid dead-letters it) before any run exists, so the
    genuine event for the same prefix still ingests it."""
    prefix = f"forged/{reason}"
    put_files(app_env, prefix, FILES)
    put_manifest(app_env, prefix, manifest_doc(FILES))
    etag = app_env.zones.get_info(Zone.LANDING, f"{prefix}/manifest.json").etag.strip('"')

    async def body(host: DevHost) -> Any:
        hook = f"{host.base_url}/runtime/webhooks/eventgrid?functionName=on_landing_blob_created"
        # Both built now: devhost's own event source may ingest (and delete) the manifest first.
        genuine_event = manifest_event(app_env, prefix, "genuine")
        forged = manifest_event(app_env, prefix, "forged")
        forge(forged[0])
        async with httpx.AsyncClient(timeout=30) as http:
            queued = await http.post(hook, json=forged)
            assert queued.status_code < 300, queued.text
            letters = await wait_for(
                lambda: [
                    d for d in host.queue.dead_letters() if d.function == "on_landing_blob_created"
                ],
                timeout_s=60,
                what="the forged event to be dead-lettered",
            )
            assert "RefusedEventError" in letters[0].error
            assert reason in letters[0].error
            genuine = await http.post(hook, json=genuine_event)
            assert genuine.status_code < 300, genuine.text
        return await finished(host, prefix)

    done = run_host(app_env.options(), body)
    assert done.status is RuntimeStatus.COMPLETED, done.error
    # The run records the eTag of the manifest write that started it.
    assert json.loads(done.input)["event_etag"] == etag


def manifest_event_after(env: AppEnv, done: Any, prefix: str) -> list[dict[str, Any]]:
    return [
        {
            "id": "late",
            "subject": f"/blobServices/default/containers/landing/blobs/{prefix}/manifest.json",
            "eventType": "Microsoft.Storage.BlobCreated",
            "eventTime": "2026-05-04T11:00:00Z",
            "dataVersion": "",
            "metadataVersion": "1",
            "topic": TOPIC_PREFIX + account_of(env),
            "data": {
                "api": "PutBlob",
                "contentLength": 100,
                "eTag": "0x1",
                "url": f"http://127.0.0.1/{account_of(env)}/landing/{prefix}/manifest.json",
            },
        }
    ]


def test_a_manifest_before_its_files_waits_on_a_durable_timer_then_succeeds(
    app_env: AppEnv,
) -> None:
    from devhost.durable.clock import FakeClock

    prefix = "late/1"
    clock = FakeClock()
    put_manifest(app_env, prefix, manifest_doc(FILES))

    async def body(host: DevHost) -> Any:
        await wait_for(
            lambda: (
                (i := instance(host, prefix)) is not None
                and i.custom_status
                and json.loads(i.custom_status)["stage"] == "waiting_for_files"
            ),
            what="the run to wait for files",
        )
        put_files(app_env, prefix, FILES)
        clock.advance(31)
        return await finished(host, prefix)

    done = run_host(app_env.options(clock=clock), body)
    assert done.status is RuntimeStatus.COMPLETED, done.error
    assert len(zone_names(app_env, Zone.RAW)) == len(FILES)


def test_a_file_still_missing_at_the_deadline_sends_the_upload_to_error(
    app_env: AppEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    from devhost.durable.clock import FakeClock

    # A 2-minute deadline: the same waits and checks as the default 30, in 4 polls, not 60.
    monkeypatch.setenv("AVOPS_LATE_FILE_DEADLINE_MINUTES", "2")
    prefix = "late/2"
    clock = FakeClock()
    partial = dict(FILES)
    partial.pop("drive.bag")
    put_files(app_env, prefix, partial)
    put_manifest(app_env, prefix, manifest_doc(FILES))

    async def body(host: DevHost) -> Any:
        await wait_for(lambda: instance(host, prefix) is not None, what="the run to start")

        def polled_or_done(after: float) -> bool:
            # The next poll's timer is due after ``after``: the timer that just came due may
            # still be pending, and advancing again before it ran would skip a poll.
            i = instance(host, prefix)
            return i is not None and (
                i.status in TERMINAL or (host.engine.next_timer_at() or 0.0) > after
            )

        for _ in range(10):  # 5 minutes of 30-second polls, past the 2-minute deadline
            now = clock.advance(30).timestamp()
            await wait_for(functools.partial(polled_or_done, now), what="next timer or the end")
            if instance(host, prefix).status in TERMINAL:
                break
        return await finished(host, prefix)

    done = run_host(app_env.options(clock=clock), body)
    assert done.status is RuntimeStatus.FAILED
    assert "drive.bag" in done.error
    marker = error_doc(app_env, prefix)
    assert marker["step"] == "validate"
    assert "did not arrive by the deadline" in marker["reason"]
    assert landing_names(app_env) == set()
    assert zone_names(app_env, Zone.ERROR) == {
        f"{prefix}/{p}" for p in [*partial, "manifest.json", "_error.json"]
    }
    assert zone_names(app_env, Zone.RAW) == set()


def run_to_failure(env: AppEnv, prefix: str) -> Any:
    done = run_host(env.options(), lambda host: finished(host, prefix))
    assert done.status is RuntimeStatus.FAILED
    assert landing_names(env) == set()
    assert zone_names(env, Zone.RAW) == set()
    assert zone_names(env, Zone.ARCHIVE) == set()
    return done


def test_one_flipped_byte_fails_the_checksum_and_raw_stays_untouched(app_env: AppEnv) -> None:
    prefix = "bad/checksum"
    corrupt = dict(FILES)
    data = bytearray(corrupt["drive.bag"])
    data[1000] ^= 0x10
    corrupt["drive.bag"] = bytes(data)
    put_files(app_env, prefix, corrupt)
    put_manifest(app_env, prefix, manifest_doc(FILES))
    run_to_failure(app_env, prefix)
    marker = error_doc(app_env, prefix)
    assert marker["step"] == "checksum"
    assert "drive.bag" in marker["reason"]
    stored = app_env.zones.read_bytes(Zone.ERROR, f"{prefix}/drive.bag", max_bytes=1 << 20)
    assert stored.data == corrupt["drive.bag"]


@pytest.mark.parametrize(
    "hostile", ["../../raw/evil.bag", "/abs.bag", "a\\b.bag", "%2e%2e/x.bag", "nul\u0000.bag"]
)
def test_a_hostile_path_in_the_manifest_is_rejected_and_nothing_leaves_the_prefix(
    app_env: AppEnv, hostile: str
) -> None:
    prefix = "bad/path"
    put_files(app_env, prefix, FILES)
    document = manifest_doc(FILES)
    document["files"][2]["path"] = hostile
    put_manifest(app_env, prefix, document)
    run_to_failure(app_env, prefix)
    marker = error_doc(app_env, prefix)
    assert marker["step"] == "validate"
    assert "files[2].path" in marker["reason"]
    assert all(name.startswith(f"{prefix}/") for name in zone_names(app_env, Zone.ERROR))


def test_an_oversized_manifest_is_refused(app_env: AppEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AVOPS_MANIFEST_MAX_BYTES", "2048")
    prefix = "bad/oversized"
    put_files(app_env, prefix, FILES)
    put_manifest(
        app_env,
        prefix,
        manifest_doc(FILES, tags=[f"tag-{i:04d}-" + "x" * 50 for i in range(60)]),
    )
    run_to_failure(app_env, prefix)
    assert "2048" in error_doc(app_env, prefix)["reason"]


def test_a_zero_byte_recording_is_refused(app_env: AppEnv) -> None:
    prefix = "bad/empty"
    files = {**FILES, "drive.bag": b""}
    put_files(app_env, prefix, files)
    put_manifest(app_env, prefix, manifest_doc(files))
    run_to_failure(app_env, prefix)
    assert "recording of 0 bytes" in error_doc(app_env, prefix)["reason"]


def test_two_uploads_claiming_one_measurement_id_with_different_content(app_env: AppEnv) -> None:
    other = {**FILES, "drive.bag": b"#ROSBAG V2.0\n" + b"\x02" * 4000}
    put_files(app_env, "claim/a", FILES)
    put_files(app_env, "claim/b", other)
    put_manifest(app_env, "claim/a", manifest_doc(FILES, measurement_id="drive-42"))
    put_manifest(app_env, "claim/b", manifest_doc(other, measurement_id="drive-42"))

    async def body(host: DevHost) -> Any:
        return [await finished(host, "claim/a"), await finished(host, "claim/b")]

    runs = run_host(app_env.options(), body)
    statuses = sorted(r.status.value for r in runs)
    assert statuses == sorted([RuntimeStatus.COMPLETED.value, RuntimeStatus.FAILED.value])
    loser_files = FILES if runs[0].status is RuntimeStatus.FAILED else other
    loser = "claim/a" if runs[0].status is RuntimeStatus.FAILED else "claim/b"
    winner = "claim/b" if loser == "claim/a" else "claim/a"
    marker = error_doc(app_env, loser)
    assert marker["step"] == "register"
    store = app_env.store()
    winner_hash = store.get_measurement("drive-42").content_sha256
    store.close()
    loser_manifest = parse_manifest(
        json.dumps(manifest_doc(loser_files, measurement_id="drive-42")).encode()
    )
    # Both content hashes are recorded with the failure.
    assert winner_hash in marker["reason"]
    assert content_hash(loser_manifest) in marker["reason"]
    assert winner_hash != content_hash(loser_manifest)
    assert len(store_datastreams(app_env, "drive-42")) == 1
    assert zone_names(app_env, Zone.ARCHIVE) == {f"{winner}/{p}" for p in FILES}


def store_datastreams(env: AppEnv, measurement_id: str) -> list[Any]:
    store = env.store()
    try:
        return store.list_datastreams(measurement_id)
    finally:
        store.close()


def crash_host(env: AppEnv, prefix: str, mode: str) -> subprocess.CompletedProcess[str]:
    return run_crash_host("tests.e2e.ingest_crash_host", str(env.state_dir), prefix, mode)


@pytest.mark.parametrize("mode", ["before-delete", "after-delete"])
def test_a_host_killed_around_the_landing_delete_ends_like_a_clean_run(
    app_env: AppEnv, mode: str
) -> None:
    prefix = f"crash/{mode}"
    put_files(app_env, prefix, FILES)
    put_manifest(app_env, prefix, manifest_doc(FILES))

    crashed = crash_host(app_env, prefix, mode)
    assert crashed.returncode == 17, crashed.stdout + crashed.stderr[-3000:]
    if mode == "before-delete":
        assert landing_names(app_env) == {f"{prefix}/{p}" for p in [*FILES, "manifest.json"]}
    else:
        assert landing_names(app_env) == set()
    assert len(zone_names(app_env, Zone.RAW)) == len(FILES)

    resumed = crash_host(app_env, prefix, "resume")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr[-3000:]
    result = json.loads(resumed.stdout.strip().splitlines()[-1])
    assert result["status"] == "Completed"
    output = json.loads(result["output"])

    # The same end state as a clean run.
    assert landing_names(app_env) == set()
    assert zone_names(app_env, Zone.RAW) == {f"{output['raw_prefix']}/{p}" for p in FILES}
    assert zone_names(app_env, Zone.ARCHIVE) == {f"{prefix}/{p}" for p in FILES}
    store = app_env.store()
    try:
        assert store.get_datastream(output["datastream_id"]).state is DatastreamState.COMPLETED
        assert store.get_measurement(output["measurement_id"]).state is MeasurementState.INGESTED
        assert len(store.list_datastreams(output["measurement_id"])) == 1
    finally:
        store.close()


def _run_with_one_rewrite(
    app_env: AppEnv,
    monkeypatch: pytest.MonkeyPatch,
    prefix: str,
    activity: str,
    rewrite: Callable[[dict[str, Any]], bool],
) -> tuple[Any, int]:
    """Ingest ``prefix``, calling ``rewrite(params)`` before ``activity`` until it rewrote
    something once (it returns True then); the finished run and its upload checks."""
    from activities import ingest as ingest_activities

    put_files(app_env, prefix, FILES)
    put_manifest(app_env, prefix, manifest_doc(FILES))
    real: Callable[[dict[str, Any]], dict[str, Any]] = getattr(ingest_activities, activity)
    rewrites: list[bool] = []

    def after_a_rewrite(params: dict[str, Any]) -> dict[str, Any]:
        if not rewrites and rewrite(params):
            rewrites.append(True)
        return real(params)

    monkeypatch.setattr(ingest_activities, activity, after_a_rewrite)

    async def body(host: DevHost) -> Any:
        done = await finished(host, prefix)
        return done, scheduled(host, done.instance_id, "ingest_check_upload")

    done, checks = run_host(app_env.options(), body)
    assert rewrites, "the rewrite was injected"
    return done, checks


def test_a_landing_blob_rewritten_after_validation_makes_the_run_revalidate(
    app_env: AppEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    prefix = "rewrite/1"

    def drive_bag(params: dict[str, Any]) -> bool:
        # An uploader retry rewrites the same bytes: new etag, same content.
        if params["path"] != "drive.bag":
            return False
        app_env.zones.write_bytes(Zone.LANDING, f"{prefix}/drive.bag", FILES["drive.bag"])
        return True

    done, checks = _run_with_one_rewrite(app_env, monkeypatch, prefix, "copy_file", drive_bag)
    assert done.status is RuntimeStatus.COMPLETED, done.error
    assert checks == 2, "the run validated again after the copy refused the changed blob"
    assert len(store_datastreams(app_env, json.loads(done.output)["measurement_id"])) == 1
    assert len(zone_names(app_env, Zone.RAW)) == len(FILES)


def test_a_manifest_rewritten_before_registration_makes_the_run_revalidate(
    app_env: AppEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    """register reads the manifest pinned to its validated etag; a rewrite in between (an
    uploader's retry: same bytes, new etag) is a 412 there. The run validates again and
    completes, and nothing goes to the error zone (it used to fail at register)."""
    prefix = "rewrite/manifest"

    def manifest(params: dict[str, Any]) -> bool:
        put_manifest(app_env, prefix, manifest_doc(FILES))
        return True

    done, checks = _run_with_one_rewrite(app_env, monkeypatch, prefix, "register", manifest)
    assert done.status is RuntimeStatus.COMPLETED, done.error
    assert checks == 2, "the run validated again after register refused the changed manifest"
    assert len(store_datastreams(app_env, json.loads(done.output)["measurement_id"])) == 1
    assert zone_names(app_env, Zone.ERROR) == set()
    assert len(zone_names(app_env, Zone.RAW)) == len(FILES)
