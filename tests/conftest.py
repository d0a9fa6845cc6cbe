"""What the whole suite shares: its tiers, and one of each service per session.

Tiers, set on every test from what it uses (``make unit``, ``make integration``, ``make e2e``):

- ``unit``: no services. A unit test that starts Azurite or cosmosdb-server fails.
- ``integration``: the session's one Azurite and one cosmosdb-server; a test gets a storage
  account, containers or a database of its own, so tests never see each other's data.
- ``e2e``: the function app under devhost (tests/e2e, and the tests that use its fixtures).

"Per session" is per xdist worker: each worker starts the services its tests ask for, once.
A service that cannot start fails the tests that need it, never skips them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from azure.cosmos import CosmosClient

from dataops.store.cosmos_setup import make_client
from devhost.services.azurite import AzuriteBlob
from devhost.services.cosmos_server import CosmosServer, CosmosServerError
from tests.azurite import TEST_ACCOUNTS, fresh_account, started_azurite

# Which tests share an xdist worker (the shared pipeline runs, module-scoped fixtures).
pytest_plugins = ["tests.xdist_groups"]

TIERS = ("unit", "integration", "e2e")
# Fixtures that are (or reach) a running service; a test using one is not a unit test.
SERVICE_FIXTURES = frozenset({"azurite", "storage_account", "cosmos_server", "cosmos_client"})
# Fixtures of the app under devhost.
APP_FIXTURES = frozenset({"app_env", "pipeline_run"})
_E2E_DIR = Path(__file__).parent / "e2e"
_INTEGRATION_DIR = Path(__file__).parent / "integration"


def tier_of(item: pytest.Item) -> str:
    """The tier a test belongs to: what it runs on decides, not where it lives."""
    fixtures = set(getattr(item, "fixturenames", ()))
    path = Path(item.path)
    if fixtures & APP_FIXTURES or _E2E_DIR in path.parents:
        return "e2e"
    marked = any(item.get_closest_marker(name) for name in ("azurite", "cosmos", "integration"))
    if fixtures & SERVICE_FIXTURES or marked or _INTEGRATION_DIR in path.parents:
        return "integration"
    return "unit"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test with its tier.

    Plain hooks run last-registered first: the folders' own hooks (which add ``cosmos``) before
    this one, and this one before ``-m`` deselects by marker.
    """
    for item in items:
        item.add_marker(getattr(pytest.mark, tier_of(item)))


@pytest.fixture(autouse=True)
def _unit_tests_start_no_services(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A unit test that starts a service fails, naming the fixture it should use instead."""
    if request.node.get_closest_marker("unit") is None:
        return

    def refuse(name: str, fixture: str) -> Callable[..., object]:
        def start(*_args: object, **_kwargs: object) -> object:
            pytest.fail(f"a unit test started {name}: use the {fixture} fixture (integration)")

        return start

    monkeypatch.setattr(AzuriteBlob, "start", refuse("Azurite", "azurite"))
    monkeypatch.setattr(CosmosServer, "start", refuse("cosmosdb-server", "cosmos_server"))


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AzuriteBlob]:
    """The session's Azurite blob service (the development account and the test accounts)."""
    with started_azurite(tmp_path_factory.mktemp("azurite"), accounts=TEST_ACCOUNTS) as server:
        yield server


@pytest.fixture
def storage_account(azurite: AzuriteBlob) -> str:
    """Connection string of a storage account of this test alone, on the session's Azurite.

    For code that names its containers after the zones (the app): its own account keeps its
    blobs apart without any container prefix.
    """
    return fresh_account(azurite)


@pytest.fixture(scope="session")
def cosmos_server() -> Iterator[CosmosServer]:
    """The session's cosmosdb-server; a failure to start fails every cosmos test."""
    server = CosmosServer()
    try:
        server.start()
    except CosmosServerError as err:
        pytest.fail(f"cosmosdb-server could not start: {err}")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def cosmos_client(cosmos_server: CosmosServer) -> Iterator[CosmosClient]:
    """One client for the session: a client per test would load the CA bundle every time."""
    client = make_client(cosmos_server.endpoint, cosmos_server.key, verify_tls=False)
    try:
        yield client
    finally:
        client.close()
