"""How a served activity's failure says terminal or retryable, and how the policy waits."""

from __future__ import annotations

import json
from typing import Any

import pytest

from activities.serving import ActivityError, Served, classify
from dataops.activity_contracts import (
    ActivityContract,
    ActivityInput,
    ActivityOutput,
    FailureInfo,
    RetryPolicy,
    format_failure,
    parse_failure,
)
from dataops.errors import ConflictError, InvalidInputError, NotFoundError, RetryableError
from tests.unit.test_azure_errors import http_error


class _Input(ActivityInput):
    n: int


class _Output(ActivityOutput):
    doubled: int


_CONTRACT = ActivityContract("double_it", _Input, _Output)


def _recurse(depth: int) -> int:
    return _recurse(depth + 1) + 1


def _raise(err: BaseException) -> None:
    raise err


@pytest.mark.parametrize(
    ("make_error", "retryable", "error_class"),
    [
        (lambda: InvalidInputError("bad", source="manifest.json", field="files"), False, None),
        (lambda: NotFoundError("datastream 'd' not found"), False, None),
        (lambda: ConflictError("same id, other content"), False, None),
        (lambda: _recurse(0), False, "RecursionError"),
        (b"\xff".decode, False, "UnicodeDecodeError"),
        (lambda: json.loads("{"), False, "JSONDecodeError"),
        (lambda: _raise(RetryableError("busy")), True, None),
        (lambda: _raise(http_error(503)), True, "RetryableError"),
        (lambda: _raise(http_error(404)), False, "NotFoundError"),
        (lambda: _raise(ConnectionResetError("reset")), True, "ConnectionResetError"),
        (lambda: _raise(RuntimeError("unexpected")), True, "RuntimeError"),
    ],
)
def test_deterministic_input_errors_are_terminal_and_transient_ones_retryable(
    make_error: Any, retryable: bool, error_class: str | None
) -> None:
    try:
        err = make_error()
    except Exception as raised:  # noqa: BLE001 - the error under test
        err = raised
    assert isinstance(err, BaseException)
    info = classify(err)
    assert info.retryable is retryable
    assert info.error_class == (error_class or type(err).__name__)


def test_a_throttled_azure_answer_carries_its_retry_after() -> None:
    info = classify(http_error(429, **{"Retry-After": "12"}))
    assert (info.retryable, info.retry_after_s) == (True, 12.0)


def test_the_marker_round_trips_through_a_durable_failure_message() -> None:
    """The orchestrator sees ``Reason \\n Details``; the marker survives that framing."""
    info = FailureInfo(True, "RetryableError", "cosmos busy", 2.5)
    seen = f"ActivityError: {format_failure(info)} \n Traceback (most recent call last): ..."
    assert parse_failure(seen) == info


def test_a_failure_without_marker_is_an_unknown_retryable_one() -> None:
    """A worker that died or a host error never had the chance to classify itself."""
    info = parse_failure("activity worker exited with code 17 \n ")
    assert info.retryable
    assert info.error_class == "UnknownError"
    assert info.message == "activity worker exited with code 17"


def test_served_handler_validates_input_and_marks_failures() -> None:
    served = Served(_CONTRACT, lambda args: {"doubled": args.n * 2})
    assert served({"n": 4}) == {"doubled": 8}
    with pytest.raises(ActivityError, match=r"^\[avops-error terminal ValidationError\]"):
        served({"n": 4, "m": 1})


def test_served_handler_refuses_an_output_that_breaks_the_contract() -> None:
    """An output the caller could not read fails at the activity, terminal, not later."""
    served = Served(_CONTRACT, lambda args: {"tripled": args.n * 3})
    with pytest.raises(ActivityError) as raised:
        served({"n": 1})
    assert not raised.value.failure.retryable


def test_served_handler_passes_retry_after_on() -> None:
    def throttled(args: _Input) -> dict[str, Any]:
        raise RetryableError("throttled", retry_after=7)

    with pytest.raises(ActivityError) as raised:
        Served(_CONTRACT, throttled)({"n": 1})
    assert parse_failure(str(raised.value)) == FailureInfo(True, "RetryableError", "throttled", 7)


def test_policy_backs_off_exponentially_up_to_its_cap_and_honours_retry_after() -> None:
    policy = RetryPolicy(max_attempts=5, first_delay_s=2, backoff=3, max_delay_s=30)
    assert [policy.delay_s(n) for n in (1, 2, 3, 4)] == [2, 6, 18, 30]
    assert policy.delay_s(1, retry_after_s=45) == 45
    assert policy.delay_s(3, retry_after_s=1) == 18
