"""dataops.telemetry.record_run_event: the ``avops.runs`` counter operations report into."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from dataops.telemetry import RUN_EVENTS_METRIC, record_run_event
from tests.telemetry_capture import metric_points, metrics_in_memory


@pytest.fixture
def reader() -> Iterator[InMemoryMetricReader]:
    with metrics_in_memory() as memory:
        yield memory


def test_run_events_are_counted_by_event_and_orchestration(reader: InMemoryMetricReader) -> None:
    record_run_event("deadline_exceeded", instance_id="ingest-1")
    record_run_event("deadline_exceeded", instance_id="ingest-2", measurement_id="m-2")
    record_run_event("rerun_started")
    counts = {
        (p.attributes["avops.event"], p.attributes["avops.orchestration"]): p.value
        for p in metric_points(reader, RUN_EVENTS_METRIC)
    }
    # Ids stay out of the metric's attributes (cardinality); only event and orchestration.
    assert counts == {("deadline_exceeded", "ingest"): 2, ("rerun_started", "ingest"): 1}


def test_unknown_run_events_and_ids_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown run event"):
        record_run_event("exploded")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="unknown telemetry id"):
        record_run_event("rerun_started", upload="x")  # type: ignore[arg-type]
