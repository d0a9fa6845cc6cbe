"""Per-export containers of the labeling exchange: ``<share>-<export>``, ``<labeled>-<export>``.

A SAS on a flat-namespace account can be scoped to a blob or a container, not to a prefix
(directory SAS needs hierarchical namespace, which Azurite does not have). So each export gets a
container of its own in the ``share`` zone (the package, read by the partner) and one in the
``labeled`` zone (the partner's labels, write-only for the partner): a container SAS then cannot
list, read or write another export's data, and revoking an export touches only its containers.

:func:`export_zones` wraps a deployment's :class:`BlobZones` so that ``Zone.SHARE`` and
``Zone.LABELED`` resolve to the export's containers; every other zone and every method of
``BlobZones`` work unchanged.
"""

from __future__ import annotations

import re

from azure.storage.blob import ContainerClient

from dataops.errors import InvalidInputError
from dataops.paths import Zone
from dataops.storage.blob_zones import BlobZones
from dataops.storage.errors import translate_azure_errors
from dataops.storage.zones import ZoneClients

__all__ = [
    "EXPORT_ID_PATTERN",
    "EXPORT_ZONES",
    "check_export_id",
    "export_container",
    "export_container_client",
    "export_zones",
    "list_export_ids",
]

# uuid4().hex: 32 lowercase hex digits, so "<zone container>-<export id>" is a valid container name.
EXPORT_ID_PATTERN = re.compile(r"^[0-9a-f]{32}$")
EXPORT_ZONES = (Zone.SHARE, Zone.LABELED)


def check_export_id(export_id: str, *, field: str = "export_id") -> str:
    """``export_id`` unchanged if it is 32 lowercase hex digits, else InvalidInputError."""
    if not isinstance(export_id, str) or not EXPORT_ID_PATTERN.match(export_id):
        raise InvalidInputError("an export id is 32 lowercase hex digits", field=field)
    return export_id


def export_container(base_container: str, export_id: str) -> str:
    """The container name of an export in a zone whose container is ``base_container``."""
    name = f"{base_container}-{check_export_id(export_id)}"
    if len(name) > 63:
        raise InvalidInputError(
            f"container {name!r} is longer than 63 characters: shorten the zone container prefix"
        )
    return name


class _ExportClients:
    """``ZoneClients`` that send the share and labeled zones to one export's containers."""

    def __init__(self, base: ZoneClients, export_id: str) -> None:
        self._base = base
        self._export_id = check_export_id(export_id)
        self.chunk_size = base.chunk_size

    def container(self, zone: Zone) -> ContainerClient:
        base = self._base.container(zone)
        if zone not in EXPORT_ZONES:
            return base
        # Same account and credential as the zone's own container; only the name differs.
        return base._get_blob_service_client().get_container_client(
            export_container(str(base.container_name), self._export_id)
        )

    def copy_source_url(self, source_zone: Zone, path: str, destination_zone: Zone) -> str:
        if source_zone not in EXPORT_ZONES:
            return self._base.copy_source_url(source_zone, path, destination_zone)
        # A plain URL: enough on one account (Azurite). Across Azure accounts a server-side copy
        # out of an export container is not authorized; callers stream small files instead.
        return str(self.container(source_zone).get_blob_client(path).url)

    def server_side_copy(self, source_zone: Zone, destination_zone: Zone) -> bool:
        # An export container's plain URL authorizes nothing across accounts: stream those.
        if source_zone in EXPORT_ZONES:
            return False
        return self._base.server_side_copy(source_zone, destination_zone)

    def close(self) -> None:
        """The base clients belong to the caller's BlobZones; nothing to close here."""


def export_zones(zones: BlobZones, export_id: str) -> BlobZones:
    """A view of ``zones`` whose share and labeled zones are the export's own containers."""
    return BlobZones(_ExportClients(zones._clients, export_id))


def export_container_client(zones: BlobZones, zone: Zone, export_id: str) -> ContainerClient:
    """The container client of the export's own container in ``zone`` (share or labeled)."""
    if zone not in EXPORT_ZONES:
        raise InvalidInputError(f"zone {zone.value!r} has no per-export containers", field="zone")
    return _ExportClients(zones._clients, export_id).container(zone)


def list_export_ids(zones: BlobZones, zone: Zone) -> list[str]:
    """Ids of every export that has a container in ``zone`` (share or labeled)."""
    if zone not in EXPORT_ZONES:
        raise InvalidInputError(f"zone {zone.value!r} has no per-export containers", field="zone")
    base = zones.container_client(zone)
    prefix = f"{base.container_name}-"
    service = base._get_blob_service_client()
    found = []
    with translate_azure_errors(f"{zone.value}: list export containers"):
        for item in service.list_containers(name_starts_with=prefix):
            candidate = str(item.name)[len(prefix) :]
            if EXPORT_ID_PATTERN.match(candidate):
                found.append(candidate)
    return sorted(found)
