"""The OpenAPI document (generated, checked in, served) and the offline docs page."""

from __future__ import annotations

import json
import re
from pathlib import Path

from dataops.api import HANDLERS, ROUTES, RUN_HANDLERS, Role, openapi_document
from devhost.loader import indexed_functions
from function_app import app
from tests.api.function_host import FunctionHost, http_functions

ROOT = Path(__file__).resolve().parents[2]
CHECKED_IN = ROOT / "docs" / "openapi.json"


def test_checked_in_document_is_current() -> None:
    assert CHECKED_IN.is_file(), "run: python -m dataops.api.export_openapi"
    assert json.loads(CHECKED_IN.read_text()) == openapi_document(), (
        "docs/openapi.json is stale: python -m dataops.api.export_openapi"
    )


def test_served_document_is_openapi_3_1_with_every_route() -> None:
    response = FunctionHost().request("GET", "/api/openapi.json")
    assert response.status == 200
    document = response.json()
    assert document["openapi"] == "3.1.0"
    operations = {
        (method.upper(), path) for path, item in document["paths"].items() for method in item
    }
    assert operations == {(op.method, op.path) for op in ROUTES}


def test_every_http_trigger_of_the_app_is_a_route_of_the_table_and_back() -> None:
    """No HTTP route (API, starter, labeling, health) exists outside the table and its document."""
    registered = {(m, "/".join(r.template)) for r in http_functions() for m in r.methods}
    assert registered == {(op.method, op.route) for op in ROUTES}
    documented = {
        (method.upper(), path)
        for path, item in openapi_document()["paths"].items()
        for method in item
    }
    assert documented == {(op.method, op.path) for op in ROUTES}
    assert any(op.route == "health" for op in ROUTES)
    assert {op.route for op in ROUTES} >= {
        "runs/{id}",
        "measurements/{id}/rerun",
        "uploads/{*path}",
        "measurements/{id}/extract",
        "datastreams/{id}/rerun",
        "label-exports",
        "label-exports/{id}",
        "label-exports/{id}/revoke",
    }


def test_every_operation_has_exactly_one_handler_of_its_kind() -> None:
    """Run operations (durable client) have async handlers, the others sync ones."""
    for op in ROUTES:
        assert (op.operation_id in RUN_HANDLERS) == op.runs, op.operation_id
        assert (op.operation_id in HANDLERS) != op.runs, op.operation_id
    assert set(HANDLERS) | set(RUN_HANDLERS) == {op.operation_id for op in ROUTES}


def test_triggers_get_the_durable_client_and_key_check_the_table_asks_for() -> None:
    """Starters and the run status get a client; only role-free routes and the explorer's
    browser routes (the app checks key, principal or session cookie) skip the host's key."""
    for function in indexed_functions(app):
        trigger = function.get_trigger()
        if trigger.type != "httpTrigger":
            continue
        operations = [op for op in ROUTES if op.route == str(trigger.route)]
        bindings = {binding.type for binding in function.get_bindings()}
        assert ("durableClient" in bindings) == any(op.runs for op in operations), trigger.route
        anonymous = str(getattr(trigger.auth_level, "value", trigger.auth_level)).lower()
        assert (anonymous == "anonymous") == all(
            op.role is None or op.browser for op in operations
        ), trigger.route
        # A browser route never mixes with a route the host must key-check.
        assert len({op.browser for op in operations}) == 1, trigger.route


