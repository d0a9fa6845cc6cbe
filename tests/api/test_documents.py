"""The OpenAPI document (generated, checked in, served) and the offline docs page."""

from __future__ import annotations

import json
import re
from pathlib import Path

from dataops.api import ROUTES, openapi_document
from function_app.extraction import EXTRACT_ROUTE
from function_app.labeling_export import LABEL_EXPORT_ROUTES
from function_app.operations import OPERATION_ROUTES
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
    assert operations == {(op.method, "/" + op.route) for op in ROUTES}


def test_every_route_of_the_table_is_a_registered_function_and_back() -> None:
    registered = {(m, "/".join(r.template)) for r in http_functions() for m in r.methods}
    table = {(op.method, op.route) for op in ROUTES}
    assert table <= registered
    # Health and the operations starters (rerun, rehydrate, extract) are not Metadata API
    # operations.
    not_api = {"health", *OPERATION_ROUTES, EXTRACT_ROUTE, *LABEL_EXPORT_ROUTES}
    assert {(m, r) for m, r in registered if r not in not_api} - table == set()


def test_every_error_response_is_problem_json_and_every_ref_resolves() -> None:
    document = openapi_document()
    schemas = document["components"]["schemas"]
    for refs in re.findall(r'"\$ref": "#/components/schemas/([^"]+)"', json.dumps(document)):
        assert refs in schemas
    for item in document["paths"].values():
        for operation in item.values():
            for status, response in operation["responses"].items():
                if int(status) >= 400:
                    assert list(response["content"]) == ["application/problem+json"]


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
        assert f"<code>/api/{op.route}</code>" in page
    assert 'id="schema-Measurement"' in page
