"""The route table: every HTTP operation of the app, described once.

The Metadata API, the starters of orchestrations (rerun, rehydrate, extract, step rerun, label
exports), the run status route and the liveness probe are all here. ``function_app/http.py``
registers one Functions HTTP trigger per distinct ``route`` of this table and nothing else; the
dispatcher looks the operation up by (method, route); the OpenAPI document and the docs page
are generated from the same entries, so code, document and docs cannot disagree.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from dataops.api.auth import Role
from dataops.api.models import (
    DatastreamList,
    DatastreamPatch,
    ErasureAnswer,
    FilePage,
    FramePage,
    Health,
    JobDoneSignalled,
    LabelExportAccepted,
    LabelExportRevoked,
    LabelExportView,
    LineageResponse,
    Location,
    MeasurementDetail,
    MeasurementFilePage,
    MeasurementPage,
    RunAccepted,
    RunStatus,
    ScenePage,
    StrandedList,
)
from dataops.api.params import (
    DatastreamListParams,
    DeadLetterListParams,
    EraseParams,
    FileListParams,
    FrameSearchParams,
    LineageParams,
    LocationParams,
    MeasurementSearch,
    NoParams,
    SceneSearch,
)
from dataops.clips.steps import ClipRequest
from dataops.dead_letters.models import DeadLetterPage, RedriveAnswer
from dataops.explorer.models import DriveFrames, DriveScenes, DriveSignals, DriveTrack
from dataops.explorer.params import (
    CatalogParams,
    DriveFramesParams,
    DriveParams,
    ImageParams,
    LabelingParams,
    SearchParams,
)
from dataops.job_signal import JOB_DONE_ROUTE, JOB_TOKEN_HEADER
from dataops.labeling.exporting.request import LabelExportRequest
from dataops.labeling.exporting.status import MAX_REQUEST_BYTES
from dataops.labeling.importing.status import LabelImports
from dataops.models import Datastream

__all__ = [
    "HTML",
    "JPEG",
    "JSON",
    "ROUTES",
    "Operation",
    "Trigger",
    "find_operation",
    "triggers",
]

JSON = "application/json"
HTML = "text/html"
JPEG = "image/jpeg"


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
    """Role the caller needs; None: no credentials needed (the document, the docs, health)."""
    params: type[BaseModel] = NoParams
    response: type[BaseModel] | None = None
    """JSON body of the success answer; None for the document and the docs page."""
    body: type[BaseModel] | None = None
    errors: tuple[int, ...] = (400, 401, 403)
    etag: bool = False
    """The answer carries an ETag header (and a PATCH requires If-Match)."""
    media_type: str = JSON
    status: int = 200
    """Status of the success answer: 202 when the operation started an orchestration."""
    runs: bool = False
    """The handler needs the orchestration client (starters, run status): it is async."""
    headers: tuple[tuple[str, str], ...] = ()
    """Headers of the success answer besides ETag, as (name, description)."""
    document_path: str | None = None
    """The path in the OpenAPI document when ``route`` ends in a catch-all it cannot show."""
    max_body_bytes: int = 64 * 1024
    browser: bool = False
    """Opened by browsers (the explorer): besides a key or a principal, the signed session cookie
    counts, so the trigger lets requests in without a host key and the app checks the role."""
    other_media_types: tuple[str, ...] = ()
    """Further media types of the success answer (assets, images), documented too."""
    token_header: str | None = None
    """Callers authenticate with a token of the one resource they name, in this header,
    instead of a key or a role (``role`` is None, so the host lets them in without a key);
    the operation's handler checks it."""
    answer: str | None = None
    """What the success answer means, when not the usual text of its status."""

    @property
    def path_params(self) -> tuple[str, ...]:
        """Names of the ``{...}`` segments of the route (a catch-all's without its ``*``)."""
        return tuple(
            part[1:-1].lstrip("*")
            for part in self.route.split("/")
            if part.startswith("{") and part.endswith("}")
        )

    @property
    def catch_all(self) -> str | None:
        """The name of the route's ``{*name}`` segment (it may hold slashes), if it has one."""
        last = self.route.rsplit("/", 1)[-1]
        return last[2:-1] if last.startswith("{*") and last.endswith("}") else None

    @property
    def path(self) -> str:
        """The operation's path in the OpenAPI document (below the ``/api`` server URL)."""
        return self.document_path or "/" + self.route


