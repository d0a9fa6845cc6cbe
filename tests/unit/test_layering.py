"""Import arrows point down only (docs/architecture.md, "Layout and naming")."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Neither the domain core nor the Batch task program may know the Functions app or its hosts.
_APP_AND_HOSTS = {
    "avops",
    "function_app",
    "activities",
    "orchestrators",
    "devhost",
    "azure.functions",
    "azure.durable_functions",
}
FORBIDDEN = {
    "dataops": _APP_AND_HOSTS | {"extract_worker"},
    "extract_worker": _APP_AND_HOSTS,
    "function_app": {"avops", "devhost"},
    "activities": {"avops", "devhost", "function_app"},
    "orchestrators": {"avops", "devhost", "function_app", "activities"},
    # The host runs the app; the client (avops) uses the host, never the other way round.
    "devhost": {"avops"},
}
# Orchestrators replay: no I/O, clock, randomness or environment.
ORCHESTRATOR_FORBIDDEN = {
    "os",
    "random",
    "time",
    "uuid",
    "requests",
    "httpx",
    "socket",
    "dataops.storage",
    "dataops.store",
}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def violations(package: str, forbidden: set[str]) -> list[str]:
    return [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in sorted((ROOT / package).rglob("*.py"))
        for name in sorted(imported_modules(path))
        if any(name == bad or name.startswith(bad + ".") for bad in forbidden)
    ]


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_only_downwards(package: str) -> None:
    assert violations(package, FORBIDDEN[package]) == []


def test_orchestrators_do_no_io_clock_or_randomness() -> None:
    assert violations("orchestrators", ORCHESTRATOR_FORBIDDEN) == []


def clock_reads(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    return [
        f"{path.name}:{node.lineno} .{node.attr}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and node.attr in {"now", "utcnow", "today"}
    ]


def test_orchestrators_never_read_the_wall_clock() -> None:
    found = [
        hit for path in sorted((ROOT / "orchestrators").rglob("*.py")) for hit in clock_reads(path)
    ]
    assert found == []


def test_the_checker_sees_a_violation(tmp_path: Path) -> None:
    bad = tmp_path / "m.py"
    bad.write_text("import avops.cli\nfrom function_app import app\nx = datetime.now()\n")
    assert imported_modules(bad) == {"avops.cli", "function_app"}
    assert clock_reads(bad) == ["m.py:3 .now"]
