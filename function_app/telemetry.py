"""One telemetry step around each trigger: a span, a duration sample and the ids it binds.

``@traced_trigger`` goes under the binding decorators (closest to the function), so the
Functions worker still reads the function's own signature (``functools.wraps`` keeps it).
The trigger binds the ids it learns (``bind_ids``) inside; this wrapper gives its records
and spans a parent span named after the function.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar

from dataops.telemetry import step_timer

__all__ = ["traced_trigger"]

P = ParamSpec("P")
R = TypeVar("R")


def traced_trigger(trigger: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Run the async ``trigger`` inside ``step_timer(<its name>)``."""

    @functools.wraps(trigger)
    async def traced(*args: P.args, **kwargs: P.kwargs) -> R:
        with step_timer(trigger.__name__):
            return await trigger(*args, **kwargs)

    return traced
