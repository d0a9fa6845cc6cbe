"""The Function App package azd uploads: built here by the prepackage hook, not remotely.

A remote (Oryx) build only runs ``pip install -r requirements.txt``; vcd must be installed
with --no-deps (requirements-nodeps.txt), so azure.yaml turns the remote build off and the
hook installs both files into .python_packages for the Functions host's platform.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
HOOK = ROOT / "infra/hooks/package-python.sh"


def test_azure_yaml_builds_the_function_package_locally_with_the_hook() -> None:
    service = yaml.safe_load((ROOT / "azure.yaml").read_text())["services"]["api"]
    assert service["host"] == "function"
    assert service["remoteBuild"] is False
    hooks = service["hooks"]["prepackage"]
    assert hooks["posix"]["run"] == "infra/hooks/package-python.sh"
    assert hooks["windows"]["run"] == "infra/hooks/package-python.ps1"
    assert os.access(HOOK, os.X_OK)
    assert (ROOT / hooks["windows"]["run"]).is_file()


def test_funcignore_keeps_the_installed_packages_in_the_upload() -> None:
    ignored = {
        line.strip()
        for line in (ROOT / ".funcignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert not any(".python_packages" in pattern for pattern in ignored)
    assert {"requirements-nodeps.txt", "constraints.txt", ".venv/"} <= ignored


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_hook_installs_vcd_without_its_gui_dependencies(tmp_path: Path) -> None:
    """Runs the hook on a copy of the requirement files and the app's package (downloads wheels
    from the index); the explorer's browser libraries come from this checkout's node_modules."""
    (tmp_path / "infra/hooks").mkdir(parents=True)
    shutil.copy2(HOOK, tmp_path / "infra/hooks/package-python.sh")
    for name in ("requirements.txt", "requirements-nodeps.txt", "constraints.txt"):
        shutil.copy2(ROOT / name, tmp_path / name)
    # The hook copies the vendor files into the app's own package: a copy, not this checkout.
    shutil.copytree(
        ROOT / "dataops",
        tmp_path / "dataops",
        ignore=shutil.ignore_patterns("__pycache__", "vendor"),
    )
    (tmp_path / "node_modules").symlink_to(ROOT / "node_modules")
    subprocess.run(
        ["sh", str(tmp_path / "infra/hooks/package-python.sh")],
        check=True,
        env={**os.environ, "PYTHON": sys.executable},
        timeout=1100,
    )
    site = tmp_path / ".python_packages/lib/site-packages"
    assert (tmp_path / "dataops/explorer/static/vendor/leaflet.js").is_file()
    installed = {path.name.split("-")[0].lower() for path in site.glob("*.dist-info")}
    assert {"vcd", "opencv_python_headless", "onnxruntime", "azure_functions"} <= installed
    assert not {"opencv_python", "scipy", "matplotlib"} & installed
    # The host's platform is this machine's (Linux x86_64, CPython 3.11): the package imports.
    probe = "import vcd.core, vcd.schema, cv2, onnxruntime, duckdb, deltalake, h3"
    subprocess.run(
        [sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(site)!r}); {probe}"],
        check=True,
        timeout=120,
    )
