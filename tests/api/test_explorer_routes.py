"""The explorer's pages and data routes through the app's functions, on both store backends.

What a browser cannot be trusted with is checked here without one: which credentials each
route takes (the session cookie only on the explorer's routes), the key-for-cookie exchange,
filters, the error pages and the static assets. The browser run is tests/explorer/.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from dataops.explorer import handlers as explorer_handlers
from dataops.labeling.exporting.request import EXPORT_RECORD, ExportRecord, LabelExportRequest
from dataops.paths import Zone
from dataops.storage import BlobZones
from dataops.storage.export_zones import EXPORT_ZONES, export_container_client, export_zones
from tests.api.conftest import READ_KEY, WRITE_KEY, Fleet, read, write
from tests.api.function_host import FunctionHost

HTML = "text/html"


def _rows(body: bytes) -> list[str]:
    return re.findall(r"class='measurement'>([^<]+)</a>", body.decode())


def _session(host: FunctionHost, key: str) -> str:
    exchange = host.request("GET", "/api/explorer", params={"code": key})
    assert exchange.status == 303
    assert exchange.headers["location"] == "/api/explorer"
    cookie = exchange.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/api/" in cookie
    return cookie.split(";", 1)[0]


def test_catalog_lists_the_store_and_sends_a_strict_policy(
    host: FunctionHost, fleet: Fleet
) -> None:
    page = host.request("GET", "/api/explorer", headers=read())
    assert page.status == 200
    assert page.media_type == HTML
    assert sorted(_rows(page.body)) == sorted(fleet.measurements)
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["cache-control"] == "no-store"


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"scene_type": "pedestrian"}, ["m-a1", "m-b1"]),
        ({"labeled": "true"}, ["m-a1"]),
        ({"labeled": "false", "vehicle": "VIN-A"}, ["m-a2"]),
        ({"project": "nothing-like-it"}, []),
        ({"vehicle": "", "tag": "highway"}, ["m-a1", "m-b1"]),  # empty form fields: no filter
    ],
)
def test_catalog_filters(
    host: FunctionHost, fleet: Fleet, params: dict[str, str], expected: list[str]
) -> None:
    page = host.request("GET", "/api/explorer", params=params, headers=read())
    assert page.status == 200, page.body
    assert sorted(_rows(page.body)) == expected


def test_catalog_pages_carry_the_filters_on(host: FunctionHost, fleet: Fleet) -> None:
    first = host.request("GET", "/api/explorer", params={"limit": "2"}, headers=read())
    assert len(_rows(first.body)) == 2
    link = re.search(r"href='([^']+)' id='next'", first.body.decode())
    assert link is not None
    query = dict(pair.split("=", 1) for pair in link.group(1).split("?", 1)[1].split("&amp;"))
    second = host.request("GET", "/api/explorer", params=query, headers=read())
    assert set(_rows(second.body)).isdisjoint(_rows(first.body))


def test_key_in_the_url_becomes_a_session_for_explorer_routes_only(
    host: FunctionHost, fleet: Fleet
) -> None:
    cookie = {"cookie": _session(host, READ_KEY)}
    assert host.request("GET", "/api/explorer", headers=cookie).status == 200
    assert host.request("GET", "/api/drives/m-a1/track", headers=cookie).status == 200
    # The Metadata API and the starters never take the cookie.
    assert host.request("GET", "/api/measurements", headers=cookie).status == 401
    rerun = host.request("POST", "/api/measurements/m-a1/rerun", headers=cookie)
    assert rerun.status == 401


def test_the_clip_start_takes_a_write_session_with_a_json_body_only(
    host: FunctionHost, fleet: Fleet
) -> None:
    """The explorer's Clip route takes the session cookie, but a form post (what another site
    could send without a preflight) is 415 and a read session 403, both before any run; the
    API's own clip starter still refuses the cookie."""
    json_body = {"content-type": "application/json"}
    writer = {"cookie": _session(host, WRITE_KEY)}
    form = host.request(
        "POST",
        "/api/explorer/scenes/s-1/clip",
        headers={**writer, "content-type": "application/x-www-form-urlencoded"},
        body=b"margin_s=1",
    )
    assert form.status == 415
    reader = {"cookie": _session(host, READ_KEY), **json_body}
    refused = host.request("POST", "/api/explorer/scenes/s-1/clip", headers=reader, body=b"{}")
    assert refused.status == 403
    assert "write role" in refused.json()["detail"]
    api = host.request("POST", "/api/scenes/s-1/clip", headers={**writer, **json_body}, body=b"{}")
    assert api.status == 401


def test_a_tampered_or_foreign_cookie_is_the_login_page(host: FunctionHost, fleet: Fleet) -> None:
    name, value = _session(host, READ_KEY).split("=", 1)
    forged = value.replace("read.", "write.", 1)
    for cookie in (f"{name}={forged}", f"{name}=write.99999999999.AAAA", "other=1"):
        page = host.request("GET", "/api/explorer", headers={"cookie": cookie})
        assert page.status == 401, cookie
        assert page.media_type == HTML
        assert "id='login'" in page.body.decode()


def test_write_key_session_is_write_role(host: FunctionHost, fleet: Fleet) -> None:
    cookie = _session(host, WRITE_KEY)
    assert cookie.split("=", 1)[1].startswith("write.")


