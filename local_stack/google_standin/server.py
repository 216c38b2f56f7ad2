"""The stand-in's HTTP server: one WSGI app that serves OAuth, Gmail, Calendar, Drive, batch, and the
admin API.

Every Google API call goes through ``_serve_api_call``, which does what Google does around a method:
fault script, bearer token and scopes, the ``userId`` check, latency, the concurrency cap, quota (Gmail's
units, Calendar's requests, Drive's units), the method itself, and the call log. Batch parts go through
the same path, one by one.
"""

from __future__ import annotations

import contextlib
import email.parser
import email.policy
import io
import json
import logging
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request, Response

from local_stack.google_standin.calls import CallLog, CallRecord
from local_stack.google_standin.clock import StandInClock
from local_stack.google_standin.errors import (
    GoogleApiError,
    OAuthError,
    bad_request,
    insufficient_scopes,
    invalid_credentials,
)
from local_stack.google_standin.faults import FaultAction, FaultRule, FaultScript
from local_stack.google_standin.limits import ConcurrencyGate, LimitSettings, QuotaMeter, charge_for
from local_stack.google_standin.routes import ApiCall, ApiRoute, PlainRoute

logger = logging.getLogger(__name__)

MAX_BATCH_PARTS = 100  # Google's limit per batch request
# Each discovery document's batchPath.
BATCH_PATHS = frozenset({"/batch", "/batch/gmail/v1", "/batch/calendar/v3", "/batch/drive/v3"})


@dataclass
class _Dropped:
    """A fault that ends the exchange without a (complete) answer."""

    action: FaultAction
    response: Response | None = None


