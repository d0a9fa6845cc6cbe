"""The SAS a datastream prefix gets in Azure: a directory SAS, not the whole container.

Azure's zone accounts have hierarchical namespace; Azurite has none, so the shape of the
Azure requests and of the token is checked here against a recording stand-in for the two
calls the locator makes (account information, user delegation key).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

from azure.core.credentials import AccessToken
from azure.core.pipeline.transport import HttpRequest, HttpResponse, HttpTransport
from azure.core.utils import CaseInsensitiveDict
from azure.storage.blob import ContainerClient

from dataops.api.locations import Locator
from dataops.api.models import SasScope
from dataops.paths import Zone
from tests.contract.conftest import make_datastream

ACCOUNT_URL = "https://stavopsraw.blob.core.windows.net"
NOW = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)
DELEGATION_KEY = """<?xml version="1.0" encoding="utf-8"?>
<UserDelegationKey><SignedOid>11111111-1111-1111-1111-111111111111</SignedOid>
<SignedTid>22222222-2222-2222-2222-222222222222</SignedTid>
<SignedStart>2026-05-04T11:55:00Z</SignedStart><SignedExpiry>2026-05-04T13:55:00Z</SignedExpiry>
<SignedService>b</SignedService><SignedVersion>2025-01-05</SignedVersion>
<Value>a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2U=</Value></UserDelegationKey>"""


class _Response(HttpResponse):
    def __init__(self, request: HttpRequest, status: int, headers: dict[str, str], body: bytes):
        super().__init__(request, None)
        self.status_code = status
        self.headers = CaseInsensitiveDict(headers)
        self.reason = "OK"
        self.content_type = headers.get("Content-Type")
        self._body = body

    def body(self) -> bytes:
        return self._body


class RecordingAzure(HttpTransport):  # type: ignore[type-arg]
    """Answers GetAccountInfo (HNS on or off) and GetUserDelegationKey; records each request."""

    def __init__(self, *, hns: bool) -> None:
        self.hns = hns
        self.requests: list[tuple[str, str]] = []

    def send(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:
        self.requests.append((request.method, request.url))
        query = parse_qs(urlsplit(request.url).query)
        base = {"x-ms-version": "2025-01-05", "x-ms-request-id": "r"}
        if query.get("comp") == ["properties"] and query.get("restype") == ["account"]:
            headers = {
                **base,
                "x-ms-sku-name": "Standard_LRS",
                "x-ms-account-kind": "StorageV2",
                "x-ms-is-hns-enabled": "true" if self.hns else "false",
            }
            return _Response(request, 200, headers, b"")
        if query.get("comp") == ["userdelegationkey"]:
            headers = {**base, "Content-Type": "application/xml"}
            return _Response(request, 200, headers, DELEGATION_KEY.encode())
        return _Response(request, 400, base, b"unexpected request")

    def open(self) -> None:
        """Nothing to open."""

    def close(self) -> None:
        """Nothing to close."""

    def __enter__(self) -> RecordingAzure:
        return self

    def __exit__(self, *args: object) -> None:
        return None


class _Credential:
    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken("token", int((datetime.now(UTC) + timedelta(hours=1)).timestamp()))


class _Zones:
    def __init__(self, transport: RecordingAzure) -> None:
        self.transport = transport

    def container(self, zone: Zone) -> ContainerClient:
        return ContainerClient(
            ACCOUNT_URL, zone.value, credential=_Credential(), transport=self.transport
        )


def _locate(hns: bool, path: str | None = None) -> tuple[Any, RecordingAzure]:
    transport = RecordingAzure(hns=hns)
    zones: Any = _Zones(transport)
    locator = Locator(zones, sas_minutes=15, clock=lambda: NOW, transport=transport)
    datastream = make_datastream("ds-raw", "m-a1")
    return locator.locate(datastream, path, with_sas=True), transport


def test_prefix_sas_on_an_hns_account_is_a_directory_sas_of_the_datastream() -> None:
    """sr=d for the datastream's directory, sdd its depth, permissions r and l only, expiry."""
    location, transport = _locate(hns=True)
    sas = location.sas
    assert sas.scope is SasScope.DIRECTORY
    assert sas.permissions == "rl"
    assert sas.expires_at == NOW + timedelta(minutes=15)
    token = parse_qs(sas.token)
    assert token["sr"] == ["d"]
    assert token["sdd"] == ["6"]  # 2024/05/01/VIN-1/m-a1/ds-raw
    assert token["sp"] == ["rl"]
    assert token["se"] == ["2026-05-04T12:15:00Z"]
    assert token["st"] == ["2026-05-04T11:55:00Z"]
    assert token["skoid"] == ["11111111-1111-1111-1111-111111111111"]  # user delegation
    assert "sig" in token
    # The listing URL lists only the datastream's prefix.
    assert sas.url.startswith(
        f"{ACCOUNT_URL}/raw?restype=container&comp=list&prefix=2024/05/01/VIN-1/m-a1/ds-raw/&"
    )
    requests = [
        (method, urlsplit(url).path, parse_qs(urlsplit(url).query))
        for method, url in transport.requests
    ]
    assert [(m, p, q["restype"], q["comp"]) for m, p, q in requests] == [
        ("POST", "/", ["service"], ["userdelegationkey"]),
        ("GET", "/raw", ["account"], ["properties"]),
    ]


def test_prefix_sas_without_hns_is_honestly_a_container_sas() -> None:
    """No hierarchical namespace (like Azurite): the grant says it covers the container."""
    location, _ = _locate(hns=False)
    assert location.sas.scope is SasScope.CONTAINER
    token = parse_qs(location.sas.token)
    assert token["sr"] == ["c"]
    assert token["sp"] == ["rl"]
    assert "sdd" not in token


def test_one_blob_gets_a_read_only_blob_sas() -> None:
    """A single blob: sr=b, permission r, no account information needed."""
    location, transport = _locate(hns=True, path="file-01.mcap")
    token = parse_qs(location.sas.token)
    assert location.sas.scope is SasScope.BLOB
    assert token["sr"] == ["b"]
    assert token["sp"] == ["r"]
    assert all("restype=account" not in url for _, url in transport.requests)


def test_account_information_is_asked_once_per_account() -> None:
    """The HNS answer is cached: a second prefix SAS makes no new account request."""
    transport = RecordingAzure(hns=True)
    zones: Any = _Zones(transport)
    locator = Locator(zones, sas_minutes=15, clock=lambda: NOW, transport=transport)
    for name in ("ds-raw", "ds-other"):
        locator.locate(make_datastream(name, "m-a1"), None, with_sas=True)
    assert sum("restype=account" in url for _, url in transport.requests) == 1
