"""The OpenAPI document is generated from the routes, and the committed copy is current."""

from __future__ import annotations

import json

from shared.api.openapi import API_VERSION, build_openapi
from shared.composition import Container
from shared.config import Settings
from shared.routes import all_routes
from tests.conftest import REPO_ROOT

ROUTES = all_routes()


def test_the_committed_document_matches_the_code() -> None:
    committed = json.loads((REPO_ROOT / "docs" / "openapi.json").read_text())
    assert committed == build_openapi(ROUTES, version=API_VERSION), (
        "docs/openapi.json is stale: run `.venv/bin/python -m shared.routes > docs/openapi.json`"
    )


def test_every_route_is_documented_with_its_problems() -> None:
    document = build_openapi(ROUTES, version=API_VERSION)
    for route in ROUTES:
        path = route.path.replace("<", "{").replace(">", "}")
        operation = document["paths"][path][route.method.lower()]
        assert operation["operationId"] == route.operation_id
        if route.authenticated:
            assert "401" in operation["responses"]
            assert operation["security"] == [{"crmJwt": []}]
        if route.body_model:
            assert {"400", "413", "415"} <= set(operation["responses"])
    plan_schema = document["components"]["schemas"]["Plan"]
    assert plan_schema["enum"] == ["Free", "CRM+", "Demo", "Standard", "Professional", "NFR"]


def test_the_document_describes_exactly_the_routes_the_api_serves() -> None:
    served = Container(Settings()).api_router.routes
    assert [(r.method, r.path) for r in served] == [(r.method, r.path) for r in ROUTES]
