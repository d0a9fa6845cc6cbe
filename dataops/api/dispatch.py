"""Request in, response out: authentication, validation, the handler, problem+json on error.

The Functions handlers (``function_app/api.py``) only translate ``func.HttpRequest`` into an
:class:`ApiRequest` and the :class:`ApiResponse` back; everything else happens here, without
azure-functions, so the tests and the benchmark drive exactly this code.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from dataops.api.auth import Caller, require_role, resolve_caller
from dataops.api.locations import Locator
from dataops.api.params import check_id, parse_params
from dataops.api.problems import PROBLEM_MEDIA_TYPE, ApiError, from_dataops_error
from dataops.api.routes import JSON, Operation, find_operation
from dataops.errors import DataOpsError
from dataops.frames.search import FrameSearch
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
    "Handler",
    "Reply",
    "handle",
    "json_reply",
]

log = logging.getLogger("avops.api")

MAX_BODY_BYTES = 64 * 1024
_JSON_BODY_TYPES = frozenset({"application/json", "application/merge-patch+json"})


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


@dataclass(frozen=True)
class Reply:
    """A handler's answer before it becomes bytes."""

    body: BaseModel | dict[str, Any] | str
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


def json_reply(model: BaseModel, *, headers: Mapping[str, str] | None = None) -> Reply:
    """A 200 JSON reply of ``model``."""
    return Reply(body=model, headers=dict(headers or {}))


Handler = Callable[[ApiContext, Call], Reply]


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
    if len(request.body) > MAX_BODY_BYTES:
        raise ApiError(400, f"body larger than {MAX_BODY_BYTES} bytes", parameter="body")
    try:
        return operation.body.model_validate_json(request.body)
    except ValidationError as err:
        first = err.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(part) for part in first["loc"])
        parameter = f"body.{where}" if where else "body"
        raise ApiError(400, f"{parameter}: {first['msg']}", parameter=parameter) from None


def _validate(operation: Operation, request: ApiRequest, settings: Settings) -> Call:
    caller = None
    if operation.role is not None:
        caller = resolve_caller(request.headers, request.params, settings)
        require_role(caller, operation.role)
    ids = {
        name: check_id(request.route_params.get(name, ""), parameter=name)
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
    )


def _render(operation: Operation, reply: Reply) -> ApiResponse:
    if isinstance(reply.body, BaseModel):
        data = reply.body.model_dump_json().encode()
        media_type = JSON
    elif isinstance(reply.body, dict):
        data = json.dumps(reply.body, indent=2, sort_keys=False).encode()
        media_type = JSON
    else:
        data = reply.body.encode()
        media_type = operation.media_type
    return ApiResponse(
        status=reply.status, body=data, media_type=media_type, headers=dict(reply.headers)
    )


def handle(
    request: ApiRequest, context: ApiContext, handlers: Mapping[str, Handler]
) -> ApiResponse:
    """Answer ``request``: never raises; every failure is a problem+json response."""
    operation = find_operation(request.method, request.route)
    if operation is None:
        return _problem(
            ApiError(404, f"no {request.method} operation on /{request.route}"), request.path
        )
    try:
        call = _validate(operation, request, context.settings())
        return _render(operation, handlers[operation.operation_id](context, call))
    except ApiError as err:
        return _problem(err, request.path)
    except DataOpsError as err:
        mapped = from_dataops_error(err)
        if mapped.status >= 500:
            log.warning("%s %s failed: %s", request.method, request.path, err)
        return _problem(mapped, request.path)
    except Exception:
        # An unexpected bug: log it whole, answer without internals.
        log.exception("%s %s failed", request.method, request.path)
        return _problem(ApiError(500, "internal error"), request.path)
