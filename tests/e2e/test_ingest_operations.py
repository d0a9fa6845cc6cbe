"""Rerun, rehydrate, the run status route and the reconciler end to end on our real app.

devhost runs function_app on a fresh Azurite with the SQLite store (fixture ``app_env`` in
tests/e2e/conftest.py). The reconciler is fired through devhost's own timer scheduler (fake
clock advanced past its schedule) or handed a timer delivery directly, so no test waits minutes.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from azure.storage.blob import BlobServiceClient
from typer.testing import CliRunner

from avops.cli import _register_commands
from avops.cli import app as cli_app
from avops.cli.api_session import EXIT_FAILED
from dataops.ids import instance_id_for
from dataops.models import DatastreamState, DatastreamType
from dataops.paths import Zone
from devhost.durable.clock import FakeClock
from devhost.durable.store import TERMINAL, Instance, RuntimeStatus
from devhost.events.delivery import Delivery
from devhost.host import DevHost
from tests.e2e.conftest import READ_KEY, WRITE_KEY, AppEnv, run_host, wait_for
from tests.e2e.starter_answers import assert_no_management_urls, assert_run_accepted
from tests.manifests import manifest_doc

pytestmark = pytest.mark.azurite
_register_commands()

FILES = {
    "ros2/metadata.yaml": b"rosbag2_bagfile_information:\n  version: 5\n",
    "ros2/ros2_0.mcap": b"\x89MCAP0\r\n" + bytes(range(256)) * 64,
    "drive.bag": b"#ROSBAG V2.0\n" + b"\x03" * 3000,
}
WRITE = {"x-functions-key": WRITE_KEY}
READ = {"x-functions-key": READ_KEY}


def manifest(files: dict[str, bytes]) -> dict[str, Any]:
    return manifest_doc(files, vehicle_id="WVW-OPS-001")


def upload(
    env: AppEnv, prefix: str, files: dict[str, bytes], listed: dict[str, bytes] | None = None
) -> None:
    """Files first, the manifest (describing ``listed``, default ``files``) last."""
    for path, data in files.items():
        env.zones.write_bytes(Zone.LANDING, f"{prefix}/{path}", data)
    body = json.dumps(manifest(listed if listed is not None else files)).encode()
    env.zones.write_bytes(Zone.LANDING, f"{prefix}/manifest.json", body)


def names(env: AppEnv, zone: Zone, prefix: str) -> set[str]:
    return {b.path.removeprefix(prefix + "/") for b in env.zones.list_blobs(zone, prefix)}


def instance(host: DevHost, prefix: str) -> Instance | None:
    return host.engine.get_instance(instance_id_for("ingest", prefix))


async def run_finished(host: DevHost, prefix: str, *, after: str | None = None) -> Instance:
    """The upload's instance once finished; ``after``: an execution id it must differ from."""

    def done() -> Instance | None:
        found = instance(host, prefix)
        if found is None or found.status not in TERMINAL or found.execution_id == after:
            return None
        return found

    result: Instance = await wait_for(done, timeout_s=90, what=f"ingest of {prefix}")
    return result


async def upload_waiting_for_a_file(env: AppEnv, host: DevHost, prefix: str) -> None:
    """Upload only ``drive.bag`` of a manifest listing all of FILES; return once the run
    waits (on a durable timer) for the rest."""
    upload(env, prefix, {"drive.bag": FILES["drive.bag"]}, listed=FILES)
    await wait_for(
        lambda: (
            (i := instance(host, prefix)) is not None
            and "waiting_for_files" in (i.custom_status or "")
        ),
        what="the run to wait for files",
    )


async def post(host: DevHost, path: str, headers: dict[str, str] | None = None) -> httpx.Response:
    async with httpx.AsyncClient(base_url=host.base_url, timeout=60) as http:
        return await http.post(path, headers=WRITE if headers is None else headers)


async def fire_reconciler(host: DevHost, at: datetime | None = None) -> None:
    """Hand the timer function one firing at host time ``at``, as the scheduler would; wait."""
    stamp = at.isoformat() if at is not None else None
    payload = {
        "Schedule": {"AdjustForDST": True},
        "ScheduleStatus": {"Last": stamp, "Next": None, "LastUpdated": stamp},
        "IsPastDue": False,
    }
    await host.invoke_delivery(Delivery(0, "timer", "reconcile_ingest", json.dumps(payload), 0))


