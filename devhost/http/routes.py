"""HTTP trigger routes: templates with ``{name}``, ``{name:int}``, ``{name?}``, ``{*rest}``."""

from __future__ import annotations

import re
from dataclasses import dataclass

from devhost.registry import FunctionSpec

__all__ = ["Route", "compile_route", "match_route"]

_PARAM = re.compile(
    r"^\{(?P<star>\*)?(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::(?P<kind>[a-z]+))?(?P<opt>\?)?\}$"
)
_KIND_PATTERNS = {
    None: r"[^/]+",
    "alpha": r"[A-Za-z]+",
    "int": r"-?\d+",
    "long": r"-?\d+",
    "bool": r"(?:true|false|True|False)",
    "guid": r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}",
    "float": r"-?\d+(?:\.\d+)?",
    "double": r"-?\d+(?:\.\d+)?",
    "decimal": r"-?\d+(?:\.\d+)?",
}


@dataclass(frozen=True)
class Route:
    """A compiled HTTP trigger route."""

    spec: FunctionSpec
    template: str
    pattern: re.Pattern[str]
    methods: frozenset[str]
    auth_level: str


def compile_route(spec: FunctionSpec) -> Route:
    """Compile the route template of an HTTP trigger (default: the function name)."""
    template = str(spec.trigger.get("route") or spec.name).strip("/")
    parts: list[str] = []
    for segment in template.split("/"):
        match = _PARAM.match(segment)
        if match is None:
            if "{" in segment:
                raise ValueError(f"{spec.name}: unsupported route segment {segment!r}")
            parts.append("/" + re.escape(segment))
            continue
        name, kind = match["name"], match["kind"]
        if match["star"]:
            parts.append(f"(?:/(?P<{name}>.*))?")
            continue
        if kind not in _KIND_PATTERNS:
            raise ValueError(f"{spec.name}: unsupported route constraint {kind!r}")
        body = f"/(?P<{name}>{_KIND_PATTERNS[kind]})"
        parts.append(f"(?:{body})?" if match["opt"] else body)
    pattern = re.compile("^" + "".join(parts) + "/?$", re.IGNORECASE)
    methods = spec.trigger.get("methods") or []
    method_names = frozenset(str(getattr(m, "value", m)).upper() for m in methods)
    auth = spec.trigger.get("authLevel")
    auth_level = str(getattr(auth, "value", auth) or "function").lower()
    return Route(
        spec=spec, template=template, pattern=pattern, methods=method_names, auth_level=auth_level
    )


def match_route(routes: list[Route], path: str) -> tuple[Route, dict[str, str]] | None:
    """First route whose template matches ``path`` (the part after ``/api``)."""
    normalized = "/" + path.strip("/")
    for route in routes:
        match = route.pattern.match(normalized)
        if match is not None:
            params = {k: v for k, v in match.groupdict().items() if v is not None}
            return route, params
    return None
