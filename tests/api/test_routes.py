"""Every route on both store backends, through the app's real HTTP functions."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.api.conftest import Fleet, new_datastream, read, write
from tests.api.function_host import FunctionHost, HostResponse

PROBLEM = "application/problem+json"


def get(host: FunctionHost, url: str, /, **params: Any) -> HostResponse:
    """GET with the read key."""
    return host.request("GET", url, params={k: str(v) for k, v in params.items()}, headers=read())


def ok(response: HostResponse) -> Any:
    """The JSON body of a 200 answer."""
    assert response.status == 200, response.body
    assert response.media_type == "application/json"
    return response.json()


def problem(response: HostResponse, status: int, parameter: str | None = None) -> Any:
    """The problem document of an error answer, checked."""
    assert response.status == status, response.body
    assert response.media_type == PROBLEM
    body = response.json()
    assert body["status"] == status
    assert body["type"].startswith("https://")
    if parameter is not None:
        assert body.get("parameter") == parameter, body
    return body


def one_page_of(host: FunctionHost, url: str, key: str, /, **params: Any) -> list[Any]:
    """``key`` of every item of ``url``'s answer, checked to be all of it (no continuation)."""
    body = ok(get(host, url, limit=1000, **params))
    assert body["continuation"] is None
    return [item[key] for item in body["items"]]


# measurements ---------------------------------------------------------------------------


def pages(host: FunctionHost, url: str, *, limit: int, most: int) -> list[Any]:
    """The bodies of ``url``'s pages of ``limit`` items, following the continuation tokens
    until the last page (at most ``most`` pages)."""
    bodies: list[Any] = []
    continuation: str | None = None
    for _ in range(most):
        params: dict[str, Any] = {"limit": limit}
        if continuation:
            params["continuation"] = continuation
        bodies.append(ok(get(host, url, **params)))
        continuation = bodies[-1]["continuation"]
        if continuation is None:
            break
    return bodies


def test_measurements_newest_first(host: FunctionHost) -> None:
    body = ok(get(host, "/api/measurements"))
    assert [m["id"] for m in body["items"]] == ["m-c2", "m-c1", "m-b1", "m-a2", "m-a1"]
    assert body["continuation"] is None


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"vehicle": "VIN-A"}, ["m-a2", "m-a1"]),
        ({"tag": "highway"}, ["m-b1", "m-a1"]),
        ({"state": "INGESTED"}, ["m-a1"]),
        ({"from": "2024-05-01T13:30:00Z"}, ["m-c2", "m-c1"]),
        ({"to": "2024-05-01T10:30:00+00:00"}, ["m-a2", "m-a1"]),
        ({"vehicle": "VIN-C", "tag": "night"}, ["m-c2"]),
        ({"vehicle": "VIN-Z"}, []),
    ],
)
def test_measurement_filters(
    host: FunctionHost, params: dict[str, str], expected: list[str]
) -> None:
    body = ok(get(host, "/api/measurements", **params))
    assert [m["id"] for m in body["items"]] == expected


def test_measurement_pages_cover_everything_once(host: FunctionHost) -> None:
    bodies = pages(host, "/api/measurements", limit=2, most=10)
    seen = [m["id"] for body in bodies for m in body["items"]]
    assert seen == ["m-c2", "m-c1", "m-b1", "m-a2", "m-a1"]


def test_continuation_of_other_filters_is_refused(host: FunctionHost) -> None:
    token = ok(get(host, "/api/measurements", limit=1))["continuation"]
    problem(
        get(host, "/api/measurements", limit=1, vehicle="VIN-A", continuation=token),
        400,
        "continuation",
    )


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "1001"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"from": "yesterday"}, "from"),
        ({"from": "2024-05-01T10:00:00"}, "from"),
        ({"state": "DONE"}, "state"),
        ({"vehicle": "vin-a"}, "vehicle"),
        ({"vehical": "VIN-A"}, "vehical"),
        ({"continuation": "not a token"}, "continuation"),
        ({"continuation": "eyJ2IjoxfQ"}, "continuation"),
    ],
)
def test_bad_measurement_queries_name_the_parameter(
    host: FunctionHost, params: dict[str, str], parameter: str
) -> None:
    problem(get(host, "/api/measurements", **params), 400, parameter)


