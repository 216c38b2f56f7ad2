"""Routes, request parsing and validation for the `api` function: one table of routes, one dispatcher.

Order of checks, so a refused request learns nothing and writes nothing: route and method, then the
caller's token (401), then the URL's tenant against the token's (404), then the query and body (4xx),
and only then the handler.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import flask
from pydantic import BaseModel, ValidationError
from werkzeug.exceptions import MethodNotAllowed as WerkzeugMethodNotAllowed
from werkzeug.exceptions import NotFound as WerkzeugNotFound
from werkzeug.routing import Map, Rule

from shared.auth.crm_token import CrmPrincipal, CrmTokenVerifier
from shared.errors import (
    BadInput,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    UnsupportedMediaType,
)

logger = logging.getLogger(__name__)

Services = TypeVar("Services")
BodyT = TypeVar("BodyT", bound=BaseModel)


@dataclass(frozen=True)
class HeaderParam:
    """A request header a route reads (documented in OpenAPI; handlers validate its value)."""

    name: str
    description: str
    pattern: str
    required: bool = True


@dataclass(frozen=True)
class Call:
    """What a handler receives: the authenticated caller and the validated parts of the request."""

    principal: CrmPrincipal | None
    path: Mapping[str, str]
    query: BaseModel | None
    body: BaseModel | None
    headers: Mapping[str, str] = field(default_factory=dict)  # only those the route declares
    raw: bytes | None = None  # a raw body (an upload), for routes that take one
    content_type: str | None = None  # the raw body's media type

    def body_as(self, model: type[BodyT]) -> BodyT:
        assert isinstance(self.body, model)
        return self.body

    def query_as(self, model: type[BodyT]) -> BodyT:
        assert isinstance(self.query, model)
        return self.query


@dataclass(frozen=True)
class Reply:
    """A JSON ``body``, or a ``raw`` response the handler built itself (bytes, a stream: never JSON)."""

    body: BaseModel | None = None
    status: int = 200
    raw: flask.Response | None = None


@dataclass(frozen=True)
class Route(Generic[Services]):
    method: str
    path: str  # werkzeug syntax: /v1/tenants/<tenant_id>
    operation_id: str
    summary: str
    handler: Callable[[Services, Call], Reply]
    response_model: type[BaseModel] | None  # None: the handler answers raw bytes (``Reply.raw``)
    success_statuses: tuple[int, ...] = (200,)
    body_model: type[BaseModel] | None = None
    query_model: type[BaseModel] | None = None
    authenticated: bool = True
    # Validates the path's parameters (those it names; the rest stay plain strings): 400 when not valid.
    path_model: type[BaseModel] | None = None
    # Problem statuses this route can answer besides the ones every route can (documented in OpenAPI).
    problem_statuses: tuple[int, ...] = field(default_factory=tuple)
    headers: tuple[HeaderParam, ...] = ()
    # A route taking raw bytes (an upload) rather than JSON: the most it takes (413 beyond).
    raw_body_limit: int | None = None


@dataclass(frozen=True)
class Mounted(Generic[Services]):
    """A route and what builds the few collaborators its handler receives (once per instance)."""

    route: Route[Services]
    services: Callable[[], Services]


def mount(routes: list[Route[Services]], services: Callable[[], Services]) -> list[Mounted[Any]]:
    return [Mounted(route, services) for route in routes]


class Router:
    def __init__(
        self,
        mounted: list[Mounted[Any]],
        *,
        verifier: Callable[[], CrmTokenVerifier],
        max_request_bytes: Callable[[], int],
    ) -> None:
        self.routes = [item.route for item in mounted]
        self._verifier = verifier
        self._max_request_bytes = max_request_bytes
        self._by_endpoint = {item.route.operation_id: item for item in mounted}
        self._map = Map(
            [Rule(r.path, endpoint=r.operation_id, methods=[r.method]) for r in self.routes],
            strict_slashes=False,
            merge_slashes=False,
        )

    def dispatch(self, request: flask.Request) -> flask.Response:
        adapter = self._map.bind("localhost", url_scheme="https")
        try:
            endpoint, path_params = adapter.match(request.path, method=request.method)
        except WerkzeugNotFound:
            raise NotFound("No such endpoint.", code="no_such_endpoint") from None
        except WerkzeugMethodNotAllowed as error:
            allowed = ", ".join(sorted(error.valid_methods or []))
            raise MethodNotAllowed(f"Allowed methods: {allowed}.") from None
        mounted = self._by_endpoint[str(endpoint)]
        route = mounted.route
        principal = (
            self._verifier().verify(request.headers.get("Authorization")) if route.authenticated else None
        )
        if principal is not None:
            _refuse_foreign_ids(route, principal, path_params)
        if route.path_model is not None:
            _validate(route.path_model, dict(path_params), where="path")
        query = _parse_query(route.query_model, request.args)
        body = self._parse_body(route.body_model, request)
        raw = _read_raw(route.raw_body_limit, request) if route.raw_body_limit is not None else None
        headers = {h.name: value for h in route.headers if (value := request.headers.get(h.name)) is not None}
        call = Call(
            principal=principal,
            path=path_params,
            query=query,
            body=body,
            headers=headers,
            raw=raw,
            content_type=(request.mimetype or None) if raw is not None else None,
        )
        reply = route.handler(mounted.services(), call)
        if reply.raw is not None:
            return reply.raw
        if reply.body is None:
            raise TypeError(f"{route.operation_id} answered neither a body nor a raw response")
        return flask.Response(reply.body.model_dump_json(), status=reply.status, mimetype="application/json")

    def _parse_body(self, model: type[BaseModel] | None, request: flask.Request) -> BaseModel | None:
        if model is None:
            return None
        limit = self._max_request_bytes()
        if request.content_length is not None and request.content_length > limit:
            raise PayloadTooLarge(f"The body is larger than {limit} bytes.")
        if request.mimetype != "application/json":
            raise UnsupportedMediaType("The body must be application/json.")
        raw = request.stream.read(limit + 1)  # bounded even when the length was not declared
        if len(raw) > limit:
            raise PayloadTooLarge(f"The body is larger than {limit} bytes.")
        try:
            json.loads(raw)
        except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: nesting too deep
            raise BadInput("The body is not valid JSON.", code="malformed_json") from None
        # Strict JSON validation: a body says what it means ("yes" is not a boolean, 1 not a string).
        return _validate(model, raw, where="body", json_strict=True)


def _read_raw(limit: int, request: flask.Request) -> bytes:
    """The raw body, read no further than ``limit`` bytes (413 beyond it, declared or not)."""
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge(f"The body is larger than {limit} bytes.")
    raw = request.stream.read(limit + 1)
    if len(raw) > limit:
        raise PayloadTooLarge(f"The body is larger than {limit} bytes.")
    return raw


# A URL naming another tenant, or another user of the tenant, than the token: 404, not 403, so a caller
# cannot learn which ids exist. Each refusal is audited for security review.
_OWN_IDS = (
    ("tenant_id", "tenant_id", "No such tenant.", "tenant_not_found"),
    ("user_id", "user_id", "No such user connection.", "connection_not_found"),
)


def _refuse_foreign_ids(route: Route[Any], principal: CrmPrincipal, path_params: Mapping[str, str]) -> None:
    for parameter, claim, detail, code in _OWN_IDS:
        if parameter in path_params and path_params[parameter] != getattr(principal, claim):
            logger.warning(
                "request for another tenant or user refused",
                extra={
                    "fields": {
                        "audit": True,
                        "route": route.operation_id,
                        "caller_tenant": principal.tenant_id,
                    }
                },
            )
            raise NotFound(detail, code=code)


def _parse_query(model: type[BaseModel] | None, args: Mapping[str, str]) -> BaseModel | None:
    if model is None:
        if args:
            raise BadInput("This endpoint takes no query parameters.", code="validation_failed")
        return None
    return _validate(model, dict(args), where="query")


def _validate(model: type[BaseModel], data: Any, *, where: str, json_strict: bool = False) -> BaseModel:
    try:
        if json_strict:
            return model.model_validate_json(data, strict=True)
        return model.model_validate(data)
    except ValidationError as error:
        # Only where and why: pydantic's `input` would echo the caller's values (addresses, tokens).
        errors = [
            {"location": [where, *map(str, item["loc"])], "message": item["msg"], "type": item["type"]}
            for item in error.errors(include_url=False, include_input=False, include_context=False)
        ]
        raise BadInput(f"The {where} is not valid.", code="validation_failed", errors=errors) from None