def raw_streams(env: AppEnv, measurement_id: str) -> dict[str, Any]:
    store = env.store()
    try:
        return {s.id: s for s in store.list_datastreams(measurement_id, DatastreamType.RAW)}
    finally:
        store.close()


def assert_accepted(response: httpx.Response, prefix: str, restored_from: str) -> None:
    """202 naming the ingest run and its status route, the app's own, and nothing else."""
    body = assert_run_accepted(response, WRITE_KEY)
    assert body == {
        "instance_id": instance_id_for("ingest", prefix),
        "status_url": body["status_url"],
        "datastream_id": None,
    }
    assert response.headers["x-avops-restored-from"] == restored_from


def test_rerun_of_a_completed_ingest_starts_a_new_run_linked_to_the_old_datastream(
    app_env: AppEnv,
) -> None:
    prefix = "fleet/done-1"

    async def body(host: DevHost) -> dict[str, Any]:
        upload(app_env, prefix, FILES)
        first = await run_finished(host, prefix)
        assert first.status is RuntimeStatus.COMPLETED, first.error
        output = json.loads(first.output or "{}")
        rerun = await post(host, f"/api/measurements/{output['measurement_id']}/rerun")
        second = await run_finished(host, prefix, after=first.execution_id)
        async with httpx.AsyncClient(base_url=host.base_url, timeout=30) as http:
            status = await http.get(rerun.json()["status_url"], headers=READ)
            lineage = await http.get(
                f"/api/datastreams/{json.loads(second.output or '{}')['datastream_id']}/lineage",
                params={"direction": "up"},
                headers=WRITE,
            )
        return {
            "first": output,
            "rerun": rerun,
            "second": second,
            "status": status,
            "lineage": lineage,
        }

    result = run_host(app_env.options(named_function_keys={"reader": READ_KEY}), body)
    assert_accepted(result["rerun"], prefix, "archive")
    second = result["second"]
    assert second.status is RuntimeStatus.COMPLETED, second.error
    new = json.loads(second.output)
    old_id = result["first"]["datastream_id"]
    assert new["measurement_id"] == result["first"]["measurement_id"]  # same Measurement
    assert new["datastream_id"] != old_id
    streams = raw_streams(app_env, new["measurement_id"])
    assert set(streams) == {old_id, new["datastream_id"]}
    assert streams[old_id].state is DatastreamState.COMPLETED  # the old one is kept
    assert streams[new["datastream_id"]].state is DatastreamState.COMPLETED
    assert streams[new["datastream_id"]].sources == [old_id]
    assert old_id in {node["id"] for node in result["lineage"].json()["nodes"]}
    assert result["status"].status_code == 200, result["status"].text
    assert result["status"].json()["runtime_status"] == "Completed"
    # Landing is clean again and the archive holds the upload once.
    assert names(app_env, Zone.LANDING, prefix) == set()
    assert names(app_env, Zone.ARCHIVE, prefix) == set(FILES)


def test_rerun_after_a_failed_copy_is_fixed_restores_from_error_and_links_lineage(
    app_env: AppEnv,
) -> None:
    """The raw container is missing, so the copy fails after registration; then it is back."""
    prefix = "fleet/copy-fails"
    service = BlobServiceClient.from_connection_string(app_env.connection_string)
    raw_container = app_env.zones.container_name(Zone.RAW)
    service.delete_container(raw_container)

    async def body(host: DevHost) -> dict[str, Any]:
        upload(app_env, prefix, FILES)
        first = await run_finished(host, prefix)
        custom = json.loads(first.custom_status or "{}")
        in_error = names(app_env, Zone.ERROR, prefix)
        service.create_container(raw_container)  # the fix
        rerun = await post(host, f"/api/measurements/{custom['measurement_id']}/rerun")
        second = await run_finished(host, prefix, after=first.execution_id)
        return {
            "first": first,
            "custom": custom,
            "in_error": in_error,
            "rerun": rerun,
            "second": second,
        }

    result = run_host(app_env.options(), body)
    assert result["first"].status is RuntimeStatus.FAILED
    assert result["in_error"] == {*FILES, "manifest.json", "_error.json"}
    assert_accepted(result["rerun"], prefix, "error")
    second = result["second"]
    assert second.status is RuntimeStatus.COMPLETED, second.error
    new = json.loads(second.output)
    failed_id = result["custom"]["datastream_id"]
    streams = raw_streams(app_env, new["measurement_id"])
    assert streams[failed_id].state is DatastreamState.FAILED
    assert streams[new["datastream_id"]].sources == [failed_id]
    assert names(app_env, Zone.ARCHIVE, prefix) == set(FILES)
    assert names(app_env, Zone.LANDING, prefix) == set()


