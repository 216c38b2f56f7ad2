"""Builds the OpenAPI 3.1 document of the API from its route table and models (never by hand)."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from shared.api.routing import Route

# Every authenticated route can answer these; a body adds 400/413/415; routes add their own.
_AUTHENTICATED_PROBLEMS = (401, 404)
_BODY_PROBLEMS = (400, 413, 415)
_ALWAYS = (405, 500, 503)
_REASONS = {
    400: "Bad input",
    401: "Missing, malformed or expired token",
    403: "Not allowed for this connection: a feature off, a scope not granted, the plan",
    404: "Not found (also: another tenant's id)",
    405: "Method not allowed",
    409: "Conflict",
    413: "Body too large",
    415: "Body is not application/json",
    500: "Internal error",
    503: "Temporarily unavailable; retry",
}
_PARAM = re.compile(r"<(?:[a-z]+:)?([a-z_]+)>")


class Problem(BaseModel):
    """RFC 9457 problem details; ``code`` is stable and what clients should branch on."""

    type: str
    title: str
    status: int
    code: str
    detail: str
    instance: str | None = None
    errors: list[dict[str, Any]] | None = None


def build_openapi(routes: list[Route[Any]], *, version: str) -> dict[str, Any]:
    models: set[type[BaseModel]] = {Problem}
    for route in routes:
        models.update(m for m in (route.response_model, route.body_model) if m is not None)
    _, definitions = models_json_schema(
        [(model, "serialization") for model in sorted(models, key=lambda m: m.__name__)],
        ref_template="#/components/schemas/{model}",
    )
    schemas = definitions.get("$defs", {})
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        paths.setdefault(_PARAM.sub(r"{\1}", route.path), {})[route.method.lower()] = _operation(route)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "CRM Google integration API",
            "version": version,
            "description": "Called by the CRM backend with a short-lived JWT it signs (ES256 or RS256).",
        },
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": dict(sorted(schemas.items())),
            "securitySchemes": {"crmJwt": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        },
    }


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _operation(route: Route[Any]) -> dict[str, Any]:
    operation: dict[str, Any] = {"operationId": route.operation_id, "summary": route.summary}
    path_schema = route.path_model.model_json_schema()["properties"] if route.path_model else {}
    parameters: list[dict[str, Any]] = [
        _path_parameter(name, path_schema) for name in _PARAM.findall(route.path)
    ]
    if route.query_model is not None:
        query_schema = route.query_model.model_json_schema()
        for name, schema in query_schema["properties"].items():
            parameters.append(
                {
                    "name": name,
                    "in": "query",
                    "required": name in query_schema.get("required", []),
                    "description": schema.get("description", ""),
                    "schema": {k: v for k, v in schema.items() if k not in ("title", "description")},
                }
            )
    for header in route.headers:
        parameters.append(
            {
                "name": header.name,
                "in": "header",
                "required": header.required,
                "description": header.description,
                "schema": {"type": "string", "pattern": header.pattern},
            }
        )
    if parameters:
        operation["parameters"] = parameters
    if route.body_model is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": _ref(route.body_model)}},
        }
    if route.raw_body_limit is not None:
        operation["requestBody"] = {
            "required": True,
            "description": f"The file's bytes, at most {route.raw_body_limit}; Content-Type: its media type.",
            "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
        }
    responses: dict[str, Any] = {
        str(status): _success(route.response_model, status) for status in route.success_statuses
    }
    problems = set(_ALWAYS) | set(route.problem_statuses)
    if route.authenticated:
        problems |= set(_AUTHENTICATED_PROBLEMS)
        operation["security"] = [{"crmJwt": []}]
    else:
        operation["security"] = []
    if (
        route.body_model is not None
        or route.query_model is not None
        or route.path_model is not None
        or route.headers
    ):
        problems |= set(_BODY_PROBLEMS) if route.body_model is not None else {400}
    for status in sorted(problems):
        responses[str(status)] = {
            "description": _REASONS[status],
            "content": {"application/problem+json": {"schema": _ref(Problem)}},
        }
    operation["responses"] = responses
    return operation


def _path_parameter(name: str, schemas: dict[str, Any]) -> dict[str, Any]:
    schema = schemas.get(name, {})
    parameter: dict[str, Any] = {
        "name": name,
        "in": "path",
        "required": True,
        "schema": {
            "type": "string",
            **{k: v for k, v in schema.items() if k not in ("title", "description")},
        },
    }
    if "description" in schema:
        parameter["description"] = schema["description"]
    return parameter


def _success(model: type[BaseModel] | None, status: int) -> dict[str, Any]:
    description = {201: "Created", 202: "Accepted"}.get(status, "OK")
    if model is None:  # a raw answer: the bytes themselves, typed by their own Content-Type
        return {
            "description": f"{description}: the raw bytes, with their Content-Type and Content-Disposition.",
            "headers": {
                "Content-Disposition": {
                    "description": "attachment; filename=\"…\"; filename*=UTF-8''… (RFC 6266, RFC 5987)",
                    "schema": {"type": "string"},
                }
            },
            "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
        }
    return {"description": description, "content": {"application/json": {"schema": _ref(model)}}}


API_VERSION = "1.0.0"
