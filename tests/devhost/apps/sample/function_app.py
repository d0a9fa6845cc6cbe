"""A small v2-model Durable Functions app that exercises every trigger devhost hosts.

Functions record what they saw in the file named by ``SAMPLE_APP_OUT`` (one JSON line each), so
that tests in another process can check what ran and how often.
"""

from __future__ import annotations

import json
import os
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)

# Flipped by the non-determinism test between two replays of the same instance.
REPLAY_VARIANT = {"activity": "say_hello"}


def record(kind: str, **fields: Any) -> None:
    """Append one JSON line describing an invocation to the file named by SAMPLE_APP_OUT."""
    out = os.environ.get("SAMPLE_APP_OUT")
    if not out:
        return
    with Path(out).open("a", encoding="utf-8") as fh:
        fh.write(json.dumps({"kind": kind, "pid": os.getpid(), **fields}) + "\n")


# --- activities -------------------------------------------------------------------------------


@app.activity_trigger(input_name="name")
def say_hello(name: str) -> str:
    """Greet."""
    return f"Hello {name}"


@app.activity_trigger(input_name="n")
def square(n: int) -> int:
    """Square a number."""
    return n * n


@app.activity_trigger(input_name="item")
def slow_item(item: dict) -> int:
    """Record start and end around a short sleep, for the crash/resume test."""
    record("start", i=item["i"])
    time.sleep(float(item.get("sleep", 0.05)))
    record("end", i=item["i"])
    return int(item["i"])


@app.activity_trigger(input_name="spec")
def flaky(spec: dict) -> str:
    """Fail the first ``fail_times`` calls (counted in a file), then succeed."""
    counter = Path(spec["counter"])
    calls = int(counter.read_text()) + 1 if counter.exists() else 1
    counter.write_text(str(calls))
    if calls <= int(spec["fail_times"]):
        raise RuntimeError(f"flaky failure {calls}")
    return f"ok after {calls}"


@app.activity_trigger(input_name="n")
def burn_cpu(n: int) -> int:
    """CPU-bound loop that holds the GIL; used to show activities run in parallel processes."""
    started = time.time()
    total = 0
    for i in range(n):
        total += i * i % 7
    record("cpu", start=started, end=time.time())
    return total


@app.activity_trigger(input_name="x")
def noop(x: Any) -> Any:
    """Return the input (benchmark)."""
    return x


@app.activity_trigger(input_name="code")
def dies(code: int) -> None:
    """Kill the process that runs it (a crashing native library, an OOM kill)."""
    os._exit(code)


@app.orchestration_trigger(context_name="context")
def calls_dying_activity(context: df.DurableOrchestrationContext):  # type: ignore[no-untyped-def]
    """One activity kills its worker process; the next one must still run."""
    try:
        yield context.call_activity("dies", 3)
    except Exception as err:  # noqa: BLE001 - the failure is the result under test
        first = str(err)
    after = yield context.call_activity("say_hello", "survivor")
    return {"first": first, "after": after}


@app.activity_trigger(input_name="payload")
def takes_anything(payload: Any) -> str:
    """Used with an input that the activity converter cannot decode."""
    return repr(payload)


# --- orchestrators ----------------------------------------------------------------------------


@app.orchestration_trigger(context_name="context")
def hello_seq(context: df.DurableOrchestrationContext):  # type: ignore[no-untyped-def]
    """Three activities in sequence."""
    names = context.get_input() or ["Tokyo", "Seattle", "London"]
    results = []
    for name in names:
        result = yield context.call_activity(REPLAY_VARIANT["activity"], name)
        results.append(result)
    return results


@app.orchestration_trigger(context_name="context")
def fan_out(context: df.DurableOrchestrationContext):  # type: ignore[no-untyped-def]
    """Fan out ``n`` activities of ``activity`` and sum the results."""
    spec = context.get_input()
    activity = spec.get("activity", "square")
    tasks = [context.call_activity(activity, i) for i in range(int(spec["n"]))]
    results = yield context.task_all(tasks)
    return sum(results)


@app.orchestration_trigger(context_name="context")
def cpu_pair(context: df.DurableOrchestrationContext):  # type: ignore[no-untyped-def]
    """Two CPU-bound activities at once."""
    n = context.get_input()
    results = yield context.task_all([context.call_activity("burn_cpu", n) for _ in range(2)])
    return results