def test_from_after_to_is_a_400(host: FunctionHost) -> None:
    body = problem(
        get(
            host,
            "/api/measurements",
            **{"from": "2024-05-02T00:00:00Z", "to": "2024-05-01T00:00:00Z"},
        ),
        400,
    )
    assert "before" in body["detail"]


def test_measurement_detail_summarises_datastreams(host: FunctionHost, fleet: Fleet) -> None:
    body = ok(get(host, "/api/measurements/m-a1"))
    assert body["measurement"]["id"] == "m-a1"
    assert body["measurement"]["vehicle_id"] == "VIN-A"
    summary = {d["id"]: d for d in body["datastreams"]}
    assert {fleet.raw, fleet.extracted, fleet.synchronized} <= set(summary)
    assert summary[fleet.raw]["file_count"] == 7
    assert summary[fleet.extracted]["type"] == "EXTRACTED"
    assert sum(body["datastream_states"].values()) == len(body["datastreams"])


def test_unknown_and_malformed_measurement_ids(host: FunctionHost) -> None:
    problem(get(host, "/api/measurements/m-none"), 404)
    problem(get(host, "/api/measurements/%2E%2E"), 400, "id")
    problem(get(host, "/api/measurements/" + "x" * 200), 400, "id")


def test_measurement_datastreams(host: FunctionHost, fleet: Fleet) -> None:
    body = ok(get(host, "/api/measurements/m-a1/datastreams"))
    assert body["measurement_id"] == "m-a1"
    ids = [d["id"] for d in body["items"]]
    assert ids[:3] == [fleet.raw, fleet.extracted, fleet.synchronized]
    typed = ok(get(host, "/api/measurements/m-a1/datastreams", type="EXTRACTED"))
    assert [d["id"] for d in typed["items"]] == [fleet.extracted]
    problem(get(host, "/api/measurements/m-none/datastreams"), 404)
    problem(get(host, "/api/measurements/m-a1/datastreams", type="RAWISH"), 400, "type")


def test_measurement_files_in_pages(host: FunctionHost) -> None:
    """The manifest's file records of a measurement, in path order, a page at a time."""
    detail = ok(get(host, "/api/measurements/m-a1"))["measurement"]
    assert (detail["file_count"], detail["total_bytes"], "files" in detail) == (5, 60, False)
    bodies = pages(host, "/api/measurements/m-a1/files", limit=2, most=5)
    assert {body["measurement_id"] for body in bodies} == {"m-a1"}
    assert max(len(body["items"]) for body in bodies) <= 2
    paths = [f["path"] for body in bodies for f in body["items"]]
    assert paths == [f"drive/part-{i}.mcap" for i in range(5)]
    assert ok(get(host, "/api/measurements/m-a2/files"))["items"] == []
    problem(get(host, "/api/measurements/m-none/files"), 404)
    problem(get(host, "/api/measurements/m-a1/files", limit="0"), 400, "limit")


# datastreams ----------------------------------------------------------------------------


def test_datastream_with_etag(host: FunctionHost, fleet: Fleet) -> None:
    response = get(host, f"/api/datastreams/{fleet.extracted}")
    body = ok(response)
    assert body["id"] == fleet.extracted
    assert body["sources"] == [fleet.raw]
    assert response.headers["etag"] == f'"{body["etag"]}"'
    problem(get(host, "/api/datastreams/ds-none"), 404)


def test_datastream_files_in_pages(host: FunctionHost, fleet: Fleet) -> None:
    bodies = pages(host, f"/api/datastreams/{fleet.raw}/files", limit=3, most=5)
    assert {body["datastream_id"] for body in bodies} == {fleet.raw}
    paths = [f["path"] for body in bodies for f in body["items"]]
    assert paths == [f"file-{i:02d}.mcap" for i in range(7)]
    problem(get(host, "/api/datastreams/ds-none/files"), 404)
    problem(get(host, f"/api/datastreams/{fleet.raw}/files", limit="-1"), 400, "limit")


