"""The Durable Functions app: registers the blueprints; triggers and bindings only, no logic."""

from __future__ import annotations

import azure.durable_functions as df
import azure.functions as func

from function_app.health import bp as health_bp
from function_app.ingest import bp as ingest_bp

__all__ = ["app"]

app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)
app.register_functions(health_bp)
app.register_functions(ingest_bp)
