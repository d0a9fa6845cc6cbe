"""Checks on a starter's 202: the app's own status route, never the host's management API."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import httpx

__all__ = ["MANAGEMENT_MARKERS", "assert_no_management_urls", "assert_run_accepted"]

# What an API caller must never get: a key, or Durable's management API (terminate, rewind,
# raise-event, purge on every instance with the system key in its URLs).
MANAGEMENT_MARKERS = (
    "code=",
    "/runtime/webhooks",
    "statusQueryGetUri",
    "terminatePostUri",
    "rewindPostUri",
    "sendEventPostUri",
    "purgeHistoryDeleteUri",
)


def assert_no_management_urls(response: httpx.Response, *secrets: str) -> None:
    """Neither body nor headers carry a management URL, ``code=`` or any of ``secrets``."""
    seen = response.text + "".join(f"\n{k}: {v}" for k, v in response.headers.items())
    for marker in (*MANAGEMENT_MARKERS, *secrets):
        assert marker not in seen, (marker, seen)


def assert_run_accepted(response: httpx.Response, *secrets: str) -> dict[str, Any]:
    """A 202 whose ``Location`` and ``status_url`` are ``/api/runs/{instance_id}``; its body."""
    assert response.status_code == 202, response.text
    body: dict[str, Any] = response.json()
    assert urlsplit(body["status_url"]).path == f"/api/runs/{body['instance_id']}"
    assert response.headers["location"] == body["status_url"]
    assert_no_management_urls(response, *secrets)
    return body