def test_lineage_up_down_and_depth(host: FunctionHost, fleet: Fleet) -> None:
    up = ok(get(host, f"/api/datastreams/{fleet.synchronized}/lineage", direction="up"))
    assert up["root"] == fleet.synchronized
    assert up["nodes"][0]["id"] == fleet.synchronized
    assert {n["id"] for n in up["nodes"]} == {fleet.synchronized, fleet.extracted, fleet.raw}
    assert {(e["source"], e["target"]) for e in up["edges"]} == {
        (fleet.raw, fleet.extracted),
        (fleet.extracted, fleet.synchronized),
    }
    down = ok(get(host, f"/api/datastreams/{fleet.raw}/lineage", direction="down", depth=1))
    assert {n["id"] for n in down["nodes"]} == {fleet.raw, fleet.extracted}
    assert down["truncated"] is True
    both = ok(get(host, f"/api/datastreams/{fleet.extracted}/lineage"))
    assert both["direction"] == "both"
    assert {n["id"] for n in both["nodes"]} == {fleet.raw, fleet.extracted, fleet.synchronized}


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"direction": "sideways"}, "direction"),
        ({"depth": "33"}, "depth"),
        ({"depth": "-1"}, "depth"),
    ],
)
def test_bad_lineage_queries(
    host: FunctionHost, fleet: Fleet, params: dict[str, str], parameter: str
) -> None:
    problem(get(host, f"/api/datastreams/{fleet.raw}/lineage", **params), 400, parameter)


def test_lineage_of_unknown_datastream(host: FunctionHost) -> None:
    problem(get(host, "/api/datastreams/ds-none/lineage"), 404)


# state changes --------------------------------------------------------------------------


def patch(
    host: FunctionHost, datastream_id: str, body: Any, *, etag: str | None, key: dict[str, str]
) -> HostResponse:
    headers = {**key, "content-type": "application/json"}
    if etag is not None:
        headers["if-match"] = etag
    return host.request(
        "PATCH",
        f"/api/datastreams/{datastream_id}",
        headers=headers,
        body=json.dumps(body).encode(),
    )


def test_patch_walks_the_state_machine(host: FunctionHost, fleet: Fleet) -> None:
    datastream_id = new_datastream(fleet)
    etag = get(host, f"/api/datastreams/{datastream_id}").headers["etag"]
    moved = patch(host, datastream_id, {"state": "PROCESSING"}, etag=etag, key=write())
    body = ok(moved)
    assert body["state"] == "PROCESSING"
    assert moved.headers["etag"] != etag
    done = patch(
        host,
        datastream_id,
        {"state": "COMPLETED", "stats": {"frames": 12}},
        etag=moved.headers["etag"],
        key=write(),
    )
    assert ok(done)["stats"] == {"frames": 12}
    assert ok(get(host, f"/api/datastreams/{datastream_id}"))["state"] == "COMPLETED"


def test_patch_with_stale_etag_is_412(host: FunctionHost, fleet: Fleet) -> None:
    datastream_id = new_datastream(fleet)
    etag = get(host, f"/api/datastreams/{datastream_id}").headers["etag"]
    ok(patch(host, datastream_id, {"state": "COPYING"}, etag=etag, key=write()))
    problem(
        patch(host, datastream_id, {"state": "FAILED"}, etag=etag, key=write()), 412, "If-Match"
    )


def test_patch_refuses_a_transition_the_machine_forbids(host: FunctionHost, fleet: Fleet) -> None:
    datastream_id = new_datastream(fleet)
    etag = get(host, f"/api/datastreams/{datastream_id}").headers["etag"]
    body = problem(patch(host, datastream_id, {"state": "COMPLETED"}, etag=etag, key=write()), 409)
    assert "CREATED" in body["detail"]


