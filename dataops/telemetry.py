"""Telemetry: logs, traces and metrics that name the measurement, datastream and run they concern.

:func:`configure_telemetry` runs once per process. With ``APPLICATIONINSIGHTS_CONNECTION_STRING``
set it hands logs, traces and metrics to azure-monitor-opentelemetry (Entra ID authenticated when
``APPLICATIONINSIGHTS_AUTHENTICATION_STRING`` says so, as the Bicep app settings do); without it,
logs go to the console. Either way:

* :func:`bind_ids` puts ``measurement_id``, ``datastream_id`` and ``instance_id`` in the current
  context; :class:`IdsFilter` copies them onto every log record and :class:`IdsSpanProcessor`
  onto every span started inside it (Azure SDK calls included).
* :func:`record_bytes` counts bytes validated, copied and extracted (metric ``avops.bytes``),
  :func:`step_timer` times one step (histogram ``avops.step.duration``, plus a span),
  :func:`record_run_event` counts what operations did to runs (metric ``avops.runs``: reruns,
  reconciler starts, deadlines exceeded).

An activity runs in another invocation (often another process) than the orchestration that
called it, so the ids cross the Durable boundary in the payload: :func:`with_carried_ids` adds
the bound ids under ``telemetry_ids`` (``orchestrators.calls`` does, with the ids the
orchestration bound), :func:`split_carried_ids` takes them off again before the input is
validated (``activities.serving``).

Metric attributes stay low-cardinality (step, kind, outcome): per-measurement numbers live in
the logs and spans, where infra/queries/measurement.kql finds them.
Orchestrators use only :func:`bind_ids`, :func:`current_ids` and :func:`with_carried_ids`
(context-variable reads and writes, replay-safe); the timing and counting helpers read the
clock or emit once per call, so activities and triggers use them.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, fields
from enum import StrEnum
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal, get_args

from opentelemetry import metrics, trace
from opentelemetry.sdk.trace import SpanProcessor
from opentelemetry.trace import Status, StatusCode

from dataops import __version__

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.metrics import Counter, Histogram, MeterProvider
    from opentelemetry.sdk.trace import Span
    from opentelemetry.trace import TracerProvider

    from dataops.settings import Settings

__all__ = [
    "AUTHENTICATION_STRING_ENV",
    "BYTES_METRIC",
    "CONNECTION_STRING_ENV",
    "ID_FIELDS",
    "METER_NAME",
    "RUN_EVENTS_METRIC",
    "STEP_DURATION_METRIC",
    "TELEMETRY_IDS_KEY",
    "ByteKind",
    "IdLoggerAdapter",
    "IdsFilter",
    "IdsSpanProcessor",
    "RunEvent",
    "TelemetryMode",
    "bind_ids",
    "configure_telemetry",
    "configure_telemetry_from_environment",
    "current_ids",
    "learned_ids",
    "record_bytes",
    "record_run_event",
    "shutdown_telemetry",
    "split_carried_ids",
    "step_timer",
    "use_providers",
    "with_carried_ids",
]

CONNECTION_STRING_ENV = "APPLICATIONINSIGHTS_CONNECTION_STRING"
AUTHENTICATION_STRING_ENV = "APPLICATIONINSIGHTS_AUTHENTICATION_STRING"
ID_FIELDS = ("measurement_id", "datastream_id", "instance_id")
METER_NAME = "avops.dataops"
BYTES_METRIC = "avops.bytes"
STEP_DURATION_METRIC = "avops.step.duration"
RUN_EVENTS_METRIC = "avops.runs"
TELEMETRY_IDS_KEY = "telemetry_ids"
RunEvent = Literal[
    "rerun_started",
    "reconciler_started",
    "reupload_started",
    "deadline_exceeded",
    "manifest_refused",
    "stranded",
]
# The values the checks accept are the Literal's own: one list to extend.
_RUN_EVENTS = frozenset(get_args(RunEvent))
ByteKind = Literal["validated", "copied", "extracted"]
_BYTE_KINDS = frozenset(get_args(ByteKind))
_CONSOLE_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

_log = logging.getLogger("avops.telemetry")
_EMPTY: Mapping[str, str] = MappingProxyType({})
_ids: ContextVar[Mapping[str, str]] = ContextVar("avops_telemetry_ids", default=_EMPTY)


class TelemetryMode(StrEnum):
    """Where telemetry goes after :func:`configure_telemetry`."""

    AZURE_MONITOR = "azure-monitor"
    """azure-monitor-opentelemetry exports logs, traces and metrics to Application Insights."""
    EXISTING = "existing"
    """Someone (the Functions worker, a test) already installed OpenTelemetry providers."""
    CONSOLE = "console"
    """Logs to the console; metrics and spans only reach providers set with use_providers."""


# --- ids in the context -------------------------------------------------------------------


def current_ids() -> dict[str, str]:
    """The ids bound in the current context (empty outside any :func:`bind_ids`)."""
    return dict(_ids.get())


def _checked(ids: Mapping[str, str | None]) -> dict[str, str]:
    unknown = set(ids) - set(ID_FIELDS)
    if unknown:
        # A misspelt id would silently vanish from every record; refuse it loudly instead.
        raise TypeError(f"unknown telemetry id(s) {sorted(unknown)}; use {', '.join(ID_FIELDS)}")
    return {key: str(value) for key, value in ids.items() if value}


@contextmanager
def bind_ids(**ids: str | None) -> Iterator[dict[str, str]]:
    """Add ids to the context for the block; ``None`` or empty values leave an id unchanged."""
    merged = {**_ids.get(), **_checked(ids)}
    token = _ids.set(MappingProxyType(merged))
    try:
        yield dict(merged)
    finally:
        _ids.reset(token)


def with_carried_ids(payload: dict[str, Any]) -> dict[str, Any]:
    """``payload`` plus the bound ids under ``telemetry_ids`` (unchanged when none are bound)."""
    ids = current_ids()
    return {**payload, TELEMETRY_IDS_KEY: ids} if ids else payload


def split_carried_ids(params: Any) -> tuple[Any, dict[str, str]]:
    """(``params`` without ``telemetry_ids``, the ids it carried); unknown id names dropped."""
    if not isinstance(params, Mapping) or TELEMETRY_IDS_KEY not in params:
        return params, {}
    rest = {key: value for key, value in params.items() if key != TELEMETRY_IDS_KEY}
    carried = params[TELEMETRY_IDS_KEY]
    if not isinstance(carried, Mapping):
        return rest, {}
    ids = {
        key: value
        for key, value in carried.items()
        if key in ID_FIELDS and isinstance(value, str) and value
    }
    return rest, ids


@contextmanager
def learned_ids(**ids: str | None) -> Iterator[dict[str, str]]:
    """Ids learned inside a step: bound for the block and set on the current (step's) span.

    A trigger knows its instance id only after parsing its event; this names the trigger's
    span and the record :func:`step_timer` logs at its end, not only what runs in the block.
    """
    checked = _checked(ids)
    span = trace.get_current_span()
    if span.is_recording():
        for key, value in checked.items():
            span.set_attribute(key, value)
    with bind_ids(**checked) as bound:
        yield bound


class IdsFilter(logging.Filter):
    """Copies the bound ids onto each record; ids given with ``extra=`` take precedence.

    Attached to handlers (not loggers), because handler filters also see records that
    propagate up from child loggers. Never drops a record.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Set the missing id attributes of ``record`` from the context."""
        for key, value in _ids.get().items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


class IdLoggerAdapter(logging.LoggerAdapter[logging.Logger]):
    """A logger whose records carry fixed ids, for code that handles one item throughout."""

    def __init__(self, logger: logging.Logger, **ids: str | None) -> None:
        self.ids = _checked(ids)
        super().__init__(logger, self.ids)

    def log(self, level: int, msg: object, *args: Any, **kwargs: Any) -> None:
        """Log with the adapter's ids on the record and bound for any span started meanwhile."""
        if self.isEnabledFor(level):
            # On the record itself too, so handlers without IdsFilter (pytest's) see them;
            # ids passed with extra= win, as with a plain logger.
            kwargs["extra"] = {**self.ids, **(kwargs.get("extra") or {})}
            with bind_ids(**self.ids):
                self.logger.log(level, msg, *args, **kwargs)


class IdsSpanProcessor(SpanProcessor):
    """A span processor that stamps the bound ids on every span when it starts."""

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        """Set the ids the span does not have yet."""
        del parent_context  # the ids come from our own context variable
        present = span.attributes or {}
        for key, value in _ids.get().items():
            if key not in present:
                span.set_attribute(key, value)


class _ConsoleFormatter(logging.Formatter):
    """The usual line, followed by the ids the record carries."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        ids = " ".join(f"{key}={getattr(record, key)}" for key in ID_FIELDS if hasattr(record, key))
        return f"{line} [{ids}]" if ids else line


# --- metrics and spans --------------------------------------------------------------------


@dataclass
class _Instruments:
    bytes: Counter
    duration: Histogram
    runs: Counter


@dataclass
class _State:
    """What this module installed, so shutdown_telemetry can take exactly that back."""

    mode: TelemetryMode | None = None
    meter_provider: MeterProvider | None = None
    tracer_provider: TracerProvider | None = None
    instruments: _Instruments | None = None
    root: logging.Logger | None = None
    handlers: list[logging.Handler] = field(default_factory=list)
    filtered: list[logging.Handler] = field(default_factory=list)
    root_level: int | None = None

    def reset(self) -> None:
        """Forget what was installed: every field back to its default."""
        fresh = _State()
        for item in fields(self):
            setattr(self, item.name, getattr(fresh, item.name))


_state = _State()
_lock = threading.Lock()
# Held for a whole configure_telemetry call, so two threads cannot both set up exporters.
_configure_lock = threading.Lock()


def use_providers(
    *, meter_provider: MeterProvider | None = None, tracer_provider: TracerProvider | None = None
) -> None:
    """Send this module's metrics and spans to these providers instead of the global ones.

    For tests and embedding hosts; ``None`` goes back to the OpenTelemetry globals (which
    azure-monitor-opentelemetry sets).
    """
    with _lock:
        _state.meter_provider = meter_provider
        _state.tracer_provider = tracer_provider
        _state.instruments = None


def _instruments() -> _Instruments:
    with _lock:
        if _state.instruments is None:
            provider = _state.meter_provider or metrics.get_meter_provider()
            meter = provider.get_meter(METER_NAME, __version__)
            _state.instruments = _Instruments(
                bytes=meter.create_counter(
                    BYTES_METRIC,
                    unit="By",
                    description="Bytes validated, copied and extracted (attribute avops.kind).",
                ),
                duration=meter.create_histogram(
                    STEP_DURATION_METRIC,
                    unit="s",
                    description="Duration of one pipeline step (avops.step, avops.outcome).",
                ),
                runs=meter.create_counter(
                    RUN_EVENTS_METRIC,
                    unit="{run}",
                    description="Runs rerun, started by the reconciler or past their deadline "
                    "(attribute avops.event).",
                ),
            )
        return _state.instruments


def _tracer() -> trace.Tracer:
    provider = _state.tracer_provider or trace.get_tracer_provider()
    return provider.get_tracer(METER_NAME, __version__)


def record_bytes(kind: ByteKind, count: int, **ids: str | None) -> None:
    """Count ``count`` bytes as validated, copied or extracted.

    The ids (and those bound in the context) go on a span event of the current span, so the
    bytes of one measurement can be found without putting ids into metric dimensions.
    """
    if kind not in _BYTE_KINDS:
        raise ValueError(f"unknown byte kind {kind!r}; use one of {sorted(_BYTE_KINDS)}")
    if count < 0:
        raise ValueError(f"byte count must not be negative, got {count}")
    _instruments().bytes.add(count, {"avops.kind": kind})
    span = trace.get_current_span()
    if span.is_recording():
        attributes: dict[str, str | int] = {**_ids.get(), **_checked(ids)}
        attributes.update({"avops.kind": kind, "avops.bytes": count})
        span.add_event(BYTES_METRIC, attributes)


def record_run_event(event: RunEvent, orchestration: str = "ingest", **ids: str | None) -> None:
    """Count one operations event on a run (metric ``avops.runs``).

    The ids go on a span event of the current span, as with :func:`record_bytes`, so the
    metric keeps two low-cardinality attributes while a run can still be found by id.
    """
    if event not in _RUN_EVENTS:
        raise ValueError(f"unknown run event {event!r}; use one of {sorted(_RUN_EVENTS)}")
    checked = _checked(ids)  # a misspelt id fails here, with or without a recording span
    _instruments().runs.add(1, {"avops.event": event, "avops.orchestration": orchestration})
    span = trace.get_current_span()
    if span.is_recording():
        attributes: dict[str, str | int] = {**_ids.get(), **checked}
        attributes.update({"avops.event": event, "avops.orchestration": orchestration})
        span.add_event(RUN_EVENTS_METRIC, attributes)


@contextmanager
def step_timer(step: str, **ids: str | None) -> Iterator[trace.Span]:
    """Time one step: ids bound, a span named ``step``, a duration sample and a log line.

    An exception marks the span and the sample as ``error`` and propagates unchanged.
    """
    with bind_ids(**ids) as bound, _tracer().start_as_current_span(step) as span:
        for key, value in bound.items():
            span.set_attribute(key, value)
        started = time.perf_counter()
        outcome = "ok"
        try:
            yield span
        except BaseException as err:
            outcome = "error"
            span.record_exception(err)
            span.set_status(Status(StatusCode.ERROR, f"{type(err).__name__}: {err}"))
            raise
        finally:
            seconds = time.perf_counter() - started
            _instruments().duration.record(seconds, {"avops.step": step, "avops.outcome": outcome})
            # Ids set on the span inside the step (learned_ids) name its end record too.
            named = getattr(span, "attributes", None) or {}
            extra = {key: str(named[key]) for key in ID_FIELDS if key in named}
            _log.info("step %s finished (%s) in %.3f s", step, outcome, seconds, extra=extra)


# --- configuration ------------------------------------------------------------------------


def _client_id(authentication: str) -> tuple[bool, str | None]:
    """(use Entra ID, client id) from ``Authorization=AAD;ClientId=<id>``."""
    parts = dict(
        item.split("=", 1) for item in authentication.split(";") if "=" in item and item.strip()
    )
    parts = {key.strip().lower(): value.strip() for key, value in parts.items()}
    return parts.get("authorization", "").upper() == "AAD", parts.get("clientid") or None


def _providers_already_installed() -> bool:
    """True when something other than the API's no-op proxies is the global tracer provider."""
    return type(trace.get_tracer_provider()).__name__ not in {
        "ProxyTracerProvider",
        "NoOpTracerProvider",
    }


def _add_span_processor_to_global() -> None:
    provider: Any = trace.get_tracer_provider()
    if hasattr(provider, "add_span_processor"):
        provider.add_span_processor(IdsSpanProcessor())


def _configure_azure_monitor(connection_string: str, authentication: str) -> TelemetryMode:
    try:
        from azure.monitor.opentelemetry import configure_azure_monitor
    except ImportError:
        _log.warning(
            "%s is set but azure-monitor-opentelemetry is not installed: console logging only",
            CONNECTION_STRING_ENV,
        )
        return TelemetryMode.CONSOLE
    options: dict[str, Any] = {
        "connection_string": connection_string,
        "span_processors": [IdsSpanProcessor()],
    }
    use_entra, client_id = _client_id(authentication)
    if use_entra:
        # Application Insights has local auth off; ingestion needs the app's identity.
        from azure.identity import ManagedIdentityCredential

        options["credential"] = ManagedIdentityCredential(client_id=client_id)
    configure_azure_monitor(**options)
    return TelemetryMode.AZURE_MONITOR


def _install_log_filter(root: logging.Logger) -> None:
    for handler in root.handlers:
        if not any(isinstance(f, IdsFilter) for f in handler.filters):
            handler.addFilter(IdsFilter())
            _state.filtered.append(handler)


def _configure_backends(env: Mapping[str, str]) -> TelemetryMode:
    connection_string = env.get(CONNECTION_STRING_ENV, "").strip()
    if _providers_already_installed():
        _add_span_processor_to_global()
        return TelemetryMode.EXISTING
    if not connection_string:
        return TelemetryMode.CONSOLE
    try:
        return _configure_azure_monitor(connection_string, env.get(AUTHENTICATION_STRING_ENV, ""))
    except Exception:  # noqa: BLE001 - any exporter failure must not stop the app loading
        _log.warning("azure-monitor-opentelemetry failed to start", exc_info=True)
        return TelemetryMode.CONSOLE


def _configure_logging(settings: Settings, root: logging.Logger, mode: TelemetryMode) -> None:
    with _lock:
        _state.root = root
        if not root.handlers:
            # Nobody configured logging (plain python, the CLI): ours is the console handler.
            handler = logging.StreamHandler(sys.stderr)
            handler.setFormatter(_ConsoleFormatter(_CONSOLE_FORMAT))
            root.addHandler(handler)
            _state.handlers.append(handler)
            _state.root_level = root.level
            root.setLevel(settings.log_level.upper())
        _install_log_filter(root)
        _state.mode = mode


def configure_telemetry(
    settings: Settings,
    *,
    environ: Mapping[str, str] | None = None,
    root: logging.Logger | None = None,
) -> TelemetryMode:
    """Set up logs, traces and metrics for this process once; later calls return the mode.

    ``environ`` defaults to ``os.environ`` and ``root`` (the logger whose handlers get the ids
    and, when it has none, a console handler) to the root logger.
    Never raises for a telemetry backend that fails to start: the app must load regardless,
    so such a failure is logged and the console is used.
    """
    with _configure_lock:
        if _state.mode is not None:
            return _state.mode
        mode = _configure_backends(os.environ if environ is None else environ)
        _configure_logging(settings, logging.getLogger() if root is None else root, mode)
    _log.debug("telemetry: %s", mode.value)
    return mode


def configure_telemetry_from_environment() -> TelemetryMode:
    """:func:`configure_telemetry` with settings from the environment, for the app's import.

    Invalid settings are reported by the code that uses them; here they only mean the
    default log level, so loading the app (and indexing its functions) never fails on them.
    """
    from pydantic import ValidationError

    from dataops.settings import Settings

    try:
        settings = Settings()
    except ValidationError as err:
        _log.warning("settings invalid, telemetry uses defaults: %s", err.errors()[:1])
        settings = Settings.model_construct()
    return configure_telemetry(settings)


def shutdown_telemetry() -> None:
    """Take back what :func:`configure_telemetry` and :func:`use_providers` installed."""
    with _lock:
        root = _state.root or logging.getLogger()
        for handler in _state.handlers:
            root.removeHandler(handler)
            handler.close()
        for handler in _state.filtered:
            for flt in [f for f in handler.filters if isinstance(f, IdsFilter)]:
                handler.removeFilter(flt)
        if _state.root_level is not None:
            root.setLevel(_state.root_level)
        _state.reset()
