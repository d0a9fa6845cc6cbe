"""Unsafe paths never reach storage; azure.core errors map onto the dataops family."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from azure.core.exceptions import (
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseTimeoutError,
)
from azure.core.pipeline.transport import RequestsTransport

from dataops.errors import (
    ConflictError,
    DataOpsError,
    EtagMismatchError,
    InvalidPathError,
    NotFoundError,
    RetryableError,
    TerminalError,
)
from dataops.paths import Zone
from dataops.settings import Settings
from dataops.storage import BlobZones, StorageConfigError, map_azure_error

pytestmark = pytest.mark.azurite

BAD_PATHS = ["../x", "/abs", "a\\b", "%2e%2e/x", "a/\x00b", "a//b", "a/./b"]


def _operations(zones: BlobZones, bad: str, tmp_path: Path) -> list[Callable[[], Any]]:
    local = tmp_path / "f.bin"
    local.write_bytes(b"data")
    return [
        lambda: zones.sha256(Zone.LANDING, bad),
        lambda: zones.get_info(Zone.LANDING, bad),
        lambda: zones.copy(Zone.LANDING, bad, Zone.RAW, "ok/path", source_etag="e"),
        lambda: zones.copy(Zone.LANDING, "ok/path", Zone.RAW, bad, source_etag="e"),
        lambda: zones.delete(Zone.LANDING, bad, etag="e"),
        lambda: zones.read_bytes(Zone.LANDING, bad, max_bytes=10),
        lambda: zones.write_json(Zone.LANDING, bad, {}),
        lambda: zones.upload_file(Zone.LANDING, bad, local),
        lambda: zones.upload_directory(Zone.LANDING, bad, tmp_path),
        lambda: zones.list_blobs(Zone.LANDING, bad),  # raises on call, before iteration
        lambda: zones.move_to_error(Zone.LANDING, bad, step="s", reason="r"),
    ]


@pytest.mark.parametrize("bad", BAD_PATHS)
def test_unsafe_paths_are_rejected_without_a_request(
    blob_zones: BlobZones, bad: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    requests: list[str] = []

    def no_request(self: RequestsTransport, request: Any, **kwargs: Any) -> Any:
        requests.append(f"{request.method} {request.url}")
        raise AssertionError("a request was sent for an unsafe path")

    monkeypatch.setattr(RequestsTransport, "send", no_request)
    for operation in _operations(blob_zones, bad, tmp_path):
        with pytest.raises(InvalidPathError):
            operation()
    assert requests == []


@pytest.mark.parametrize(
    ("azure_error", "expected"),
    [
        (ResourceNotFoundError("gone"), NotFoundError),
        (ResourceModifiedError("changed"), EtagMismatchError),
        (ResourceExistsError("exists"), ConflictError),
        (ServiceRequestError("connection refused"), RetryableError),
        (ServiceResponseTimeoutError("read timeout"), RetryableError),
    ],
)
def test_azure_errors_map_by_class(azure_error: Any, expected: type[DataOpsError]) -> None:
    mapped = map_azure_error(azure_error, where="raw/a.bin")
    assert type(mapped) is expected
    assert "raw/a.bin" in str(mapped)


class _Response:
    def __init__(self, status: int) -> None:
        self.status_code = status
        self.reason = "reason"
        self.headers: dict[str, str] = {}

    def text(self) -> str:
        return ""


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (412, EtagMismatchError),
        (429, RetryableError),
        (500, RetryableError),
        (503, RetryableError),
        (400, TerminalError),
    ],
)
def test_azure_errors_map_by_status(status: int, expected: type[DataOpsError]) -> None:
    error = HttpResponseError(message="x", response=_Response(status))  # type: ignore[arg-type]
    assert type(map_azure_error(error, where="w")) is expected


def test_translation_keeps_the_cause(blob_zones: BlobZones) -> None:
    with pytest.raises(NotFoundError) as caught:
        blob_zones.get_info(Zone.RAW, "no/such.bin")
    assert isinstance(caught.value.__cause__, ResourceNotFoundError)


def test_settings_without_storage_is_a_config_error() -> None:
    with pytest.raises(StorageConfigError):
        BlobZones.from_settings(Settings(storage_connection_string=None, storage_account_urls={}))
    with pytest.raises(StorageConfigError, match="unknown zone"):
        BlobZones.from_settings(Settings(storage_account_urls={"bogus": "https://x"}))


def test_from_settings_with_connection_string(azurite: Any) -> None:
    settings = Settings(storage_connection_string=azurite.connection_string)
    with BlobZones.from_settings(settings, container_prefix="fromsettings-") as zones:
        zones.ensure_containers([Zone.LANDING])
        zones.ensure_containers([Zone.LANDING])  # idempotent
        etag = zones.write_bytes(Zone.LANDING, "a/b.txt", b"hi")
        assert zones.get_info(Zone.LANDING, "a/b.txt").etag == etag
        assert zones.container_name(Zone.LANDING) == "fromsettings-landing"
