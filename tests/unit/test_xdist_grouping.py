"""The suite's xdist groups really keep their tests on one worker.

``make test`` runs ``-n 2 --dist loadgroup`` and relies on ``xdist_group`` marks to build each
expensive module or session fixture once (the shared pipeline runs of tests/e2e, the explorer's
pipeline-and-browser run). pytest-xdist 3.8 marks a group by rewriting the item's node id, which
pytest 9.2 no longer reads: the groups are then silently ignored, every worker builds every
fixture, and nothing fails but the clock. This runs a tiny suite with the pinned pytest and
xdist, grouped both ways the suite groups (a module ``pytestmark`` and a conftest hook), and
fails if any group's tests ran on more than one worker.
"""

from __future__ import annotations

import os
import re
from collections import defaultdict
from pathlib import Path

from tests.python_run import run_python

_MODULE_GROUPED = """
import pytest

pytestmark = [pytest.mark.xdist_group("by-module")]


@pytest.mark.parametrize("i", range(6))
def test_module_grouped(i):
    pass
"""

_HOOK_GROUPED = """
import pytest


@pytest.mark.parametrize("backend", ["one", "two"])
@pytest.mark.parametrize("i", range(4))
def test_hook_grouped(i, backend):
    pass
"""

# What tests/e2e/conftest.py does for the pipeline runs: a group per parameter value. This
# conftest is loaded before xdist's plugin, the case where only ``tryfirst`` keeps it working.
_CONFTEST = """
import pytest


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items):
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is not None and "backend" in callspec.params:
            item.add_marker(pytest.mark.xdist_group(f"backend-{callspec.params['backend']}"))
"""

_UNGROUPED = """
import pytest


@pytest.mark.parametrize("i", range(8))
def test_ungrouped(i):
    pass
"""

_RESULT = re.compile(r"^\[(gw\d+)\] .*PASSED (\S+)$")


def test_each_xdist_group_runs_on_one_worker(tmp_path: Path) -> None:
    """Every test of a group (module mark or conftest hook) ran on the same worker."""
    (tmp_path / "conftest.py").write_text(_CONFTEST)
    (tmp_path / "test_module_grouped.py").write_text(_MODULE_GROUPED)
    (tmp_path / "test_hook_grouped.py").write_text(_HOOK_GROUPED)
    (tmp_path / "test_ungrouped.py").write_text(_UNGROUPED)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    pytest_args = [
        "-m",
        "pytest",
        "-n",
        "2",
        "--dist",
        "loadgroup",
        "-v",
        "-p",
        "no:cacheprovider",
        "-o",
        "addopts=",
        "--rootdir",
        str(tmp_path),
        str(tmp_path),
    ]
    done = run_python(*pytest_args, cwd=tmp_path, env=env, timeout=240)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    workers_of: dict[str, set[str]] = defaultdict(set)
    ran = 0
    for line in done.stdout.splitlines():
        match = _RESULT.match(line.strip())
        if match is None:
            continue
        ran += 1
        worker, nodeid = match.groups()
        if "@" in nodeid.rsplit("]", 1)[-1]:
            workers_of[nodeid.rsplit("@", 1)[1]].add(worker)
    assert ran == 6 + 8 + 8, done.stdout[-3000:]
    assert set(workers_of) == {"by-module", "backend-one", "backend-two"}, done.stdout[-3000:]
    split = {group: workers for group, workers in workers_of.items() if len(workers) > 1}
    assert not split, f"groups split across workers: {split}"
