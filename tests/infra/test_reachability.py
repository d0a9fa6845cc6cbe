"""The reachability matrix of docs/deployment.md holds for the templates, in both network modes.

The facts are read from infra/ (zones, account network rules, private endpoints, subnets' service
endpoints, role assignments); a small model of Azure's network rules turns them into a path per
identity, resource and mode, which must be what the documentation says. Identities the pipeline
runs as (function, batch, eventgrid) must reach everything they have a role on.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from dataops.paths import Zone
from dataops.storage.zones import INTERNET_FACING_ZONES
from tests.infra.bicep_source import BicepFile, Expr

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
MODULES = INFRA / "modules"
DOC = ROOT / "docs" / "deployment.md"
MODES = ("restricted", "public")
PIPELINE = {"function", "batch", "eventgrid"}
# Built-in role GUIDs -> the names the documentation uses.
ROLE_NAMES = {
    "ba92f5b4-2d11-453d-a403-e96b0029c9fe": "Storage Blob Data Contributor",
    "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1": "Storage Blob Data Reader",
    "b7e6dc6d-f1e8-4753-8033-0f276bb0955b": "Storage Blob Data Owner",
    "974c5e8b-45b9-4653-ba55-5f855dd0fb88": "Storage Queue Data Contributor",
    "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3": "Storage Table Data Contributor",
    "00000000-0000-0000-0000-000000000001": "Cosmos DB Built-in Data Reader",
    "00000000-0000-0000-0000-000000000002": "Cosmos DB Built-in Data Contributor",
    "4633458b-17de-408a-b874-0445c86b69e6": "Key Vault Secrets User",
    "b86a8fe4-44ce-4948-aee5-eccb2c155cd7": "Key Vault Secrets Officer",
    "7f951dda-4ed3-4680-a7ca-43fe172d538d": "AcrPull",
    "fb382eab-e894-4461-af04-94435c366c3f": "Container Registry Tasks Contributor",
    "48e5e92e-a480-4e71-aa9c-2778f4c13781": "Azure Batch Job Submitter",
}


@dataclass(frozen=True)
class Row:
    identity: str
    resource: str
    role: str
    paths: dict[str, str]


def _doc_rows() -> list[Row]:
    text = DOC.read_text()
    table = text.split("<!-- reachability:start -->", 1)[1].split("<!-- reachability:end -->")[0]
    rows = []
    for line in table.strip().splitlines()[2:]:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        assert len(cells) == 5, f"docs/deployment.md reachability row: {line!r}"
        rows.append(Row(cells[0], cells[1], cells[2], dict(zip(MODES, cells[3:], strict=True))))
    return rows


# Template facts ------------------------------------------------------------------------------


def _role_id(template: BicepFile, name: str) -> str:
    value = template.var(name)
    assert isinstance(value, str), name
    return value


@functools.cache
def _main() -> BicepFile:
    return BicepFile.read(INFRA / "main.bicep")


@functools.cache
def _zones() -> dict[str, dict[str, Any]]:
    return {z["name"]: z for z in _main().var("zones")}


@functools.cache
def _zone_roles() -> dict[tuple[str, str], set[str]]:
    """(identity, zone) -> role names, from main.bicep's zoneRoles assignments."""
    main = _main()
    roles = {key: ROLE_NAMES[guid] for key, guid in main.var("roles").items()}
    text = main.body(main.named("module")["zoneRoles"])
    body = text.split("assignments: concat(", 1)[1]
    parts = re.split(r"\n        (?=\[|z\.name ==|empty\(principalId\))", body)
    who = {
        "identity.outputs.functionPrincipalId": "function",
        "identity.outputs.batchPrincipalId": "batch",
        "principalId": "operator",
    }
    result: dict[tuple[str, str], set[str]] = {}
    for part in parts:
        only = re.match(r"z\.name == '(\w+)'", part)
        zones = [only[1]] if only else list(_zones())
        for principal, role_expr in re.findall(r"principalId: ([\w.]+)\n\s+roleId: ([^\n]+)", part):
            identity = who[principal]
            for zone in zones:
                conditional = re.fullmatch(
                    r"z\.name == '(\w+)' \? roles\.(\w+) : roles\.(\w+)", role_expr
                )
                if conditional:
                    key = conditional[2] if zone == conditional[1] else conditional[3]
                else:
                    key = role_expr.removeprefix("roles.")
                result.setdefault((identity, zone), set()).add(roles[key])
    assert result, "no zone role assignments found in main.bicep"
    return result


