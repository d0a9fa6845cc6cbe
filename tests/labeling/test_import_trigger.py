"""What starts a label import: the Event Grid subscription (Bicep = devhost file), the devhost
poller watching containers by name prefix (on Azurite), and which events become which runs."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

import pytest

from dataops.errors import InvalidInputError
from dataops.events import BLOB_CREATED, parse_blob_event
from dataops.labeling.importing.events import label_upload_from_event
from dataops.paths import Zone
from dataops.storage import BlobZones
from devhost.db import Database
from devhost.durable.clock import FakeClock
from devhost.events.delivery import DeliveryQueue
from devhost.events.eventgrid import AzureBlobLister, BlobPoller
from devhost.events.subscriptions import Subscription, load_subscriptions
from devhost.services.azurite import AzuriteBlob
from tests.infra.bicep_source import BicepFile

ROOT = Path(__file__).resolve().parents[2]
EVENTGRID = ROOT / "infra" / "modules" / "eventgrid.bicep"
SUBSCRIPTIONS = ROOT / "infra" / "eventgrid-subscriptions.json"
FUNCTION = "on_labeled_blob_created"
EXPORT_ID = "0123456789abcdef0123456789abcdef"


def _label_subscription() -> Subscription:
    [sub] = [s for s in load_subscriptions(SUBSCRIPTIONS) if s.function == FUNCTION]
    return sub


def test_devhost_file_and_bicep_describe_the_same_label_subscription() -> None:
    template = BicepFile.read(EVENTGRID)
    flt = template.var("labelFilter")
    assert isinstance(flt, dict)
    local = _label_subscription()
    assert local.name == template.var("labelSubscriptionName")
    assert template.var("labelTargetFunction") == FUNCTION
    assert local.subject_begins_with == flt["subjectBeginsWith"]
    assert local.subject_ends_with == flt["subjectEndsWith"]
    assert local.included_event_types == flt["includedEventTypes"] == [BLOB_CREATED]
    assert local.case_sensitive == flt["isSubjectCaseSensitive"]
    # The containers devhost watches are the ones the subject prefix selects in Azure.
    assert local.container_prefix == "labeled-"
    assert flt["subjectBeginsWith"] == "/blobServices/default/containers/labeled-"
    bicep_filters = [
        {k: v for k, v in f.items() if k in {"operatorType", "key", "values", "value"}}
        for f in flt["advancedFilters"]
    ]
    local_filters = [f.model_dump(by_alias=True, exclude_none=True) for f in local.advanced_filters]
    assert local_filters == bicep_filters
    subscription = template.block_property(
        template.named("resource")["labelSubscription"], "properties"
    )
    assert subscription["filter"].text == "labelFilter"


def _event(container: str, name: str, *, api: str = "PutBlob", etag: str = "0x1") -> Any:
    return parse_blob_event(
        {
            "id": str(uuid.uuid4()),
            "eventType": BLOB_CREATED,
            "subject": f"/blobServices/default/containers/{container}/blobs/{name}",
            "topic": "/subscriptions/0/storageAccounts/devstoreaccount1",
            "data": {"api": api, "eTag": etag, "contentLength": 10},
        }
    )


def test_only_label_files_of_an_export_become_runs_one_per_version() -> None:
    container = f"labeled-{EXPORT_ID}"
    upload = label_upload_from_event(_event(container, "r1/coco.json"), "labeled")
    assert upload is not None
    assert (upload.export_id, upload.name, upload.etag) == (EXPORT_ID, "r1/coco.json", "0x1")
    again = label_upload_from_event(_event(container, "r1/coco.json"), "labeled")
    assert again is not None and again.instance_id == upload.instance_id
    newer = label_upload_from_event(_event(container, "r1/coco.json", etag="0x2"), "labeled")
    assert newer is not None and newer.instance_id != upload.instance_id
    ignored = [
        _event(container, "r1/coco._report.json"),
        _event(container, "r1/_notes.json"),
        _event(container, "images/1.jpg"),
        _event(container, "r1/coco.json", api="CreateFile"),
        _event("labeled", "coco.json"),
        _event(f"share-{EXPORT_ID}", "coco.json"),
    ]
    assert [label_upload_from_event(e, "labeled") for e in ignored] == [None] * len(ignored)
    with pytest.raises(InvalidInputError, match=re.escape("labeled-NOT-AN-EXPORT/coco.json")):
        label_upload_from_event(_event("labeled-NOT-AN-EXPORT", "coco.json"), "labeled")


@pytest.mark.azurite
def test_poller_watches_containers_created_after_it_started(
    zones: BlobZones, azurite: AzuriteBlob, tmp_path: Path
) -> None:
    """Per-export containers appear at run time: each poll lists containers by prefix."""
    labeled = zones.container_name(Zone.LABELED)
    # The test's zones have their own container names: the same filter, moved onto them.
    sub = _label_subscription().model_copy(
        update={
            "container": f"{labeled}-*",
            "subject_begins_with": f"/blobServices/default/containers/{labeled}-",
        }
    )
    db = Database(tmp_path / "devhost.sqlite3")
    queue = DeliveryQueue(db, FakeClock())
    lister = AzureBlobLister(azurite.connection_string)
    poller = BlobPoller(db, queue, [sub], lister, FakeClock())
    assert poller.containers == [] and poller.container_prefixes == [f"{labeled}-"]
    assert poller.poll_once() == 0

    service = lister._client
    first, second = (f"{labeled}-{uuid.uuid4().hex}" for _ in range(2))
    service.create_container(first)
    service.get_container_client(first).upload_blob("r1/coco.json", b"{}")
    service.get_container_client(first).upload_blob("images/1.jpg", b"x")
    assert poller.poll_once() == 1
    service.create_container(second)
    service.get_container_client(second).upload_blob("openlabel.json", b"{}")
    # The zone's own container and other zones' do not match the prefix.
    zones_labeled = service.get_container_client(labeled)
    zones_labeled.upload_blob("stray.json", b"{}", overwrite=True)
    assert poller.poll_once() == 1
    assert poller.poll_once() == 0  # seen (name, etag) are not delivered again
    subjects = [json.loads(d.payload)["subject"] for d in queue.due()]
    assert subjects == [
        f"/blobServices/default/containers/{first}/blobs/r1/coco.json",
        f"/blobServices/default/containers/{second}/blobs/openlabel.json",
    ]
    assert {d.function for d in queue.due()} == {FUNCTION}
    db.close()
