"""Metadata API wiring: each HTTP function hands its request to ``dataops.api`` and returns.

All logic (auth roles, validation, problem+json, OpenAPI) lives in ``dataops/api``; a handler
here only converts between ``func.HttpRequest`` / ``func.HttpResponse`` and plain values.
"""

from __future__ import annotations

import tempfile
import threading
from pathlib import Path

import azure.durable_functions as df
import azure.functions as func

from activities import runtime
from dataops.api import HANDLERS, ApiContext, ApiRequest, Locator, handle
from dataops.frames.search import FrameSearch
from dataops.scenes.search import SceneSearch
from dataops.settings import Settings
from dataops.storage import BlobZones, zone_clients_from_settings
from dataops.store import MetadataStore

bp = df.Blueprint()

_locator_lock = threading.Lock()
_locator: tuple[Settings, Locator] | None = None


def _process_locator() -> Locator:
    # Rebuilt only when runtime.reset() gave the process new settings.
    global _locator  # noqa: PLW0603  # one per process, like activities.runtime's singletons
    settings = runtime.settings()
    with _locator_lock:
        if _locator is None or _locator[0] is not settings:
            _locator = (
                settings,
                Locator(zone_clients_from_settings(settings), sas_minutes=settings.api_sas_minutes),
            )
        return _locator[1]


def _settings() -> Settings:
    # Looked up at call time (not bound at import) so runtime.reset() and tests take effect.
    return runtime.settings()


def _store() -> MetadataStore:
    return runtime.metadata_store()


_frames_lock = threading.Lock()
_frames: tuple[BlobZones, FrameSearch] | None = None


def _process_frames() -> FrameSearch:
    # Rebuilt only when runtime.reset() gave the process new blob clients. The table cache is
    # a scratch directory: keyed by each table's log etags, it never serves a stale table.
    global _frames  # noqa: PLW0603  # one per process, like the locator
    zones = runtime.blob_zones()
    with _frames_lock:
        if _frames is None or _frames[0] is not zones:
            cache = Path(tempfile.gettempdir()) / "avops-frame-index"
            _frames = (zones, FrameSearch(zones, cache))
        return _frames[1]


def _process_scenes() -> SceneSearch:
    # Shares the frame search's table cache (and its rebuild on new blob clients).
    return SceneSearch(_process_frames().tables)


_CONTEXT = ApiContext(
    settings=_settings,
    store=_store,
    locator=_process_locator,
    frames=_process_frames,
    scenes=_process_scenes,
    zones=runtime.blob_zones,
)


def serve(route: str, req: func.HttpRequest) -> func.HttpResponse:
    """Answer ``req`` for the function registered on ``route``."""
    path = "/" + req.url.split("://", 1)[-1].split("/", 1)[-1].split("?", 1)[0]
    response = handle(
        ApiRequest.build(
            method=req.method,
            route=route,
            path=path,
            route_params=req.route_params,
            params=req.params,
            headers=dict(req.headers),
            body=req.get_body(),
        ),
        _CONTEXT,
        HANDLERS,
    )
    return func.HttpResponse(
        body=response.body,
        status_code=response.status,
        headers=response.headers,
        mimetype=response.media_type,
        charset="utf-8",
    )


_KEYED = func.AuthLevel.FUNCTION


@bp.route(route="measurements", methods=["GET"], auth_level=_KEYED)
def api_list_measurements(req: func.HttpRequest) -> func.HttpResponse:
    """GET /api/measurements: search measurements."""
    return serve("measurements", req)


@bp.route(route="measurements/{id}", methods=["GET"], auth_level=_KEYED)
def api_get_measurement(req: func.HttpRequest) -> func.HttpResponse:
    """GET /api/measurements/{id}: a measurement with a summary of its datastreams."""
    return serve("measurements/{id}", req)


@bp.route(route="measurements/{id}/datastreams", methods=["GET"], auth_level=_KEYED)
def api_list_measurement_datastreams(req: func.HttpRequest) -> func.HttpResponse:
    """GET /api/measurements/{id}/datastreams."""
    return serve("measurements/{id}/datastreams", req)


# GET and PATCH share one function: hosts route by template first, method second.
@bp.route(route="datastreams/{id}", methods=["GET", "PATCH"], auth_level=_KEYED)
def api_datastream(req: func.HttpRequest) -> func.HttpResponse:
    """GET /api/datastreams/{id}, and PATCH for checked state changes (write role)."""
    return serve("datastreams/{id}", req)


@bp.route(route="datastreams/{id}/files", methods=["GET"], auth_level=_KEYED)
def api_list_datastream_files(req: func.HttpRequest) -> func.HttpResponse:
    """GET /api/datastreams/{id}/files."""
    return serve("datastreams/{id}/files", req)


@bp.route(route="datastreams/{id}/lineage", methods=["GET"], auth_level=_KEYED)
def api_datastream_lineage(req: func.HttpRequest) -> func.HttpResponse:
    """GET /api/datastreams/{id}/lineage?direction=&depth=."""
    return serve("datastreams/{id}/lineage", req)


@bp.route(route="locations", methods=["GET"], auth_level=_KEYED)
def api_locations(req: func.HttpRequest) -> func.HttpResponse:
    """GET /api/locations?datastream=&path=&sas=: where data is stored, optionally with a SAS."""
    return serve("locations", req)


@bp.route(route="scenes", methods=["GET"], auth_level=_KEYED)
def api_list_scenes(req: func.HttpRequest) -> func.HttpResponse:
    """GET /api/scenes."""
    return serve("scenes", req)


@bp.route(route="frames", methods=["GET"], auth_level=_KEYED)
def api_list_frames(req: func.HttpRequest) -> func.HttpResponse:
    """``GET /api/frames``: frame index search (Delta tables in the curated zone)."""
    return serve("frames", req)


@bp.route(route="label-exports/{id}/imports", methods=["GET"], auth_level=_KEYED)
def api_list_label_imports(req: func.HttpRequest) -> func.HttpResponse:
    """``GET /api/label-exports/{id}/imports``: label files of an export and their reports."""
    return serve("label-exports/{id}/imports", req)


@bp.route(route="openapi.json", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def api_openapi(req: func.HttpRequest) -> func.HttpResponse:
    """GET /api/openapi.json: the OpenAPI 3.1 document (no key: it describes, never reveals)."""
    return serve("openapi.json", req)


@bp.route(route="docs", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def api_docs(req: func.HttpRequest) -> func.HttpResponse:
    """GET /api/docs: the document as an offline HTML page."""
    return serve("docs", req)
