"""Every HTTP trigger of the app, one per route template of ``dataops.api``'s route table.

The triggers are made from the table (``dataops.api.triggers``), so no route exists that the
table and the OpenAPI document do not know. A trigger parses nothing: it hands the request's
parts to the dispatcher (``handle``, or ``handle_async`` with its durable client for the
starters and the run status route) and sends back the answer. Roles, parameters, bodies,
answers and errors: ``dataops/api/routes.py``.
"""

from __future__ import annotations

import threading
from contextlib import AbstractContextManager
from dataclasses import replace
from typing import Any

import azure.durable_functions as df
import azure.functions as func

from activities import runtime
from dataops.api import (
    HANDLERS,
    RUN_HANDLERS,
    ApiContext,
    ApiRequest,
    ApiResponse,
    Locator,
    StartInputs,
    Trigger,
    handle,
    handle_async,
    triggers,
)
from dataops.explorer.drive import EXPLORER_TABLE_CACHE_DIR, DriveReader
from dataops.frames.search import FrameSearch
from dataops.frames.tables import TABLE_CACHE_DIR
from dataops.scenes.search import SceneSearch
from dataops.settings import Settings
from dataops.storage import BlobZones, zone_clients_from_settings
from dataops.store import MetadataStore
from dataops.telemetry import step_timer
from function_app.durable import DurableRunControl
from function_app.extraction import extract_start_input

__all__ = ["bp"]

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


def _zones() -> BlobZones:
    return runtime.blob_zones()


_frames_lock = threading.Lock()
_frames: tuple[BlobZones, FrameSearch] | None = None


def _process_frames() -> FrameSearch:
    # Rebuilt only when runtime.reset() gave the process new blob clients. The table cache is
    # a scratch directory: keyed by each table's log etags, it never serves a stale table.
    global _frames  # noqa: PLW0603  # one per process, like the locator
    zones = runtime.blob_zones()
    with _frames_lock:
        if _frames is None or _frames[0] is not zones:
            _frames = (zones, FrameSearch(zones, TABLE_CACHE_DIR))
        return _frames[1]


_drives_lock = threading.Lock()
_drives: tuple[BlobZones, DriveReader] | None = None


def _process_drives() -> DriveReader:
    # The explorer's drive reader owns its table and thumbnail caches: one per blob clients.
    global _drives  # noqa: PLW0603  # one per process, like the frame search
    zones = runtime.blob_zones()
    with _drives_lock:
        if _drives is None or _drives[0] is not zones:
            _drives = (zones, DriveReader(zones, EXPLORER_TABLE_CACHE_DIR))
        return _drives[1]


def _process_scenes() -> SceneSearch:
    # Shares the frame search's table cache (and its rebuild on new blob clients).
    return SceneSearch(_process_frames().tables)


def _ingest_input(prefix: str, sources: list[str]) -> dict[str, Any]:
    return runtime.ingest_start_input(prefix, sources=sources)


def _extract_input(measurement_id: str, raw_id: str, datastream_id: str) -> dict[str, Any]:
    return extract_start_input(measurement_id, raw_id, datastream_id=datastream_id)


_CONTEXT = ApiContext(
    settings=_settings,
    store=_store,
    locator=_process_locator,
    frames=_process_frames,
    scenes=_process_scenes,
    zones=_zones,
    drives=_process_drives,
    start_inputs=StartInputs(ingest=_ingest_input, extract=_extract_input),
)


def _request(route: str, req: func.HttpRequest) -> ApiRequest:
    return ApiRequest.from_url(
        method=req.method,
        route=route,
        url=req.url,
        route_params=req.route_params,
        params=req.params,
        headers=dict(req.headers),
        body=req.get_body(),
    )


def _response(response: ApiResponse) -> func.HttpResponse:
    return func.HttpResponse(
        body=response.body,
        status_code=response.status,
        headers=response.headers,
        mimetype=response.media_type,
        charset="utf-8",
    )


# What the ``{id}`` of a route names, by the route's first segment.
_ROUTE_IDS = {
    "measurements": "measurement_id",
    "datastreams": "datastream_id",
    "runs": "instance_id",
}


def _traced(trigger: Trigger, req: func.HttpRequest) -> AbstractContextManager[object]:
    """One telemetry step per request, with the ids its route names bound."""
    route_id = (req.route_params or {}).get("id")
    id_field = _ROUTE_IDS.get(trigger.route.split("/", 1)[0])
    ids = {id_field: route_id} if id_field and route_id else {}
    return step_timer(trigger.name, **ids)


def _register(trigger: Trigger) -> None:
    """One Functions HTTP trigger serving every operation of ``trigger.route``."""
    # Anonymous only where no operation needs a role (document, docs, health); elsewhere the
    # host checks a function key first and the dispatcher then checks the role.
    auth_level = func.AuthLevel.ANONYMOUS if trigger.anonymous else func.AuthLevel.FUNCTION
    function: Any
    if trigger.runs:

        async def serve_with_client(
            req: func.HttpRequest, client: df.DurableOrchestrationClient
        ) -> func.HttpResponse:
            context = replace(_CONTEXT, runs=DurableRunControl(client))
            with _traced(trigger, req):
                answer = await handle_async(
                    _request(trigger.route, req), context, HANDLERS, RUN_HANDLERS
                )
            return _response(answer)

        serve_with_client.__doc__ = f"/api/{trigger.route} (with the durable client)."
        function = bp.durable_client_input(client_name="client")(serve_with_client)
    else:

        def serve(req: func.HttpRequest) -> func.HttpResponse:
            with _traced(trigger, req):
                answer = handle(_request(trigger.route, req), _CONTEXT, HANDLERS)
            return _response(answer)

        serve.__doc__ = f"/api/{trigger.route}."
        function = serve
    function = bp.route(route=trigger.route, methods=list(trigger.methods), auth_level=auth_level)(
        function
    )
    bp.function_name(name=trigger.name)(function)


for _trigger in triggers():
    _register(_trigger)
