"""Who is calling: roles from API keys (devhost, machine callers) or from Entra ID app roles.

The Functions host has already checked the function key before a handler runs; this adds the
read / write split on top. In Azure, App Service authentication puts the signed-in principal in
``X-MS-CLIENT-PRINCIPAL`` (and strips a client-sent copy); that header is only trusted when
``AVOPS_API_TRUST_CLIENT_PRINCIPAL`` says authentication is on in front of the app, because
without it anyone could send the header.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum

from dataops.api.problems import ApiError
from dataops.settings import Settings

__all__ = [
    "PRINCIPAL_HEADER",
    "ERASE_APP_ROLE",
    "READ_APP_ROLE",
    "WRITE_APP_ROLE",
    "Caller",
    "Role",
    "has_role",
    "require_role",
    "resolve_caller",
]

PRINCIPAL_HEADER = "x-ms-client-principal"
KEY_HEADER = "x-functions-key"
KEY_PARAM = "code"
READ_APP_ROLE = "DataOps.Read"
WRITE_APP_ROLE = "DataOps.Write"
ERASE_APP_ROLE = "DataOps.Erase"
# Claim types App Service uses for app roles, depending on the identity provider's settings.
_ROLE_CLAIM_TYPES = frozenset(
    {"roles", "role", "http://schemas.microsoft.com/ws/2008/06/identity/claims/role"}
)
_MAX_PRINCIPAL_BYTES = 64 * 1024


class Role(IntEnum):
    """Roles: READ < WRITE are ordered (a writer reads); ERASE stands apart.

    ERASE is never implied by WRITE (a pipeline's key must not be able to destroy a fleet's
    data), and an erase caller may only read besides erasing (it follows its erasure's run).
    """

    NONE = 0
    READ = 1
    WRITE = 2
    ERASE = 3


@dataclass(frozen=True)
class Caller:
    """An authenticated caller and the role it has."""

    role: Role
    via: str
    """``key``, ``principal`` or ``session``: how the caller was recognised (for logs)."""


def _matches(presented: str, keys: Sequence[str]) -> bool:
    # Compare with every key, not stopping at the first hit, so timing tells nothing.
    found = False
    for key in keys:
        found |= hmac.compare_digest(presented.encode(), key.encode())
    return found


def _role_from_principal(encoded: str) -> Role:
    if len(encoded) > _MAX_PRINCIPAL_BYTES:
        raise ApiError(401, "client principal header too large")
    try:
        body = json.loads(base64.b64decode(encoded, validate=True))
    except (binascii.Error, ValueError) as err:
        raise ApiError(401, "malformed client principal header") from err
    claims = body.get("claims") if isinstance(body, dict) else None
    if not isinstance(claims, list):
        raise ApiError(401, "client principal header has no claims")
    role_type = body.get("role_typ")
    accepted = _ROLE_CLAIM_TYPES | ({role_type} if isinstance(role_type, str) else set())
    roles = {
        claim.get("val")
        for claim in claims
        if isinstance(claim, dict) and claim.get("typ") in accepted
    }
    if ERASE_APP_ROLE in roles:
        return Role.ERASE
    if WRITE_APP_ROLE in roles:
        return Role.WRITE
    if READ_APP_ROLE in roles:
        return Role.READ
    return Role.NONE


def resolve_caller(
    headers: Mapping[str, str],
    params: Mapping[str, str],
    settings: Settings,
    *,
    session: bool = False,
) -> Caller:
    """The caller's role; ApiError 401 when it presents no credential we know.

    ``headers`` must have lower-case names. A trusted principal wins over a key: behind App
    Service authentication the principal is the person, the key only the app's gate. With
    ``session`` (the explorer's browser routes) a signed session cookie counts when neither
    is sent.
    """
    principal = headers.get(PRINCIPAL_HEADER)
    if settings.api_trust_client_principal and principal:
        return Caller(role=_role_from_principal(principal), via="principal")
    presented = headers.get(KEY_HEADER) or params.get(KEY_PARAM)
    if not presented and session:
        from dataops.explorer.session import read_session  # browser routes only

        role = read_session(headers, settings.api_read_keys, settings.api_write_keys)
        if role is not None:
            return Caller(role=role, via="session")
    if not presented:
        raise ApiError(401, "no API key (x-functions-key header or code parameter)")
    if _matches(presented, settings.api_erase_keys):
        return Caller(role=Role.ERASE, via="key")
    if _matches(presented, settings.api_write_keys):
        return Caller(role=Role.WRITE, via="key")
    if _matches(presented, settings.api_read_keys):
        return Caller(role=Role.READ, via="key")
    raise ApiError(401, "unknown API key")


def has_role(caller: Caller, needed: Role) -> bool:
    """``caller`` may do what ``needed`` allows: ERASE only by itself, READ by every role."""
    if needed is Role.ERASE or caller.role is Role.ERASE:
        return caller.role is needed or (caller.role is Role.ERASE and needed <= Role.READ)
    return caller.role >= needed


def require_role(caller: Caller, needed: Role) -> None:
    """ApiError 403 unless ``caller`` has the role ``needed`` (see :func:`has_role`)."""
    if not has_role(caller, needed):
        raise ApiError(403, f"this operation needs the {needed.name.lower()} role")
