"""The OAuth 2.0 / OpenID Connect stand-in over real HTTP, driven by google-auth as production drives Google.

``requests`` appears only where google-auth has no client: reading the authorization redirect and posting
the consent form, which a browser does in real life.
"""

from __future__ import annotations

import base64
import json
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
from google.auth import exceptions as auth_exceptions
from google.auth.transport.requests import AuthorizedSession, Request
from google.oauth2 import credentials as oauth2_credentials
from google.oauth2 import id_token

from local_stack.google_standin.oauth import GOOGLE_ISSUER
from local_stack.google_standin.standin import GoogleStandIn, StandInSettings
from shared.google_apis.oauth import Pkce

REDIRECT_URI = "http://127.0.0.1:8765/oauth/callback"  # never contacted: the tests read the 302
GMAIL_READONLY = "https://www.googleapis.com/auth/gmail.readonly"
GMAIL_SEND = "https://www.googleapis.com/auth/gmail.send"
CALENDAR_EVENTS = "https://www.googleapis.com/auth/calendar.events"
EMAIL = "https://www.googleapis.com/auth/userinfo.email"
SIGN_IN = "openid email"
CODE_LIFETIME = 600  # Google's ten minutes, the stand-in's default
ACCESS_TOKEN_LIFETIME = StandInSettings().access_token_lifetime
HTTP = Request()  # google-auth's HTTP transport


@dataclass(frozen=True)
class Client:
    client_id: str
    client_secret: str


@pytest.fixture
def client(standin: GoogleStandIn) -> Client:
    """A client of its own per test, besides the stand-in's default one."""
    registered = standin.oauth.register_client(
        f"{uuid.uuid4().hex[:12]}.apps.googleusercontent.com", secrets.token_urlsafe(18), [REDIRECT_URI]
    )
    return Client(registered.client_id, registered.client_secret)


@pytest.fixture
def account(standin: GoogleStandIn) -> str:
    email = f"ada.lovelace.{uuid.uuid4().hex[:8]}@example.com"
    standin.oauth.add_account(email)
    return email


# -- helpers: what the product's connect flow does ------------------------------------------------


def authorize(standin: GoogleStandIn, client: Client, **params: str) -> requests.Response:
    """GET the authorization endpoint as the browser would, without following the redirect."""
    query = {"client_id": client.client_id, "redirect_uri": REDIRECT_URI, "response_type": "code", **params}
    return requests.get(standin.auth_uri, params=query, allow_redirects=False, timeout=5)


def callback_params(response: requests.Response) -> dict[str, str]:
    assert response.status_code == 302, response.text
    location = response.headers["Location"]
    assert location.startswith(REDIRECT_URI + "?")
    return {key: values[0] for key, values in parse_qs(urlsplit(location).query).items()}


def consented_code(
    standin: GoogleStandIn, client: Client, account: str, challenge: str, scope: str = SIGN_IN, **params: str
) -> dict[str, str]:
    """The callback's parameters after the user allowed, through the stand-in's non-interactive path."""
    response = authorize(
        standin,
        client,
        scope=scope,
        code_challenge=challenge,
        code_challenge_method="S256",
        standin_decision="allow",
        standin_account=account,
        **params,
    )
    return callback_params(response)


