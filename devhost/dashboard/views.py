"""Server-rendered pages: instance list with filters, instance detail with history and actions."""

from __future__ import annotations

import html
import json
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from aiohttp import web

from devhost.durable.history import EventType, parse_time
from devhost.durable.store import TERMINAL, Instance, RuntimeStatus
from devhost.errors import DevhostError

if TYPE_CHECKING:
    from devhost.host import DevHost

__all__ = ["add_dashboard_routes", "duration_text"]

_STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5rem;color:#1b1f24}
h1{font-size:1.3rem} table{border-collapse:collapse;width:100%;font-size:.85rem}
th,td{border-bottom:1px solid #d0d7de;padding:.35rem .5rem;text-align:left;vertical-align:top}
th{background:#f6f8fa} .Completed{color:#1a7f37}.Failed{color:#cf222e}.Running{color:#0969da}
.Terminated{color:#9a6700}.Pending{color:#6e7781}
pre{background:#f6f8fa;padding:.5rem;overflow:auto;max-height:16rem}
form.inline{display:inline} button{margin-right:.5rem} nav a{margin-right:1rem}
"""


def _page(title: str, body: str) -> web.Response:
    doc = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{_STYLE}</style></head><body><nav><a href='/dashboard'>Orchestrations</a>"
        f"<a href='/dashboard/deadletters'>Dead letters</a></nav>{body}</body></html>"
    )
    return web.Response(text=doc, content_type="text/html")


def duration_text(inst: Instance, now: datetime) -> str:
    """Run time so far (running) or in total (finished), as h:mm:ss.fff."""
    start = parse_time(inst.created_at)
    end = parse_time(inst.updated_at) if inst.status in TERMINAL else now
    seconds = max(0.0, (end - start).total_seconds())
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{int(hours)}:{int(minutes):02d}:{secs:06.3f}"


def _json_block(text: str | None) -> str:
    if text is None:
        return "<pre>null</pre>"
    try:
        pretty = json.dumps(json.loads(text), indent=2)
    except json.JSONDecodeError:
        pretty = text
    return f"<pre>{html.escape(pretty)}</pre>"


def _short(text: str | None, limit: int = 60) -> str:
    value = "" if text is None else text
    return html.escape(value if len(value) <= limit else value[: limit - 1] + "…")


def add_dashboard_routes(app: web.Application, host: DevHost) -> None:
    """Register /dashboard pages and actions."""

    async def index(request: web.Request) -> web.Response:
        status = request.query.get("status", "")
        name = request.query.get("name", "")
        statuses = [status] if status else None
        items = host.engine.query(statuses=statuses, name=name or None, limit=500)
        now = host.clock.now()
        options = "".join(
            f"<option value='{s.value}'{' selected' if s.value == status else ''}>"
            f"{s.value}</option>"
            for s in RuntimeStatus
        )
        rows = "".join(
            f"<tr class='instance-row' data-status='{i.status.value}'>"
            f"<td>{html.escape(i.name)}</td>"
            f"<td><a href='/dashboard/instances/{quote(i.instance_id, safe='')}'>"
            f"{html.escape(i.instance_id)}</a></td>"
            f"<td class='{i.status.value}'>{i.status.value}</td>"
            f"<td>{_short(i.custom_status)}</td><td>{html.escape(i.created_at)}</td>"
            f"<td>{html.escape(i.updated_at)}</td><td>{duration_text(i, now)}</td></tr>"
            for i in items
        )
        body = (
            "<h1>Orchestration instances</h1>"
            "<form id='filters' method='get' action='/dashboard'>"
            "<label>Status <select name='status'><option value=''>any</option>"
            f"{options}</select></label> "
            f"<label>Name <input name='name' value='{html.escape(name)}'></label> "
            "<button type='submit'>Filter</button></form>"
            f"<p id='count'>{len(items)} instance(s)</p>"
            "<table id='instances'><thead><tr><th>Name</th><th>Instance id</th><th>Status</th>"
            "<th>Custom status</th><th>Created</th><th>Updated</th><th>Duration</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>"
        )
        return _page("devhost - orchestrations", body)

    async def detail(request: web.Request) -> web.Response:
        instance_id = request.match_info["instance_id"]
        inst = host.engine.get_instance(instance_id)
        if inst is None:
            return _page("not found", f"<h1>No instance {html.escape(instance_id)}</h1>")
        history = host.engine.get_history(instance_id)
        children = host.engine.children(instance_id)
        qid = quote(instance_id, safe="")
        hist_rows = "".join(_history_row(n, e) for n, e in enumerate(history, start=1))
        child_rows = (
            "".join(
                f"<li><a href='/dashboard/instances/{quote(c.instance_id, safe='')}'>"
                f"{html.escape(c.instance_id)}</a> {html.escape(c.name)} "
                f"<span class='{c.status.value}'>{c.status.value}</span></li>"
                for c in children
            )
            or "<li>none</li>"
        )
        parent = (
            f"<p>Parent: <a href='/dashboard/instances/{quote(inst.parent_instance_id, safe='')}'>"
            f"{html.escape(inst.parent_instance_id)}</a></p>"
            if inst.parent_instance_id
            else ""
        )
        buttons = "".join(
            f"<form class='inline' method='post' action='/dashboard/instances/{qid}/{action}'>"
            f"<button id='{action}' type='submit'>{label}</button></form>"
            for action, label in (
                ("terminate", "Terminate"),
                ("purge", "Purge"),
                ("restart", "Restart"),
            )
        )
        body = (
            f"<h1>{html.escape(inst.name)} "
            f"<small id='instance-id'>{html.escape(inst.instance_id)}</small></h1>"
            f"<p>Status: <b id='status' class='{inst.status.value}'>{inst.status.value}</b>"
            " · created "
            f"{html.escape(inst.created_at)} · updated {html.escape(inst.updated_at)} · duration "
            f"{duration_text(inst, host.clock.now())}</p>{parent}<div id='actions'>{buttons}</div>"
            f"<h2>Custom status</h2>{_json_block(inst.custom_status)}"
            f"<h2>Input</h2>{_json_block(inst.input)}<h2>Output</h2>{_json_block(inst.output)}"
            f"<h2>Sub-orchestrations</h2><ul id='children'>{child_rows}</ul>"
            "<h2>History</h2><table id='history'><thead><tr><th>#</th><th>Event</th><th>Id</th>"
            f"<th>Name</th><th>Timestamp</th><th>Detail</th></tr></thead><tbody>{hist_rows}</tbody></table>"
        )
        return _page(f"devhost - {inst.instance_id}", body)

    async def action(request: web.Request) -> web.StreamResponse:
        instance_id = request.match_info["instance_id"]
        verb = request.match_info["action"]
        target = f"/dashboard/instances/{quote(instance_id, safe='')}"
        try:
            if verb == "terminate":
                host.engine.terminate(instance_id, "terminated from the dashboard")
            elif verb == "purge":
                host.engine.purge(instance_id)
                target = "/dashboard?" + urlencode({"purged": instance_id})
            elif verb == "restart":
                new_id = host.engine.restart(instance_id)
                target = f"/dashboard/instances/{quote(new_id, safe='')}"
            else:
                return web.Response(status=404, text=f"unknown action {verb}")
        except DevhostError as err:
            return _page(
                "error", f"<h1>Cannot {html.escape(verb)}</h1><p>{html.escape(str(err))}</p>"
            )
        raise web.HTTPSeeOther(target)

    async def deadletters(request: web.Request) -> web.Response:
        rows = "".join(
            f"<tr><td>{d.deadletter_id}</td><td>{html.escape(d.source)}</td><td>{html.escape(d.function)}</td>"
            f"<td>{d.attempts}</td><td>{html.escape(d.error)}</td><td>{html.escape(d.created_at)}</td>"
            f"<td>{_short(d.payload, 120)}</td></tr>"
            for d in host.queue.dead_letters(500)
        )
        body = (
            "<h1>Dead letters</h1><table id='deadletters'><thead><tr><th>#</th><th>Source</th>"
            "<th>Function</th><th>Attempts</th><th>Error</th><th>At</th><th>Payload</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>"
        )
        return _page("devhost - dead letters", body)

    async def root(request: web.Request) -> web.StreamResponse:
        raise web.HTTPFound("/dashboard")

    app.router.add_get("/", root)
    app.router.add_get("/dashboard", index)
    app.router.add_get("/dashboard/", index)
    app.router.add_get("/dashboard/deadletters", deadletters)
    app.router.add_get("/dashboard/instances/{instance_id}", detail)
    app.router.add_post("/dashboard/instances/{instance_id}/{action}", action)


def _history_row(number: int, event: dict[str, Any]) -> str:
    try:
        kind = EventType(event["EventType"]).name
    except ValueError:
        kind = str(event["EventType"])
    ident = event.get("EventId", -1)
    for key in ("TaskScheduledId", "TimerId"):
        if key in event:
            ident = event[key]
    detail = (
        event.get("Result")
        or event.get("Reason")
        or event.get("Input")
        or event.get("FireAt")
        or ""
    )
    return (
        f"<tr><td>{number}</td><td>{kind}</td><td>{'' if ident == -1 else ident}</td>"
        f"<td>{html.escape(str(event.get('Name') or event.get('InstanceId') or ''))}</td>"
        f"<td>{html.escape(str(event.get('Timestamp', '')))}</td>"
        f"<td>{_short(str(detail), 100)}</td></tr>"
    )
