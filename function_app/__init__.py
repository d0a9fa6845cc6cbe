"""The Durable Functions app: registers the blueprints; triggers and bindings only, no logic."""

from __future__ import annotations

import azure.durable_functions as df
import azure.functions as func

from dataops.telemetry import configure_telemetry_from_environment
from function_app.clips import bp as clips_bp
from function_app.downstream import bp as downstream_bp
from function_app.erasure import bp as erasure_bp
from function_app.extraction import bp as extraction_bp
from function_app.http import bp as http_bp
from function_app.ingest import bp as ingest_bp
from function_app.labeling_export import bp as labeling_export_bp
from function_app.labeling_import import bp as labeling_import_bp
from function_app.operations import bp as operations_bp

__all__ = ["app"]

# Once per worker process, before any function runs; never raises, so indexing cannot fail on it.
configure_telemetry_from_environment()
app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)
app.register_functions(http_bp)
app.register_functions(ingest_bp)
app.register_functions(extraction_bp)
app.register_functions(downstream_bp)
app.register_functions(operations_bp)
app.register_functions(labeling_import_bp)
app.register_functions(labeling_export_bp)
app.register_functions(clips_bp)
app.register_functions(erasure_bp)