@app.orchestration_trigger(context_name="context")
def slow_fan_out(context: df.DurableOrchestrationContext):  # type: ignore[no-untyped-def]
    """Fan out slow_item activities (crash/resume test)."""
    spec = context.get_input()
    tasks = [
        context.call_activity("slow_item", {"i": i, "sleep": spec.get("sleep", 0.05)})
        for i in range(int(spec["n"]))
    ]
    results = yield context.task_all(tasks)
    return sorted(results)


@app.orchestration_trigger(context_name="context")
def with_retry(context: df.DurableOrchestrationContext):  # type: ignore[no-untyped-def]
    """Call flaky with retry; the orchestration fails when the attempts run out."""
    spec = context.get_input()
    options = df.RetryOptions(first_retry_interval_in_milliseconds=5000, max_number_of_attempts=3)
    first = yield context.call_activity("say_hello", "before")
    result = yield context.call_activity_with_retry("flaky", options, spec)
    after = yield context.call_activity("say_hello", "after")
    return [first, result, after]


@app.orchestration_trigger(context_name="context")
def parent(context: df.DurableOrchestrationContext):  # type: ignore[no-untyped-def]
    """Sub-orchestrations: one plain, one with retry, one with an explicit id."""
    spec = context.get_input() or {}
    a = yield context.call_sub_orchestrator("hello_seq", ["A"])
    b = yield context.call_sub_orchestrator("hello_seq", ["B"], instance_id="child-b")
    c = None
    if "flaky" in spec:
        options = df.RetryOptions(1000, 3)
        c = yield context.call_sub_orchestrator_with_retry("flaky_orch", options, spec["flaky"])
    return {"a": a, "b": b, "c": c}


@app.orchestration_trigger(context_name="context")
def flaky_orch(context: df.DurableOrchestrationContext):  # type: ignore[no-untyped-def]
    """Orchestration that fails as long as its flaky activity fails (no retry inside)."""
    result = yield context.call_activity("flaky", context.get_input())
    return result


@app.orchestration_trigger(context_name="context")
def sleeper(context: df.DurableOrchestrationContext):  # type: ignore[no-untyped-def]
    """Wait on a durable timer for an hour."""
    start = context.current_utc_datetime
    yield context.create_timer(start + timedelta(hours=1))
    return {"slept_from": start.isoformat(), "woke_at": context.current_utc_datetime.isoformat()}


@app.orchestration_trigger(context_name="context")
def approval(context: df.DurableOrchestrationContext):  # type: ignore[no-untyped-def]
    """Wait for 'approve' or time out after a day."""
    context.set_custom_status("waiting for approval")
    event = context.wait_for_external_event("approve")
    timeout = context.create_timer(context.current_utc_datetime + timedelta(days=1))
    winner = yield context.task_any([event, timeout])
    if winner == event:
        context.set_custom_status("approved")
        return {"approved": winner.result}
    context.set_custom_status("timed out")
    return {"approved": None}


@app.orchestration_trigger(context_name="context")
def two_events(context: df.DurableOrchestrationContext):  # type: ignore[no-untyped-def]
    """Wait for two named events (task_all) and return both payloads."""
    a = context.wait_for_external_event("a")
    b = context.wait_for_external_event("b")
    results = yield context.task_all([a, b])
    return results


@app.orchestration_trigger(context_name="context")
def counter(context: df.DurableOrchestrationContext):  # type: ignore[no-untyped-def]
    """continue_as_new until the count reaches 3."""
    count = context.get_input() or 0
    yield context.call_activity("square", count)
    if count < 3:
        context.continue_as_new(count + 1)
        return None
    return count


@app.orchestration_trigger(context_name="context")
def stamps(context: df.DurableOrchestrationContext):  # type: ignore[no-untyped-def]
    """Custom status, new_uuid and current_utc_datetime must be replay-stable."""
    first = context.new_uuid()
    now = context.current_utc_datetime.isoformat()
    context.set_custom_status({"step": 1, "uuid": first})
    yield context.call_activity("say_hello", "x")
    second = context.new_uuid()
    context.set_custom_status({"step": 2})
    return {"uuids": [first, second], "started": now}


@app.orchestration_trigger(context_name="context")
def explodes(context: df.DurableOrchestrationContext):  # type: ignore[no-untyped-def]
    """Raise after one activity."""
    yield context.call_activity("say_hello", "doomed")
    raise ValueError("orchestrator exploded on purpose")


@app.orchestration_trigger(context_name="context")
def calls_failing_activity(context: df.DurableOrchestrationContext):  # type: ignore[no-untyped-def]
    """Call flaky without retry so that its failure surfaces in the orchestration."""
    result = yield context.call_activity("flaky", context.get_input())
    return result


