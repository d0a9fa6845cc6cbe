"""Request in, response out: authentication, validation, the handler, problem+json on error.

The Functions triggers (``function_app/http.py``) only hand the request's parts to
:meth:`ApiRequest.from_url` and send the :class:`ApiResponse` back; everything else happens
here, without azure-functions, so the tests and the benchmark drive exactly this code.
Operations that start or read orchestrations (``Operation.runs``) have async handlers and get
the trigger's durable client as :attr:`ApiContext.runs`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ValidationError

from dataops.api.auth import KEY_HEADER, KEY_PARAM, Caller, require_role, resolve_caller
from dataops.api.locations import Locator
from dataops.api.params import check_id, parse_params
from dataops.api.problems import PROBLEM_MEDIA_TYPE, ApiError, from_dataops_error
from dataops.api.routes import HTML, JSON, Operation, find_operation
from dataops.errors import DataOpsError
from dataops.explorer.drive import DriveReader
from dataops.explorer.html import error_page
from dataops.frames.search import FrameSearch
from dataops.ingest.runs import RunControl, StartInput
from dataops.scenes.search import SceneSearch
from dataops.settings import Settings
from dataops.storage import BlobZones
from dataops.store import MetadataStore

__all__ = [
    "MAX_BODY_BYTES",
    "ApiContext",
    "ApiRequest",
    "ApiResponse",
    "Call",
    "ExtractInput",
    "Handler",
    "Reply",
    "RunHandler",
    "StartInputs",
    "handle",
    "handle_async",
    "json_reply",
]

log = logging.getLogger("avops.api")

MAX_BODY_BYTES = 64 * 1024
_JSON_BODY_TYPES = frozenset({"application/json", "application/merge-patch+json"})


ExtractInput = Callable[[str, str, str], dict[str, Any]]
"""(measurement id, RAW datastream id, new datastream id) -> the ``extract`` input."""


@dataclass(frozen=True)
class StartInputs:
    """How the app builds orchestration inputs (settings it reads at start, never in replay)."""

    ingest: StartInput
    extract: ExtractInput


@dataclass(frozen=True)
class ApiContext:
    """Where handlers get the process's settings, store and locator (built lazily)."""

    settings: Callable[[], Settings]
    store: Callable[[], MetadataStore]
    locator: Callable[[], Locator]
    frames: Callable[[], FrameSearch] | None = None
    """The frame index search (``GET /frames``); None: that route answers 503."""
    scenes: Callable[[], SceneSearch] | None = None
    """The scenes table search (``GET /scenes``); None: that route answers 503."""
    zones: Callable[[], BlobZones] | None = None
    """Blob zones (label import reports); None: routes that read blobs answer 503."""
    drives: Callable[[], DriveReader] | None = None
    """The explorer's drive reader (drive view data, thumbnails); None: those routes answer 503."""
    start_inputs: StartInputs | None = None
    """Orchestration inputs of the starters; None: starters answer 503."""
    runs: RunControl | None = None
    """The trigger's durable client (one per request); None: run operations answer 503."""

    def frame_search(self) -> FrameSearch:
        """The frame index search; ApiError 503 where this process has none."""
        if self.frames is None:
            raise ApiError(503, "frame search is not configured in this process")
        return self.frames()

    def scene_search(self) -> SceneSearch:
        """The scenes table search; ApiError 503 where this process has none."""
        if self.scenes is None:
            raise ApiError(503, "scene search is not configured in this process")
        return self.scenes()


