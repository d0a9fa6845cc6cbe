"""The azd hooks, run with stand-ins for `az` and `azd` on PATH that record their arguments."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HOOKS = ROOT / "infra" / "hooks"
DEPLOY_ENV = {
    "AZURE_RESOURCE_GROUP": "rg-test",
    "AZURE_FUNCTION_APP_NAME": "func-test",
    "AVOPS_FUNCTION_WAIT_INTERVAL": "0",
}


def _tool(bin_dir: Path, name: str, script: str) -> None:
    path = bin_dir / name
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(0o755)


def _run(
    hook: str, tmp_path: Path, az_failures: int, **env: str
) -> subprocess.CompletedProcess[str]:
    """Run ``hook`` with ``env``; the `az` stand-in refuses its first ``az_failures`` calls
    (the function not listed yet, the build refused), then succeeds. Every call to `az` and
    `azd` is appended to the result's stdout; `sleep` returns at once."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "calls.log"
    counter = tmp_path / "az-count"
    counter.write_text("0")
    _tool(
        bin_dir,
        "az",
        f'echo "az $*" >> {log}\n'
        f"n=$(cat {counter}); n=$((n + 1)); echo $n > {counter}\n"
        f'[ "$n" -gt {az_failures} ] || exit 3\n',
    )
    _tool(bin_dir, "azd", f'echo "azd $*" >> {log}\n')
    # No real wait between attempts in the test.
    _tool(bin_dir, "sleep", "exit 0\n")
    result = subprocess.run(
        ["sh", str(HOOKS / hook)],
        check=False,
        env={"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    result.stdout += log.read_text() if log.exists() else ""
    return result


def test_postdeploy_waits_for_both_functions_before_enabling_the_subscriptions(
    tmp_path: Path,
) -> None:
    result = _run("postdeploy.sh", tmp_path, az_failures=2, **DEPLOY_ENV)
    assert result.returncode == 0, result.stderr
    calls = [line for line in result.stdout.splitlines() if line.startswith(("az ", "azd "))]
    shows = [c for c in calls if c.startswith("az functionapp function show")]
    # Two refusals for the first function, then each is listed once.
    assert len(shows) == 4
    assert all("--resource-group rg-test --name func-test" in c for c in shows)
    assert sum("--function-name on_landing_blob_created" in c for c in shows) == 3
    assert sum("--function-name on_labeled_blob_created" in c for c in shows) == 1
    # Only then: the subscription switch and the second provision, in that order.
    assert calls[-2:] == ["azd env set AVOPS_EVENT_SUBSCRIPTION true", "azd provision --no-prompt"]


def test_postdeploy_gives_up_without_enabling_when_the_function_never_appears(
    tmp_path: Path,
) -> None:
    result = _run(
        "postdeploy.sh", tmp_path, az_failures=1000, AVOPS_FUNCTION_WAIT_SECONDS="0", **DEPLOY_ENV
    )
    assert result.returncode == 1
    assert "on_landing_blob_created is not listed" in result.stderr
    assert "azd " not in result.stdout


def test_postdeploy_does_nothing_once_the_subscription_is_on(tmp_path: Path) -> None:
    result = _run(
        "postdeploy.sh", tmp_path, az_failures=0, AVOPS_EVENT_SUBSCRIPTION="true", **DEPLOY_ENV
    )
    assert result.returncode == 0
    assert "az " not in result.stdout and "azd " not in result.stdout


def test_postprovision_retries_the_registry_build_while_the_role_applies(tmp_path: Path) -> None:
    """The first builds are refused (role assignment not applied yet); the hook retries."""
    result = _run(
        "postprovision.sh",
        tmp_path,
        az_failures=1,
        AZURE_CONTAINER_REGISTRY_NAME="crtest",
        AVOPS_WORKER_IMAGE="avops-extract-worker:latest",
    )
    assert result.returncode == 0, result.stderr
    builds = [line for line in result.stdout.splitlines() if line.startswith("az acr build")]
    assert len(builds) == 2
    assert "--registry crtest --image avops-extract-worker:latest" in builds[-1]
