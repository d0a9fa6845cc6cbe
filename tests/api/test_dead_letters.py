"""``GET /api/deadletters`` and ``POST /api/deadletters/{id}/redrive`` through the app's HTTP
functions on both store backends: the write role, the listing's filters and answers, and a
redrive whose step cannot start (no Durable host behind this stand-in) keeping its record."""

from __future__ import annotations

import uuid

from dataops.dead_letters.records import letter_id, letter_path, record_dead_letter
from dataops.models import DatastreamState, DatastreamType
from dataops.paths import Zone
from dataops.storage import BlobZones
from tests.api.conftest import READ_KEY, WRITE_KEY, Fleet
from tests.api.function_host import FunctionHost
from tests.contract.conftest import make_datastream


def _record(zones: BlobZones, fleet: Fleet, datastream_id: str) -> tuple[str, str]:
    """A dead letter of a function of this test's own (the zones are the session's)."""
    zones.ensure_containers([Zone.ERROR])
    function = f"f_{uuid.uuid4().hex[:10]}"
    document = {
        "id": datastream_id,
        "measurement_id": "m-c1",
        "type": "EXTRACTED",
        "state": "COMPLETED",
    }
    path = record_dead_letter(
        zones, function=function, documents=[document], reason="RuntimeError: down", attempts=9
    )
    return function, letter_id(path)


def _completed_extracted(fleet: Fleet) -> str:
    datastream_id = f"ds-{uuid.uuid4().hex[:10]}"
    created = fleet.store.create_datastream(
        make_datastream(datastream_id, "m-c1", type=DatastreamType.EXTRACTED)
    )
    for state in (DatastreamState.PROCESSING, DatastreamState.COMPLETED):
        created = fleet.store.transition_datastream(
            datastream_id, state, expected_etag=str(created.etag)
        )
    return datastream_id


def test_a_key_without_the_write_role_gets_403_on_both_routes(
    host: FunctionHost, fleet: Fleet, index_zones: BlobZones
) -> None:
    """Listing and handing back are for the write role: a read key is refused, nothing moves."""
    _, record_id = _record(index_zones, fleet, "ds-x")
    read = {"x-functions-key": READ_KEY}
    listed = host.request("GET", "/api/deadletters", headers=read)
    redriven = host.request("POST", f"/api/deadletters/{record_id}/redrive", headers=read)
    assert (listed.status, redriven.status) == (403, 403)
    assert redriven.json()["detail"] == "this operation needs the write role"
    assert index_zones.get_info(Zone.ERROR, letter_path(record_id)).size > 0


def test_the_write_role_lists_records_by_function_and_measurement(
    host: FunctionHost, fleet: Fleet, index_zones: BlobZones
) -> None:
    """The answer names each record's id, function, reason, attempts, time and documents."""
    function, record_id = _record(index_zones, fleet, "ds-listed")
    write = {"x-functions-key": WRITE_KEY}
    page = host.request(
        "GET", "/api/deadletters", params={"function": function}, headers=write
    ).json()
    (item,) = page["items"]
    assert page["continuation"] is None
    assert item["id"] == record_id
    assert (item["function"], item["reason"], item["attempts"]) == (
        function,
        "RuntimeError: down",
        9,
    )
    assert item["time"]
    assert item["documents"] == [
        {
            "id": "ds-listed",
            "measurement_id": "m-c1",
            "type": "EXTRACTED",
            "state": "COMPLETED",
            "_etag": None,
            "_lsn": None,
        }
    ]
    other = host.request(
        "GET",
        "/api/deadletters",
        params={"function": function, "measurement": "m-a1"},
        headers=write,
    ).json()
    assert other["items"] == []
    bad = host.request("GET", "/api/deadletters", params={"measurement": "a/b"}, headers=write)
    assert bad.status == 400
    assert bad.json()["parameter"] == "measurement"


def test_a_redrive_that_cannot_start_its_step_keeps_the_record(
    host: FunctionHost, fleet: Fleet, index_zones: BlobZones
) -> None:
    """The app's Durable client reaches no host here: the answer says `failed` per document
    and the record stays pending with the attempt; bad and unknown ids are 400 and 404."""
    datastream_id = _completed_extracted(fleet)
    function, record_id = _record(index_zones, fleet, datastream_id)
    write = {"x-functions-key": WRITE_KEY}

    response = host.request("POST", f"/api/deadletters/{record_id}/redrive", headers=write)

    assert response.status == 200, response.body
    answer = response.json()
    assert answer["state"] == "failed"
    (outcome,) = answer["redrive"]["documents"]
    assert (outcome["datastream_id"], outcome["outcome"]) == (datastream_id, "failed")
    assert outcome["detail"].startswith("starting synchronize: ")
    assert answer["redrive"]["by"] == "key (write)"
    (kept,) = host.request(
        "GET", "/api/deadletters", params={"function": function}, headers=write
    ).json()["items"]
    assert [r["documents"][0]["outcome"] for r in kept["failed_redrives"]] == ["failed"]
    malformed = host.request("POST", "/api/deadletters/not-an-id/redrive", headers=write)
    assert (malformed.status, malformed.json()["parameter"]) == (400, "id")
    unknown = host.request(
        "POST",
        f"/api/deadletters/{function}.20200101.000000-0123456789abcdef/redrive",
        headers=write,
    )
    assert unknown.status == 404