def test_rehydrate_of_a_checksum_failure_runs_again_from_the_error_zone(app_env: AppEnv) -> None:
    prefix = "fleet/bad/bytes"
    wrong = {**FILES, "drive.bag": FILES["drive.bag"][:-1] + b"!"}

    async def body(host: DevHost) -> dict[str, Any]:
        upload(app_env, prefix, wrong, listed=FILES)
        first = await run_finished(host, prefix)
        before = json.loads(
            app_env.zones.read_bytes(Zone.ERROR, f"{prefix}/_error.json", max_bytes=65536).data
        )
        rehydrated = await post(host, f"/api/uploads/{prefix}/rehydrate")
        second = await run_finished(host, prefix, after=first.execution_id)
        after = json.loads(
            app_env.zones.read_bytes(Zone.ERROR, f"{prefix}/_error.json", max_bytes=65536).data
        )
        return {
            "first": first,
            "rehydrated": rehydrated,
            "second": second,
            "errors": (before, after),
        }

    result = run_host(app_env.options(), body)
    assert result["first"].status is RuntimeStatus.FAILED
    assert_accepted(result["rehydrated"], prefix, "error")
    assert result["second"].status is RuntimeStatus.FAILED  # the bytes are still wrong
    before, after = result["errors"]
    assert before["step"] == after["step"] == "checksum"
    assert after["time"] > before["time"]  # written by the second run
    assert json.loads(result["second"].input)["sources"] == []  # failed before registering
    assert names(app_env, Zone.LANDING, prefix) == set()
    assert names(app_env, Zone.ERROR, prefix) == {*FILES, "manifest.json", "_error.json"}


