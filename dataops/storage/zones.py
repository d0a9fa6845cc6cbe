"""Which container serves which zone: Azurite (one account, a container per zone) or Azure
(one storage account per zone, a container named after the zone in each).

The rest of ``dataops.storage`` only sees :class:`ZoneClients`, so the two differ in exactly
two things: how clients are built and how a copy source is authorized.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from azure.storage.blob import (
    BlobSasPermissions,
    BlobServiceClient,
    ContainerClient,
    UserDelegationKey,
    generate_blob_sas,
)

from dataops.paths import Zone
from dataops.storage.errors import StorageConfigError, translate_azure_errors

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

    from dataops.settings import Settings

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "INTERNET_FACING_ZONES",
    "MAX_DOWNLOAD_RANGE",
    "AccountUrlZones",
    "ConnectionStringZones",
    "ZoneClients",
    "container_name",
    "zone_clients_from_settings",
]

DEFAULT_CHUNK_SIZE = 8 * 1024 * 1024
MAX_DOWNLOAD_RANGE = 8 * 1024 * 1024
# Container names: 3-63 characters, lowercase letters, digits and single hyphens.
_CONTAINER_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,62}$")
# A user delegation key is requested for an hour and replaced well before it runs out, so a
# SAS handed to a long server-side copy never expires mid-copy.
_DELEGATION_KEY_LIFETIME = timedelta(hours=1)
_DELEGATION_KEY_MARGIN = timedelta(minutes=15)
_COPY_SAS_LIFETIME = timedelta(minutes=40)
# Zones whose accounts keep a public endpoint in every network mode (infra/main.bicep:
# `public: true`): vehicles upload to landing, partners use share and labeled. Every other
# zone's account may deny public access, so a server-side copy cannot read from it.
INTERNET_FACING_ZONES = frozenset({Zone.LANDING, Zone.SHARE, Zone.LABELED})


def container_name(zone: Zone, prefix: str = "") -> str:
    """The container that holds ``zone``: the zone name, optionally prefixed (test isolation)."""
    name = f"{prefix}{zone.value}"
    if not _CONTAINER_NAME.match(name):
        raise StorageConfigError(f"invalid container name {name!r} (prefix {prefix!r})")
    return name


def _client_options(chunk_size: int) -> dict[str, Any]:
    # Uploads send one block of chunk_size at a time; downloads one range of at most 8 MiB.
    # Range size dominates hashing speed (per-request cost): measured on Azurite, 2 MiB ranges
    # hashed at 92 MB/s, 8 MiB at 190 MB/s. azure-storage-blob 12.31 assembles each range with
    # b"".join(list(stream)), and list() pre-sizes itself from the byte count (8 pointer bytes
    # per byte of range): tracemalloc counts that reservation, but the pages are never touched,
    # so peak RSS stays flat (bench/bench_validate.py measures VmHWM for 100 MB and 1 GB).
    download_range = min(chunk_size, MAX_DOWNLOAD_RANGE)
    return {
        "max_single_get_size": download_range,
        "max_chunk_get_size": download_range,
        "max_single_put_size": chunk_size,
        "max_block_size": chunk_size,
        # The SDK's own retries of a 5xx or a dropped connection wait 1, 3 and 5 s (its
        # default starts at 15 s): an activity should not hold its worker for a minute, since
        # the orchestration retries a retryable failure again on a durable timer.
        "retry_total": 3,
        "initial_backoff": 1,
        "increment_base": 2,
    }


class ZoneClients(Protocol):
    """Clients for the zones; implemented for Azurite (connection string) and Azure (URLs)."""

    chunk_size: int
    """Bytes per upload block; download ranges are at most MAX_DOWNLOAD_RANGE of it."""

    def container(self, zone: Zone) -> ContainerClient:
        """The container client of ``zone``."""
        ...

    def copy_source_url(self, source_zone: Zone, path: str, destination_zone: Zone) -> str:
        """A URL of the source blob that the destination's account is allowed to read."""
        ...

    def server_side_copy(self, source_zone: Zone, destination_zone: Zone) -> bool:
        """True if the destination's storage service can fetch the source itself; False: the
        bytes must stream through the app (the source's account denies public access)."""
        ...

    def close(self) -> None:
        """Close the underlying HTTP sessions."""
        ...


class ConnectionStringZones:
    """All zones in one account reached by a connection string (Azurite, or a test account)."""

    def __init__(
        self,
        connection_string: str,
        *,
        container_prefix: str = "",
        chunk_size: int = DEFAULT_CHUNK_SIZE,
    ) -> None:
        self.chunk_size = chunk_size
        # Validate every name now: a bad prefix should fail at start-up, not at the first copy.
        self._names = {zone: container_name(zone, container_prefix) for zone in Zone}
        self._service = BlobServiceClient.from_connection_string(
            connection_string, **_client_options(chunk_size)
        )

    def container(self, zone: Zone) -> ContainerClient:
        """The container client of ``zone``."""
        return self._service.get_container_client(self._names[zone])

    def copy_source_url(self, source_zone: Zone, path: str, destination_zone: Zone) -> str:
        """Same account: the copy request's own shared key authorizes reading the source."""
        del destination_zone  # every zone lives in the same account
        return str(self.container(source_zone).get_blob_client(path).url)

    def server_side_copy(self, source_zone: Zone, destination_zone: Zone) -> bool:
        """Always: one account copies within itself."""
        del source_zone, destination_zone
        return True

    def close(self) -> None:
        """Close the HTTP session."""
        self._service.close()


