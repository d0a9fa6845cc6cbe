"""The docs page: the OpenAPI document rendered server-side as plain HTML.

No scripts, no stylesheets from elsewhere: it must work on a laptop with no network and cannot
be broken by a CDN. Everything taken from the document is HTML-escaped.
"""

from __future__ import annotations

import json
from html import escape
from typing import Any

__all__ = ["render_docs"]

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 70rem; padding: 0 1rem;
       color: #1d1d1f; line-height: 1.45; }
code, pre { font-family: ui-monospace, monospace; font-size: 0.9em; }
pre { background: #f5f5f7; padding: 0.75rem; overflow-x: auto; }
table { border-collapse: collapse; margin: 0.5rem 0 1rem; width: 100%; }
th, td { border: 1px solid #d2d2d7; padding: 0.3rem 0.5rem; text-align: left; vertical-align: top; }
th { background: #f5f5f7; }
.method { font-weight: bold; text-transform: uppercase; margin-right: 0.5rem; }
section.op { border-top: 1px solid #d2d2d7; padding-top: 0.5rem; }
"""


def _type_of(schema: dict[str, Any]) -> str:
    if "$ref" in schema:
        name = str(schema["$ref"]).rsplit("/", 1)[1]
        return f'<a href="#schema-{escape(name)}">{escape(name)}</a>'
    if "anyOf" in schema:
        return " | ".join(_type_of(option) for option in schema["anyOf"])
    if "enum" in schema:
        return " | ".join(f"<code>{escape(json.dumps(v))}</code>" for v in schema["enum"])
    kind = str(schema.get("type", "any"))
    if kind == "array":
        return f"array of {_type_of(schema.get('items', {}))}"
    detail = schema.get("format") or schema.get("pattern")
    return escape(f"{kind} ({detail})" if detail else kind)


def _limits(schema: dict[str, Any]) -> str:
    parts = [
        f"{name} {schema[name]}"
        for name in ("minimum", "maximum", "minLength", "maxLength", "default")
        if name in schema
    ]
    return escape(", ".join(parts))


def _parameters(parameters: list[dict[str, Any]]) -> str:
    if not parameters:
        return "<p>No parameters.</p>"
    rows = "".join(
        "<tr>"
        f"<td><code>{escape(p['name'])}</code></td><td>{escape(p['in'])}</td>"
        f"<td>{'yes' if p.get('required') else 'no'}</td>"
        f"<td>{_type_of(p.get('schema', {}))}</td><td>{_limits(p.get('schema', {}))}</td>"
        f"<td>{escape(p.get('description', ''))}</td>"
        "</tr>"
        for p in parameters
    )
    return (
        "<table><tr><th>name</th><th>in</th><th>required</th><th>type</th><th>limits</th>"
        f"<th>description</th></tr>{rows}</table>"
    )


def _responses(responses: dict[str, Any]) -> str:
    rows = []
    for status, response in responses.items():
        content = response.get("content", {})
        kinds = ", ".join(
            f"<code>{escape(media)}</code> {_type_of(body.get('schema', {}))}"
            for media, body in content.items()
        )
        rows.append(
            f"<tr><td>{escape(status)}</td><td>{escape(response.get('description', ''))}</td>"
            f"<td>{kinds}</td></tr>"
        )
    return (
        "<table><tr><th>status</th><th>meaning</th><th>body</th></tr>" + "".join(rows) + "</table>"
    )


def _who(op: dict[str, Any], schemes: dict[str, Any]) -> str:
    """The role an operation needs, or the token header it takes instead of a key."""
    headers = [
        schemes[name]["name"]
        for entry in op.get("security", [])
        for name in entry
        if schemes.get(name, {}).get("in") == "header"
    ]
    if headers:
        return f"Role: <code>none</code>; a token in <code>{escape(headers[0])}</code>"
    return f"Role: <code>{escape(op.get('x-required-role', 'none'))}</code>"


def _operations(document: dict[str, Any]) -> str:
    parts = []
    schemes = document.get("components", {}).get("securitySchemes", {})
    for path, methods in document.get("paths", {}).items():
        for method, op in methods.items():
            parts.append(
                f'<section class="op" id="op-{escape(op.get("operationId", ""))}">'
                f'<h3><span class="method">{escape(method)}</span>'
                f"<code>/api{escape(path)}</code></h3>"
                f"<p><strong>{escape(op.get('summary', ''))}</strong> "
                f"{escape(op.get('description', ''))}</p>"
                f"<p>{_who(op, schemes)}</p>"
                f"<h4>Parameters</h4>{_parameters(op.get('parameters', []))}"
                f"<h4>Responses</h4>{_responses(op.get('responses', {}))}"
                "</section>"
            )
    return "".join(parts)


def _schemas(document: dict[str, Any]) -> str:
    parts = []
    for name, schema in document.get("components", {}).get("schemas", {}).items():
        required = set(schema.get("required", []))
        rows = "".join(
            f"<tr><td><code>{escape(prop)}</code></td><td>{_type_of(body)}</td>"
            f"<td>{'yes' if prop in required else 'no'}</td>"
            f"<td>{escape(str(body.get('description', '')))}</td></tr>"
            for prop, body in schema.get("properties", {}).items()
        )
        table = (
            "<table><tr><th>field</th><th>type</th><th>required</th><th>description</th></tr>"
            f"{rows}</table>"
            if rows
            else f"<p>{_type_of(schema)}</p>"
        )
        parts.append(
            f'<section id="schema-{escape(name)}"><h3>{escape(name)}</h3>'
            f"<p>{escape(str(schema.get('description', '')))}</p>{table}</section>"
        )
    return "".join(parts)


def render_docs(document: dict[str, Any]) -> str:
    """A complete HTML page for ``document`` (an OpenAPI 3.1 dict)."""
    info = document.get("info", {})
    title = escape(str(info.get("title", "API")))
    description = escape(str(info.get("description", ""))).replace("\n\n", "</p><p>")
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{title}</title><style>{_STYLE}</style></head><body>"
        f"<h1>{title} <small>{escape(str(info.get('version', '')))}</small></h1>"
        f"<p>{description}</p>"
        '<p>Machine-readable: <a href="openapi.json"><code>/api/openapi.json</code></a></p>'
        f"<h2>Operations</h2>{_operations(document)}"
        f"<h2>Schemas</h2>{_schemas(document)}"
        "</body></html>\n"
    )
