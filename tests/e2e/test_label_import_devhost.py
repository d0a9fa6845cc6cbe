"""Label import end to end under devhost: a partner's upload -> poller event -> ``label_import``.

The export is synthetic (store documents and package.json per the contract); the trigger path
is the real one: the Event Grid poller watches the ``labeled-*`` containers, delivers
BlobCreated to ``on_labeled_blob_created``, which starts the orchestration.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from avops.cli import app as cli_app
from avops.cli.commands import import_status  # noqa: F401  # registers the command
from dataops.labeling.package import report_path_for
from dataops.paths import Zone
from dataops.storage.export_zones import export_container, export_zones
from devhost.durable.store import TERMINAL
from devhost.events.eventgrid import AzureBlobLister, blob_created_event
from devhost.host import DevHost
from tests.e2e.conftest import READ_KEY, AppEnv, run_host, wait_for
from tests.labeling.test_import_register import make_export
from tests.labeling.test_import_validation import COCO_NAME, coco_document, encode

pytestmark = pytest.mark.azurite
BAD_NAME = "round-2/coco.json"


def test_partner_upload_is_imported_once_through_the_event_path(app_env: AppEnv) -> None:
    store = app_env.store()
    export = make_export(app_env.zones, store)
    view = export_zones(app_env.zones, export.export_id)
    container = export_container(app_env.zones.container_name(Zone.LABELED), export.export_id)
    bad = coco_document()
    bad["annotations"][0]["image_id"] = 99

    def runs(host: DevHost) -> list[Any]:
        return [i for i in host.engine.query(name="label_import") if i.status in TERMINAL]

    async def body(host: DevHost) -> Any:
        view.write_bytes(Zone.LABELED, COCO_NAME, encode(coco_document()))
        view.write_bytes(Zone.LABELED, BAD_NAME, encode(bad))
        done = await wait_for(
            lambda: len(runs(host)) == 2 and runs(host), what="two label_import runs"
        )
        outputs = {json.loads(i.output)["file"]: json.loads(i.output) for i in done}
        # The reports the runs wrote are BlobCreated events too: they must start nothing.
        await host.poll_sources_once()
        assert len(host.engine.query(name="label_import")) == 2

        # The same event again (as Event Grid may redeliver) starts nothing either.
        [blob] = [
            b
            for b in AzureBlobLister(app_env.connection_string).list_blobs(container)
            if b.name == COCO_NAME
        ]
        event = blob_created_event(
            account="devstoreaccount1",
            endpoint="http://127.0.0.1/devstoreaccount1",
            container=container,
            blob=blob,
            now=datetime.now(UTC),
        )
        accepted = next(i for i in done if json.loads(i.output)["file"] == COCO_NAME)
        history = len(host.engine.get_history(accepted.instance_id))
        hook = f"{host.base_url}/runtime/webhooks/eventgrid?functionName=on_labeled_blob_created"
        async with httpx.AsyncClient(timeout=30) as http:
            answer = await http.post(hook, json=event)
            assert answer.status_code < 300, answer.text
            read = {"x-functions-key": READ_KEY}
            imports = await http.get(
                f"{host.base_url}/api/label-exports/{export.export_id}/imports", headers=read
            )
            ids = outputs[COCO_NAME]["datastream_ids"]
            lineage = await http.get(
                f"{host.base_url}/api/datastreams/{ids[0]}/lineage",
                params={"direction": "up"},
                headers=read,
            )
        await host.poll_sources_once()
        assert len(host.engine.query(name="label_import")) == 2
        assert len(host.engine.get_history(accepted.instance_id)) == history

        cli = await asyncio.to_thread(
            CliRunner().invoke,
            cli_app,
            ["import-status", export.export_id, "--url", host.base_url, "--key", READ_KEY],
        )
        return outputs, imports, lineage, cli

    outputs, imports, lineage, cli = run_host(
        app_env.options(named_function_keys={"reader": READ_KEY}), body
    )
    assert outputs[COCO_NAME]["status"] == "accepted"
    assert outputs[BAD_NAME]["status"] == "rejected"
    ids = outputs[COCO_NAME]["datastream_ids"]
    assert len(ids) == 2

    assert imports.status_code == 200, imports.text
    listed = {item["file"]: item for item in imports.json()["items"]}
    assert set(listed) == {COCO_NAME, BAD_NAME}
    assert listed[COCO_NAME]["status"] == "accepted"
    assert listed[COCO_NAME]["datastream_ids"] == ids
    assert listed[BAD_NAME]["status"] == "rejected"
    assert listed[BAD_NAME]["errors"] == [
        f"{BAD_NAME}: annotations[0].image_id: image id 99 is not in the export's package"
    ]

    assert lineage.status_code == 200, lineage.text
    assert {node["id"] for node in lineage.json()["nodes"]} == {ids[0], "ds-export-m-1"}

    # Rejected labels registered nothing; the partner's files are untouched.
    labeled = [d for m in ("m-1", "m-2") for d in store.list_datastreams(m)]
    assert sorted(d.id for d in labeled if d.type == "LABELED") == sorted(ids)
    names = {b.path for b in export_zones(app_env.zones, export.export_id).list_blobs(Zone.LABELED)}
    assert names == {COCO_NAME, BAD_NAME, report_path_for(COCO_NAME), report_path_for(BAD_NAME)}
    store.close()

    assert cli.exit_code == 1, cli.output  # a rejected file makes the command fail
    assert "accepted" in cli.output and "rejected" in cli.output
    assert "annotations[0].image_id" in cli.output
