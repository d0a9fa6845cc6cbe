"""One storage account per zone of dataops.paths.Zone, each with its zone's container, and the
zones' special roles (landing events, NFS mounts, dead letters) where the code expects them."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from dataops.paths import Zone
from tests.infra.bicep_source import BicepFile

ROOT = Path(__file__).resolve().parents[2]
MAIN = ROOT / "infra" / "main.bicep"


def _zones() -> list[dict[str, Any]]:
    zones = BicepFile.read(MAIN).var("zones")
    assert isinstance(zones, list)
    return zones


def test_zones_in_bicep_are_the_zone_enum() -> None:
    bicep = [z["name"] for z in _zones()]
    code = [z.value for z in Zone]
    assert sorted(set(code) - set(bicep)) == [], "zones missing in infra/main.bicep var zones"
    assert sorted(set(bicep) - set(code)) == [], "zones in infra/main.bicep that Zone lacks"
    assert len(bicep) == len(set(bicep)), "a zone appears twice in infra/main.bicep"


def test_each_zone_gets_its_account_and_container() -> None:
    main = BicepFile.read(MAIN)
    params = main.block_property(main.named("module")["zoneAccounts"], "params")
    assert params["accountName"] == "st${z.name}${resourceToken}"
    assert params["zone"].text == "z.name"
    zone_module = BicepFile.read(ROOT / "infra" / "modules" / "storage-zone.bicep").code
    # The container is named after the zone, as dataops.storage.zones.container_name expects.
    assert "for name in concat([zone], extraContainers)" in zone_module
    assert "isHnsEnabled: true" in zone_module
    # The app setting maps each zone to the URL of exactly that account.
    urls = re.search(r"var storageAccountUrls = toObject\((.*?)\n\)", main.code, re.DOTALL)
    assert urls and "'https://st${z.name}${resourceToken}.blob." in urls[1]


def test_nfs_zones_are_the_ones_batch_mounts() -> None:
    nfs = {z["name"] for z in _zones() if z["nfs"]}
    assert nfs == {Zone.RAW.value, Zone.EXTRACTED.value}
    batch = BicepFile.read(ROOT / "infra" / "modules" / "batch.bicep").code
    for zone in nfs:
        assert f"relativeMountPath: '{zone}'" in batch


def test_retention_applies_to_archive_and_error_only() -> None:
    aged = {z["name"] for z in _zones() if z["retentionDays"] != 0}
    assert aged == {Zone.ARCHIVE.value, Zone.ERROR.value}
    abandoned = {z["name"] for z in _zones() if z["abandonedAfterDays"] != 0}
    assert abandoned == {Zone.LANDING.value}


def test_only_exchange_zones_face_the_internet() -> None:
    public = {z["name"] for z in _zones() if z["public"]}
    assert public == {Zone.LANDING.value, Zone.SHARE.value, Zone.LABELED.value}
