"""Google's OAuth 2.0 / OpenID Connect endpoints over HTTP, on Google's paths, for ``OAuthServer``.

- ``GET  /o/oauth2/v2/auth``: the consent page (accounts, one checkbox per scope, Allow / Cancel), which
  posts to ``POST /o/oauth2/v2/consent`` and answers 302 to the app's redirect URI.
- ``POST /token``, ``POST /revoke``, ``GET /oauth2/v1/certs`` (PEM certificates), ``GET /oauth2/v3/certs``
  (JWKS), ``GET /oauth2/v3/userinfo`` and ``GET /v1/userinfo`` (Bearer), and
  ``GET /.well-known/openid-configuration``.

Stand-in only, for tests and the demo: ``GET /o/oauth2/v2/auth`` with ``standin_decision=allow|deny``
answers the 302 straight away, as if the user had clicked. ``standin_account=EMAIL`` picks the account
(default: ``login_hint``, else the only known account); ``standin_grant=<space-separated scopes>`` is what
stays ticked (default: everything requested; sign-in scopes are granted whatever it says).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from html import escape
from typing import Any
from urllib.parse import unquote_plus

from werkzeug.wrappers import Request, Response

from local_stack.google_standin.errors import OAuthError
from local_stack.google_standin.oauth import GOOGLE_ISSUER, OAuthServer, PendingAuthorization
from local_stack.google_standin.routes import PlainRoute

AUTHORIZATION_PATH = "/o/oauth2/v2/auth"
CONSENT_PATH = "/o/oauth2/v2/consent"
TOKEN_PATH = "/token"  # noqa: S105 - a path, not a secret
REVOCATION_PATH = "/revoke"
CERTS_V1_PATH = "/oauth2/v1/certs"
CERTS_V3_PATH = "/oauth2/v3/certs"
USERINFO_PATH = "/oauth2/v3/userinfo"

_STANDIN_PARAMS = ("standin_decision", "standin_account", "standin_grant")
_JSON = "application/json; charset=utf-8"
_HTML = "text/html; charset=utf-8"
# Inline styles only, nothing loaded from anywhere. No form-action: browsers apply it to the redirect
# that follows the form post, which leaves for the app's own origin.
_PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'"
_CERTS_CACHE = "public, max-age=300, must-revalidate, no-transform"  # short: key rotation shows quickly

# What Google's consent screen says for the scopes this product asks for; others show their URL only.
_SCOPE_DESCRIPTIONS = {
    "openid": "Associate you with your personal info on Google",
    "https://www.googleapis.com/auth/userinfo.email": "See your primary Google Account email address",
    "https://www.googleapis.com/auth/userinfo.profile": "See your personal info, including any personal "
    "info you've made publicly available",
    "https://mail.google.com/": "Read, compose, send, and permanently delete all your email from Gmail",
    "https://www.googleapis.com/auth/gmail.readonly": "View your email messages and settings",
    "https://www.googleapis.com/auth/gmail.send": "Send email on your behalf",
    "https://www.googleapis.com/auth/gmail.modify": "Read, compose, and send emails from your Gmail account",
    "https://www.googleapis.com/auth/gmail.labels": "See and edit your email labels",
    "https://www.googleapis.com/auth/calendar": "See, edit, share, and permanently delete all the "
    "calendars you can access using Google Calendar",
    "https://www.googleapis.com/auth/calendar.events": "View and edit events on all your calendars",
    "https://www.googleapis.com/auth/calendar.readonly": "See and download any calendar you can access "
    "using your Google Calendar",
    "https://www.googleapis.com/auth/drive": "See, edit, create, and delete all of your Google Drive files",
    "https://www.googleapis.com/auth/drive.file": "See, edit, create, and delete only the specific Google "
    "Drive files you use with this app",
    "https://www.googleapis.com/auth/contacts.readonly": "See and download your contacts",
}

_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
  background:#f1f3f4;color:#202124;margin:0}
main{max-width:34rem;margin:3rem auto;background:#fff;border:1px solid #dadce0;border-radius:8px;padding:2rem}
h1{font-size:1.4rem;font-weight:400;margin:0 0 .5rem}
.muted{color:#5f6368;font-size:.9rem}
fieldset{border:0;padding:0;margin:1.25rem 0}
legend{font-weight:500;margin-bottom:.5rem}
label{display:flex;gap:.6rem;align-items:flex-start;padding:.45rem 0;border-top:1px solid #f1f3f4}
code{font-size:.8rem;color:#5f6368;word-break:break-all}
.buttons{display:flex;justify-content:flex-end;gap:.75rem;margin-top:1.5rem}
button{font:inherit;padding:.5rem 1.4rem;border-radius:4px;border:1px solid #dadce0;
  background:#fff;cursor:pointer}
button.primary{background:#1a73e8;border-color:#1a73e8;color:#fff}
.error{color:#d93025}
""".strip()


