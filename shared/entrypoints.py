"""The boundary every function runs inside: trace-aware logging, and errors turned into answers.

This is the one place that catches broadly. HTTP functions answer problem+json; event functions
acknowledge or raise (so Pub/Sub redelivers) as ``shared.errors.ERROR_TABLE`` says.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from typing import Any

import flask

from shared.errors import EventOutcome, IntegrationError, Unauthenticated, mapping_for, problem_details
from shared.structured_logging import LogContext, log_context, parse_trace_headers

logger = logging.getLogger(__name__)

HttpHandler = Callable[[flask.Request], flask.Response]
EventHandler = Callable[[Any], None]


def problem_response(error: IntegrationError, *, instance: str | None = None) -> flask.Response:
    body = problem_details(error, instance=instance)
    response = flask.json.jsonify(body)
    response.status_code = body["status"]
    response.mimetype = "application/problem+json"
    if isinstance(error, Unauthenticated):
        response.headers["WWW-Authenticate"] = 'Bearer realm="crm-google-integration"'
    if error.retry_after_seconds is not None:
        response.headers["Retry-After"] = str(error.retry_after_seconds)
    return response


def http_function(name: str, *, setup: Callable[[], None]) -> Callable[[HttpHandler], HttpHandler]:
    """Wrap an HTTP entry point. ``setup`` runs before each call (cheap after the first: it configures
    logging once per instance). ``functools.wraps`` keeps the name functions-framework looks up."""

    def decorate(handler: HttpHandler) -> HttpHandler:
        @functools.wraps(handler)
        def wrapper(request: flask.Request) -> flask.Response:
            setup()
            started = time.perf_counter()
            with log_context(parse_trace_headers(dict(request.headers)), function=name):
                code: str | None = None
                try:
                    response = handler(request)
                except IntegrationError as error:
                    response, code = problem_response(error, instance=request.path), error.code
                except Exception:  # the boundary: log it, answer 500, never leak details
                    logger.exception("unhandled error")
                    response, code = (
                        problem_response(IntegrationError("An internal error occurred.")),
                        "internal",
                    )
                # One line per request; never the URL's query string or the body (credentials travel there).
                logger.log(
                    logging.ERROR if response.status_code >= 500 else logging.INFO,
                    "request handled",
                    extra={
                        "fields": {
                            "http_method": request.method,
                            "status": response.status_code,
                            "code": code,
                            "latency_ms": round((time.perf_counter() - started) * 1000, 1),
                        }
                    },
                )
                return response

        return wrapper

    return decorate


def event_function(name: str, *, setup: Callable[[], None]) -> Callable[[EventHandler], EventHandler]:
    """Wrap a CloudEvent entry point: return normally to ack, raise to have Pub/Sub redeliver."""

    def decorate(handler: EventHandler) -> EventHandler:
        @functools.wraps(handler)
        def wrapper(cloud_event: Any) -> None:
            setup()
            with log_context(LogContext(), function=name, event_id=str(cloud_event["id"])):
                try:
                    handler(cloud_event)
                except IntegrationError as error:
                    outcome = mapping_for(error).event_outcome
                    logger.log(
                        logging.WARNING if outcome is EventOutcome.RETRY else logging.ERROR,
                        "event failed",
                        extra={"fields": {"code": error.code, "outcome": outcome.value}},
                    )
                    if outcome is EventOutcome.RETRY:
                        raise
                # Anything else propagates: functions-framework answers 500 and Pub/Sub redelivers.

        return wrapper

    return decorate
