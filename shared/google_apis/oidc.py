"""Verifies the OIDC ID tokens Google attaches to Pub/Sub push requests and Cloud Scheduler HTTP calls.

google-auth checks the signature, audience and expiry; the issuer, the calling service account and
``email_verified`` are checked here. Google's signing certificates are cached in memory for as long as
their ``Cache-Control: max-age`` allows, so a push costs no certificate fetch; a token signed by a key
the cache does not know triggers one refetch (key rotation), at most once per interval.

Nothing heavy is imported at module import time: this runs in a push handler's cold start.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from shared.auth import bearer_token
from shared.errors import Forbidden, IntegrationError, Retryable, Unauthenticated

if TYPE_CHECKING:
    from google.auth import transport

# Google's ID tokens name either form of its issuer.
GOOGLE_ISSUERS = frozenset({"accounts.google.com", "https://accounts.google.com"})
GOOGLE_CERTS_URL = "https://www.googleapis.com/oauth2/v1/certs"
# Google signs its ID tokens with RS256; any other header (none, HS256, ...) is refused before any fetch.
ALLOWED_ALGORITHMS = frozenset({"RS256"})
DEFAULT_MAX_AGE_SECONDS = 300  # when the certs response carries no max-age
MAX_MAX_AGE_SECONDS = 86_400  # never trust a cached key set for longer than a day, whatever it says
MIN_REFETCH_INTERVAL_SECONDS = 30.0  # unknown `kid`s force at most one refetch per interval
FETCH_TIMEOUT_SECONDS = 10.0  # google-auth's requests transport would wait 120 s
MAX_TOKEN_LENGTH = 16_384  # Google's ID tokens are about 1 KB

_MAX_AGE = re.compile(r"(?:^|[,\s])max-age\s*=\s*\"?(\d+)\"?", re.IGNORECASE)


@dataclass(frozen=True)
class GoogleCaller:
    email: str  # the service account that called (a service account email is not personal data)
    subject: str


@dataclass(frozen=True)
class _CachedResponse:
    """A stored answer, shaped like ``google.auth.transport.Response`` (status, headers, data)."""

    status: int
    headers: Mapping[str, str]
    data: bytes


@dataclass
class _Entry:
    response: _CachedResponse
    fresh_until: float


class CachingRequest:
    """A ``google.auth.transport.Request`` that keeps successful GET answers in memory, per URL, for
    their ``Cache-Control: max-age`` (300 s when absent, a day at most). Thread-safe; concurrent misses
    for one URL make a single fetch. Other requests (POST, or a GET with a body) pass through uncached.

    ``fetches`` counts the GETs that went to the network. ``refetch(url)`` drops the cached answer and
    fetches again, unless a refetch happened less than ``min_refetch_interval_seconds`` ago.
    """

    def __init__(
        self,
        inner: transport.Request | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        default_max_age_seconds: int = DEFAULT_MAX_AGE_SECONDS,
        min_refetch_interval_seconds: float = MIN_REFETCH_INTERVAL_SECONDS,
        timeout_seconds: float = FETCH_TIMEOUT_SECONDS,
    ) -> None:
        self._inner = inner  # created on first use: google-auth's requests transport is a heavy import
        self._clock = clock
        self._default_max_age = default_max_age_seconds
        self._min_refetch_interval = min_refetch_interval_seconds
        self._timeout = timeout_seconds
        self._entries: dict[str, _Entry] = {}
        self._last_refetch: dict[str, float] = {}
        self._fetches = 0
        self._lock = threading.Lock()

    @property
    def fetches(self) -> int:
        with self._lock:
            return self._fetches

    def __call__(
        self,
        url: str,
        method: str = "GET",
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> Any:
        if method.upper() != "GET" or body is not None:
            return self._transport()(
                url, method=method, body=body, headers=headers, timeout=timeout or self._timeout, **kwargs
            )
        with self._lock:  # held across the fetch: concurrent misses wait for one answer
            entry = self._entries.get(url)
            if entry is not None and self._clock() < entry.fresh_until:
                return entry.response
            return self._fetch_locked(url, headers, timeout, **kwargs)

    def refetch(self, url: str) -> bool:
        """Fetch ``url`` again now (a signing key may have rotated); False if throttled."""
        with self._lock:
            now = self._clock()
            last = self._last_refetch.get(url)
            if last is not None and now - last < self._min_refetch_interval:
                return False
            self._last_refetch[url] = now
            self._entries.pop(url, None)
            self._fetch_locked(url, None, None)
            return True

    def _fetch_locked(
        self, url: str, headers: Mapping[str, str] | None, timeout: float | None, **kwargs: Any
    ) -> Any:
        self._fetches += 1
        response = self._transport()(
            url, method="GET", headers=headers, timeout=timeout or self._timeout, **kwargs
        )
        if response.status != 200:
            return response  # errors are not cached: the next call asks again
        stored = _CachedResponse(
            status=response.status, headers=dict(response.headers or {}), data=bytes(response.data or b"")
        )
        self._entries[url] = _Entry(stored, self._clock() + self._freshness(stored.headers))
        return stored

    def _freshness(self, headers: Mapping[str, str]) -> float:
        values = {name.lower(): value for name, value in headers.items()}
        match = _MAX_AGE.search(values.get("cache-control", ""))
        max_age = int(match.group(1)) if match else self._default_max_age
        age = values.get("age", "").strip()
        if age.isdigit():
            max_age -= int(age)  # a shared cache on the way already held it this long
        return float(min(max(max_age, 0), MAX_MAX_AGE_SECONDS))

    def _transport(self) -> transport.Request:
        if self._inner is None:
            from google.auth.transport.requests import Request

            self._inner = Request()
        return self._inner


class GoogleOidcVerifier:
    def __init__(
        self,
        *,
        audiences: Sequence[str],
        allowed_emails: Sequence[str],
        certs_url: str = GOOGLE_CERTS_URL,
        clock_skew_seconds: int = 10,
        request: transport.Request | CachingRequest | None = None,
    ) -> None:
        """``request``: a ``CachingRequest`` is used as is; any other transport is wrapped in one."""
        if isinstance(audiences, str) or not audiences or not all(audiences):
            raise ValueError("audiences must be a non-empty list of non-empty strings")
        if (
            isinstance(allowed_emails, str)
            or not allowed_emails
            or not all(e.strip() for e in allowed_emails)
        ):
            raise ValueError("allowed_emails must be a non-empty list of non-empty strings")
        if clock_skew_seconds < 0:
            raise ValueError("clock_skew_seconds must not be negative")
        self._audiences = list(audiences)
        self._allowed_emails = frozenset(email.strip().lower() for email in allowed_emails)
        self._certs_url = certs_url
        self._clock_skew_seconds = clock_skew_seconds
        self._request = request if isinstance(request, CachingRequest) else CachingRequest(request)

    @property
    def fetches(self) -> int:
        """How many times the certificates were fetched from the network."""
        return self._request.fetches

    def verify(self, authorization: str | None) -> GoogleCaller:
        token = bearer_token(authorization)
        invalid = Unauthenticated("The token is not valid.", code="invalid_token")

        kid = _signing_key_id(token)
        if kid is None:
            raise invalid
        # An unknown kid may be a rotated key: fetch the certificates again (throttled against made-up kids).
        if kid not in self._known_key_ids() and kid not in self._known_key_ids(refetch=True):
            raise invalid

        claims = self._verified_claims(token, invalid)
        if claims.get("iss") not in GOOGLE_ISSUERS:
            raise invalid
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject:
            raise invalid
        email = claims.get("email")
        if (
            not isinstance(email, str)
            or email.lower() not in self._allowed_emails
            or claims.get("email_verified") not in (True, "true")
        ):
            raise Forbidden("The caller is not allowed to call this endpoint.", code="caller_not_allowed")
        return GoogleCaller(email=email, subject=subject)

    def _verified_claims(self, token: str, invalid: Unauthenticated) -> Mapping[str, Any]:
        """Signature, audience and expiry, by google-auth, against the cached certificates."""
        import google.auth.exceptions
        import jwt  # PyJWT: google-auth verifies with it when the certs are a JWK set (v3)
        from google.oauth2 import id_token

        # CachingRequest is a Request by shape only: subclassing it would import google.auth at import time.
        request = cast("transport.Request", self._request)
        try:
            claims = id_token.verify_token(
                token,
                request,
                audience=self._audiences,
                certs_url=self._certs_url,
                clock_skew_in_seconds=self._clock_skew_seconds,
            )
        except google.auth.exceptions.TransportError as error:
            raise Retryable(
                "Google's signing certificates could not be fetched.", code="certs_unavailable"
            ) from error
        except (ValueError, TypeError, KeyError, jwt.PyJWTError) as error:
            # ValueError covers google-auth's MalformedError and InvalidValue; TypeError and KeyError
            # cover a signed token whose iat or exp is not a number.
            raise invalid from error
        if not isinstance(claims, Mapping):
            raise invalid
        return claims

    def _known_key_ids(self, *, refetch: bool = False) -> frozenset[str]:
        """The key ids in the (cached) certificates, v1 (``{kid: PEM}``) or v3 (JWK set) format.
        ``refetch``: fetch them again first, unless a refetch happened within the throttle interval."""
        import google.auth.exceptions

        unavailable = Retryable(
            "Google's signing certificates could not be fetched.", code="certs_unavailable"
        )
        try:
            if refetch:
                self._request.refetch(self._certs_url)
            response = self._request(self._certs_url, method="GET")
        except google.auth.exceptions.TransportError as error:
            raise unavailable from error
        if response.status != 200:
            raise unavailable
        try:
            certs = json.loads(response.data)
        except ValueError as error:
            raise unavailable from error
        if isinstance(certs, dict) and isinstance(certs.get("keys"), list):
            return frozenset(
                key["kid"]
                for key in certs["keys"]
                if isinstance(key, dict) and isinstance(key.get("kid"), str)
            )
        if isinstance(certs, dict):
            return frozenset(kid for kid, pem in certs.items() if isinstance(pem, str))
        raise unavailable


def _signing_key_id(token: str) -> str | None:
    """The ``kid`` of a well-formed RS256 JWT's header, or None. Nothing is trusted yet: this only decides
    which key to look for, and refuses ``alg: none``, HMAC and junk before any certificate fetch."""
    if len(token) > MAX_TOKEN_LENGTH:
        return None
    parts = token.split(".")
    if len(parts) != 3 or not all(parts):
        return None
    try:
        header = json.loads(base64.urlsafe_b64decode(parts[0] + "=" * (-len(parts[0]) % 4)))
    except (ValueError, binascii.Error):
        return None
    if not isinstance(header, dict) or header.get("alg") not in ALLOWED_ALGORITHMS:
        return None
    kid = header.get("kid")
    return kid if isinstance(kid, str) and kid else None


class GoogleCallerAuth:
    """Who may call a Google-triggered function (Pub/Sub push, Cloud Scheduler): its OIDC token checked
    here (``oidc``), or by Cloud Run IAM in front of the function (``platform``)."""

    def __init__(
        self, *, caller: str, mode: str, audiences: Sequence[str], accounts: Sequence[str], certs_url: str
    ) -> None:
        self._caller = caller
        self._mode = mode
        self._audiences = list(audiences)
        self._accounts = list(accounts)
        self._certs_url = certs_url
        self._verifier: GoogleOidcVerifier | None = None
        self._lock = threading.Lock()

    def authenticate(self, authorization: str | None) -> None:
        if self._mode == "platform":
            return  # Cloud Run IAM verified the token (and strips its signature before we see it)
        if not (self._audiences and self._accounts):
            raise IntegrationError(
                f"{self._caller} authentication is not configured (audiences and service accounts).",
                code=f"{self._caller}_auth_not_configured",
            )
        with self._lock:
            if self._verifier is None:
                self._verifier = GoogleOidcVerifier(
                    audiences=self._audiences, allowed_emails=self._accounts, certs_url=self._certs_url
                )
            verifier = self._verifier
        verifier.verify(authorization)
