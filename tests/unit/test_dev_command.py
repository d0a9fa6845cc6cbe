"""``avops dev`` stops for a failed start and names it, and stops what it started.

Azurite itself is replaced (the behaviour under test is the command's, not the emulator's):
the stand-in starts, fails to create the zone containers, and fails to stop.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, ClassVar

import pytest
from typer.testing import CliRunner

import devhost.services.azurite as azurite_module
from avops.cli import _register_commands, app


class _BrokenAzurite:
    instances: ClassVar[list[_BrokenAzurite]] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.stopped = 0
        self.connection_string = "UseDevelopmentStorage=true"
        _BrokenAzurite.instances.append(self)

    def start(self) -> None:
        return None

    def create_zone_containers(self) -> None:
        raise RuntimeError("the emulator refused the container")

    def stop(self) -> None:
        self.stopped += 1
        raise RuntimeError("the emulator would not stop")


def test_a_failed_container_creation_stops_the_command_and_what_it_started(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(azurite_module, "AzuriteBlob", _BrokenAzurite)
    # The command points the app at the Azurite it started: keep that out of other tests.
    monkeypatch.setenv("AzureWebJobsStorage", "")
    monkeypatch.setenv("AVOPS_STORAGE_CONNECTION_STRING", "")
    monkeypatch.chdir(tmp_path)
    _register_commands()
    with caplog.at_level(logging.WARNING, logger="avops.cli.dev"):
        result = CliRunner().invoke(app, ["dev", "--state-dir", str(tmp_path / "state")])
    assert result.exit_code == 2, result.output
    assert (
        "devhost cannot start: could not create the zone containers in Azurite: "
        "the emulator refused the container" in result.output
    )
    (azurite,) = _BrokenAzurite.instances
    assert azurite.stopped == 1
    # A service that fails to stop is named, not passed over in silence.
    assert any("could not stop _BrokenAzurite" in record.getMessage() for record in caplog.records)
