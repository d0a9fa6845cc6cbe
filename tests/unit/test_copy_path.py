"""Which copies may be server-side in Azure: only those whose source the destination's copy
engine can reach (same account, or an internet-facing zone). Everything else streams."""

from __future__ import annotations

from typing import Any

import pytest

from dataops.paths import Zone
from dataops.storage import BlobZones
from dataops.storage.export_zones import export_zones
from dataops.storage.zones import INTERNET_FACING_ZONES, AccountUrlZones


class _NoTokens:
    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        raise AssertionError("no request is made in this test")


@pytest.fixture
def azure_zones() -> AccountUrlZones:
    urls = {zone: f"https://st{zone.value}abc.blob.core.windows.net" for zone in Zone}
    return AccountUrlZones(urls, _NoTokens())  # type: ignore[arg-type]


@pytest.mark.parametrize("source", list(Zone), ids=lambda z: z.value)
def test_only_internet_facing_sources_are_copied_server_side(
    azure_zones: AccountUrlZones, source: Zone
) -> None:
    for destination in Zone:
        if destination is source:
            continue
        allowed = azure_zones.server_side_copy(source, destination)
        assert allowed is (source in INTERNET_FACING_ZONES), (source, destination)


def test_the_rehydrate_and_label_export_sources_stream(azure_zones: AccountUrlZones) -> None:
    """archive -> landing (rehydrate) and extracted -> share (label export) read from accounts
    that deny public access; raw -> error moves too."""
    assert not azure_zones.server_side_copy(Zone.ARCHIVE, Zone.LANDING)
    assert not azure_zones.server_side_copy(Zone.EXTRACTED, Zone.SHARE)
    assert not azure_zones.server_side_copy(Zone.RAW, Zone.ERROR)
    assert azure_zones.server_side_copy(Zone.LANDING, Zone.RAW)


def test_one_account_for_two_zones_copies_within_itself() -> None:
    shared = "https://stshared.blob.core.windows.net"
    zones = AccountUrlZones({Zone.ARCHIVE: shared, Zone.LANDING: shared}, _NoTokens())  # type: ignore[arg-type]
    assert zones.server_side_copy(Zone.ARCHIVE, Zone.LANDING)


def test_an_export_container_source_always_streams(azure_zones: AccountUrlZones) -> None:
    view = export_zones(BlobZones(azure_zones), "0123456789abcdef0123456789abcdef")
    assert not view._clients.server_side_copy(Zone.SHARE, Zone.CURATED)
    assert not view._clients.server_side_copy(Zone.EXTRACTED, Zone.SHARE)
    assert view._clients.server_side_copy(Zone.LANDING, Zone.RAW)
