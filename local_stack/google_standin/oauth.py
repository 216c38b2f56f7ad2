"""Google's OAuth 2.0 / OpenID Connect server, in memory: clients, accounts, consent, codes, tokens, keys.

Pure logic (no HTTP; ``oauth_http.py`` serves it on Google's paths). One lock guards all state, and one
injectable clock drives every expiry, so tests move time instead of sleeping.

Where Google's behaviour is documented this follows it; where it is not, the choice is written beside
the code. The ways a refresh token dies in real life are admin levers (``revoke_account``,
``expire_refresh_tokens``, the per-account-and-client limit, ``refresh_token_lifetime`` for an app whose
consent screen is in Testing), and all of them surface as ``invalid_grant`` like at Google.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from local_stack.google_standin.errors import OAuthError

GOOGLE_ISSUER = "https://accounts.google.com"

OPENID_SCOPE = "openid"
EMAIL_SCOPE = "https://www.googleapis.com/auth/userinfo.email"
PROFILE_SCOPE = "https://www.googleapis.com/auth/userinfo.profile"
# Google answers the short names with the full URLs, in the redirect and in the token response.
_SCOPE_ALIASES = {"email": EMAIL_SCOPE, "profile": PROFILE_SCOPE}
# Sign-in scopes: shown on the consent screen but cannot be unticked.
IDENTITY_SCOPES = frozenset({OPENID_SCOPE, EMAIL_SCOPE, PROFILE_SCOPE})
_SCOPE_PREFIXES = ("https://www.googleapis.com/auth/", "https://mail.google.com/")

_PROMPT_VALUES = frozenset({"none", "consent", "select_account"})
_PENDING_LIFETIME = 3600.0  # an unanswered consent screen is forgotten after an hour
_USED_CODE_MEMORY = 3600.0  # a used code is remembered this long past its expiry, to detect replays
_PKCE_PATTERN = re.compile(r"[A-Za-z0-9\-._~]{43,128}")
_CERT_COMMON_NAME = "federated-signon.system.gserviceaccount.com"  # the CN of Google's own signing certs

_EXPIRED_OR_REVOKED = "Token has been expired or revoked."


def normalize_scopes(scopes: Iterable[str]) -> tuple[str, ...]:
    """Scopes as Google reports them: short names expanded, duplicates dropped, first-seen order kept."""
    seen: dict[str, None] = {}
    for scope in scopes:
        if scope:
            seen.setdefault(_SCOPE_ALIASES.get(scope, scope), None)
    return tuple(seen)


def subject_for(email: str) -> str:
    """The stable ``sub`` of an account: 21 decimal digits starting with 1, like Google's."""
    digest = hashlib.sha256(email.strip().lower().encode()).digest()
    return str(10**20 + int.from_bytes(digest[:8], "big") % 10**20)


def _base64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _s256(code_verifier: str) -> str:
    return _base64url(hashlib.sha256(code_verifier.encode("ascii")).digest())


def _same_secret(presented: str, expected: str) -> bool:
    return hmac.compare_digest(presented.encode(), expected.encode())


def _with_query(uri: str, params: Sequence[tuple[str, str]]) -> str:
    """``uri`` with ``params`` appended to whatever query it already has (Google keeps it)."""
    parts = urlsplit(uri)
    pairs = [*parse_qsl(parts.query, keep_blank_values=True), *params]
    return urlunsplit(parts._replace(query=urlencode(pairs, quote_via=quote, safe="/:")))


@dataclass(frozen=True)
class OAuthClient:
    client_id: str
    client_secret: str
    redirect_uris: tuple[str, ...]
    display_name: str = ""  # the app name on the consent screen; the client id when empty

    @property
    def name(self) -> str:
        return self.display_name or self.client_id


@dataclass(frozen=True)
class AccessGrant:
    """What a live access token stands for: the API server admits calls by it."""

    account: str
    scopes: frozenset[str]
    client_id: str
    expires_at: float


