"""Erasure that stops part-way and is finished later: a killed host, a WORM-locked archive.

Two vehicles are written straight into the app's store and zones (tests/erasure_seed.py), one
is erased through the API under devhost. Either the host is killed mid-erasure and restarted
on the same state, or Azure's answer to deleting a blob under an immutability policy or a
legal hold (HTTP 409 with its error code, given by a proxy in front of Azurite, which has no
immutability) fails the run; the same request after the hold is cleared resumes it. In the
end: the record completed, nothing anywhere names the erased vehicle, and every blob and store
row of the other vehicle is byte-identical.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from activities import runtime
from dataops.erasure.identity import ErasureTarget, TargetKind
from dataops.erasure.records import ErasureRecord, ErasureState, read_record
from dataops.paths import Zone
from devhost.durable.store import RuntimeStatus
from devhost.host import DevHost
from devhost.services.azurite import ACCOUNT_KEY
from tests.e2e.conftest import AppEnv, finished, run_host
from tests.e2e.crash_hosting import CRASH_EXIT, run_crash_host
from tests.e2e.erasure_crash_host import CRASH_POINTS
from tests.e2e.erasure_support import (
    ERASE_KEY,
    SALT,
    RawItems,
    blob_digests,
    blobs_mentioning,
    erase,
    files_mentioning,
    sqlite_rows,
)
from tests.erasure_seed import SeededVehicle, seed_two_vehicles
from tests.faults.proxy import Canned, FaultProxy, FaultSchedule

pytestmark = [pytest.mark.azurite, pytest.mark.timeout(600)]
Digests = dict[tuple[str, str], str]
# Azure's answers to a delete of a locked blob (Blob service error codes, REST reference).
LOCK_MESSAGES = {
    "BlobImmutableDueToPolicy": "This operation is not permitted as the blob is immutable "
    "due to a policy.",
    "BlobImmutableDueToLegalHold": "This operation is not permitted as the blob is immutable "
    "due to one or more legal holds.",
}


@pytest.fixture
def erase_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("AVOPS_API_ERASE_KEYS", ERASE_KEY)
    monkeypatch.setenv("AVOPS_ERASURE_SALT", SALT)
    yield


def _seed(app_env: AppEnv) -> tuple[SeededVehicle, SeededVehicle]:
    store = app_env.store()
    try:
        return seed_two_vehicles(store, app_env.zones)
    finally:
        store.close()


def _record(app_env: AppEnv, vehicle: str) -> ErasureRecord:
    target = ErasureTarget(TargetKind.VEHICLE, vehicle)
    record = read_record(app_env.zones, target.erasure_id(SALT))
    assert record is not None
    return record


def _without(rows: RawItems, tokens: list[str]) -> RawItems:
    """``rows`` less those that name one of ``tokens``."""
    return {key: text for key, text in rows.items() if not any(t in text for t in tokens)}


def _check_erased_and_other_kept(
    app_env: AppEnv,
    erased: SeededVehicle,
    kept: SeededVehicle,
    blobs_before: Digests,
    rows_before: RawItems,
) -> None:
    """Nothing names the erased vehicle; the other's blobs and rows are byte-identical."""
    assert blobs_mentioning(app_env.connection_string, erased.tokens) == []
    db_files = list(app_env.sqlite_path.parent.glob(f"{app_env.sqlite_path.name}*"))
    assert files_mentioning([*db_files, app_env.state_dir], erased.tokens) == []
    blobs_after = blob_digests(app_env.connection_string)
    kept_blobs = {k: v for k, v in blobs_before.items() if any(t in k[1] for t in kept.tokens)}
    assert kept_blobs and all(blobs_after.get(k) == v for k, v in kept_blobs.items())
    rows_after = sqlite_rows(app_env.sqlite_path)
    kept_rows = {k: v for k, v in rows_before.items() if any(t in v for t in kept.tokens)}
    assert kept_rows and {k: v for k, v in rows_after.items() if k in kept_rows} == kept_rows
    assert _without(rows_after, kept.tokens) == _without(
        _without(rows_before, erased.tokens), kept.tokens
    )


def _crash_host(app_env: AppEnv, vehicle: str, mode: str) -> subprocess.CompletedProcess[str]:
    return run_crash_host("tests.e2e.erasure_crash_host", str(app_env.state_dir), vehicle, mode)


@pytest.mark.parametrize("mode", sorted(CRASH_POINTS))
def test_a_host_killed_mid_erasure_resumes_and_finishes_it(
    app_env: AppEnv, erase_env: None, mode: str
) -> None:
    """Killed after erase_blobs did its work (unrecorded) or as erase_store starts: after a
    restart on the same state the run finishes, the record says completed, nothing of the
    erased vehicle is left and the other vehicle is untouched."""
    erased, kept = _seed(app_env)
    blobs_before = blob_digests(app_env.connection_string)
    rows_before = sqlite_rows(app_env.sqlite_path)

    crashed = _crash_host(app_env, erased.vehicle_id, mode)
    assert crashed.returncode == CRASH_EXIT, crashed.stdout + crashed.stderr[-3000:]
    # Killed part-way: the blobs are gone, the store documents are not, the record runs.
    assert blobs_mentioning(app_env.connection_string, [erased.measurement_id]) == []
    store = app_env.store()
    try:
        assert store.get_measurement(erased.measurement_id).vehicle_id == erased.vehicle_id
    finally:
        store.close()
    assert _record(app_env, erased.vehicle_id).state is ErasureState.RUNNING

    resumed = _crash_host(app_env, erased.vehicle_id, "resume")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr[-3000:]
    result = json.loads(resumed.stdout.strip().splitlines()[-1])
    assert result["status"] == RuntimeStatus.COMPLETED.value, result
    counts = json.loads(result["output"])["counts"]
    assert counts["store.measurements"] == 1 and counts["store.datastreams"] == 3

    record = _record(app_env, erased.vehicle_id)
    assert record.state is ErasureState.COMPLETED and record.completed_at is not None
    _check_erased_and_other_kept(app_env, erased, kept, blobs_before, rows_before)


