"""The local Functions host: loads an app, serves HTTP, runs the durable engine and events."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from devhost.db import Database
from devhost.durable.activities import ActivityRunner, RoutingRunner, process_runner, thread_runner
from devhost.durable.clock import Clock, SystemClock
from devhost.durable.engine import DurableEngine
from devhost.durable.worker import DurableWorker
from devhost.events.changefeed import ChangeFeedPump, ChangeSource
from devhost.events.delivery import Delivery, DeliveryQueue, PermanentDeliveryError
from devhost.events.eventgrid import AzureBlobLister, BlobLister, BlobPoller
from devhost.events.retry_policy import NO_RETRY, RetryContext, RetryPolicy
from devhost.events.subscriptions import Subscription, load_subscriptions
from devhost.events.timers import TimerScheduler
from devhost.hostjson import default_activity_concurrency, read_host_json
from devhost.http.server import HttpConfig, build_app, durable_client_kwargs, new_function_key
from devhost.invoke import call_function_async, decode_trigger
from devhost.loader import load_app
from devhost.registry import Registry, TriggerType

__all__ = ["DevHost", "HostOptions"]

log = logging.getLogger(__name__)

_EVENT_GRID_KEYS = ("id", "subject", "eventType", "eventTime", "data")
_CLOUD_EVENT_KEYS = ("id", "source", "type", "specversion")


@dataclass
class HostOptions:
    """How to run one app."""

    app_root: Path
    state_dir: Path | None = None
    host: str = "127.0.0.1"
    port: int = 7071
    function_key: str | None = None
    named_function_keys: dict[str, str] = field(default_factory=dict)
    activity_mode: str = "process"  # "process" or "thread"
    thread_activities: set[str] = field(default_factory=set)
    # None: from host.json (extensions.durableTask.maxConcurrentActivityFunctions), else the
    # Functions default. Activities are often I/O-bound (hashing over the network, server-side
    # copies), so the limit is the setting, never the CPU count.
    activity_workers: int | None = None
    concurrency: int | None = None
    subscriptions_path: Path | None = None
    storage_connection_string: str | None = None
    blob_lister: BlobLister | None = None
    change_source: ChangeSource | None = None
    poll_interval_s: float = 1.0
    delivery_max_attempts: int = 5
    delivery_backoff_s: float = 1.0
    clock: Clock = field(default_factory=SystemClock)
    task_hub: str | None = None  # None: host.json's hubName, else "devhost"


class DevHost:
    """Everything devhost runs for one app, started and stopped together."""

    def __init__(self, options: HostOptions) -> None:
        self.options = options
        self.app_root = options.app_root.resolve()
        self.registry = Registry.from_app(load_app(self.app_root))
        self.host_json = read_host_json(self.app_root)
        limit = self.host_json.max_activities or default_activity_concurrency()
        # Both default to the host.json limit: at most that many activities at once, each in
        # its own worker (thread or process), as the Functions host runs them.
        self.activity_workers = options.activity_workers or limit
        self.activity_concurrency = options.concurrency or limit
        state_dir = options.state_dir or self.app_root / ".avops" / "devhost"
        self.db = Database(state_dir / "devhost.sqlite3")
        self.clock = options.clock
        self.engine = DurableEngine(
            self.db,
            self.registry,
            clock=self.clock,
            task_hub=options.task_hub or self.host_json.hub_name or "devhost",
        )
        self.function_key = options.function_key or new_function_key()
        self.queue = DeliveryQueue(
            self.db,
            self.clock,
            max_attempts=options.delivery_max_attempts,
            backoff_s=options.delivery_backoff_s,
        )
        self.queue.retry_policies = _retry_policies(self.registry)
        self.subscriptions: list[Subscription] = (
            load_subscriptions(options.subscriptions_path) if options.subscriptions_path else []
        )
        self._check_subscription_targets()
        self.poller: BlobPoller | None = None
        lister = options.blob_lister
        if lister is None and options.storage_connection_string and self.subscriptions:
            lister = AzureBlobLister(options.storage_connection_string)
        if lister is not None and self.subscriptions:
            self.poller = BlobPoller(self.db, self.queue, self.subscriptions, lister, self.clock)
        cosmos = self.registry.of_type(TriggerType.COSMOS_DB)
        self.changefeed: ChangeFeedPump | None = None
        if cosmos and options.change_source is not None:
            self.changefeed = ChangeFeedPump(
                self.db, self.queue, cosmos, options.change_source, self.clock
            )
        elif cosmos:
            log.warning(
                "cosmos_db_trigger functions %s get no change feed: no store configured",
                [s.name for s in cosmos],
            )
        self.timers = TimerScheduler(
            self.db, self.queue, self.registry.of_type(TriggerType.TIMER), self.clock
        )
        self.runner: ActivityRunner = self._make_runner()
        self.worker = DurableWorker(self.engine, self.runner, concurrency=self.activity_concurrency)
        self._http_config = HttpConfig(
            self.registry, self.engine, self.function_key, options.named_function_keys
        )
        self._web_runner: web.AppRunner | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._wake_events = asyncio.Event()
        self.base_url = f"http://{options.host}:{options.port}"

    def _check_subscription_targets(self) -> None:
        targets = {s.name for s in self.registry.of_type(TriggerType.EVENT_GRID)}
        for sub in self.subscriptions:
            if sub.function not in targets:
                # Reported, not fatal: the file mirrors infra, and the app may lag behind it.
                log.error(
                    "subscription %s targets %r, which is not an Event Grid function of this app;"
                    " its events will be dead-lettered",
                    sub.name,
                    sub.function,
                )

    def _make_runner(self) -> ActivityRunner:
        threads = thread_runner(self.registry, self.activity_workers)
        if self.options.activity_mode == "thread":
            return threads
        # The process pool starts its processes on demand, so a limit of 8 costs 8 app imports
        # only when 8 activities really run at once.
        procs = process_runner(self.app_root, self.activity_workers)
        overrides = dict.fromkeys(self.options.thread_activities, threads)
        return RoutingRunner(procs, overrides)  # type: ignore[arg-type]

    # ------------------------------------------------------------------ lifecycle
    def build_web_app(self) -> web.Application:
        """The aiohttp application (HTTP triggers, webhooks, Event Grid webhook, dashboard)."""
        from devhost.dashboard.views import add_dashboard_routes

        def extra(app: web.Application) -> None:
            app.router.add_post("/runtime/webhooks/eventgrid", self._eventgrid_webhook)
            add_dashboard_routes(app, self)

        return build_app(self._http_config, extra)

    async def start(self) -> None:
        """Bind the HTTP port and start the engine and event loops."""
        self._web_runner = web.AppRunner(self.build_web_app(), access_log=None)
        await self._web_runner.setup()
        site = web.TCPSite(self._web_runner, self.options.host, self.options.port)
        await site.start()
        port = self.options.port
        server = getattr(site, "_server", None)
        if server is not None and server.sockets:
            port = server.sockets[0].getsockname()[1]
        self.base_url = f"http://{self.options.host}:{port}"
        self.queue.on_change = self._wake_deliveries
        self._tasks = [
            asyncio.create_task(self.worker.run(), name="durable-worker"),
            asyncio.create_task(self._sources_loop(), name="event-sources"),
            asyncio.create_task(self._deliveries_loop(), name="deliveries"),
        ]
        log.info("devhost serving %s on %s", self.app_root, self.base_url)

    async def stop(self) -> None:
        """Stop loops, HTTP and the activity pool."""
        await self.worker.stop()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._web_runner is not None:
            await self._web_runner.cleanup()
        await _close_durable_client_session()
        self.runner.close()
        self.db.close()

    def _wake_deliveries(self) -> None:
        self._wake_events.set()

    async def poll_sources_once(self) -> None:
        """One round of every event source (the loop calls this; tests may too)."""
        if self.poller is not None:
            await asyncio.to_thread(self.poller.poll_once)
        if self.changefeed is not None:
            self.changefeed.poll_once()
        self.timers.poll_once()

    async def _sources_loop(self) -> None:
        while True:
            try:
                await self.poll_sources_once()
            except Exception:  # one failing source must not stop the others or the host
                log.exception("event source poll failed")
            await asyncio.sleep(self.options.poll_interval_s)

    async def _deliveries_loop(self) -> None:
        while True:
            self._wake_events.clear()
            try:
                await self.queue.deliver_due(self.invoke_delivery)
            except Exception:
                log.exception("delivery round failed")
            timeout = self.options.poll_interval_s
            next_at = self.queue.next_due_at()
            if next_at is not None:
                timeout = max(0.01, min(timeout, next_at - self.clock.now().timestamp()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake_events.wait(), timeout)

    # ------------------------------------------------------------------ event invocation
    async def invoke_delivery(self, delivery: Delivery) -> None:
        """Decode and hand one queued event to its function; raises to trigger a retry."""
        try:
            spec = self.registry.get(delivery.function)
        except Exception as err:
            raise PermanentDeliveryError(str(err)) from err
        binding = {
            TriggerType.EVENT_GRID: "eventGridTrigger",
            TriggerType.COSMOS_DB: "cosmosDBTrigger",
            TriggerType.TIMER: "timerTrigger",
        }.get(spec.trigger_type)
        if binding is None:
            raise PermanentDeliveryError(
                f"{spec.name} is a {spec.trigger_type.value} function, not an event target"
            )
        try:
            if spec.trigger_type is TriggerType.EVENT_GRID:
                check_event_shape(json.loads(delivery.payload))
            value = decode_trigger(binding, delivery.payload)
        except Exception as err:
            raise PermanentDeliveryError(f"malformed {binding} payload: {err}") from err
        extra = durable_client_kwargs(spec, self.base_url, self.engine, self.function_key)
        limit = self.queue.attempts_for(spec.name)
        retry = RetryContext(
            retry_count=delivery.attempts,
            max_retry_count=-1 if limit is None else limit - 1,
        )
        await call_function_async(spec, value, extra, retry_context=retry)

    async def _eventgrid_webhook(self, request: web.Request) -> web.Response:
        """POST /runtime/webhooks/eventgrid?functionName=NAME, as the Functions host offers."""
        name = request.query.get("functionName", "")
        if name not in {s.name for s in self.registry.of_type(TriggerType.EVENT_GRID)}:
            message = f"no Event Grid function named {name!r} in the app"
            log.error("event grid webhook: %s", message)
            return web.json_response({"error": message}, status=404)
        try:
            body = json.loads(await request.text())
            events = body if isinstance(body, list) else [body]
            for event in events:
                check_event_shape(event)
        except (json.JSONDecodeError, ValueError) as err:
            log.error("event grid webhook for %s: malformed event: %s", name, err)  # noqa: TRY400 - expected bad input, no traceback
            return web.json_response({"error": f"malformed event: {err}"}, status=400)
        with self.db.transaction() as conn:
            for event in events:
                self.queue.enqueue(conn, "eventgrid:webhook", name, event)
        self._wake_deliveries()
        return web.json_response({"queued": len(events)}, status=202)


async def _close_durable_client_session() -> None:
    # The DF client keeps one module-level aiohttp session bound to this loop; close it with the
    # loop so that a host started later on another loop gets a fresh one.
    from azure.durable_functions.models.utils import http_utils

    await http_utils._close_session()
    # Its lock binds to the first loop that waits on it; a later host runs on a new loop.
    http_utils._session_lock = asyncio.Lock()


def check_event_shape(event: Any) -> None:
    """Refuse events without the fields of the Event Grid or CloudEvents schema."""
    if not isinstance(event, dict):
        # ValueError, not TypeError: callers treat every malformed event alike.
        raise ValueError(f"an event must be a JSON object, got {type(event).__name__}")  # noqa: TRY004
    required = _CLOUD_EVENT_KEYS if "specversion" in event else _EVENT_GRID_KEYS
    missing = [k for k in required if k not in event]
    if missing:
        raise ValueError(f"event {event.get('id', '?')} lacks {', '.join(missing)}")


def _retry_policies(registry: Registry) -> dict[str, RetryPolicy]:
    """Each function's own retry policy; a Cosmos DB trigger without one is not retried.

    That is Azure's behaviour: the host retries a Cosmos DB trigger only by the function's
    policy and moves its lease on after the last failure. Event Grid triggers are retried by
    their subscription, which devhost's defaults stand in for.
    """
    policies: dict[str, RetryPolicy] = {}
    for spec in registry.specs():
        if spec.retry is not None:
            policies[spec.name] = spec.retry
        elif spec.trigger_type is TriggerType.COSMOS_DB:
            policies[spec.name] = NO_RETRY
    return policies
