"""Imports every command module so that each registers itself on the ``avops`` app.

``dev`` and ``demo`` run the platform itself and need a checkout's full requirements; where
they are missing (``pip install .`` gives the client alone), those two commands say so.
"""

from __future__ import annotations

import typer

from avops.cli import (
    app,
    clip,  # noqa: F401
    deadletters,  # noqa: F401
    erase,  # noqa: F401
    export_labels,  # noqa: F401
    import_status,  # noqa: F401
    metadata,  # noqa: F401
    rerun,  # noqa: F401
    runs,  # noqa: F401
    sample,  # noqa: F401
    search,  # noqa: F401
    stranded,  # noqa: F401
    upload,  # noqa: F401
)

try:
    from avops.cli import (
        demo,  # noqa: F401
        dev,  # noqa: F401
    )
except ModuleNotFoundError as missing:
    _reason = (
        f"this command runs the platform from a checkout of the repository and needs its "
        f"requirements (missing module {missing.name!r}): run `make setup` in the checkout "
        "and use its .venv/bin/avops"
    )

    @app.command("dev", help="Run the platform locally (needs a checkout: make setup).")
    def _dev_unavailable() -> None:
        typer.echo(f"error: {_reason}", err=True)
        raise typer.Exit(2)

    @app.command("demo", help="Run the demo end to end (needs a checkout: make setup).")
    def _demo_unavailable() -> None:
        typer.echo(f"error: {_reason}", err=True)
        raise typer.Exit(2)
