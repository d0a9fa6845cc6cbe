"""``/runtime/webhooks/durabletask/``: the management API that DurableOrchestrationClient calls."""

from __future__ import annotations

import json
import logging
from typing import Any

from aiohttp import web

from devhost.durable.engine import DurableEngine
from devhost.durable.store import RuntimeStatus
from devhost.errors import InstanceExistsError, InstanceNotFoundError, UnknownFunctionError
from devhost.http.status import WEBHOOK_PREFIX, management_urls, status_payload

__all__ = ["add_webhook_routes", "decode_json_body"]

log = logging.getLogger(__name__)

ENGINE_KEY: web.AppKey[DurableEngine] = web.AppKey("engine", DurableEngine)
FUNCTION_KEY: web.AppKey[str] = web.AppKey("function_key", str)


def decode_json_body(text: str) -> str | None:
    """JSON text of a request body; the SDK sends JSON text JSON-encoded a second time."""
    if not text.strip():
        return None
    value = json.loads(text)
    if isinstance(value, str):
        try:
            json.loads(value)
        except json.JSONDecodeError:
            return json.dumps(value)  # a bare string from curl, not JSON text
        return value
    return json.dumps(value)


def _origin(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}"


def _key(request: web.Request) -> str:
    return request.app[FUNCTION_KEY]


def _bad_request(message: str, status: int = 400) -> web.Response:
    return web.json_response({"Message": message, "ExceptionMessage": message}, status=status)


async def start_orchestration(request: web.Request) -> web.Response:
    """POST orchestrators/{name}[/{instanceId}]."""
    engine = request.app[ENGINE_KEY]
    name = request.match_info["name"]
    instance_id = request.match_info.get("instance_id") or None
    try:
        input_json = decode_json_body(await request.text())
    except json.JSONDecodeError as err:
        return _bad_request(f"request body is not JSON: {err}")
    try:
        instance_id = engine.start_new(name, instance_id, input_json)
    except UnknownFunctionError as err:
        return _bad_request(
            f"The function '{name}' doesn't exist, is disabled, or is not an "
            f"orchestrator function ({err})"
        )
    except InstanceExistsError as err:
        return _bad_request(str(err), status=409)
    payload = management_urls(_origin(request), instance_id, engine.task_hub, _key(request))
    return web.json_response(
        payload, status=202, headers={"Location": payload["statusQueryGetUri"]}
    )


def _flag(request: web.Request, name: str) -> bool:
    return request.query.get(name, "").lower() == "true"


async def get_instance(request: web.Request) -> web.Response:
    """GET instances/{id}: 200 when finished, 202 while running, 404 when unknown."""
    engine = request.app[ENGINE_KEY]
    instance_id = request.match_info["instance_id"]
    inst = engine.get_instance(instance_id)
    if inst is None:
        return web.json_response(f"No instance with ID '{instance_id}' found.", status=404)
    history = engine.get_history(instance_id) if _flag(request, "showHistory") else None
    body = status_payload(
        inst, history=history, show_input=request.query.get("showInput") != "false"
    )
    code = 202 if inst.status in (RuntimeStatus.PENDING, RuntimeStatus.RUNNING) else 200
    headers = {}
    if code == 202:
        headers["Location"] = str(request.url)
        headers["Retry-After"] = "1"
    return web.json_response(body, status=code, headers=headers)


async def list_instances(request: web.Request) -> web.Response:
    """GET instances: filter by runtimeStatus, createdTimeFrom/To, instanceIdPrefix, top."""
    engine = request.app[ENGINE_KEY]
    statuses = [s for s in request.query.get("runtimeStatus", "").split(",") if s]
    filters: dict[str, Any] = {
        "statuses": statuses or None,
        "created_from": request.query.get("createdTimeFrom"),
        "created_to": request.query.get("createdTimeTo"),
        "limit": int(request.query.get("top", "100")),
    }
    items = engine.query(**filters)
    prefix = request.query.get("instanceIdPrefix")
    if prefix:
        items = [i for i in items if i.instance_id.startswith(prefix)]
    return web.json_response([status_payload(i) for i in items])


async def purge_instance(request: web.Request) -> web.Response:
    """DELETE instances/{id}."""
    engine = request.app[ENGINE_KEY]
    deleted = engine.purge(request.match_info["instance_id"])
    if deleted == 0:
        return web.json_response({"instancesDeleted": 0}, status=404)
    return web.json_response({"instancesDeleted": deleted})


async def raise_event(request: web.Request) -> web.Response:
    """POST instances/{id}/raiseEvent/{event}."""
    engine = request.app[ENGINE_KEY]
    instance_id = request.match_info["instance_id"]
    try:
        data = decode_json_body(await request.text())
    except json.JSONDecodeError as err:
        return _bad_request(f"event body is not JSON: {err}")
    try:
        accepted = engine.raise_event(instance_id, request.match_info["event"], data)
    except InstanceNotFoundError as err:
        return web.json_response(str(err), status=404)
    return web.json_response(None, status=202 if accepted else 410)


async def terminate_instance(request: web.Request) -> web.Response:
    """POST instances/{id}/terminate?reason=."""
    engine = request.app[ENGINE_KEY]
    try:
        accepted = engine.terminate(
            request.match_info["instance_id"], request.query.get("reason", "")
        )
    except InstanceNotFoundError as err:
        return web.json_response(str(err), status=404)
    return web.json_response(None, status=202 if accepted else 410)


async def restart_instance(request: web.Request) -> web.Response:
    """POST instances/{id}/restart?restartWithNewInstanceId=true|false."""
    engine = request.app[ENGINE_KEY]
    new_id = request.query.get("restartWithNewInstanceId", "true").lower() != "false"
    try:
        instance_id = engine.restart(request.match_info["instance_id"], new_instance_id=new_id)
    except InstanceNotFoundError as err:
        return web.json_response(str(err), status=404)
    except InstanceExistsError as err:
        return _bad_request(str(err), status=409)
    payload = management_urls(_origin(request), instance_id, engine.task_hub, _key(request))
    return web.json_response(
        payload, status=202, headers={"Location": payload["statusQueryGetUri"]}
    )


async def unsupported(request: web.Request) -> web.Response:
    """Entities, rewind, suspend and resume are not emulated."""
    message = f"{request.method} {request.path} is not supported by devhost"
    log.warning(message)
    return web.json_response({"Message": message}, status=501)


def add_webhook_routes(app: web.Application) -> None:
    """Register the management API under WEBHOOK_PREFIX."""
    p = WEBHOOK_PREFIX
    app.router.add_post(p + "/orchestrators/{name}", start_orchestration)
    app.router.add_post(p + "/orchestrators/{name}/{instance_id}", start_orchestration)
    app.router.add_get(p + "/instances", list_instances)
    app.router.add_get(p + "/instances/", list_instances)
    app.router.add_get(p + "/instances/{instance_id}", get_instance)
    app.router.add_delete(p + "/instances/{instance_id}", purge_instance)
    app.router.add_post(p + "/instances/{instance_id}/raiseEvent/{event}", raise_event)
    app.router.add_post(p + "/instances/{instance_id}/terminate", terminate_instance)
    app.router.add_post(p + "/instances/{instance_id}/restart", restart_instance)
    app.router.add_route("*", p + "/{tail:.*}", unsupported)
