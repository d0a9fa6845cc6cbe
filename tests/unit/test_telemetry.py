"""dataops.telemetry: ids on logs and spans, metrics for bytes and step durations, and the
choice between Azure Monitor and the console, checked with in-memory OpenTelemetry readers."""

from __future__ import annotations

import io
import logging
import sys
import types
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from dataops import telemetry
from dataops.settings import Settings
from dataops.telemetry import (
    BYTES_METRIC,
    STEP_DURATION_METRIC,
    IdLoggerAdapter,
    IdsFilter,
    IdsSpanProcessor,
    TelemetryMode,
    bind_ids,
    current_ids,
    record_bytes,
    step_timer,
)
from tests.telemetry_capture import IdRecords, metric_points

IDS = {"measurement_id": "m-1", "datastream_id": "d-1", "instance_id": "ingest-abc"}


@pytest.fixture
def records() -> Iterator[IdRecords]:
    handler = IdRecords()
    logger = logging.getLogger("avops.test")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield handler
    logger.removeHandler(handler)


@pytest.fixture
def otel() -> Iterator[tuple[InMemoryMetricReader, InMemorySpanExporter]]:
    reader = InMemoryMetricReader()
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(IdsSpanProcessor())
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    telemetry.use_providers(
        meter_provider=MeterProvider(metric_readers=[reader]), tracer_provider=tracer_provider
    )
    yield reader, spans
    telemetry.shutdown_telemetry()


def test_bind_ids_nests_and_restores() -> None:
    assert current_ids() == {}
    with bind_ids(measurement_id="m-1", instance_id="i-1"):
        with bind_ids(datastream_id="d-1", instance_id=None) as inner:
            assert inner == {"measurement_id": "m-1", "instance_id": "i-1", "datastream_id": "d-1"}
        assert current_ids() == {"measurement_id": "m-1", "instance_id": "i-1"}
    assert current_ids() == {}


def test_unknown_id_names_are_refused() -> None:
    with pytest.raises(TypeError, match="measurment_id"), bind_ids(measurment_id="typo"):
        pass


def test_log_records_carry_the_bound_ids(records: IdRecords) -> None:
    log = logging.getLogger("avops.test")
    with bind_ids(**IDS):
        log.info("copied %s", "a.bag")
        log.info("explicit", extra={"datastream_id": "d-other"})
    log.info("outside")
    inside, explicit, outside = records.records
    assert {k: getattr(inside, k) for k in IDS} == IDS
    assert explicit.datastream_id == "d-other"  # extra= wins over the context
    assert explicit.measurement_id == "m-1"
    assert not hasattr(outside, "measurement_id")


def test_logger_adapter_puts_its_ids_on_records(records: IdRecords) -> None:
    log = IdLoggerAdapter(logging.getLogger("avops.test"), measurement_id="m-9")
    log.warning("late file %s", "b.bag")
    (record,) = records.records
    assert record.measurement_id == "m-9"
    assert record.getMessage() == "late file b.bag"
    assert current_ids() == {}


def test_spans_started_inside_bind_ids_carry_them(
    otel: tuple[InMemoryMetricReader, InMemorySpanExporter],
) -> None:
    _, spans = otel
    tracer = telemetry._tracer()
    with bind_ids(**IDS), tracer.start_as_current_span("azure.storage.copy"):
        pass
    (span,) = spans.get_finished_spans()
    assert {k: span.attributes[k] for k in IDS} == IDS


def test_record_bytes_counts_by_kind_and_notes_ids_on_the_span(
    otel: tuple[InMemoryMetricReader, InMemorySpanExporter],
) -> None:
    reader, spans = otel
    with step_timer("ingest.copy", **IDS):
        record_bytes("copied", 1000)
        record_bytes("copied", 24)
        record_bytes("validated", 512, datastream_id="d-2")
    record_bytes("extracted", 7)
    totals = {p.attributes["avops.kind"]: p.value for p in metric_points(reader, BYTES_METRIC)}
    assert totals == {"copied": 1024, "validated": 512, "extracted": 7}
    (span,) = spans.get_finished_spans()
    events = [dict(e.attributes or {}) for e in span.events]
    assert events[0] == {**IDS, "avops.kind": "copied", "avops.bytes": 1000}
    assert events[2]["datastream_id"] == "d-2"


def test_record_bytes_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="byte kind"):
        record_bytes("moved", 1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="negative"):
        record_bytes("copied", -1)


def test_step_timer_records_duration_span_and_log(
    otel: tuple[InMemoryMetricReader, InMemorySpanExporter], records: IdRecords
) -> None:
    reader, spans = otel
    telemetry_log = logging.getLogger("avops.telemetry")
    telemetry_log.addHandler(records)
    level = telemetry_log.level
    telemetry_log.setLevel(logging.INFO)
    try:
        with step_timer("ingest.hash", **IDS) as span:
            assert span.is_recording()
            logging.getLogger("avops.test").info("hashing")
    finally:
        telemetry_log.removeHandler(records)
        telemetry_log.setLevel(level)
    (point,) = metric_points(reader, STEP_DURATION_METRIC)
    assert dict(point.attributes) == {"avops.step": "ingest.hash", "avops.outcome": "ok"}
    assert point.count == 1
    assert point.sum >= 0
    (finished,) = spans.get_finished_spans()
    assert finished.name == "ingest.hash"
    assert {k: finished.attributes[k] for k in IDS} == IDS
    hashing, done = records.records
    assert hashing.instance_id == "ingest-abc"
    assert done.getMessage().startswith("step ingest.hash finished (ok) in ")
    assert done.measurement_id == "m-1"