def post_form(
    standin: GoogleStandIn, path: str, form: Mapping[str, str]
) -> tuple[int, dict[str, Any], Mapping[str, str]]:
    response = HTTP(
        url=standin.base_url + path,
        method="POST",
        body=urlencode(form),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    return response.status, json.loads(response.data), response.headers


def exchange(
    standin: GoogleStandIn, client: Client, code: str, verifier: str, *, redirect_uri: str = REDIRECT_URI
) -> tuple[int, dict[str, Any]]:
    status, body, _ = post_form(
        standin,
        "/token",
        {
            "grant_type": "authorization_code",
            "code": code,
            "code_verifier": verifier,
            "redirect_uri": redirect_uri,
            "client_id": client.client_id,
            "client_secret": client.client_secret,
        },
    )
    return status, body


def connect(
    standin: GoogleStandIn, client: Client, account: str, scope: str = SIGN_IN, **params: str
) -> dict[str, Any]:
    """A whole offline connect flow; returns the token response."""
    pkce = Pkce.generate()
    callback = consented_code(
        standin, client, account, pkce.challenge, scope, access_type="offline", **params
    )
    status, body = exchange(standin, client, callback["code"], pkce.verifier)
    assert status == 200, body
    return body


def user_credentials(
    standin: GoogleStandIn, client: Client, refresh_token: str
) -> oauth2_credentials.Credentials:
    return oauth2_credentials.Credentials(  # type: ignore[no-untyped-call]
        token=None,
        refresh_token=refresh_token,
        token_uri=standin.token_uri,
        client_id=client.client_id,
        client_secret=client.client_secret,
    )


def refresh(credentials: oauth2_credentials.Credentials) -> None:
    """What the product's Google client does before a call: refresh through the token endpoint."""
    credentials.refresh(HTTP)  # type: ignore[no-untyped-call]


def get_json(
    standin: GoogleStandIn, path: str, access_token: str | None = None
) -> tuple[int, dict[str, Any]]:
    headers = {"Authorization": f"Bearer {access_token}"} if access_token else {}
    response = HTTP(url=standin.base_url + path, method="GET", headers=headers)
    return response.status, json.loads(response.data)


class _FormReader(HTMLParser):
    """The consent page's form controls, as a browser would see them."""

    def __init__(self) -> None:
        super().__init__()
        self.action = ""
        self.inputs: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "form":
            self.action = dict(attrs).get("action") or ""
        elif tag == "input":
            self.inputs.append(dict(attrs))


def read_form(html: str) -> _FormReader:
    reader = _FormReader()
    reader.feed(html)
    return reader


# -- the authorization code flow ------------------------------------------------------------------


def test_pkce_code_flow_grants_scopes_and_a_verifiable_id_token(
    standin: GoogleStandIn, client: Client, account: str
) -> None:
    pkce = Pkce.generate()
    scope = f"openid email {GMAIL_READONLY}"

    callback = consented_code(
        standin, client, account, pkce.challenge, scope, state="csrf-123", access_type="offline"
    )
    status, token = exchange(standin, client, callback["code"], pkce.verifier)

    assert callback["state"] == "csrf-123"
    assert status == 200, token
    assert token["token_type"] == "Bearer"
    assert token["expires_in"] == ACCESS_TOKEN_LIFETIME
    assert token["access_token"].startswith("ya29.")
    assert token["refresh_token"].startswith("1//")
    # Like Google, the short "email" comes back as the full userinfo.email URL.
    assert set(token["scope"].split()) == {"openid", EMAIL, GMAIL_READONLY}
    assert set(callback["scope"].split()) == set(token["scope"].split())
    claims = id_token.verify_token(
        token["id_token"],
        HTTP,
        audience=client.client_id,
        certs_url=standin.certs_url,
    )
    assert claims["iss"] == GOOGLE_ISSUER
    assert claims["azp"] == client.client_id
    assert claims["email"] == account
    assert claims["email_verified"] is True
    assert claims["sub"].isdigit()

    session = AuthorizedSession(oauth2_credentials.Credentials(token=token["access_token"]))  # type: ignore[no-untyped-call]
    userinfo = session.get(standin.base_url + "/oauth2/v3/userinfo", timeout=5).json()
    assert userinfo == {"sub": claims["sub"], "email": account, "email_verified": True}


def test_consent_page_round_trip_with_a_scope_unticked_leaves_it_out_of_the_grant(
    standin: GoogleStandIn, client: Client, account: str
) -> None:
    pkce = Pkce.generate()
    page = authorize(
        standin,
        client,
        scope=f"openid email {GMAIL_READONLY} {GMAIL_SEND}",
        code_challenge=pkce.challenge,
        code_challenge_method="S256",
        login_hint=account,
        state="s1",
    )
    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    form = read_form(page.text)
    boxes = [i for i in form.inputs if i.get("type") == "checkbox"]
    required = {i["aria-label"] for i in boxes if "disabled" in i}
    assert required == {"openid (required)", f"{EMAIL} (required)"}
    chosen_account = [i["value"] for i in form.inputs if i.get("type") == "radio" and "checked" in i]
    assert chosen_account == [account]  # the login_hint is preselected

    # The user unticks gmail.send and clicks Allow.
    ticked = [i["value"] for i in boxes if "disabled" not in i and i["value"] != GMAIL_SEND]
    request_id = next(i["value"] for i in form.inputs if i.get("name") == "request_id")
    answer = requests.post(
        standin.base_url + form.action,
        data={"request_id": request_id, "account": account, "scope": ticked, "decision": "allow"},
        allow_redirects=False,
        timeout=5,
    )
    callback = callback_params(answer)
    status, token = exchange(standin, client, callback["code"], pkce.verifier)

    assert callback["state"] == "s1"
    assert status == 200, token
    assert set(token["scope"].split()) == {"openid", EMAIL, GMAIL_READONLY}
    assert GMAIL_SEND not in token["scope"]


def test_cancel_on_the_consent_page_redirects_with_access_denied(
    standin: GoogleStandIn, client: Client
) -> None:
    page = authorize(standin, client, scope=SIGN_IN, state="keep-me")
    form = read_form(page.text)
    request_id = next(i["value"] for i in form.inputs if i.get("name") == "request_id")

    answer = requests.post(
        standin.base_url + form.action,
        data={"request_id": request_id, "decision": "deny"},
        allow_redirects=False,
        timeout=5,
    )

    assert callback_params(answer) == {"error": "access_denied", "state": "keep-me"}


def test_non_interactive_deny_redirects_with_access_denied(standin: GoogleStandIn, client: Client) -> None:
    response = authorize(standin, client, scope=SIGN_IN, state="x y", standin_decision="deny")
    assert callback_params(response) == {"error": "access_denied", "state": "x y"}


def test_pkce_verifier_mismatch_is_invalid_grant(
    standin: GoogleStandIn, client: Client, account: str
) -> None:
    challenge = Pkce.generate().challenge
    other_verifier = Pkce.generate().verifier
    callback = consented_code(standin, client, account, challenge)

    status, body = exchange(standin, client, callback["code"], other_verifier)

    assert (status, body) == (400, {"error": "invalid_grant", "error_description": "Invalid code verifier."})


def test_reused_code_is_refused_and_revokes_the_tokens_it_issued(
    standin: GoogleStandIn, client: Client, account: str
) -> None:
    pkce = Pkce.generate()
    callback = consented_code(standin, client, account, pkce.challenge, access_type="offline")
    _, first = exchange(standin, client, callback["code"], pkce.verifier)
    assert standin.oauth.resolve_access_token(first["access_token"]) is not None

    status, body = exchange(standin, client, callback["code"], pkce.verifier)

    assert status == 400
    assert body["error"] == "invalid_grant"
    assert standin.oauth.resolve_access_token(first["access_token"]) is None
    with pytest.raises(auth_exceptions.RefreshError):
        refresh(user_credentials(standin, client, first["refresh_token"]))


def test_code_expires_after_its_lifetime(standin: GoogleStandIn, client: Client, account: str) -> None:
    pkce = Pkce.generate()
    callback = consented_code(standin, client, account, pkce.challenge)

    standin.advance_clock(CODE_LIFETIME + 1)
    status, body = exchange(standin, client, callback["code"], pkce.verifier)

    assert (status, body["error"]) == (400, "invalid_grant")


def test_token_exchange_requires_the_authorization_redirect_uri(
    standin: GoogleStandIn, client: Client, account: str
) -> None:
    pkce = Pkce.generate()
    callback = consented_code(standin, client, account, pkce.challenge)

    status, body = exchange(
        standin, client, callback["code"], pkce.verifier, redirect_uri=REDIRECT_URI + "/other"
    )

    assert (status, body["error"]) == (400, "redirect_uri_mismatch")
    # A failed check does not consume the code: the right request still works.
    assert exchange(standin, client, callback["code"], pkce.verifier)[0] == 200


def test_token_endpoint_answers_uncacheable_json_and_accepts_basic_client_auth(
    standin: GoogleStandIn, client: Client, account: str
) -> None:
    pkce = Pkce.generate()
    callback = consented_code(standin, client, account, pkce.challenge)
    basic = base64.b64encode(f"{client.client_id}:{client.client_secret}".encode()).decode()

    response = HTTP(
        url=standin.token_uri,
        method="POST",
        body=urlencode(
            {
                "grant_type": "authorization_code",
                "code": callback["code"],
                "code_verifier": pkce.verifier,
                "redirect_uri": REDIRECT_URI,
            }
        ),
        headers={"Content-Type": "application/x-www-form-urlencoded", "Authorization": f"Basic {basic}"},
    )

    assert response.status == 200
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    assert response.headers["Cache-Control"] == "no-store"


def test_wrong_client_secret_is_invalid_client(standin: GoogleStandIn, client: Client) -> None:
    status, body, _ = post_form(
        standin,
        "/token",
        {
            "grant_type": "refresh_token",
            "refresh_token": "1//whatever",
            "client_id": client.client_id,
            "client_secret": "not-the-secret",
        },
    )
    assert (status, body) == (401, {"error": "invalid_client", "error_description": "Unauthorized"})


def test_unsupported_grant_type_is_refused(standin: GoogleStandIn, client: Client) -> None:
    status, body, _ = post_form(standin, "/token", {"grant_type": "password", "client_id": client.client_id})
    assert (status, body["error"]) == (400, "unsupported_grant_type")


# -- refresh tokens -------------------------------------------------------------------------------


def test_refresh_token_is_issued_on_first_consent_and_with_prompt_consent_only(
    standin: GoogleStandIn, client: Client, account: str
) -> None:
    first = connect(standin, client, account)
    again = connect(standin, client, account)
    forced = connect(standin, client, account, prompt="consent")

    assert "refresh_token" in first
    assert "refresh_token" not in again
    assert "refresh_token" in forced


def test_include_granted_scopes_adds_what_the_account_granted_before(
    standin: GoogleStandIn, client: Client, account: str
) -> None:
    connect(standin, client, account, scope=f"{SIGN_IN} {GMAIL_READONLY}")

    incremental = connect(standin, client, account, scope=CALENDAR_EVENTS, include_granted_scopes="true")
    separate = connect(standin, client, account, scope=CALENDAR_EVENTS, prompt="consent")

    assert set(incremental["scope"].split()) == {"openid", EMAIL, GMAIL_READONLY, CALENDAR_EVENTS}
    assert "refresh_token" in incremental  # new scopes: a consent screen, so a new refresh token
    assert separate["scope"] == CALENDAR_EVENTS


def test_google_auth_credentials_refresh_against_the_stand_in(
    standin: GoogleStandIn, client: Client, account: str
) -> None:
    token = connect(standin, client, account, scope=f"{SIGN_IN} {GMAIL_READONLY}")
    credentials = user_credentials(standin, client, token["refresh_token"])

    refresh(credentials)

    assert credentials.valid
    assert credentials.token is not None
    assert credentials.token != token["access_token"]
    grant = standin.oauth.resolve_access_token(credentials.token)
    assert grant is not None
    assert grant.account == account
    assert grant.scopes == {"openid", EMAIL, GMAIL_READONLY}


def _revoke_by_endpoint(standin: GoogleStandIn, account: str, token: dict[str, Any]) -> None:
    status, body, _ = post_form(standin, "/revoke", {"token": token["refresh_token"]})
    assert (status, body) == (200, {})


def _revoke_account(standin: GoogleStandIn, account: str, token: dict[str, Any]) -> None:
    standin.oauth.revoke_account(account)


def _expire_refresh_tokens(standin: GoogleStandIn, account: str, token: dict[str, Any]) -> None:
    standin.oauth.expire_refresh_tokens(account)


@pytest.mark.parametrize(
    "kill",
    [_revoke_by_endpoint, _revoke_account, _expire_refresh_tokens],
    ids=lambda f: f.__name__.strip("_"),
)
def test_dead_refresh_token_raises_a_non_retryable_refresh_error(
    standin: GoogleStandIn, client: Client, account: str, kill: Any
) -> None:
    token = connect(standin, client, account)
    credentials = user_credentials(standin, client, token["refresh_token"])
    refresh(credentials)

    kill(standin, account, token)

    with pytest.raises(auth_exceptions.RefreshError) as raised:
        refresh(credentials)
    assert raised.value.retryable is False
    assert "invalid_grant" in str(raised.value)
    assert standin.oauth.live_refresh_tokens(account, client.client_id) == 0


def test_revoking_an_access_token_also_revokes_its_refresh_token(
    standin: GoogleStandIn, client: Client, account: str
) -> None:
    token = connect(standin, client, account)

    status, _, _ = post_form(standin, "/revoke", {"token": token["access_token"]})

    assert status == 200
    assert standin.oauth.resolve_access_token(token["access_token"]) is None
    with pytest.raises(auth_exceptions.RefreshError):
        refresh(user_credentials(standin, client, token["refresh_token"]))
    # The consent went with it: the next offline connect is a first consent and gets a refresh token.
    assert "refresh_token" in connect(standin, client, account)


def test_another_clients_refresh_token_is_invalid_grant(
    standin: GoogleStandIn, client: Client, account: str
) -> None:
    token = connect(standin, client, account)
    other = standin.oauth.register_client("other.apps.googleusercontent.com", "other-secret", [REDIRECT_URI])

    status, body, _ = post_form(
        standin,
        "/token",
        {
            "grant_type": "refresh_token",
            "refresh_token": token["refresh_token"],
            "client_id": other.client_id,
            "client_secret": other.client_secret,
        },
    )

    assert (status, body) == (
        400,
        {"error": "invalid_grant", "error_description": "Token has been expired or revoked."},
    )


def test_the_101st_refresh_token_invalidates_the_first(
    standin: GoogleStandIn, client: Client, account: str
) -> None:
    first = connect(standin, client, account)["refresh_token"]
    for _ in range(99):
        connect(standin, client, account, prompt="consent")
    assert standin.oauth.live_refresh_tokens(account, client.client_id) == 100
    refresh(user_credentials(standin, client, first))

    latest = connect(standin, client, account, prompt="consent")["refresh_token"]

    assert standin.oauth.live_refresh_tokens(account, client.client_id) == 100
    with pytest.raises(auth_exceptions.RefreshError):
        refresh(user_credentials(standin, client, first))
    refresh(user_credentials(standin, client, latest))


def test_revoke_endpoint_answers_400_for_an_unknown_token(standin: GoogleStandIn) -> None:
    status, body, _ = post_form(standin, "/revoke", {"token": "ya29.never-issued"})
    assert (status, body) == (
        400,
        {"error": "invalid_token", "error_description": "Token expired or revoked"},
    )


# -- access tokens --------------------------------------------------------------------------------


def test_access_token_stops_resolving_when_the_clock_passes_its_expiry(
    standin: GoogleStandIn, client: Client, account: str
) -> None:
    token = connect(standin, client, account)
    assert standin.oauth.resolve_access_token(token["access_token"]) is not None

    standin.advance_clock(ACCESS_TOKEN_LIFETIME - 1)
    assert standin.oauth.resolve_access_token(token["access_token"]) is not None
    standin.advance_clock(1)

    assert standin.oauth.resolve_access_token(token["access_token"]) is None
    status, body = get_json(standin, "/v1/userinfo", token["access_token"])
    assert (status, body["error"]) == (401, "invalid_request")


def test_expire_access_tokens_makes_the_next_call_unauthenticated(
    standin: GoogleStandIn, client: Client, account: str
) -> None:
    token = connect(standin, client, account)

    standin.oauth.expire_access_tokens(account)

    assert get_json(standin, "/oauth2/v3/userinfo", token["access_token"])[0] == 401
    credentials = user_credentials(standin, client, token["refresh_token"])
    refresh(credentials)  # the refresh token survives
    assert get_json(standin, "/oauth2/v3/userinfo", credentials.token)[0] == 200


# -- signing keys and push tokens -----------------------------------------------------------------


@pytest.mark.parametrize("certs_path", ["/oauth2/v1/certs", "/oauth2/v3/certs"])
def test_token_minted_before_key_rotation_still_verifies(standin: GoogleStandIn, certs_path: str) -> None:
    audience = f"aud-{uuid.uuid4().hex[:8]}"
    before = standin.oauth.mint_id_token(audience=audience, email="someone@example.com")

    standin.oauth.rotate_signing_key()
    after = standin.oauth.mint_id_token(audience=audience, email="someone@example.com")

    certs_url = standin.base_url + certs_path
    assert id_token.verify_token(before, HTTP, audience=audience, certs_url=certs_url)["aud"] == audience
    assert id_token.verify_token(after, HTTP, audience=audience, certs_url=certs_url)["aud"] == audience
    kid_before = json.loads(base64.urlsafe_b64decode(before.split(".")[0] + "=="))["kid"]
    kid_after = json.loads(base64.urlsafe_b64decode(after.split(".")[0] + "=="))["kid"]
    assert kid_before != kid_after
    assert {kid_before, kid_after} <= set(standin.oauth.certs_v1())


def test_pubsub_push_oidc_token_verifies_with_the_service_account_identity(standin: GoogleStandIn) -> None:
    push_url = "https://crm-google.example.run.app/push/gmail"
    pusher = "push-invoker@crm-google-test.iam.gserviceaccount.com"
    token = standin.oauth.mint_id_token(audience=push_url, email=pusher)

    claims = id_token.verify_token(token, HTTP, audience=push_url, certs_url=standin.certs_url)

    assert claims["iss"] == GOOGLE_ISSUER
    assert claims["email"] == pusher
    assert claims["email_verified"] is True
    with pytest.raises(ValueError, match="audience"):
        id_token.verify_token(
            token,
            HTTP,
            audience="https://elsewhere",
            certs_url=standin.certs_url,
        )


def test_openid_configuration_points_at_the_local_server(standin: GoogleStandIn) -> None:
    status, document = get_json(standin, "/.well-known/openid-configuration")

    assert status == 200
    assert document["issuer"] == GOOGLE_ISSUER
    assert document["token_endpoint"] == standin.token_uri
    assert document["revocation_endpoint"] == standin.base_url + "/revoke"
    assert document["jwks_uri"] == standin.base_url + "/oauth2/v3/certs"
    assert document["authorization_endpoint"] == standin.auth_uri


# -- the authorization endpoint's own errors ------------------------------------------------------


def test_unknown_client_gets_an_error_page_not_a_redirect(standin: GoogleStandIn) -> None:
    response = authorize(standin, Client("nobody.apps.googleusercontent.com", ""), scope=SIGN_IN)

    assert response.status_code == 401
    assert "Location" not in response.headers
    assert "invalid_client" in response.text


def test_unregistered_redirect_uri_gets_an_error_page_not_a_redirect(
    standin: GoogleStandIn, client: Client
) -> None:
    response = authorize(standin, client, scope=SIGN_IN, redirect_uri="https://attacker.example/cb")

    assert response.status_code == 400
    assert "Location" not in response.headers
    assert "redirect_uri_mismatch" in response.text


def test_plain_pkce_method_is_refused(standin: GoogleStandIn, client: Client) -> None:
    response = authorize(
        standin, client, scope=SIGN_IN, code_challenge="a" * 43, code_challenge_method="plain"
    )

    assert response.status_code == 400
    assert "Location" not in response.headers
    assert "S256" in response.text


def test_consent_page_escapes_a_hostile_state_and_client_name(standin: GoogleStandIn) -> None:
    hostile = "<script>alert(1)</script>"
    registered = standin.oauth.register_client(
        f"evil{hostile}.apps.googleusercontent.com", "secret", [REDIRECT_URI], display_name=f'"><b>{hostile}'
    )

    response = authorize(
        standin,
        Client(registered.client_id, ""),
        scope=SIGN_IN,
        state=f'"><img src=x onerror=alert(2)>{hostile}',
    )

    assert response.status_code == 200
    assert "<script" not in response.text.lower()
    assert "<img" not in response.text
    assert "<b>" not in response.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in response.text
    assert "script-src" not in response.headers["Content-Security-Policy"]  # default-src 'none' covers it
