"""The ``avops`` command line. Each sub-module registers its commands on :data:`app`."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="avops",
    help="AVOps DataOps: ingest, extract and find automated-driving measurements.",
    no_args_is_help=True,
    add_completion=False,
)


@app.callback()
def _root() -> None:
    """AVOps DataOps command line."""
    # A callback makes typer keep sub-command names even while only one command is registered.


def main() -> None:
    """Console entry point (``avops``)."""
    _register_commands()
    app()


def _register_commands() -> None:
    # Imported for their side effect of adding commands to ``app``; kept lazy so that
    # `import avops.cli` stays cheap for the modules that only need ``app``.
    from avops.cli import commands  # noqa: F401
