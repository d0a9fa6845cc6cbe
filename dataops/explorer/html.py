"""HTML building blocks of the explorer's pages: layout, escaping, tables, the error pages.

Pages are rendered on the server from the same store and table reads the JSON API makes; the
only scripts are the explorer's own files and the shipped libraries, loaded from
``/api/explorer/assets/`` (the Content-Security-Policy allows nothing else), and data a script
needs travels in a ``<script type="application/json">`` block, never as code.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from html import escape
from typing import Any
from urllib.parse import quote, urlencode

__all__ = [
    "ASSETS",
    "BASE",
    "SCENE_CLIP_URL",
    "content_security_policy",
    "data_block",
    "e",
    "error_page",
    "link",
    "page",
    "query",
    "scene_clip_url",
    "table",
    "table_of_rows",
]

BASE = "/api/explorer"
ASSETS = f"{BASE}/assets"
SCENE_CLIP_URL = f"{BASE}/scenes/{{scene}}/clip"
"""Where a scene's Clip button posts, ``{scene}`` standing for the URL-encoded scene id."""
_NAV = (("Catalog", BASE), ("Search", f"{BASE}/search"), ("Labeling", f"{BASE}/labeling"))
# Most values on a page (ids, vehicles, times) have nothing to escape: a membership test per
# special character is several times cheaper than escape()'s five replaces (the catalog renders
# hundreds of cells per page).
_SPECIAL = ("&", "<", ">", '"', "'")
# RFC 3986 unreserved characters: a path segment made of these needs no quoting.
_UNRESERVED = re.compile(r"[A-Za-z0-9._~-]*")


def e(value: object) -> str:
    """``value`` as escaped HTML text (None: empty)."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    for special in _SPECIAL:
        if special in text:
            return escape(text, quote=True)
    return text


def _query_value(value: object) -> str:
    # The routes take booleans as the words true / false only (Python spells them True / False).
    return str(value).lower() if isinstance(value, bool) else str(value)


def query(params: Mapping[str, object]) -> str:
    """``?a=1&b=2`` of the non-empty values (empty: no query at all)."""
    pairs = {name: _query_value(value) for name, value in params.items() if value not in (None, "")}
    return "?" + urlencode(pairs) if pairs else ""


def link(href: str, text: object, **attributes: str) -> str:
    """An ``<a>``; ``href`` is escaped, ``text`` too."""
    extra = "".join(f" {name}='{e(value)}'" for name, value in attributes.items())
    return f"<a href='{e(href)}'{extra}>{e(text)}</a>"


def scene_clip_url(scene_id: str) -> str:
    """Where the Clip button of ``scene_id`` posts."""
    return SCENE_CLIP_URL.replace("{scene}", quote(scene_id, safe=""))


def path_id(value: str) -> str:
    """An id as one URL path segment."""
    return value if _UNRESERVED.fullmatch(value) else quote(value, safe="")


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], *, table_id: str = "") -> str:
    """A table of already-escaped cells."""
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return table_of_rows(headers, body, table_id=table_id)


def table_of_rows(headers: Sequence[str], body: str, *, table_id: str = "") -> str:
    """A table around already-rendered ``<tr>`` rows (pages with many rows render them whole)."""
    head = "".join(f"<th>{e(h)}</th>" for h in headers)
    ident = f" id='{e(table_id)}'" if table_id else ""
    return f"<table{ident}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def data_block(element_id: str, value: Any) -> str:
    """JSON for a page script, safe inside HTML (no ``</script>`` can end it early)."""
    text = json.dumps(value, separators=(",", ":")).replace("<", "\\u003c").replace(">", "\\u003e")
    return f"<script type='application/json' id='{e(element_id)}'>{text}</script>"


def content_security_policy(tile_origin: str | None = None) -> str:
    """Scripts and data from the app only; map tiles from the configured tile server, if any."""
    images = "'self' data:" + (f" {tile_origin}" if tile_origin else "")
    return (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        f"img-src {images}; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
        "form-action 'self'"
    )


def page(
    title: str,
    body: str,
    *,
    styles: Sequence[str] = (),
    scripts: Sequence[str] = (),
    page_id: str = "",
) -> str:
    """A whole page: head with the explorer's stylesheet, navigation, ``body``, scripts last."""
    links = "".join(f"<link rel='stylesheet' href='{ASSETS}/{e(s)}'>" for s in styles)
    tags = "".join(f"<script src='{ASSETS}/{e(s)}'></script>" for s in scripts)
    nav = "".join(link(href, text) for text, href in _NAV)
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{e(title)} - AVOps Explorer</title>"
        f"<link rel='stylesheet' href='{ASSETS}/explorer.css'>{links}</head>"
        f"<body data-page='{e(page_id)}'><header><strong>AVOps Explorer</strong>"
        f"<nav>{nav}</nav></header><main><h1>{e(title)}</h1>{body}</main>{tags}</body></html>"
    )


_TITLES = {
    400: "Bad request",
    401: "Sign in",
    403: "Not allowed",
    404: "Not found",
    503: "Not available",
}


def error_page(status: int, detail: str, parameter: str | None = None) -> str:
    """The page of an error answer: the login form for 401, the reason otherwise."""
    title = _TITLES.get(status, "Error")
    if status == 401:
        body = (
            f"<p class='error'>{e(detail)}.</p>"
            "<p>Open the explorer with the URL <code>avops dev</code> printed, or enter an API "
            "key: it is exchanged for a session cookie and does not stay in the address.</p>"
            f"<form method='get' action='{BASE}' id='login'>"
            "<label>API key <input type='password' name='code' autocomplete='off' required>"
            "</label> <button type='submit'>Sign in</button></form>"
        )
    else:
        where = (
            f"<p>Parameter: <code id='error-parameter'>{e(parameter)}</code></p>"
            if parameter
            else ""
        )
        body = f"<p class='error' id='error-detail'>{e(detail)}</p>{where}"
        body += f"<p>{link(BASE, 'Back to the catalog')}</p>"
    return page(f"{status} {title}", body, page_id=f"error-{status}")
