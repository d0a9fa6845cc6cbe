"""The Event Grid subscription in Bicep and the subscriptions file devhost reads describe the
same filter, for a function that exists in the app and takes Event Grid events."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import pytest

from dataops.events import MANIFEST_APIS
from devhost.events.subscriptions import BLOB_CREATED, Subscription, load_subscriptions
from tests.infra.bicep_source import BicepFile

ROOT = Path(__file__).resolve().parents[2]
EVENTGRID = ROOT / "infra" / "modules" / "eventgrid.bicep"
SUBSCRIPTIONS = ROOT / "infra" / "eventgrid-subscriptions.json"
# Where `avops dev` looks by default; when someone checks a file in there it must agree too.
DEVHOST_DEFAULT = ROOT / "devhost" / "subscriptions.json"
_SUBJECT_PREFIX = re.compile(r"^/blobServices/default/containers/(?P<container>[a-z0-9-]+)/blobs/$")


def _bicep() -> tuple[str, str, dict[str, Any]]:
    template = BicepFile.read(EVENTGRID)
    name, function, flt = (
        template.var("subscriptionName"),
        template.var("targetFunction"),
        template.var("manifestFilter"),
    )
    assert isinstance(name, str) and isinstance(function, str) and isinstance(flt, dict)
    return name, function, flt


def _devhost_entry(path: Path, function: str) -> Subscription:
    entries = [s for s in load_subscriptions(path) if s.function == function]
    assert len(entries) == 1, f"{path.name}: expected one subscription for {function}"
    return entries[0]


def _files() -> list[Path]:
    return [p for p in (SUBSCRIPTIONS, DEVHOST_DEFAULT) if p.is_file()]


@pytest.mark.parametrize("path", _files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_devhost_file_and_bicep_describe_the_same_subscription(path: Path) -> None:
    name, function, flt = _bicep()
    local = _devhost_entry(path, function)
    assert local.name == name
    assert local.subject_begins_with == flt["subjectBeginsWith"]
    assert local.subject_ends_with == flt["subjectEndsWith"]
    assert local.included_event_types == flt["includedEventTypes"]
    assert local.case_sensitive == flt["isSubjectCaseSensitive"]
    assert local.schema_ == "EventGridSchema"
    prefix = _SUBJECT_PREFIX.match(flt["subjectBeginsWith"])
    assert prefix, f"subjectBeginsWith does not name one container: {flt['subjectBeginsWith']}"
    assert local.container == prefix["container"]
    bicep_filters = [
        {k: v for k, v in f.items() if k in {"operatorType", "key", "values", "value"}}
        for f in flt["advancedFilters"]
    ]
    local_filters = [f.model_dump(by_alias=True, exclude_none=True) for f in local.advanced_filters]
    assert local_filters == bicep_filters


def test_filter_is_a_manifest_write_in_landing() -> None:
    _, _, flt = _bicep()
    assert flt["subjectBeginsWith"] == "/blobServices/default/containers/landing/blobs/"
    assert flt["subjectEndsWith"] == "/manifest.json"
    assert flt["includedEventTypes"] == [BLOB_CREATED]
    api = next(f for f in flt["advancedFilters"] if f["key"] == "data.api")
    assert api["operatorType"] == "StringIn"
    assert set(api["values"]) == set(MANIFEST_APIS), "keep in step with dataops.events"


def test_devhost_applies_the_filter_like_azure() -> None:
    """The shared filter lets a finished manifest through and nothing else."""
    _, function, _ = _bicep()
    sub = _devhost_entry(SUBSCRIPTIONS, function)

    def event(path: str, api: str = "PutBlob", size: int = 10) -> dict[str, Any]:
        return {
            "subject": f"/blobServices/default/containers/landing/blobs/{path}",
            "eventType": BLOB_CREATED,
            "data": {"api": api, "contentLength": size},
        }

    assert sub.accepts("landing", event("up/2026/manifest.json"))
    assert sub.accepts("landing", event("up/manifest.json", api="FlushWithClose"))
    assert not sub.accepts("landing", event("up/drive.bag"))
    assert not sub.accepts("landing", event("up/manifest.json", api="CreateFile", size=0))
    assert not sub.accepts("landing", event("up/manifest.json", size=0))
    assert not sub.accepts("raw", event("up/manifest.json"))


def _event_grid_functions() -> set[str]:
    """Functions in function_app/ decorated with an Event Grid trigger (read, not imported:
    app.get_functions() may run only once per process, and other tests index the app)."""
    names = set()
    for path in sorted((ROOT / "function_app").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            attrs = {}
            for decorator in node.decorator_list:
                call = decorator.func if isinstance(decorator, ast.Call) else decorator
                if isinstance(call, ast.Attribute):
                    attrs[call.attr] = decorator
            if "event_grid_trigger" in attrs:
                # @bp.function_name("x") renames the function the host (and Event Grid) sees.
                renamed = attrs.get("function_name")
                if isinstance(renamed, ast.Call) and renamed.args:
                    names.add(ast.literal_eval(renamed.args[0]))
                else:
                    names.add(node.name)
    return names


def test_target_function_exists_and_takes_event_grid_events() -> None:
    _, function, _ = _bicep()
    assert function in _event_grid_functions(), (
        f"function_app has no Event Grid triggered function {function!r}"
    )


def test_subscription_has_retries_and_a_dead_letter_destination() -> None:
    template = BicepFile.read(EVENTGRID)
    props = template.block_property(
        template.named("resource")["manifestSubscription"], "properties"
    )
    assert props["destination"]["endpointType"] == "AzureFunction"
    assert set(props["retryPolicy"]) == {"maxDeliveryAttempts", "eventTimeToLiveInMinutes"}
    dead_letter = props["deadLetterWithResourceIdentity"]
    assert dead_letter["deadLetterDestination"]["endpointType"] == "StorageBlob"
    # The error account denies public access: only a topic's system-assigned identity passes
    # its trusted-service exception (a user-assigned one would be refused).
    assert dead_letter["identity"] == {"type": "SystemAssigned"}
    topic = template.block_property(template.named("resource")["systemTopic"], "identity")
    assert topic == {"type": "SystemAssigned"}
