"""The Metadata API's domain: routes, models, auth, validation, problems, OpenAPI, locations.

No azure-functions here: ``function_app/api.py`` turns ``func.HttpRequest`` into an
:class:`ApiRequest`, calls :func:`handle` and turns the :class:`ApiResponse` back.
"""

from __future__ import annotations

from dataops.api.auth import Caller, Role
from dataops.api.dispatch import ApiContext, ApiRequest, ApiResponse, handle
from dataops.api.handlers import HANDLERS
from dataops.api.locations import Locator
from dataops.api.openapi import openapi_document
from dataops.api.problems import PROBLEM_MEDIA_TYPE, ApiError, Problem
from dataops.api.routes import ROUTES, Operation

__all__ = [
    "HANDLERS",
    "PROBLEM_MEDIA_TYPE",
    "ROUTES",
    "ApiContext",
    "ApiError",
    "ApiRequest",
    "ApiResponse",
    "Caller",
    "Locator",
    "Operation",
    "Problem",
    "Role",
    "handle",
    "openapi_document",
]
