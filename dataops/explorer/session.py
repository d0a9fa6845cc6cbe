"""Browser sessions: a signed cookie that carries a role and an expiry, nothing else.

Opening the explorer with a key (``?code=KEY``) once trades the key for this cookie; pages and
their data calls then authenticate by it, so the key does not stay in the address bar, the
history or the Referer of later requests. The signature is an HMAC-SHA256 over role and expiry
with a secret derived from all configured API keys: rotating or removing a key ends every
session made while it was valid, and there is no extra secret to provision. Forging a cookie
needs every key, so a read-key holder cannot make a write session while a write key exists;
without any write key a write session is refused outright.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Mapping, Sequence
from http.cookies import CookieError, SimpleCookie

from dataops.api.auth import Role

__all__ = [
    "SESSION_COOKIE",
    "SESSION_SECONDS",
    "read_session",
    "session_cookie",
    "session_secret",
    "sign_session",
]

SESSION_COOKIE = "avops_session"
SESSION_SECONDS = 8 * 3600
_DOMAIN = b"avops-explorer-session-v1"


def session_secret(read_keys: Sequence[str], write_keys: Sequence[str]) -> bytes | None:
    """The signing secret from the keys; None when no key is configured (no sessions)."""
    keys = sorted({*read_keys, *write_keys})
    if not keys:
        return None
    digest = hashlib.sha256(_DOMAIN)
    for key in keys:
        digest.update(b"\0" + key.encode())
    return digest.digest()


def _mac(secret: bytes, payload: str) -> str:
    raw = hmac.new(secret, payload.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def sign_session(secret: bytes, role: Role, *, now: float | None = None) -> str:
    """The cookie value for ``role``, valid for :data:`SESSION_SECONDS` from ``now``."""
    expires = int((time.time() if now is None else now) + SESSION_SECONDS)
    payload = f"{role.name.lower()}.{expires}"
    return f"{payload}.{_mac(secret, payload)}"


def session_cookie(value: str, *, secure: bool) -> str:
    """The ``Set-Cookie`` header value: HttpOnly, SameSite=Strict, for the app's routes."""
    parts = [
        f"{SESSION_COOKIE}={value}",
        "Path=/api/",
        f"Max-Age={SESSION_SECONDS}",
        "HttpOnly",
        "SameSite=Strict",
    ]
    if secure:
        parts.append("Secure")
    return "; ".join(parts)


def _cookie_value(headers: Mapping[str, str]) -> str | None:
    header = headers.get("cookie")
    if not header:
        return None
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(header)
    except CookieError:
        return None
    morsel = jar.get(SESSION_COOKIE)
    return morsel.value if morsel is not None else None


def read_session(
    headers: Mapping[str, str],
    read_keys: Sequence[str],
    write_keys: Sequence[str],
    *,
    now: float | None = None,
) -> Role | None:
    """The role of a valid, unexpired session cookie in ``headers``; None otherwise."""
    value = _cookie_value(headers)
    secret = session_secret(read_keys, write_keys)
    if value is None or secret is None:
        return None
    payload, _, mac = value.rpartition(".")
    role_name, _, expires = payload.partition(".")
    if not hmac.compare_digest(mac.encode(), _mac(secret, payload).encode()):
        return None
    if not expires.isdigit() or int(expires) < (time.time() if now is None else now):
        return None
    if role_name == "write" and write_keys:
        return Role.WRITE
    return Role.READ if role_name == "read" else None