@dataclass(frozen=True)
class ApiRequest:
    """The parts of an HTTP request the API reads. Header names must be lower-case."""

    method: str
    route: str
    path: str
    route_params: Mapping[str, str] = field(default_factory=dict)
    params: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    origin: str = ""
    """``scheme://host`` the request came to: the start of absolute URLs in answers."""

    @classmethod
    def from_url(
        cls,
        *,
        method: str,
        route: str,
        url: str,
        route_params: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
    ) -> ApiRequest:
        """An ApiRequest from the full URL a trigger received (its query is not kept)."""
        parts = urlsplit(url)
        request = cls.build(
            method=method,
            route=route,
            path=parts.path or "/",
            route_params=route_params,
            params=params,
            headers=headers,
            body=body,
        )
        origin = f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""
        return replace(request, origin=origin)

    @classmethod
    def build(
        cls,
        *,
        method: str,
        route: str,
        path: str,
        route_params: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
    ) -> ApiRequest:
        """An ApiRequest with header names lower-cased (HTTP header names are case-blind)."""
        return cls(
            method=method.upper(),
            route=route,
            path=path,
            route_params=dict(route_params or {}),
            params=dict(params or {}),
            headers={name.lower(): value for name, value in (headers or {}).items()},
            body=body or b"",
        )