def _proxied(account: str, proxy: FaultProxy) -> str:
    return (
        f"DefaultEndpointsProtocol=http;AccountName={account};"
        f"AccountKey={ACCOUNT_KEY};BlobEndpoint={proxy.url}/{account};"
    )


def _worm_lock(account: str, container: str, code: str) -> Any:
    """Answer every DELETE of a blob in ``container`` the way Azure does under ``code``."""
    body = (
        '<?xml version="1.0" encoding="utf-8"?><Error>'
        f"<Code>{code}</Code><Message>{LOCK_MESSAGES[code]}\n"
        "RequestId:00000000-0000-0000-0000-000000000000\n"
        "Time:2026-12-07T05:00:00.0000000Z</Message></Error>"
    )

    def answer(method: str, path: str) -> Canned | None:
        if method != "DELETE" or not path.startswith(f"/{account}/{container}/"):
            return None
        return Canned(409, {"x-ms-error-code": code, "x-ms-version": "2025-01-05"}, body)

    return answer


@pytest.mark.parametrize("code", sorted(LOCK_MESSAGES))
def test_a_worm_locked_archive_fails_the_erasure_and_the_same_request_finishes_it_later(
    app_env: AppEnv, erase_env: None, monkeypatch: pytest.MonkeyPatch, code: str
) -> None:
    """Archive blobs under a retention policy or legal hold: the run fails, the record says
    failed naming the zone and the count (never a path), the store documents stay and the
    other vehicle is untouched; once the hold is cleared the same request completes it."""
    erased, kept = _seed(app_env)
    blobs_before = blob_digests(app_env.connection_string)
    rows_before = sqlite_rows(app_env.sqlite_path)
    parts = dict(p.split("=", 1) for p in app_env.connection_string.split(";") if p)
    account, origin = parts["AccountName"], parts["BlobEndpoint"].rstrip("/").rsplit("/", 1)[0]
    archive = app_env.zones.container_client(Zone.ARCHIVE).container_name
    route = f"vehicles/{erased.vehicle_id}/erase"
    lock = _worm_lock(account, archive, code)
    with FaultProxy(origin, FaultSchedule(0, rate=0.0), service="storage", intercept=lock) as proxy:
        # Only the app goes through the proxy; the test's own reads stay direct.
        monkeypatch.setenv("AVOPS_STORAGE_CONNECTION_STRING", _proxied(account, proxy))
        runtime.reset()

        async def body(host: DevHost) -> tuple[Any, Any]:
            started = await erase(host.base_url, route)
            assert started.status_code == 202, started.text
            failed = await finished(host, started.json()["instance_id"], timeout_s=120)
            locked_record = _record(app_env, erased.vehicle_id)
            store = app_env.store()
            try:  # step 4 did not run: the documents stay for the resumed erasure
                assert len(store.list_datastreams(erased.measurement_id)) == 3
            finally:
                store.close()
            proxy.enabled = False  # the hold is cleared
            again = await erase(host.base_url, route)
            assert again.status_code == 202, again.text
            assert again.json()["instance_id"] == started.json()["instance_id"]
            done = await finished(host, again.json()["instance_id"], timeout_s=120)
            return (failed, locked_record), done

        try:
            (failed, locked_record), done = run_host(
                app_env.options(named_function_keys={"eraser": ERASE_KEY}), body
            )
        finally:
            runtime.reset()
    assert {i.kind for i in proxy.injected} == {"canned"}
    assert all(i.method == "DELETE" for i in proxy.injected)

    assert failed.status is RuntimeStatus.FAILED
    assert locked_record.state is ErasureState.FAILED
    assert locked_record.reason is not None
    assert "1 in zone 'archive'" in locked_record.reason, locked_record.reason
    assert not any(t in locked_record.reason for t in erased.tokens)
    assert "fleet/" not in locked_record.reason and "drive.mcap" not in locked_record.reason
    # What could go went and was counted; the locked archive blob kept the store documents.
    assert (
        locked_record.counts.get("blobs.raw") == 1 and "blobs.archive" not in locked_record.counts
    )
    assert "store.measurements" not in locked_record.counts

    assert done.status is RuntimeStatus.COMPLETED, done.error
    record = _record(app_env, erased.vehicle_id)
    assert record.state is ErasureState.COMPLETED and record.reason is None
    assert record.requested_at == locked_record.requested_at
    assert record.counts["blobs.archive"] == 1 and record.counts["blobs.raw"] == 1
    _check_erased_and_other_kept(app_env, erased, kept, blobs_before, rows_before)
