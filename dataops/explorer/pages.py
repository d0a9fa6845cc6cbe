"""The explorer's pages, rendered from already-read data (no I/O here)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from dataops.explorer.html import (
    BASE,
    data_block,
    e,
    link,
    page,
    path_id,
    query,
    scene_clip_url,
    table,
    table_of_rows,
)
from dataops.explorer.labeling import ExportSummary
from dataops.explorer.models import Box
from dataops.models import Datastream, Measurement

__all__ = [
    "FileLink",
    "SearchHit",
    "catalog_page",
    "clip_control",
    "drive_page",
    "labeling_page",
    "lineage_elements",
    "measurement_page",
    "search_page",
]


def _when(value: datetime | None) -> str:
    """``YYYY-MM-DD HH:MM:SS`` in UTC: digits, '-', ':' and a space, nothing to escape."""
    return value.astimezone(UTC).isoformat(sep=" ", timespec="seconds")[:19] if value else ""


def _input(name: str, label: str, value: object, kind: str = "text") -> str:
    return (
        f"<label>{e(label)} <input type='{kind}' name='{e(name)}' value='{e(value or '')}'></label>"
    )


def _filter_inputs(filters: Mapping[str, Any], *fields: tuple[str, str]) -> str:
    """A text input per (name, label) of the filter form, showing the filter's current value."""
    return "".join(_input(name, label, filters.get(name)) for name, label in fields)


def _select(name: str, label: str, value: object, options: Sequence[tuple[str, str]]) -> str:
    rendered = "".join(
        f"<option value='{e(v)}'{' selected' if str(value or '') == v else ''}>{e(t)}</option>"
        for v, t in options
    )
    return f"<label>{e(label)} <select name='{e(name)}'>{rendered}</select></label>"


def _labeled_select(filters: Mapping[str, Any]) -> str:
    """The "Labeled" filter of the catalog and search forms: any, yes or no."""
    value = filters.get("labeled")
    chosen = "" if value is None else str(value).lower()
    return _select("labeled", "Labeled", chosen, (("", "any"), ("true", "yes"), ("false", "no")))


def _next_page(path: str, filters: Mapping[str, Any], continuation: str | None) -> str:
    """The "Next page" link: the same filters with the next page's token (none: no link)."""
    if not continuation:
        return ""
    next_filters = {k: v for k, v in filters.items() if k != "continuation"}
    next_filters["continuation"] = continuation
    return f"<p>{link(path + query(next_filters), 'Next page', id='next')}</p>"


def catalog_page(
    measurements: Sequence[Measurement],
    filters: Mapping[str, Any],
    *,
    next_continuation: str | None,
    scanned: int,
) -> str:
    """The catalog: filter form, one row per measurement, the next-page link."""
    form = (
        f"<form method='get' action='{BASE}' id='filters' class='filters'>"
        + _filter_inputs(
            filters,
            ("vehicle", "Vehicle"),
            ("from", "From"),
            ("to", "To"),
            ("tag", "Tag"),
            ("project", "Project"),
            ("scene_type", "Scene type"),
        )
        + _labeled_select(filters)
        + "<button type='submit'>Filter</button></form>"
    )
    count = (
        f"<p id='count'><span id='shown'>{len(measurements)}</span> measurements on this page "
        f"({scanned} read from the store)</p>"
    )
    more = _next_page(BASE, filters, next_continuation)
    headers = ("Measurement", "Vehicle", "Start (UTC)", "Length", "Project", "Tags", "State", "")
    rows = "".join(_catalog_row(m) for m in measurements)
    body = form + count + table_of_rows(headers, rows, table_id="measurements") + more
    return page("Catalog", body, page_id="catalog")


def _catalog_row(m: Measurement) -> str:
    """One catalog row as one string: the catalog's rendering cost is per row and per cell."""
    ident = e(m.id)
    segment = e(path_id(m.id))
    length = (m.recording_end - m.recording_start).total_seconds()
    # _when's text and the state's enum value are plain ASCII words: nothing to escape.
    return (
        f"<tr><td><a href='{BASE}/measurements/{segment}' class='measurement'>{ident}</a></td>"
        f"<td>{e(m.vehicle_id)}</td><td>{_when(m.recording_start)}</td><td>{length:.1f} s</td>"
        f"<td>{e(m.project)}</td><td>{e(', '.join(m.tags))}</td><td>{m.state.value}</td>"
        f"<td><a href='{BASE}/drives/{segment}'>drive view</a></td></tr>"
    )


