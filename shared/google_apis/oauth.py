"""Google's OAuth 2.0 endpoints: the authorization URL, the code exchange, the ID token, revocation,
and credentials that refresh themselves. Spoken through google-auth's transport; no token is logged."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import urllib.parse
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from shared.errors import NeedsReconnect, Permanent, Retryable, Unauthenticated
from shared.google_apis.oidc import GOOGLE_ISSUERS

if TYPE_CHECKING:
    from google.auth.transport import Request
    from google.oauth2.credentials import Credentials

ID_TOKEN_CLOCK_SKEW_SECONDS = 30


@dataclass(frozen=True)
class Pkce:
    """RFC 7636: the verifier stays with us; only its S256 challenge travels through the browser."""

    verifier: str
    challenge: str

    @classmethod
    def generate(cls) -> Pkce:
        verifier = secrets.token_urlsafe(64)  # 86 characters of [A-Za-z0-9_-], within RFC 7636's 43 to 128
        return cls(verifier, s256(verifier))


def s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


@dataclass(frozen=True)
class TokenGrant:
    access_token: str
    expires_in: int
    refresh_token: str | None
    granted_scopes: frozenset[str]
    id_token: str | None


@dataclass(frozen=True)
class GoogleIdentity:
    subject: str  # Google's stable account id: the account's identity, whatever its address becomes
    email: str
    email_verified: bool


class GoogleOAuthClient:
    def __init__(
        self,
        *,
        client_id: str,
        client_secret: Callable[[], str],  # read from Secret Manager only when a call needs it
        auth_uri: str,
        token_uri: str,
        revoke_uri: str,
        certs_url: str,
        request: Request | None = None,
    ) -> None:
        self.client_id = client_id
        self._client_secret = client_secret
        self._auth_uri = auth_uri
        self.token_uri = token_uri
        self._revoke_uri = revoke_uri
        self._certs_url = certs_url
        self._request = request

    def _transport(self) -> Request:
        if self._request is None:
            from google.auth.transport.requests import Request

            self._request = Request()
        return self._request

    def authorization_url(
        self,
        *,
        redirect_uri: str,
        scopes: Iterable[str],
        state: str,
        code_challenge: str,
        login_hint: str | None = None,
    ) -> str:
        params = {
            "client_id": self.client_id,
            "redirect_uri": redirect_uri,
            "response_type": "code",
            "scope": " ".join(sorted(set(scopes))),
            "state": state,
            "code_challenge": code_challenge,
            "code_challenge_method": "S256",
            "access_type": "offline",  # a refresh token: syncs run without the user
            "prompt": "consent",  # Google sends the refresh token again only with a fresh consent
            "include_granted_scopes": "true",
        }
        if login_hint:
            params["login_hint"] = login_hint
        return f"{self._auth_uri}?{urllib.parse.urlencode(params)}"

    def exchange_code(self, *, code: str, redirect_uri: str, code_verifier: str) -> TokenGrant:
        answer = self._post_form(
            self.token_uri,
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": redirect_uri,
                "code_verifier": code_verifier,
                "client_id": self.client_id,
                "client_secret": self._client_secret(),
            },
        )
        if not isinstance(answer.get("access_token"), str):
            raise Permanent("Google's token answer had no access token.", code="code_exchange_failed")
        return TokenGrant(
            access_token=answer["access_token"],
            expires_in=int(answer.get("expires_in", 3600)),
            refresh_token=answer.get("refresh_token"),
            granted_scopes=frozenset(str(answer.get("scope", "")).split()),
            id_token=answer.get("id_token"),
        )

    def identity(self, id_token: str | None) -> GoogleIdentity:
        """The account behind a sign-in: the ID token's signature, audience, expiry and issuer checked."""
        if not id_token:
            raise Unauthenticated("Google returned no ID token.", code="identity_unverified")
        from google.oauth2 import id_token as google_id_token

        try:
            claims = google_id_token.verify_token(
                id_token,
                self._transport(),
                audience=self.client_id,
                certs_url=self._certs_url,
                # Without it, a clock a second behind Google's refuses fresh tokens ("used too early").
                clock_skew_in_seconds=ID_TOKEN_CLOCK_SKEW_SECONDS,
            )
        except ValueError as error:
            raise Unauthenticated("Google's ID token did not verify.", code="identity_unverified") from error
        if claims.get("iss") not in GOOGLE_ISSUERS or not isinstance(claims.get("email"), str):
            raise Unauthenticated("Google's ID token did not verify.", code="identity_unverified")
        verified = claims.get("email_verified") in (True, "true")
        return GoogleIdentity(subject=str(claims["sub"]), email=claims["email"], email_verified=verified)

    def revoke(self, token: str) -> None:
        """Revoke at Google, retrying passing failures; a token Google no longer knows is already revoked."""
        from google.api_core.retry import Retry, if_exception_type

        retry = Retry(
            predicate=if_exception_type(Retryable), initial=0.2, maximum=2.0, multiplier=2.0, timeout=15.0
        )
        retry(self._revoke_once)(token)

    def _revoke_once(self, token: str) -> None:
        try:
            self._post_form(self._revoke_uri, {"token": token})
        except Permanent as error:
            if error.code != "invalid_token":
                raise

    def ensure_fresh(self, credentials: object) -> None:
        """Refresh ``credentials`` when their access token is missing or expired. ``NeedsReconnect``
        (code ``invalid_grant``) when Google refuses the grant; ``Retryable`` when it cannot say now."""
        import google.auth.exceptions
        from google.auth.transport.requests import Request

        live = cast("Credentials", credentials)
        if live.valid:
            return
        try:
            live.refresh(Request())  # type: ignore[no-untyped-call]  # google-auth: unannotated
        except google.auth.exceptions.RefreshError as error:
            if getattr(error, "retryable", False):
                raise Retryable("Refreshing the Google token failed for now.") from None
            raise NeedsReconnect("Google refused the stored grant.", code="invalid_grant") from None
        except google.auth.exceptions.TransportError:
            raise Retryable("Google's token endpoint could not be reached.") from None

    def credentials(
        self, refresh_token: str, scopes: Iterable[str], access_token: str | None = None
    ) -> Credentials:
        from google.oauth2.credentials import Credentials

        return Credentials(  # type: ignore[no-untyped-call]  # google-auth: unannotated
            token=access_token,
            refresh_token=refresh_token,
            token_uri=self.token_uri,
            client_id=self.client_id,
            client_secret=self._client_secret(),
            scopes=sorted(scopes),
        )

    def _post_form(self, url: str, form: dict[str, str]) -> dict[str, Any]:
        import google.auth.exceptions

        try:
            response = self._transport()(
                url=url,
                method="POST",
                body=urllib.parse.urlencode(form),
                headers={"Content-Type": "application/x-www-form-urlencoded"},
                timeout=30,
            )
        except google.auth.exceptions.TransportError as error:
            raise Retryable("Google's OAuth endpoint could not be reached.") from error
        try:
            answer = json.loads(response.data or b"{}")
        except ValueError:
            answer = {}
        if response.status >= 500 or response.status == 429:
            raise Retryable(f"Google's OAuth endpoint answered {response.status}.")
        if response.status >= 400:
            # Google's error codes (invalid_grant, invalid_token, ...) are the stable part; descriptions vary.
            error_code = (
                str(answer.get("error", "oauth_error")) if isinstance(answer, dict) else "oauth_error"
            )
            raise Permanent(f"Google's OAuth endpoint refused the request ({error_code}).", code=error_code)
        return answer if isinstance(answer, dict) else {}
