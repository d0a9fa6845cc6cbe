"""A logging handler that keeps records as a configured app's handlers would see them."""

from __future__ import annotations

import logging

from dataops.telemetry import IdsFilter


class IdRecords(logging.Handler):
    """Keeps the records of ``loggers`` (every logger when empty), with the ``IdsFilter``
    that ``configure_telemetry`` gives every handler, so the records carry the bound ids."""

    def __init__(self, level: int = logging.DEBUG, loggers: tuple[str, ...] = ()) -> None:
        super().__init__(level)
        self.records: list[logging.LogRecord] = []
        self._loggers = loggers
        self.addFilter(IdsFilter())

    def emit(self, record: logging.LogRecord) -> None:
        if not self._loggers or record.name.startswith(self._loggers):
            self.records.append(record)
