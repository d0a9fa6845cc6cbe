"""Serving an activity through its contract: typed input in, checked output out, and every
failure raised as :class:`ActivityError` whose message says terminal or retryable.

Deterministic input errors are terminal: the ``dataops`` terminal family (validation,
conflict, not found...), a refused input or output model, ``RecursionError`` and decoding
errors (``ValueError`` and its ``UnicodeDecodeError`` / ``JSONDecodeError``). Azure failures
are classified by :mod:`dataops.azure_errors`; connection-level ``OSError`` and anything
unknown stay retryable, as every failure was before the classes were read.

Every run is one telemetry step (:func:`dataops.telemetry.step_timer`, named by the contract):
the input's ``measurement_id``, ``datastream_id`` and ``instance_id`` are bound for the run, so
each log record and span of the activity (Azure SDK calls included) carries them, and its
duration is recorded with outcome ok or error.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from azure.core.exceptions import AzureError

from dataops.activity_contracts import (
    ActivityContract,
    ActivityInput,
    ActivityOutput,
    FailureInfo,
    format_failure,
)
from dataops.azure_errors import error_class_for, retry_after_seconds
from dataops.errors import DataOpsError, RetryableError
from dataops.telemetry import ID_FIELDS, split_carried_ids, step_timer

__all__ = [
    "ActivityError",
    "Served",
    "ServedHandler",
    "classify",
    "ids_of",
    "served",
    "served_by",
]

InputT = TypeVar("InputT", bound=ActivityInput)
OutputT = TypeVar("OutputT", bound=ActivityOutput)


@dataclass(frozen=True)
class ServedHandler:
    """Where a ``@served`` handler lives, the contract it serves and what it does."""

    attribute: str
    contract: ActivityContract[Any, Any]
    doc: str | None


# Every handler ``@served`` bound, by module name then attribute (a reimport replaces).
_SERVED: dict[str, dict[str, ServedHandler]] = {}

# Same input, same failure: retrying cannot help.
_DETERMINISTIC: tuple[type[BaseException], ...] = (RecursionError, ValueError)


class ActivityError(Exception):
    """What a served activity raises; the message starts with the failure marker."""

    def __init__(self, failure: FailureInfo) -> None:
        super().__init__(format_failure(failure))
        self.failure = failure


def classify(err: BaseException) -> FailureInfo:
    """Terminal or retryable, with the class name and the wait the service asked for."""
    message = (str(err).strip() or type(err).__name__).splitlines()[0]
    if isinstance(err, DataOpsError):
        after = err.retry_after if isinstance(err, RetryableError) else None
        return FailureInfo(err.retryable, type(err).__name__, message, after)
    if isinstance(err, AzureError):
        ours = error_class_for(err)
        return FailureInfo(ours.retryable, ours.__name__, message, retry_after_seconds(err))
    if isinstance(err, _DETERMINISTIC):
        return FailureInfo(False, type(err).__name__, message)
    return FailureInfo(True, type(err).__name__, message)


def ids_of(args: ActivityInput) -> dict[str, str]:
    """The telemetry ids an activity input names (fields measurement_id, datastream_id...)."""
    ids: dict[str, str] = {}
    for key in ID_FIELDS:
        value = getattr(args, key, None)
        if isinstance(value, str) and value:
            ids[key] = value
    return ids


@dataclass(frozen=True)
class Served(Generic[InputT, OutputT]):
    """An activity handler bound to its contract: what the function app registers."""

    contract: ActivityContract[InputT, OutputT]
    handler: Callable[[InputT], dict[str, Any]]

    def __call__(self, params: Any) -> dict[str, Any]:
        """Validate ``params``, run the handler, check its result against the output model."""
        try:
            params, carried = split_carried_ids(params)
            args = self.contract.parse_input(params)
            # The input's own ids win over those the orchestration carried.
            with step_timer(self.contract.name, **{**carried, **ids_of(args)}):
                result = self.handler(args)
                self.contract.parse_output(result)
        except Exception as err:
            raise ActivityError(classify(err)) from err
        return result


def served(
    contract: ActivityContract[InputT, OutputT],
) -> Callable[[Callable[[InputT], dict[str, Any]]], Served[InputT, OutputT]]:
    """Decorator: ``@served(CONTRACT)`` on the handler that takes the contract's input."""

    def bind(handler: Callable[[InputT], dict[str, Any]]) -> Served[InputT, OutputT]:
        _SERVED.setdefault(handler.__module__, {})[handler.__name__] = ServedHandler(
            handler.__name__, contract, handler.__doc__
        )
        return Served(contract, handler)

    return bind


def served_by(module_name: str) -> list[ServedHandler]:
    """The handlers ``@served`` bound in ``module_name``, in order.

    Recorded when the module is imported, so a test that replaces a handler on the module
    (before or after the function app registers it) does not hide its activity.
    """
    return list(_SERVED.get(module_name, {}).values())