@dataclass(frozen=True)
class FileLink:
    """A file row of the measurement page."""

    datastream_id: str
    path: str
    size: int
    url: str | None


def lineage_elements(datastreams: Sequence[Datastream]) -> list[dict[str, Any]]:
    """Cytoscape elements: one node per datastream, an edge from each source it has here."""
    ids = {d.id for d in datastreams}
    nodes = [
        {
            "data": {
                "id": d.id,
                "label": f"{d.type.value}\n{d.state.value}",
                "state": d.state.value,
                "href": f"#ds-{d.id}",
            }
        }
        for d in datastreams
    ]
    edges = [
        {"data": {"id": f"{source}->{d.id}", "source": source, "target": d.id}}
        for d in datastreams
        for source in d.sources
        if source in ids
    ]
    return nodes + edges


def measurement_page(
    measurement: Measurement,
    datastreams: Sequence[Datastream],
    files: Mapping[str, tuple[list[FileLink], bool]],
    *,
    monitor_url: str,
) -> str:
    """Manifest fields, datastreams, lineage graph, files and runs of one measurement."""
    fields = [
        ("Id", measurement.id),
        ("Vehicle", measurement.vehicle_id),
        ("Recording", f"{_when(measurement.recording_start)} - {_when(measurement.recording_end)}"),
        ("Upload prefix", measurement.upload_prefix),
        ("Project", measurement.project or ""),
        ("Driver", measurement.driver or ""),
        ("Tags", ", ".join(measurement.tags)),
        ("Logger synchronized", str(measurement.logger_synchronized).lower()),
        ("State", measurement.state.value),
        ("Manifest files", str(measurement.file_count)),
    ]
    summary = (
        "<dl class='fields'>"
        + "".join(f"<dt>{e(k)}</dt><dd>{e(v)}</dd>" for k, v in fields)
        + "</dl>"
    )
    summary += (
        f"<p>{link(f'{BASE}/drives/{path_id(measurement.id)}', 'Open the drive view', id='drive')}"
        "</p>"
    )
    rows = [
        (
            f"<span id='ds-{e(d.id)}'>{e(d.id)}</span>",
            e(d.type.value),
            f"<span class='state {e(d.state.value)}'>{e(d.state.value)}</span>"
            + (f" <small>{e(d.state_reason)}</small>" if d.state_reason else ""),
            e(d.producer.step),
            e(", ".join(d.sources)),
            e(str(d.file_count)),
            e(_when(d.created_at)),
        )
        for d in datastreams
    ]
    streams = table(
        ("Datastream", "Type", "State", "Producer", "Sources", "Files", "Created (UTC)"),
        rows,
        table_id="datastreams",
    )
    graph = "<div id='lineage' class='graph'></div>" + data_block(
        "lineage-data", lineage_elements(datastreams)
    )
    runs = _runs(datastreams, monitor_url)
    file_sections = "".join(_files_section(d, *files.get(d.id, ([], False))) for d in datastreams)
    body = (
        summary
        + "<h2>Lineage</h2>"
        + graph
        + "<h2>Datastreams</h2>"
        + streams
        + "<h2>Runs</h2>"
        + runs
        + "<h2>Files</h2>"
        + file_sections
    )
    return page(
        f"Measurement {measurement.id}",
        body,
        scripts=(
            "vendor/cytoscape.min.js",
            "vendor/cytoscape-dagre.js",
            "lineage.js",
        ),
        page_id="measurement",
    )


def _runs(datastreams: Sequence[Datastream], monitor_url: str) -> str:
    seen: dict[str, list[str]] = {}
    for d in datastreams:
        if d.producer.instance_id:
            seen.setdefault(d.producer.instance_id, []).append(f"{d.producer.step}: {d.type.value}")
    rows = []
    for instance_id, made in seen.items():
        where = (
            link(monitor_url.replace("{instance_id}", path_id(instance_id)), instance_id)
            if monitor_url
            else e(instance_id)
        )
        rows.append((where, e(", ".join(made))))
    return table(("Run (instance)", "Made"), rows, table_id="runs")


