"""The explorer's operations: pages, the drive view's data routes and the static assets."""

from __future__ import annotations

import mimetypes
import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from dataops.api.auth import Role
from dataops.api.dispatch import ApiContext, Call, Handler, Reply, json_reply
from dataops.api.problems import ApiError
from dataops.errors import NotFoundError
from dataops.explorer.clips import clip_denied_reason
from dataops.explorer.drive import DriveReader, newest_completed
from dataops.explorer.html import SCENE_CLIP_URL, content_security_policy
from dataops.explorer.labeling import export_summary, list_exports
from dataops.explorer.models import DriveFrames
from dataops.explorer.pages import (
    FileLink,
    SearchHit,
    catalog_page,
    drive_page,
    labeling_page,
    measurement_page,
    search_page,
)
from dataops.explorer.params import (
    CatalogParams,
    DriveFramesParams,
    DriveParams,
    ImageParams,
    LabelingParams,
    SearchParams,
)
from dataops.explorer.session import session_cookie, session_secret, sign_session
from dataops.explorer.thumbnails import resize_jpeg
from dataops.explorer.vendor import BUILD_COMMAND, VENDOR_DIR, missing_vendor_files
from dataops.frames.search import FrameQuery
from dataops.models import DatastreamType, Measurement
from dataops.scenes.search import SceneTableQuery
from dataops.store import MetadataStore, SceneQuery

__all__ = ["EXPLORER_HANDLERS"]

STATIC_DIR = Path(__file__).resolve().parent / "static"
_FILES_PER_DATASTREAM = 25
_MAX_SCANNED_PAGES = 10
_NO_STORE = {"Cache-Control": "no-store"}
_ASSET_PART = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}")


def _drives(context: ApiContext) -> DriveReader:
    if context.drives is None:
        raise ApiError(503, "the drive reader is not configured in this process")
    return context.drives()


def _page(context: ApiContext, call: Call, html: str) -> Reply:
    """An HTML page, or the key-for-cookie exchange when the key came in the URL."""
    if call.key_in_query and call.caller is not None and call.caller.via == "key":
        settings = context.settings()
        secret = session_secret(settings.api_read_keys, settings.api_write_keys)
        if secret is not None:
            cookie = session_cookie(
                sign_session(secret, call.caller.role), secure=call.origin.startswith("https:")
            )
            return Reply(
                body="",
                status=303,
                headers={"Location": call.path, "Set-Cookie": cookie, **_NO_STORE},
            )
    tile = context.settings().explorer_tile_url
    origin = urlsplit(tile)
    tile_origin = f"{origin.scheme}://{origin.netloc}" if origin.scheme and origin.netloc else None
    headers = {
        "Content-Security-Policy": content_security_policy(tile_origin),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        **_NO_STORE,
    }
    return Reply(body=html, headers=headers)


def _filters(call: Call, names: tuple[str, ...]) -> dict[str, Any]:
    params = call.params
    values: dict[str, Any] = {}
    for name in names:
        attribute = {"from": "recorded_from", "to": "recorded_to"}.get(name, name)
        value = getattr(params, attribute)
        values[name] = value.isoformat() if isinstance(value, datetime) else value
    return values


def _has_scene(store: MetadataStore, measurement: Measurement, scene_type: str) -> bool:
    page = store.query_scenes(SceneQuery(type=scene_type, measurement_id=measurement.id, limit=1))
    return bool(page.items)


def _is_labeled(store: MetadataStore, measurement: Measurement) -> bool:
    labeled = store.list_datastreams(measurement.id, DatastreamType.LABELED)
    return newest_completed(labeled, DatastreamType.LABELED) is not None


