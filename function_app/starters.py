"""HTTP starters of orchestrations (rerun, rehydrate, extract, downstream rerun): one shape.

Each checks the write role, does its work (which starts an instance), and answers 202 with the
Durable status URLs, or an RFC 9457 problem: ApiError and domain errors as their status, any
other exception as a logged 500 that leaks nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import azure.durable_functions as df
import azure.functions as func

from activities import runtime
from dataops.api import PROBLEM_MEDIA_TYPE, ApiError, Role
from dataops.api.auth import Caller, require_role, resolve_caller
from dataops.api.problems import from_dataops_error
from dataops.errors import DataOpsError

__all__ = ["Started", "answer_with_role", "problem_response", "start_with_write_role"]

log = logging.getLogger("avops.operations")


@dataclass(frozen=True)
class Started:
    """The instance a starter started, and headers that say what it will make."""

    instance_id: str
    headers: dict[str, str] = field(default_factory=dict)


def event_grid_payload(event: func.EventGridEvent) -> dict[str, Any]:
    """An Event Grid trigger's event as the Event Grid schema dict ``parse_blob_event`` reads."""
    return {
        "id": event.id,
        "eventType": event.event_type,
        "subject": event.subject,
        "topic": event.topic,
        "data": event.get_json(),
    }


def problem_response(error: ApiError, req: func.HttpRequest) -> func.HttpResponse:
    """``error`` as application/problem+json, its instance the request path."""
    path = "/" + req.url.split("://", 1)[-1].split("/", 1)[-1].split("?", 1)[0]
    return func.HttpResponse(
        body=error.problem(instance=path).model_dump_json(exclude_none=True),
        status_code=error.status,
        headers=error.headers,
        mimetype=PROBLEM_MEDIA_TYPE,
        charset="utf-8",
    )


async def answer_with_role(
    req: func.HttpRequest,
    needed: Role,
    work: Callable[[Caller], Awaitable[func.HttpResponse]],
) -> func.HttpResponse:
    """Role check, then ``work``'s answer; errors as problem+json (a 500 leaks nothing)."""
    try:
        headers = {name.lower(): value for name, value in req.headers.items()}
        caller = resolve_caller(headers, dict(req.params), runtime.settings())
        require_role(caller, needed)
        return await work(caller)
    except ApiError as err:
        return problem_response(err, req)
    except DataOpsError as err:
        return problem_response(from_dataops_error(err), req)
    except Exception:
        log.exception("%s %s failed", req.method, req.url)
        return problem_response(ApiError(500, "internal error"), req)


async def start_with_write_role(
    req: func.HttpRequest,
    client: df.DurableOrchestrationClient,
    work: Callable[[], Awaitable[Started]],
) -> func.HttpResponse:
    """Write role, then ``work``; 202 with the status URLs and its headers, or problem+json."""

    async def start(_caller: Caller) -> func.HttpResponse:
        started = await work()
        response: func.HttpResponse = client.create_check_status_response(req, started.instance_id)
        response.headers.update(started.headers)
        return response

    return await answer_with_role(req, Role.WRITE, start)
