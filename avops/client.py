"""One client of the app's HTTP API: one HTTP path, one problem+json parser, run following.

Every ``avops`` command that talks to the platform goes through :class:`ApiClient`, and so can
your own scripts::

    from avops.client import ApiClient

    with ApiClient() as api:          # the local platform of `avops dev`, or --url/--key values
        page = api.get("/measurements", {"vehicle": "WVW-TEST-001"})

Errors are two exceptions: :class:`ApiCallError` when the app answered with an error (its
problem document is kept) and :class:`ApiUnreachableError` when it could not be reached.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx

from avops.connection import resolve_api
from dataops.lifecycle import ClosedOnExit

__all__ = [
    "FINISHED",
    "ApiCallError",
    "ApiClient",
    "ApiUnreachableError",
    "answer",
]

# Durable's runtime statuses after which a run changes no more.
FINISHED = frozenset({"Completed", "Failed", "Terminated", "Canceled"})


class ApiCallError(Exception):
    """The API answered with an error status; ``problem`` is its problem+json document."""

    def __init__(self, status: int, problem: dict[str, Any]) -> None:
        self.status = status
        self.problem = problem
        detail = problem.get("detail") or problem.get("title") or "error"
        parameter = problem.get("parameter")
        where = f" (parameter {parameter})" if parameter else ""
        super().__init__(f"HTTP {status}: {detail}{where}")


class ApiUnreachableError(Exception):
    """No answer from the app (connection refused, DNS, timeout)."""


def answer(response: httpx.Response) -> Any:
    """The JSON of an API answer; ApiCallError with the problem document on an error status."""
    if response.status_code >= 400:
        try:
            problem = response.json()
        except ValueError:
            problem = {"detail": response.text[:500]}
        raise ApiCallError(response.status_code, problem if isinstance(problem, dict) else {})
    return response.json()


class ApiClient(ClosedOnExit):
    """The app's HTTP API below ``<base URL>/api``, with the caller's key on every request."""

    # Tests swap in a transport that calls the app's functions directly (no socket).
    transport: httpx.BaseTransport | None = None

    def __init__(self, url: str | None = None, key: str | None = None, *, timeout: float = 30.0):
        base_url, key = resolve_api(url, key)
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.base_url + "/api",
            headers={"x-functions-key": key} if key else {},
            timeout=timeout,
            transport=ApiClient.transport,
        )

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
    ) -> Any:
        """``method`` on ``path`` (below /api, or an absolute URL of the app); the answer's JSON.

        Parameters whose value is None are left out, so optional filters can be passed as they are.
        """
        clean = {name: value for name, value in (params or {}).items() if value is not None}
        try:
            response = self._http.request(method, path, params=clean, json=json)
        except httpx.TransportError as err:
            raise ApiUnreachableError(f"cannot reach {self.base_url}: {err}") from err
        return answer(response)

    def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        """GET ``path`` and return its JSON."""
        return self.request("GET", path, params=params)

    def post(self, path: str, body: Any = None) -> Any:
        """POST ``body`` as JSON (or nothing) to ``path`` and return the answer's JSON."""
        return self.request("POST", path, json=body)

    def follow_run(
        self,
        status_url: str,
        *,
        timeout_s: float,
        on_status: Callable[[dict[str, Any]], None] | None = None,
        interval_s: float = 1.0,
    ) -> dict[str, Any]:
        """Poll a starter's ``status_url`` (``/api/runs/{id}``) until the run finished.

        Returns the last status, finished or not once ``timeout_s`` ran out.
        """
        deadline = time.monotonic() + timeout_s
        while True:
            status: dict[str, Any] = self.get(status_url)
            if on_status is not None:
                on_status(status)
            if status["runtime_status"] in FINISHED or time.monotonic() > deadline:
                return status
            time.sleep(interval_s)