def explorer_catalog(context: ApiContext, call: Call) -> Reply:
    """``GET /explorer``: the store's measurement pages with the page-only filters applied."""
    params: CatalogParams = call.params
    store = context.store()
    checks: list[Callable[[Measurement], bool]] = []
    if params.project is not None:
        checks.append(lambda m: m.project == params.project)
    if params.scene_type is not None:
        scene_type = params.scene_type
        checks.append(lambda m: _has_scene(store, m, scene_type))
    if params.labeled is not None:
        wanted = params.labeled
        checks.append(lambda m: _is_labeled(store, m) is wanted)
    shown: list[Measurement] = []
    scanned = 0
    continuation = params.continuation
    # Filters the store cannot apply read whole store pages until a page is full: bounded.
    for _ in range(_MAX_SCANNED_PAGES if checks else 1):
        page = store.query_measurements(
            params.store_query(limit=params.limit, continuation=continuation)
        )
        scanned += len(page.items)
        shown.extend(m for m in page.items if all(check(m) for check in checks))
        continuation = page.continuation
        if continuation is None or len(shown) >= params.limit:
            break
    names = ("vehicle", "from", "to", "tag", "project", "scene_type", "labeled", "limit")
    html = catalog_page(
        shown, _filters(call, names), next_continuation=continuation, scanned=scanned
    )
    return _page(context, call, html)


def explorer_measurement(context: ApiContext, call: Call) -> Reply:
    """``GET /explorer/measurements/{id}``."""
    store = context.store()
    measurement = store.get_measurement(call.ids["id"])
    datastreams = store.list_datastreams(measurement.id)
    locator = context.locator()
    files: dict[str, tuple[list[FileLink], bool]] = {}
    for datastream in datastreams:
        page = store.list_files(datastream.id, limit=_FILES_PER_DATASTREAM)
        links = []
        for record in page.items:
            prefix = datastream.path.strip("/") + "/"
            relative = record.path[len(prefix) :] if record.path.startswith(prefix) else None
            url = None
            if relative:
                location = locator.locate(datastream, relative, with_sas=True)
                url = location.sas.url if location.sas else None
            links.append(FileLink(datastream.id, record.path, record.size, url))
        files[datastream.id] = (links, page.continuation is not None)
    html = measurement_page(
        measurement, datastreams, files, monitor_url=context.settings().explorer_monitor_url
    )
    return _page(context, call, html)


def explorer_drive(context: ApiContext, call: Call) -> Reply:
    """``GET /explorer/drives/{id}``."""
    params: DriveParams = call.params
    measurement = context.store().get_measurement(call.ids["id"])
    data = f"/api/drives/{measurement.id}"
    config = {
        "measurement_id": measurement.id,
        "t": params.t,
        "tile_url": context.settings().explorer_tile_url or None,
        "track": f"{data}/track",
        "signals": f"{data}/signals",
        "scenes": f"{data}/scenes",
        "frames": f"{data}/frames",
        "frames_page": params.frames_page,
        "image": f"{data}/frames/{{frame}}/image",
        # The scene list's Clip action: where to post ({scene}: the scene id) and, for a
        # session that may not clip, why (the disabled button's tooltip).
        "clip_url": SCENE_CLIP_URL,
        "clip_denied": clip_denied_reason(call),
    }
    return _page(context, call, drive_page(measurement, config))


def _no_frames(read: Callable[[], DriveFrames], measurement_id: str) -> DriveFrames:
    """``read()``; no frames (no boxes) when the drive has no synchronized table to read."""
    try:
        return read()
    except NotFoundError:
        return DriveFrames(measurement_id=measurement_id, reference=None, items=[])


def _frames_at(
    drives: DriveReader, store: MetadataStore, measurement_id: str, times: list[int]
) -> DriveFrames:
    return _no_frames(lambda: drives.frames_at(store, measurement_id, times), measurement_id)


def _frame_at(
    drives: DriveReader, store: MetadataStore, measurement_id: str, time_ns: int
) -> DriveFrames:
    """The drive's first frame at or after ``time_ns`` with its boxes (a page of one)."""
    return _no_frames(
        lambda: drives.frames(store, measurement_id, limit=1, from_ns=time_ns), measurement_id
    )


def _shared_search_filters(params: SearchParams) -> dict[str, Any]:
    """The search page's filters that frame and scene queries name alike."""
    return {
        "vehicle_id": params.vehicle,
        "labeled": params.labeled,
        "label": params.label,
        "limit": params.limit,
        "continuation": params.continuation,
    }


