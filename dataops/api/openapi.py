"""The OpenAPI 3.1 document, generated from the route table and the pydantic models.

``python -m dataops.api.export_openapi`` writes the checked-in copy, docs/openapi.json (a test
fails when it is stale).
"""

from __future__ import annotations

import copy
import functools
import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from dataops import __version__
from dataops.api.auth import KEY_HEADER, KEY_PARAM, READ_APP_ROLE, WRITE_APP_ROLE
from dataops.api.problems import PROBLEM_MEDIA_TYPE, Problem
from dataops.api.routes import HTML, JSON, ROUTES, Operation

__all__ = ["openapi_document", "write_document"]

_REF = "#/components/schemas/{model}"
_STATUS_TEXT = {
    200: "OK",
    400: "A parameter or the body broke a rule (the problem names it).",
    401: "No API key, or one that is not known.",
    403: "The caller's role does not allow this operation.",
    404: "No such measurement or datastream.",
    409: "The state machine does not allow this change.",
    412: "The datastream changed since the caller read it (If-Match).",
    415: "The body is not JSON.",
    428: "If-Match is missing.",
    503: "The metadata store is busy; retry (Retry-After).",
}
_DESCRIPTION = f"""Search and inspect the measurements, datastreams, lineage, scenes and storage
locations that AVOps DataOps records.

**Auth.** Every operation except this document and the docs page needs a key, sent as the
`{KEY_HEADER}` header or the `{KEY_PARAM}` query parameter. A read key can call every GET; the
PATCH needs a write key (read key: 403). In Azure, App Service authentication (Entra ID) can
stand in front: the app roles `{READ_APP_ROLE}` and `{WRITE_APP_ROLE}` then decide.

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


def _parameters(operation: Operation, defs: dict[str, Any], ref: dict[str, Any]) -> list[Any]:
    parameters: list[dict[str, Any]] = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "description": "Id: letters, digits, '.', '_', '-' (at most 128).",
            "schema": {"type": "string", "pattern": r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"},
        }
        for name in operation.path_params
    ]
    model_schema = defs[_ref_name(ref)]
    required = set(model_schema.get("required", []))
    for name, prop in model_schema.get("properties", {}).items():
        schema = _strip_null(copy.deepcopy(prop))
        description = schema.pop("description", None)
        schema.pop("title", None)
        if schema.get("default", 0) is None:
            schema.pop("default")
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


def _problem_response(status: int) -> dict[str, Any]:
    return {
        "description": _STATUS_TEXT.get(status, "Error."),
        "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": _REF.format(model="Problem")}}},
    }


def _operation(operation: Operation, refs: dict[Any, Any], defs: dict[str, Any]) -> Any:
    ok: dict[str, Any] = {"description": _STATUS_TEXT[200]}
    if operation.response is not None:
        ok["content"] = {JSON: {"schema": refs[(operation.response, "serialization")]}}
    elif operation.media_type == HTML:
        ok["content"] = {HTML: {"schema": {"type": "string"}}}
    else:
        ok["content"] = {JSON: {"schema": {"type": "object"}}}
    if operation.etag:
        ok["headers"] = {
            "ETag": {"description": "Version of the document.", "schema": {"type": "string"}}
        }
    body: dict[str, Any] = {
        "operationId": operation.operation_id,
        "summary": operation.summary,
        "description": operation.description,
        "parameters": _parameters(operation, defs, refs[(operation.params, "validation")]),
        "responses": {
            "200": ok,
            **{str(status): _problem_response(status) for status in operation.errors},
        },
    }
    if operation.role is None:
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
        path = paths.setdefault("/" + operation.route, {})
        path[operation.method.lower()] = _operation(operation, refs, defs)
    # Query models become parameters, not schemas.
    for operation in ROUTES:
        defs.pop(_ref_name(refs[(operation.params, "validation")]), None)
    document = {
        "openapi": "3.1.0",
        "info": {
            "title": "AVOps DataOps Metadata API",
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
