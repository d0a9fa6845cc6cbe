"""The app's Cosmos DB trigger can run in Azure as deployed: its identity-based connection is in
the app settings, its database, monitored container and leases container exist in Bicep, and the
identity it connects as holds the Cosmos DB built-in Data Contributor role.

The trigger's bindings come from the app itself (devhost's loader, as the worker indexes it), so
renaming a container or the connection in code without infra fails here, not in Azure.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from devhost.loader import load_app
from devhost.registry import FunctionSpec, Registry, TriggerType
from tests.infra.bicep_source import BicepFile, Expr
from tests.infra.test_appsettings_parity import BICEP_CONNECTION_KEYS

ROOT = Path(__file__).resolve().parents[2]
FUNCTION_APP = ROOT / "infra" / "modules" / "functionapp.bicep"
COSMOS = ROOT / "infra" / "modules" / "cosmos.bicep"
MAIN = ROOT / "infra" / "main.bicep"
DATA_CONTRIBUTOR = "00000000-0000-0000-0000-000000000002"


@pytest.fixture(scope="module")
def triggers() -> list[FunctionSpec]:
    found = Registry.from_app(load_app(ROOT)).of_type(TriggerType.COSMOS_DB)
    assert found, "the app has no cosmosDBTrigger function"
    return found


def _app_settings() -> dict[str, object]:
    settings = BicepFile.read(FUNCTION_APP).var("appSettings")
    assert isinstance(settings, dict)
    return settings


def _containers() -> dict[str, dict[str, object]]:
    containers = BicepFile.read(COSMOS).var("containers")
    assert isinstance(containers, list)
    return {c["name"]: c for c in containers}


def test_connection_is_identity_based_and_complete(triggers: list[FunctionSpec]) -> None:
    settings = _app_settings()
    connections = {str(spec.trigger["connection"]) for spec in triggers}
    expected = {
        f"{name}__{part}"
        for name in connections
        for part in ("accountEndpoint", "credential", "clientId")
    }
    assert expected == BICEP_CONNECTION_KEYS
    for name in connections:
        # No connection string (it would carry a key; local auth is off on the account).
        assert name not in settings, f"{name}: a connection string in {FUNCTION_APP.name}"
        endpoint = settings[f"{name}__accountEndpoint"]
        assert isinstance(endpoint, Expr) and endpoint.text == "cosmosEndpoint"
        assert settings[f"{name}__credential"] == "managedidentity"
        # A user-assigned identity: the host must be told which one.
        client_id = settings[f"{name}__clientId"]
        assert isinstance(client_id, Expr) and client_id.text == "identityClientId"


def test_database_and_containers_exist_in_bicep(triggers: list[FunctionSpec]) -> None:
    settings = _app_settings()
    containers = _containers()
    for spec in triggers:
        database = str(spec.trigger["databaseName"])
        assert database.startswith("%") and database.endswith("%"), database
        assert database.strip("%") in settings, f"{spec.name}: {database} is no app setting"
        assert spec.trigger["containerName"] in containers, spec.trigger
        lease = spec.trigger["leaseContainerName"]
        assert lease in containers, f"{spec.name}: lease container {lease} not in cosmos.bicep"
        assert containers[lease]["partitionKeyPath"] == "/id"
        # Creating containers is control plane: the data-plane role cannot, so infra does it.
        assert spec.trigger.get("createLeaseContainerIfNotExists") is False, spec.name


def test_the_app_identity_is_cosmos_data_contributor() -> None:
    cosmos = BicepFile.read(COSMOS)
    roles = [
        cosmos.block_property(decl, "properties")
        for decl in cosmos.named("resource").values()
        if "sqlRoleAssignments" in decl.header
    ]
    assert cosmos.var("dataContributorRoleId") == DATA_CONTRIBUTOR
    contributor = [
        role
        for role in roles
        if "dataContributorRoleId" in str(role["roleDefinitionId"])
        and str(role["principalId"]) == str(Expr("functionPrincipalId"))
    ]
    assert len(contributor) == 1, roles
    assert contributor[0]["scope"] == Expr("account.id")
    # The principal granted the role is the identity whose client id the connection names.
    main = BicepFile.read(MAIN)
    modules = main.named("module")
    cosmos_params = main.block_property(modules["cosmos"], "params")
    app_params = main.block_property(modules["functionApp"], "params")
    assert cosmos_params["functionPrincipalId"] == Expr("identity.outputs.functionPrincipalId")
    assert app_params["identityClientId"] == Expr("identity.outputs.functionClientId")
