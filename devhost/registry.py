"""The functions of a loaded app, checked like the worker checks them, grouped by trigger type."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import azure.functions as func

from devhost.errors import AppLoadError, UnknownFunctionError, UnsupportedBindingError
from devhost.events.retry_policy import RetryPolicy
from devhost.loader import LoadedApp

__all__ = [
    "SUPPORTED_BINDINGS",
    "SUPPORTED_TRIGGERS",
    "FunctionSpec",
    "Registry",
    "TriggerType",
]

log = logging.getLogger(__name__)


class TriggerType(StrEnum):
    """Trigger types devhost can drive."""

    HTTP = "httpTrigger"
    EVENT_GRID = "eventGridTrigger"
    COSMOS_DB = "cosmosDBTrigger"
    TIMER = "timerTrigger"
    ORCHESTRATION = "orchestrationTrigger"
    ACTIVITY = "activityTrigger"


SUPPORTED_TRIGGERS = frozenset(t.value for t in TriggerType)
# Non-trigger bindings devhost fills in: the HTTP response and the durable client.
SUPPORTED_BINDINGS = frozenset({"http", "durableClient"})


@dataclass(frozen=True)
class FunctionSpec:
    """One indexed function: its name, trigger, bindings and the callable the worker would call."""

    name: str
    trigger_type: TriggerType
    trigger: dict[str, Any]
    bindings: list[dict[str, Any]]
    user_function: Callable[..., Any]
    function: func.Function = field(repr=False)
    # The app's own retry policy (``@app.retry``); None when it declares none.
    retry: RetryPolicy | None = None

    @property
    def trigger_param(self) -> str:
        """Parameter name that receives the trigger payload."""
        return str(self.trigger["name"])

    def binding_of_type(self, binding_type: str) -> dict[str, Any] | None:
        """First binding (trigger excluded) of ``binding_type``, if any."""
        for binding in self.bindings:
            if binding.get("type") == binding_type and binding is not self.trigger:
                return binding
        return None

    @property
    def wants_context(self) -> bool:
        """Whether the user function takes the worker's ``context`` parameter."""
        params = inspect.signature(self.user_function).parameters
        names = {b["name"] for b in self.bindings}
        return "context" in params and "context" not in names

    @property
    def orchestrator_function(self) -> Callable[..., Any]:
        """The user's generator behind the DF orchestrator handle."""
        inner = getattr(self.user_function, "orchestrator_function", None)
        if inner is None:
            raise AppLoadError(f"{self.name}: orchestration trigger without a DF orchestrator")
        return inner  # type: ignore[no-any-return]


class Registry:
    """Functions of one app by name, validated once at start-up."""

    def __init__(self, specs: list[FunctionSpec]) -> None:
        self._by_name = {spec.name: spec for spec in specs}

    @classmethod
    def from_app(cls, loaded: LoadedApp) -> Registry:
        """Check every function like the worker does and refuse what devhost cannot run."""
        problems: list[str] = []
        specs: list[FunctionSpec] = []
        for function in loaded.functions:
            try:
                specs.append(_spec_of(function))
            except AppLoadError as err:
                problems.append(str(err))
        if problems:
            unsupported = any("not supported by devhost" in p for p in problems)
            error_type = UnsupportedBindingError if unsupported else AppLoadError
            raise error_type("app cannot be hosted:\n  " + "\n  ".join(problems))
        return cls(specs)

    def __iter__(self) -> Any:
        return iter(self._by_name.values())

    def __len__(self) -> int:
        return len(self._by_name)

    def get(self, name: str, trigger_type: TriggerType | None = None) -> FunctionSpec:
        """Function ``name`` (optionally of a trigger type) or UnknownFunctionError."""
        spec = self._by_name.get(name)
        if spec is None or (trigger_type is not None and spec.trigger_type != trigger_type):
            kind = f" {trigger_type.value}" if trigger_type else ""
            raise UnknownFunctionError(f"no{kind} function named {name!r} in the app")
        return spec

    def specs(self) -> list[FunctionSpec]:
        """Every function of the app."""
        return list(self._by_name.values())

    def of_type(self, trigger_type: TriggerType) -> list[FunctionSpec]:
        """All functions with the given trigger type, in registration order."""
        return [s for s in self._by_name.values() if s.trigger_type == trigger_type]


def _spec_of(function: func.Function) -> FunctionSpec:
    name = str(function.get_function_name())
    trigger = function.get_trigger()
    if trigger is None:
        raise AppLoadError(f"{name}: function has no trigger")
    trigger_dict = trigger.get_dict_repr()
    trigger_type = str(trigger_dict.get("type"))
    if trigger_type not in SUPPORTED_TRIGGERS:
        raise AppLoadError(
            f"{name}: trigger type {trigger_type!r} is not supported by devhost "
            f"(supported: {', '.join(sorted(SUPPORTED_TRIGGERS))})"
        )
    bindings = [b.get_dict_repr() for b in function.get_bindings()]
    for binding in bindings:
        btype = str(binding.get("type"))
        if binding is trigger_dict or btype == trigger_type:
            continue
        if btype not in SUPPORTED_BINDINGS:
            raise AppLoadError(
                f"{name}: binding {binding.get('name')!r} of type {btype!r} is not supported by "
                f"devhost (supported: {', '.join(sorted(SUPPORTED_BINDINGS))})"
            )
    user_function = function.get_user_function()
    _check_parameters(name, user_function, bindings)
    _check_with_worker(function)
    retry = function.get_settings_dict("retry_policy")
    return FunctionSpec(
        name=name,
        trigger_type=TriggerType(trigger_type),
        trigger=trigger_dict,
        bindings=bindings,
        user_function=user_function,
        function=function,
        retry=None if retry is None else RetryPolicy.from_setting(retry, function=name),
    )


def _check_parameters(
    name: str, user_function: Callable[..., Any], bindings: list[dict[str, Any]]
) -> None:
    """Every parameter is a binding and every input binding a parameter, except ``context``."""
    params = set(inspect.signature(user_function).parameters)
    bound = {str(b["name"]) for b in bindings if b["name"] != "$return"}
    if "context" in params and "context" not in bound:
        params.discard("context")
    missing = params - bound
    if missing:
        raise AppLoadError(
            f"{name}: parameters {sorted(missing)} are declared in Python but not in the "
            "function decorators"
        )
    extra = bound - params
    if extra:
        raise AppLoadError(
            f"{name}: bindings {sorted(extra)} are declared in the decorators but are not "
            "parameters of the Python function"
        )


class _BindingInfo:
    # The worker compares directions against its protobuf enum; these are the same numbers.
    inout = 2
    out = 1
    undefined = None


class _Protos:
    BindingInfo = _BindingInfo


def _check_with_worker(function: func.Function) -> None:
    """Run the real worker's parameter/annotation check when its package is installed."""
    try:
        from azure_functions_runtime.bindings import meta as worker_meta
        from azure_functions_runtime.functions import FunctionLoadError
        from azure_functions_runtime.functions import Registry as WorkerRegistry
    except ImportError:
        log.debug("azure_functions_runtime not installed; using devhost's own parameter check")
        return
    if worker_meta.BINDING_REGISTRY is None:
        # The worker loads its converter registry at start-up, before indexing.
        worker_meta.load_binding_registry()
    try:
        WorkerRegistry().add_indexed_function(function=function, protos=_Protos)
    except FunctionLoadError as err:
        raise AppLoadError(f"{function.get_function_name()}: {err}") from err
