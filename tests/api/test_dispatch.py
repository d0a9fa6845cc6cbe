"""The dispatcher's error paths and the SAS signer's Azure path, without a store or a host."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

import pytest
from azure.storage.blob import ContainerClient, UserDelegationKey

from dataops.api import HANDLERS, ApiContext, ApiRequest, Locator, handle
from dataops.api.dispatch import Call, Reply
from dataops.api.starters import run_url
from dataops.errors import InvalidInputError, RetryableError
from dataops.paths import Zone
from dataops.storage import sas as sas_module
from tests.api.conftest import READ_KEY, api_settings
from tests.contract.conftest import make_datastream

SETTINGS = api_settings()


def _context(store: Any = None, locator: Any = None) -> ApiContext:
    return ApiContext(settings=lambda: SETTINGS, store=lambda: store, locator=lambda: locator)


def _request(route: str, **extra: Any) -> ApiRequest:
    return ApiRequest.build(
        method=extra.pop("method", "GET"),
        route=route,
        path="/api/" + route,
        headers={"X-Functions-Key": READ_KEY},
        **extra,
    )


def test_unknown_operation_is_a_404_problem() -> None:
    response = handle(_request("nothing"), _context(), HANDLERS)
    assert response.status == 404
    assert response.media_type == "application/problem+json"


def test_a_request_url_gives_its_origin_and_path_but_never_its_query() -> None:
    """Starters build Location from the origin: a caller's ?code= must not travel into it."""
    request = ApiRequest.from_url(
        method="post",
        route="measurements/{id}/rerun",
        url="https://app.example.net/api/measurements/m-1/rerun?code=SECRET-KEY",
        params={"code": "SECRET-KEY"},
    )
    assert request.origin == "https://app.example.net"
    assert request.path == "/api/measurements/m-1/rerun"
    assert request.method == "POST"
    assert run_url(request.origin, "ingest-1") == "https://app.example.net/api/runs/ingest-1"
    assert run_url("", "a b") == "/api/runs/a%20b"


def test_a_run_operation_without_the_durable_client_is_a_503_problem() -> None:
    """The sync dispatcher cannot await a run handler: it says so instead of failing late."""
    response = handle(_request("runs/{id}", route_params={"id": "ingest-1"}), _context(), HANDLERS)
    assert response.status == 503
    assert response.media_type == "application/problem+json"
    assert "getRun" in response.json()["detail"]


def test_health_answers_without_settings_store_or_key() -> None:
    """The liveness route must not touch what it would report on (settings included)."""

    def no_settings() -> Any:
        raise AssertionError("health read the settings")

    context = ApiContext(settings=no_settings, store=no_settings, locator=no_settings)
    request = ApiRequest.build(method="GET", route="health", path="/api/health")
    response = handle(request, context, HANDLERS)
    assert response.status == 200
    assert response.json()["status"] == "ok"


def test_a_busy_store_is_503_with_retry_after() -> None:
    class BusyStore:
        def query_measurements(self, query: object) -> object:
            raise RetryableError("database is locked")

    response = handle(_request("measurements"), _context(BusyStore()), HANDLERS)
    assert response.status == 503
    assert response.headers["Retry-After"] == "1"
    assert "locked" not in response.json()["detail"]


def test_a_bug_is_a_500_without_internals(caplog: pytest.LogCaptureFixture) -> None:
    def broken(context: ApiContext, call: Call) -> Reply:
        raise KeyError("secret internal detail")

    response = handle(
        _request("measurements"), _context(), {**HANDLERS, "listMeasurements": broken}
    )
    assert response.status == 500
    assert "secret" not in response.body.decode()
    assert "secret internal detail" in caplog.text


def test_header_names_are_case_blind() -> None:
    request = _request("measurements")
    assert request.headers == {"x-functions-key": READ_KEY}


class _FakeService:
    """Stands in for BlobServiceClient in Azure: hands out user delegation keys."""

    calls = 0

    def __init__(self, account_url: str, credential: object) -> None:
        self.account_url = account_url

    def get_user_delegation_key(self, start: datetime, expiry: datetime) -> UserDelegationKey:
        _FakeService.calls += 1
        key = UserDelegationKey()
        key.signed_oid = "00000000-0000-0000-0000-000000000001"
        key.signed_tid = "00000000-0000-0000-0000-000000000002"
        key.signed_start = start.strftime("%Y-%m-%dT%H:%M:%SZ")
        key.signed_expiry = expiry.strftime("%Y-%m-%dT%H:%M:%SZ")
        key.signed_service = "b"
        key.signed_version = "2025-01-05"
        key.value = base64.b64encode(b"k" * 32).decode()
        return key


class _NoTokens:
    """A token credential that is never asked (the fake service needs no token)."""

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        raise AssertionError("no token needed in this test")


class _FlatAccountContainer(ContainerClient):
    """A container of an account without hierarchical namespace (answered here, no request)."""

    def get_account_information(self, **kwargs: Any) -> dict[str, Any]:
        return {"is_hns_enabled": False, "account_kind": "StorageV2"}


class _TokenZones:
    """ZoneClients of a flat-namespace account reached with a token credential (no key)."""

    chunk_size = 1024

    def container(self, zone: Zone) -> ContainerClient:
        return _FlatAccountContainer(
            "https://stavopsraw.blob.core.windows.net", zone.value, credential=_NoTokens()
        )

    def copy_source_url(self, source_zone: Zone, path: str, destination_zone: Zone) -> str:
        raise AssertionError("not used")

    def server_side_copy(self, source_zone: Zone, destination_zone: Zone) -> bool:
        raise AssertionError("not used")

    def close(self) -> None:
        """Nothing to close."""


def test_azure_sas_is_signed_with_a_cached_user_delegation_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The locator asks for its keys through dataops.storage.sas.user_delegation_key.
    monkeypatch.setattr(sas_module, "BlobServiceClient", _FakeService)
    _FakeService.calls = 0
    now = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)
    locator = Locator(_TokenZones(), sas_minutes=10, clock=lambda: now)
    datastream = make_datastream("ds-1", "m-1")
    blob = locator.locate(datastream, "a.mcap", with_sas=True)
    prefix = locator.locate(datastream, None, with_sas=True)
    assert _FakeService.calls == 1
    assert blob.sas is not None
    assert prefix.sas is not None
    query = parse_qs(blob.sas.token)
    assert query["sp"] == ["r"]
    assert query["sr"] == ["b"]
    assert query["skoid"] == ["00000000-0000-0000-0000-000000000001"]
    assert query["se"] == [(now + timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M:%SZ")]
    assert blob.url == f"https://stavopsraw.blob.core.windows.net/raw/{datastream.path}/a.mcap"
    prefix_query = parse_qs(prefix.sas.token)
    assert prefix_query["sp"] == ["rl"]
    assert prefix_query["sr"] == ["c"]
    assert prefix.sas.url.startswith(
        "https://stavopsraw.blob.core.windows.net/raw?restype=container&comp=list"
        f"&prefix={datastream.path}/&"
    )


def test_sas_lifetime_is_capped() -> None:
    with pytest.raises(InvalidInputError, match="between 1 and 60"):
        Locator(_TokenZones(), sas_minutes=61)
