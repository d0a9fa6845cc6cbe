"""Azurite for tests: one way to start it, whatever the fixture's scope."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from devhost.services.azurite import AzuriteBlob, AzuriteError


@contextmanager
def started_azurite(data_dir: Path) -> Iterator[AzuriteBlob]:
    """A running Azurite blob service; stopped (with exactly its processes) on exit."""
    server = AzuriteBlob(data_dir)
    try:
        server.start()
    except AzuriteError as err:
        # A missing emulator is a broken checkout, not an optional feature: fail, never skip.
        pytest.fail(f"Azurite could not start: {err}")
    try:
        yield server
    finally:
        server.stop()