@dataclass(frozen=True)
class ApiResponse:
    """What to send back."""

    status: int
    body: bytes
    media_type: str
    headers: dict[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        """The body parsed as JSON (tests and the CLI)."""
        return json.loads(self.body)


@dataclass(frozen=True)
class Call:
    """A validated request as a handler sees it."""

    operation: Operation
    caller: Caller | None
    ids: dict[str, str]
    params: Any
    body: Any
    headers: Mapping[str, str]
    origin: str = ""
    """``scheme://host`` of the request (absolute URLs in answers); empty: relative URLs."""
    path: str = ""
    """The request's path (a page redirects to itself without the key)."""
    key_in_query: bool = False
    """The key came as the ``code`` query parameter (a browser opening a printed URL)."""


@dataclass(frozen=True)
class Reply:
    """A handler's answer before it becomes bytes."""

    body: BaseModel | dict[str, Any] | str | bytes
    status: int | None = None
    """None: the operation's success status (200, or 202 for a starter)."""
    headers: dict[str, str] = field(default_factory=dict)
    media_type: str | None = None
    """Media type of a ``bytes`` or ``str`` body; None: the operation's."""


def json_reply(model: BaseModel, *, headers: Mapping[str, str] | None = None) -> Reply:
    """A 200 JSON reply of ``model``."""
    return Reply(body=model, headers=dict(headers or {}))


Handler = Callable[[ApiContext, Call], Reply]
RunHandler = Callable[[ApiContext, Call], Awaitable[Reply]]
"""The handler of an operation with ``runs``: it awaits the durable client."""


def _problem(error: ApiError, path: str) -> ApiResponse:
    body = error.problem(instance=path).model_dump_json(exclude_none=True).encode()
    return ApiResponse(
        status=error.status, body=body, media_type=PROBLEM_MEDIA_TYPE, headers=error.headers
    )


def _body(operation: Operation, request: ApiRequest) -> Any:
    if operation.body is None:
        return None
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type not in _JSON_BODY_TYPES:
        raise ApiError(415, "the body must be application/json", parameter="Content-Type")
    if len(request.body) > operation.max_body_bytes:
        raise ApiError(400, f"body larger than {operation.max_body_bytes} bytes", parameter="body")
    try:
        return operation.body.model_validate_json(request.body)
    except ValidationError as err:
        first = err.errors(include_url=False, include_input=False)[0]
        # Union members show up in the location as their class names: leave those out.
        where = ".".join(
            str(part) for part in first["loc"] if not (isinstance(part, str) and part[:1].isupper())
        )
        parameter = f"body.{where}" if where else "body"
        raise ApiError(400, f"{parameter}: {first['msg']}", parameter=parameter) from None


def _validate(operation: Operation, request: ApiRequest, settings: Callable[[], Settings]) -> Call:
    caller = None
    if operation.role is not None:
        # Settings only when a role is needed: the anonymous routes (health) touch nothing.
        caller = resolve_caller(
            request.headers, request.params, settings(), session=operation.browser
        )
        require_role(caller, operation.role)
    ids = {
        # A catch-all segment holds a path (slashes and all): its handler checks it.
        name: (
            request.route_params.get(name, "")
            if name == operation.catch_all
            else check_id(request.route_params.get(name, ""), parameter=name)
        )
        for name in operation.path_params
    }
    params = parse_params(operation.params, request.params)
    return Call(
        operation=operation,
        caller=caller,
        ids=ids,
        params=params,
        body=_body(operation, request),
        headers=request.headers,
        origin=request.origin,
        path=request.path,
        # The key that authenticated came in the URL (no header key): a printed explorer URL.
        key_in_query=bool(request.params.get(KEY_PARAM))
        and not request.headers.get(KEY_HEADER)
        and caller is not None
        and caller.via == "key",
    )


def _render(operation: Operation, reply: Reply) -> ApiResponse:
    if isinstance(reply.body, BaseModel):
        data = reply.body.model_dump_json().encode()
        media_type = JSON
    elif isinstance(reply.body, dict):
        data = json.dumps(reply.body, indent=2, sort_keys=False).encode()
        media_type = JSON
    elif isinstance(reply.body, bytes):
        data = reply.body
        media_type = reply.media_type or operation.media_type
    else:
        data = reply.body.encode()
        media_type = reply.media_type or operation.media_type
    return ApiResponse(
        status=reply.status or operation.status,
        body=data,
        media_type=media_type,
        headers=dict(reply.headers),
    )


def _failure(request: ApiRequest, error: Exception) -> ApiResponse:
    if isinstance(error, ApiError):
        mapped = error
    elif isinstance(error, DataOpsError):
        mapped = from_dataops_error(error)
        if mapped.status >= 500:
            log.warning("%s %s failed: %s", request.method, request.path, error)
    else:
        # An unexpected bug: log it whole, answer without internals.
        log.error("%s %s failed", request.method, request.path, exc_info=error)
        mapped = ApiError(500, "internal error")
    operation = find_operation(request.method, request.route)
    if operation is not None and operation.browser and operation.media_type == HTML:
        # A browser gets a page: the login page for 401, else the error in words.
        return ApiResponse(
            status=mapped.status,
            body=error_page(mapped.status, mapped.detail, mapped.parameter).encode(),
            media_type=HTML,
            headers={**mapped.headers, "Cache-Control": "no-store"},
        )
    return _problem(mapped, request.path)


def _operation(request: ApiRequest) -> Operation:
    operation = find_operation(request.method, request.route)
    if operation is None:
        raise ApiError(404, f"no {request.method} operation on /{request.route}")
    return operation


def _answer(
    request: ApiRequest, context: ApiContext, handlers: Mapping[str, Handler]
) -> ApiResponse:
    operation = _operation(request)
    if operation.runs:
        raise ApiError(503, f"{operation.operation_id} needs the orchestration client")
    call = _validate(operation, request, context.settings)
    return _render(operation, handlers[operation.operation_id](context, call))


def handle(
    request: ApiRequest, context: ApiContext, handlers: Mapping[str, Handler]
) -> ApiResponse:
    """Answer ``request``: never raises; every failure is a problem+json response.

    Operations with ``runs`` need :func:`handle_async` (their handlers await the client).
    """
    try:
        return _answer(request, context, handlers)
    except Exception as err:  # noqa: BLE001  # every failure becomes its problem answer
        return _failure(request, err)


async def handle_async(
    request: ApiRequest,
    context: ApiContext,
    handlers: Mapping[str, Handler],
    run_handlers: Mapping[str, RunHandler],
) -> ApiResponse:
    """:func:`handle` for a trigger with a durable client: run operations are awaited."""
    try:
        operation = _operation(request)
        call = _validate(operation, request, context.settings)
        if operation.runs:
            reply = await run_handlers[operation.operation_id](context, call)
        else:
            reply = handlers[operation.operation_id](context, call)
        return _render(operation, reply)
    except Exception as err:  # noqa: BLE001  # every failure becomes its problem answer
        return _failure(request, err)