@app.orchestration_trigger(context_name="context")
def bad_activity_input(context: df.DurableOrchestrationContext):  # type: ignore[no-untyped-def]
    """Send an input envelope that names a class no module defines (input: its JSON text)."""
    envelope = json.loads(context.get_input())
    result = yield context.call_activity("takes_anything", envelope)
    return result


@app.orchestration_trigger(context_name="context")
def unknown_activity(context: df.DurableOrchestrationContext):  # type: ignore[no-untyped-def]
    """Call an activity the app does not define."""
    result = yield context.call_activity("no_such_activity", 1)
    return result


# --- HTTP -------------------------------------------------------------------------------------


@app.route(route="orchestrators/{name}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def http_start(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    """Start an orchestration and answer with the check-status response."""
    body = req.get_body()
    payload = json.loads(body) if body else None
    instance_id = await client.start_new(req.route_params["name"], None, payload)
    return client.create_check_status_response(req, instance_id)


@app.route(route="manage/{instance_id}/{action}", methods=["POST", "GET", "DELETE"])
@app.durable_client_input(client_name="client")
async def http_manage(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    """Drive the rest of the durable client API from HTTP (status, raise, terminate, purge)."""
    instance_id = req.route_params["instance_id"]
    action = req.route_params["action"]
    if action == "status":
        status = await client.get_status(instance_id, show_history=True)
        return func.HttpResponse(
            json.dumps(status.to_json(), default=str), mimetype="application/json"
        )
    if action == "raise":
        await client.raise_event(instance_id, req.params["event"], req.get_json())
    elif action == "terminate":
        await client.terminate(instance_id, "stopped by test")
    elif action == "purge":
        result = await client.purge_instance_history(instance_id)
        return func.HttpResponse(json.dumps({"deleted": result.instances_deleted}))
    return func.HttpResponse("done", status_code=202)


@app.route(route="items/{item_id:int}", methods=["GET"])
def get_item(req: func.HttpRequest) -> func.HttpResponse:
    """Function-level route with an int route parameter."""
    item_id = req.route_params["item_id"]
    return func.HttpResponse(json.dumps({"id": int(item_id), "q": req.params.get("q")}))


@app.route(route="public/{*rest}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def public(req: func.HttpRequest) -> func.HttpResponse:
    """Anonymous catch-all route."""
    return func.HttpResponse(req.route_params.get("rest", ""))


@app.route(route="boom", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def boom(req: func.HttpRequest) -> func.HttpResponse:
    """An HTTP function that raises."""
    raise RuntimeError("http function exploded on purpose")


# --- events -----------------------------------------------------------------------------------


@app.event_grid_trigger(arg_name="event")
@app.durable_client_input(client_name="client")
async def on_manifest(event: func.EventGridEvent, client: df.DurableOrchestrationClient) -> None:
    """Start hello_seq for a manifest; the instance id comes from the blob path."""
    subject = event.subject
    record("eventgrid", subject=subject, id=event.id, type=event.event_type)
    instance_id = "ingest-" + subject.rsplit("/blobs/", 1)[-1].replace("/", "_")
    existing = await client.get_status(instance_id)
    if existing and existing.runtime_status is not None:
        return
    await client.start_new("hello_seq", instance_id, ["manifest"])


@app.event_grid_trigger(arg_name="event")
def on_cloud_event(event: func.EventGridEvent) -> None:
    """CloudEvents subscription: record what arrived."""
    record("cloudevent", subject=event.subject, id=event.id)


@app.event_grid_trigger(arg_name="event")
def rejects_events(event: func.EventGridEvent) -> None:
    """Always raises, so its events end up dead-lettered."""
    raise RuntimeError(f"cannot take {event.subject}")


@app.timer_trigger(schedule="0 */5 * * * *", arg_name="timer", run_on_startup=False)
def every_five_minutes(timer: func.TimerRequest) -> None:
    """Record each firing."""
    record("timer", past_due=timer.past_due)


@app.cosmos_db_trigger(
    arg_name="docs",
    container_name="datastreams",
    database_name="avops",
    connection="COSMOS_CONNECTION",
    lease_container_name="leases",
)
def on_datastream_change(docs: func.DocumentList) -> None:
    """Record the ids of changed datastreams."""
    for doc in docs:
        if doc.get("poison"):
            raise RuntimeError(f"poison document {doc['id']}")
        record("change", id=doc["id"], state=doc.get("state"))
