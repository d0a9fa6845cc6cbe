"""Calling activities through their contracts, with retries decided by the error class.

The SDK's ``RetryOptions`` retry every failure alike, so a bad manifest was tried three
times like a timeout. Here the activity's failure message carries a marker
(``dataops.activity_contracts.failure``): a terminal error fails the call at once (one
``TaskFailed`` in the history), a retryable one is called again after a durable timer of the
contract's backoff, or longer when the service sent ``Retry-After``.

Deterministic: the decision reads only the history (the failure messages) and the contract;
the waits are ``create_timer`` calls, so replays take the same path in devhost and Azure.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from datetime import timedelta
from typing import Any, TypeVar

import azure.durable_functions as df

from dataops.activity_contracts import (
    ActivityContract,
    ActivityInput,
    ActivityOutput,
    FailureInfo,
    parse_failure,
)
from dataops.errors import first_line
from dataops.telemetry import with_carried_ids

__all__ = ["ActivityFailedError", "call", "call_all", "report_completed", "report_failure"]

InputT = TypeVar("InputT", bound=ActivityInput)
OutputT = TypeVar("OutputT", bound=ActivityOutput)


class ActivityFailedError(Exception):
    """An activity failed for good: terminal, or retryable but out of attempts.

    The message is ``<ErrorClass>: <first line>`` (no marker), so orchestrators can record
    it as the failure reason.
    """

    def __init__(self, activity: str, failure: FailureInfo, attempts: int) -> None:
        super().__init__(f"{failure.error_class}: {failure.message}")
        self.activity = activity
        self.failure = failure
        self.attempts = attempts


def call(
    context: df.DurableOrchestrationContext,
    contract: ActivityContract[InputT, OutputT],
    args: InputT,
) -> Generator[Any, Any, OutputT]:
    """Run one activity; retryable failures are retried per ``contract.retry``."""
    payload = with_carried_ids(contract.payload(args))
    attempt = 1
    while True:
        try:
            result = yield context.call_activity(contract.name, payload)
        except Exception as err:
            failure = parse_failure(str(err))
            if not failure.retryable or attempt >= contract.retry.max_attempts:
                raise ActivityFailedError(contract.name, failure, attempt) from err
            yield _backoff(context, contract.retry.delay_s(attempt, failure.retry_after_s))
            attempt += 1
            continue
        return contract.parse_output(result)


def report_failure(
    context: df.DurableOrchestrationContext,
    err: Exception,
    contract: ActivityContract[InputT, Any],
    status: dict[str, Any],
    **fail_fields: Any,
) -> Generator[Any, Any, str]:
    """After an orchestration's work failed: ``status`` shown as failed with the reason, and
    the fail activity ``contract`` called with ``fail_fields`` and the reason so the record
    says FAILED too. Returns the reason, for the error the orchestrator then raises to end
    the instance Failed."""
    reason = first_line(err)
    context.set_custom_status({**status, "stage": "failed", "reason": reason})
    fail_input = contract.input.model_validate({**fail_fields, "reason": reason})
    yield from call(context, contract, fail_input)
    return reason


def report_completed(
    context: df.DurableOrchestrationContext, status: dict[str, Any], result: ActivityOutput
) -> dict[str, Any]:
    """``status`` shown as completed; the orchestration's output: the last activity's result
    (the fields it set) with ``status: Completed``."""
    context.set_custom_status({**status, "stage": "completed"})
    return {**result.model_dump(mode="json", exclude_unset=True), "status": "Completed"}


def call_all(
    context: df.DurableOrchestrationContext,
    contract: ActivityContract[InputT, OutputT],
    args: Sequence[InputT],
) -> Generator[Any, Any, list[OutputT]]:
    """Run the activity once per input in parallel; results in input order.

    A round schedules the calls still owed and waits until each settled (``task_all`` fails
    at the first failure while others run on, so those are awaited one by one). A terminal
    failure, or a retryable one out of attempts, fails the call; otherwise the failed calls
    alone go again after one timer (the longest wait any of them needs).
    """
    payloads = [with_carried_ids(contract.payload(item)) for item in args]
    results: dict[int, Any] = {}
    attempts = [0] * len(payloads)
    owed = list(range(len(payloads)))
    while owed:
        tasks = [context.call_activity(contract.name, payloads[index]) for index in owed]
        for index in owed:
            attempts[index] += 1
        failures = yield from _settle(context, tasks)
        retry_waits: list[float] = []
        for index, task in zip(owed, tasks, strict=True):
            error = failures.get(id(task))
            if error is None:
                results[index] = task.result
                continue
            failure = parse_failure(str(error))
            if not failure.retryable or attempts[index] >= contract.retry.max_attempts:
                raise ActivityFailedError(contract.name, failure, attempts[index]) from error
            retry_waits.append(contract.retry.delay_s(attempts[index], failure.retry_after_s))
        owed = [index for index in owed if index not in results]
        if owed:
            yield _backoff(context, max(retry_waits))
    return [contract.parse_output(results[index]) for index in range(len(payloads))]


def _settle(
    context: df.DurableOrchestrationContext, tasks: list[Any]
) -> Generator[Any, Any, dict[int, Exception]]:
    """Wait until every task settled; the failures by ``id(task)``."""
    failures: dict[int, Exception] = {}
    try:
        yield context.task_all(tasks)
    except Exception:  # noqa: BLE001 - each task's own failure is read below
        for task in tasks:
            if task.is_completed:
                continue
            try:
                yield task
            except Exception as err:  # noqa: BLE001 - classified by the caller
                failures[id(task)] = err
    for task in tasks:
        if isinstance(task.result, Exception):
            failures.setdefault(id(task), task.result)
    return failures


def _backoff(context: df.DurableOrchestrationContext, seconds: float) -> Any:
    return context.create_timer(context.current_utc_datetime + timedelta(seconds=seconds))
