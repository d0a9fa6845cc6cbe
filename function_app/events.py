"""Event Grid trigger input as the plain dict the domain's event parsers read."""

from __future__ import annotations

from typing import Any

import azure.functions as func

__all__ = ["event_grid_payload"]


def event_grid_payload(event: func.EventGridEvent) -> dict[str, Any]:
    """An Event Grid trigger's event as the Event Grid schema dict ``parse_blob_event`` reads."""
    return {
        "id": event.id,
        "eventType": event.event_type,
        "subject": event.subject,
        "topic": event.topic,
        "data": event.get_json(),
    }
