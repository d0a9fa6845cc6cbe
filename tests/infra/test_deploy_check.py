"""`make deploy-check` and the smoke script's stage tracking, without Azure: the CLIs are
stand-ins on PATH that record their arguments, the Metadata API a scripted getter."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "infra" / "scripts" / "deploy-check.sh"


def _run(tmp_path: Path, tools: dict[str, str], **env: str) -> tuple[int, str, list[str]]:
    """Run deploy-check with only ``tools`` (name -> shell body) and basic commands on PATH."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    log = tmp_path / "calls.log"
    for name in ("sh", "dirname", "cat"):
        target = bin_dir / name
        if not target.exists():
            target.symlink_to(Path(subprocess.check_output(["which", name], text=True).strip()))
    for name, body in tools.items():
        path = bin_dir / name
        path.write_text(f'#!/bin/sh\necho "{name} $*" >> {log}\n{body}\n')
        path.chmod(0o755)
    result = subprocess.run(
        ["sh", str(SCRIPT)],
        env={"PATH": str(bin_dir), **env},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    calls = log.read_text().splitlines() if log.exists() else []
    return result.returncode, result.stdout + result.stderr, calls


def test_without_the_tools_every_check_says_it_was_skipped(tmp_path: Path) -> None:
    code, output, calls = _run(tmp_path, {})
    assert code == 0
    assert "skipped: az not installed (az bicep build, az bicep lint)" in output
    assert "skipped: azd not installed (azd provision --preview)" in output
    assert calls == []


def test_ci_can_require_the_tools(tmp_path: Path) -> None:
    code, output, _ = _run(tmp_path, {}, DEPLOY_CHECK_REQUIRE="1")
    assert code == 1
    assert "2 check(s) skipped and DEPLOY_CHECK_REQUIRE=1" in output


def test_with_the_tools_it_builds_lints_and_previews(tmp_path: Path) -> None:
    code, output, calls = _run(tmp_path, {"az": "exit 0", "azd": "exit 0"})
    assert code == 0, output
    main = str(ROOT / "infra" / "main.bicep")
    assert calls == [
        f"az bicep build --file {main} --stdout",
        f"az bicep lint --file {main}",
        "azd env get-values",
        "azd provision --preview --no-prompt",
    ]


def test_a_failing_build_fails_the_check(tmp_path: Path) -> None:
    code, output, _ = _run(tmp_path, {"az": '[ "$2" = build ] && exit 1; exit 0'})
    assert code == 1
    assert "FAILED: az bicep build" in output
    assert "ok: az bicep lint" in output


def test_without_an_azd_environment_the_preview_is_skipped(tmp_path: Path) -> None:
    code, output, _ = _run(tmp_path, {"azd": '[ "$1" = env ] && exit 1; exit 0'})
    assert code == 0
    assert "skipped: no azd environment" in output


def _smoke() -> ModuleType:
    spec = importlib.util.spec_from_file_location("smoke", ROOT / "infra" / "scripts" / "smoke.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["smoke"] = module
    spec.loader.exec_module(module)
    return module


class _Api:
    """The Metadata API's datastream list over time: 404 first, then stages complete."""

    def __init__(self, pages: list[list[dict[str, Any]] | None]) -> None:
        self.pages = pages
        self.paths: list[str] = []

    def __call__(self, path: str) -> Any:
        self.paths.append(path)
        page = self.pages.pop(0) if len(self.pages) > 1 else self.pages[0]
        if page is None:
            raise LookupError(path)
        return {"measurement_id": "m-1", "items": page}


def _ds(kind: str, state: str) -> dict[str, Any]:
    return {"id": f"{kind.lower()}-1", "type": kind, "state": state}


def test_smoke_prints_each_stage_once_until_scenes_completes() -> None:
    smoke = _smoke()
    api = _Api(
        [
            None,
            [_ds("RAW", "COPYING")],
            [_ds("RAW", "COMPLETED"), _ds("EXTRACTED", "PROCESSING")],
            [_ds("RAW", "COMPLETED"), _ds("EXTRACTED", "COMPLETED")],
            [_ds(k, "COMPLETED") for k in smoke.STAGES],
        ]
    )
    ticks = iter(range(100))
    lines: list[str] = []
    clock = smoke.StageClock(started=0.0)
    smoke.wait_for_scenes(
        api,
        "m-1",
        clock,
        deadline_s=60,
        now=lambda: float(next(ticks)),
        sleep=lambda s: None,
        out=lines.append,
    )
    assert api.paths == ["measurements/m-1/datastreams"] * 5
    assert [line.split()[0] for line in lines] == ["measurement", *smoke.STAGES]
    assert list(clock.completed) == list(smoke.STAGES)
    assert clock.completed["RAW"] < clock.completed["EXTRACTED"] < clock.completed["SCENES"]


def test_smoke_stops_on_a_failed_datastream_and_at_the_deadline() -> None:
    smoke = _smoke()
    failed = _Api([[_ds("RAW", "COMPLETED"), {**_ds("EXTRACTED", "FAILED"), "state_reason": "x"}]])

    def wait_quietly(api: _Api, now: Callable[[], float]) -> None:
        smoke.wait_for_scenes(
            api,
            "m-1",
            smoke.StageClock(0.0),
            deadline_s=60,
            now=now,
            sleep=lambda s: None,
            out=lambda line: None,
        )

    with pytest.raises(RuntimeError, match="EXTRACTED datastream extracted-1 FAILED: x"):
        wait_quietly(failed, lambda: 1.0)
    ticks = iter(range(0, 1000, 30))
    stuck = _Api([[_ds("RAW", "COMPLETED")]])
    with pytest.raises(TimeoutError, match="'EXTRACTED'"):
        wait_quietly(stuck, lambda: float(next(ticks)))


def test_smoke_without_settings_exits_2_naming_what_is_missing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    smoke = _smoke()
    monkeypatch.setattr(smoke, "azd_values", dict)
    for name in ("AVOPS_LANDING_ACCOUNT_URL", "AZURE_FUNCTION_APP_URL", "AVOPS_API_SCOPE"):
        monkeypatch.delenv(name, raising=False)
    assert smoke.main(["--scope", "api://x/.default"]) == 2
    assert "AVOPS_LANDING_ACCOUNT_URL is not set" in capsys.readouterr().err
    assert smoke.main([]) == 2
    assert "--scope" in capsys.readouterr().err
