"""The API through devhost's real HTTP server: route templates, the host's key check, bodies.

devhost hosts an app made of the HTTP blueprint alone (the full app is tested in tests/e2e)
here, so the test stays about the API. The host's default key is the write key; the read key
is a named function key, as a Function App has several.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from activities import runtime
from avops.cli.dev import parse_named_keys
from dataops.store.sqlite import SqliteStore
from devhost.host import DevHost, HostOptions
from tests.api.conftest import READ_KEY, WRITE_KEY, api_settings, seed
from tests.devhost.hosting import client, run_with_host

API_ONLY_APP = """
import azure.durable_functions as df
import azure.functions as func

from function_app.http import bp

app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)
app.register_functions(bp)
"""


def test_api_served_by_devhost(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = SqliteStore(tmp_path / "metadata.sqlite3")
    seed(store)
    settings = api_settings()
    monkeypatch.setattr(runtime, "settings", lambda: settings)
    monkeypatch.setattr(runtime, "metadata_store", lambda: store)
    app_root = tmp_path / "app"
    app_root.mkdir()
    (app_root / "main.py").write_text(API_ONLY_APP)
    monkeypatch.setenv("PYTHON_SCRIPT_FILE_NAME", "main.py")
    options = HostOptions(
        app_root=app_root,
        state_dir=tmp_path / "devhost",
        port=0,
        function_key=WRITE_KEY,
        named_function_keys=parse_named_keys([f"reader={READ_KEY}"]),
        activity_mode="thread",
    )

    async def body(host: DevHost) -> dict[str, Any]:
        key = {"x-functions-key": WRITE_KEY}
        async with client(host) as http:
            found = await http.get("/api/measurements", params={"vehicle": "VIN-A"}, headers=key)
            bad = await http.get("/api/measurements", params={"limit": "0"}, headers=key)
            keyless = await http.get("/api/measurements")
            document = await http.get("/api/openapi.json")
            docs = await http.get("/api/docs")
            read = await http.get("/api/datastreams/ds-raw", headers=key)
            moved = await http.patch(
                "/api/datastreams/ds-raw",
                headers={**key, "If-Match": read.headers["etag"]},
                json={"state": "COPYING"},
            )
            lineage = await http.get("/api/datastreams/ds-ext/lineage", params={"code": WRITE_KEY})
            reader = {"x-functions-key": READ_KEY}
            read_with_read_key = await http.get("/api/datastreams/ds-ext", headers=reader)
            patch_with_read_key = await http.patch(
                "/api/datastreams/ds-ext",
                headers={**reader, "If-Match": read_with_read_key.headers.get("etag", "")},
                json={"state": "FAILED"},
            )
            unknown_key = await http.get(
                "/api/measurements", headers={"x-functions-key": "not-a-key"}
            )
        return {
            "found": found,
            "bad": bad,
            "keyless": keyless,
            "document": document,
            "docs": docs,
            "moved": moved,
            "lineage": lineage,
            "read_with_read_key": read_with_read_key,
            "patch_with_read_key": patch_with_read_key,
            "unknown_key": unknown_key,
        }

    try:
        answers = run_with_host(options, body)
    finally:
        store.close()
    assert [m["id"] for m in answers["found"].json()["items"]] == ["m-a2", "m-a1"]
    assert answers["bad"].status_code == 400
    assert answers["bad"].headers["content-type"].startswith("application/problem+json")
    assert answers["bad"].json()["parameter"] == "limit"
    assert answers["keyless"].status_code == 401
    assert answers["document"].json()["openapi"] == "3.1.0"
    assert answers["docs"].headers["content-type"].startswith("text/html")
    assert answers["moved"].status_code == 200, answers["moved"].text
    assert answers["moved"].json()["state"] == "COPYING"
    assert answers["lineage"].json()["root"] == "ds-ext"
    # Both roles through the host: the read key opens reads, the write route answers 403.
    assert answers["read_with_read_key"].status_code == 200
    assert answers["patch_with_read_key"].status_code == 403
    assert answers["unknown_key"].status_code == 401
