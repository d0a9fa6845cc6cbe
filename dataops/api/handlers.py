"""One function per operation: validated parameters in, a model out, the store in between."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime

from dataops import __version__
from dataops.api.auth import Role, require_role
from dataops.api.dispatch import ApiContext, Call, Handler, Reply, json_reply
from dataops.api.docs_page import render_docs
from dataops.api.models import (
    DatastreamList,
    DatastreamPatch,
    DatastreamSummary,
    FilePage,
    Frame,
    FramePage,
    Health,
    LabelExportRevoked,
    LineageEdgeOut,
    LineageResponse,
    MeasurementDetail,
    MeasurementFilePage,
    MeasurementPage,
    ScenePage,
)
from dataops.api.openapi import openapi_document
from dataops.api.params import (
    DatastreamListParams,
    FileListParams,
    FrameSearchParams,
    LineageParams,
    LocationParams,
    MeasurementSearch,
    SceneSearch,
)
from dataops.api.problems import ApiError
from dataops.labeling.exporting.steps import revoke_export
from dataops.labeling.importing.status import list_label_imports
from dataops.models import Datastream
from dataops.storage.export_zones import check_export_id

__all__ = ["HANDLERS"]


def _etag_header(datastream: Datastream) -> dict[str, str]:
    return {"ETag": f'"{datastream.etag}"'} if datastream.etag else {}


def list_measurements(context: ApiContext, call: Call) -> Reply:
    """``GET /measurements``."""
    search: MeasurementSearch = call.params
    page = context.store().query_measurements(
        search.store_query(limit=search.limit, continuation=search.continuation, state=search.state)
    )
    return json_reply(MeasurementPage(items=page.items, continuation=page.continuation))


def get_measurement(context: ApiContext, call: Call) -> Reply:
    """``GET /measurements/{id}``."""
    store = context.store()
    measurement = store.get_measurement(call.ids["id"])
    datastreams = store.list_datastreams(measurement.id)
    return json_reply(
        MeasurementDetail(
            measurement=measurement,
            datastreams=[DatastreamSummary.of(d) for d in datastreams],
            datastream_states=dict(Counter(d.state.value for d in datastreams)),
        )
    )


def list_measurement_datastreams(context: ApiContext, call: Call) -> Reply:
    """``GET /measurements/{id}/datastreams``."""
    params: DatastreamListParams = call.params
    store = context.store()
    # A missing measurement is a 404, not an empty list: the caller's id is wrong.
    measurement = store.get_measurement(call.ids["id"])
    items = store.list_datastreams(measurement.id, params.type)
    return json_reply(DatastreamList(measurement_id=measurement.id, items=items))


def list_measurement_files(context: ApiContext, call: Call) -> Reply:
    """``GET /measurements/{id}/files``."""
    params: FileListParams = call.params
    measurement_id = call.ids["id"]
    page = context.store().list_measurement_files(
        measurement_id, limit=params.limit, continuation=params.continuation
    )
    return json_reply(
        MeasurementFilePage(
            measurement_id=measurement_id, items=page.items, continuation=page.continuation
        )
    )


def get_datastream(context: ApiContext, call: Call) -> Reply:
    """``GET /datastreams/{id}``."""
    datastream = context.store().get_datastream(call.ids["id"])
    return json_reply(datastream, headers=_etag_header(datastream))


def _if_match(headers: Mapping[str, str]) -> str:
    value = headers.get("if-match", "").strip()
    if not value:
        raise ApiError(428, "send If-Match with the datastream's ETag", parameter="If-Match")
    if value == "*" or value.startswith("W/") or "," in value:
        raise ApiError(400, "If-Match must be exactly one strong ETag", parameter="If-Match")
    return value[1:-1] if len(value) >= 2 and value[0] == value[-1] == '"' else value


def update_datastream_state(context: ApiContext, call: Call) -> Reply:
    """``PATCH /datastreams/{id}``: checked transition, guarded by If-Match."""
    patch: DatastreamPatch = call.body
    etag = _if_match(call.headers)
    updated = context.store().transition_datastream(
        call.ids["id"], patch.state, expected_etag=etag, reason=patch.reason, stats=patch.stats
    )
    return json_reply(updated, headers=_etag_header(updated))


def list_datastream_files(context: ApiContext, call: Call) -> Reply:
    """``GET /datastreams/{id}/files``."""
    params: FileListParams = call.params
    store = context.store()
    datastream = store.get_datastream(call.ids["id"])
    page = store.list_files(datastream.id, limit=params.limit, continuation=params.continuation)
    return json_reply(
        FilePage(datastream_id=datastream.id, items=page.items, continuation=page.continuation)
    )


def get_datastream_lineage(context: ApiContext, call: Call) -> Reply:
    """``GET /datastreams/{id}/lineage``."""
    params: LineageParams = call.params
    graph = context.store().lineage(call.ids["id"], params.direction, params.depth)
    # Root first, then the rest in id order: stable output for clients and tests.
    others = sorted((n for i, n in graph.nodes.items() if i != graph.root), key=lambda d: d.id)
    return json_reply(
        LineageResponse(
            root=graph.root,
            direction=params.direction.value,
            depth=params.depth,
            nodes=[graph.nodes[graph.root], *others],
            edges=[LineageEdgeOut(source=e.source, target=e.target) for e in graph.edges],
            truncated=graph.truncated,
        )
    )


def get_location(context: ApiContext, call: Call) -> Reply:
    """``GET /locations``."""
    params: LocationParams = call.params
    if params.sas and call.caller is not None:
        # The route already needs read; kept explicit so a change of the route role cannot
        # hand out SAS tokens to callers below read.
        require_role(call.caller, Role.READ)
    datastream = context.store().get_datastream(params.datastream)
    location = context.locator().locate(datastream, params.path, with_sas=params.sas)
    # A SAS is a bearer secret: no cache may keep the answer.
    return json_reply(location, headers={"Cache-Control": "no-store"})


def list_scenes(context: ApiContext, call: Call) -> Reply:
    """``GET /scenes``: from the scenes Delta tables of SCENES datastreams, not the store."""
    search: SceneSearch = call.params
    page = context.scene_search().search(context.store(), search.table_query())
    return json_reply(ScenePage(items=page.items, continuation=page.continuation))


def list_frames(context: ApiContext, call: Call) -> Reply:
    """``GET /frames``: from the frame index Delta tables, not the store."""
    search: FrameSearchParams = call.params
    page = context.frame_search().search(context.store(), search.frame_query())
    items = [
        Frame.model_validate(
            {
                **row,
                "time": datetime.fromtimestamp(row["time_ns"] / 1e9, tz=UTC),
                "paths": dict(row["paths"] or {}),
                "object_classes": list(row["object_classes"] or []),
                "scene_ids": list(row["scene_ids"] or []),
                "scene_types": list(row["scene_types"] or []),
                "label_categories": list(row["label_categories"] or []),
            }
        )
        for row in page.items
    ]
    return json_reply(FramePage(items=items, continuation=page.continuation))


def list_label_export_imports(context: ApiContext, call: Call) -> Reply:
    """``GET /label-exports/{id}/imports``: from the export's labeled container."""
    if context.zones is None:
        raise ApiError(503, "blob storage is not configured in this process")
    return json_reply(list_label_imports(context.zones(), context.store(), call.ids["id"]))


