"""The monitor dashboard in headless Chromium: list, filters, instance page, actions, screenshot."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from devhost.durable.store import RuntimeStatus
from devhost.host import DevHost
from tests.devhost.chromium import Browser, find_chromium
from tests.devhost.hosting import run_with_host, sample_app_options, wait_until

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def _status(host: DevHost, instance_id: str) -> RuntimeStatus | None:
    inst = host.engine.get_instance(instance_id)
    return None if inst is None else inst.status


def test_dashboard_in_headless_chromium(tmp_path: Path, out_file: Path) -> None:
    binary = find_chromium()
    options = sample_app_options(tmp_path)

    async def body(host: DevHost) -> None:
        engine = host.engine
        engine.start_new("hello_seq", "done-1", json.dumps(["x"]))
        engine.start_new("approval", "waiting-1")
        engine.start_new("explodes", "failed-1")
        engine.start_new("parent", "parent-1")
        await wait_until(
            lambda: (
                _status(host, "done-1") is RuntimeStatus.COMPLETED
                and _status(host, "parent-1") is RuntimeStatus.COMPLETED
                and _status(host, "failed-1") is RuntimeStatus.FAILED
                and _status(host, "waiting-1") is RuntimeStatus.RUNNING
            ),
            what="instances",
        )
        base = host.base_url
        async with Browser(binary) as page:
            await page.goto(f"{base}/dashboard")
            ids = await page.evaluate(
                "[...document.querySelectorAll('tr.instance-row td:nth-child(2)')]"
                ".map(t => t.textContent)"
            )
            assert {"done-1", "waiting-1", "failed-1", "parent-1", "child-b"} <= set(ids)
            custom = await page.evaluate(
                "[...document.querySelectorAll('tr.instance-row')]"
                ".find(r => r.textContent.includes('waiting-1'))"
                ".children[3].textContent"
            )
            assert "waiting for approval" in custom
            await page.screenshot(ARTIFACTS / "dashboard-list.png")

            # Filter by status through the form, as a user would.
            await page.evaluate("document.querySelector('select[name=status]').value = 'Failed'")
            await page.click_and_wait("#filters button")
            statuses = await page.evaluate(
                "[...document.querySelectorAll('tr.instance-row')].map(r => r.dataset.status)"
            )
            assert statuses == ["Failed"]
            await page.goto(f"{base}/dashboard?name=hello")
            names = await page.evaluate(
                "[...document.querySelectorAll('tr.instance-row td:first-child')]"
                ".map(t => t.textContent)"
            )
            assert names and set(names) == {"hello_seq"}

            # Instance page: input, output, history and sub-orchestrations.
            await page.goto(f"{base}/dashboard/instances/parent-1")
            children = await page.evaluate(
                "[...document.querySelectorAll('#children a')].map(a => a.textContent)"
            )
            assert set(children) == {"parent-1:0", "child-b"}
            history = await page.evaluate("document.querySelectorAll('#history tbody tr').length")
            assert history > 5
            output = await page.evaluate("document.querySelector('h2 + pre, pre') !== null")
            assert output
            await page.screenshot(ARTIFACTS / "dashboard-instance.png")

            # Terminate, restart and purge buttons.
            await page.goto(f"{base}/dashboard/instances/waiting-1")
            await page.click_and_wait("#terminate")
            await wait_until(
                lambda: _status(host, "waiting-1") is RuntimeStatus.TERMINATED, what="terminate"
            )
            await page.goto(f"{base}/dashboard/instances/waiting-1")
            assert (
                await page.evaluate("document.querySelector('#status').textContent") == "Terminated"
            )
            await page.click_and_wait("#restart")
            new_id = await page.evaluate("document.querySelector('#instance-id').textContent")
            assert new_id != "waiting-1"
            await wait_until(
                lambda: _status(host, new_id) is RuntimeStatus.RUNNING, what="restarted run"
            )
            await page.goto(f"{base}/dashboard/instances/done-1")
            await page.click_and_wait("#purge")
            assert engine.get_instance("done-1") is None
            assert "done-1" not in await page.evaluate("document.body.textContent")

    run_with_host(options, body)
    assert (ARTIFACTS / "dashboard-list.png").stat().st_size > 1000


@pytest.mark.parametrize("ci", ["true", ""])
def test_missing_chromium_fails_in_ci_and_skips_locally(
    monkeypatch: pytest.MonkeyPatch, ci: str
) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setenv("CI", ci)
    outcome = pytest.fail.Exception if ci else pytest.skip.Exception
    with pytest.raises(outcome, match="apt-get install -y chromium"):
        find_chromium()