@dataclass(frozen=True)
class PendingAuthorization:
    """An authorization request that passed validation and waits for the user's answer."""

    request_id: str
    client: OAuthClient
    redirect_uri: str
    scopes: tuple[str, ...]  # requested, normalized, in request order
    state: str | None
    access_type: str  # "online" or "offline"
    prompt: frozenset[str]
    include_granted_scopes: bool
    login_hint: str | None
    code_challenge: str | None
    nonce: str | None
    created_at: float

    @property
    def required_scopes(self) -> frozenset[str]:
        """The requested scopes the user cannot untick."""
        return IDENTITY_SCOPES.intersection(self.scopes)


@dataclass
class _Consent:
    scopes: set[str] = field(default_factory=set)
    offline: bool = False


@dataclass
class _Code:
    client_id: str
    redirect_uri: str
    account: str
    scopes: frozenset[str]
    code_challenge: str | None
    nonce: str | None
    issue_refresh_token: bool
    expires_at: float
    used: bool = False


@dataclass
class _RefreshToken:
    account: str
    client_id: str
    scopes: frozenset[str]
    issued_at: float
    code: str | None


@dataclass
class _AccessToken:
    account: str
    client_id: str
    scopes: frozenset[str]
    expires_at: float
    refresh_token: str | None
    code: str | None


@dataclass(frozen=True)
class _SigningKey:
    kid: str
    private_key: rsa.RSAPrivateKey
    certificate_pem: str
    jwk: dict[str, str]


