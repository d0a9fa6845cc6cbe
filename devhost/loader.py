"""Import a Python v2-model Functions app the way the Python worker does.

The worker imports the stem of ``PYTHON_SCRIPT_FILE_NAME`` (default ``function_app.py``) from the
app root, takes the single top-level ``FunctionRegister`` in that module and calls
``get_functions()`` once (a second call raises a duplicate-name error, so the result is cached).
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import azure.functions as func

from devhost.errors import AppLoadError

__all__ = ["SCRIPT_SETTING", "DEFAULT_SCRIPT", "LoadedApp", "load_app", "read_app_settings"]

log = logging.getLogger(__name__)

SCRIPT_SETTING = "PYTHON_SCRIPT_FILE_NAME"
DEFAULT_SCRIPT = "function_app.py"


@dataclass(frozen=True)
class LoadedApp:
    """The imported app module, its function register and the functions it indexed (once)."""

    root: Path
    module_name: str
    app: func.FunctionRegister
    functions: list[func.Function]
    settings: dict[str, str] = field(default_factory=dict)


def read_app_settings(app_root: Path) -> dict[str, str]:
    """Return ``Values`` of ``local.settings.json`` (empty when the file is absent)."""
    path = app_root / "local.settings.json"
    if not path.is_file():
        return {}
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise AppLoadError(f"{path}: not readable JSON: {err}") from err
    values = doc.get("Values", {}) if isinstance(doc, dict) else {}
    if not isinstance(values, dict):
        raise AppLoadError(f"{path}: 'Values' must be an object")
    return {str(k): str(v) for k, v in values.items()}


def _script_name(app_root: Path, settings: dict[str, str]) -> str:
    # Core Tools puts local.settings.json values into the environment, and an explicit environment
    # variable wins over the file, as it does for the worker under Core Tools.
    return os.environ.get(SCRIPT_SETTING) or settings.get(SCRIPT_SETTING) or DEFAULT_SCRIPT


# get_functions() works once per app object; every later load of the same module reuses it.
_INDEXED: dict[int, tuple[func.FunctionRegister, list[func.Function]]] = {}


def indexed_functions(app: func.FunctionRegister) -> list[func.Function]:
    """``app.get_functions()``, indexed once per app object and shared by every caller.

    Everything in one process that needs an app's functions (devhost, test harnesses) must come
    through here: a second ``get_functions()`` on the same app raises a duplicate-name error.
    """
    cached = _INDEXED.get(id(app))
    if cached is not None and cached[0] is app:
        return cached[1]
    functions = app.get_functions()
    _INDEXED[id(app)] = (app, functions)
    return functions


def _forget_shadowed_modules(app_root: Path) -> None:
    # Several apps in one process (tests) often share top-level names (``function_app``): a cached
    # module of that name from elsewhere would be returned instead of this root's module.
    local_names = {p.stem for p in app_root.glob("*.py")} | {
        p.parent.name for p in app_root.glob("*/__init__.py")
    }
    for name, module in list(sys.modules.items()):
        if name.split(".", 1)[0] not in local_names:
            continue
        module_file = getattr(module, "__file__", None)
        if module_file is not None and not Path(module_file).resolve().is_relative_to(app_root):
            del sys.modules[name]


def load_app(app_root: Path | str, *, apply_settings: bool = True) -> LoadedApp:
    """Import the app under ``app_root`` and index its functions exactly once."""
    root = Path(app_root).resolve()
    if not root.is_dir():
        raise AppLoadError(f"app root {root} is not a directory")
    settings = read_app_settings(root)
    if apply_settings:
        for key, value in settings.items():
            os.environ.setdefault(key, value)
    script = _script_name(root, settings)
    module_name = Path(script).stem
    if not (root / script).is_file() and not (root / module_name / "__init__.py").is_file():
        raise AppLoadError(f"{root}: {SCRIPT_SETTING}={script!r} does not exist in the app root")
    _forget_shadowed_modules(root)
    if str(root) in sys.path:
        sys.path.remove(str(root))
    sys.path.insert(0, str(root))
    try:
        module = importlib.import_module(module_name)
    except Exception as err:
        raise AppLoadError(f"importing {module_name!r} from {root} failed: {err!r}") from err
    app = _find_register(module, script)
    try:
        functions = indexed_functions(app)
    except Exception as err:
        raise AppLoadError(f"indexing functions of {script} failed: {err}") from err
    log.info("loaded %s from %s: %d functions", script, root, len(functions))
    return LoadedApp(
        root=root, module_name=module_name, app=app, functions=functions, settings=settings
    )


def _find_register(module: Any, script: str) -> func.FunctionRegister:
    found: func.FunctionRegister | None = None
    for name in dir(module):
        candidate = getattr(module, name, None)
        if isinstance(candidate, func.FunctionRegister):
            if found is not None and candidate is not found:
                raise AppLoadError(f"{script}: more than one top-level function app instance")
            found = candidate
    if found is None:
        raise AppLoadError(f"{script}: no top-level function app instance (FunctionApp/DFApp)")
    return found
