"""The fault tests run the app as the end-to-end tests do: their ``app_env`` fixture."""

from __future__ import annotations

from tests.e2e.conftest import app_env

__all__ = ["app_env"]
