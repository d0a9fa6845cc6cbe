"""Fixtures for devhost tests: the sample app, an engine on a fake clock, the open-ids check."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devhost.db import Database
from devhost.durable.clock import FakeClock
from devhost.durable.engine import DurableEngine, PassRecord
from devhost.durable.store import RuntimeStatus
from devhost.loader import load_app
from devhost.registry import Registry

SAMPLE_APP = Path(__file__).parent / "apps" / "sample"
APPS = SAMPLE_APP.parent


# What the other test packages expect to find; taken when pytest imports this conftest.
_BASELINE_PATH = list(sys.path)
_BASELINE_MODULES = dict(sys.modules)


def _is_app_module(name: str, module: object) -> bool:
    module_file = getattr(module, "__file__", None) or ""
    in_apps = bool(module_file) and Path(module_file).resolve().is_relative_to(APPS)
    return in_apps or name.split(".", maxsplit=1)[0] in ("function_app", "main")


@pytest.fixture(scope="module", autouse=True)
def _restore_import_state() -> Iterator[None]:
    """Undo what loading test apps does to sys.path and sys.modules, for the other packages.

    The loader puts each app root first on sys.path and drops cached modules that the app's own
    ``function_app`` would shadow, as a worker process does; tests elsewhere import the project's
    ``function_app`` afterwards and must get the project's module again.
    """
    yield
    sys.path[:] = _BASELINE_PATH
    for name, module in list(sys.modules.items()):
        if _is_app_module(name, module) and _BASELINE_MODULES.get(name) is not module:
            del sys.modules[name]
    for name, module in _BASELINE_MODULES.items():
        if _is_app_module(name, module):
            sys.modules[name] = module


@pytest.fixture(scope="session")
def sample_registry() -> Registry:
    """The sample app, loaded and indexed once per session (get_functions runs once per app)."""
    return Registry.from_app(load_app(SAMPLE_APP))


@pytest.fixture
def out_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """File the sample app's functions record their invocations in."""
    path = tmp_path / "out.jsonl"
    monkeypatch.setenv("SAMPLE_APP_OUT", str(path))
    return path


def failure(engine: DurableEngine, instance_id: str) -> str:
    """The error of an instance that must have failed."""
    inst = engine.get_instance(instance_id)
    assert inst is not None
    assert inst.status is RuntimeStatus.FAILED
    return inst.error or ""


def read_records(path: Path, kind: str | None = None) -> list[dict[str, Any]]:
    """Records the sample app wrote, optionally of one kind."""
    if not path.exists():
        return []
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [r for r in rows if kind is None or r["kind"] == kind]


class OpenIdsCheck:
    """Collects every replay pass and asserts that SDK and engine agree on open task ids."""

    def __init__(self) -> None:
        self.passes: list[PassRecord] = []

    def __call__(self, record: PassRecord) -> None:
        self.passes.append(record)

    def assert_all_equal(self) -> None:
        """Every pass of an instance that is not done had the same open ids on both sides."""
        assert self.passes, "no replay pass was observed"
        for record in self.passes:
            if not record.done:
                assert record.sdk_open == record.engine_open, record


@pytest.fixture
def clock() -> FakeClock:
    """A clock that only moves when the test advances it."""
    return FakeClock()


@pytest.fixture
def engine(
    tmp_path: Path, sample_registry: Registry, clock: FakeClock, out_file: Path
) -> Iterator[DurableEngine]:
    """An engine over a fresh SQLite file; every pass is checked for open-id agreement."""
    db = Database(tmp_path / "devhost.sqlite")
    eng = DurableEngine(db, sample_registry, clock=clock)
    check = OpenIdsCheck()
    eng.pass_observers.append(check)
    yield eng
    if check.passes:
        check.assert_all_equal()
    db.close()
