"""Smoke test of a deployed environment: upload the small sample drive to landing and wait, through
the Metadata API, until its SCENES datastream is COMPLETED, printing when each stage got there.

    python infra/scripts/smoke.py --scope api://<app client id>/.default [--function-key KEY]

Settings come from the azd environment (`azd env get-values`) or the process environment:
AVOPS_LANDING_ACCOUNT_URL (upload, with your Entra identity: Blob Data Contributor on landing)
and AZURE_FUNCTION_APP_URL (the API). The API is called with an Entra token for ``--scope``
(App Service authentication in front of the app, AVOPS_API_TRUST_CLIENT_PRINCIPAL=true) and the
function key (``--function-key`` or AVOPS_FUNCTION_KEY; `az functionapp keys list`). Exit 0 when
SCENES completes, 1 when a datastream fails or the deadline passes, 2 on bad configuration.
See docs/deployment.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# The pipeline's datastreams in the order they appear for one upload.
STAGES = ("RAW", "EXTRACTED", "SYNCHRONIZED", "ENRICHED", "SCENES")
GetJson = Callable[[str], Any]


def _say(text: str, *, error: bool = False) -> None:
    stream = sys.stderr if error else sys.stdout
    stream.write(text + "\n")
    stream.flush()


class SmokeError(Exception):
    """The environment is not configured for the smoke test (exit 2)."""


@dataclass
class StageClock:
    """When each datastream type was first seen COMPLETED (seconds after the upload)."""

    started: float
    completed: dict[str, float] = field(default_factory=dict)

    def observe(self, items: list[Mapping[str, Any]], now: float) -> list[str]:
        """Record newly completed stages; return lines to print. A FAILED stage raises."""
        lines = []
        for item in items:
            kind, state = item.get("type"), item.get("state")
            if state == "FAILED":
                reason = item.get("state_reason") or "no reason given"
                raise RuntimeError(f"{kind} datastream {item.get('id')} FAILED: {reason}")
            if state == "COMPLETED" and kind in STAGES and kind not in self.completed:
                self.completed[kind] = now - self.started
                lines.append(f"{kind:<13} COMPLETED after {self.completed[kind]:7.1f} s")
        return lines

    @property
    def done(self) -> bool:
        return "SCENES" in self.completed


def wait_for_scenes(
    get_json: GetJson,
    measurement_id: str,
    clock: StageClock,
    *,
    deadline_s: float,
    poll_s: float = 10.0,
    now: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    out: Callable[[str], None] = _say,
) -> None:
    """Poll the measurement's datastreams until SCENES completes; print each stage once."""
    listed = False
    while True:
        try:
            page = get_json(f"measurements/{measurement_id}/datastreams")
        except LookupError:
            page = None  # 404: ingest has not recorded the measurement yet
        if page is not None:
            if not listed:
                listed = True
                out(f"{'measurement':<13} listed    after {now() - clock.started:7.1f} s")
            for line in clock.observe(page["items"], now()):
                out(line)
            if clock.done:
                return
        if now() - clock.started > deadline_s:
            missing = [s for s in STAGES if s not in clock.completed]
            raise TimeoutError(f"after {deadline_s:.0f} s still not COMPLETED: {missing}")
        sleep(poll_s)


def azd_values() -> dict[str, str]:
    """`azd env get-values` as a dict; empty when azd is missing or has no environment."""
    try:
        result = subprocess.run(
            ["azd", "env", "get-values", "--output", "json"],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
    except FileNotFoundError:
        return {}
    if result.returncode != 0:
        return {}
    values = json.loads(result.stdout or "{}")
    return {str(k): str(v) for k, v in values.items()}


def setting(name: str, values: Mapping[str, str]) -> str:
    """From the process environment first, then the azd environment."""
    value = os.environ.get(name) or values.get(name)
    if not value:
        raise SmokeError(f"{name} is not set (azd env get-values, or export it)")
    return value


def api_getter(base_url: str, token: Callable[[], str], function_key: str | None) -> GetJson:
    """GET <base>/api/<path> with the bearer token and function key; 404 -> LookupError."""
    import httpx

    def get_json(path: str) -> Any:
        headers = {"Authorization": f"Bearer {token()}"}
        if function_key:
            headers["x-functions-key"] = function_key
        response = httpx.get(f"{base_url.rstrip('/')}/api/{path}", headers=headers, timeout=30)
        if response.status_code == 404:
            raise LookupError(path)
        response.raise_for_status()
        return response.json()

    return get_json


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--scope", default=os.environ.get("AVOPS_API_SCOPE"))
    parser.add_argument("--function-key", default=os.environ.get("AVOPS_FUNCTION_KEY"))
    parser.add_argument("--deadline-minutes", type=float, default=60.0)
    parser.add_argument("--poll-seconds", type=float, default=10.0)
    args = parser.parse_args(argv)
    if not args.scope:
        _say("smoke: --scope (or AVOPS_API_SCOPE) is not set: api://<app id>/.default", error=True)
        return 2
    try:
        values = azd_values()
        landing_url = setting("AVOPS_LANDING_ACCOUNT_URL", values)
        api_url = setting("AZURE_FUNCTION_APP_URL", values)
    except SmokeError as err:
        _say(f"smoke: {err}", error=True)
        return 2

    from azure.identity import DefaultAzureCredential

    from avops.sample_drive import generate_drive
    from dataops.manifest import measurement_id_of, parse_manifest
    from dataops.settings import Settings
    from dataops.storage import BlobZones
    from dataops.uploader import upload_measurement

    credential = DefaultAzureCredential()
    get_json = api_getter(
        api_url, lambda: credential.get_token(args.scope).token, args.function_key
    )
    # A new seed per run: a new vehicle and measurement, so an earlier run's results never count.
    seed = int(time.time())
    with tempfile.TemporaryDirectory() as tmp:
        drive = Path(tmp) / "drive"
        generate_drive(drive, seed=seed, size="small")
        manifest = parse_manifest((drive / "manifest.json").read_bytes())
        measurement_id = measurement_id_of(manifest)
        prefix = f"smoke/{seed}"
        _say(f"uploading the sample drive to landing/{prefix} (measurement {measurement_id})")
        settings = Settings(storage_account_urls={"landing": landing_url})
        started = time.monotonic()
        with BlobZones.from_settings(settings) as zones:
            upload_measurement(zones, drive, manifest, upload_prefix=prefix)
    clock = StageClock(started=started)
    _say(f"{'upload':<13} done      after {time.monotonic() - started:7.1f} s")
    try:
        wait_for_scenes(
            get_json,
            measurement_id,
            clock,
            deadline_s=args.deadline_minutes * 60,
            poll_s=args.poll_seconds,
        )
    except (RuntimeError, TimeoutError) as err:
        _say(f"smoke: {err}", error=True)
        return 1
    _say("smoke: the sample went from landing to SCENES")
    return 0


if __name__ == "__main__":
    sys.exit(main())
