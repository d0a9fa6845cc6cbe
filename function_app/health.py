"""Liveness route: answers without touching storage or the store, so a probe never cascades."""

from __future__ import annotations

import json

import azure.durable_functions as df
import azure.functions as func

from dataops import __version__

bp = df.Blueprint()


@bp.route(route="health", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def health(req: func.HttpRequest) -> func.HttpResponse:
    """Report that the app is loaded and which code version it runs."""
    body = {"status": "ok", "version": __version__}
    return func.HttpResponse(json.dumps(body), mimetype="application/json")
