"""JSON-lines logging with the ids the task was started with in every line."""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

__all__ = ["JsonLineFormatter", "configure_logging", "log"]

log = logging.getLogger("extract_worker")

# LogRecord attributes that are not user-supplied context.
_STANDARD_ATTRS = frozenset(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}


class JsonLineFormatter(logging.Formatter):
    """One JSON object per line: time, level, message, the task context and any extras."""

    def __init__(self, context: dict[str, str]) -> None:
        super().__init__()
        self.context = context

    def format(self, record: logging.LogRecord) -> str:
        """Render ``record`` as one JSON line."""
        line: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "message": record.getMessage(),
            **self.context,
        }
        line.update(
            (key, value)
            for key, value in vars(record).items()
            if key not in _STANDARD_ATTRS and not key.startswith("_")
        )
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def configure_logging(context: dict[str, str], *, level: int = logging.INFO) -> None:
    """Send the worker's logs to stderr as JSON lines carrying ``context``."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLineFormatter({k: v for k, v in context.items() if v}))
    log.handlers[:] = [handler]
    log.setLevel(level)
    log.propagate = False
