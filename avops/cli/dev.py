"""``avops dev``: Azurite (and cosmosdb-server for the cosmos backend) plus devhost."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import warnings
from pathlib import Path
from typing import Annotated, Any

import typer

from avops.cli import app
from avops.cli.activity_modes import activity_placement
from avops.connection import CONNECTION_FILE, LocalConnection, local_key
from dataops.settings import BatchBackend, Settings, StoreBackend
from devhost.batch_runner import BatchRunner
from devhost.errors import DevhostError
from devhost.events.changefeed import ChangeSource, CosmosTsSource
from devhost.host import DevHost, HostOptions
from devhost.loader import read_app_settings

log = logging.getLogger("avops.cli.dev")

DEFAULT_SUBSCRIPTIONS = Path("infra") / "eventgrid-subscriptions.json"


def _state_dir(state_dir: Path | None) -> Path:
    # Relative to the working directory, like every path setting of the app (.avops/...).
    return (state_dir or Path(".avops") / "devhost").resolve()


@app.command()
def dev(  # noqa: PLR0917 - typer maps each option to one parameter
    app_root: Annotated[Path, typer.Option("--app-root", help="Functions app directory.")] = Path(),
    port: Annotated[int, typer.Option(help="HTTP port (0: any free port).")] = 7071,
    state_dir: Annotated[
        Path | None, typer.Option(help="Where devhost keeps its SQLite state.")
    ] = None,
    subscriptions: Annotated[
        Path | None,
        typer.Option(help="Event Grid subscriptions (default infra/eventgrid-subscriptions.json)."),
    ] = None,
    activities: Annotated[
        str,
        typer.Option(
            help="'auto': I/O-bound activities in threads, CPU-bound ones in processes;"
            " 'process' or 'thread': all of them so."
        ),
    ] = "auto",
    thread_activity: Annotated[
        list[str] | None,
        typer.Option(help="Activity to run in a thread even in process mode (repeatable)."),
    ] = None,
    azurite: Annotated[
        bool, typer.Option(help="Start Azurite for blob storage and Event Grid.")
    ] = True,
    log_level: Annotated[str, typer.Option(help="Python log level.")] = "INFO",
    function_key: Annotated[
        list[str] | None,
        typer.Option(help="Extra named function key NAME=VALUE (repeatable), as in Azure."),
    ] = None,
) -> None:
    """Start Azurite (and cosmosdb-server for the cosmos backend) and devhost; Ctrl-C stops them."""
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # The storage SDK logs every request at INFO; the host's own lines are what matters here.
    logging.getLogger("azure").setLevel(max(logging.WARNING, logging.getLogger().level))
    root = app_root.resolve()
    settings = read_app_settings(root)
    for key, value in settings.items():
        os.environ.setdefault(key, value)
    # The explorer links each run to this host's dashboard page of the instance.
    os.environ.setdefault("AVOPS_EXPLORER_MONITOR_URL", "/dashboard/instances/{instance_id}")
    state = _state_dir(state_dir)
    sub_path = subscriptions or (root / DEFAULT_SUBSCRIPTIONS)
    try:
        _run(
            root,
            port=port,
            state=state,
            subscriptions=sub_path if sub_path.is_file() else None,
            activities=activity_placement(activities, thread_activity or []),
            want_azurite=azurite,
            named_keys=parse_named_keys(function_key or []),
        )
    except DevhostError as err:
        typer.echo(f"devhost cannot start: {err}", err=True)
        raise typer.Exit(2) from err


def parse_named_keys(pairs: list[str]) -> dict[str, str]:
    """``NAME=VALUE`` options into named function keys (both parts non-empty)."""
    keys: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name or not value:
            raise typer.BadParameter(
                f"expected NAME=VALUE, got {pair!r}", param_hint="--function-key"
            )
        keys[name] = value
    return keys


def _run(root: Path, **kwargs: Any) -> None:
    asyncio.run(_serve(root, **kwargs))


async def _serve(
    root: Path,
    *,
    port: int,
    state: Path,
    subscriptions: Path | None,
    activities: tuple[str, set[str]],
    want_azurite: bool,
    named_keys: dict[str, str],
) -> None:
    started: list[Any] = []  # exactly the child services this command started, stopped in reverse
    key = _grant_local_key(state)
    connection_file = Path.cwd() / CONNECTION_FILE
    try:
        connection_string = Settings().storage_connection_string
        if want_azurite:
            from devhost.services.azurite import AzuriteBlob

            blob = AzuriteBlob(state / "azurite", log_file=state / "azurite.log", loose=True)
            blob.start()
            started.append(blob)
            connection_string = blob.connection_string
            # The app and its activity processes must talk to this Azurite, not to port 10000.
            os.environ["AzureWebJobsStorage"] = connection_string  # noqa: SIM112 - the host's name
            os.environ["AVOPS_STORAGE_CONNECTION_STRING"] = connection_string
            try:
                blob.create_zone_containers()
            except Exception as err:
                # Azurite answered its readiness probe: a failure here is worth stopping for,
                # not an empty platform whose first upload fails for lack of a container.
                raise DevhostError(
                    f"could not create the zone containers in Azurite: {err}"
                ) from err
        change_source = _change_source(started)
        runner = _start_batch_runner(started)
        options = HostOptions(
            function_key=key,
            named_function_keys=named_keys,
            app_root=root,
            state_dir=state,
            port=port,
            activity_mode=activities[0],
            thread_activities=activities[1],
            subscriptions_path=subscriptions,
            storage_connection_string=connection_string,
            change_source=change_source,
        )
        host = DevHost(options)
        if runner is not None:
            runner.notify(host.engine)
        await host.start()
        try:
            LocalConnection(
                api_url=host.base_url,
                key=key,
                storage_connection_string=connection_string,
                state_dir=str(state),
                pid=os.getpid(),
            ).write(connection_file)
            _print_banner(host, started, subscriptions, connection_file)
            await _wait_for_signal()
            typer.echo("stopping devhost ...")
        finally:
            connection_file.unlink(missing_ok=True)
            await host.stop()
    finally:
        for service in reversed(started):
            try:
                service.stop()
            except Exception:
                # Keep stopping the others; the one left running is named in the log.
                log.warning("could not stop %s", type(service).__name__, exc_info=True)
        typer.echo("stopped")


def _grant_local_key(state: Path) -> str:
    """One key for everything local: the host's function key and the API's write role.

    The write role includes read, so the same key serves the Metadata API, the starters and the
    CLI. Keys configured in the environment keep working beside it.
    """
    key = local_key(state)
    configured = os.environ.get("AVOPS_API_WRITE_KEYS", "")
    if key not in configured.split(","):
        os.environ["AVOPS_API_WRITE_KEYS"] = ",".join(filter(None, [configured, key]))
    return key


def _start_batch_runner(started: list[Any]) -> BatchRunner | None:
    """The local batch pool runs the extraction tasks the app submits (Azure Batch's stand-in)."""
    settings = Settings()
    if settings.batch_backend is not BatchBackend.LOCAL:
        return None
    runner = BatchRunner(settings).start()
    started.append(runner)
    return runner


def _change_source(started: list[Any]) -> ChangeSource:
    """The store's change feed, for the backend the app's own settings select."""
    settings = Settings()
    if settings.store_backend is StoreBackend.SQLITE:
        from dataops.store.sqlite import SqliteStore

        # Pinned as an absolute path, so the app, its activity processes and this feed share it.
        path = settings.sqlite_path.resolve()
        os.environ["AVOPS_SQLITE_PATH"] = str(path)
        return SqliteStore(path)
    from azure.cosmos import CosmosClient

    if settings.cosmos_endpoint:
        # A Cosmos account of the user's (e.g. the emulator): read its feed, start nothing.
        if not settings.cosmos_key:
            raise DevhostError("AVOPS_COSMOS_ENDPOINT is set without AVOPS_COSMOS_KEY")
        client = CosmosClient(
            settings.cosmos_endpoint,
            settings.cosmos_key,
            connection_verify=settings.cosmos_verify_tls,
        )
        return CosmosTsSource(client.create_database_if_not_exists(settings.cosmos_database))
    from devhost.services.cosmos_server import CosmosServer

    # cosmosdb-server serves a self-signed certificate; TLS checks are off on purpose here.
    warnings.filterwarnings("ignore", message="Unverified HTTPS request")
    server = CosmosServer()
    server.start()
    started.append(server)
    os.environ["AVOPS_COSMOS_ENDPOINT"] = server.endpoint
    os.environ["AVOPS_COSMOS_KEY"] = server.key
    os.environ["AVOPS_COSMOS_VERIFY_TLS"] = "false"
    client = CosmosClient(server.endpoint, server.key, connection_verify=False)
    return CosmosTsSource(client.create_database_if_not_exists(settings.cosmos_database))


def _print_banner(
    host: DevHost, started: list[Any], subscriptions: Path | None, connection_file: Path
) -> None:
    typer.echo(f"devhost: {host.app_root} ({len(host.registry)} functions)")
    typer.echo(f"  HTTP        {host.base_url}/api/")
    typer.echo(f"  dashboard   {host.base_url}/dashboard")
    # The key rides in the URL once: the explorer trades it for a session cookie and redirects.
    typer.echo(f"  explorer    {host.base_url}/api/explorer?code={host.function_key}")
    typer.echo(f"  durable API {host.base_url}/runtime/webhooks/durabletask/")
    typer.echo(f"  key         {host.function_key}  (functions key + API read/write roles)")
    typer.echo(f"  connection  {connection_file}  (read by every avops command here)")
    for name in host.options.named_function_keys:
        typer.echo(f"  named function key: {name}")
    for service in started:
        name = type(service).__name__
        endpoint = getattr(service, "blob_endpoint", None) or getattr(service, "endpoint", "")
        pid = getattr(service, "pid", None)
        typer.echo(f"  {name:<11} {endpoint}" + (f" (pid {pid})" if pid else ""))
        connection = getattr(service, "connection_string", None)
        if connection:
            typer.echo(f"  AVOPS_STORAGE_CONNECTION_STRING={connection}")
    typer.echo(f"  subscriptions: {subscriptions or 'none'}")
    typer.echo("ready; Ctrl-C or SIGTERM stops everything started here", err=False)


async def _wait_for_signal() -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
