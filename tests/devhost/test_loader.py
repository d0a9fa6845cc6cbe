"""Loader and registry: worker-like import, one indexing pass, parameter checks, clear refusals."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from devhost.errors import AppLoadError, UnsupportedBindingError
from devhost.loader import load_app
from devhost.registry import Registry, TriggerType
from tests.devhost.conftest import SAMPLE_APP
from tests.python_run import run_python

APPS = Path(__file__).parent / "apps"


def test_sample_app_functions_by_trigger(sample_registry: Registry) -> None:
    assert {s.name for s in sample_registry.of_type(TriggerType.TIMER)} == {"every_five_minutes"}
    assert "http_start" in {s.name for s in sample_registry.of_type(TriggerType.HTTP)}
    assert len(sample_registry.of_type(TriggerType.EVENT_GRID)) == 3
    assert sample_registry.get("fan_out").trigger_type is TriggerType.ORCHESTRATION


def test_script_file_name_from_local_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PYTHON_SCRIPT_FILE_NAME", raising=False)
    (tmp_path / "entry_x1.py").write_text(
        "import azure.functions as func\n"
        "app = func.FunctionApp()\n"
        "@app.route(route='ping', auth_level=func.AuthLevel.ANONYMOUS)\n"
        "def ping(req: func.HttpRequest) -> func.HttpResponse:\n"
        "    return func.HttpResponse('pong')\n"
    )
    settings = {"IsEncrypted": False, "Values": {"PYTHON_SCRIPT_FILE_NAME": "entry_x1.py"}}
    (tmp_path / "local.settings.json").write_text(json.dumps(settings))
    loaded = load_app(tmp_path, apply_settings=False)
    assert loaded.module_name == "entry_x1"
    assert [f.get_function_name() for f in loaded.functions] == ["ping"]


def test_missing_script_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PYTHON_SCRIPT_FILE_NAME", raising=False)
    with pytest.raises(AppLoadError, match=r"function_app\.py"):
        load_app(tmp_path)


def test_orchestrator_context_name_is_rejected_like_the_worker() -> None:
    with pytest.raises(AppLoadError, match="ctx"):
        Registry.from_app(load_app(APPS / "bad_ctx"))


def test_unsupported_trigger_is_refused_by_name() -> None:
    with pytest.raises(UnsupportedBindingError, match="queueTrigger"):
        Registry.from_app(load_app(APPS / "unsupported"))


def test_project_app_loads_through_main_py() -> None:
    # In a child process: indexing the project's app object here would spend its one
    # get_functions() call and leave it on sys.modules for the other test packages.
    root = SAMPLE_APP.parents[3]
    code = (
        "import json; from devhost.loader import load_app; "
        "a = load_app('.', apply_settings=False); "
        "print(json.dumps([a.module_name, [f.get_function_name() for f in a.functions]]))"
    )
    env = {**os.environ, "PYTHON_SCRIPT_FILE_NAME": "main.py"}
    done = run_python("-c", code, cwd=root, env=env, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    module, names = json.loads(done.stdout.strip().splitlines()[-1])
    assert module == "main"
    assert "http_health" in names


@pytest.mark.parametrize(
    ("source", "match"),
    [
        pytest.param("x = 1\n", "no top-level function app", id="no-function-app-instance"),
        pytest.param(
            "import azure.functions as func\n"
            "app = func.FunctionApp()\n"
            "@app.route(route='x')\n"
            "def x(req: func.HttpRequest, extra: str) -> func.HttpResponse:\n"
            "    return func.HttpResponse('')\n",
            "extra",
            id="parameter-without-binding",
        ),
        # The worker's annotation check does not accept ``dict[str, Any]`` on a binding
        # parameter (it accepts ``dict`` or ``typing.Dict[str, Any]``); devhost must refuse it
        # at start-up too.
        pytest.param(
            "from typing import Any\n"
            "import azure.durable_functions as df\n"
            "app = df.DFApp()\n"
            "@app.activity_trigger(input_name='params')\n"
            "def act(params: dict[str, Any]) -> dict:\n"
            "    return params\n",
            "invalid non-type annotation",
            id="generic-builtin-annotation",
        ),
    ],
)
def test_an_app_the_worker_would_refuse_is_refused_at_load(
    source: str, match: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A function_app.py the Python worker cannot index fails devhost's start-up, naming why."""
    monkeypatch.delenv("PYTHON_SCRIPT_FILE_NAME", raising=False)
    (tmp_path / "function_app.py").write_text(source)
    with pytest.raises(AppLoadError, match=match):
        Registry.from_app(load_app(tmp_path))
