"""The saved KQL queries and the alert use the names the app's telemetry really emits."""

from __future__ import annotations

import re
from pathlib import Path

from dataops.telemetry import ID_FIELDS
from tests.infra.bicep_source import BicepFile, Expr

ROOT = Path(__file__).resolve().parents[2]
QUERIES = ROOT / "infra" / "queries"
MODULES = ROOT / "infra" / "modules"


def _saved() -> list[dict[str, object]]:
    saved = BicepFile.read(MODULES / "monitoring.bicep").var("savedQueries")
    assert isinstance(saved, list)
    return saved


def test_every_query_file_is_deployed() -> None:
    monitoring = (MODULES / "monitoring.bicep").read_text()
    alerts = (MODULES / "alerts.bicep").read_text()
    for path in QUERIES.glob("*.kql"):
        ref = f"loadTextContent('../queries/{path.name}')"
        assert ref in monitoring or ref in alerts, f"{path.name} is deployed nowhere"


def test_measurement_query_follows_every_id_the_telemetry_sets() -> None:
    text = (QUERIES / "measurement.kql").read_text()
    for field in ID_FIELDS:
        assert f"Properties.{field}" in text, f"measurement.kql ignores {field}"


def test_function_parameters_are_the_names_the_bodies_use() -> None:
    for query in _saved():
        params = str(query["functionParameters"])
        loader = query["query"]
        assert isinstance(loader, Expr), "saved queries load their body from infra/queries/"
        match = re.fullmatch(r"loadTextContent\('\.\./queries/([\w-]+\.kql)'\)", loader.text)
        assert match, loader.text
        body = (QUERIES / match[1]).read_text()
        for name in re.findall(r"(\w+):\w+", params):
            assert re.search(rf"\b{name}\b", body), f"{query['name']}: {name} unused"


def test_alert_defines_the_threshold_the_query_needs() -> None:
    alerts = (MODULES / "alerts.bicep").read_text()
    assert "'let expectedMinutes = ${expectedRunMinutes};\\n${loadTextContent(" in alerts
    body = (QUERIES / "slow-runs.kql").read_text()
    assert "durationMinutes > expectedMinutes" in body
    assert "let expectedMinutes" not in body, "the threshold comes from the caller"
