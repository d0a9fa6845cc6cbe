"""Only a finished manifest write in landing starts ingest; both event schemas are understood."""

from __future__ import annotations

from typing import Any

import pytest

from dataops.errors import InvalidInputError, InvalidPathError
from dataops.events import (
    BlobEvent,
    RefusedEventError,
    check_event_etag,
    landing_accounts,
    landing_upload_prefix,
    manifest_event_prefix,
    parse_blob_event,
    storage_account_of_topic,
)
from dataops.settings import Settings


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


ACCOUNT_TOPIC = "/subscriptions/s/resourceGroups/r/providers/Microsoft.Storage/storageAccounts/{}"
LANDING = frozenset({"stlanding"})


def manifest_event(
    *,
    account: str = "stlanding",
    url: str = "https://stlanding.blob.core.windows.net/landing/up/1/manifest.json",
    etag: str | None = "0x8DABC",
) -> BlobEvent:
    payload = eventgrid("up/1/manifest.json", url=url, eTag=etag)
    payload["topic"] = ACCOUNT_TOPIC.format(account)
    return parse_blob_event(payload)


def test_a_landing_manifest_event_with_matching_url_is_admitted() -> None:
    """Topic of the landing account and url of the subject's blob: the prefix comes back."""
    assert manifest_event_prefix(manifest_event(), "landing", LANDING) == "up/1"


def test_azurite_path_style_url_is_understood() -> None:
    """devhost's events carry Azurite's path-style URL (account as first path segment)."""
    event = manifest_event(
        account="devstoreaccount1",
        url="http://127.0.0.1:10000/devstoreaccount1/landing/up/1/manifest.json",
    )
    assert manifest_event_prefix(event, "landing", frozenset({"devstoreaccount1"})) == "up/1"


def test_event_from_another_storage_account_is_refused() -> None:
    """A forged topic (another account) is refused with its reason, naming the field."""
    event = manifest_event(
        account="stattacker",
        url="https://stattacker.blob.core.windows.net/landing/up/1/manifest.json",
    )
    with pytest.raises(
        RefusedEventError, match="storage account 'stattacker', not a landing"
    ) as err:
        manifest_event_prefix(event, "landing", LANDING)
    assert err.value.field == "topic"


def test_topic_that_is_no_storage_account_is_refused() -> None:
    """A topic that names no storage account at all is refused too."""
    payload = eventgrid("up/1/manifest.json", url="https://stlanding.blob.core.windows.net/x")
    payload["topic"] = "/subscriptions/s/resourceGroups/r/providers/Microsoft.EventGrid/topics/t"
    with pytest.raises(RefusedEventError, match="is not a storage account"):
        manifest_event_prefix(parse_blob_event(payload), "landing", LANDING)


@pytest.mark.parametrize(
    "url",
    [
        "https://stlanding.blob.core.windows.net/landing/other/manifest.json",
        "https://stlanding.blob.core.windows.net/raw/up/1/manifest.json",
        "https://stother.blob.core.windows.net/landing/up/1/manifest.json",
        "http://127.0.0.1:10000/stother/landing/up/1/manifest.json",
        "",
        "file:///landing/up/1/manifest.json",
    ],
)
def test_url_not_matching_the_subject_is_refused(url: str) -> None:
    """data.url must name the same account, container and blob as topic and subject."""
    with pytest.raises(RefusedEventError, match="is not the blob the subject names") as err:
        manifest_event_prefix(manifest_event(url=url), "landing", LANDING)
    assert err.value.field == "data.url"


def test_non_manifest_events_are_ignored_before_any_origin_check() -> None:
    """A data-file event is ignored (None) whatever its origin: only manifests start runs."""
    payload = eventgrid("up/1/data.mcap")
    payload["topic"] = ACCOUNT_TOPIC.format("stattacker")
    assert manifest_event_prefix(parse_blob_event(payload), "landing", LANDING) is None


def test_current_etag_is_admitted_quoted_or_bare() -> None:
    """Event Grid's bare eTag matches the blob API's quoted one."""
    assert check_event_etag(manifest_event(), '"0x8DABC"') == "0x8DABC"


@pytest.mark.parametrize(
    ("etag", "current", "reason"),
    [
        ("0x8DABC", '"0x8DFFF"', "is not the blob's current eTag 0x8DFFF"),
        ("0x8DABC", None, "no longer exists"),
        (None, '"0x8DABC"', "carries no eTag"),
    ],
)
def test_stale_or_missing_etag_is_refused(
    etag: str | None, current: str | None, reason: str
) -> None:
    """An event for a write a later one replaced (or a deleted blob) is refused."""
    with pytest.raises(RefusedEventError, match=reason) as err:
        check_event_etag(manifest_event(etag=etag), current)
    assert err.value.field == "data.eTag"


@pytest.mark.parametrize(
    ("values", "accounts"),
    [
        ({"landing_storage_accounts": "StA, stB"}, {"sta", "stb"}),
        (
            {"storage_account_urls": {"landing": "https://stland1.blob.core.windows.net"}},
            {"stland1"},
        ),
        (
            {
                "storage_connection_string": "DefaultEndpointsProtocol=http;AccountName="
                "devstoreaccount1;AccountKey=k;BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;"
            },
            {"devstoreaccount1"},
        ),
        ({"storage_connection_string": "UseDevelopmentStorage=true"}, {"devstoreaccount1"}),
        ({}, set()),
    ],
)
def test_landing_accounts_default_from_the_storage_settings(
    values: dict[str, Any], accounts: set[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The setting wins; else the landing account URL; else the connection string's account."""
    for name in ("LANDING_STORAGE_ACCOUNTS", "STORAGE_ACCOUNT_URLS", "STORAGE_CONNECTION_STRING"):
        monkeypatch.delenv(f"AVOPS_{name}", raising=False)
    assert landing_accounts(Settings(**values)) == accounts


def test_storage_account_of_topic() -> None:
    """The account is the last segment of a Microsoft.Storage topic, lower-cased."""
    assert storage_account_of_topic(ACCOUNT_TOPIC.format("StLanding")) == "stlanding"
    assert storage_account_of_topic("/subscriptions/0/storageAccounts/x") is None
    assert storage_account_of_topic(None) is None
