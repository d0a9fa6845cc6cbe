"""The security and operations baseline of infra/: diagnostics on every resource, Batch nodes
without public IPs, the opt-in archive WORM policy, purge protection, least-privilege roles."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.infra.bicep_source import BicepFile

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
MODULES = INFRA / "modules"
TEMPLATES = sorted(INFRA.rglob("*.bicep"))
_TYPE = re.compile(r"'([A-Za-z.]+/[A-Za-z/]+)@")

# Resource types that cannot have (or need no) diagnostic setting of their own, with why.
NO_DIAGNOSTICS = {
    "Microsoft.Resources/resourceGroups": "a container of resources, no logs",
    "Microsoft.Authorization/roleAssignments": "recorded in the Activity log",
    "Microsoft.Insights/diagnosticSettings": "the settings themselves",
    "Microsoft.Insights/scheduledQueryRules": "alert rules: their firings are in the Activity log",
    "Microsoft.Insights/actionGroups": "alert receivers: notifications are in the Activity log",
    "Microsoft.OperationalInsights/workspaces/savedSearches": "stored queries of the workspace",
    "Microsoft.Network/privateDnsZones": "no diagnostic categories",
    "Microsoft.Network/privateDnsZones/virtualNetworkLinks": "no diagnostic categories",
    "Microsoft.Network/privateEndpoints": "no log categories; the target logs",
    "Microsoft.Network/privateEndpoints/privateDnsZoneGroups": "configuration only",
    "Microsoft.Storage/storageAccounts/blobServices/containers": "logged by the blob service",
    "Microsoft.Storage/storageAccounts/blobServices/containers/immutabilityPolicies": (
        "configuration of a container"
    ),
    "Microsoft.Storage/storageAccounts/managementPolicies": "configuration of the account",
    "Microsoft.DocumentDB/databaseAccounts/sqlDatabases": "logged by the account",
    "Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers": "logged by the account",
    "Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments": "logged by the account",
    "Microsoft.Batch/batchAccounts/pools": "logged by the Batch account",
    "Microsoft.EventGrid/systemTopics/eventSubscriptions": "logged by the topic",
    "Microsoft.Web/serverfarms": "the plan: the app's settings cover its metrics",
    "Microsoft.Web/sites/config": "configuration of the app",
    "Microsoft.KeyVault/vaults/secrets": "logged by the vault (every read and write)",
    "Microsoft.Web/sites/basicPublishingCredentialsPolicies": "configuration of the app",
}


def _resources() -> list[tuple[Path, str, str, str]]:
    """(file, symbol, type, header) of every resource the templates deploy (not `existing`)."""
    found = []
    for path in TEMPLATES:
        template = BicepFile.read(path)
        for name, decl in template.named("resource").items():
            match = _TYPE.match(decl.header)
            assert match, decl.header
            found.append((path, name, match[1], decl.header))
    return found


def test_every_deployed_resource_sends_diagnostics_to_log_analytics() -> None:
    resources = _resources()
    scoped: dict[Path, set[str]] = {}
    for path, name, kind, _ in resources:
        if kind != "Microsoft.Insights/diagnosticSettings":
            continue
        template = BicepFile.read(path)
        body = template.block_property(template.named("resource")[name], "scope")
        props = template.block_property(template.named("resource")[name], "properties")
        assert props["workspaceId"].text in {"workspaceId", "workspace.id"}, (path.name, name)
        assert props.get("logs") or props.get("metrics"), (path.name, name)
        scoped.setdefault(path, set()).add(body.text)
    missing = []
    for path, name, kind, header in resources:
        if kind in NO_DIAGNOSTICS:
            continue
        # An existing resource is diagnosed where it is deployed, unless it is only a handle
        # for a diagnostic setting here (the host account's queue and table services).
        if " existing = " in header and name not in scoped.get(path, set()):
            continue
        if name not in scoped.get(path, set()):
            missing.append(f"{path.relative_to(ROOT)}: {name} ({kind})")
    assert missing == [], "resources without a diagnostic setting (or a reason in NO_DIAGNOSTICS)"


def test_storage_services_log_reads_writes_and_deletes() -> None:
    zone = BicepFile.read(MODULES / "storage-zone.bicep")
    blob = zone.block_property(zone.named("resource")["blobDiagnostics"], "properties")
    assert blob["logs"] == [{"categoryGroup": "allLogs", "enabled": True}]
    host = BicepFile.read(MODULES / "functions-storage.bicep")
    for name in ("blobDiagnostics", "queueDiagnostics", "tableDiagnostics"):
        logs = host.block_property(host.named("resource")[name], "properties")["logs"]
        assert logs == [{"categoryGroup": "allLogs", "enabled": True}], name


def test_batch_nodes_have_no_public_ip_and_the_account_is_private_when_restricted() -> None:
    batch = BicepFile.read(MODULES / "batch.bicep")
    pool = batch.block_property(batch.named("resource")["pool"], "properties")
    assert pool["targetNodeCommunicationMode"] == "Simplified"
    assert pool["networkConfiguration"]["publicIPAddressConfiguration"] == {
        "provision": "NoPublicIPAddresses"
    }
    account = batch.block_property(batch.named("resource")["account"], "properties")
    assert account["publicNetworkAccess"].text == "publicAccess ? 'Enabled' : 'Disabled'"
    main = BicepFile.read(INFRA / "main.bicep")
    params = main.block_property(main.named("module")["batch"], "params")
    assert params["publicAccess"].text == "!restrictNetwork"
    endpoints = {e["groupId"]: e for e in main.var("serviceEndpoints")}
    assert endpoints["batchAccount"]["dnsZone"] == "batch"
    assert endpoints["nodeManagement"]["dnsZone"] == "batch"
    network = BicepFile.read(MODULES / "network.bicep")
    assert network.var("dnsZoneNames")["batch"] == "privatelink.batch.azure.com"
    subnets = network.block_property(network.named("resource")["vnet"], "properties")["subnets"]
    batch_subnet = next(s for s in subnets if s["name"].text == "batchSubnetName")
    # Egress (image pull, node management when public) without public IPs: the NAT gateway.
    assert batch_subnet["properties"]["natGateway"]["id"].text == "nat.id"


def test_archive_immutability_is_opt_in_and_outlives_the_lifecycle_rule() -> None:
    main = BicepFile.read(INFRA / "main.bicep")
    params = main.named("param")
    assert params["archiveImmutabilityDays"].header.endswith("int = 0")
    assert params["archiveRetentionDays"].header.endswith("int = 0"), "archive kept by default"
    zones = {z["name"]: z for z in main.var("zones")}
    assert zones["archive"]["immutabilityDays"].text == "archiveImmutabilityDays"
    assert zones["archive"]["retentionDays"].text == (
        "archiveRetentionDays == 0 ? 0 : max(archiveRetentionDays, archiveImmutabilityDays)"
    )
    assert all(z["immutabilityDays"] == 0 for n, z in zones.items() if n != "archive")
    zone = BicepFile.read(MODULES / "storage-zone.bicep")
    decl = zone.named("resource")["immutability"]
    assert "immutabilityPolicies@" in decl.header
    assert "if (immutabilityDays > 0)" in zone.body(decl)
    policy = zone.block_property(decl, "properties")
    assert policy["immutabilityPeriodSinceCreationInDays"].text == "immutabilityDays"
    assert policy["allowProtectedAppendWrites"] is False
    # The zone's own container (first of the loop), not the extra ones.
    assert zone.block_property(decl, "parent").text == "containers[0]"
    values = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    assert values["archiveImmutabilityDays"]["value"] == "${AVOPS_ARCHIVE_IMMUTABILITY_DAYS=0}"


def test_key_vault_purge_protection_is_on_by_default() -> None:
    main = BicepFile.read(INFRA / "main.bicep")
    assert main.named("param")["keyVaultPurgeProtection"].header.endswith("bool = true")
    vault = BicepFile.read(MODULES / "keyvault.bicep")
    assert vault.named("param")["purgeProtection"].header.endswith("bool = true")
    values = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    assert values["keyVaultPurgeProtection"]["value"] == "${AVOPS_KEY_VAULT_PURGE_PROTECTION=true}"


def test_role_list_is_least_privilege() -> None:
    """Exactly these built-in roles are granted; none is implied by another grant."""
    code = "\n".join(BicepFile.read(p).code for p in TEMPLATES)
    guids = set(
        re.findall(r"'([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})'", code)
    )
    expected = {
        "ba92f5b4-2d11-453d-a403-e96b0029c9fe",  # Storage Blob Data Contributor
        "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1",  # Storage Blob Data Reader
        "b7e6dc6d-f1e8-4753-8033-0f276bb0955b",  # Storage Blob Data Owner (host storage)
        "974c5e8b-45b9-4653-ba55-5f855dd0fb88",  # Storage Queue Data Contributor
        "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3",  # Storage Table Data Contributor
        "00000000-0000-0000-0000-000000000001",  # Cosmos DB Built-in Data Reader
        "00000000-0000-0000-0000-000000000002",  # Cosmos DB Built-in Data Contributor
        "4633458b-17de-408a-b874-0445c86b69e6",  # Key Vault Secrets User
        "b86a8fe4-44ce-4948-aee5-eccb2c155cd7",  # Key Vault Secrets Officer
        "7f951dda-4ed3-4680-a7ca-43fe172d538d",  # AcrPull
        "fb382eab-e894-4461-af04-94435c366c3f",  # Container Registry Tasks Contributor
        "48e5e92e-a480-4e71-aa9c-2778f4c13781",  # Azure Batch Job Submitter
        "3913510d-42f4-4e42-8a64-420c390055eb",  # Monitoring Metrics Publisher
    }
    assert guids == expected
    # Storage Blob Delegator is redundant next to Blob Data Contributor (which may already
    # generate user delegation keys); AcrPush is not needed by an ACR Tasks build.
    assert "db58b8e5-c6ad-4a2a-8342-4190687cbf4a" not in code
    assert "8311e382-0749-4cb8-b61a-304f252e45ec" not in code
    # One identity per workload, none for Event Grid: the topics use their own.
    identity = BicepFile.read(MODULES / "identity.bicep")
    assert set(identity.named("module")) == {"functionIdentity", "batchIdentity"}


def test_the_registry_build_uses_the_role_the_templates_grant() -> None:
    registry = BicepFile.read(MODULES / "registry.bicep")
    builder = registry.block_property(registry.named("resource")["builder"], "properties")
    assert builder["principalId"].text == "builderPrincipalId"
    assert "tasksContributorRoleId" in builder["roleDefinitionId"].text
    main = BicepFile.read(INFRA / "main.bicep")
    params = main.block_property(main.named("module")["registry"], "params")
    assert params["builderPrincipalId"].text == "principalId"
    hook = (INFRA / "hooks" / "postprovision.sh").read_text()
    assert "az acr build" in hook and "docker push" not in hook
