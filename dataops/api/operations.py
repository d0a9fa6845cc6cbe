"""Every operation's handler, from the API's own modules and the explorer's.

A module of its own, not the package's ``__init__``: the explorer's modules import the API's
plumbing (``dataops.api.auth``, ``dispatch``, ``problems``), so a package that gathered the
explorer's handlers on import could not be imported from the explorer's side first.
"""

from __future__ import annotations

from dataops.api.batch_signal import RUN_HANDLERS as BATCH_SIGNAL_HANDLERS
from dataops.api.dead_letters import DEAD_LETTER_HANDLERS, DEAD_LETTER_RUN_HANDLERS
from dataops.api.dispatch import Handler, RunHandler
from dataops.api.erasure import ERASURE_HANDLERS
from dataops.api.handlers import HANDLERS as API_HANDLERS
from dataops.api.starters import RUN_HANDLERS as STARTER_HANDLERS
from dataops.explorer.clips import EXPLORER_RUN_HANDLERS
from dataops.explorer.handlers import EXPLORER_HANDLERS

__all__ = ["HANDLERS", "RUN_HANDLERS"]

HANDLERS: dict[str, Handler] = {**API_HANDLERS, **EXPLORER_HANDLERS, **DEAD_LETTER_HANDLERS}
"""Handlers of the operations answered without the orchestration client."""
RUN_HANDLERS: dict[str, RunHandler] = {
    **STARTER_HANDLERS,
    **ERASURE_HANDLERS,
    **DEAD_LETTER_RUN_HANDLERS,
    **BATCH_SIGNAL_HANDLERS,
    **EXPLORER_RUN_HANDLERS,
}
"""Handlers of the operations that need the orchestration client."""
