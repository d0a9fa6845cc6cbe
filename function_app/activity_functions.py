"""Registers the activities a module serves, each under its contract's name.

An activity module (``activities.ingest``...) exposes handlers bound to their contracts
(``activities.serving.Served``); every one it lists in ``__all__`` becomes an activity
function named by the contract, so no activity name is written twice. The handler is looked
up on the module at each call, so tests can replace one (``monkeypatch.setattr``).
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import azure.durable_functions as df

from activities.serving import Served

__all__ = ["register_activities"]


def register_activities(bp: df.Blueprint, module: ModuleType) -> list[str]:
    """Register every served handler of ``module`` on ``bp``; returns the activity names."""
    names = []
    for attribute in module.__all__:
        handler = getattr(module, attribute)
        if isinstance(handler, Served):
            names.append(_register(bp, module, attribute, handler.contract.name))
    return names


def _register(bp: df.Blueprint, module: ModuleType, attribute: str, name: str) -> str:
    # The worker refuses generic aliases such as ``dict[str, Any]`` on trigger bindings at
    # function load (tests/unit/test_worker_indexing.py), hence the bare ``dict``.
    def activity(params: dict) -> dict[str, Any]:  # type: ignore[type-arg]
        result: dict[str, Any] = getattr(module, attribute)(params)
        return result

    activity.__name__ = activity.__qualname__ = name
    activity.__doc__ = getattr(module, attribute).handler.__doc__
    bp.function_name(name=name)(bp.activity_trigger(input_name="params")(activity))
    return name
