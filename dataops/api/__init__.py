"""The app's HTTP API: routes, models, auth, validation, problems, OpenAPI, starters.

No azure-functions here: ``function_app/http.py`` hands each request's parts to
:meth:`ApiRequest.from_url`, calls :func:`handle` (or :func:`handle_async` with the durable
client) and turns the :class:`ApiResponse` back.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dataops.api.auth import Caller, Role
    from dataops.api.dispatch import (
        ApiContext,
        ApiRequest,
        ApiResponse,
        StartInputs,
        handle,
        handle_async,
    )
    from dataops.api.locations import Locator
    from dataops.api.openapi import openapi_document
    from dataops.api.operations import HANDLERS, RUN_HANDLERS
    from dataops.api.problems import PROBLEM_MEDIA_TYPE, ApiError, Problem
    from dataops.api.routes import ROUTES, Operation, Trigger, triggers

# Each name's module, imported on first use (PEP 562). Importing the package imports nothing:
# the explorer's modules import the API's plumbing, and the API's route table and handlers
# import the explorer's, so an eager package made one of the two import orders fail.
_HOMES: dict[str, str] = {
    "Caller": "dataops.api.auth",
    "Role": "dataops.api.auth",
    "ApiContext": "dataops.api.dispatch",
    "ApiRequest": "dataops.api.dispatch",
    "ApiResponse": "dataops.api.dispatch",
    "StartInputs": "dataops.api.dispatch",
    "handle": "dataops.api.dispatch",
    "handle_async": "dataops.api.dispatch",
    "Locator": "dataops.api.locations",
    "openapi_document": "dataops.api.openapi",
    "HANDLERS": "dataops.api.operations",
    "RUN_HANDLERS": "dataops.api.operations",
    "PROBLEM_MEDIA_TYPE": "dataops.api.problems",
    "ApiError": "dataops.api.problems",
    "Problem": "dataops.api.problems",
    "ROUTES": "dataops.api.routes",
    "Operation": "dataops.api.routes",
    "Trigger": "dataops.api.routes",
    "triggers": "dataops.api.routes",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


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
