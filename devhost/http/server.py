"""The aiohttp application: HTTP triggers under ``/api``, webhooks, dashboard, function keys."""

from __future__ import annotations

import ipaddress
import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

import azure.functions as func
from aiohttp import web

from devhost.durable.engine import DurableEngine
from devhost.http.routes import Route, compile_route, match_route
from devhost.http.status import client_binding
from devhost.http.webhooks import ENGINE_KEY, FUNCTION_KEY, add_webhook_routes
from devhost.invoke import call_function_async
from devhost.registry import FunctionSpec, Registry, TriggerType

__all__ = ["HttpConfig", "build_app", "durable_client_kwargs", "new_function_key"]

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def new_function_key() -> str:
    """A random local function key (printed at start-up)."""
    return secrets.token_urlsafe(24)


class HttpConfig:
    """What the HTTP layer needs from the host."""

    def __init__(
        self,
        registry: Registry,
        engine: DurableEngine,
        function_key: str,
        named_keys: dict[str, str] | None = None,
    ) -> None:
        self.registry = registry
        self.engine = engine
        # The default key is also the admin key (webhooks); named keys open function routes
        # only, like the named function keys of an Azure Function App.
        self.function_key = function_key
        self.function_keys = (function_key, *(named_keys or {}).values())
        self.routes: list[Route] = [compile_route(s) for s in registry.of_type(TriggerType.HTTP)]


def durable_client_kwargs(
    spec: FunctionSpec, origin: str, engine: DurableEngine, key: str
) -> dict[str, Any]:
    """The client binding argument for functions with ``durable_client_input``."""
    binding = spec.binding_of_type("durableClient")
    if binding is None:
        return {}
    return {str(binding["name"]): client_binding(origin, engine.task_hub, key)}


CONFIG_KEY: web.AppKey[HttpConfig] = web.AppKey("config", HttpConfig)


def _presented_key(request: web.Request) -> str | None:
    return request.headers.get("x-functions-key") or request.query.get("code")


def _is_loopback(request: web.Request) -> bool:
    remote = request.remote or ""
    try:
        return ipaddress.ip_address(remote).is_loopback
    except ValueError:
        return False


def _authorized(request: web.Request, level: str, keys: str | tuple[str, ...]) -> bool:
    if level == "anonymous":
        return True
    presented = _presented_key(request)
    if presented is None:
        return False
    accepted = (keys,) if isinstance(keys, str) else keys
    # Compare against every key (no early exit), so timing does not tell which one matched.
    matches = [secrets.compare_digest(presented, key) for key in accepted]
    return any(matches)


async def _http_trigger(request: web.Request) -> web.StreamResponse:
    config = request.app[CONFIG_KEY]
    path = request.match_info.get("tail", "")
    found = match_route(config.routes, path)
    if found is None:
        log.warning("no HTTP function for %s /api/%s", request.method, path)
        return web.json_response({"error": f"no function serves /api/{path}"}, status=404)
    route, params = found
    if route.methods and request.method not in route.methods:
        return web.json_response(
            {"error": f"{request.method} not allowed for /api/{path}"},
            status=405,
            headers={"Allow": ", ".join(sorted(route.methods))},
        )
    if not _authorized(request, route.auth_level, config.function_keys):
        return web.json_response({"error": "missing or wrong function key (code=...)"}, status=401)
    body = await request.read()
    req = func.HttpRequest(
        method=request.method,
        url=str(request.url),
        headers=dict(request.headers),
        params=dict(request.query),
        route_params=params,
        body=body,
    )
    origin = f"{request.scheme}://{request.host}"
    extra = durable_client_kwargs(route.spec, origin, config.engine, config.function_key)
    try:
        result = await call_function_async(route.spec, req, extra)
    except Exception as err:  # a failing function answers 500; the host keeps serving
        log.exception("HTTP function %s failed", route.spec.name)
        return web.json_response(
            {"error": f"function {route.spec.name!r} failed: {type(err).__name__}: {err}"},
            status=500,
        )
    return _to_response(route.spec.name, result)


def _to_response(name: str, result: Any) -> web.StreamResponse:
    if result is None:
        return web.Response(status=204)
    if isinstance(result, func.HttpResponse):
        headers = dict(result.headers)
        headers.pop("Content-Length", None)
        content_type = headers.pop("Content-Type", None) or headers.pop("content-type", None)
        response = web.Response(status=result.status_code, body=result.get_body(), headers=headers)
        if content_type:
            response.headers["Content-Type"] = content_type
        elif result.mimetype:
            response.content_type = result.mimetype
            if result.charset:
                response.charset = result.charset
        return response
    if isinstance(result, (str, bytes)):
        return web.Response(body=result if isinstance(result, bytes) else result.encode())
    log.error("HTTP function %s returned %s, not an HttpResponse", name, type(result).__name__)
    return web.json_response(
        {"error": f"function {name!r} returned {type(result).__name__}"}, status=500
    )


@web.middleware
async def _webhook_auth(request: web.Request, handler: Handler) -> web.StreamResponse:
    # The management API and dashboard accept the key, or loopback callers: the in-process
    # durable client calls rpcBaseUrl without a key, as it does against the real host.
    if request.path.startswith(("/runtime/", "/dashboard")):
        config = request.app[CONFIG_KEY]
        if not _is_loopback(request) and not _authorized(request, "function", config.function_key):
            return web.json_response({"error": "missing or wrong function key"}, status=401)
    return await handler(request)


def build_app(
    config: HttpConfig, extra_routes: Callable[[web.Application], None] | None = None
) -> web.Application:
    """The aiohttp application of one host."""
    app = web.Application(middlewares=[_webhook_auth], client_max_size=64 * 1024 * 1024)
    app[CONFIG_KEY] = config
    app[FUNCTION_KEY] = config.function_key
    app[ENGINE_KEY] = config.engine
    add_webhook_routes(app)
    if extra_routes is not None:
        extra_routes(app)
    app.router.add_route("*", "/api/{tail:.*}", _http_trigger)
    app.router.add_route("*", "/api", _http_trigger)
    return app
