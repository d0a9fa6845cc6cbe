"""The OpenAPI 3.1 document, generated from the route table and the pydantic models.

``python -m dataops.api.export_openapi`` writes the checked-in copy, docs/openapi.json (a test
fails when it is stale).
"""

from __future__ import annotations

import copy
import functools
import json
import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from dataops import __version__
from dataops.api.auth import KEY_HEADER, KEY_PARAM, READ_APP_ROLE, WRITE_APP_ROLE
from dataops.api.problems import PROBLEM_MEDIA_TYPE, Problem
from dataops.api.routes import HTML, JSON, ROUTES, Operation
from dataops.job_signal import JOB_TOKEN_HEADER

__all__ = ["openapi_document", "write_document"]

_REF = "#/components/schemas/{model}"
_JOB_TOKEN_SCHEME = "batchJobToken"  # noqa: S105 - a security scheme name
_STATUS_TEXT = {
    200: "OK",
    202: "Accepted: the run started; follow `Location` (`/api/runs/{instance_id}`).",
    400: "A parameter or the body broke a rule (the problem names it).",
    401: "No API key, or one that is not known.",
    403: "The caller's role (or the job token) does not allow this operation.",
    410: "The run is unknown or finished: nothing waits for the signal.",
    404: "Not found (the problem says what).",
    409: "The current state does not allow it: a state change the state machine refuses, or "
    "a run that is still active.",
    412: "The datastream changed since the caller read it (If-Match).",
    415: "The body is not JSON.",
    428: "If-Match is missing.",
    503: "The metadata store is busy; retry (Retry-After).",
}
_DESCRIPTION = f"""Search and inspect the measurements, datastreams, lineage, scenes, frames and
storage locations that AVOps DataOps records; start reruns, extractions and labeling exports,
and follow the runs they start.

**Auth.** Every operation except this document, the docs page and the liveness probe needs a
key, sent as the `{KEY_HEADER}` header or the `{KEY_PARAM}` query parameter. A read key can call
every GET; the PATCH and every POST need a write key (read key: 403). In Azure, App Service
authentication (Entra ID) can stand in front: the app roles `{READ_APP_ROLE}` and
`{WRITE_APP_ROLE}` then decide. The one exception, `POST /runs/{{id}}/batch-jobs/{{job_id}}/done`,
takes no key but the token of that one Batch job in `{JOB_TOKEN_HEADER}`.

**Runs.** A POST that starts an orchestration answers 202 with `Location` and `status_url`:
`/api/runs/{{instance_id}}`, read with a read key. Answers never carry the Functions host's
management URLs or keys.

**Errors** are `application/problem+json` (RFC 9457) with the offending `parameter` named.

**Pages.** Lists return `continuation`; pass it back unchanged with the same filters for the
next page. `limit` is 1 to 1000.
"""


def _strip_null(schema: dict[str, Any]) -> dict[str, Any]:
    # An optional query parameter is simply absent; "null" is not a value it can take.
    options = schema.get("anyOf")
    if isinstance(options, list):
        rest = [option for option in options if option != {"type": "null"}]
        if len(rest) == 1:
            merged = {key: value for key, value in schema.items() if key != "anyOf"}
            merged.update(rest[0])
            return merged
    return schema


def _models() -> list[tuple[type[BaseModel], JsonSchemaMode]]:
    wanted: list[tuple[type[BaseModel], JsonSchemaMode]] = [(Problem, "serialization")]
    for operation in ROUTES:
        wanted.append((operation.params, "validation"))
        if operation.response is not None:
            wanted.append((operation.response, "serialization"))
        if operation.body is not None:
            wanted.append((operation.body, "validation"))
    unique: list[tuple[type[BaseModel], JsonSchemaMode]] = []
    for item in wanted:
        if item not in unique:
            unique.append(item)
    return unique


def _ref_name(schema: dict[str, Any]) -> str:
    return str(schema["$ref"]).rsplit("/", 1)[1]


_ID_PARAM = {
    "description": "Id: letters, digits, '.', '_', '-' (at most 128).",
    "schema": {"type": "string", "pattern": r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"},
}
# A catch-all route segment: the document shows it as one parameter that may hold '/'.
_PATH_PARAM = {
    "description": "A relative path; its '/' are sent as they are (not percent-encoded).",
    "schema": {"type": "string", "minLength": 1, "maxLength": 1024},
}


def _parameters(operation: Operation, defs: dict[str, Any], ref: dict[str, Any]) -> list[Any]:
    ids = set(operation.path_params) - {operation.catch_all}
    parameters: list[dict[str, Any]] = [
        {
            "name": name,
            "in": "path",
            "required": True,
            **copy.deepcopy(_ID_PARAM if name in ids else _PATH_PARAM),
        }
        for name in re.findall(r"\{([^}]+)\}", operation.path)
    ]
    model_schema = defs[_ref_name(ref)]
    required = set(model_schema.get("required", []))
    for name, prop in model_schema.get("properties", {}).items():
        schema = _strip_null(copy.deepcopy(prop))
        description = schema.pop("description", None)
        schema.pop("title", None)
        if schema.get("default", 0) is None:
            schema.pop("default")
        if operation.browser and operation.media_type == HTML and name not in required:
            # A page's filter form sends empty fields; empty means "no filter".
            schema = {"anyOf": [schema, {"type": "string", "maxLength": 0}]}
        parameter: dict[str, Any] = {
            "name": name,
            "in": "query",
            "required": name in required,
            "schema": schema,
        }
        if description:
            parameter["description"] = description
        parameters.append(parameter)
    if operation.body is not None and operation.etag:
        parameters.append(
            {
                "name": "If-Match",
                "in": "header",
                "required": True,
                "description": "The ETag from GET (quoted or not).",
                "schema": {"type": "string", "minLength": 1, "maxLength": 256},
            }
        )
    return parameters


def _problem_response(status: int, operation: Operation) -> dict[str, Any]:
    if operation.browser and operation.media_type == HTML:
        # Pages answer errors as pages (the explorer's 400, 401 login, 404 pages).
        return {
            "description": _STATUS_TEXT.get(status, "Error."),
            "content": {HTML: {"schema": {"type": "string"}}},
        }
    return {
        "description": _STATUS_TEXT.get(status, "Error."),
        "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": _REF.format(model="Problem")}}},
    }


