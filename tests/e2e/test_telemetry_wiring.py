"""Telemetry as the KQL queries read it: ids on every record and span, bytes and step durations.

``infra/queries/measurement.kql`` finds a measurement's records by ``Properties.measurement_id``
and follows ``Properties.instance_id`` / ``Properties.datastream_id``;
``failed-runs-today.kql`` joins records on ``Properties.instance_id``. Azure Monitor's exporter
turns log-record and span attributes into those Properties, so these tests read the same
attributes from in-memory exporters and a capturing log handler: for one real activity run on
Azurite, and for a small ingest run under devhost (orchestration, activities and the trigger).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from activities import ingest as ingest_activities
from activities.serving import ActivityError
from dataops import telemetry
from dataops.activity_contracts import ingest as contracts
from dataops.ids import instance_id_for
from dataops.paths import Zone
from dataops.telemetry import (
    BYTES_METRIC,
    STEP_DURATION_METRIC,
    TELEMETRY_IDS_KEY,
    IdsSpanProcessor,
)
from devhost.durable.store import RuntimeStatus
from devhost.host import DevHost
from tests.e2e.conftest import AppEnv, run_host
from tests.e2e.pipeline import finished
from tests.manifests import manifest_doc
from tests.telemetry_capture import IdRecords, metric_points

pytestmark = pytest.mark.azurite

FILES = {
    "ros2/metadata.yaml": b"rosbag2_bagfile_information:\n  version: 5\n",
    "ros2/ros2_0.mcap": b"\x89MCAP0\r\n" + bytes(range(256)) * 40,
    "drive.bag": b"#ROSBAG V2.0\n" + b"\x01" * 1000,
}
INGEST_ACTIVITIES = {
    contracts.CHECK_UPLOAD.name,
    contracts.HASH_FILE.name,
    contracts.REGISTER.name,
    contracts.COPY_FILE.name,
    contracts.COMPLETE.name,
    contracts.DELETE_LANDING.name,
}
# The app's own loggers (devhost's, the SDKs' and pytest's are not the app's records).
APP_LOGGERS = ("avops", "dataops", "activities", "function_app", "orchestrators")


def _attrs(item: Any) -> dict[str, Any]:
    """A span's or span event's attributes (None when it has none)."""
    return dict(item.attributes or {})


@dataclass
class Captured:
    spans: InMemorySpanExporter
    metrics: InMemoryMetricReader
    logs: IdRecords

    def spans_named(self, names: set[str]) -> list[ReadableSpan]:
        return [s for s in self.spans.get_finished_spans() if s.name in names]

    def points(self, name: str) -> list[Any]:
        return metric_points(self.metrics, name)

    def byte_sum(self, kind: str) -> int:
        return sum(p.value for p in self.points(BYTES_METRIC) if p.attributes["avops.kind"] == kind)


@pytest.fixture
def captured() -> Iterator[Captured]:
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(IdsSpanProcessor())
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    reader = InMemoryMetricReader()
    telemetry.use_providers(
        meter_provider=MeterProvider(metric_readers=[reader]), tracer_provider=tracer_provider
    )
    handler = IdRecords(logging.INFO, APP_LOGGERS)
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield Captured(spans, reader, handler)
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
        telemetry.use_providers()


def _hash_params(env: AppEnv, prefix: str, path: str, sha256: str) -> dict[str, Any]:
    info = env.zones.get_info(Zone.LANDING, f"{prefix}/{path}")
    return {
        "upload_prefix": prefix,
        "path": path,
        "etag": info.etag,
        "sha256": sha256,
        "size": info.size,
    }


def test_an_activity_run_puts_carried_ids_on_its_span_records_bytes_and_duration(
    app_env: AppEnv, captured: Captured
) -> None:
    """A served activity binds the ids the orchestration carried, times itself, counts bytes."""
    data = FILES["drive.bag"]
    app_env.zones.write_bytes(Zone.LANDING, "tel/1/drive.bag", data)
    ids = {"instance_id": "ingest-tel-1", "measurement_id": "m-tel-1"}
    params = _hash_params(app_env, "tel/1", "drive.bag", hashlib.sha256(data).hexdigest())

    result = ingest_activities.hash_file({**params, TELEMETRY_IDS_KEY: ids})

    assert result["sha256"] == params["sha256"]
    (span,) = captured.spans_named({contracts.HASH_FILE.name})
    assert {k: _attrs(span)[k] for k in ids} == ids
    (event,) = [e for e in span.events if e.name == BYTES_METRIC]
    assert _attrs(event)["avops.bytes"] == len(data)
    assert _attrs(event)["instance_id"] == ids["instance_id"]
    assert captured.byte_sum("validated") == len(data)
    (duration,) = [
        p
        for p in captured.points(STEP_DURATION_METRIC)
        if p.attributes["avops.step"] == contracts.HASH_FILE.name
    ]
    assert duration.count == 1
    assert duration.attributes["avops.outcome"] == "ok"
    assert captured.logs.records, "the step logs its end"
    for record in captured.logs.records:
        assert getattr(record, "instance_id", None) == ids["instance_id"], record.getMessage()
        assert getattr(record, "measurement_id", None) == ids["measurement_id"], record.getMessage()

    # A failing run: the span and the sample say error, the records still name the run.
    captured.logs.records.clear()
    wrong = {**params, "sha256": "0" * 64, TELEMETRY_IDS_KEY: ids}
    with pytest.raises(ActivityError, match="terminal"):
        ingest_activities.hash_file(wrong)
    failed = captured.spans_named({contracts.HASH_FILE.name})[-1]
    assert failed.status.status_code is StatusCode.ERROR
    assert _attrs(failed)["measurement_id"] == ids["measurement_id"]
    outcomes = {p.attributes["avops.outcome"] for p in captured.points(STEP_DURATION_METRIC)}
    assert outcomes == {"ok", "error"}
    assert all(getattr(r, "instance_id", None) == ids["instance_id"] for r in captured.logs.records)


def test_a_devhost_ingest_run_names_its_instance_and_measurement_everywhere(
    app_env: AppEnv, captured: Captured
) -> None:
    """Trigger, orchestration and every activity of a run carry its ids; no replay duplicates."""
    prefix = "tel/run"
    for path, data in FILES.items():
        app_env.zones.write_bytes(Zone.LANDING, f"{prefix}/{path}", data)
    app_env.zones.write_bytes(
        Zone.LANDING,
        f"{prefix}/manifest.json",
        json.dumps(manifest_doc(FILES, vehicle_id="WVW-TEL-001")).encode(),
    )
    instance_id = instance_id_for("ingest", prefix)

    async def body(host: DevHost) -> Any:
        return await finished(host, instance_id, timeout_s=120)

    done = run_host(app_env.options(), body)
    assert done.status is RuntimeStatus.COMPLETED, done.error
    measurement_id = json.loads(done.output)["measurement_id"]
    total = sum(len(data) for data in FILES.values())

    activity_spans = captured.spans_named(INGEST_ACTIVITIES)
    assert {s.name for s in activity_spans} == INGEST_ACTIVITIES
    for span in activity_spans:
        assert _attrs(span)["instance_id"] == instance_id, span.name
    # Registration names the measurement; every activity after it carries it.
    after_register = {contracts.COPY_FILE.name, contracts.COMPLETE.name}
    for span in captured.spans_named(after_register):
        assert _attrs(span)["measurement_id"] == measurement_id, span.name
    # One span per activity execution, however often the orchestration replayed.
    assert len(captured.spans_named({contracts.COPY_FILE.name})) == len(FILES)
    assert len(captured.spans_named({contracts.HASH_FILE.name})) == len(FILES)

    (trigger,) = captured.spans_named({"on_landing_blob_created"})
    assert trigger.status.status_code is StatusCode.UNSET
    assert _attrs(trigger)["instance_id"] == instance_id, "the trigger's span names the run"

    records = [r for r in captured.logs.records if getattr(r, "instance_id", None) == instance_id]
    started = [r for r in records if r.getMessage() == "orchestration ingest started"]
    assert len(started) == 1, "the orchestration's start is logged once, not on every replay"
    assert any(r.getMessage().startswith("started ingest") for r in records), "trigger record"
    assert any(getattr(r, "measurement_id", None) == measurement_id for r in records)
    unnamed = [r.getMessage() for r in captured.logs.records if not hasattr(r, "instance_id")]
    assert unnamed == [], "every app record of the run names its instance"

    assert captured.byte_sum("validated") == total
    assert captured.byte_sum("copied") == 2 * total, "raw and archive copies"
    steps = {p.attributes["avops.step"]: p.count for p in captured.points(STEP_DURATION_METRIC)}
    assert steps[contracts.COPY_FILE.name] == len(FILES)
    assert steps["on_landing_blob_created"] >= 1