class _QuietRequestHandler(WSGIRequestHandler):
    """No access log: the call log is the record, and query strings may carry tokens."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


def _json_response(body: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return Response(
        json.dumps(body),
        status=status,
        headers=dict(headers or {}),
        content_type="application/json; charset=UTF-8",
    )


def _error_response(error: GoogleApiError) -> Response:
    headers = {"Retry-After": str(error.retry_after_seconds)} if error.retry_after_seconds is not None else {}
    return _json_response(error.body(), error.status, headers)


class StandInServer:
    """Routes, the pipeline around API calls, and the threaded HTTP server that serves them."""

    def __init__(
        self,
        *,
        clock: StandInClock,
        limits: LimitSettings,
        resolve_token: Callable[[str], tuple[str, frozenset[str]] | None],
    ) -> None:
        self.clock = clock
        self.limits = limits
        self.faults = FaultScript()
        self.calls = CallLog()
        self.quota = QuotaMeter(lambda: self.limits, clock.now)
        self.concurrency = ConcurrencyGate(lambda: self.limits)
        self._resolve_token = resolve_token
        self._rule_specs: list[tuple[str, str, str]] = []  # (path, endpoint, method)
        self._api_routes: list[ApiRoute] = []  # by position: one method may have several paths (upload)
        self._plain_routes: dict[str, PlainRoute] = {}
        self._map: Map | None = None  # built once, at start or on the first request after a change
        self._map_lock = threading.Lock()
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    # --- routes -------------------------------------------------------------------------------------

    def add_api_routes(self, routes: Iterable[ApiRoute]) -> None:
        for route in routes:
            self._rule_specs.append((route.path, f"api:{len(self._api_routes)}", route.method))
            self._api_routes.append(route)
        self._map = None

    def add_plain_routes(self, routes: Iterable[PlainRoute]) -> None:
        for route in routes:
            self._plain_routes[route.endpoint] = route
            self._rule_specs.append((route.path, f"plain:{route.endpoint}", route.method))
        self._map = None

    def _routing_map(self) -> Map:
        """The routes as one werkzeug Map, compiled once for all the modules that added routes (each
        compile costs about a millisecond per rule, and the stand-in has about two hundred)."""
        with self._map_lock:
            if self._map is None:
                # A werkzeug Rule binds to one Map for life: every rebuild makes fresh rules.
                rules = [
                    Rule(path, endpoint=endpoint, methods=[method])
                    for path, endpoint, method in self._rule_specs
                ]
                self._map = Map(rules, strict_slashes=False, merge_slashes=False)
            return self._map

    # --- WSGI -----------------------------------------------------------------------------------------

    def wsgi_app(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        if request.path in BATCH_PATHS and request.method == "POST":
            outcome: Response | _Dropped = self._serve_batch(request)
        else:
            outcome = self._route(request, in_batch=False)
        if isinstance(outcome, _Dropped):
            return self._drop(environ, start_response, outcome)
        return outcome(environ, start_response)

    def _route(self, request: Request, *, in_batch: bool) -> Response | _Dropped:
        adapter = self._routing_map().bind_to_environ(request.environ)
        try:
            endpoint, params = adapter.match()
        except NotFound:
            return _error_response(GoogleApiError(404, "notFound", f"No such path: {request.path}"))
        except MethodNotAllowed:
            return _error_response(GoogleApiError(405, "methodNotAllowed", "Method not allowed."))
        except HTTPException as error:
            return _error_response(GoogleApiError(error.code or 400, "badRequest", str(error.description)))
        kind, name = str(endpoint).split(":", 1)
        if kind == "api":
            return self._serve_api_call(self._api_routes[int(name)], request, params, in_batch=in_batch)
        return self._serve_plain(self._plain_routes[name], request, params)

    def _serve_plain(
        self, route: PlainRoute, request: Request, params: Mapping[str, str]
    ) -> Response | _Dropped:
        fault = self.faults.take(route.endpoint, None)
        status = 500
        try:
            if fault is not None:
                dropped = self._apply_fault(fault)
                if dropped is not None:
                    return dropped
            if fault is not None and fault.action is FaultAction.STATUS:
                response = _json_response(
                    {"error": "internal_failure", "error_description": "Backend Error"}, fault.status
                )
            else:
                try:
                    response = route.handler(request, params)
                except OAuthError as error:
                    response = _json_response(error.body(), error.status, {"Cache-Control": "no-store"})
            status = response.status_code
            if fault is not None and fault.action is FaultAction.TRUNCATE:
                return _Dropped(FaultAction.TRUNCATE, response)
            return response
        finally:
            if not route.endpoint.startswith("standin."):  # the admin API is not Google's: not logged
                self.calls.record(CallRecord(self.clock.now(), route.endpoint, None, 0, status))

    def _apply_fault(self, fault: FaultRule) -> _Dropped | None:
        if fault.action is FaultAction.DELAY:
            time.sleep(fault.delay_seconds)
        elif fault.action is FaultAction.DROP:
            return _Dropped(FaultAction.DROP)
        return None

    def _serve_api_call(
        self, route: ApiRoute, request: Request, params: Mapping[str, str], *, in_batch: bool
    ) -> Response | _Dropped:
        account: str | None = None
        units = 0
        status = 500
        truncate = False
        call: ApiCall | None = None
        try:
            grant = self._authenticate(request)
            account = grant[0] if grant else None
            fault = self.faults.take(route.method_id, account)
            if fault is not None:
                if fault.action is FaultAction.DROP:
                    # Status 0 in the log: the call got no answer at all.
                    self.calls.record(CallRecord(self.clock.now(), route.method_id, account, 0, 0, in_batch))
                    return _Dropped(FaultAction.DROP)
                if fault.action is FaultAction.STATUS:
                    raise fault.error()
                truncate = fault.action is FaultAction.TRUNCATE
            if grant is None:
                raise invalid_credentials()
            account, scopes = grant
            if route.scopes and not (route.scopes & scopes):
                raise insufficient_scopes()
            user_id = params.get("user_id")
            if user_id is not None and user_id != "me" and user_id.lower() != account.lower():
                raise GoogleApiError(403, "forbidden", f"Delegation denied for {account}")
            if self.limits.latency_seconds and not in_batch:
                time.sleep(self.limits.latency_seconds)
            with self.concurrency.slot(account, route.method_id.split(".", 1)[0]):
                if fault is not None and fault.action is FaultAction.DELAY:
                    time.sleep(fault.delay_seconds)  # a slow backend holds its slot while it works
                charge = charge_for(route.method_id, self.limits)
                if charge is not None:
                    self.quota.charge(account, charge)
                    units = charge.units
                call = ApiCall(request=request, path=params, account=account, scopes=scopes)
                result = route.handler(call)
            if isinstance(result, Response):
                response = result
            elif result is None:
                response = Response(status=204)
            else:
                response = _json_response(result)
        except GoogleApiError as error:
            response = _error_response(error)
        status = response.status_code
        details = call.details if call is not None else None
        self.calls.record(
            CallRecord(self.clock.now(), route.method_id, account, units, status, in_batch, details)
        )
        if truncate:
            return _Dropped(FaultAction.TRUNCATE, response)
        return response

    def _authenticate(self, request: Request) -> tuple[str, frozenset[str]] | None:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return None
        return self._resolve_token(token.strip())

    def _drop(
        self, environ: dict[str, Any], start_response: Callable[..., Any], dropped: _Dropped
    ) -> Iterable[bytes]:
        """End the exchange as a broken network would: no answer at all, or half of one."""
        sock: socket.socket | None = environ.get("werkzeug.socket")
        if dropped.action is FaultAction.DROP or dropped.response is None:
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
            # WSGI needs a start; writing it to the closed socket fails quietly (a dropped connection).
            start_response("500 Dropped", [("Content-Length", "0")])
            return [b""]
        body = dropped.response.get_data()
        start_response(
            dropped.response.status,
            [
                *(item for item in dropped.response.headers.items() if item[0].lower() != "content-length"),
                ("Content-Length", str(len(body))),
            ],
        )

        def half_then_close() -> Iterator[bytes]:
            yield body[: len(body) // 2]
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

        return half_then_close()

    # --- batch ----------------------------------------------------------------------------------------

    def _serve_batch(self, request: Request) -> Response | _Dropped:
        """multipart/mixed in, multipart/mixed out; each part is served and billed on its own."""
        if request.mimetype != "multipart/mixed":
            return _error_response(bad_request("Batch requests must be multipart/mixed."))
        envelope = (
            b"Content-Type: " + request.headers["Content-Type"].encode() + b"\r\n\r\n" + request.get_data()
        )
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(envelope)
        parts = list(message.iter_parts()) if message.is_multipart() else []
        if not parts:
            return _error_response(bad_request("The batch holds no requests."))
        if len(parts) > MAX_BATCH_PARTS:
            return _error_response(bad_request(f"A batch may hold at most {MAX_BATCH_PARTS} requests."))
        if self.limits.latency_seconds:
            time.sleep(self.limits.latency_seconds)  # one round trip for the whole batch
        boundary = f"batch_{uuid.uuid4().hex}"
        out = io.BytesIO()
        for part in parts:
            content_id = str(part.get("Content-ID", "")).strip()
            payload = part.get_payload(decode=True)
            answer = self._serve_batch_part(request, payload if isinstance(payload, bytes) else b"")
            out.write(f"--{boundary}\r\nContent-Type: application/http\r\n".encode())
            if content_id:
                response_id = (
                    content_id.replace("<", "<response-", 1) if content_id.startswith("<") else content_id
                )
                out.write(f"Content-ID: {response_id}\r\n".encode())
            out.write(b"\r\n" + answer + b"\r\n")
        out.write(f"--{boundary}--\r\n".encode())
        return Response(out.getvalue(), status=200, content_type=f"multipart/mixed; boundary={boundary}")

    def _serve_batch_part(self, outer: Request, raw: bytes) -> bytes:
        head, _, body = raw.partition(b"\r\n\r\n")
        if not _:
            head, _, body = raw.partition(b"\n\n")
        lines = head.decode("latin-1").splitlines()
        try:
            method, target, _version = lines[0].split(" ", 2)
        except (IndexError, ValueError):
            return _http_bytes(_error_response(bad_request("Malformed batch part.")))
        headers = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if sep:
                headers[name.strip()] = value.strip()
        path, _, query = target.partition("?")
        if path.startswith("http"):
            path = "/" + path.split("/", 3)[3]
        builder = EnvironBuilder(
            path=path,
            query_string=query,
            method=method,
            headers=list(headers.items()),
            data=body,
            base_url=outer.host_url,
        )
        try:
            inner = Request(builder.get_environ())
        finally:
            builder.close()
        outcome = self._route(inner, in_batch=True)
        if isinstance(outcome, _Dropped):
            # A network fault inside a batch surfaces as that part's 503, as Google's frontend answers.
            return _http_bytes(_error_response(GoogleApiError(503, "backendError", "Backend Error")))
        return _http_bytes(outcome)

    # --- lifecycle ------------------------------------------------------------------------------------

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        self._routing_map()
        self._server = make_server(
            host, port, self.wsgi_app, threaded=True, request_handler=_QuietRequestHandler
        )
        self._server.daemon_threads = True  # type: ignore[attr-defined]  # stop() must not wait on idle keep-alives
        # A short poll interval: shutdown() waits for one, and tests start and stop a stand-in each.
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="google-standin",
            daemon=True,
        )
        self._thread.start()
        return f"http://{host}:{self._server.server_port}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None


def _http_bytes(response: Response) -> bytes:
    """A response as the HTTP/1.1 bytes a batch part carries."""
    body = response.get_data()
    lines = [f"HTTP/1.1 {response.status}"]
    lines += [
        f"{name}: {value}" for name, value in response.headers.items() if name.lower() != "content-length"
    ]
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body