def revoke_label_export(context: ApiContext, call: Call) -> Reply:
    """``POST /label-exports/{id}/revoke``: delete the access policies, mark revoked."""
    if context.zones is None:
        raise ApiError(503, "blob storage is not configured in this process")
    export_id = check_export_id(call.ids["id"], field="id")
    record = revoke_export(context.zones(), export_id, now=datetime.now(UTC))
    return json_reply(LabelExportRevoked(export_id=export_id, revoked_at=record.revoked_at))


def get_health(context: ApiContext, call: Call) -> Reply:
    """``GET /health``: the app is loaded; storage and the store are not touched."""
    del context, call
    return json_reply(Health(status="ok", version=__version__))


def get_openapi(context: ApiContext, call: Call) -> Reply:
    """``GET /openapi.json``."""
    del context, call  # the document depends on the code only
    return Reply(body=openapi_document())


def get_docs(context: ApiContext, call: Call) -> Reply:
    """``GET /docs``."""
    del context, call
    return Reply(body=render_docs(openapi_document()))


HANDLERS: dict[str, Handler] = {
    "listMeasurements": list_measurements,
    "getMeasurement": get_measurement,
    "listMeasurementDatastreams": list_measurement_datastreams,
    "getDatastream": get_datastream,
    "updateDatastreamState": update_datastream_state,
    "listDatastreamFiles": list_datastream_files,
    "listMeasurementFiles": list_measurement_files,
    "getDatastreamLineage": get_datastream_lineage,
    "getLocation": get_location,
    "listScenes": list_scenes,
    "listFrames": list_frames,
    "listLabelImports": list_label_export_imports,
    "revokeLabelExport": revoke_label_export,
    "getHealth": get_health,
    "getOpenApiDocument": get_openapi,
    "getApiDocs": get_docs,
}
