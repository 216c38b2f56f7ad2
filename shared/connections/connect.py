"""Connecting a Google account, in three steps:

1. ``begin`` (api, the CRM backend): a one-time state bound to tenant and user, holding the PKCE
   verifier and the allow-listed CRM return URL; the answer is a URL on our own oauth_callback.
2. ``bind_browser`` (oauth_callback /start, the user's browser): binds the state to this browser with a
   cookie (RFC 6749 §10.12), then sends the browser to Google's consent screen.
3. ``complete`` (oauth_callback /callback): the state must be present, unused, unexpired and this
   browser's; the code is exchanged with the verifier; granted scopes and the account are read; the
   connection and its sealed grant are stored; watches start and first syncs are queued.

Any failure in 3 stores no connection and no grant; the state is used up on first presentation.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import urllib.parse
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from shared.connections.features import feature_states, scopes_to_request
from shared.connections.grants import GrantKey, Grants
from shared.connections.records import (
    ConnectionRecord,
    ConnectionStatus,
    OAuthState,
    connection_ref,
    grant_ref,
    state_ref,
)
from shared.errors import BadInput, Conflict, IntegrationError, NotFound
from shared.google_apis.oauth import GoogleIdentity, GoogleOAuthClient, Pkce, TokenGrant, s256
from shared.ids import is_valid_id
from shared.plans import Feature, Plan
from shared.storage.scope import TenantScope

if TYPE_CHECKING:
    from shared.config import Settings
    from shared.tenants.service import TenantService
    from shared.vault import TokenVault

logger = logging.getLogger(__name__)

COOKIE_PREFIX = "crm_google_oauth_"


@dataclass(frozen=True)
class AuthorizationStart:
    authorization_url: str
    expires_at: datetime


@dataclass(frozen=True)
class BrowserStart:
    google_url: str
    cookie_name: str
    cookie_value: str
    max_age_seconds: int


@dataclass(frozen=True)
class ConnectOutcome:
    """Where the browser goes next: back to the CRM with ``outcome``, or (no trusted return URL) a page."""

    outcome: str  # "connected" or an error code
    return_url: str | None
    cookie_name: str | None = None

    @property
    def redirect_url(self) -> str | None:
        if self.return_url is None:
            return None
        separator = "&" if urllib.parse.urlparse(self.return_url).query else "?"
        return f"{self.return_url}{separator}{urllib.parse.urlencode({'google_connection': self.outcome})}"


class ConnectFailed(Exception):
    """A failed step of ``complete``; carries the outcome code and, when known, the return URL."""

    def __init__(self, outcome: str, return_url: str | None = None) -> None:
        super().__init__(outcome)
        self.outcome = outcome
        self.return_url = return_url


class ConnectFlow:
    def __init__(
        self,
        *,
        settings: Settings,
        scope_for: Callable[[str], TenantScope],
        tenants: TenantService,
        oauth: GoogleOAuthClient,
        vault: Callable[[], TokenVault],
        grants: Grants,
        on_connected: Callable[[str, ConnectionRecord, Plan], None],
        clock: Callable[[], datetime],
    ) -> None:
        self._settings = settings
        self._scope_for = scope_for
        self._tenants = tenants
        self._oauth = oauth
        self._vault = vault
        self._grants = grants
        self._on_connected = on_connected  # channels started, first syncs queued
        self._clock = clock

    @property
    def _redirect_uri(self) -> str:
        return f"{self._settings.oauth_callback_url.rstrip('/')}/callback"

    # --- 1. begin (api) --------------------------------------------------------------------------------

    def begin(
        self, tenant_id: str, user_id: str, features: list[Feature], return_url: str
    ) -> AuthorizationStart:
        check_return_url(return_url, self._settings)
        if not self._settings.oauth_callback_url or not self._oauth.client_id:
            raise IntegrationError("Google connections are not configured (OAUTH_CALLBACK_URL, client id).")
        self._tenants.get(tenant_id)  # an unknown tenant is a 404, and nothing is written
        scope = self._scope_for(tenant_id)
        now = self._clock()
        state = OAuthState(
            state_id=secrets.token_hex(24),
            user_id=user_id,
            features=sorted(set(features)),
            requested_scopes=scopes_to_request(
                features, write_back=self._settings.mail_read_state_write_back
            ),
            return_url=return_url,
            code_verifier=Pkce.generate().verifier,
            created_at=now,
            expires_at=now + timedelta(seconds=self._settings.oauth_state_ttl_seconds),
        )
        scope.create(state_ref(scope, state.state_id), state.model_dump(mode="python"))
        query = urllib.parse.urlencode({"state": f"{tenant_id}.{state.state_id}"})
        url = f"{self._settings.oauth_callback_url.rstrip('/')}/start?{query}"
        return AuthorizationStart(authorization_url=url, expires_at=state.expires_at)

    # --- 2. bind the browser (/start) ------------------------------------------------------------------

    def bind_browser(self, state_param: str | None) -> BrowserStart:
        tenant_id, state_id = parse_state(state_param)
        scope = self._scope_for(tenant_id)
        secret = secrets.token_urlsafe(32)
        reference = state_ref(scope, state_id)

        def bind(transaction: Any) -> OAuthState:
            state = _read_state(reference, transaction, tenant_id)
            if state.used_at is not None or state.browser_binding is not None:
                raise ConnectFailed("state_used", state.return_url)
            if self._clock() >= state.expires_at:
                raise ConnectFailed("state_expired", state.return_url)
            transaction.update(reference, {"browser_binding": _digest(secret)})
            return state

        try:
            state = scope.transaction(bind)
        except NotFound:
            raise ConnectFailed("state_unknown") from None
        google_url = self._oauth.authorization_url(
            redirect_uri=self._redirect_uri,
            scopes=state.requested_scopes,
            state=f"{tenant_id}.{state_id}",
            code_challenge=s256(state.code_verifier),
        )
        remaining = int((state.expires_at - self._clock()).total_seconds())
        return BrowserStart(google_url, cookie_name_for(state_id), secret, max(remaining, 1))

    # --- 3. complete (/callback) -----------------------------------------------------------------------

    def complete(self, params: Mapping[str, str], cookies: Mapping[str, str]) -> ConnectOutcome:
        try:
            tenant_id, state_id = parse_state(params.get("state"))
        except ConnectFailed as failure:
            return ConnectOutcome(failure.outcome, None)
        cookie_name = cookie_name_for(state_id)
        try:
            state = self._consume_state(tenant_id, state_id, cookies.get(cookie_name))
            connection = self._connect(tenant_id, state, params)
        except ConnectFailed as failure:
            return ConnectOutcome(failure.outcome, failure.return_url, cookie_name)
        logger.info(
            "google account connected",
            extra={"fields": {"tenant_id": tenant_id, "connection_id": connection.connection_id}},
        )
        return ConnectOutcome("connected", state.return_url, cookie_name)

    def _consume_state(self, tenant_id: str, state_id: str, browser_secret: str | None) -> OAuthState:
        scope = self._scope_for(tenant_id)
        reference = state_ref(scope, state_id)

        def consume(transaction: Any) -> OAuthState:
            state = _read_state(reference, transaction, tenant_id)
            if state.used_at is not None:
                raise ConnectFailed("state_used", state.return_url)
            # Used up on first presentation, whatever follows: a replayed callback can never succeed.
            transaction.update(reference, {"used_at": self._clock()})
            return state

        try:
            state = scope.transaction(consume)
        except NotFound:
            raise ConnectFailed("state_unknown") from None
        if self._clock() >= state.expires_at:
            raise ConnectFailed("state_expired", state.return_url)
        if (
            state.browser_binding is None
            or browser_secret is None
            or not hmac.compare_digest(state.browser_binding, _digest(browser_secret))
        ):
            raise ConnectFailed("state_not_for_this_browser", state.return_url)
        return state

    def _connect(self, tenant_id: str, state: OAuthState, params: Mapping[str, str]) -> ConnectionRecord:
        if params.get("error"):
            outcome = "access_denied" if params["error"] == "access_denied" else "authorization_failed"
            raise ConnectFailed(outcome, state.return_url)
        if not params.get("code"):
            raise ConnectFailed("authorization_failed", state.return_url)
        try:
            grant = self._oauth.exchange_code(
                code=params["code"], redirect_uri=self._redirect_uri, code_verifier=state.code_verifier
            )
            identity = self._oauth.identity(grant.id_token)
            plan = self._tenants.get(tenant_id).plan
        except IntegrationError as error:
            logger.warning("connect failed", extra={"fields": {"tenant_id": tenant_id, "code": error.code}})
            outcome = "identity_unverified" if error.code == "identity_unverified" else "code_exchange_failed"
            raise ConnectFailed(outcome, state.return_url) from None
        if not identity.email_verified:
            raise ConnectFailed("identity_unverified", state.return_url)
        if not grant.refresh_token:
            raise ConnectFailed("no_refresh_token", state.return_url)
        features = feature_states(
            state.features, grant.granted_scopes, plan, write_back=self._settings.mail_read_state_write_back
        )
        try:
            connection = self._store(tenant_id, state, grant, identity, features)
        except Conflict:
            raise ConnectFailed("different_google_account", state.return_url) from None
        # The grant's first calls (the watch) use the access token Google just gave: no refresh.
        self._grants.prime(
            GrantKey(tenant_id, connection.connection_id, connection.grant_id),
            str(grant.refresh_token),
            grant.granted_scopes,
            grant.access_token,
        )
        self._on_connected(tenant_id, connection, plan)
        return connection

    def _store(
        self,
        tenant_id: str,
        state: OAuthState,
        grant: TokenGrant,
        identity: GoogleIdentity,
        features: Mapping[Feature, Any],
    ) -> ConnectionRecord:
        """Create the connection, or renew it for the same Google account keeping its sync state."""
        scope = self._scope_for(tenant_id)
        reference = connection_ref(scope, state.user_id)
        sealed = self._vault().seal(
            str(grant.refresh_token), tenant_id=tenant_id, connection_id=state.user_id
        )
        now = self._clock()
        grant_id = uuid.uuid4().hex  # a new grant: credentials cached for the old one are never used

        def upsert(transaction: Any) -> ConnectionRecord:
            snapshot = transaction.get(reference)
            existing = ConnectionRecord.model_validate(snapshot.to_dict()) if snapshot.exists else None
            if existing is not None and existing.google_subject != identity.subject:
                raise Conflict("This CRM user is connected to another Google account.")
            record = ConnectionRecord(
                connection_id=state.user_id,
                user_id=state.user_id,
                status=ConnectionStatus.ACTIVE,
                needs_reconnect_reason=None,
                google_subject=identity.subject,
                google_email=identity.email.lower(),  # push notifications are matched on it
                grant_id=grant_id,
                granted_scopes=sorted(grant.granted_scopes),
                requested_features=state.features,
                features=dict(features),
                calendar_ids=existing.calendar_ids if existing else [],
                # A reconnect of the same account keeps what was synced and where each sync stopped
                # (sync states and channels live in documents of their own, untouched here).
                created_at=existing.created_at if existing else now,
                connected_at=now,
                updated_at=now,
            )
            transaction.set(reference, scope.stamp(record.model_dump(mode="python")))
            transaction.set(
                grant_ref(scope, state.user_id), scope.stamp({**sealed.to_document(), "grant_id": grant_id})
            )
            return record

        return scope.transaction(upsert)


def check_return_url(return_url: str, settings: Settings) -> None:
    """Only origins on the allow-list; https only outside local runs; no credentials in the URL."""
    refused = BadInput(
        "The return_url is not on the allow-list of CRM origins.", code="return_url_not_allowed"
    )
    try:
        parsed = urllib.parse.urlparse(return_url)
    except ValueError:  # e.g. an unclosed IPv6 bracket: "https://["
        raise refused from None
    allowed = {
        origin.strip().rstrip("/") for origin in settings.crm_return_origins.split(",") if origin.strip()
    }
    origin = f"{parsed.scheme}://{parsed.netloc}"
    secure = parsed.scheme == "https" or (settings.environment == "local" and parsed.scheme == "http")
    if not secure or parsed.username or parsed.password or origin not in allowed or parsed.fragment:
        raise refused


def parse_state(state_param: str | None) -> tuple[str, str]:
    tenant_id, _, state_id = (state_param or "").partition(".")
    if not state_param:
        raise ConnectFailed("state_missing")
    if not (is_valid_id(tenant_id) and is_valid_id(state_id)):
        raise ConnectFailed("state_unknown")
    return tenant_id, state_id


def cookie_name_for(state_id: str) -> str:
    return f"{COOKIE_PREFIX}{state_id[:16]}"  # one per attempt, so two tabs do not clobber each other


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _read_state(reference: Any, transaction: Any, tenant_id: str) -> OAuthState:
    snapshot = transaction.get(reference)
    data = snapshot.to_dict() if snapshot.exists else None
    if data is None or data.get("tenant_id") != tenant_id:
        raise NotFound("No such connect attempt.", code="state_unknown")
    return OAuthState.model_validate(data)
