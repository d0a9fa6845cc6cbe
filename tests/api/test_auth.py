"""Roles on top of the function key: 401 without a known key, 403 below the needed role."""

from __future__ import annotations

import base64
import json

import pytest

from activities import runtime
from dataops.api import ROUTES, Operation
from dataops.api.routes import HTML
from tests.api.conftest import READ_KEY, WRITE_KEY, Fleet, api_settings, new_datastream
from tests.api.function_host import FunctionHost

KEYED = [op for op in ROUTES if op.role is not None]


def _url(route: str, fleet: Fleet) -> str:
    return "/api/" + route.replace("{id}", fleet.raw if "datastreams" in route else "m-a1")


def _params(route: str, fleet: Fleet) -> dict[str, str]:
    return {"datastream": fleet.raw} if route == "locations" else {}


def principal(*roles: str, role_type: str = "roles") -> str:
    """An X-MS-CLIENT-PRINCIPAL header value as App Service authentication builds it."""
    body = {
        "auth_typ": "aad",
        "name_typ": "name",
        "role_typ": role_type,
        "claims": [
            {"typ": "name", "val": "someone"},
            *({"typ": role_type, "val": r} for r in roles),
        ],
    }
    return base64.b64encode(json.dumps(body).encode()).decode()


@pytest.mark.parametrize("operation", KEYED, ids=lambda op: op.operation_id)
@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"x-functions-key": "wrong"},
        {"x-functions-key": ""},
        {"x-functions-key": READ_KEY + "x"},
    ],
    ids=["none", "wrong", "empty", "longer"],
)
def test_no_or_wrong_key_is_401_on_every_keyed_route(
    host: FunctionHost, fleet: Fleet, operation: Operation, headers: dict[str, str]
) -> None:
    response = host.request(
        operation.method,
        _url(operation.route, fleet),
        params=_params(operation.route, fleet),
        headers={**headers, "content-type": "application/json"},
        body=b'{"state": "FAILED"}',
    )
    assert response.status == 401
    if operation.browser and operation.media_type == HTML:
        # An explorer page answers with the login page: a form, never data.
        assert response.media_type == HTML
        assert "<form method='get' action='/api/explorer' id='login'>" in response.body.decode()
    else:
        assert response.media_type == "application/problem+json"
        assert response.json()["status"] == 401


def test_read_key_on_the_write_route_is_403(host: FunctionHost, fleet: Fleet) -> None:
    datastream_id = new_datastream(fleet)
    etag = host.request(
        "GET", f"/api/datastreams/{datastream_id}", headers={"x-functions-key": READ_KEY}
    ).headers["etag"]
    response = host.request(
        "PATCH",
        f"/api/datastreams/{datastream_id}",
        headers={"x-functions-key": READ_KEY, "content-type": "application/json", "if-match": etag},
        body=b'{"state": "FAILED"}',
    )
    assert response.status == 403
    assert response.json()["type"].endswith("/forbidden")
    state = host.request(
        "GET", f"/api/datastreams/{datastream_id}", headers={"x-functions-key": WRITE_KEY}
    ).json()["state"]
    assert state == "CREATED"


def test_key_as_code_parameter_and_write_key_reads(host: FunctionHost, fleet: Fleet) -> None:
    by_code = host.request("GET", "/api/measurements", params={"code": READ_KEY})
    assert by_code.status == 200
    assert host.request("GET", "/api/scenes", headers={"X-Functions-Key": WRITE_KEY}).status == 200


def test_documents_need_no_key(host: FunctionHost) -> None:
    assert host.request("GET", "/api/openapi.json").status == 200
    assert host.request("GET", "/api/docs").status == 200


@pytest.fixture
def trusting_host(fleet: Fleet, monkeypatch: pytest.MonkeyPatch) -> FunctionHost:
    """A host whose settings trust App Service authentication's principal header."""
    settings = api_settings(api_trust_client_principal=True)
    monkeypatch.setattr(runtime, "settings", lambda: settings)
    monkeypatch.setattr(runtime, "metadata_store", lambda: fleet.store)
    return FunctionHost()


def test_principal_roles_decide_when_trusted(trusting_host: FunctionHost, fleet: Fleet) -> None:
    header = "x-ms-client-principal"
    reader = {header: principal("DataOps.Read")}
    assert trusting_host.request("GET", "/api/measurements", headers=reader).status == 200
    datastream_id = new_datastream(fleet)
    etag = trusting_host.request(
        "GET", f"/api/datastreams/{datastream_id}", headers=reader
    ).headers["etag"]
    body = b'{"state": "COPYING"}'
    common = {"content-type": "application/json", "if-match": etag}
    denied = trusting_host.request(
        "PATCH", f"/api/datastreams/{datastream_id}", headers={**reader, **common}, body=body
    )
    assert denied.status == 403
    writer = {
        header: principal(
            "DataOps.Write",
            role_type="http://schemas.microsoft.com/ws/2008/06/identity/claims/role",
        )
    }
    allowed = trusting_host.request(
        "PATCH", f"/api/datastreams/{datastream_id}", headers={**writer, **common}, body=body
    )
    assert allowed.status == 200
    nobody = {header: principal()}
    assert trusting_host.request("GET", "/api/measurements", headers=nobody).status == 403
    for garbage in ("not base64!", base64.b64encode(b"[1, 2]").decode(), "e30="):
        response = trusting_host.request("GET", "/api/measurements", headers={header: garbage})
        assert response.status == 401, garbage


def test_principal_header_is_ignored_unless_trusted(host: FunctionHost) -> None:
    forged = {"x-ms-client-principal": principal("DataOps.Write")}
    assert host.request("GET", "/api/measurements", headers=forged).status == 401