@functools.cache
def _other_roles() -> dict[tuple[str, str], set[str]]:
    """Roles on the non-zone resources, from each module's role assignments."""
    main = _main()
    host = main.body(main.named("module")["hostStorageRoles"])
    roles = {key: ROLE_NAMES[guid] for key, guid in main.var("roles").items()}
    result = {
        ("function", "host-storage"): {
            roles[key] for key in re.findall(r"roleId: roles\.(\w+)", host)
        }
    }
    assert "identity.outputs.functionPrincipalId" in host

    def assigned(module: str, resource: str, principal_param: str) -> str:
        template = BicepFile.read(MODULES / module)
        decl = template.named("resource")[resource]
        body = template.body(decl)
        assert f"principalId: {principal_param}" in body, (module, resource)
        role_var = re.search(r"(\w+RoleId)\b", body)
        assert role_var, (module, resource)
        return ROLE_NAMES[_role_id(template, role_var[1])]

    pairs = {
        ("function", "cosmos"): ("cosmos.bicep", "functionDataContributor", "functionPrincipalId"),
        ("operator", "cosmos"): ("cosmos.bicep", "operatorDataReader", "readerPrincipalId"),
        ("function", "keyvault"): ("keyvault.bicep", "functionSecretsUser", "functionPrincipalId"),
        ("operator", "keyvault"): ("keyvault.bicep", "adminSecretsOfficer", "adminPrincipalId"),
        ("batch", "registry"): ("registry.bicep", "batchPull", "batchPrincipalId"),
        ("operator", "registry"): ("registry.bicep", "builder", "builderPrincipalId"),
        ("function", "batch-account"): ("batch.bicep", "jobSubmitter", "functionPrincipalId"),
    }
    for key, (module, resource, principal) in pairs.items():
        result[key] = {assigned(module, resource, principal)}
    # The pool's nodes talk to the Batch service as its node agent: no Azure role.
    result[("batch", "batch-account")] = {"node agent (no role)"}
    # Event Grid: each topic's identity on the dead-letter container of the error account.
    eventgrid = BicepFile.read(MODULES / "eventgrid.bicep")
    writers = [
        eventgrid.body(eventgrid.named("resource")[n])
        for n in ("landingDeadLetterWriter", "labeledDeadLetterWriter")
    ]
    assert all("scope: deadLetterContainerRef" in w for w in writers)
    assert "principalId: systemTopic.identity.principalId" in writers[0]
    assert "principalId: labeledTopic.identity.principalId" in writers[1]
    result[("eventgrid", "error")] = {ROLE_NAMES[_role_id(eventgrid, "blobDataContributorRoleId")]}
    return result


@functools.cache
def _private_endpoint_targets() -> set[str]:
    """Resources that get a private endpoint with restrictNetwork (and only then)."""
    main = _main()
    module = main.body(main.named("module")["privateEndpoints"])
    assert (
        "for ep in concat(zoneEndpoints, hostEndpoints, serviceEndpoints): if (restrictNetwork)"
        in module
    )
    targets = (
        set(_zones())
        if "for z in zones" in main.body(main.named("var")["zoneEndpoints"])
        else set()
    )
    hosts = main.body(main.named("var")["hostEndpoints"])
    if "'stfunc${resourceToken}'" in hosts and all(
        f"'{s}'" in hosts for s in ("blob", "queue", "table")
    ):
        targets.add("host-storage")
    services = main.var("serviceEndpoints")
    groups = {entry["groupId"]: entry for entry in services}
    if "Sql" in groups:
        targets.add("cosmos")
    if "vault" in groups:
        targets.add("keyvault")
    if {"batchAccount", "nodeManagement"} <= set(groups):
        assert groups["batchAccount"]["dnsZone"] == groups["nodeManagement"]["dnsZone"] == "batch"
        targets.add("batch-account")
    return targets


@functools.cache
def _subnets() -> dict[str, dict[str, Any]]:
    network = BicepFile.read(MODULES / "network.bicep")
    vnet = network.block_property(network.named("resource")["vnet"], "properties")
    names = {"functionSubnetName": "function", "batchSubnetName": "batch"}
    result = {}
    for subnet in vnet["subnets"]:
        name = subnet["name"].text if isinstance(subnet["name"], Expr) else subnet["name"]
        if name in names:
            props = subnet["properties"]
            result[names[name]] = {
                "storage_endpoint": {"service": "Microsoft.Storage"}
                in props.get("serviceEndpoints", []),
                "nat": "natGateway" in props,
            }
    return result


@functools.cache
def _zone_account_rules() -> dict[str, Any]:
    """What storage-zone.bicep does with its parameters (the model below relies on it)."""
    zone = BicepFile.read(MODULES / "storage-zone.bicep")
    props = zone.block_property(zone.named("resource")["account"], "properties")
    assert props["publicNetworkAccess"].text == (
        "publicAccess || nfsV3 || trustedServiceAccess ? 'Enabled' : 'Disabled'"
    )
    acls = props["networkAcls"]
    assert acls["defaultAction"].text == "publicAccess && !nfsV3 ? 'Allow' : 'Deny'"
    assert acls["bypass"] == "AzureServices"
    assert acls["virtualNetworkRules"].text.startswith("nfsV3 ? map(allowedSubnetIds,")
    main = _main()
    params = main.block_property(main.named("module")["zoneAccounts"], "params")
    assert params["publicAccess"].text == "z.public || !restrictNetwork"
    assert params["trustedServiceAccess"].text == "z.trustedServices"
    allowed = {
        {"network.outputs.batchSubnetId": "batch", "network.outputs.functionSubnetId": "function"}[
            e.text
        ]
        for e in params["allowedSubnetIds"]
    }
    return {"allowed_subnets": allowed}