def _frame_hits(context: ApiContext, params: SearchParams) -> tuple[list[SearchHit], str | None]:
    if context.frames is None:
        raise ApiError(503, "frame search is not configured in this process")
    store = context.store()
    page = context.frames().search(
        store,
        FrameQuery(
            object_class=params.object,
            scene_type=params.scene_type,
            time_from=params.recorded_from,
            time_to=params.recorded_to,
            **_shared_search_filters(params),
        ),
    )
    drives = _drives(context)
    # One read per drive on the page, of the hits' frames only.
    times_of: dict[str, list[int]] = {}
    for row in page.items:
        times_of.setdefault(row["measurement_id"], []).append(int(row["time_ns"]))
    frames_of = {
        measurement_id: _frames_at(drives, store, measurement_id, times)
        for measurement_id, times in times_of.items()
    }
    hits = []
    for row in page.items:
        measurement_id = row["measurement_id"]
        frames = frames_of[measurement_id]
        boxes = next((f.boxes for f in frames.items if f.time_ns == int(row["time_ns"])), [])
        when = datetime.fromtimestamp(row["time_ns"] / 1e9, tz=UTC).strftime("%H:%M:%S.%f")[:-3]
        title = f"{row['vehicle_id']} {when} {', '.join(row['object_classes'] or [])}"
        hits.append(
            SearchHit(
                measurement_id,
                int(row["frame"]),
                int(row["time_ns"]),
                title,
                boxes,
                frames.width,
                frames.height,
            )
        )
    return hits, page.continuation


def _scene_hits(context: ApiContext, params: SearchParams) -> tuple[list[SearchHit], str | None]:
    if context.scenes is None:
        raise ApiError(503, "scene search is not configured in this process")
    if params.object is not None:
        raise ApiError(400, "object filters frames, not scenes", parameter="object")
    store = context.store()
    page = context.scenes().search(
        store,
        SceneTableQuery(
            type=params.scene_type,
            start_from=params.recorded_from,
            start_to=params.recorded_to,
            **_shared_search_filters(params),
        ),
    )
    drives = _drives(context)
    hits = []
    for scene in page.items:
        start = int(scene.attributes.get("start_ns", scene.start.timestamp() * 1e9))
        frames = _frame_at(drives, store, scene.measurement_id, start)
        first = frames.items[0] if frames.items else None
        title = f"{scene.type} {scene.vehicle_id} {scene.start.strftime('%H:%M:%S')}"
        hits.append(
            SearchHit(
                scene.measurement_id,
                first.frame if first else None,
                first.time_ns if first else start,
                title,
                first.boxes if first else [],
                frames.width,
                frames.height,
                scene_id=scene.id,
            )
        )
    return hits, page.continuation


def explorer_search(context: ApiContext, call: Call) -> Reply:
    """``GET /explorer/search``: frames or scenes as a thumbnail grid."""
    params: SearchParams = call.params
    hits, continuation = (
        _frame_hits(context, params) if params.kind == "frames" else _scene_hits(context, params)
    )
    names = ("kind", "object", "scene_type", "vehicle", "from", "to", "labeled", "label", "limit")
    html = search_page(
        hits,
        _filters(call, names),
        next_continuation=continuation,
        clip_denied=clip_denied_reason(call),
    )
    return _page(context, call, html)


def explorer_labeling(context: ApiContext, call: Call) -> Reply:
    """``GET /explorer/labeling``: exports with status and expiry, links for the write role."""
    params: LabelingParams = call.params
    if context.zones is None:
        raise ApiError(503, "blob storage is not configured in this process")
    zones, store = context.zones(), context.store()
    ids = list_exports(zones)
    if params.export is not None and params.export not in ids:
        raise ApiError(404, f"no labeling export {params.export}", parameter="export")
    can_write = call.caller is not None and call.caller.role >= Role.WRITE
    now = datetime.now(UTC)
    summaries = [
        export_summary(
            zones,
            store,
            export_id,
            now=now,
            with_links=can_write,
            with_imports=export_id == params.export,
        )
        for export_id in ids
    ]
    html = labeling_page(summaries, selected=params.export, can_write=can_write)
    return _page(context, call, html)