@dataclass(frozen=True)
class Trigger:
    """One Functions HTTP trigger: every operation on one route template."""

    name: str
    """The function name: ``http_`` and the route's letters and digits."""
    route: str
    methods: tuple[str, ...]
    anonymous: bool
    """No operation on the route needs a host key (none needs a role, or the app checks the
    role itself: the explorer's browser routes): the host lets requests in without a key."""
    runs: bool
    """An operation needs the orchestration client: the trigger gets the durable client."""


_READ_ERRORS = (400, 401, 403, 503)
_ONE_ERRORS = (400, 401, 403, 404, 503)
_PAGE_ERRORS = (400, 401, 403, 404, 503)
_START_ERRORS = (400, 401, 403, 404, 409, 503)
_LOCATION = ("Location", "The run's status route, `/api/runs/{instance_id}` (read role).")
_MADE = ("X-AVOps-Datastream-Id", "The datastream the run will make.")


# The kinds of operation the table holds; each call names what its operation does besides them
# (summary and description always), as Operation's fields.


def _read(operation_id: str, route: str, **details: Any) -> Operation:
    """A GET for the read role; 404 for an unknown id unless ``details`` say other errors."""
    details.setdefault("errors", _ONE_ERRORS)
    return Operation(operation_id, "GET", route, role=Role.READ, **details)


def _public(operation_id: str, route: str, **details: Any) -> Operation:
    """A GET anyone may call, without credentials: the document, the docs, health, assets."""
    return Operation(operation_id, "GET", route, role=None, **details)


def _start(
    operation_id: str, route: str, headers: tuple[tuple[str, str], ...] = (), **details: Any
) -> Operation:
    """A POST that starts an orchestration run: 202 with the run's status route in ``Location``
    (besides ``headers``); the write role unless ``details`` name another."""
    details.setdefault("role", Role.WRITE)
    details.setdefault("response", RunAccepted)
    details.setdefault("errors", _START_ERRORS)
    return Operation(
        operation_id, "POST", route, status=202, runs=True, headers=(_LOCATION, *headers), **details
    )


def _explorer_page(operation_id: str, route: str, **details: Any) -> Operation:
    """An HTML page of the Data Explorer, opened by browsers."""
    return _read(operation_id, route, errors=_PAGE_ERRORS, media_type=HTML, browser=True, **details)


def _drive_data(operation_id: str, route: str, **details: Any) -> Operation:
    """Data the explorer's drive view fetches from the browser (JSON, or a frame's image)."""
    return _read(operation_id, route, browser=True, **details)