class AccountUrlZones:
    """One storage account per zone, authorized by an Azure AD credential (managed identity)."""

    def __init__(
        self,
        account_urls: Mapping[Zone, str],
        credential: TokenCredential,
        *,
        container_prefix: str = "",
        chunk_size: int = DEFAULT_CHUNK_SIZE,
    ) -> None:
        self.chunk_size = chunk_size
        self._names = {zone: container_name(zone, container_prefix) for zone in Zone}
        self._urls = dict(account_urls)
        self._services = {
            zone: BlobServiceClient(url, credential=credential, **_client_options(chunk_size))
            for zone, url in self._urls.items()
        }
        self._keys: dict[Zone, UserDelegationKey] = {}
        self._keys_lock = threading.Lock()

    def _service(self, zone: Zone) -> BlobServiceClient:
        try:
            return self._services[zone]
        except KeyError:
            raise StorageConfigError(
                f"no storage account URL for zone {zone.value!r} in storage_account_urls"
            ) from None

    def container(self, zone: Zone) -> ContainerClient:
        """The container client of ``zone`` in that zone's account."""
        return self._service(zone).get_container_client(self._names[zone])

    def copy_source_url(self, source_zone: Zone, path: str, destination_zone: Zone) -> str:
        """Same account: plain URL. Other account: URL with a short read-only user delegation SAS.

        Async Copy Blob cannot forward an Azure AD token to another account's source, so the
        destination account reads it through a SAS signed by the source account's delegation key.
        """
        blob = self.container(source_zone).get_blob_client(path)
        if self._urls.get(source_zone) == self._urls.get(destination_zone):
            return str(blob.url)
        now = datetime.now(UTC)
        sas = generate_blob_sas(
            account_name=str(blob.account_name),
            container_name=blob.container_name,
            blob_name=blob.blob_name,
            user_delegation_key=self._delegation_key(source_zone, now),
            permission=BlobSasPermissions(read=True),
            start=now - timedelta(minutes=5),
            expiry=now + _COPY_SAS_LIFETIME,
        )
        return f"{blob.url}?{sas}"

    def server_side_copy(self, source_zone: Zone, destination_zone: Zone) -> bool:
        """Within one account, or from an internet-facing zone (its public endpoint is what
        the destination's copy engine reaches); never from an account that may be private."""
        same = self._urls.get(source_zone) == self._urls.get(destination_zone)
        return same or source_zone in INTERNET_FACING_ZONES

    def _delegation_key(self, zone: Zone, now: datetime) -> UserDelegationKey:
        with self._keys_lock:
            key = self._keys.get(zone)
            if key is None or _key_expiry(key) - now < _DELEGATION_KEY_MARGIN:
                with translate_azure_errors(f"{zone.value}: user delegation key"):
                    key = self._service(zone).get_user_delegation_key(
                        now - timedelta(minutes=5), now + _DELEGATION_KEY_LIFETIME
                    )
                self._keys[zone] = key
            return key

    def close(self) -> None:
        """Close every account's HTTP session."""
        for service in self._services.values():
            service.close()


def _key_expiry(key: UserDelegationKey) -> datetime:
    expiry = str(key.signed_expiry)
    return datetime.fromisoformat(expiry.replace("Z", "+00:00"))


def zone_clients_from_settings(
    settings: Settings, *, container_prefix: str = "", chunk_size: int = DEFAULT_CHUNK_SIZE
) -> ZoneClients:
    """Account URLs (Azure, DefaultAzureCredential) win over a connection string (Azurite)."""
    if settings.storage_account_urls:
        urls: dict[Zone, str] = {}
        for key, url in settings.storage_account_urls.items():
            try:
                urls[Zone(key)] = url
            except ValueError:
                raise StorageConfigError(
                    f"storage_account_urls: unknown zone {key!r}; zones are "
                    + ", ".join(zone.value for zone in Zone)
                ) from None
        # Imported here: azure-identity pulls in msal and is only needed in Azure.
        from azure.identity import DefaultAzureCredential

        return AccountUrlZones(
            urls,
            DefaultAzureCredential(),
            container_prefix=container_prefix,
            chunk_size=chunk_size,
        )
    if settings.storage_connection_string:
        return ConnectionStringZones(
            settings.storage_connection_string,
            container_prefix=container_prefix,
            chunk_size=chunk_size,
        )
    raise StorageConfigError(
        "no blob storage configured: set AVOPS_STORAGE_CONNECTION_STRING (Azurite) "
        "or AVOPS_STORAGE_ACCOUNT_URLS (Azure)"
    )
