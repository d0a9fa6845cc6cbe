"""The parts of an app's ``host.json`` that devhost honours, read as the Functions host reads them.

Only the durable settings matter here: the task hub name (what management URLs and the durable
client binding carry) and the two concurrency limits of ``extensions.durableTask``. A missing
file or a missing key means the Functions defaults; a value of the wrong type is an error that
names the file and the field, never a silent default.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devhost.errors import AppLoadError

__all__ = ["DurableHostSettings", "default_activity_concurrency", "read_host_json"]

# The Functions defaults for maxConcurrentActivityFunctions and maxConcurrentOrchestratorFunctions
# are "10 times the number of processors" on the current machine.
_DEFAULT_PER_CPU = 10


def default_activity_concurrency() -> int:
    """The Functions default for both limits: 10 x the number of processors."""
    return _DEFAULT_PER_CPU * (os.cpu_count() or 1)


@dataclass(frozen=True)
class DurableHostSettings:
    """``extensions.durableTask`` of host.json; None where the file does not say."""

    hub_name: str | None = None
    max_activities: int | None = None
    max_orchestrators: int | None = None


def read_host_json(app_root: Path) -> DurableHostSettings:
    """Read ``app_root/host.json``; an absent file gives all None."""
    path = app_root / "host.json"
    if not path.is_file():
        return DurableHostSettings()
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise AppLoadError(f"{path}: not readable as JSON: {err}") from err
    durable = _object(_object(doc, path, "").get("extensions"), path, "extensions")
    durable = _object(durable.get("durableTask"), path, "extensions.durableTask")
    hub = durable.get("hubName")
    if hub is not None and (not isinstance(hub, str) or not hub.strip()):
        raise AppLoadError(f"{path}: extensions.durableTask.hubName must be a non-empty string")
    return DurableHostSettings(
        hub_name=hub,
        max_activities=_positive(durable, "maxConcurrentActivityFunctions", path),
        max_orchestrators=_positive(durable, "maxConcurrentOrchestratorFunctions", path),
    )


def _object(value: Any, path: Path, field: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise AppLoadError(f"{path}: {field or 'the document'} must be a JSON object")
    return value


def _positive(durable: dict[str, Any], key: str, path: Path) -> int | None:
    value = durable.get(key)
    if value is None:
        return None
    # bool is an int in Python; true is not a concurrency limit.
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise AppLoadError(
            f"{path}: extensions.durableTask.{key} must be a positive integer, got {value!r}"
        )
    return value
