"""The app's HTTP API: routes, models, auth, validation, problems, OpenAPI, starters.

No azure-functions here: ``function_app/http.py`` hands each request's parts to
:meth:`ApiRequest.from_url`, calls :func:`handle` (or :func:`handle_async` with the durable
client) and turns the :class:`ApiResponse` back.
"""

from __future__ import annotations

from dataops.api.auth import Caller, Role
from dataops.api.batch_signal import RUN_HANDLERS as BATCH_SIGNAL_HANDLERS
from dataops.api.dead_letters import DEAD_LETTER_HANDLERS, DEAD_LETTER_RUN_HANDLERS
from dataops.api.dispatch import (
    ApiContext,
    ApiRequest,
    ApiResponse,
    Handler,
    RunHandler,
    StartInputs,
    handle,
    handle_async,
)
from dataops.api.erasure import ERASURE_HANDLERS
from dataops.api.handlers import HANDLERS as _BASE_HANDLERS
from dataops.api.locations import Locator
from dataops.api.openapi import openapi_document
from dataops.api.problems import PROBLEM_MEDIA_TYPE, ApiError, Problem
from dataops.api.routes import ROUTES, Operation, Trigger, triggers
from dataops.api.starters import RUN_HANDLERS as STARTER_HANDLERS
from dataops.explorer.clips import EXPLORER_RUN_HANDLERS

HANDLERS: dict[str, Handler] = {**_BASE_HANDLERS, **DEAD_LETTER_HANDLERS}
"""Handlers of the operations answered without the orchestration client."""
RUN_HANDLERS: dict[str, RunHandler] = {
    **STARTER_HANDLERS,
    **ERASURE_HANDLERS,
    **DEAD_LETTER_RUN_HANDLERS,
    **BATCH_SIGNAL_HANDLERS,
    **EXPLORER_RUN_HANDLERS,
}
"""Handlers of the operations that need the orchestration client."""

__all__ = [
    "HANDLERS",
    "PROBLEM_MEDIA_TYPE",
    "ROUTES",
    "RUN_HANDLERS",
    "ApiContext",
    "ApiError",
    "ApiRequest",
    "ApiResponse",
    "Caller",
    "Locator",
    "Operation",
    "Problem",
    "Role",
    "StartInputs",
    "Trigger",
    "handle",
    "handle_async",
    "openapi_document",
    "triggers",
]