def _operation(operation: Operation, refs: dict[Any, Any], defs: dict[str, Any]) -> Any:
    ok: dict[str, Any] = {"description": operation.answer or _STATUS_TEXT[operation.status]}
    if operation.response is not None:
        ok["content"] = {JSON: {"schema": refs[(operation.response, "serialization")]}}
    elif operation.media_type == HTML:
        ok["content"] = {HTML: {"schema": {"type": "string"}}}
    elif operation.media_type != JSON:
        ok["content"] = {
            media_type: {"schema": {"type": "string", "format": "binary"}}
            for media_type in (operation.media_type, *operation.other_media_types)
        }
    else:
        ok["content"] = {JSON: {"schema": {"type": "object"}}}
    headers = {
        name: {"description": text, "schema": {"type": "string"}}
        for name, text in operation.headers
    }
    if operation.etag:
        headers["ETag"] = {"description": "Version of the document.", "schema": {"type": "string"}}
    if headers:
        ok["headers"] = headers
    body: dict[str, Any] = {
        "operationId": operation.operation_id,
        "summary": operation.summary,
        "description": operation.description,
        "parameters": _parameters(operation, defs, refs[(operation.params, "validation")]),
        "responses": {
            str(operation.status): ok,
            **{str(status): _problem_response(status, operation) for status in operation.errors},
        },
    }
    if operation.browser and operation.media_type == HTML:
        body["responses"]["303"] = {
            "description": "The key came as `code`: it is exchanged for the session cookie and "
            "the answer redirects to the same page without it.",
            "headers": {
                "Location": {
                    "description": "The page without `code`.",
                    "schema": {"type": "string"},
                },
                "Set-Cookie": {
                    "description": "`avops_session`: HttpOnly, SameSite=Strict, Path=/api/.",
                    "schema": {"type": "string"},
                },
            },
        }
    if operation.token_header is not None:
        body["security"] = [{_JOB_TOKEN_SCHEME: []}]
    elif operation.role is None:
        body["security"] = []
    else:
        body["x-required-role"] = operation.role.name.lower()
    if operation.body is not None:
        body["requestBody"] = {
            "required": True,
            "content": {JSON: {"schema": refs[(operation.body, "validation")]}},
        }
    return body


@functools.cache
def _document_text() -> str:
    refs, top = models_json_schema(_models(), ref_template=_REF)
    defs: dict[str, Any] = dict(top.get("$defs", {}))
    paths: dict[str, dict[str, Any]] = {}
    for operation in ROUTES:
        path = paths.setdefault(operation.path, {})
        path[operation.method.lower()] = _operation(operation, refs, defs)
    # Query models become parameters, not schemas.
    for operation in ROUTES:
        defs.pop(_ref_name(refs[(operation.params, "validation")]), None)
    document = {
        "openapi": "3.1.0",
        "info": {
            "title": "AVOps DataOps API",
            "version": __version__,
            "description": _DESCRIPTION,
        },
        "servers": [{"url": "/api"}],
        "security": [{"functionKey": []}, {"functionCode": []}],
        "paths": paths,
        "components": {
            "schemas": dict(sorted(defs.items())),
            "securitySchemes": {
                "functionKey": {"type": "apiKey", "in": "header", "name": KEY_HEADER},
                "functionCode": {"type": "apiKey", "in": "query", "name": KEY_PARAM},
                _JOB_TOKEN_SCHEME: {
                    "type": "apiKey",
                    "in": "header",
                    "name": JOB_TOKEN_HEADER,
                    "description": "The token of one Batch job of one run (docs/batch.md).",
                },
            },
        },
    }
    return json.dumps(document, indent=2, sort_keys=False)


def openapi_document() -> dict[str, Any]:
    """The document (a fresh copy: callers may change it)."""
    document: dict[str, Any] = json.loads(_document_text())
    return document


def write_document(path: Path) -> None:
    """Write the document to ``path`` (the checked-in docs/openapi.json)."""
    path.write_text(_document_text() + "\n", encoding="utf-8")
