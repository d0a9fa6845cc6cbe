"""``avops show ID``, ``avops lineage ID``: the Metadata API from a shell (the searches: search.py).

They call the HTTP API (devhost locally, the Function App in Azure) through
:class:`avops.client.ApiClient`: base URL from
``--url`` / ``AVOPS_API_URL``, key from ``--key`` / ``AVOPS_API_KEY``. Output is a rich table,
or the API's JSON with ``--json``. These are CLI variables, not app settings.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from rich.tree import Tree

from avops.cli import app
from avops.cli.api_session import api_session, print_json
from avops.client import ApiCallError

__all__ = ["lineage", "show"]

# None: the running local platform's URL (.avops/connection.json), else http://localhost:7071.
DEFAULT_URL: str | None = None

Url = Annotated[
    str | None,
    typer.Option(
        "--url",
        envvar="AVOPS_API_URL",
        help="Base URL of the app, without /api (default: the local platform of `avops dev`).",
        show_default=False,
    ),
]
Key = Annotated[
    str | None,
    typer.Option(
        "--key", envvar="AVOPS_API_KEY", help="API key (x-functions-key).", show_default=False
    ),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print the API's JSON instead of a table.")]
Limit = Annotated[int, typer.Option(help="Page size (1-1000).")]
Continuation = Annotated[str | None, typer.Option(help="Token of the next page.")]
WaitTimeout = Annotated[float, typer.Option(help="How long --wait waits.")]


def _call(url: str | None, key: str | None, path: str, params: dict[str, Any] | None = None) -> Any:
    with api_session(url, key) as api:
        return api.get(path, params)


def _print_page(
    page: dict[str, Any],
    *,
    as_json: bool,
    columns: tuple[str, ...],
    row: Callable[[dict[str, Any]], list[str]],
) -> None:
    """One page of a search: JSON as is, or a table of ``row(item)`` and the next page's token."""
    if as_json:
        print_json(page)
        return
    table = Table(*columns)
    for item in page["items"]:
        table.add_row(*row(item))
    console = Console()
    console.print(table)
    if page.get("continuation"):
        console.print(f"more: --continuation {page['continuation']}")


@app.command()
def show(
    item_id: Annotated[str, typer.Argument(metavar="ID", help="A measurement or datastream id.")],
    *,
    url: Url = DEFAULT_URL,
    key: Key = None,
    as_json: AsJson = False,
) -> None:
    """Show a measurement with its datastreams (or, if no measurement has ID, a datastream)."""
    with api_session(url, key) as api:
        try:
            detail = api.get(f"/measurements/{item_id}")
            kind = "measurement"
        except ApiCallError as err:
            if err.status != 404:
                raise
            detail = api.get(f"/datastreams/{item_id}")
            kind = "datastream"
    if as_json:
        print_json(detail)
        return
    console = Console()
    if kind == "datastream":
        _print_fields(
            console,
            detail,
            [
                "id",
                "measurement_id",
                "type",
                "state",
                "state_reason",
                "zone",
                "path",
                "sources",
                "file_count",
                "updated_at",
            ],
        )
        return
    measurement = detail["measurement"]
    _print_fields(
        console,
        measurement,
        ["id", "vehicle_id", "recording_start", "recording_end", "state", "tags", "upload_prefix"],
    )
    table = Table("datastream", "type", "state", "zone", "path", "files", "updated")
    for item in detail["datastreams"]:
        table.add_row(
            item["id"],
            item["type"],
            item["state"],
            item["zone"],
            item["path"],
            str(item["file_count"]),
            item["updated_at"],
        )
    console.print(table)


def _print_fields(console: Console, document: dict[str, Any], names: list[str]) -> None:
    for name in names:
        value = document.get(name)
        shown = ", ".join(map(str, value)) if isinstance(value, list) else value
        console.print(f"[bold]{name:<16}[/bold] {'-' if shown in (None, '') else shown}")


@app.command()
def lineage(
    datastream_id: Annotated[str, typer.Argument(metavar="ID", help="A datastream id.")],
    *,
    direction: Annotated[str, typer.Option(help="up, down or both.")] = "both",
    depth: Annotated[int, typer.Option(help="Levels to walk (0-32).")] = 8,
    url: Url = DEFAULT_URL,
    key: Key = None,
    as_json: AsJson = False,
) -> None:
    """Show what a datastream was made from and what was made from it."""
    graph = _call(
        url, key, f"/datastreams/{datastream_id}/lineage", {"direction": direction, "depth": depth}
    )
    if as_json:
        print_json(graph)
        return
    nodes = {node["id"]: node for node in graph["nodes"]}
    console = Console()
    table = Table("datastream", "type", "state", "measurement", "step", "relation")
    root = graph["root"]
    sources = {edge["source"] for edge in graph["edges"]}
    for node_id, node in nodes.items():
        relation = (
            "root" if node_id == root else ("upstream" if node_id in sources else "downstream")
        )
        table.add_row(
            node_id,
            node["type"],
            node["state"],
            node["measurement_id"],
            node["producer"]["step"],
            relation,
        )
    console.print(table)
    tree = Tree(f"[bold]{root}[/bold]")
    _grow(tree, root, graph["edges"], seen={root})
    console.print(tree)
    if graph.get("truncated"):
        console.print(f"(stopped at depth {graph['depth']}; more lineage beyond)")


def _grow(tree: Tree, node_id: str, edges: list[dict[str, str]], seen: set[str]) -> None:
    # Downstream under the root, each branch once (the graph is a DAG; seen guards diamonds).
    for edge in edges:
        if edge["source"] == node_id and edge["target"] not in seen:
            seen.add(edge["target"])
            _grow(tree.add(f"-> {edge['target']}"), edge["target"], edges, seen)
        elif edge["target"] == node_id and edge["source"] not in seen:
            seen.add(edge["source"])
            _grow(tree.add(f"<- {edge['source']}"), edge["source"], edges, seen)
