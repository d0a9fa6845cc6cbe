"""One definition of a search command: its filters, the API path and the table it prints.

Every search (``measurements``, ``scenes``, ``frames``) takes its own filters, then the same
page and connection options (``--limit``, ``--continuation``, ``--url``, ``--key``, ``--json``),
sends the filters as query parameters and prints one page. :func:`search_command` builds such a
command from a table of :class:`SearchFilter` rows, so the shared options and the call live here
once. typer reads a command's options from its signature, so the built function carries one.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from avops.cli import app
from avops.cli.metadata import (
    DEFAULT_URL,
    AsJson,
    Continuation,
    Key,
    Limit,
    Url,
    _call,
    _print_page,
)

__all__ = ["SearchFilter", "search_command"]


def _as_is(value: Any) -> Any:
    return value


@dataclass(frozen=True)
class SearchFilter:
    """One filter option, unset by default: ``parameter`` (typed as ``option``), sent as the
    query key ``query`` after ``to_query``."""

    parameter: str
    query: str
    option: Any
    to_query: Callable[[Any], Any] = _as_is


# (name, annotation, default) of the options every search ends with, in help order.
_PAGE_AND_CONNECTION: tuple[tuple[str, Any, Any], ...] = (
    ("limit", Limit, 50),
    ("continuation", Continuation, None),
    ("url", Url, DEFAULT_URL),
    ("key", Key, None),
    ("as_json", AsJson, False),
)


def search_command(
    name: str,
    *,
    path: str,
    doc: str,
    filters: Sequence[SearchFilter],
    columns: tuple[str, ...],
    row: Callable[[dict[str, Any]], list[str]],
) -> Callable[..., None]:
    """Register ``avops NAME``: ``GET /api<path>`` with the filters, one page printed."""

    def command(**options: Any) -> None:
        params = {f.query: f.to_query(options[f.parameter]) for f in filters}
        params["limit"] = options["limit"]
        params["continuation"] = options["continuation"]
        _print_page(
            _call(options["url"], options["key"], path, params),
            as_json=options["as_json"],
            columns=columns,
            row=row,
        )

    parameters = [
        inspect.Parameter(
            name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation, default=default
        )
        for name, annotation, default in [
            *((f.parameter, f.option, None) for f in filters),
            *_PAGE_AND_CONNECTION,
        ]
    ]
    command.__signature__ = inspect.Signature(parameters, return_annotation=None)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in parameters} | {"return": None}
    command.__name__ = command.__qualname__ = name
    command.__doc__ = doc
    app.command(name)(command)
    return command
