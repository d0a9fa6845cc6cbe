"""dataops.telemetry.record_run_event: the ``avops.runs`` counter operations report into."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from dataops import telemetry
from dataops.telemetry import RUN_EVENTS_METRIC, record_run_event


@pytest.fixture
def reader() -> Iterator[InMemoryMetricReader]:
    memory = InMemoryMetricReader()
    telemetry.use_providers(meter_provider=MeterProvider(metric_readers=[memory]))
    yield memory
    telemetry.use_providers()


def test_run_events_are_counted_by_event_and_orchestration(reader: InMemoryMetricReader) -> None:
    record_run_event("deadline_exceeded", instance_id="ingest-1")
    record_run_event("deadline_exceeded", instance_id="ingest-2", measurement_id="m-2")
    record_run_event("rerun_started")
    data = reader.get_metrics_data()
    assert data is not None
    counts = {
        (p.attributes["avops.event"], p.attributes["avops.orchestration"]): p.value
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
        if metric.name == RUN_EVENTS_METRIC
        for p in metric.data.data_points
    }
    # Ids stay out of the metric's attributes (cardinality); only event and orchestration.
    assert counts == {("deadline_exceeded", "ingest"): 2, ("rerun_started", "ingest"): 1}


def test_unknown_run_events_and_ids_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown run event"):
        record_run_event("exploded")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="unknown telemetry id"):
        record_run_event("rerun_started", upload="x")  # type: ignore[arg-type]