def test_starters_document_202_with_location_and_the_run_status_route() -> None:
    document = openapi_document()
    erasures = [op for op in ROUTES if op.status == 202 and op.role is Role.ERASE]
    assert {op.operation_id for op in erasures} == {"eraseVehicle", "eraseMeasurement"}
    for op in erasures:
        answer = document["paths"][op.path][op.method.lower()]["responses"]["202"]
        assert "Location" in answer["headers"]
        assert answer["content"]["application/json"]["schema"]["$ref"].endswith("/ErasureAnswer")
        assert document["paths"][op.path][op.method.lower()]["x-required-role"] == "erase"
    starters = [op for op in ROUTES if op.status == 202 and op.role not in (Role.ERASE, None)]
    assert {op.operation_id for op in starters} == {
        "rerunMeasurement",
        "rehydrateUpload",
        "extractMeasurement",
        "rerunDatastreamStep",
        "createLabelExport",
        "clipScene",
        "clipMeasurement",
        "explorerClipScene",
    }
    for op in starters:
        answer = document["paths"][op.path][op.method.lower()]["responses"]["202"]
        assert "Location" in answer["headers"]
        assert answer["content"]["application/json"]["schema"]["$ref"].endswith(
            ("/RunAccepted", "/LabelExportAccepted")
        )
        assert document["paths"][op.path][op.method.lower()]["x-required-role"] == "write"
    run = document["paths"]["/runs/{id}"]["get"]
    assert run["x-required-role"] == "read"
    assert set(run["responses"]) == {"200", "400", "401", "403", "404"}
    # The job-done route: no key and no role, the job's token in its header instead.
    signal = document["paths"]["/runs/{id}/batch-jobs/{job_id}/done"]["post"]
    assert signal["security"] == [{"batchJobToken": []}]
    assert document["components"]["securitySchemes"]["batchJobToken"] == {
        "type": "apiKey",
        "in": "header",
        "name": "X-AVOps-Job-Token",
        "description": "The token of one Batch job of one run (docs/batch.md).",
    }
    assert set(signal["responses"]) == {"202", "400", "403", "410", "503"}
    assert "x-required-role" not in signal
    assert [p["name"] for p in signal["parameters"]] == ["id", "job_id"]
    # The rehydrate route is a catch-all in the host; the document names its prefix.
    assert document["paths"]["/uploads/{prefix}/rehydrate"]["post"]["parameters"][0]["name"] == (
        "prefix"
    )


def test_every_error_response_is_problem_json_and_every_ref_resolves() -> None:
    """Errors are problem+json, except on the explorer's pages, which answer them as pages."""
    document = openapi_document()
    pages = {
        (op.path, op.method.lower()) for op in ROUTES if op.browser and op.media_type == "text/html"
    }
    schemas = document["components"]["schemas"]
    for refs in re.findall(r'"\$ref": "#/components/schemas/([^"]+)"', json.dumps(document)):
        assert refs in schemas
    for path, item in document["paths"].items():
        for method, operation in item.items():
            expected = ["text/html"] if (path, method) in pages else ["application/problem+json"]
            for status, response in operation["responses"].items():
                if int(status) >= 400:
                    assert list(response["content"]) == expected, (path, status)


def test_query_parameters_have_bounds() -> None:
    parameters = {
        (path, p["name"]): p
        for path, item in openapi_document()["paths"].items()
        for op in item.values()
        for p in op["parameters"]
    }
    assert parameters[("/measurements", "limit")]["schema"]["maximum"] == 1000
    assert parameters[("/measurements", "from")]["schema"]["format"] == "date-time"
    assert parameters[("/datastreams/{id}", "If-Match")]["in"] == "header"
    assert "null" not in json.dumps([p["schema"] for p in parameters.values()])


def test_docs_page_is_offline_html_with_every_route() -> None:
    response = FunctionHost().request("GET", "/api/docs")
    assert response.status == 200
    assert response.media_type == "text/html"
    page = response.body.decode()
    assert "<script" not in page.lower()
    assert not re.search(r'(src|href)="(https?:)?//', page), "the page must not load anything"
    for op in ROUTES:
        assert f"<code>/api{op.path}</code>" in page
    assert 'id="schema-Measurement"' in page
    # The job-done route says which header takes its token; the others their role.
    assert "Role: <code>none</code>; a token in <code>X-AVOps-Job-Token</code>" in page
    assert "Role: <code>write</code>" in page