@pytest.mark.parametrize(
    ("path", "params", "status", "parameter"),
    [
        ("/api/explorer/measurements/no-such", {}, 404, None),
        ("/api/explorer/measurements/bad%20id!", {}, 400, "id"),
        ("/api/explorer", {"from": "yesterday"}, 400, "from"),
        ("/api/explorer", {"limit": "0"}, 400, "limit"),
        ("/api/explorer", {"vehical": "VIN-A"}, 400, "vehical"),
        ("/api/explorer/search", {"kind": "scenes", "object": "car"}, 400, "object"),
        ("/api/explorer/drives/no-such", {}, 404, None),
    ],
)
def test_errors_are_pages_naming_the_parameter(  # noqa: PLR0917  # pytest parameters
    host: FunctionHost,
    fleet: Fleet,
    path: str,
    params: dict[str, str],
    status: int,
    parameter: str | None,
) -> None:
    page = host.request("GET", path, params=params, headers=read())
    assert page.status == status
    assert page.media_type == HTML
    text = page.body.decode()
    assert "Traceback" not in text
    if parameter:
        assert f"<code id='error-parameter'>{parameter}</code>" in text


def test_measurement_page_draws_lineage_from_its_datastreams(
    host: FunctionHost, fleet: Fleet
) -> None:
    page = host.request("GET", "/api/explorer/measurements/m-a1", headers=read())
    assert page.status == 200
    text = page.body.decode()
    block = re.search(r"id='lineage-data'>(.*?)</script>", text)
    assert block is not None
    assert '"source":"ds-raw","target":"ds-ext"' in block.group(1)
    assert "file-00.mcap" in text  # the RAW datastream's files


def test_search_page_lists_frame_hits(host: FunctionHost, fleet: Fleet) -> None:
    page = host.request(
        "GET", "/api/explorer/search", params={"object": "pedestrian"}, headers=read()
    )
    assert page.status == 200
    # m-a1 has 4 pedestrian frames, m-b1 3.
    assert len(re.findall(r"class='hit'", page.body.decode())) == 7


def test_drive_data_without_synchronized_table_is_404(host: FunctionHost, fleet: Fleet) -> None:
    for route in ("signals", "frames"):
        answer = host.request("GET", f"/api/drives/m-a1/{route}", headers=read())
        assert answer.status == 404
        assert "no synchronized table" in answer.json()["detail"]
    track = host.request("GET", "/api/drives/m-a1/track", headers=read()).json()
    assert track["time_ns"] == []
    scenes = host.request("GET", "/api/drives/m-a1/scenes", headers=read()).json()
    assert [s["id"] for s in scenes["items"]] == ["sc-1", "sc-2"]
    image = host.request("GET", "/api/drives/m-a1/frames/x1/image", headers=read())
    assert image.status == 400
    assert image.json()["parameter"] == "frame"


def test_assets_serve_files_and_refuse_paths_outside(host: FunctionHost) -> None:
    script = host.request("GET", "/api/explorer/assets/drive.js")
    assert script.status == 200
    assert script.media_type == "text/javascript"
    for bad in ("../handlers.py", "vendor/../../html.py", "nothing.js", "vendor/a/b.js"):
        assert host.request("GET", f"/api/explorer/assets/{bad}").status == 404, bad


def test_missing_libraries_answer_503_naming_the_build_command(
    host: FunctionHost, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(explorer_handlers, "VENDOR_DIR", tmp_path)
    answer = host.request("GET", "/api/explorer/assets/vendor/leaflet.js")
    assert answer.status == 503
    assert "python -m dataops.explorer.vendor" in answer.json()["detail"]


def _export(zones: BlobZones, *, expires_in: timedelta, revoked: bool = False) -> str:
    """An export's containers and record, as ``start_export`` leaves them."""
    export_id = uuid.uuid4().hex
    for zone in EXPORT_ZONES:
        export_container_client(zones, zone, export_id).create_container()
    now = datetime.now(UTC)
    record = ExportRecord(
        export_id=export_id,
        partner_id="acme",
        instance_id=f"label_export-{export_id}",
        created_at=now,
        expires_at=now + expires_in,
        revoked_at=now if revoked else None,
        request=LabelExportRequest.model_validate(
            {"selection": {"scene_type": "pedestrian"}, "sensors": ["cam"], "partner_id": "acme"}
        ),
    )
    export_zones(zones, export_id).write_json(
        Zone.SHARE, EXPORT_RECORD, record.model_dump(mode="json", by_alias=True)
    )
    return export_id


def test_labeling_page_shows_links_to_the_write_role_only(
    host: FunctionHost, fleet: Fleet, index_zones: BlobZones
) -> None:
    active = _export(index_zones, expires_in=timedelta(hours=2))
    expired = _export(index_zones, expires_in=timedelta(seconds=-1))
    revoked = _export(index_zones, expires_in=timedelta(hours=2), revoked=True)
    writer = host.request("GET", "/api/explorer/labeling", headers=write()).body.decode()
    statuses = dict(
        re.findall(r"class='export'>([0-9a-f]{32})</a>.*?class='status'>(\w+)<", writer)
    )
    assert {active: "active", expired: "expired", revoked: "revoked"}.items() <= statuses.items()
    assert writer.count("class='package-link'") == sum(s == "active" for s in statuses.values())
    reader = host.request("GET", "/api/explorer/labeling", headers=read()).body.decode()
    assert "sig=" not in reader and "class='package-link'" not in reader
    assert "write role only" in reader
    chosen = host.request(
        "GET", "/api/explorer/labeling", params={"export": active}, headers=read()
    )
    assert chosen.status == 200
    assert f"Imports of {active}" in chosen.body.decode()
    unknown = host.request(
        "GET", "/api/explorer/labeling", params={"export": "f" * 32}, headers=read()
    )
    assert unknown.status == 404