class OAuthServer:
    """Google's authorization server for the stand-in. Thread-safe; every expiry follows ``clock``."""

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.time,
        access_token_lifetime: int = 3600,
        code_lifetime: int = 600,
        refresh_tokens_per_account_client: int = 100,
        refresh_token_lifetime: int | None = None,
    ) -> None:
        """``refresh_token_lifetime``: None (Production consent screen) or seconds (Testing: 7 days)."""
        self._clock = clock
        self._access_token_lifetime = access_token_lifetime
        self._code_lifetime = code_lifetime
        self._refresh_limit = refresh_tokens_per_account_client
        self._refresh_token_lifetime = refresh_token_lifetime
        self._lock = threading.RLock()
        self._clients: dict[str, OAuthClient] = {}
        self._accounts: dict[str, str] = {}  # lower-cased email -> email as added
        self._pending: dict[str, PendingAuthorization] = {}
        self._consents: dict[tuple[str, str], _Consent] = {}
        self._codes: dict[str, _Code] = {}
        self._refresh_tokens: dict[str, _RefreshToken] = {}
        # Live refresh tokens per (account, client), oldest first: the 100-token limit drops from the front.
        self._refresh_order: dict[tuple[str, str], dict[str, None]] = {}
        self._access_tokens: dict[str, _AccessToken] = {}
        self._prune_access_at = 1024
        self._keys: list[_SigningKey] = [self._new_signing_key()]

    # -- registry ---------------------------------------------------------------------------------

    def register_client(
        self, client_id: str, client_secret: str, redirect_uris: Sequence[str], *, display_name: str = ""
    ) -> OAuthClient:
        client = OAuthClient(client_id, client_secret, tuple(redirect_uris), display_name)
        with self._lock:
            self._clients[client_id] = client
        return client

    def client(self, client_id: str) -> OAuthClient | None:
        with self._lock:
            return self._clients.get(client_id)

    def add_account(self, email: str) -> None:
        """An account that can sign in on the consent screen."""
        with self._lock:
            self._accounts.setdefault(email.strip().lower(), email.strip())

    def accounts(self) -> tuple[str, ...]:
        with self._lock:
            return tuple(self._accounts.values())

    # -- authorization endpoint -------------------------------------------------------------------

    def begin_authorization(self, params: Mapping[str, str]) -> PendingAuthorization:
        """Validates an authorization request as Google does, in Google's order.

        Every error here is shown on Google's own error page, never sent to the redirect URI: Google
        shows "Error 400: invalid_request" pages for bad parameters too, and "Error 401: invalid_client"
        for an unknown client. Only the user's answer (``approve``/``deny``) goes back to the app.
        """
        client_id = params.get("client_id", "")
        if not client_id:
            raise OAuthError("invalid_request", "Missing required parameter: client_id")
        with self._lock:
            now = self._clock()
            client = self._clients.get(client_id)
            if client is None:
                raise OAuthError("invalid_client", "The OAuth client was not found.", status=401)
            redirect_uri = params.get("redirect_uri", "")
            if not redirect_uri:
                raise OAuthError("invalid_request", "Missing required parameter: redirect_uri")
            if redirect_uri not in client.redirect_uris:
                raise OAuthError(
                    "redirect_uri_mismatch",
                    f"The redirect URI in the request, {redirect_uri}, does not match the ones authorized "
                    "for the OAuth client.",
                )
            response_type = params.get("response_type", "")
            if not response_type:
                raise OAuthError("invalid_request", "Required parameter is missing: response_type")
            if response_type != "code":
                raise OAuthError("unsupported_response_type", f"Unsupported response_type: {response_type}")
            scopes = normalize_scopes(params.get("scope", "").split())
            if not scopes:
                raise OAuthError("invalid_request", "Missing required parameter: scope")
            invalid = [s for s in scopes if s != OPENID_SCOPE and not s.startswith(_SCOPE_PREFIXES)]
            if invalid:
                raise OAuthError(
                    "invalid_scope", f"Some requested scopes were invalid. {{invalid=[{', '.join(invalid)}]}}"
                )
            code_challenge = params.get("code_challenge") or None
            method = params.get("code_challenge_method") or None
            if code_challenge is None and method is not None:
                raise OAuthError("invalid_request", "code_challenge_method without code_challenge.")
            if code_challenge is not None:
                # RFC 7636 makes "plain" the default method; the stand-in admits S256 only.
                if method != "S256":
                    raise OAuthError(
                        "invalid_request",
                        f"Invalid code_challenge_method: {method or 'plain'}. Only S256 is accepted.",
                    )
                if len(code_challenge) != 43 or not _PKCE_PATTERN.fullmatch(code_challenge):
                    raise OAuthError("invalid_request", "Invalid code_challenge.")
            access_type = params.get("access_type") or "online"
            if access_type not in ("online", "offline"):
                raise OAuthError("invalid_request", f"Invalid access_type: {access_type}")
            prompt = frozenset(params.get("prompt", "").split())
            if not prompt <= _PROMPT_VALUES or ("none" in prompt and len(prompt) > 1):
                raise OAuthError("invalid_request", f"Invalid prompt: {params.get('prompt', '')}")
            include_granted = params.get("include_granted_scopes", "false").lower()
            if include_granted not in ("true", "false"):
                raise OAuthError("invalid_request", f"Invalid include_granted_scopes: {include_granted}")
            self._prune_pending(now)
            pending = PendingAuthorization(
                request_id=secrets.token_urlsafe(24),
                client=client,
                redirect_uri=redirect_uri,
                scopes=scopes,
                state=params.get("state"),
                access_type=access_type,
                prompt=prompt,
                include_granted_scopes=include_granted == "true",
                login_hint=params.get("login_hint") or None,
                code_challenge=code_challenge,
                nonce=params.get("nonce") or None,
                created_at=now,
            )
            self._pending[pending.request_id] = pending
            return pending

    def approve(self, request_id: str, *, account: str, granted_scopes: Iterable[str] | None = None) -> str:
        """The user allowed: the redirect URL carrying the code, the granted scopes and the state.

        A refresh token will be issued for an offline request only when a consent screen was due:
        ``prompt=consent``, the first offline consent of this account for this client, or new scopes.
        Otherwise Google omits it, which is the classic "refresh token only the first time" trap.
        """
        with self._lock:
            pending = self._live_pending(request_id)
            account_key = self._known_account(account)
            requested = frozenset(pending.scopes)
            if granted_scopes is None:
                granted = set(requested)
            else:
                granted = set(normalize_scopes(granted_scopes))
                if not granted <= requested:
                    extra = " ".join(sorted(granted - requested))
                    raise OAuthError("invalid_scope", f"Scopes that were not requested: {extra}")
            granted |= pending.required_scopes
            consent = self._consents.get((account_key, pending.client.client_id))
            previous = consent.scopes if consent else set()
            if pending.include_granted_scopes:
                granted |= previous
            offline = pending.access_type == "offline"
            consent_due = (
                "consent" in pending.prompt
                or consent is None
                or (offline and not consent.offline)
                or not granted <= previous
            )
            return self._grant_code(pending, account_key, frozenset(granted), offline and consent_due)

    def deny(self, request_id: str) -> str:
        """The user cancelled: ``redirect_uri?error=access_denied&state=...``."""
        with self._lock:
            pending = self._live_pending(request_id)
            del self._pending[request_id]
            return self._error_redirect(pending, "access_denied")

    def authorize_silently(self, request_id: str) -> str:
        """``prompt=none``: a code if ``login_hint`` names an account that already consented to every
        requested scope (and to offline access, if asked), else ``login_required``/``consent_required``.
        Never a refresh token: no consent screen is shown. The stand-in has no browser session, so the
        signed-in user is the ``login_hint``.
        """
        with self._lock:
            pending = self._live_pending(request_id)
            hint = (pending.login_hint or "").strip().lower()
            if hint not in self._accounts:
                del self._pending[request_id]
                return self._error_redirect(pending, "login_required")
            consent = self._consents.get((hint, pending.client.client_id))
            offline = pending.access_type == "offline"
            if (
                consent is None
                or not set(pending.scopes) <= consent.scopes
                or (offline and not consent.offline)
            ):
                del self._pending[request_id]
                return self._error_redirect(pending, "consent_required")
            granted = set(pending.scopes)
            if pending.include_granted_scopes:
                granted |= consent.scopes
            return self._grant_code(pending, hint, frozenset(granted), False)

    # -- token endpoint ---------------------------------------------------------------------------

    def token(self, form: Mapping[str, str], *, basic_auth: tuple[str, str] | None = None) -> dict[str, Any]:
        """The token endpoint: ``authorization_code`` and ``refresh_token`` grants."""
        grant_type = form.get("grant_type", "")
        if grant_type not in ("authorization_code", "refresh_token"):
            raise OAuthError("unsupported_grant_type", f"Invalid grant_type: {grant_type}")
        with self._lock:
            client = self._authenticate_client(form, basic_auth)
            if grant_type == "authorization_code":
                return self._exchange_code(client, form)
            return self._refresh(client, form)

    def _authenticate_client(
        self, form: Mapping[str, str], basic_auth: tuple[str, str] | None
    ) -> OAuthClient:
        form_client_id = form.get("client_id") or None
        if basic_auth is not None:
            client_id, secret = basic_auth
            if form_client_id is not None and form_client_id != client_id:
                raise OAuthError("invalid_request", "client_id does not match the Authorization header.")
        else:
            client_id, secret = form_client_id or "", form.get("client_secret", "")
        if not client_id:
            raise OAuthError("invalid_request", "Could not determine client ID from request.")
        client = self._clients.get(client_id)
        if client is None:
            raise OAuthError("invalid_client", "The OAuth client was not found.", status=401)
        if not secret:
            raise OAuthError("invalid_request", "client_secret is missing.")
        if not _same_secret(secret, client.client_secret):
            raise OAuthError("invalid_client", "Unauthorized", status=401)
        return client

    def _exchange_code(self, client: OAuthClient, form: Mapping[str, str]) -> dict[str, Any]:
        now = self._clock()
        code = form.get("code", "")
        if not code:
            raise OAuthError("invalid_request", "Missing required parameter: code")
        record = self._codes.get(code)
        if record is None:
            raise OAuthError("invalid_grant", "Malformed auth code.")
        if record.client_id != client.client_id:
            raise OAuthError("invalid_grant", "Bad Request")
        if record.used:
            # RFC 6749 4.1.2: deny a replayed code and revoke what it produced (a thief or a bug has it).
            self._revoke_issued_from_code(code)
            raise OAuthError("invalid_grant", "Bad Request")
        if now >= record.expires_at:
            raise OAuthError("invalid_grant", "Bad Request")
        redirect_uri = form.get("redirect_uri", "")
        if not redirect_uri:
            raise OAuthError("invalid_request", "Missing required parameter: redirect_uri")
        if redirect_uri != record.redirect_uri:
            raise OAuthError("redirect_uri_mismatch", "Bad Request")
        verifier = form.get("code_verifier", "")
        if record.code_challenge is not None:
            if not verifier:
                raise OAuthError("invalid_grant", "Missing code verifier.")
            if not _PKCE_PATTERN.fullmatch(verifier) or not _same_secret(
                _s256(verifier), record.code_challenge
            ):
                raise OAuthError("invalid_grant", "Invalid code verifier.")
        elif verifier:
            # RFC 9700 4.8.2 (PKCE downgrade): a verifier for a code issued without a challenge is refused.
            raise OAuthError("invalid_grant", "Invalid code verifier.")
        # A failed check above leaves the code usable; only a successful exchange consumes it.
        record.used = True
        refresh_token: str | None = None
        if record.issue_refresh_token:
            refresh_token = self._new_refresh_token(
                record.account, client.client_id, record.scopes, code, now
            )
        response = self._issue_access_token(
            record.account, client.client_id, record.scopes, refresh_token, code, record.nonce, now
        )
        if refresh_token is not None:
            response["refresh_token"] = refresh_token
            if self._refresh_token_lifetime is not None:
                response["refresh_token_expires_in"] = self._refresh_token_lifetime
        return response

    def _refresh(self, client: OAuthClient, form: Mapping[str, str]) -> dict[str, Any]:
        now = self._clock()
        token = form.get("refresh_token", "")
        if not token:
            raise OAuthError("invalid_request", "Missing required parameter: refresh_token")
        record = self._live_refresh_token(token, now)
        if record is None or record.client_id != client.client_id:
            raise OAuthError("invalid_grant", _EXPIRED_OR_REVOKED)
        scopes = record.scopes
        if form.get("scope"):
            asked = frozenset(normalize_scopes(form["scope"].split()))
            if not asked <= record.scopes:
                extra = " ".join(sorted(asked - record.scopes))
                raise OAuthError("invalid_scope", f"Some requested scopes were not granted: {extra}")
            scopes = asked
        # Google does not rotate refresh tokens: the answer carries no refresh_token.
        return self._issue_access_token(
            record.account, client.client_id, scopes, token, record.code, None, now
        )

    def _issue_access_token(
        self,
        account: str,
        client_id: str,
        scopes: frozenset[str],
        refresh_token: str | None,
        code: str | None,
        nonce: str | None,
        now: float,
    ) -> dict[str, Any]:
        self._prune_access_tokens(now)
        access_token = "ya29." + secrets.token_urlsafe(96)
        self._access_tokens[access_token] = _AccessToken(
            account, client_id, scopes, now + self._access_token_lifetime, refresh_token, code
        )
        response: dict[str, Any] = {
            "access_token": access_token,
            "expires_in": self._access_token_lifetime,
            "scope": " ".join(sorted(scopes)),
            "token_type": "Bearer",
        }
        if OPENID_SCOPE in scopes:
            response["id_token"] = self._sign_in_id_token(
                account, client_id, scopes, access_token, nonce, now
            )
        return response

    def _sign_in_id_token(
        self,
        account: str,
        client_id: str,
        scopes: frozenset[str],
        access_token: str,
        nonce: str | None,
        now: float,
    ) -> str:
        """Google's sign-in ID token: email claims only with the email scope, name only with profile."""
        email = self._accounts.get(account, account)
        claims: dict[str, Any] = {
            "iss": GOOGLE_ISSUER,
            "azp": client_id,
            "aud": client_id,
            "sub": subject_for(email),
            "at_hash": _base64url(hashlib.sha256(access_token.encode()).digest()[:16]),
            "iat": int(now),
            "exp": int(now) + self._access_token_lifetime,
        }
        if EMAIL_SCOPE in scopes:
            claims.update(email=email, email_verified=True)
        if PROFILE_SCOPE in scopes:
            claims.update(_profile_claims(email))
        if nonce is not None:
            claims["nonce"] = nonce
        return self._sign(claims)

    # -- revocation and token introspection -------------------------------------------------------

    def revoke(self, token: str) -> None:
        """The revocation endpoint. Revoking either kind of token removes the app's access for the
        account, as "Remove access" in the Google Account does: every refresh and access token of that
        account for that client, and the consent (the next authorization is a first consent again).
        Google documents that revoking an access token also revokes its refresh token; that it takes
        the account's other tokens for the client too is what users of the revoke endpoint report.
        """
        with self._lock:
            now = self._clock()
            access = self._live_access_token(token, now)
            if access is not None:
                self._revoke_grant(access.account, access.client_id)
                return
            refresh = self._live_refresh_token(token, now)
            if refresh is not None:
                self._revoke_grant(refresh.account, refresh.client_id)
                return
            raise OAuthError("invalid_token", "Token expired or revoked")

    def resolve_access_token(self, token: str) -> AccessGrant | None:
        """The grant behind a bearer token, or None (unknown, expired or revoked): the API answers 401."""
        with self._lock:
            record = self._live_access_token(token, self._clock())
            if record is None:
                return None
            account = self._accounts.get(record.account, record.account)  # the email as added
            return AccessGrant(account, record.scopes, record.client_id, record.expires_at)

    def userinfo(self, access_token: str) -> dict[str, Any]:
        """OpenID Connect userinfo: ``sub`` always, email with the email scope, names with profile."""
        grant = self.resolve_access_token(access_token)
        if grant is None:
            raise OAuthError("invalid_request", "Invalid Credentials", status=401)
        if not grant.scopes & IDENTITY_SCOPES:
            raise OAuthError(
                "insufficient_scope", "Request had insufficient authentication scopes.", status=403
            )
        with self._lock:
            email = self._accounts.get(grant.account, grant.account)
        info: dict[str, Any] = {"sub": subject_for(email)}
        if EMAIL_SCOPE in grant.scopes:
            info.update(email=email, email_verified=True)
        if PROFILE_SCOPE in grant.scopes:
            info.update(_profile_claims(email))
        return info

    # -- admin levers: the ways tokens die in real life -------------------------------------------

    def revoke_account(self, account: str) -> None:
        """The user removed the app (every app) in their Google Account settings."""
        key = account.strip().lower()
        with self._lock:
            pairs = {pair for pair in self._consents if pair[0] == key}
            pairs |= {(r.account, r.client_id) for r in self._refresh_tokens.values() if r.account == key}
            pairs |= {(a.account, a.client_id) for a in self._access_tokens.values() if a.account == key}
            for account_key, client_id in pairs:
                self._revoke_grant(account_key, client_id)

    def expire_refresh_tokens(self, account: str) -> None:
        """Password change, 6 months unused, or a Testing-mode app's 7 days: refresh tokens die, the
        consent stays (so a new offline authorization gets a refresh token only with prompt=consent)."""
        key = account.strip().lower()
        with self._lock:
            for token in [t for t, r in self._refresh_tokens.items() if r.account == key]:
                self._drop_refresh_token(token)

    def expire_access_tokens(self, account: str) -> None:
        """The account's access tokens stop working: its next API call answers 401."""
        key = account.strip().lower()
        with self._lock:
            for token in [t for t, a in self._access_tokens.items() if a.account == key]:
                del self._access_tokens[token]

    def live_refresh_tokens(self, account: str, client_id: str) -> int:
        with self._lock:
            now = self._clock()
            tokens = list(self._refresh_order.get((account.strip().lower(), client_id), {}))
            return sum(1 for token in tokens if self._live_refresh_token(token, now) is not None)

    # -- signing ----------------------------------------------------------------------------------

    def certs_v1(self) -> dict[str, str]:
        """``{kid: PEM certificate}``, the format of https://www.googleapis.com/oauth2/v1/certs."""
        with self._lock:
            return {key.kid: key.certificate_pem for key in self._keys}

    def jwks(self) -> dict[str, Any]:
        """The JWK set of https://www.googleapis.com/oauth2/v3/certs."""
        with self._lock:
            return {"keys": [dict(key.jwk) for key in self._keys]}

    def mint_id_token(
        self,
        *,
        audience: str,
        email: str,
        email_verified: bool = True,
        lifetime: int = 3600,
        issuer: str = GOOGLE_ISSUER,
        extra_claims: Mapping[str, Any] | None = None,
    ) -> str:
        """An RS256 ID token signed by the current key. For a Pub/Sub push: ``audience`` = the push
        endpoint, ``email`` = the pushing service account (``azp`` = ``sub`` then, as Google does).
        ``extra_claims`` override or add claims."""
        now = int(self._clock())
        sub = subject_for(email)
        claims: dict[str, Any] = {
            "iss": issuer,
            "azp": sub,
            "aud": audience,
            "sub": sub,
            "email": email,
            "email_verified": email_verified,
            "iat": now,
            "exp": now + lifetime,
        }
        claims.update(extra_claims or {})
        return self._sign(claims)

    def rotate_signing_key(self) -> None:
        """New tokens are signed with a new key; older keys stay in the certs so outstanding tokens verify."""
        key = self._new_signing_key()
        with self._lock:
            self._keys.append(key)

    def _sign(self, claims: Mapping[str, Any]) -> str:
        with self._lock:
            key = self._keys[-1]
        return jwt.encode(dict(claims), key.private_key, algorithm="RS256", headers={"kid": key.kid})

    def _new_signing_key(self) -> _SigningKey:
        private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        public_key = private_key.public_key()
        der = public_key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        kid = hashlib.sha256(der).hexdigest()[:40]  # Google's key ids are 40 hex digits
        now = datetime.datetime.fromtimestamp(self._clock(), tz=datetime.UTC)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, _CERT_COMMON_NAME)])
        certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .sign(private_key, hashes.SHA256())
        )
        numbers = public_key.public_numbers()
        jwk = {
            "kid": kid,
            "kty": "RSA",
            "alg": "RS256",
            "use": "sig",
            "n": _base64url(numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")),
            "e": _base64url(numbers.e.to_bytes((numbers.e.bit_length() + 7) // 8, "big")),
        }
        pem = certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")
        return _SigningKey(kid, private_key, pem, jwk)

    # -- internals (callers hold the lock) --------------------------------------------------------

    def _known_account(self, account: str) -> str:
        key = account.strip().lower()
        if key not in self._accounts:
            raise OAuthError("invalid_request", f"Unknown account {account!r}: add it with add_account().")
        return key

    def _live_pending(self, request_id: str) -> PendingAuthorization:
        pending = self._pending.get(request_id)
        if pending is None or self._clock() >= pending.created_at + _PENDING_LIFETIME:
            self._pending.pop(request_id, None)
            raise OAuthError("invalid_request", "Unknown or expired authorization request.")
        return pending

    def _prune_pending(self, now: float) -> None:
        for request_id in [r for r, p in self._pending.items() if now >= p.created_at + _PENDING_LIFETIME]:
            del self._pending[request_id]

    def _grant_code(
        self, pending: PendingAuthorization, account: str, granted: frozenset[str], issue_refresh_token: bool
    ) -> str:
        now = self._clock()
        del self._pending[pending.request_id]
        consent = self._consents.setdefault((account, pending.client.client_id), _Consent())
        consent.scopes |= granted
        consent.offline = consent.offline or pending.access_type == "offline"
        for stale in [c for c, r in self._codes.items() if now >= r.expires_at + _USED_CODE_MEMORY]:
            del self._codes[stale]
        code = "4/0A" + secrets.token_urlsafe(48)
        self._codes[code] = _Code(
            client_id=pending.client.client_id,
            redirect_uri=pending.redirect_uri,
            account=account,
            scopes=granted,
            code_challenge=pending.code_challenge,
            nonce=pending.nonce,
            issue_refresh_token=issue_refresh_token,
            expires_at=now + self._code_lifetime,
        )
        params = [("code", code), ("scope", " ".join(sorted(granted))), ("authuser", "0")]
        if pending.state is not None:
            params.insert(0, ("state", pending.state))
        return _with_query(pending.redirect_uri, params)

    @staticmethod
    def _error_redirect(pending: PendingAuthorization, error: str) -> str:
        params = [("error", error)]
        if pending.state is not None:
            params.append(("state", pending.state))
        return _with_query(pending.redirect_uri, params)

    def _new_refresh_token(
        self, account: str, client_id: str, scopes: frozenset[str], code: str | None, now: float
    ) -> str:
        token = "1//0" + secrets.token_urlsafe(72)
        self._refresh_tokens[token] = _RefreshToken(account, client_id, scopes, now, code)
        order = self._refresh_order.setdefault((account, client_id), {})
        order[token] = None
        for stale in [t for t in list(order) if self._live_refresh_token(t, now) is None]:
            order.pop(stale, None)
        while len(order) > self._refresh_limit:  # Google's limit: the oldest live token stops working
            self._drop_refresh_token(next(iter(order)))
        return token

    def _live_refresh_token(self, token: str, now: float) -> _RefreshToken | None:
        record = self._refresh_tokens.get(token)
        if record is None:
            return None
        if (
            self._refresh_token_lifetime is not None
            and now >= record.issued_at + self._refresh_token_lifetime
        ):
            self._drop_refresh_token(token)
            return None
        return record

    def _drop_refresh_token(self, token: str) -> None:
        record = self._refresh_tokens.pop(token, None)
        if record is not None:
            self._refresh_order.get((record.account, record.client_id), {}).pop(token, None)

    def _live_access_token(self, token: str, now: float) -> _AccessToken | None:
        record = self._access_tokens.get(token)
        if record is None:
            return None
        if now >= record.expires_at:
            del self._access_tokens[token]
            return None
        return record

    def _prune_access_tokens(self, now: float) -> None:
        """Forgets expired access tokens now and then, so a long benchmark does not grow without end."""
        if len(self._access_tokens) < self._prune_access_at:
            return
        for token in [t for t, a in self._access_tokens.items() if now >= a.expires_at]:
            del self._access_tokens[token]
        self._prune_access_at = max(1024, 2 * len(self._access_tokens))

    def _revoke_grant(self, account: str, client_id: str) -> None:
        self._consents.pop((account, client_id), None)
        for token in list(self._refresh_order.get((account, client_id), {})):
            self._drop_refresh_token(token)
        self._refresh_order.pop((account, client_id), None)
        doomed = [
            t for t, a in self._access_tokens.items() if (a.account, a.client_id) == (account, client_id)
        ]
        for token in doomed:
            del self._access_tokens[token]

    def _revoke_issued_from_code(self, code: str) -> None:
        refresh = {t for t, r in self._refresh_tokens.items() if r.code == code}
        for token in refresh:
            self._drop_refresh_token(token)
        doomed = [t for t, a in self._access_tokens.items() if a.code == code or a.refresh_token in refresh]
        for token in doomed:
            del self._access_tokens[token]


def _profile_claims(email: str) -> dict[str, str]:
    """Names for the profile scope, made up from the address: ``ada.lovelace@`` is "Ada Lovelace"."""
    words = [w.capitalize() for w in re.split(r"[._+-]+", email.split("@", 1)[0]) if w] or [email]
    claims = {"name": " ".join(words), "given_name": words[0]}
    if len(words) > 1:
        claims["family_name"] = " ".join(words[1:])
    return claims
