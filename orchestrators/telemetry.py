"""Telemetry ids for an orchestration: bound while its code runs, never carried across yields.

An orchestrator replays: the Durable runtime runs its generator from the start on every
episode and may abandon it at any yield. So the ids are bound only around each step of the
generator (``send``/``throw`` up to the next yield) and reset before control goes back to the
runtime: no context variable outlives a step, whichever thread runs the next episode.
Binding ids is a context-variable write, no I/O and no clock, so it is replay-safe.

The ids: ``instance_id`` (the context's), ``measurement_id`` and ``datastream_id`` from the
input, and a ``measurement_id`` / ``datastream_id`` the first activity result that names one
gives (ingest learns its measurement at registration). The "orchestration started" record is
logged on the first execution only (``context.is_replaying`` is False), so replays add no
duplicate records; spans and metrics come from the activities, which run once per attempt.
"""

from __future__ import annotations

import logging
from collections.abc import Generator, Mapping
from typing import Any

import azure.durable_functions as df

from dataops.telemetry import ID_FIELDS, bind_ids

__all__ = ["with_telemetry_ids"]

log = logging.getLogger("avops.orchestration")


def _ids_in(value: Any) -> dict[str, str]:
    if not isinstance(value, Mapping):
        return {}
    return {
        key: value[key]
        for key in ("measurement_id", "datastream_id")
        if isinstance(value.get(key), str) and value[key]
    }


def with_telemetry_ids(
    context: df.DurableOrchestrationContext,
    name: str,
    orchestration: Generator[Any, Any, Any],
) -> Generator[Any, Any, Any]:
    """Run ``orchestration`` with its ids bound around each of its steps."""
    ids: dict[str, str] = {"instance_id": str(context.instance_id)}
    params = context.get_input()
    ids.update(_ids_in(params))
    if not context.is_replaying:
        with bind_ids(**ids):
            log.info("orchestration %s started", name)
    to_send: Any = None
    to_throw: BaseException | None = None
    while True:
        with bind_ids(**{key: ids[key] for key in ID_FIELDS if key in ids}):
            try:
                if to_throw is not None:
                    task = orchestration.throw(to_throw)
                else:
                    task = orchestration.send(to_send)
            except StopIteration as stop:
                return stop.value
        to_send, to_throw = None, None
        try:
            to_send = yield task
        except Exception as err:  # noqa: BLE001 - handed on to the orchestration unchanged
            to_throw = err
        else:
            for key, value in _ids_in(to_send).items():
                ids.setdefault(key, value)
