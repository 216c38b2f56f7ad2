"""The browser's side of connecting: the HTTP answers of oauth_callback's /start and /callback.

Redirects carry ``Referrer-Policy: no-referrer`` (the callback's query string holds the code) and
``Cache-Control: no-store``. Without a trusted CRM return URL, a small page names the error code.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

import flask

from shared.connections.connect import ConnectFailed, ConnectOutcome

if TYPE_CHECKING:
    from shared.config import Settings
    from shared.connections.connect import ConnectFlow

_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}


def serve_oauth_browser(request: flask.Request, flow: ConnectFlow, settings: Settings) -> flask.Response:
    path = request.path.rstrip("/")
    if request.method != "GET":
        return _page("method_not_allowed", 405)
    if path.endswith("/start"):
        return _start(request, flow, settings)
    if path.endswith("/callback"):
        return _finish(flow.complete(request.args.to_dict(), request.cookies), settings)
    return _page("no_such_page", 404)


def _start(request: flask.Request, flow: ConnectFlow, settings: Settings) -> flask.Response:
    try:
        start = flow.bind_browser(request.args.get("state"))
    except ConnectFailed as failure:
        return _finish(ConnectOutcome(failure.outcome, failure.return_url), settings)
    response = _redirect(start.google_url)
    response.set_cookie(
        _cookie(start.cookie_name, settings),
        start.cookie_value,
        max_age=start.max_age_seconds,
        path="/",
        secure=_secure(settings),
        httponly=True,
        samesite="Lax",  # sent on Google's top-level redirect back to us, not on cross-site subrequests
    )
    return response


def _finish(outcome: ConnectOutcome, settings: Settings) -> flask.Response:
    url = outcome.redirect_url
    response = _redirect(url) if url else _page(outcome.outcome, 400)
    if outcome.cookie_name:
        response.delete_cookie(_cookie(outcome.cookie_name, settings), path="/", secure=_secure(settings))
    return response


def _secure(settings: Settings) -> bool:
    return settings.oauth_callback_url.startswith("https://")


def _cookie(name: str, settings: Settings) -> str:
    # __Host-: only ever set by this exact host over HTTPS, for the whole path; local runs use plain http.
    return f"__Host-{name}" if _secure(settings) else name


def _redirect(url: str) -> flask.Response:
    response = flask.Response(status=302, headers={"Location": url, **_HEADERS})
    return response


def _page(code: str, status: int) -> flask.Response:
    body = (
        "<!doctype html><html><head><meta charset='utf-8'><title>Google connection</title></head>"
        "<body><h1>The Google account was not connected</h1>"
        f"<p>Error code: <code>{html.escape(code)}</code></p>"
        "<p>Go back to the CRM and start the connection again.</p></body></html>"
    )
    response = flask.Response(body, status=status, mimetype="text/html")
    response.headers.update(_HEADERS)
    response.headers["Content-Security-Policy"] = "default-src 'none'"
    return response
