"""The route table: every operation of the Metadata API, described once.

``function_app/api.py`` registers one Functions route per distinct ``route``; the dispatcher
looks the operation up by (method, route); the OpenAPI document and the docs page are generated
from the same entries, so code, document and docs cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel

from dataops.api.auth import Role
from dataops.api.models import (
    DatastreamList,
    DatastreamPatch,
    FilePage,
    FramePage,
    LineageResponse,
    Location,
    MeasurementDetail,
    MeasurementPage,
    ScenePage,
)
from dataops.api.params import (
    DatastreamListParams,
    FileListParams,
    FrameSearchParams,
    LineageParams,
    LocationParams,
    MeasurementSearch,
    NoParams,
    SceneSearch,
)
from dataops.labeling.import_status import LabelImports
from dataops.models import Datastream

__all__ = ["HTML", "JSON", "ROUTES", "Operation", "find_operation"]

JSON = "application/json"
HTML = "text/html"


@dataclass(frozen=True)
class Operation:
    """One method on one route."""

    operation_id: str
    method: str
    route: str
    """The Functions route template below ``/api`` (``measurements/{id}``)."""
    summary: str
    description: str
    role: Role | None
    """Role the caller needs; None: no credentials needed (the document and its docs)."""
    params: type[BaseModel] = NoParams
    response: type[BaseModel] | None = None
    """JSON body of the 200 answer; None for the document and the docs page."""
    body: type[BaseModel] | None = None
    errors: tuple[int, ...] = (400, 401, 403)
    etag: bool = False
    """The answer carries an ETag header (and a PATCH requires If-Match)."""
    media_type: str = JSON

    @property
    def path_params(self) -> tuple[str, ...]:
        """Names of the ``{...}`` segments of the route."""
        return tuple(
            part[1:-1]
            for part in self.route.split("/")
            if part.startswith("{") and part.endswith("}")
        )


_READ_ERRORS = (400, 401, 403, 503)
_ONE_ERRORS = (400, 401, 403, 404, 503)

ROUTES: tuple[Operation, ...] = (
    Operation(
        operation_id="listMeasurements",
        method="GET",
        route="measurements",
        summary="Search measurements",
        description="Recordings that overlap [from, to], newest first, filtered by vehicle, tag "
        "and state; continuation-token pages.",
        role=Role.READ,
        params=MeasurementSearch,
        response=MeasurementPage,
        errors=_READ_ERRORS,
    ),
    Operation(
        operation_id="getMeasurement",
        method="GET",
        route="measurements/{id}",
        summary="One measurement with a summary of its datastreams",
        description="The measurement document and, for each of its datastreams, type, state, "
        "place and file count.",
        role=Role.READ,
        response=MeasurementDetail,
        errors=_ONE_ERRORS,
    ),
    Operation(
        operation_id="listMeasurementDatastreams",
        method="GET",
        route="measurements/{id}/datastreams",
        summary="Datastreams of a measurement",
        description="Every datastream of the measurement, oldest first, optionally of one type.",
        role=Role.READ,
        params=DatastreamListParams,
        response=DatastreamList,
        errors=_ONE_ERRORS,
    ),
    Operation(
        operation_id="getDatastream",
        method="GET",
        route="datastreams/{id}",
        summary="One datastream",
        description="The datastream document; its ETag header is what a PATCH sends as If-Match.",
        role=Role.READ,
        response=Datastream,
        errors=_ONE_ERRORS,
        etag=True,
    ),
    Operation(
        operation_id="updateDatastreamState",
        method="PATCH",
        route="datastreams/{id}",
        summary="Change a datastream's state (pipeline components)",
        description="Checked state transition with optimistic concurrency: If-Match must carry "
        "the ETag of the version the caller read. 412 if it changed since, 409 if the state "
        "machine does not allow the change. Needs the write role.",
        role=Role.WRITE,
        body=DatastreamPatch,
        response=Datastream,
        errors=(400, 401, 403, 404, 409, 412, 415, 428, 503),
        etag=True,
    ),
    Operation(
        operation_id="listDatastreamFiles",
        method="GET",
        route="datastreams/{id}/files",
        summary="File records of a datastream",
        description="File records in path order; continuation-token pages.",
        role=Role.READ,
        params=FileListParams,
        response=FilePage,
        errors=_ONE_ERRORS,
    ),
    Operation(
        operation_id="getDatastreamLineage",
        method="GET",
        route="datastreams/{id}/lineage",
        summary="Lineage of a datastream",
        description="What it was made from (up), what was made from it (down), or both, "
        "breadth-first to `depth` levels.",
        role=Role.READ,
        params=LineageParams,
        response=LineageResponse,
        errors=_ONE_ERRORS,
    ),
    Operation(
        operation_id="getLocation",
        method="GET",
        route="locations",
        summary="Where a datastream or one of its blobs is stored",
        description="Zone, container, path and URL; with `sas=true` also a short-lived read-only "
        "SAS (one blob, or read+list on the container for a whole datastream).",
        role=Role.READ,
        params=LocationParams,
        response=Location,
        errors=_ONE_ERRORS,
    ),
    Operation(
        operation_id="listScenes",
        method="GET",
        route="scenes",
        summary="Search scenes",
        description="Scenes by start time, filtered by type, vehicle, measurement and start "
        "in [from, to]; continuation-token pages.",
        role=Role.READ,
        params=SceneSearch,
        response=ScenePage,
        errors=_READ_ERRORS,
    ),
    Operation(
        operation_id="listFrames",
        method="GET",
        route="frames",
        summary="Search frames",
        description="Reference frames from the frame index (Delta tables written by "
        "detect_scenes), by time, filtered by vehicle, object class, scene type and time in "
        "[from, to]; continuation-token pages.",
        role=Role.READ,
        params=FrameSearchParams,
        response=FramePage,
        errors=_READ_ERRORS,
    ),
    Operation(
        operation_id="listLabelImports",
        method="GET",
        route="label-exports/{id}/imports",
        summary="Label files a partner handed back for an export, with their reports",
        description="Every label file in the export's labeled container, in name order, with "
        "the import's verdict on its current version: `accepted` (with the LABELED datastream "
        "ids), `rejected` (with every error, naming file and JSON path), `failed`, or "
        "`pending` (not checked yet).",
        role=Role.READ,
        response=LabelImports,
        errors=_ONE_ERRORS,
    ),
    Operation(
        operation_id="getOpenApiDocument",
        method="GET",
        route="openapi.json",
        summary="This API's OpenAPI 3.1 document",
        description="Generated from the request and response models.",
        role=None,
        errors=(400,),
    ),
    Operation(
        operation_id="getApiDocs",
        method="GET",
        route="docs",
        summary="This API's documentation as a page",
        description="The OpenAPI document rendered as plain HTML (no scripts, works offline).",
        role=None,
        errors=(400,),
        media_type=HTML,
    ),
)


def find_operation(method: str, route: str) -> Operation | None:
    """The operation serving ``method`` on ``route`` (a route template), if any."""
    for operation in ROUTES:
        if operation.route == route and operation.method == method.upper():
            return operation
    return None
