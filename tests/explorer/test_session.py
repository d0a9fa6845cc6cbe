"""The explorer's session cookie: signed role and expiry, nothing a caller can bend."""

from __future__ import annotations

from dataops.api.auth import Role
from dataops.explorer.session import (
    SESSION_SECONDS,
    read_session,
    session_cookie,
    session_secret,
    sign_session,
)

READ, WRITE = ["read-key"], ["write-key"]
NOW = 1_800_000_000.0


def _cookie(value: str) -> dict[str, str]:
    return {"cookie": f"theme=dark; avops_session={value}"}


def test_a_signed_session_reads_back_its_role_until_it_expires() -> None:
    """The role comes back while the cookie is fresh, and not one second after expiry."""
    secret = session_secret(READ, WRITE)
    assert secret is not None
    value = sign_session(secret, Role.READ, now=NOW)
    assert read_session(_cookie(value), READ, WRITE, now=NOW) is Role.READ
    assert read_session(_cookie(value), READ, WRITE, now=NOW + SESSION_SECONDS) is Role.READ
    assert read_session(_cookie(value), READ, WRITE, now=NOW + SESSION_SECONDS + 1) is None


def test_changing_role_expiry_or_keys_breaks_the_signature() -> None:
    """A read holder cannot turn the cookie into write, extend it, or keep it past a key change."""
    secret = session_secret(READ, WRITE)
    assert secret is not None
    value = sign_session(secret, Role.READ, now=NOW)
    role, expires, mac = value.split(".")
    assert read_session(_cookie(f"write.{expires}.{mac}"), READ, WRITE, now=NOW) is None
    assert read_session(_cookie(f"{role}.{int(expires) + 99}.{mac}"), READ, WRITE, now=NOW) is None
    assert read_session(_cookie(value), ["rotated"], WRITE, now=NOW) is None
    assert read_session(_cookie("garbage"), READ, WRITE, now=NOW) is None
    assert read_session({"cookie": 'avops_session="unterminated'}, READ, WRITE, now=NOW) is None


def test_write_sessions_need_a_write_key_and_no_keys_mean_no_sessions() -> None:
    """Without write keys a write session is refused; without any key nothing is signed."""
    only_read = session_secret(READ, [])
    assert only_read is not None
    forged = sign_session(only_read, Role.WRITE, now=NOW)
    assert read_session(_cookie(forged), READ, [], now=NOW) is None
    assert session_secret([], []) is None
    assert read_session(_cookie(forged), [], [], now=NOW) is None


def test_the_cookie_is_http_only_strict_and_secure_over_https() -> None:
    """The attributes that keep scripts and other sites from the cookie."""
    plain = session_cookie("v", secure=False)
    assert plain.startswith("avops_session=v;")
    for attribute in ("HttpOnly", "SameSite=Strict", "Path=/api/", f"Max-Age={SESSION_SECONDS}"):
        assert attribute in plain
    assert "Secure" not in plain
    assert session_cookie("v", secure=True).endswith("; Secure")