def test_patch_needs_if_match_json_and_a_valid_body(host: FunctionHost, fleet: Fleet) -> None:
    datastream_id = new_datastream(fleet)
    etag = get(host, f"/api/datastreams/{datastream_id}").headers["etag"]
    problem(
        patch(host, datastream_id, {"state": "COPYING"}, etag=None, key=write()), 428, "If-Match"
    )
    problem(
        patch(host, datastream_id, {"state": "COPYING"}, etag="*", key=write()), 400, "If-Match"
    )
    problem(
        patch(host, datastream_id, {"state": "DONE"}, etag=etag, key=write()), 400, "body.state"
    )
    problem(
        patch(host, datastream_id, {"state": "COPYING", "owner": "x"}, etag=etag, key=write()),
        400,
        "body.owner",
    )
    text = host.request(
        "PATCH",
        f"/api/datastreams/{datastream_id}",
        headers={**write(), "content-type": "text/plain", "if-match": etag},
        body=b"state=COPYING",
    )
    problem(text, 415, "Content-Type")
    problem(patch(host, "ds-none", {"state": "COPYING"}, etag=etag, key=write()), 404)
    # Nothing above changed it.
    assert ok(get(host, f"/api/datastreams/{datastream_id}"))["state"] == "CREATED"


# locations ------------------------------------------------------------------------------


def test_location_of_a_datastream_prefix(host: FunctionHost, fleet: Fleet) -> None:
    body = ok(get(host, "/api/locations", datastream=fleet.raw))
    assert body["zone"] == "raw"
    assert body["container"] == "raw"
    assert body["is_prefix"] is True
    assert body["path"] == f"2024/05/01/VIN-1/m-a1/{fleet.raw}/"
    assert body["url"].endswith(f"/raw/2024/05/01/VIN-1/m-a1/{fleet.raw}/")
    assert body["sas"] is None


def test_location_of_one_blob_with_sas(host: FunctionHost, fleet: Fleet) -> None:
    response = get(host, "/api/locations", datastream=fleet.raw, path="file-01.mcap", sas="true")
    body = ok(response)
    assert body["path"] == f"2024/05/01/VIN-1/m-a1/{fleet.raw}/file-01.mcap"
    assert body["sas"]["scope"] == "blob"
    assert body["sas"]["permissions"] == "r"
    assert "sp=r&" in body["sas"]["token"]
    assert body["sas"]["url"].startswith(body["url"] + "?")
    assert response.headers["cache-control"] == "no-store"


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"datastream": "ds-raw", "path": "../other/secret.mcap"}, "path"),
        ({"datastream": "ds-raw", "path": "/etc/passwd"}, "path"),
        ({"datastream": "ds-raw", "path": "a/%2e%2e/b"}, "path"),
        ({"datastream": "ds-raw", "path": "a\\b"}, "path"),
        ({"datastream": "../ds-raw"}, "datastream"),
        ({}, "datastream"),
        ({"datastream": "ds-raw", "sas": "maybe"}, "sas"),
    ],
)
def test_bad_location_queries(host: FunctionHost, params: dict[str, str], parameter: str) -> None:
    problem(get(host, "/api/locations", **params), 400, parameter)


def test_location_of_unknown_datastream(host: FunctionHost) -> None:
    problem(get(host, "/api/locations", datastream="ds-none"), 404)


# scenes ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, ["sc-1", "sc-2", "sc-3"]),
        ({"type": "pedestrian"}, ["sc-1", "sc-3"]),
        ({"vehicle": "VIN-B"}, ["sc-3"]),
        ({"measurement": "m-a1"}, ["sc-1", "sc-2"]),
        ({"from": "2024-05-01T08:01:00Z", "to": "2024-05-01T12:00:00Z"}, ["sc-2", "sc-3"]),
        ({"type": "unicorn"}, []),
    ],
)
def test_scene_filters(host: FunctionHost, params: dict[str, str], expected: list[str]) -> None:
    body = ok(get(host, "/api/scenes", **params))
    assert [s["id"] for s in body["items"]] == expected


def test_scene_pages(host: FunctionHost) -> None:
    first = ok(get(host, "/api/scenes", limit=2))
    second = ok(get(host, "/api/scenes", limit=2, continuation=first["continuation"]))
    assert [s["id"] for s in first["items"] + second["items"]] == ["sc-1", "sc-2", "sc-3"]
    assert second["continuation"] is None
    problem(get(host, "/api/scenes", type="Pedestrian"), 400, "type")