ROUTES: tuple[Operation, ...] = (
    _read(
        "listMeasurements",
        "measurements",
        summary="Search measurements",
        description="Recordings that overlap [from, to], newest first, filtered by vehicle, tag "
        "and state; continuation-token pages.",
        params=MeasurementSearch,
        response=MeasurementPage,
        errors=_READ_ERRORS,
    ),
    _read(
        "getMeasurement",
        "measurements/{id}",
        summary="One measurement with a summary of its datastreams",
        description="The measurement document and, for each of its datastreams, type, state, "
        "place and file count.",
        response=MeasurementDetail,
    ),
    _read(
        "listMeasurementDatastreams",
        "measurements/{id}/datastreams",
        summary="Datastreams of a measurement",
        description="Every datastream of the measurement, oldest first, optionally of one type.",
        params=DatastreamListParams,
        response=DatastreamList,
    ),
    _read(
        "listMeasurementFiles",
        "measurements/{id}/files",
        summary="File records of a measurement's manifest",
        description="The files its manifest listed, in path order; continuation-token pages "
        "(the measurement document carries only `file_count` and `total_bytes`).",
        params=FileListParams,
        response=MeasurementFilePage,
    ),
    _read(
        "getDatastream",
        "datastreams/{id}",
        summary="One datastream",
        description="The datastream document; its ETag header is what a PATCH sends as If-Match.",
        response=Datastream,
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
    _read(
        "listDatastreamFiles",
        "datastreams/{id}/files",
        summary="File records of a datastream",
        description="File records in path order; continuation-token pages.",
        params=FileListParams,
        response=FilePage,
    ),
    _read(
        "getDatastreamLineage",
        "datastreams/{id}/lineage",
        summary="Lineage of a datastream",
        description="What it was made from (up), what was made from it (down), or both, "
        "breadth-first to `depth` levels.",
        params=LineageParams,
        response=LineageResponse,
    ),
    _read(
        "getLocation",
        "locations",
        summary="Where a datastream or one of its blobs is stored",
        description="Zone, container, path and URL; with `sas=true` also a short-lived read-only "
        "SAS (one blob, or read+list on the container for a whole datastream).",
        params=LocationParams,
        response=Location,
    ),
    _read(
        "listScenes",
        "scenes",
        summary="Search scenes",
        description="Scenes by start time, filtered by type, vehicle, measurement and start "
        "in [from, to]; continuation-token pages.",
        params=SceneSearch,
        response=ScenePage,
        errors=_READ_ERRORS,
    ),
    _read(
        "listFrames",
        "frames",
        summary="Search frames",
        description="Reference frames from the frame index (Delta tables written by "
        "detect_scenes), by time, filtered by vehicle, object class, scene type and time in "
        "[from, to]; continuation-token pages.",
        params=FrameSearchParams,
        response=FramePage,
        errors=_READ_ERRORS,
    ),
    _read(
        "listLabelImports",
        "label-exports/{id}/imports",
        summary="Label files a partner handed back for an export, with their reports",
        description="Every label file in the export's labeled container, in name order, with "
        "the import's verdict on its current version: `accepted` (with the LABELED datastream "
        "ids), `rejected` (with every error, naming file and JSON path), `failed`, or "
        "`pending` (not checked yet).",
        response=LabelImports,
    ),
    _public(
        "getOpenApiDocument",
        "openapi.json",
        summary="This API's OpenAPI 3.1 document",
        description="Generated from the request and response models.",
        errors=(400,),
    ),
    _public(
        "getApiDocs",
        "docs",
        summary="This API's documentation as a page",
        description="The OpenAPI document rendered as plain HTML (no scripts, works offline).",
        errors=(400,),
        media_type=HTML,
    ),
    _public(
        "getHealth",
        "health",
        summary="Liveness",
        description="Answers as soon as the app is loaded, without touching storage or the "
        "store, so a probe never cascades into them.",
        response=Health,
        errors=(),
    ),
    _read(
        "getRun",
        "runs/{id}",
        summary="Status of an orchestration run",
        description="What a starter's `Location` points at: runtime status, custom status "
        "(progress), output and times of one orchestration instance. No history, no input "
        "and no management URLs: terminating, rewinding or raising events on runs stays with "
        "operators (the Functions host's Durable API under the system key).",
        response=RunStatus,
        errors=(400, 401, 403, 404),
        runs=True,
    ),
    Operation(
        operation_id="signalBatchJobDone",
        method="POST",
        route=JOB_DONE_ROUTE,
        summary="A Batch job of a run ended: the run polls now (Azure Batch release tasks)",
        description="Called by the release task of an Azure Batch job when the job ends, with "
        f"the job's token in `{JOB_TOKEN_HEADER}`: HMAC-SHA256 of (run, job) under "
        "AVOPS_BATCH_NOTIFY_SECRET, put into the release task's environment when the job was "
        "created. No key and no role: the token is good for this one job of this one run, and "
        'only raises `batch_job_done` on it, which means "poll your jobs now" (polling '
        "finds them anyway). A missing or wrong token is 403, whatever was wrong; 410 when the "
        "run is unknown or finished. No body. See docs/batch.md.",
        role=None,
        token_header=JOB_TOKEN_HEADER,
        response=JobDoneSignalled,
        errors=(400, 403, 410, 503),
        status=202,
        runs=True,
        answer="Accepted: the run was told; it polls its jobs now.",
    ),
    _read(
        "listStrandedUploads",
        "landing/stranded",
        summary="Uploads stranded in landing",
        description="Every landing prefix older than the reconciler's threshold that no active "
        "`ingest` run works on, whatever the reason (no manifest, an empty manifest, no run, "
        "a finished run that left blobs behind); the reconciler logs and counts the same rows "
        "every pass. Computed from a listing of landing: the answer is never cached.",
        response=StrandedList,
        errors=_READ_ERRORS,
        runs=True,
    ),
    Operation(
        operation_id="listDeadLetters",
        method="GET",
        route="deadletters",
        summary="Dead letters of the change feed",
        description="Batches the datastreams change-feed consumer gave up on after its last "
        "attempt, newest first: id (derived from the record's path), function, reason, "
        "attempts, time and each document's identity; `redriven=true` lists those already "
        "handed back. Filtered by `function` and `measurement`; continuation-token pages (a "
        "filtered page may be short). Needs the write role: reasons carry internals.",
        role=Role.WRITE,
        params=DeadLetterListParams,
        response=DeadLetterPage,
        errors=_READ_ERRORS,
    ),
    Operation(
        operation_id="redriveDeadLetter",
        method="POST",
        route="deadletters/{id}/redrive",
        summary="Hand a dead letter's batch back",
        description="Reads each document's datastream as it is now and routes it as the "
        "consumer does: the step it triggers starts unless its instance exists (`skipped`, "
        "as is a datastream that moved on, with its state); an erased one is `missing`. When "
        "every document was handled the record moves under `redriven/` with who, when and "
        "the outcomes (`redriven`); a second request does nothing (`already_redriven`); when "
        "a step could not be started the record stays pending with the attempt (`failed`). "
        "Needs the write role.",
        role=Role.WRITE,
        response=RedriveAnswer,
        errors=(400, 401, 403, 404, 409, 503),
        runs=True,
    ),
    _start(
        "eraseVehicle",
        "vehicles/{vehicle_id}/erase",
        summary="Erase every byte of a vehicle's data",
        description="Tombstones the vehicle (no new upload of it is registered), purges the "
        "histories of its runs and starts an `erase` run that deletes its blobs in every zone "
        "(and the label exports that hold any of it), its batch jobs and its store documents; "
        "keeps a record without the vehicle id. `dry_run=true` lists what would go (200). A "
        "repeated request finds the same erasure: 202 while it runs, 200 once done. 409 while "
        "a run of the vehicle is active. Needs the erase role (never implied by write). See "
        "docs/erasure.md.",
        role=Role.ERASE,
        params=EraseParams,
        response=ErasureAnswer,
    ),
    _start(
        "eraseMeasurement",
        "measurements/{id}/erase",
        summary="Erase a measurement and everything made from it",
        description="As `POST /vehicles/{vehicle_id}/erase`, for one measurement and every "
        "datastream down its lineage. Needs the erase role.",
        role=Role.ERASE,
        params=EraseParams,
        response=ErasureAnswer,
    ),
    _start(
        "rerunMeasurement",
        "measurements/{id}/rerun",
        summary="Ingest a measurement's upload again",
        description="Restores the upload the measurement was registered from (archive, else "
        "the error zone) into landing and starts a fresh `ingest` run on it; its RAW "
        "datastream's lineage links the earlier run's. 409 while a run of the upload is "
        "active. Needs the write role.",
        headers=(("X-AVOps-Restored-From", "Where the upload was restored from: archive, error."),),
    ),
    _start(
        "rehydrateUpload",
        "uploads/{*path}",
        document_path="/uploads/{prefix}/rehydrate",
        summary="Ingest an upload again by its landing prefix",
        description="Like the rerun of a measurement, for an upload known by its prefix (one "
        "that failed before a measurement was registered, too); the prefix may hold `/`. "
        "Restored from archive, the error zone or what is still in landing. Needs the write "
        "role.",
        headers=(
            (
                "X-AVOps-Restored-From",
                "Where the upload was restored from: archive, error, landing.",
            ),
        ),
    ),
    _start(
        "extractMeasurement",
        "measurements/{id}/extract",
        summary="Extract a measurement again",
        description="Starts `extract` from the newest COMPLETED RAW datastream into a new "
        "EXTRACTED datastream (the old one stays; lineage shows both). 409 while an "
        "extraction of the measurement runs. Needs the write role.",
        headers=(_MADE,),
    ),
    _start(
        "rerunDatastreamStep",
        "datastreams/{id}/rerun",
        summary="Run the step that consumes a datastream again",
        description="The downstream step (synchronize, enrich, detect_scenes) of a COMPLETED "
        "datastream runs once more, with the step's config as it is now, into a new "
        "datastream; the change feed's run and its output stay. Needs the write role.",
        headers=(_MADE,),
    ),
    _start(
        "clipScene",
        "scenes/{id}/clip",
        summary="Write one MCAP of a scene's raw data",
        description="Records a CLIP datastream and starts `clip`, which writes every message "
        "of the measurement's recordings inside the scene (widened by `margin_s`, default "
        "AVOPS_CLIP_MARGIN_S) to one MCAP in the share zone, optionally only `topics`. The "
        "run's output has a read-only SAS link and an open-in-Foxglove link (see clips.md). "
        "Needs the write role.",
        body=ClipRequest,
        headers=(_MADE,),
    ),
    _start(
        "clipMeasurement",
        "measurements/{id}/clip",
        summary="Write one MCAP of a time range of a measurement",
        description="Like the scene clip, for `from_ns`..`to_ns` (log time, nanoseconds "
        "since the epoch, both required) of the measurement. Needs the write role.",
        body=ClipRequest,
        headers=(_MADE,),
    ),
    _start(
        "createLabelExport",
        "label-exports",
        summary="Export frames for labeling",
        description="Checks the request, creates the export's containers and access policies "
        "and starts `label_export`, which writes a COCO + OpenLABEL package for the partner "
        "(see labeling.md). Needs the write role.",
        body=LabelExportRequest,
        response=LabelExportAccepted,
        errors=(400, 401, 403, 415, 503),
        max_body_bytes=MAX_REQUEST_BYTES,
    ),
    _read(
        "getLabelExport",
        "label-exports/{id}",
        summary="A labeling export: progress, expiry and partner links",
        description="Status, counts and expiry of an export. The partner links (bearer "
        "secrets) are shown to the write role only, and only while the export is neither "
        "expired nor revoked; the answer is never cached.",
        response=LabelExportView,
        runs=True,
    ),
    Operation(
        operation_id="revokeLabelExport",
        method="POST",
        route="label-exports/{id}/revoke",
        summary="Revoke a labeling export's partner links",
        description="Deletes the access policies behind the links (they stop working at "
        "once) and marks the export revoked. Needs the write role.",
        role=Role.WRITE,
        response=LabelExportRevoked,
        errors=_ONE_ERRORS,
    ),
    # The Data Explorer (docs/explorer.md): pages for browsers and the drive view's data.
    _explorer_page(
        "explorerCatalog",
        "explorer",
        summary="Explorer: the measurement catalog",
        description="Measurements with filters (vehicle, date range, tag, project, scene type, "
        "labeled), paged. Opened with `?code=KEY` it trades the key for a session cookie and "
        "redirects to the same page without the key; without credentials it is the login page.",
        params=CatalogParams,
    ),
    _explorer_page(
        "explorerMeasurement",
        "explorer/measurements/{id}",
        summary="Explorer: one measurement",
        description="Manifest fields, datastreams with states and producers, the lineage graph, "
        "files with download links and the runs that made them.",
    ),
    _explorer_page(
        "explorerDrive",
        "explorer/drives/{id}",
        summary="Explorer: the drive view",
        description="Route map, scene timeline, signal plots and the reference camera's frames "
        "with boxes, on one time cursor. Reads the `drives/{id}/...` data routes.",
        params=DriveParams,
    ),
    _explorer_page(
        "explorerSearch",
        "explorer/search",
        summary="Explorer: frame and scene search",
        description="`GET /frames` or `GET /scenes` with their filters as a thumbnail grid; a "
        "result opens the drive view at its time.",
        params=SearchParams,
    ),
    _explorer_page(
        "explorerLabeling",
        "explorer/labeling",
        summary="Explorer: labeling exports and imports",
        description="Exports with status, expiry and package state; the partner links for the "
        "write role only, while the export is active; with `export` that export's imports with "
        "verdicts and errors.",
        params=LabelingParams,
    ),
    Operation(
        operation_id="explorerClipScene",
        method="POST",
        route="explorer/scenes/{id}/clip",
        summary="Explorer: clip a scene (the Clip button)",
        description="`POST /scenes/{id}/clip` for the explorer's session: the same CLIP "
        "datastream and `clip` run, followed at `GET /explorer/clips/{instance_id}` (in "
        "`status_url` and `Location`). Needs the write role; the session cookie counts. See "
        "clips.md.",
        role=Role.WRITE,
        body=ClipRequest,
        response=RunAccepted,
        errors=(400, 401, 403, 404, 415, 503),
        status=202,
        runs=True,
        browser=True,
        headers=(
            ("Location", "The clip's status route, `/api/explorer/clips/{instance_id}`."),
            _MADE,
        ),
    ),
    _read(
        "explorerClipStatus",
        "explorer/clips/{id}",
        summary="Explorer: a clip run's status",
        description="`GET /runs/{id}` for the explorer's session, for `clip` runs only (404 "
        "for any other run): progress, then the clip's links (or the reason it failed).",
        response=RunStatus,
        errors=(400, 401, 403, 404),
        runs=True,
        browser=True,
    ),
    _public(
        "explorerAsset",
        "explorer/assets/{*path}",
        document_path="/explorer/assets/{path}",
        summary="Explorer: scripts, styles and the shipped browser libraries",
        description="Static files of the explorer; 503 when the libraries were not copied into "
        "the app (`python -m dataops.explorer.vendor`).",
        errors=(404, 503),
        media_type="text/javascript",
        other_media_types=("text/css", "text/plain"),
    ),
    _drive_data(
        "getDriveTrack",
        "drives/{id}/track",
        summary="A drive's GPS route and road network",
        description="Every fix of the first GPS table (by sensor name) of the newest COMPLETED "
        "EXTRACTED datastream, in time order, and the roads of the upload's `roads.geojson`.",
        response=DriveTrack,
    ),
    _drive_data(
        "getDriveSignals",
        "drives/{id}/signals",
        summary="A drive's speed, acceleration and yaw rate per reference frame",
        description="From the newest COMPLETED SYNCHRONIZED table.",
        response=DriveSignals,
    ),
    _drive_data(
        "getDriveScenes",
        "drives/{id}/scenes",
        summary="A drive's scenes",
        description="Every scene of the measurement's scenes tables, by start.",
        response=DriveScenes,
    ),
    _drive_data(
        "getDriveFrames",
        "drives/{id}/frames",
        summary="A drive's reference frames with detection and label boxes",
        description="A page of the SYNCHRONIZED table's reference frames in time order: time, "
        "whether it has an image, the ENRICHED table's detection boxes (scaled to the reference "
        "camera) and the label boxes of COMPLETED LABELED datastreams. `from_ns` starts the "
        "page at a time (the drive view's cursor), `continuation` pages on.",
        params=DriveFramesParams,
        response=DriveFrames,
    ),
    _drive_data(
        "getDriveFrameImage",
        "drives/{id}/frames/{frame}/image",
        summary="A reference frame's image, or its thumbnail",
        description="The stored JPEG/PNG of the frame, or with `width` a JPEG thumbnail (made "
        "from one frame read, kept in a bounded cache).",
        params=ImageParams,
        media_type=JPEG,
        other_media_types=("image/png",),
    ),
)


def find_operation(method: str, route: str) -> Operation | None:
    """The operation serving ``method`` on ``route`` (a route template), if any."""
    for operation in ROUTES:
        if operation.route == route and operation.method == method.upper():
            return operation
    return None


def _function_name(route: str) -> str:
    return "http_" + "_".join(re.findall(r"[a-z0-9]+", route.lower()))


def triggers() -> tuple[Trigger, ...]:
    """One trigger per route template of the table, in table order."""
    grouped: dict[str, list[Operation]] = {}
    for operation in ROUTES:
        grouped.setdefault(operation.route, []).append(operation)
    return tuple(
        Trigger(
            name=_function_name(route),
            route=route,
            methods=tuple(operation.method for operation in operations),
            anonymous=all(operation.role is None or operation.browser for operation in operations),
            runs=any(operation.runs for operation in operations),
        )
        for route, operations in grouped.items()
    )
