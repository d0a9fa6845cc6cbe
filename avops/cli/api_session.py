"""How every API command of the CLI calls the platform and reports failure: one exit-code scheme.

Exit codes (the same for every command):

- 0: done;
- 1: the platform answered with an error (a problem+json document, shown on stderr) or the work
  it ran failed (a run that did not complete, a rejected label file);
- 2: the command could not do its work here: a bad option or input, or no platform answering
  at the URL (start `avops dev`, or pass --url/--key).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import typer

from avops.client import ApiCallError, ApiClient, ApiUnreachableError

__all__ = ["EXIT_FAILED", "EXIT_UNUSABLE", "api_session", "print_json"]

EXIT_FAILED = 1
EXIT_UNUSABLE = 2


@contextmanager
def api_session(url: str | None, key: str | None) -> Iterator[ApiClient]:
    """An :class:`ApiClient`; its errors become a line on stderr and the scheme's exit code."""
    client = ApiClient(url, key)
    try:
        yield client
    except ApiCallError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(EXIT_FAILED) from None
    except ApiUnreachableError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(EXIT_UNUSABLE) from None
    finally:
        client.close()


def print_json(value: Any) -> None:
    """The API's JSON, indented, on stdout (what ``--json`` prints)."""
    typer.echo(json.dumps(value, indent=2))
