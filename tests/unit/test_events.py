"""Only a finished manifest write in landing starts ingest; both event schemas are understood."""

from __future__ import annotations

from typing import Any

import pytest

from dataops.errors import InvalidInputError, InvalidPathError
from dataops.events import landing_upload_prefix, parse_blob_event


def eventgrid(name: str, *, container: str = "landing", **data: Any) -> dict[str, Any]:
    body = {"api": "PutBlob", "contentLength": 512, "eTag": "0x8D", "blobType": "BlockBlob"}
    body.update(data)
    return {
        "id": "e1",
        "topic": "/subscriptions/s/resourceGroups/r/providers/Microsoft.Storage/storageAccounts/a",
        "subject": f"/blobServices/default/containers/{container}/blobs/{name}",
        "eventType": "Microsoft.Storage.BlobCreated",
        "eventTime": "2026-05-04T10:00:00Z",
        "dataVersion": "",
        "metadataVersion": "1",
        "data": body,
    }


def cloudevent(name: str) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": "c1",
        "type": "Microsoft.Storage.BlobCreated",
        "source": "/subscriptions/s/.../storageAccounts/a",
        "subject": f"/blobServices/default/containers/landing/blobs/{name}",
        "time": "2026-05-04T10:00:00Z",
        "data": {"api": "PutBlockList", "contentLength": 99},
    }


def prefix_of(payload: dict[str, Any]) -> str | None:
    return landing_upload_prefix(parse_blob_event(payload), "landing")


def test_manifest_put_in_landing_yields_its_prefix() -> None:
    assert prefix_of(eventgrid("VIN1/2026-05-04/manifest.json")) == "VIN1/2026-05-04"


def test_cloudevents_schema_is_understood() -> None:
    event = parse_blob_event(cloudevent("up/7/manifest.json"))
    assert event.schema_name == "cloudevents"
    assert landing_upload_prefix(event, "landing") == "up/7"


@pytest.mark.parametrize(
    "payload",
    [
        eventgrid("up/data.mcap"),
        eventgrid("up/manifest.json.tmp"),
        eventgrid("up/mymanifest.json"),
        eventgrid("manifest.json"),
        eventgrid("up/manifest.json", container="raw"),
        eventgrid("up/manifest.json", api="PutBlock"),
        eventgrid("up/manifest.json", contentLength=0),
        {**eventgrid("up/manifest.json"), "eventType": "Microsoft.Storage.BlobDeleted"},
    ],
)
def test_everything_else_is_ignored(payload: dict[str, Any]) -> None:
    assert prefix_of(payload) is None


@pytest.mark.parametrize("api", ["PutBlob", "PutBlockList", "CopyBlob", "FlushWithClose"])
def test_each_completing_api_counts(api: str) -> None:
    assert prefix_of(eventgrid("up/manifest.json", api=api)) == "up"


@pytest.mark.parametrize(
    "name", ["../up/manifest.json", "a/%2e%2e/manifest.json", "a\\b/manifest.json"]
)
def test_hostile_prefix_is_an_error_not_a_silent_drop(name: str) -> None:
    with pytest.raises(InvalidPathError):
        prefix_of(eventgrid(name))


@pytest.mark.parametrize(
    "payload",
    [
        {"eventType": "x"},
        {"id": "1", "eventType": "Microsoft.Storage.BlobCreated", "subject": "/nope", "data": {}},
        {"id": "1", "eventType": "t", "subject": "s", "data": {"contentLength": "many"}},
    ],
)
def test_malformed_events_raise_a_clear_error(payload: dict[str, Any]) -> None:
    with pytest.raises(InvalidInputError):
        landing_upload_prefix(parse_blob_event(payload), "landing")
