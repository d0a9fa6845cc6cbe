"""The Cosmos DB containers in Bicep are the ones dataops/store/cosmos_setup.py creates: names,
partition key paths and the indexing the store's queries need. The app never creates them in
Azure (keys are off, and data-plane roles cannot create containers), so a drift here would be a
runtime failure there."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dataops.store import cosmos_setup
from tests.infra.bicep_source import BicepFile

ROOT = Path(__file__).resolve().parents[2]
COSMOS = ROOT / "infra" / "modules" / "cosmos.bicep"


def _bicep_containers() -> dict[str, dict[str, Any]]:
    containers = BicepFile.read(COSMOS).var("containers")
    assert isinstance(containers, list)
    return {c["name"]: c for c in containers}


def _expected() -> dict[str, str]:
    wanted = dict.fromkeys(cosmos_setup.CONTAINERS, cosmos_setup.PARTITION_KEY_PATH)
    wanted[cosmos_setup.LEASES] = "/id"
    return wanted


def test_container_names_and_partition_keys_match() -> None:
    bicep = {name: c["partitionKeyPath"] for name, c in _bicep_containers().items()}
    expected = _expected()
    missing = sorted(set(expected) - set(bicep))
    extra = sorted(set(bicep) - set(expected))
    assert not missing, (
        f"containers cosmos_setup creates but infra/modules/cosmos.bicep lacks: {missing}"
    )
    assert not extra, (
        f"containers in infra/modules/cosmos.bicep that cosmos_setup does not use: {extra}"
    )
    assert bicep == expected


def test_indexing_matches_what_the_queries_need() -> None:
    bicep = _bicep_containers()
    for name in cosmos_setup.CONTAINERS:
        policy = cosmos_setup._indexing_policy(name)
        assert bicep[name]["compositeIndexes"] == policy["compositeIndexes"], name
        assert bicep[name]["excludedPaths"] == policy["excludedPaths"], name


def test_database_default_is_the_settings_default() -> None:
    from dataops.settings import Settings

    template = BicepFile.read(COSMOS)
    header = template.named("param")["databaseName"].header
    assert header == f"string = '{Settings().cosmos_database}'"