def _files_section(datastream: Datastream, links: list[FileLink], more: bool) -> str:
    rows = [
        (
            link(f.url, f.path.rsplit("/", 1)[-1], download="") if f.url else e(f.path),
            e(f.path),
            e(f"{f.size:,}"),
        )
        for f in links
    ]
    note = (
        f"<p>More files: <code>GET /api/datastreams/{e(datastream.id)}/files</code></p>"
        if more
        else ""
    )
    return (
        f"<details><summary>{e(datastream.type.value)} {e(datastream.id)} "
        f"({e(str(datastream.file_count))} files)</summary>"
        + table(("Download", "Path", "Bytes"), rows)
        + note
        + "</details>"
    )


def drive_page(measurement: Measurement, config: Mapping[str, Any]) -> str:
    """The drive view's frame; drive.js fills it from the data routes."""
    body = (
        f"<p>{e(measurement.vehicle_id)}, {e(_when(measurement.recording_start))} UTC. "
        f"{link(f'{BASE}/measurements/{path_id(measurement.id)}', 'Measurement page')}</p>"
        "<div class='drive'>"
        "<div id='map' class='map'></div>"
        "<div class='frame'><div id='frame-box' class='frame-box'>"
        "<img id='frame' alt='reference frame'><svg id='boxes'></svg></div>"
        "<p id='frame-info'></p></div>"
        "</div>"
        "<div class='cursor'><input type='range' id='cursor' min='0' max='0' value='0'>"
        "<span id='cursor-time'></span></div>"
        "<div id='timeline' class='timeline'></div>"
        "<details id='scenes' open><summary>Scenes</summary>"
        "<ul id='scene-list' class='scene-list'></ul></details>"
        "<div id='plots'></div>"
        "<p id='status' class='status'>Loading ...</p>" + data_block("drive-config", dict(config))
    )
    return page(
        f"Drive {measurement.id}",
        body,
        styles=("vendor/leaflet.css", "vendor/uPlot.min.css"),
        scripts=("vendor/leaflet.js", "vendor/uPlot.iife.min.js", "clips.js", "drive.js"),
        page_id="drive",
    )


@dataclass(frozen=True)
class SearchHit:
    """One result tile: a frame (or a scene's first frame) with its boxes."""

    measurement_id: str
    frame: int | None
    time_ns: int
    title: str
    boxes: list[Box]
    width: int | None
    height: int | None
    scene_id: str | None = None
    """The scene of a scene hit (its tile gets the Clip action); None for a frame hit."""


def clip_control(scene_id: str, denied: str | None) -> str:
    """The Clip action of one scene: a button clips.js starts and follows, and where it shows
    progress and the links; disabled with ``denied`` as its tooltip when the session may not."""
    button = (
        f"<button type='button' class='clip-button' disabled title='{e(denied)}'>Clip</button>"
        if denied
        else "<button type='button' class='clip-button' title='Write this scene to one MCAP "
        "file'>Clip</button>"
    )
    # The reason on the holder too: some browsers show no tooltip over a disabled button.
    holder_title = f" title='{e(denied)}'" if denied else ""
    return (
        f"<div class='clip' data-clip-url='{e(scene_clip_url(scene_id))}'{holder_title} "
        f"data-scene='{e(scene_id)}' data-state='{'denied' if denied else 'idle'}'>{button}"
        "<span class='clip-status' role='status'></span></div>"
    )