def _service_public(resource: str) -> str:
    """How a service's public access follows the mode: '!restrictNetwork' or 'always'."""
    main = _main()
    module = {
        "cosmos": "cosmos",
        "keyvault": "keyVault",
        "host-storage": "hostStorage",
        "batch-account": "batch",
    }[resource]
    params = main.block_property(main.named("module")[module], "params")
    assert params["publicAccess"].text == "!restrictNetwork", resource
    return "!restrictNetwork"


# The model -----------------------------------------------------------------------------------


def _path(identity: str, resource: str, mode: str) -> str:
    restricted = mode == "restricted"
    private_endpoint = restricted and resource in _private_endpoint_targets()
    if resource == "registry":
        registry = BicepFile.read(MODULES / "registry.bicep")
        props = registry.block_property(registry.named("resource")["registry"], "properties")
        assert props["publicNetworkAccess"] == "Enabled"
        if identity == "batch":
            assert _subnets()["batch"]["nat"], "nodes without public IPs pull through NAT"
        return "public"
    if resource in _zones():
        return _zone_path(identity, resource, restricted=restricted, endpoint=private_endpoint)
    return _service_path(identity, resource, restricted=restricted, endpoint=private_endpoint)


def _zone_path(identity: str, resource: str, *, restricted: bool, endpoint: bool) -> str:
    """A zone account: private endpoint, open, subnet rule (NFS), trusted service, or closed."""
    zone = _zones()[resource]
    in_vnet = identity in {"function", "batch"}
    allow_all = (zone["public"] or not restricted) and not zone["nfs"]
    subnet_rule = (
        in_vnet
        and zone["nfs"]
        and identity in _zone_account_rules()["allowed_subnets"]
        and _subnets()[identity]["storage_endpoint"]
    )
    if in_vnet and endpoint:
        path = "private endpoint"
    elif allow_all:
        path = "public"
    elif subnet_rule:
        path = "service endpoint"
    elif identity == "eventgrid" and zone["trustedServices"]:
        path = "trusted service"
    else:
        path = "VNet only" if identity == "operator" else "denied"
    return path


def _service_path(identity: str, resource: str, *, restricted: bool, endpoint: bool) -> str:
    """A service whose public endpoint is on exactly when the network is not restricted."""
    _service_public(resource)
    in_vnet = identity in {"function", "batch"}
    if in_vnet and endpoint:
        return "private endpoint"
    if not restricted:
        if in_vnet:
            assert _subnets()[identity]["nat"], f"{identity} reaches public endpoints through NAT"
        return "public"
    return "VNet only" if identity == "operator" else "denied"


@functools.cache
def _roles() -> dict[tuple[str, str], set[str]]:
    return {**_zone_roles(), **_other_roles()}


# Tests ---------------------------------------------------------------------------------------


def test_every_role_assignment_has_a_row_and_every_row_a_role() -> None:
    documented = {(r.identity, r.resource) for r in _doc_rows()}
    assigned = set(_roles())
    assert sorted(assigned - documented) == [], "roles assigned but not in docs/deployment.md"
    assert sorted(documented - assigned) == [], "rows in docs/deployment.md without a role"


@pytest.mark.parametrize("row", _doc_rows(), ids=lambda r: f"{r.identity}->{r.resource}")
def test_documented_role_and_paths_follow_from_the_templates(row: Row) -> None:
    roles = _roles()[(row.identity, row.resource)]
    assert {name.strip() for name in row.role.split(",")} == roles
    for mode in MODES:
        assert row.paths[mode] == _path(row.identity, row.resource, mode), mode


def test_the_pipeline_reaches_everything_it_has_a_role_on_in_both_modes() -> None:
    unreachable = [
        (identity, resource, mode)
        for (identity, resource) in _roles()
        if identity in PIPELINE
        for mode in MODES
        if _path(identity, resource, mode) in {"denied", "VNet only"}
    ]
    assert unreachable == []


def test_internet_facing_zones_are_the_code_s_server_side_copy_sources() -> None:
    """dataops copies server-side only from zones whose public endpoint is on in every mode."""
    public = {name for name, zone in _zones().items() if zone["public"]}
    assert public == {zone.value for zone in INTERNET_FACING_ZONES}
    for zone in Zone:
        if zone.value not in public:
            assert _path("operator", zone.value, "restricted") == "VNet only"


def test_dead_letters_reach_a_private_error_account() -> None:
    zones = _zones()
    trusted = {name for name, zone in zones.items() if zone["trustedServices"] is True}
    assert trusted == {"error"}
    assert not zones["error"]["public"]
    assert _path("eventgrid", "error", "restricted") == "trusted service"
