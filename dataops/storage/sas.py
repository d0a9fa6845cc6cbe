"""Partner access to one labeling export: read-only SAS on the package, write-only on labels.

Two ways to sign, chosen by the credential the zone clients hold:

- **Account key** (Azurite, a connection string): the SAS names a *stored access policy* on the
  container (``si=``) and carries neither permissions nor expiry itself; the policy does. Deleting
  the policy (:func:`revoke_export_access`) invalidates every SAS made from it at once.
- **User delegation key** (Azure, managed identity): stored access policies cannot back a user
  delegation SAS, so permissions and expiry are in the token, signed with a delegation key that
  lives exactly as long as the SAS (at most 7 days, the service's limit). Revocation there means
  revoking the account's user delegation keys or deleting the export's containers; see
  docs/labeling.md.

Read SAS on the package container: read + list. Write SAS on the labels container: create +
write (no read, list or delete), so a partner can neither see other partners' labels nor read
back or remove what was handed in. HTTPS-only wherever the account is reached over HTTPS (every
Azure account; Azurite speaks plain HTTP).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from azure.core.exceptions import ResourceNotFoundError
from azure.core.pipeline.transport import HttpTransport
from azure.storage.blob import (
    AccessPolicy,
    BlobClient,
    BlobSasPermissions,
    BlobServiceClient,
    ContainerClient,
    ContainerSasPermissions,
    UserDelegationKey,
    generate_blob_sas,
    generate_container_sas,
)

from dataops.paths import Zone
from dataops.storage.blob_zones import BlobZones
from dataops.storage.errors import translate_azure_errors
from dataops.storage.export_zones import export_container_client

__all__ = [
    "MAX_DELEGATION_SAS",
    "READ_PERMISSIONS",
    "READ_POLICY",
    "WRITE_PERMISSIONS",
    "WRITE_POLICY",
    "blob_read_url",
    "ExportLinks",
    "export_links",
    "grant_export_access",
    "revoke_export_access",
    "user_delegation_key",
    "uses_stored_policies",
]

READ_POLICY = "avops-package-read"
WRITE_POLICY = "avops-labels-write"
READ_PERMISSIONS = "rl"
WRITE_PERMISSIONS = "cw"
# A user delegation key (and so a SAS signed with it) lives at most 7 days.
MAX_DELEGATION_SAS = timedelta(days=7)
# Clocks of client and service differ a little; a start in the past avoids "not yet valid".
_CLOCK_SKEW = timedelta(minutes=5)


@dataclass(frozen=True)
class ExportLinks:
    """The two container URLs a partner gets, each with its SAS."""

    package_url: str
    labels_url: str
    expires_at: datetime
    signed_with: str  # "stored_access_policy" or "user_delegation_key"


def _containers(zones: BlobZones, export_id: str) -> tuple[ContainerClient, ContainerClient]:
    return (
        export_container_client(zones, Zone.SHARE, export_id),
        export_container_client(zones, Zone.LABELED, export_id),
    )


def _account_key(container: ContainerClient) -> str | None:
    key = getattr(container.credential, "account_key", None)
    return str(key) if key else None


def uses_stored_policies(zones: BlobZones, export_id: str) -> bool:
    """True where SAS are bound to stored access policies (account key available)."""
    package, _ = _containers(zones, export_id)
    return _account_key(package) is not None


def _protocol(container: ContainerClient) -> str | None:
    # Azure accounts are HTTPS: refuse plain HTTP there. Azurite only speaks HTTP.
    return "https" if str(container.scheme) == "https" else None


def grant_export_access(zones: BlobZones, export_id: str, *, expires_at: datetime) -> None:
    """Create (or reset) the stored access policies of both containers; no-op with Azure AD."""
    package, labels = _containers(zones, export_id)
    if _account_key(package) is None:
        return
    for container, policy_id, permissions in (
        (package, READ_POLICY, READ_PERMISSIONS),
        (labels, WRITE_POLICY, WRITE_PERMISSIONS),
    ):
        policy = AccessPolicy(
            permission=permissions,
            start=datetime.now(UTC) - _CLOCK_SKEW,
            expiry=expires_at,
        )
        with translate_azure_errors(f"{container.container_name}: set access policy"):
            container.set_container_access_policy(signed_identifiers={policy_id: policy})


def revoke_export_access(zones: BlobZones, export_id: str) -> bool:
    """Delete both stored access policies; False where there are none to delete (Azure AD)."""
    package, labels = _containers(zones, export_id)
    if _account_key(package) is None:
        return False
    for container in (package, labels):
        with translate_azure_errors(f"{container.container_name}: delete access policy"):
            try:
                container.set_container_access_policy(signed_identifiers={})
            except ResourceNotFoundError:
                continue  # no container: nothing left to read or write
    return True


def export_links(
    zones: BlobZones, export_id: str, *, expires_at: datetime, now: datetime | None = None
) -> ExportLinks:
    """The package (read + list) and labels (create + write) container URLs with their SAS."""
    package, labels = _containers(zones, export_id)
    key = _account_key(package)
    if key is not None:
        read = _sign(package, key, policy_id=READ_POLICY)
        write = _sign(labels, key, policy_id=WRITE_POLICY)
        signed_with = "stored_access_policy"
    else:
        read, write = _delegation_signed(package, labels, expires_at, now or datetime.now(UTC))
        signed_with = "user_delegation_key"
    return ExportLinks(
        package_url=f"{package.url}?{read}",
        labels_url=f"{labels.url}?{write}",
        expires_at=expires_at,
        signed_with=signed_with,
    )


def _sign(container: ContainerClient, key: str, *, policy_id: str) -> str:
    return generate_container_sas(
        account_name=str(container.account_name),
        container_name=str(container.container_name),
        account_key=key,
        policy_id=policy_id,
        protocol=_protocol(container),
    )


def _delegation_signed(
    package: ContainerClient, labels: ContainerClient, expires_at: datetime, now: datetime
) -> tuple[str, str]:
    start = now - _CLOCK_SKEW
    expiry = min(expires_at, now + MAX_DELEGATION_SAS)
    tokens: list[str] = []
    for container, permissions in (
        (package, ContainerSasPermissions(read=True, list=True)),
        (labels, ContainerSasPermissions(create=True, write=True)),
    ):
        key = user_delegation_key(container, start, expiry)
        tokens.append(
            generate_container_sas(
                account_name=str(container.account_name),
                container_name=str(container.container_name),
                user_delegation_key=key,
                permission=permissions,
                start=start,
                expiry=expiry,
                protocol=_protocol(container),
            )
        )
    return tokens[0], tokens[1]


def blob_read_url(
    zones: BlobZones, zone: Zone, path: str, *, expires_at: datetime, now: datetime | None = None
) -> str:
    """A read-only SAS URL of one blob, valid until ``expires_at`` (7 days at most in Azure).

    Signed with the account key where the clients hold one (Azurite), else with a user
    delegation key that lives as long as the SAS.
    """
    blob = zones._blob(zone, path)  # same package: the checked path's client
    start = (now or datetime.now(UTC)) - _CLOCK_SKEW
    permission = BlobSasPermissions(read=True)
    key = getattr(blob.credential, "account_key", None)
    signing: dict[str, Any]
    if key:
        expiry = expires_at
        signing = {"account_key": str(key)}
    else:
        expiry = min(expires_at, start + _CLOCK_SKEW + MAX_DELEGATION_SAS)
        signing = {"user_delegation_key": user_delegation_key(blob, start, expiry)}
    token = generate_blob_sas(
        account_name=str(blob.account_name),
        container_name=str(blob.container_name),
        blob_name=str(blob.blob_name),
        permission=permission,
        start=start,
        expiry=expiry,
        protocol=_protocol_of(str(blob.scheme)),
        **signing,
    )
    return f"{blob.url}?{token}"


def user_delegation_key(
    client: BlobClient | ContainerClient,
    start: datetime,
    expiry: datetime,
    *,
    transport: HttpTransport[Any, Any] | None = None,
) -> UserDelegationKey:
    """A user delegation key of the client's account (its own credential) for [start, expiry].

    ``transport``: only for tests that record the requests made to (a stand-in for) Azure.
    """
    account_url = f"{client.scheme}://{client.primary_hostname}"
    options: dict[str, Any] = {} if transport is None else {"transport": transport}
    service = BlobServiceClient(account_url, credential=client.credential, **options)
    with translate_azure_errors(f"{account_url}: user delegation key"):
        return service.get_user_delegation_key(start, expiry)


def _protocol_of(scheme: str) -> str | None:
    return "https" if scheme == "https" else None