def explorer_asset(context: ApiContext, call: Call) -> Reply:
    """``GET /explorer/assets/{*path}``: the explorer's own files and the shipped libraries."""
    del context
    name = call.ids["path"]
    parts = name.split("/")
    # Asset names are short plain file names: anything else names nothing we serve.
    if len(parts) > 2 or not all(_ASSET_PART.fullmatch(part) for part in parts):
        raise ApiError(404, "no such asset")
    if parts[0] == "vendor":
        missing = missing_vendor_files(VENDOR_DIR)
        if missing:
            raise ApiError(
                503,
                f"the explorer's browser libraries are not in the app (missing {missing[0]}): "
                f"run `{BUILD_COMMAND}` (make setup does)",
            )
        path = VENDOR_DIR / parts[1]
    else:
        path = STATIC_DIR / name
    if not path.is_file() or path.parent.name not in ("static", "vendor"):
        raise ApiError(404, "no such asset")
    guessed = mimetypes.guess_type(path.name)[0] or "text/plain"
    media_type = {"application/javascript": "text/javascript"}.get(guessed, guessed)
    return Reply(
        body=path.read_bytes(),
        media_type=media_type,
        headers={"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"},
    )


def get_drive_track(context: ApiContext, call: Call) -> Reply:
    """``GET /drives/{id}/track``."""
    return json_reply(_drives(context).track(context.store(), call.ids["id"]))


def get_drive_signals(context: ApiContext, call: Call) -> Reply:
    """``GET /drives/{id}/signals``."""
    return json_reply(_drives(context).signals(context.store(), call.ids["id"]))


def get_drive_scenes(context: ApiContext, call: Call) -> Reply:
    """``GET /drives/{id}/scenes``."""
    if context.scenes is None:
        raise ApiError(503, "scene search is not configured in this process")
    return json_reply(_drives(context).scenes(context.store(), context.scenes(), call.ids["id"]))


def get_drive_frames(context: ApiContext, call: Call) -> Reply:
    """``GET /drives/{id}/frames``: one page, from ``from_ns`` on, after ``continuation``."""
    params: DriveFramesParams = call.params
    return json_reply(
        _drives(context).frames(
            context.store(),
            call.ids["id"],
            limit=params.limit,
            from_ns=params.from_ns,
            continuation=params.continuation,
        )
    )


def get_drive_frame_image(context: ApiContext, call: Call) -> Reply:
    """``GET /drives/{id}/frames/{frame}/image``: the frame, or a cached thumbnail."""
    params: ImageParams = call.params
    frame_text = call.ids["frame"]
    if not frame_text.isdigit():
        raise ApiError(400, "frame must be a frame number", parameter="frame")
    drives = _drives(context)
    store = context.store()
    measurement_id, frame = call.ids["id"], int(frame_text)
    if params.width is None:
        data = drives.frame_image(store, measurement_id, frame)
        media_type = "image/png" if data.startswith(b"\x89PNG") else "image/jpeg"
    else:
        width = params.width
        data = drives.thumbnails.get(
            (measurement_id, str(frame), str(width)),
            lambda: resize_jpeg(drives.frame_image(store, measurement_id, frame), width),
        )
        media_type = "image/jpeg"
    return Reply(
        body=data, media_type=media_type, headers={"Cache-Control": "private, max-age=300"}
    )


EXPLORER_HANDLERS: dict[str, Handler] = {
    "explorerCatalog": explorer_catalog,
    "explorerMeasurement": explorer_measurement,
    "explorerDrive": explorer_drive,
    "explorerSearch": explorer_search,
    "explorerLabeling": explorer_labeling,
    "explorerAsset": explorer_asset,
    "getDriveTrack": get_drive_track,
    "getDriveSignals": get_drive_signals,
    "getDriveScenes": get_drive_scenes,
    "getDriveFrames": get_drive_frames,
    "getDriveFrameImage": get_drive_frame_image,
}
