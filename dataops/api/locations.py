"""Where a datastream's bytes are: zone, container, path, URL, and an optional read-only SAS.

The SAS is signed with the account key where there is one (Azurite, a connection string) and
with a user delegation key where the app has only its managed identity (Azure). It is read-only
(``r``, plus ``l`` for a prefix) and short-lived.

* One blob: a blob SAS (``sr=b``) for exactly that blob.
* A prefix (a whole datastream) on an account with hierarchical namespace (every zone account
  the Bicep deploys): a directory SAS (``sr=d``, ``sdd`` = the directory's depth) that reads
  and lists that directory and below, nothing else in the container.
* A prefix on an account without hierarchical namespace (Azurite, which has none): the blob
  service has no SAS for a prefix, so the grant is a container SAS and says so
  (``scope: container``); the URL lists only the prefix, the token would list the container.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from azure.storage.blob import (
    BlobSasPermissions,
    ContainerClient,
    ContainerSasPermissions,
    UserDelegationKey,
    generate_blob_sas,
    generate_container_sas,
)

from dataops.api.models import Location, SasGrant, SasScope
from dataops.errors import InvalidInputError
from dataops.models import Datastream
from dataops.paths import check_relative_path, join_path
from dataops.storage import ZoneClients, translate_azure_errors
from dataops.storage.sas import user_delegation_key

if TYPE_CHECKING:
    from azure.core.pipeline.transport import HttpTransport

__all__ = ["MAX_SAS_MINUTES", "Locator"]

MAX_SAS_MINUTES = 60
# Clocks of client and service differ a little; a start in the past avoids "not yet valid".
_CLOCK_SKEW = timedelta(minutes=5)
_DELEGATION_KEY_LIFETIME = timedelta(hours=2)


class Locator:
    """Builds :class:`Location` answers from the zone clients of this deployment."""

    def __init__(
        self,
        clients: ZoneClients,
        *,
        sas_minutes: int,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        transport: HttpTransport[Any, Any] | None = None,
    ) -> None:
        if not 1 <= sas_minutes <= MAX_SAS_MINUTES:
            raise InvalidInputError(
                f"must be between 1 and {MAX_SAS_MINUTES}", field="api_sas_minutes"
            )
        self._clients = clients
        self._lifetime = timedelta(minutes=sas_minutes)
        self._clock = clock
        self._keys: dict[str, UserDelegationKey] = {}
        self._keys_lock = threading.Lock()
        self._hns: dict[str, bool] = {}
        # Only for tests that record the requests made to (a stand-in for) Azure.
        self._transport = transport

    def locate(self, datastream: Datastream, path: str | None, *, with_sas: bool) -> Location:
        """The location of ``datastream`` (``path`` None) or of one blob below its prefix.

        ``path`` is checked like every path from input, so it can only name something inside
        this datastream's own prefix.
        """
        container = self._clients.container(datastream.zone)
        prefix = check_relative_path(datastream.path.strip("/"), field="path")
        if path is None:
            blob_path = prefix + "/"
            url = f"{container.url}/{quote(blob_path)}"
        else:
            relative = check_relative_path(path, field="path")
            blob_path = check_relative_path(join_path(prefix, relative), field="path")
            url = str(container.get_blob_client(blob_path).url)
        sas = None
        if with_sas:
            if path is None:
                # A prefix is read by listing it: hand out the listing URL with the SAS.
                listing = f"{container.url}?restype=container&comp=list&prefix={quote(blob_path)}"
                sas = self._sign(container, None, listing, url_prefix=blob_path)
            else:
                sas = self._sign(container, blob_path, url)
        return Location(
            datastream_id=datastream.id,
            zone=datastream.zone,
            container=str(container.container_name),
            path=blob_path,
            is_prefix=path is None,
            url=url,
            sas=sas,
        )

    def _has_hierarchical_namespace(self, container: ContainerClient) -> bool:
        """Whether the account has HNS (asked once per account; Azurite answers no)."""
        account_url = f"{container.scheme}://{container.primary_hostname}"
        if account_url not in self._hns:
            with translate_azure_errors(f"{account_url}: account information"):
                info = container.get_account_information()
            self._hns[account_url] = bool(info.get("is_hns_enabled"))
        return self._hns[account_url]

    def _sign(
        self,
        container: ContainerClient,
        blob_path: str | None,
        url: str,
        *,
        url_prefix: str = "",
    ) -> SasGrant:
        now = self._clock()
        start, expiry = now - _CLOCK_SKEW, now + self._lifetime
        account = str(container.account_name)
        name = str(container.container_name)
        credential = container.credential
        account_key = getattr(credential, "account_key", None)
        delegation = None if account_key else self._delegation_key(container, now)
        # What every kind of SAS is signed with: the account key, else a user delegation key.
        signed_by: dict[str, Any] = {
            "account_name": account,
            "container_name": name,
            "account_key": account_key,
            "user_delegation_key": delegation,
            "start": start,
            "expiry": expiry,
        }
        if blob_path is not None:
            token = generate_blob_sas(
                blob_name=blob_path, permission=BlobSasPermissions(read=True), **signed_by
            )
            scope, permissions = SasScope.BLOB, "r"
        elif self._has_hierarchical_namespace(container):
            # The directory itself, without the trailing '/', and its depth: sdd=6 for
            # YYYY/MM/DD/vehicle/measurement/datastream.
            token = generate_blob_sas(
                blob_name=url_prefix.rstrip("/"),
                permission=BlobSasPermissions(read=True, list=True),
                is_directory=True,
                **signed_by,
            )
            scope, permissions = SasScope.DIRECTORY, "rl"
        else:
            token = generate_container_sas(
                permission=ContainerSasPermissions(read=True, list=True), **signed_by
            )
            scope, permissions = SasScope.CONTAINER, "rl"
        return SasGrant(
            scope=scope,
            permissions=permissions,
            expires_at=expiry,
            token=token,
            url=f"{url}{'&' if '?' in url else '?'}{token}",
        )

    def _delegation_key(self, container: ContainerClient, now: datetime) -> UserDelegationKey:
        account_url = f"{container.scheme}://{container.primary_hostname}"
        with self._keys_lock:
            key = self._keys.get(account_url)
            if key is None or _expiry(key) - now < self._lifetime + _CLOCK_SKEW:
                # Kept for _DELEGATION_KEY_LIFETIME: one key signs many short-lived SAS.
                key = user_delegation_key(
                    container,
                    now - _CLOCK_SKEW,
                    now + _DELEGATION_KEY_LIFETIME,
                    transport=self._transport,
                )
                self._keys[account_url] = key
            return key


def _expiry(key: UserDelegationKey) -> datetime:
    return datetime.fromisoformat(str(key.signed_expiry).replace("Z", "+00:00"))
