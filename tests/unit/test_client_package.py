"""The project installs as a package whose `avops` program is the client (setup, pip install)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.python_run import run_python

ROOT = Path(__file__).resolve().parents[2]

# Both wheel tests share one build on one xdist worker.
pytestmark = pytest.mark.xdist_group("client-wheel")


def _tracked_copy(into: Path) -> Path:
    """A copy of the checkout's tracked files: setuptools writes build/ and *.egg-info into the
    source tree, so building in the checkout itself races with any other build there."""
    listed = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files", "-z"], capture_output=True, check=True
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():
            target = into / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return into


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    out = tmp_path_factory.mktemp("wheel")
    source = _tracked_copy(tmp_path_factory.mktemp("source"))
    pip_args = [
        "-m",
        "pip",
        "wheel",
        "--quiet",
        "--no-deps",
        "--no-build-isolation",
        "--wheel-dir",
        str(out),
        str(source),
    ]
    built = run_python(*pip_args, timeout=300)
    assert built.returncode == 0, built.stderr[-4000:]
    (wheel_file,) = out.glob("avops_dataops-*.whl")
    return zipfile.ZipFile(wheel_file)


def test_wheel_declares_the_avops_program(wheel: zipfile.ZipFile) -> None:
    """`pip install .` puts an `avops` console script on PATH that runs avops.cli:main."""
    (entry_points,) = [n for n in wheel.namelist() if n.endswith("entry_points.txt")]
    text = wheel.read(entry_points).decode()
    assert "[console_scripts]" in text
    assert "avops = avops.cli:main" in text


def test_wheel_holds_the_client_and_what_it_imports(wheel: zipfile.ZipFile) -> None:
    """The client, the domain code its commands use, and the worker's readers with their config."""
    names = set(wheel.namelist())
    for needed in (
        "avops/client.py",
        "avops/cli/__init__.py",
        "avops/cli/upload.py",
        "avops/sample_drive/generate.py",
        "dataops/storage/__init__.py",
        "extract_worker/time_span.py",
        "extract_worker/default_config.json",
        "devhost/host.py",
    ):
        assert needed in names, needed
    assert not [n for n in names if n.startswith(("tests/", "bench/", "function_app/"))]


def test_make_setup_installed_the_program_into_the_venv() -> None:
    """`make setup` installs this checkout (editable): the venv's avops runs this code."""
    program = Path(sys.executable).with_name("avops")
    assert program.is_file(), f"{program} is missing: run make setup"
    shown = subprocess.run(
        [str(program), "--help"], capture_output=True, text=True, timeout=120, check=False
    )
    assert shown.returncode == 0, shown.stderr
    for command in ("upload", "measurements", "scenes", "dev", "export-labels", "runs"):
        assert command in shown.stdout
