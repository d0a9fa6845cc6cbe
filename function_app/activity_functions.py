"""Registers the activities a module serves, each under its contract's name.

An activity module (``activities.ingest``...) binds handlers to their contracts with
``@served``; each becomes an activity function named by its contract, so no activity name is
written twice. The handler is looked up on the module at each call, so tests can replace one
(``monkeypatch.setattr``).
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import azure.durable_functions as df

from activities.serving import served_by

__all__ = ["register_activities"]


def register_activities(bp: df.Blueprint, module: ModuleType) -> list[str]:
    """Register every served handler of ``module`` on ``bp``; returns the activity names."""
    return [
        _register(bp, module, handler.attribute, handler.contract.name, handler.doc)
        for handler in served_by(module.__name__)
    ]


def _register(
    bp: df.Blueprint, module: ModuleType, attribute: str, name: str, doc: str | None
) -> str:
    # The worker refuses generic aliases such as ``dict[str, Any]`` on trigger bindings at
    # function load (tests/unit/test_worker_indexing.py), hence the bare ``dict``.
    def activity(params: dict) -> dict[str, Any]:  # type: ignore[type-arg]
        result: dict[str, Any] = getattr(module, attribute)(params)
        return result

    activity.__name__ = activity.__qualname__ = name
    activity.__doc__ = doc
    bp.function_name(name=name)(bp.activity_trigger(input_name="params")(activity))
    return name
