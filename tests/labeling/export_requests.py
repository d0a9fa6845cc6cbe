"""Label-export request bodies as ``avops export-labels`` builds them from its options."""

from __future__ import annotations

from typing import Any

from avops.cli.export_labels import build_request

# The command's options when none is given (cameras and partner are the tests' own).
_CLI_DEFAULTS: dict[str, Any] = {
    "scene_type": None,
    "object_class": None,
    "vehicle": None,
    "since": None,
    "until": None,
    "frames": [],
    "sensors": ["cam_a,cam_b"],
    "every_nth": 3,
    "min_interval_ms": 0,
    "partner": "acme",
    "point_clouds": False,
    "expires_in_hours": None,
}


def cli_request(**options: Any) -> dict[str, Any]:
    """``build_request`` with ``options`` over the defaults above."""
    return build_request(**{**_CLI_DEFAULTS, **options})
