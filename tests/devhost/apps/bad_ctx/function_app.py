"""An orchestrator whose context parameter is not named ``context``: the worker rejects it."""

from __future__ import annotations

import azure.durable_functions as df

app = df.DFApp()


@app.orchestration_trigger(context_name="ctx")
def orch(ctx: df.DurableOrchestrationContext):  # type: ignore[no-untyped-def]
    """Never runs."""
    yield ctx.call_activity("x", None)
