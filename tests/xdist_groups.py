"""Which tests share an xdist worker (``make test`` runs ``-n 2 --dist loadgroup``).

A fixture that takes minutes to build should be built once per run, not once per worker:

- the tests of one store backend's shared pipeline run (``pipeline_run``, tests/e2e) form one
  group, whatever module they are in;
- every module that uses a module-scoped fixture of its own (the explorer's pipeline-and-browser
  run, the erasure drive, the client wheel, ...) is one group, so its fixture is built once.

Everything else is spread test by test. The hook runs first: xdist reads the marks in its own
hook, and a conftest loaded before xdist's plugin would otherwise run after it.
tests/unit/test_xdist_grouping.py checks that the pinned pytest and xdist honour the groups.
"""

from __future__ import annotations

import pytest

# Module-scoped fixtures that cost nothing to build again (they restore state).
_CHEAP_MODULE_FIXTURES = frozenset({"_restore_import_state"})


def _group_of(item: pytest.Item) -> str | None:
    callspec = getattr(item, "callspec", None)
    if callspec is not None and "pipeline_run" in callspec.params:
        return f"pipeline-{callspec.params['pipeline_run']}"
    fixture_info = getattr(item, "_fixtureinfo", None)
    if fixture_info is None:
        return None
    for name, definitions in fixture_info.name2fixturedefs.items():
        if name in _CHEAP_MODULE_FIXTURES:
            continue
        if any(definition.scope == "module" for definition in definitions):
            return f"module-{item.path.relative_to(item.config.rootpath).as_posix()}"
    return None


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the tests that must share a worker with their ``xdist_group``."""
    for item in items:
        group = _group_of(item)
        if group is not None and item.get_closest_marker("xdist_group") is None:
            item.add_marker(pytest.mark.xdist_group(group))
