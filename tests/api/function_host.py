"""A tiny stand-in for the Functions host: routes requests to the app's registered functions.

It does what the host does before our code runs (match the route template, check the method,
decode route parameters) and nothing else: the function key check that the host adds is left
to the tests of devhost; role checks are ours and run in the functions. Used by the route
tests (:meth:`FunctionHost.request`) and by schemathesis (:meth:`FunctionHost.wsgi`).

There is no Durable host here: a trigger with a durable client (starters, run status) gets a
client whose every call fails to connect, so only what answers before the client is used
(keys, roles, validation) can be tested through this; the rest runs under devhost.
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import azure.functions as func

from devhost.http.status import client_binding
from devhost.loader import indexed_functions
from function_app import app

__all__ = ["FunctionHost", "HostResponse", "http_functions"]


@dataclass(frozen=True)
class _Route:
    name: str
    template: list[str]
    methods: frozenset[str]
    function: Callable[..., Any]
    client: bool
    """The function takes a durable client (it is async)."""

    def call(self, request: func.HttpRequest) -> func.HttpResponse:
        """Run the function; one with a client gets one that reaches no host (port 9)."""
        if not self.client:
            response: func.HttpResponse = self.function(request)
            return response
        binding = client_binding("http://127.0.0.1:9", "nohost", "nokey")
        answer: func.HttpResponse = asyncio.run(self.function(req=request, client=binding))
        return answer

    def _match_catch_all(self, segments: list[str]) -> dict[str, str] | None:
        # A catch-all takes the rest of the path, slashes and all, as the host does.
        head = len(self.template) - 1
        if len(segments) <= head or not all(segments[head:]):
            return None
        before = _Route(self.name, self.template[:head], self.methods, self.function, self.client)
        matched = before.match(segments[:head])
        rest = {self.template[-1][2:-1]: unquote("/".join(segments[head:]))}
        return None if matched is None else {**matched, **rest}

    def match(self, segments: list[str]) -> dict[str, str] | None:
        if self.template[-1].startswith("{*") and self.template[-1].endswith("}"):
            return self._match_catch_all(segments)
        if len(segments) != len(self.template):
            return None
        params: dict[str, str] = {}
        for part, segment in zip(self.template, segments, strict=True):
            if part.startswith("{") and part.endswith("}"):
                if not segment:
                    return None
                params[part[1:-1]] = unquote(segment)
            elif part.lower() != segment.lower():
                return None
        return params


@functools.cache
def http_functions() -> tuple[_Route, ...]:
    """The app's HTTP functions (``get_functions`` may run once per app object: cached)."""
    routes = []
    for function in indexed_functions(app):
        trigger = function.get_trigger()
        if trigger.type != "httpTrigger":
            continue
        routes.append(
            _Route(
                name=function.get_function_name(),
                template=str(trigger.route).strip("/").split("/"),
                methods=frozenset(str(getattr(m, "value", m)) for m in trigger.methods),
                function=function.get_user_function(),
                client=any(b.type == "durableClient" for b in function.get_bindings()),
            )
        )
    return tuple(routes)


@dataclass(frozen=True)
class HostResponse:
    """What came back."""

    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def media_type(self) -> str:
        """Content type without parameters."""
        return self.headers.get("content-type", "").split(";")[0].strip()

    def json(self) -> Any:
        """The body as JSON."""
        return json.loads(self.body)


class FunctionHost:
    """Calls the app's real HTTP functions the way the Functions host would."""

    def __init__(self, base_url: str = "http://localhost:7071") -> None:
        self.base_url = base_url

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        body: bytes = b"",
    ) -> HostResponse:
        """``path`` starts with ``/api/``; ``params`` are the query parameters."""
        split = urlsplit(path)
        query = dict(parse_qsl(split.query, keep_blank_values=True))
        query.update(params or {})
        segments = split.path.strip("/").split("/")
        if segments[:1] != ["api"]:
            return HostResponse(404, {}, b"")
        segments = segments[1:]
        for route in http_functions():
            route_params = route.match(segments)
            if route_params is None:
                continue
            if method.upper() not in route.methods:
                return HostResponse(405, {}, b"")
            request = func.HttpRequest(
                method=method.upper(),
                url=f"{self.base_url}{split.path}",
                headers=dict(headers or {}),
                params=query,
                route_params=route_params,
                body=body,
            )
            response = route.call(request)
            out = {name.lower(): value for name, value in response.headers.items()}
            if response.mimetype and "content-type" not in out:
                out["content-type"] = response.mimetype
            return HostResponse(response.status_code, out, response.get_body())
        return HostResponse(404, {}, b"")

    def wsgi(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        """WSGI entry (schemathesis drives the functions through this)."""
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        headers = {
            key[5:].replace("_", "-").lower(): value
            for key, value in environ.items()
            if key.startswith("HTTP_")
        }
        if environ.get("CONTENT_TYPE"):
            headers["content-type"] = environ["CONTENT_TYPE"]
        path = environ.get("PATH_INFO", "/")
        # PATH_INFO is already %-decoded by WSGI servers; re-encode so route params decode once.
        raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
        if raw:
            path = urlsplit(raw).path
        query = environ.get("QUERY_STRING", "")
        response = self.request(
            environ["REQUEST_METHOD"],
            f"{path}?{query}" if query else path,
            headers=headers,
            body=body,
        )
        reason = {200: "OK", 404: "Not Found", 405: "Method Not Allowed"}.get(response.status, "")
        start_response(f"{response.status} {reason}".strip(), list(response.headers.items()))
        return [response.body]
