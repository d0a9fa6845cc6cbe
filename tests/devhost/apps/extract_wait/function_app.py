"""Test app: the project's real ``extract`` orchestrator with stand-in activities.

The batch backend is a directory (EXTRACT_WAIT_DIR): ``extract_poll`` reports the jobs settled
once a file ``done`` exists there, and counts its calls in ``polls``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import azure.durable_functions as df

from orchestrators.extract import extract_orchestrator

app = df.DFApp()


def _dir() -> Path:
    return Path(os.environ["EXTRACT_WAIT_DIR"])


@app.function_name(name="extract_prepare")
@app.activity_trigger(input_name="params")
def prepare(params: dict) -> dict[str, Any]:  # type: ignore[type-arg]
    return {"jobs": [{"job_id": "job-1", "recording": "drive.mcap"}]}


@app.function_name(name="extract_poll")
@app.activity_trigger(input_name="params")
def poll(params: dict) -> dict[str, Any]:  # type: ignore[type-arg]
    counter = _dir() / "polls"
    polls = (int(counter.read_text()) if counter.exists() else 0) + 1
    counter.write_text(str(polls))
    settled = (_dir() / "done").exists()
    return {"settled": settled, "tasks_done": int(settled), "tasks_total": 1, "failed": []}


@app.function_name(name="extract_record")
@app.activity_trigger(input_name="params")
def record(params: dict) -> dict[str, Any]:  # type: ignore[type-arg]
    return {}


@app.function_name(name="extract_fail")
@app.activity_trigger(input_name="params")
def fail(params: dict) -> dict[str, Any]:  # type: ignore[type-arg]
    return {"reason": str(params.get("reason"))}


@app.orchestration_trigger(context_name="context")
def extract(context: df.DurableOrchestrationContext) -> Any:
    return (yield from extract_orchestrator(context))
