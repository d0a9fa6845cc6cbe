"""Test app: activities served through contracts, orchestrators calling them through
``orchestrators.calls`` (the project's retry-by-error-class helper)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import azure.durable_functions as df

from activities.serving import served
from dataops.activity_contracts import ActivityContract, ActivityInput, ActivityOutput, RetryPolicy
from dataops.errors import NotFoundError, RetryableError
from orchestrators.calls import call, call_all

app = df.DFApp()


class FlakyInput(ActivityInput):
    key: str
    fail_times: int = 0
    error: str = "retryable"
    retry_after: float | None = None


class FlakyOutput(ActivityOutput):
    key: str
    attempts: int


FLAKY = ActivityContract(
    "contract_flaky",
    FlakyInput,
    FlakyOutput,
    RetryPolicy(max_attempts=4, first_delay_s=10, backoff=2, max_delay_s=60),
)


def _recurse(depth: int) -> int:
    return _recurse(depth + 1) + 1


def _count(key: str) -> int:
    """Attempts of ``key`` so far, this one included (a file per key in CONTRACTS_APP_DIR)."""
    path = Path(os.environ["CONTRACTS_APP_DIR"]) / f"{key}.count"
    attempts = (int(path.read_text()) if path.exists() else 0) + 1
    path.write_text(str(attempts))
    return attempts


@served(FLAKY)
def flaky_handler(args: FlakyInput) -> dict[str, Any]:
    """Fail the first ``fail_times`` attempts with the requested kind of error."""
    attempts = _count(args.key)
    if attempts <= args.fail_times:
        if args.error == "terminal":
            raise NotFoundError(f"{args.key} not found")
        if args.error == "recursion":
            _recurse(0)
        raise RetryableError(f"{args.key} busy", retry_after=args.retry_after)
    return {"key": args.key, "attempts": attempts}


@app.function_name(name=FLAKY.name)
@app.activity_trigger(input_name="params")
def contract_flaky_activity(params: dict) -> dict[str, Any]:  # type: ignore[type-arg]
    return flaky_handler(params)


@app.orchestration_trigger(context_name="context")
def call_once(context: df.DurableOrchestrationContext) -> Any:
    args = FlakyInput.model_validate(context.get_input())
    result = yield from call(context, FLAKY, args)
    return result.model_dump()


@app.orchestration_trigger(context_name="context")
def call_many(context: df.DurableOrchestrationContext) -> Any:
    specs = json.loads(json.dumps(context.get_input()))
    results = yield from call_all(context, FLAKY, [FlakyInput.model_validate(s) for s in specs])
    return [result.model_dump() for result in results]