def test_step_timer_marks_failures_and_reraises(
    otel: tuple[InMemoryMetricReader, InMemorySpanExporter],
) -> None:
    reader, spans = otel
    with pytest.raises(RuntimeError, match="boom"), step_timer("extract.submit", **IDS):
        raise RuntimeError("boom")
    (point,) = metric_points(reader, STEP_DURATION_METRIC)
    assert point.attributes["avops.outcome"] == "error"
    (span,) = spans.get_finished_spans()
    assert not span.status.is_ok
    assert span.events[0].name == "exception"


@pytest.fixture
def clean_root() -> Iterator[logging.Logger]:
    """A logger without handlers standing in for the root logger (pytest owns the real one)."""
    telemetry.shutdown_telemetry()
    # Detached on purpose: it must not be the real root or share its handlers.
    root = logging.Logger("stand-in-root", logging.WARNING)  # noqa: LOG001
    yield root
    telemetry.shutdown_telemetry()


def test_without_connection_string_logs_go_to_the_console(
    clean_root: logging.Logger, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(telemetry, "_providers_already_installed", lambda: False)
    mode = telemetry.configure_telemetry(Settings(log_level="DEBUG"), environ={}, root=clean_root)
    assert mode is TelemetryMode.CONSOLE
    (handler,) = clean_root.handlers
    assert clean_root.level == logging.DEBUG
    stream = io.StringIO()
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(stream)
    with bind_ids(measurement_id="m-7"):
        clean_root.info("hello")
    assert "hello [measurement_id=m-7]" in stream.getvalue()
    # Once per process: a second call changes nothing.
    again = telemetry.configure_telemetry(Settings(), environ={}, root=clean_root)
    assert again is TelemetryMode.CONSOLE
    assert len(clean_root.handlers) == 1
    telemetry.shutdown_telemetry()
    assert clean_root.handlers == []
    assert clean_root.level == logging.WARNING


def test_existing_log_handlers_get_the_ids_filter(
    clean_root: logging.Logger, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(telemetry, "_providers_already_installed", lambda: False)
    theirs = logging.StreamHandler(io.StringIO())
    clean_root.addHandler(theirs)
    telemetry.configure_telemetry(Settings(), environ={}, root=clean_root)
    assert clean_root.handlers == [theirs]
    assert any(isinstance(f, IdsFilter) for f in theirs.filters)
    telemetry.shutdown_telemetry()
    assert not any(isinstance(f, IdsFilter) for f in theirs.filters)


def test_connection_string_configures_azure_monitor_with_the_app_identity(
    clean_root: logging.Logger, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[dict[str, Any]] = []
    distro = types.ModuleType("azure.monitor.opentelemetry")
    distro.configure_azure_monitor = lambda **kw: calls.append(kw)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "azure.monitor.opentelemetry", distro)
    monkeypatch.setattr(telemetry, "_providers_already_installed", lambda: False)
    env = {
        "APPLICATIONINSIGHTS_CONNECTION_STRING": "InstrumentationKey=0000;IngestionEndpoint=https://x",
        "APPLICATIONINSIGHTS_AUTHENTICATION_STRING": "ClientId=1111-2222;Authorization=AAD",
    }
    mode = telemetry.configure_telemetry(Settings(), environ=env, root=clean_root)
    assert mode is TelemetryMode.AZURE_MONITOR
    (options,) = calls
    assert options["connection_string"] == env["APPLICATIONINSIGHTS_CONNECTION_STRING"]
    assert any(isinstance(p, IdsSpanProcessor) for p in options["span_processors"])
    credential = options["credential"]
    assert type(credential).__name__ == "ManagedIdentityCredential"


def test_missing_distro_falls_back_to_the_console(
    clean_root: logging.Logger, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "azure.monitor.opentelemetry", None)
    monkeypatch.setattr(telemetry, "_providers_already_installed", lambda: False)
    env = {"APPLICATIONINSIGHTS_CONNECTION_STRING": "InstrumentationKey=x"}
    mode = telemetry.configure_telemetry(Settings(), environ=env, root=clean_root)
    assert mode is TelemetryMode.CONSOLE


def test_providers_set_by_someone_else_are_kept(
    clean_root: logging.Logger, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(telemetry, "_providers_already_installed", lambda: True)
    added: list[Any] = []
    provider = types.SimpleNamespace(add_span_processor=added.append)
    monkeypatch.setattr(telemetry.trace, "get_tracer_provider", lambda: provider)
    env = {"APPLICATIONINSIGHTS_CONNECTION_STRING": "InstrumentationKey=x"}
    mode = telemetry.configure_telemetry(Settings(), environ=env, root=clean_root)
    assert mode is TelemetryMode.EXISTING
    assert len(added) == 1
    assert isinstance(added[0], IdsSpanProcessor)


def test_authentication_string_parsing() -> None:
    assert telemetry._client_id("Authorization=AAD;ClientId=abc") == (True, "abc")
    assert telemetry._client_id("ClientId=abc; Authorization=aad") == (True, "abc")
    assert telemetry._client_id("Authorization=AAD") == (True, None)
    assert telemetry._client_id("") == (False, None)
