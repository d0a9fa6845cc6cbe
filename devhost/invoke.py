"""Call user functions the way the worker does: decode the trigger payload, fill the bindings."""

from __future__ import annotations

import asyncio
import inspect
import traceback
import uuid
from dataclasses import dataclass
from typing import Any

from azure.functions import meta

from devhost.registry import FunctionSpec

__all__ = [
    "ActivityOutcome",
    "InvocationContext",
    "call_function",
    "decode_trigger",
    "run_activity",
]


@dataclass(frozen=True)
class InvocationContext:
    """The subset of ``azure.functions.Context`` that user code reads."""

    invocation_id: str
    function_name: str
    function_directory: str
    trace_context: Any = None
    retry_context: Any = None
    thread_local_storage: Any = None


@dataclass(frozen=True)
class ActivityOutcome:
    """Result of one activity run: JSON result text, or a failure reason and details."""

    ok: bool
    result: str | None = None
    reason: str | None = None
    details: str | None = None
    # The worker process died under it: run it again (bounded), it may not be its fault.
    requeue: bool = False


def decode_trigger(binding_type: str, json_text: str) -> Any:
    """Decode a JSON trigger payload with the converter the worker uses for ``binding_type``."""
    converter = meta.get_binding_registry().get(binding_type)  # type: ignore[no-untyped-call]
    if converter is None:
        raise ValueError(f"no converter for binding type {binding_type!r}")
    return converter.decode(meta.Datum(json_text, "json"), trigger_metadata=None)


def _kwargs(
    spec: FunctionSpec, trigger_value: Any, extra: dict[str, Any], retry_context: Any = None
) -> dict[str, Any]:
    kwargs = {spec.trigger_param: trigger_value, **extra}
    if spec.wants_context:
        kwargs["context"] = InvocationContext(
            invocation_id=str(uuid.uuid4()),
            function_name=spec.name,
            function_directory=str(inspect.getfile(spec.user_function)),
            retry_context=retry_context,
        )
    return kwargs


def call_function(
    spec: FunctionSpec, trigger_value: Any, extra: dict[str, Any] | None = None
) -> Any:
    """Call a synchronous or async user function from a thread without a running loop."""
    result = spec.user_function(**_kwargs(spec, trigger_value, extra or {}))
    if inspect.isawaitable(result):
        return asyncio.run(_await(result))
    return result


async def call_function_async(
    spec: FunctionSpec,
    trigger_value: Any,
    extra: dict[str, Any] | None = None,
    *,
    retry_context: Any = None,
) -> Any:
    """Call a user function from the host's event loop; sync functions run in a thread."""
    kwargs = _kwargs(spec, trigger_value, extra or {}, retry_context)
    if inspect.iscoroutinefunction(spec.user_function):
        return await spec.user_function(**kwargs)
    result = await asyncio.to_thread(spec.user_function, **kwargs)
    if inspect.isawaitable(result):
        return await result
    return result


async def _await(awaitable: Any) -> Any:
    return await awaitable


def run_activity(spec: FunctionSpec, input_json: str | None) -> ActivityOutcome:
    """Run an activity: decode its input, call it, encode its result; never raises."""
    try:
        value = decode_trigger("activityTrigger", input_json if input_json is not None else "null")
    except Exception as err:  # noqa: BLE001 - bad input fails the task, the host keeps going
        return ActivityOutcome(
            ok=False,
            reason=f"activity input of {spec.name!r} does not decode: {err}",
            details=f"{type(err).__name__}: {err}",
        )
    try:
        result = call_function(spec, value)
        converter = meta.get_binding_registry().get("activityTrigger")  # type: ignore[no-untyped-call]
        encoded = converter.encode(result, expected_type=None)
    except Exception as err:  # noqa: BLE001 - user errors become TaskFailed, as in the extension
        return ActivityOutcome(
            ok=False, reason=f"{type(err).__name__}: {err}", details=traceback.format_exc()
        )
    return ActivityOutcome(ok=True, result=str(encoded.value))
