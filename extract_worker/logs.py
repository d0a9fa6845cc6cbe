"""JSON-lines logging with the ids the task was started with in every line.

stderr carries JSON lines only, whoever writes: the worker's own logger, a library's
handler (nptdms installs a plain-text one), ``warnings``, an exception in a ``__del__`` at
interpreter shutdown (asammdf's ``MDF4.__del__`` on a truncated file) or an uncaught error.
:func:`configure_logging` routes each of them into one JSON line.
"""

from __future__ import annotations

import io
import json
import logging
import sys
import time
from contextlib import suppress
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from types import TracebackType

__all__ = ["JsonLineFormatter", "JsonOnlyStream", "configure_logging", "log"]

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


class JsonOnlyStream(io.TextIOBase):
    """A text stream that passes JSON lines through and wraps any other line into one.

    Installed as ``sys.stderr`` so that text a library prints (a log handler of its own,
    a traceback) still reaches the log collector as a parseable line.
    """

    def __init__(self, target: TextIO, context: dict[str, str]) -> None:
        super().__init__()
        self.target = target
        self.context = context
        self._pending = ""

    def writable(self) -> bool:
        """Always: this is an output stream."""
        return True

    def write(self, text: str) -> int:
        """Buffer ``text`` and emit every complete line."""
        self._pending += text
        *lines, self._pending = self._pending.split("\n")
        for line in lines:
            self._emit(line)
        return len(text)

    def flush(self) -> None:
        """Emit a pending partial line and flush the target."""
        if self._pending:
            self._emit(self._pending)
            self._pending = ""
        with suppress(ValueError, OSError):
            self.target.flush()

    def _emit(self, line: str) -> None:
        if not line.strip():
            return
        if not _is_json_object(line):
            line = json.dumps(
                {"time": _now(), "level": "warning", "message": line, "source": "stderr"}
                | self.context
            )
        with suppress(ValueError, OSError):  # the target closed at shutdown: nothing to do
            self.target.write(line + "\n")


def _is_json_object(line: str) -> bool:
    if not line.startswith("{"):
        return False
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False


def _now() -> str:
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z"


def _log_unraisable(unraisable: sys.UnraisableHookArgs) -> None:
    """An exception in a ``__del__`` or finalizer: one JSON warning, traceback inside it."""
    exc = unraisable.exc_value
    where = getattr(unraisable.object, "__qualname__", None) or repr(unraisable.object)
    log.warning(
        "exception ignored in %s: %s: %s",
        where,
        type(exc).__name__,
        exc,
        extra={"source": "unraisable"},
        exc_info=(unraisable.exc_type, exc, unraisable.exc_traceback) if exc else None,
    )


def _log_uncaught(
    exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None
) -> None:
    log.critical("uncaught %s: %s", exc_type.__name__, exc, exc_info=(exc_type, exc, tb))


def configure_logging(context: dict[str, str], *, level: int = logging.INFO) -> None:
    """Send the worker's logs, and everything else that reaches stderr, as JSON lines."""
    ids = {k: v for k, v in context.items() if v}
    if not isinstance(sys.stderr, JsonOnlyStream):
        sys.stderr = JsonOnlyStream(sys.stderr, ids)
    else:
        sys.stderr.context = ids
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLineFormatter(ids))
    log.handlers[:] = [handler]
    log.setLevel(level)
    log.propagate = False
    # Libraries' records without a handler go to logging's last resort, which writes to
    # sys.stderr at call time: the stream above makes them JSON.
    logging.captureWarnings(True)
    sys.unraisablehook = _log_unraisable
    sys.excepthook = _log_uncaught