def oauth_routes(server: OAuthServer) -> list[PlainRoute]:
    """Every OAuth / OpenID Connect endpoint of ``server``, on Google's paths."""

    def authorize(request: Request, _: Mapping[str, str]) -> Response:
        params = {k: v for k, v in request.args.items() if k not in _STANDIN_PARAMS}
        try:
            pending = server.begin_authorization(params)
            decision = request.args.get("standin_decision")
            if decision is not None:
                return _redirect(_decide_now(server, pending, request.args))
            if "none" in pending.prompt:
                return _redirect(server.authorize_silently(pending.request_id))
        except OAuthError as error:
            return _error_page(error)
        return _html(_consent_page(server, pending, request.script_root))

    def consent(request: Request, _: Mapping[str, str]) -> Response:
        request_id = request.form.get("request_id", "")
        try:
            decision = request.form.get("decision")
            if decision == "deny":
                return _redirect(server.deny(request_id))
            if decision != "allow":
                raise OAuthError("invalid_request", "decision must be allow or deny.")
            return _redirect(
                server.approve(
                    request_id,
                    account=request.form.get("account", ""),
                    granted_scopes=request.form.getlist("scope"),
                )
            )
        except OAuthError as error:
            return _error_page(error)

    def token(request: Request, _: Mapping[str, str]) -> Response:
        try:
            return _json(server.token(_form(request), basic_auth=_basic_auth(request)), no_store=True)
        except OAuthError as error:
            return _json(error.body(), error.status, no_store=True)

    def revoke(request: Request, _: Mapping[str, str]) -> Response:
        token_value = request.form.get("token") or request.args.get("token") or ""
        try:
            if not token_value:
                raise OAuthError("invalid_request", "Missing required parameter: token")
            server.revoke(token_value)
        except OAuthError as error:
            return _json(error.body(), error.status, no_store=True)
        return _json({}, no_store=True)

    def certs_v1(_request: Request, _: Mapping[str, str]) -> Response:
        return _json(server.certs_v1(), cache_control=_CERTS_CACHE)

    def certs_v3(_request: Request, _: Mapping[str, str]) -> Response:
        return _json(server.jwks(), cache_control=_CERTS_CACHE)

    def userinfo(request: Request, _: Mapping[str, str]) -> Response:
        try:
            return _json(server.userinfo(_bearer_token(request)), no_store=True)
        except OAuthError as error:
            response = _json(error.body(), error.status, no_store=True)
            if error.status == 401:
                response.headers["WWW-Authenticate"] = (
                    f'Bearer realm="{GOOGLE_ISSUER}/", error="invalid_token"'
                )
            return response

    def openid_configuration(request: Request, _: Mapping[str, str]) -> Response:
        return _json(_discovery_document(request.root_url.rstrip("/")))

    return [
        PlainRoute("GET", AUTHORIZATION_PATH, "oauth.authorize", authorize),
        PlainRoute("POST", CONSENT_PATH, "oauth.consent", consent),
        PlainRoute("POST", TOKEN_PATH, "oauth.token", token),
        PlainRoute("POST", REVOCATION_PATH, "oauth.revoke", revoke),
        PlainRoute("GET", CERTS_V1_PATH, "oauth.certs_v1", certs_v1),
        PlainRoute("GET", CERTS_V3_PATH, "oauth.certs_v3", certs_v3),
        PlainRoute("GET", USERINFO_PATH, "oauth.userinfo_v3", userinfo),
        PlainRoute("GET", "/v1/userinfo", "oauth.userinfo_v1", userinfo),
        PlainRoute(
            "GET", "/.well-known/openid-configuration", "oauth.openid_configuration", openid_configuration
        ),
    ]


def _decide_now(server: OAuthServer, pending: PendingAuthorization, args: Mapping[str, str]) -> str:
    """The stand-in's non-interactive consent: the answer the user would have clicked."""
    decision = args.get("standin_decision")
    if decision == "deny":
        return server.deny(pending.request_id)
    if decision != "allow":
        raise OAuthError("invalid_request", "standin_decision must be allow or deny.")
    account = args.get("standin_account") or pending.login_hint
    if not account:
        known = server.accounts()
        if len(known) != 1:
            raise OAuthError(
                "invalid_request", "standin_account is required unless exactly one account exists."
            )
        account = known[0]
    grant = args.get("standin_grant")
    return server.approve(
        pending.request_id, account=account, granted_scopes=None if grant is None else grant.split()
    )


