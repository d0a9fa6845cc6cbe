"""The Durable Functions client behind ``dataops.ingest.runs.RunControl``.

The one translation between the SDK's client and the plain protocol the starters, the run
status route and the reconciler use (so none of them imports azure-functions).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import azure.durable_functions as df

from dataops.ingest.runs import RunInfo

__all__ = ["DurableRunControl"]


def _status_text(value: Any) -> str | None:
    # The SDK hands back an OrchestrationRuntimeStatus or, for unknown ones, the raw string.
    return None if value is None else str(getattr(value, "value", value))


def _run_info(status: df.DurableOrchestrationStatus) -> RunInfo:
    return RunInfo(
        instance_id=str(status.instance_id),
        name=status.name,
        runtime_status=_status_text(status.runtime_status),
        created_time=status.created_time,
        output=status.output,
        custom_status=status.custom_status,
        last_updated_time=status.last_updated_time,
    )


class DurableRunControl:
    """``dataops.ingest.runs.RunControl`` on the Durable Functions client."""

    def __init__(self, client: df.DurableOrchestrationClient) -> None:
        self._client = client

    async def status(self, instance_id: str) -> RunInfo | None:
        """The instance, or None (the client answers a not-found with an empty status)."""
        status = await self._client.get_status(instance_id)
        if status is None or status.runtime_status is None:
            return None
        return _run_info(status)

    async def start(self, orchestration: str, instance_id: str, start_input: Any) -> None:
        """start_new: replaces a finished instance, raises for an active one."""
        await self._client.start_new(orchestration, instance_id, start_input)

    async def active_created_before(self, created_before: datetime) -> list[RunInfo]:
        """Pending and Running instances created before ``created_before``."""
        statuses = await self._client.get_status_by(
            created_time_to=created_before,
            runtime_status=[
                df.OrchestrationRuntimeStatus.Pending,
                df.OrchestrationRuntimeStatus.Running,
            ],
        )
        return [_run_info(status) for status in statuses]

    async def terminate(self, instance_id: str, reason: str) -> None:
        """Terminate with ``reason`` (shown as the instance's output)."""
        await self._client.terminate(instance_id, reason)

    async def purge(self, instance_id: str) -> int:
        """purge_instance_history: 0 when the instance does not exist (already purged)."""
        result = await self._client.purge_instance_history(instance_id)
        return int(result.instances_deleted)

    async def raise_event(self, instance_id: str, event_name: str, data_json: str) -> bool:
        """raise_event; False when the instance is unknown or finished (the extension's 404
        and 410, which the SDK raises as a bare Exception: the status tells them apart)."""
        try:
            # The SDK serializes the data itself: hand it the value, not the JSON text.
            await self._client.raise_event(instance_id, event_name, json.loads(data_json))
        except Exception:
            found = await self.status(instance_id)
            if found is None or not found.active:
                return False
            raise
        return True