def _tile(hit: SearchHit, clip_denied: str | None) -> str:
    href = f"{BASE}/drives/{path_id(hit.measurement_id)}{query({'t': hit.time_ns})}"
    image = ""
    if hit.frame is not None:
        src = f"/api/drives/{path_id(hit.measurement_id)}/frames/{hit.frame}/image?width=240"
        overlay = ""
        if hit.width and hit.height:
            overlay = "".join(
                f"<span class='box {e(b.kind)}' title='{e(b.category)}' style='"
                f"left:{100 * b.x_min / hit.width:.2f}%;top:{100 * b.y_min / hit.height:.2f}%;"
                f"width:{100 * (b.x_max - b.x_min) / hit.width:.2f}%;"
                f"height:{100 * (b.y_max - b.y_min) / hit.height:.2f}%'></span>"
                for b in hit.boxes
            )
        image = f"<span class='thumb'><img src='{e(src)}' alt='' loading='lazy'>{overlay}</span>"
    tile = (
        f"<a class='hit' href='{e(href)}' data-measurement='{e(hit.measurement_id)}' "
        f"data-time='{hit.time_ns}'>{image}<span class='caption'>{e(hit.title)}</span></a>"
    )
    if hit.scene_id is None:
        return tile
    # A button cannot sit inside the tile's link: the scene's tile and its Clip action side by side.
    return f"<div class='scene-hit'>{tile}{clip_control(hit.scene_id, clip_denied)}</div>"


def search_page(
    hits: Sequence[SearchHit],
    filters: Mapping[str, Any],
    *,
    next_continuation: str | None,
    clip_denied: str | None = None,
) -> str:
    """Search form and the results as a thumbnail grid; scene tiles with the Clip action,
    disabled with ``clip_denied`` as the reason when the session may not clip."""
    form = (
        f"<form method='get' action='{BASE}/search' id='filters' class='filters'>"
        + _select(
            "kind",
            "Search",
            filters.get("kind", "frames"),
            (("frames", "frames"), ("scenes", "scenes")),
        )
        + _filter_inputs(
            filters,
            ("object", "Object (frames)"),
            ("scene_type", "Scene type"),
            ("vehicle", "Vehicle"),
            ("from", "From"),
            ("to", "To"),
        )
        + _labeled_select(filters)
        + _filter_inputs(filters, ("label", "Label"))
        + "<button type='submit'>Search</button></form>"
    )
    tiles = "".join(_tile(h, clip_denied) for h in hits)
    grid = "<div class='grid' id='results'>" + tiles + "</div>"
    more = _next_page(f"{BASE}/search", filters, next_continuation)
    count = f"<p id='count'><span id='shown'>{len(hits)}</span> results on this page</p>"
    scripts = ("clips.js",) if any(h.scene_id is not None for h in hits) else ()
    return page("Search", form + count + grid + more, scripts=scripts, page_id="search")


def labeling_page(
    summaries: Sequence[ExportSummary], *, selected: str | None, can_write: bool
) -> str:
    """Exports with status, expiry and (write role) links; one export's imports when chosen."""
    rows = [
        (
            link(
                f"{BASE}/labeling{query({'export': s.record.export_id})}",
                s.record.export_id,
                **{"class": "export"},
            ),
            e(s.record.partner_id),
            f"<span class='status'>{e(s.status)}</span>",
            e("ready" if s.package_complete else "in progress"),
            e(_when(s.record.created_at)),
            e(_when(s.record.expires_at)),
            (
                link(s.package_url, "package", **{"class": "package-link"})
                + " "
                + link(s.labels_url, "labels upload", **{"class": "labels-link"})
                if s.package_url and s.labels_url
                else e("write role only" if not can_write else "-")
            ),
        )
        for s in summaries
    ]
    body = table(
        ("Export", "Partner", "Status", "Package", "Created (UTC)", "Expires (UTC)", "Links"),
        rows,
        table_id="exports",
    )
    if not summaries:
        body += "<p id='no-exports'>No labeling exports yet (POST /api/label-exports).</p>"
    chosen = next((s for s in summaries if s.record.export_id == selected), None)
    if chosen is not None and chosen.imports is not None:
        import_rows = [
            (
                e(item.file),
                f"<span class='verdict {e(item.status)}'>{e(item.status)}</span>",
                e(item.format or ""),
                e(", ".join(item.datastream_ids)),
                "<br>".join(e(error) for error in item.errors)
                + (f" ({item.error_count} in all)" if item.error_count > len(item.errors) else ""),
            )
            for item in chosen.imports.items
        ]
        body += f"<h2>Imports of {e(chosen.record.export_id)}</h2>" + table(
            ("File", "Verdict", "Format", "LABELED datastreams", "Errors"),
            import_rows,
            table_id="imports",
        )
    return page("Labeling", body, page_id="labeling")
