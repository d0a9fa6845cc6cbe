"""The DF HTTP API's instance status payload and durable client binding JSON."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from devhost.durable.history import EventType
from devhost.durable.store import Instance

__all__ = ["client_binding", "management_urls", "status_payload"]

WEBHOOK_PREFIX = "/runtime/webhooks/durabletask"


def _loads(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def status_payload(
    inst: Instance, *, history: list[dict[str, Any]] | None = None, show_input: bool = True
) -> dict[str, Any]:
    """The body of ``GET instances/{id}`` as the extension returns it."""
    body: dict[str, Any] = {
        "name": inst.name,
        "instanceId": inst.instance_id,
        "runtimeStatus": inst.status.value,
        "input": _loads(inst.input) if show_input else None,
        "customStatus": _loads(inst.custom_status),
        "output": _loads(inst.output),
        "createdTime": inst.created_at,
        "lastUpdatedTime": inst.updated_at,
    }
    if history is not None:
        body["historyEvents"] = [_history_entry(e) for e in history]
    return body


def _history_entry(event: dict[str, Any]) -> dict[str, Any]:
    entry = {k: v for k, v in event.items() if k not in ("IsPlayed",)}
    try:
        entry["EventType"] = EventType(event["EventType"]).name.title().replace("_", "")
    except ValueError:
        entry["EventType"] = str(event["EventType"])
    return entry


def management_urls(origin: str, instance_id: str, task_hub: str, key: str) -> dict[str, str]:
    """statusQueryGetUri & co. for one instance."""
    base = f"{origin}{WEBHOOK_PREFIX}/instances/{quote(instance_id, safe='')}"
    query = f"taskHub={task_hub}&connection=Storage&code={key}"
    return {
        "id": instance_id,
        "statusQueryGetUri": f"{base}?{query}",
        "sendEventPostUri": f"{base}/raiseEvent/{{eventName}}?{query}",
        "terminatePostUri": f"{base}/terminate?reason={{text}}&{query}",
        "rewindPostUri": f"{base}/rewind?reason={{text}}&{query}",
        "purgeHistoryDeleteUri": f"{base}?{query}",
        "restartPostUri": f"{base}/restart?{query}",
        "suspendPostUri": f"{base}/suspend?reason={{text}}&{query}",
        "resumePostUri": f"{base}/resume?reason={{text}}&{query}",
    }


def client_binding(origin: str, task_hub: str, key: str) -> str:
    """The JSON string the host passes for a ``durableClient`` binding."""
    placeholder = "INSTANCEID"
    urls = management_urls(origin, placeholder, task_hub, key)
    urls["id"] = placeholder
    query = f"taskHub={task_hub}&connection=Storage&code={key}"
    base = f"{origin}{WEBHOOK_PREFIX}"
    return json.dumps(
        {
            "taskHubName": task_hub,
            "creationUrls": {
                "createNewInstancePostUri": (
                    f"{base}/orchestrators/{{functionName}}[/{{instanceId}}]?{query}"
                ),
                "createAndWaitOnNewInstancePostUri": (
                    f"{base}/orchestrators/{{functionName}}[/{{instanceId}}]?timeout={{timeoutInSeconds}}"
                    f"&pollingInterval={{intervalInSeconds}}&{query}"
                ),
            },
            "managementUrls": urls,
            "baseUrl": base,
            "requiredQueryStringParameters": f"code={key}",
            "rpcBaseUrl": f"{base}/",
            "httpBaseUrl": "",
        }
    )