def _discovery_document(base_url: str) -> dict[str, Any]:
    """OpenID Connect discovery. The issuer stays Google's: it must equal the ``iss`` of the ID tokens,
    and production code checks that issuer; only the endpoints point at this server."""
    return {
        "issuer": GOOGLE_ISSUER,
        "authorization_endpoint": base_url + AUTHORIZATION_PATH,
        "token_endpoint": base_url + TOKEN_PATH,
        "userinfo_endpoint": base_url + USERINFO_PATH,
        "revocation_endpoint": base_url + REVOCATION_PATH,
        "jwks_uri": base_url + CERTS_V3_PATH,
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": ["openid", "email", "profile"],
        "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
        "claims_supported": [
            "aud",
            "email",
            "email_verified",
            "exp",
            "family_name",
            "given_name",
            "iat",
            "iss",
            "name",
            "sub",
        ],
        "code_challenge_methods_supported": ["S256"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
    }


# -- request parsing ------------------------------------------------------------------------------


def _form(request: Request) -> dict[str, str]:
    """The token request's parameters: a form, as RFC 6749 says, or JSON, which Google also takes."""
    if request.mimetype == "application/json":
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise OAuthError("invalid_request", "Invalid JSON payload received.")
        return {str(k): str(v) for k, v in body.items()}
    return request.form.to_dict()


def _basic_auth(request: Request) -> tuple[str, str] | None:
    """HTTP Basic client credentials; RFC 6749 2.3.1 form-encodes both halves before base64."""
    authorization = request.authorization
    if authorization is None or authorization.type != "basic":
        return None
    return unquote_plus(authorization.username or ""), unquote_plus(authorization.password or "")


def _bearer_token(request: Request) -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.args.get("access_token", "")


# -- responses ------------------------------------------------------------------------------------


def _json(
    body: Mapping[str, Any], status: int = 200, *, no_store: bool = False, cache_control: str | None = None
) -> Response:
    response = Response(json.dumps(body), status=status, content_type=_JSON)
    if no_store:
        response.headers["Cache-Control"] = "no-store"
        response.headers["Pragma"] = "no-cache"
    elif cache_control is not None:
        response.headers["Cache-Control"] = cache_control
    return response


def _redirect(location: str) -> Response:
    response = Response(status=302, headers={"Location": location, "Cache-Control": "no-store"})
    return response


def _html(page: str, status: int = 200) -> Response:
    headers = {
        "Cache-Control": "no-store",
        "Content-Security-Policy": _PAGE_CSP,
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "no-referrer",
    }
    return Response(page, status=status, content_type=_HTML, headers=headers)


def _document(title: str, body: str) -> str:
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body><main>{body}</main></body></html>\n"
    )


def _error_page(error: OAuthError) -> Response:
    """Google's own error page ("Error 400: redirect_uri_mismatch"), for errors never sent to the app."""
    heading = f"Error {error.status}: {error.error}"
    body = (
        "<h1>Access blocked: authorization error</h1>"
        f'<p class="error"><strong>{escape(heading)}</strong></p>'
        f"<p>{escape(error.description)}</p>"
        '<p class="muted">Google OAuth stand-in</p>'
    )
    return _html(_document(heading, body), error.status)


def _consent_page(server: OAuthServer, pending: PendingAuthorization, script_root: str) -> str:
    app = escape(pending.client.name)
    accounts = server.accounts()
    hint = (pending.login_hint or "").strip().lower()
    chosen = next((a for a in accounts if a.lower() == hint), accounts[0] if accounts else None)
    if accounts:
        account_rows = "".join(
            f'<label><input type="radio" name="account" value="{escape(a)}" required'
            f"{' checked' if a == chosen else ''}> {escape(a)}</label>"
            for a in accounts
        )
    else:
        account_rows = '<p class="error">No account can sign in: add one with OAuthServer.add_account().</p>'
    scope_rows = "".join(_scope_row(scope, scope in pending.required_scopes) for scope in pending.scopes)
    offline = (
        '<p class="muted">This app asks for offline access: '
        "it can use these permissions while you are away.</p>"
        if pending.access_type == "offline"
        else ""
    )
    body = (
        f"<h1>{app} wants to access your Google Account</h1>"
        f'<p class="muted">Client <code>{escape(pending.client.client_id)}</code>, returning to '
        f"<code>{escape(pending.redirect_uri)}</code></p>"
        f'<form method="post" action="{escape(script_root + CONSENT_PATH)}">'
        f'<input type="hidden" name="request_id" value="{escape(pending.request_id)}">'
        f"<fieldset><legend>Choose an account</legend>{account_rows}</fieldset>"
        f"<fieldset><legend>{app} will be able to</legend>{scope_rows}</fieldset>"
        f"{offline}"
        '<p class="muted">Make sure you trust this app: you can remove its access in your Google Account.</p>'
        '<div class="buttons">'
        '<button type="submit" name="decision" value="deny" formnovalidate>Cancel</button>'
        f'<button type="submit" name="decision" value="allow" class="primary"'
        f"{'' if accounts else ' disabled'}>Allow</button>"
        "</div></form>"
    )
    return _document(f"Sign in - {pending.client.name}", body)


def _scope_row(scope: str, required: bool) -> str:
    description = _SCOPE_DESCRIPTIONS.get(scope)
    # A disabled box is never submitted: approve() grants the sign-in scopes whatever the form says.
    box = (
        f'<input type="checkbox" checked disabled aria-label="{escape(scope)} (required)">'
        if required
        else f'<input type="checkbox" name="scope" value="{escape(scope)}" checked>'
    )
    note = " <em>(required)</em>" if required else ""
    text = (
        f"{escape(description)}{note}<br><code>{escape(scope)}</code>"
        if description
        else f"<code>{escape(scope)}</code>{note}"
    )
    return f"<label>{box}<span>{text}</span></label>"
