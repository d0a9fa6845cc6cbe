"""Every explorer module and the API's entry points can be the first one a process imports.

The explorer's modules import the API's plumbing and the API's route table and handlers import
the explorer's; while ``dataops.api``'s ``__init__`` gathered every handler on import, four
explorer modules failed with a circular ImportError when imported first (a test or a script
that started with ``dataops.explorer.handlers``). Each module is imported in a fresh module
state (every ``dataops``, ``activities`` and ``orchestrators`` module dropped first) in one
child process.
"""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import dataops.explorer

ROOT = Path(__file__).resolve().parents[2]

_IMPORT_EACH_FIRST = """
import importlib, json, sys, traceback
OURS = ("dataops", "activities", "orchestrators")
failures = {}
for name in json.loads(sys.argv[1]):
    for loaded in [m for m in sys.modules if m.split(".")[0] in OURS]:
        del sys.modules[loaded]
    try:
        importlib.import_module(name)
    except Exception:
        failures[name] = traceback.format_exc(limit=-3)
print(json.dumps(failures))
"""


def _modules(package: ModuleType) -> list[str]:
    found = pkgutil.walk_packages(package.__path__, package.__name__ + ".")
    return [package.__name__, *sorted(info.name for info in found if not info.ispkg)]


def _imports_the_api(module: str) -> bool:
    source = ROOT.joinpath(*module.split(".")).with_suffix(".py")
    return source.is_file() and "from dataops.api" in source.read_text()


def test_every_explorer_module_and_the_api_entry_points_import_first() -> None:
    # A cycle starts at an explorer module that imports the API (and the API's entry points
    # close it); the others cannot start one, and each import costs about half a second.
    names = [name for name in _modules(dataops.explorer) if _imports_the_api(name)]
    assert {"dataops.explorer.handlers", "dataops.explorer.params"} <= set(names)
    names += ["dataops.api", "dataops.api.operations", "dataops.api.routes"]
    names += ["dataops.api.handlers", "dataops.api.dispatch"]
    done = subprocess.run(
        [sys.executable, "-c", _IMPORT_EACH_FIRST, json.dumps(names)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    failures = json.loads(done.stdout.strip().splitlines()[-1])
    assert failures == {}, "\n".join(f"{name}:\n{trace}" for name, trace in failures.items())


def test_the_package_still_exports_what_callers_import() -> None:
    from dataops.api import HANDLERS, ROUTES, RUN_HANDLERS

    assert "listMeasurements" in HANDLERS and "explorerCatalog" in HANDLERS
    assert "eraseVehicle" in RUN_HANDLERS and "explorerClipScene" in RUN_HANDLERS
    assert set(HANDLERS) | set(RUN_HANDLERS) == {op.operation_id for op in ROUTES}