def test_rerun_is_refused_while_running_and_bad_requests_get_problems(app_env: AppEnv) -> None:
    """A manifest whose file is missing keeps the run waiting on a durable timer (fake clock)."""
    prefix = "fleet/waiting"

    async def body(host: DevHost) -> dict[str, httpx.Response]:
        await upload_waiting_for_a_file(app_env, host, prefix)
        return {
            "running": await post(host, f"/api/uploads/{prefix}/rehydrate"),
            "unknown_measurement": await post(host, "/api/measurements/no-such-id/rerun"),
            "bad_id": await post(host, "/api/measurements/bad%20id/rerun"),
            "unknown_prefix": await post(host, "/api/uploads/never/uploaded/rehydrate"),
            "bad_prefix": await post(host, "/api/uploads/fleet./x/rehydrate"),
            "no_operation": await post(host, "/api/uploads/fleet/waiting/restore"),
        }

    answers = run_host(app_env.options(clock=FakeClock()), body)
    for name, status in [
        ("running", 409),
        ("unknown_measurement", 404),
        ("bad_id", 400),
        ("unknown_prefix", 404),
        ("bad_prefix", 400),
        ("no_operation", 404),
    ]:
        response = answers[name]
        assert response.status_code == status, (name, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["status"] == status
    assert "Running" in answers["running"].json()["detail"]
    assert answers["bad_prefix"].json()["parameter"] == "prefix"
    # The refused rerun touched nothing: the waiting run still owns its landing prefix.
    assert names(app_env, Zone.LANDING, prefix) == {"drive.bag", "manifest.json"}
    assert names(app_env, Zone.ERROR, prefix) == set()


def test_rerun_needs_the_write_role(app_env: AppEnv) -> None:
    # devhost has one function key per run: as the read key it passes the host, not the role.
    async def as_reader(host: DevHost) -> tuple[httpx.Response, httpx.Response]:
        read = {"x-functions-key": READ_KEY}
        return (
            await post(host, "/api/measurements/m-1/rerun", headers=read),
            await post(host, "/api/uploads/a/b/rehydrate", headers={}),
        )

    forbidden, keyless = run_host(app_env.options(function_key=READ_KEY), as_reader)
    assert forbidden.status_code == 403
    assert forbidden.json()["type"].endswith("/forbidden")
    assert keyless.status_code == 401  # the host's own key check

    async def with_host_key_only(host: DevHost) -> httpx.Response:
        return await post(host, "/api/measurements/m-1/rerun", headers={"x-functions-key": "k0"})

    unknown = run_host(app_env.options(function_key="k0"), with_host_key_only)
    assert unknown.status_code == 401
    assert unknown.headers["content-type"].startswith("application/problem+json")


def test_run_status_route_is_role_checked_and_shows_no_management_internals(
    app_env: AppEnv,
) -> None:
    """GET /api/runs/{id}: read role, status and output only; 401, 404 and 400 as problems."""
    prefix = "fleet/followed"
    stranger = "a-host-key-with-no-role"

    async def body(host: DevHost) -> dict[str, Any]:
        upload(app_env, prefix, FILES)
        done = await run_finished(host, prefix)
        run = f"/api/runs/{done.instance_id}"
        async with httpx.AsyncClient(base_url=host.base_url, timeout=30) as http:
            return {
                "done": done,
                "read": await http.get(run, headers=READ),
                "write": await http.get(run, headers=WRITE),
                "keyless": await http.get(run),
                "no_role": await http.get(run, headers={"x-functions-key": stranger}),
                "unknown": await http.get("/api/runs/ingest-no-such-run", headers=READ),
                "bad_id": await http.get("/api/runs/bad%20id", headers=READ),
                "rerun_as_reader": await http.post(
                    f"/api/uploads/{prefix}/rehydrate", headers=READ
                ),
            }

    keys = {"reader": READ_KEY, "stranger": stranger}
    answers = run_host(app_env.options(named_function_keys=keys), body)
    done = answers["done"]
    assert done.status is RuntimeStatus.COMPLETED, done.error
    read = answers["read"]
    assert read.status_code == 200, read.text
    status = read.json()
    assert set(status) == {
        "instance_id",
        "name",
        "runtime_status",
        "custom_status",
        "output",
        "created_time",
        "last_updated_time",
    }
    assert status["instance_id"] == done.instance_id
    assert status["name"] == "ingest"
    assert status["runtime_status"] == "Completed"
    assert status["output"] == json.loads(done.output or "null")
    assert status["created_time"] and status["last_updated_time"]
    assert read.headers["cache-control"] == "no-store"
    assert_no_management_urls(read, WRITE_KEY, READ_KEY)
    assert answers["write"].json() == status  # write includes read
    assert answers["keyless"].status_code == 401  # the host's key check
    no_role = answers["no_role"]  # past the host, but the app knows no role for the key
    assert no_role.status_code == 401
    assert no_role.headers["content-type"].startswith("application/problem+json")
    unknown = answers["unknown"]
    assert unknown.status_code == 404
    assert unknown.headers["content-type"].startswith("application/problem+json")
    assert "ingest-no-such-run" in unknown.json()["detail"]
    assert answers["bad_id"].status_code == 400
    assert answers["bad_id"].json()["parameter"] == "id"
    assert answers["rerun_as_reader"].status_code == 403


def test_reconciler_starts_an_old_orphaned_manifest_on_its_schedule(app_env: AppEnv) -> None:
    """No Event Grid subscription (the event was lost); 11 host minutes later it is started."""
    prefix = "fleet/lost-event"
    clock = FakeClock(datetime.now(UTC))

    async def body(host: DevHost) -> Instance:
        upload(app_env, prefix, FILES)
        await host.poll_sources_once()  # the scheduler notes the next 5-minute mark
        assert instance(host, prefix) is None
        clock.advance(timedelta(minutes=11))  # past the 10-minute threshold and a 5-minute mark
        return await run_finished(host, prefix)

    done = run_host(app_env.options(clock=clock, subscriptions_path=None), body)
    assert done.status is RuntimeStatus.COMPLETED, done.error
    assert names(app_env, Zone.ARCHIVE, prefix) == set(FILES)
    assert names(app_env, Zone.LANDING, prefix) == set()


def test_reconciler_leaves_a_young_manifest_to_event_grid(app_env: AppEnv) -> None:
    prefix = "fleet/just-uploaded"

    async def body(host: DevHost) -> Instance | None:
        upload(app_env, prefix, FILES)
        await fire_reconciler(host, datetime.now(UTC) + timedelta(minutes=9))  # threshold: 10
        return instance(host, prefix)

    assert run_host(app_env.options(subscriptions_path=None), body) is None
    assert names(app_env, Zone.LANDING, prefix) == {*FILES, "manifest.json"}


def test_a_run_past_its_deadline_is_terminated_then_rehydrated_from_landing(
    app_env: AppEnv, caplog: pytest.LogCaptureFixture
) -> None:
    """The reconciler fires three host hours after the run started, which still waits for a file."""
    prefix = "fleet/stuck"
    clock = FakeClock(datetime.now(UTC))

    async def body(host: DevHost) -> dict[str, Any]:
        await upload_waiting_for_a_file(app_env, host, prefix)
        three_hours_later = clock.now() + timedelta(hours=3)
        await fire_reconciler(host, three_hours_later)
        # Terminate is a message to the instance, as in Azure: it lands a moment later.
        stuck: Instance = await wait_for(
            lambda: (
                (i := instance(host, prefix)) is not None
                and i.status is RuntimeStatus.TERMINATED
                and i
            ),
            what="the overdue run to be terminated",
        )
        await fire_reconciler(host, three_hours_later)  # terminated: not reported twice
        for path, data in FILES.items():  # the late files arrive after all
            app_env.zones.write_bytes(Zone.LANDING, f"{prefix}/{path}", data)
        rehydrated = await post(host, f"/api/uploads/{prefix}/rehydrate")
        again = await run_finished(host, prefix, after=stuck.execution_id)
        return {"stuck": stuck, "rehydrated": rehydrated, "again": again}

    with caplog.at_level("WARNING", logger="avops.reconcile"):
        result = run_host(app_env.options(clock=clock), body)
    stuck = result["stuck"]
    assert stuck.status is RuntimeStatus.TERMINATED
    assert "deadline exceeded" in (stuck.output or "")
    reports = [r for r in caplog.records if "past its deadline" in r.getMessage()]
    assert len(reports) == 1
    assert stuck.instance_id in reports[0].getMessage()
    assert prefix in reports[0].getMessage()
    assert_accepted(result["rehydrated"], prefix, "landing")
    assert result["again"].status is RuntimeStatus.COMPLETED, result["again"].error
    assert names(app_env, Zone.ARCHIVE, prefix) == set(FILES)


def test_reupload_same_bytes_is_a_new_run_of_the_same_measurement_other_bytes_a_conflict(
    app_env: AppEnv, caplog: pytest.LogCaptureFixture
) -> None:
    """Re-uploads to a prefix whose run finished are never left in landing: the trigger logs
    the new manifest generation and the reconciler starts it. The same bytes give a second RAW
    datastream of the same measurement; other bytes are a conflict, in the error zone."""
    prefix = "fleet/re-upload"
    changed = {**FILES, "drive.bag": FILES["drive.bag"] + b"more"}

    def upload_as_measurement(files: dict[str, bytes]) -> None:
        """Files, then a manifest naming its measurement id (so other bytes can conflict)."""
        for path, data in files.items():
            app_env.zones.write_bytes(Zone.LANDING, f"{prefix}/{path}", data)
        document = {**manifest(files), "measurement_id": "m-re-upload"}
        app_env.zones.write_bytes(
            Zone.LANDING, f"{prefix}/manifest.json", json.dumps(document).encode()
        )

    async def body(host: DevHost) -> tuple[Instance, Instance, Instance]:
        upload_as_measurement(FILES)
        first = await run_finished(host, prefix)
        upload_as_measurement(FILES)  # same bytes, a new manifest write (new etag)
        await host.poll_sources_once()  # the event is delivered: logged, not started
        assert instance(host, prefix).execution_id == first.execution_id  # type: ignore[union-attr]
        await fire_reconciler(host, datetime.now(UTC) + timedelta(minutes=11))
        second = await run_finished(host, prefix, after=first.execution_id)
        upload_as_measurement(changed)  # same measurement id, other content
        await fire_reconciler(host, datetime.now(UTC) + timedelta(minutes=11))
        third = await run_finished(host, prefix, after=second.execution_id)
        return first, second, third

    with caplog.at_level("WARNING", logger="avops.ingest"):
        first, second, third = run_host(app_env.options(), body)
    assert any("re-upload" in r.getMessage() and prefix in r.getMessage() for r in caplog.records)
    assert first.status is RuntimeStatus.COMPLETED, first.error
    assert second.status is RuntimeStatus.COMPLETED, second.error
    measurement_id = json.loads(first.output or "{}")["measurement_id"]
    again = json.loads(second.output or "{}")
    assert again["measurement_id"] == measurement_id
    assert again["manifest_etag"] != json.loads(first.output or "{}")["manifest_etag"]
    streams = raw_streams(app_env, measurement_id)
    assert len(streams) == 2
    assert all(s.state is DatastreamState.COMPLETED for s in streams.values())

    assert third.status is RuntimeStatus.FAILED
    assert names(app_env, Zone.LANDING, prefix) == set()
    assert "_error.json" in names(app_env, Zone.ERROR, prefix)
    marker = json.loads(
        app_env.zones.read_bytes(Zone.ERROR, f"{prefix}/_error.json", max_bytes=10**6).data
    )
    assert marker["step"] == "register"
    assert "already exists with other content" in marker["reason"]
    assert len(raw_streams(app_env, measurement_id)) == 2  # the conflict registered nothing


def test_stranded_landing_prefixes_are_listed_by_the_api_and_avops_stranded(
    app_env: AppEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Files with no manifest and a zero-byte manifest are both listed (threshold 0 here), by
    ``GET /api/landing/stranded`` (read role) and by ``avops stranded`` (``--check``: exit 1)."""
    monkeypatch.setenv("AVOPS_RECONCILE_AFTER_MINUTES", "0")
    app_env.zones.write_bytes(Zone.LANDING, "fleet/no-manifest/a.bag", b"12345")
    app_env.zones.write_bytes(Zone.LANDING, "fleet/empty/b.bag", b"678")
    app_env.zones.write_bytes(Zone.LANDING, "fleet/empty/manifest.json", b"")

    async def body(host: DevHost) -> tuple[httpx.Response, httpx.Response, Any]:
        async with httpx.AsyncClient(base_url=host.base_url, timeout=60) as http:
            listed = await http.get("/api/landing/stranded", headers=READ)
            anonymous = await http.get("/api/landing/stranded")
        monkeypatch.setenv("AVOPS_API_URL", host.base_url)
        monkeypatch.setenv("AVOPS_API_KEY", READ_KEY)
        cli = await asyncio.to_thread(
            CliRunner().invoke, cli_app, ["stranded", "--json", "--check"], catch_exceptions=False
        )
        table = await asyncio.to_thread(
            CliRunner().invoke, cli_app, ["stranded"], catch_exceptions=False
        )
        return listed, anonymous, (cli, table)

    options = app_env.options(subscriptions_path=None, named_function_keys={"reader": READ_KEY})
    listed, anonymous, (cli, table) = run_host(options, body)
    assert anonymous.status_code == 401
    assert listed.status_code == 200, listed.text
    assert listed.headers["cache-control"] == "no-store"
    rows = {row["upload_prefix"]: row for row in listed.json()["items"]}
    assert {p: (r["reason"], r["files"], r["bytes"]) for p, r in rows.items()} == {
        "fleet/no-manifest": ("no_manifest", 1, 5),
        "fleet/empty": ("empty_manifest", 2, 3),
    }
    assert listed.json()["threshold_minutes"] == 0
    assert cli.exit_code == EXIT_FAILED, cli.output  # --check: something is stranded
    assert {row["upload_prefix"] for row in json.loads(cli.output)["items"]} == set(rows)
    assert table.exit_code == 0, table.output
    assert "no_manifest" in table.output and "empty_manifest" in table.output
    assert "2 stranded (older than 0 min)" in table.output
