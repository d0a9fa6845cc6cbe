"""What the tests capture of the app's telemetry: log records with their ids, metric points."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from dataops import telemetry
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


@contextmanager
def metrics_in_memory() -> Iterator[InMemoryMetricReader]:
    """The app's meters record into the yielded reader; the default providers come back after."""
    reader = InMemoryMetricReader()
    telemetry.use_providers(meter_provider=MeterProvider(metric_readers=[reader]))
    try:
        yield reader
    finally:
        telemetry.use_providers()


def metric_points(reader: InMemoryMetricReader, name: str) -> list[Any]:
    """Every data point of metric ``name`` that ``reader`` holds (none before any was made)."""
    data = reader.get_metrics_data()
    if data is None:
        return []
    return [
        point
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
        if metric.name == name
        for point in metric.data.data_points
    ]
