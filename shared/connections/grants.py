"""A connection's grant at Google, and the one place a dead grant is handled.

Credentials (the refresh token, opened from the vault, and the access tokens it yields) live only in this
instance's memory, cached per *grant*, never per connection: every consent gives the connection a new
``grant_id``, so an instance that still holds a disconnected grant's credentials never uses them for the
connection that replaced it. Google refusing a grant (``invalid_grant``) is reported here, by whichever
call met it (a token refresh, a Gmail call), and condemns the connection only while that grant is still
the connection's: a warm instance's stale grant can never condemn a fresh one.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from shared.connections.records import grant_ref
from shared.errors import NeedsReconnect
from shared.storage.scope import TenantScope
from shared.vault import SealedSecret, TokenVault


class GrantHolder(Protocol):
    """What opening a grant needs of a connection (ConnectionRecord has it)."""

    @property
    def connection_id(self) -> str: ...

    @property
    def grant_id(self) -> str: ...

    @property
    def granted_scopes(self) -> list[str]: ...

    @property
    def is_active(self) -> bool: ...


class OAuthCredentials(Protocol):
    """What grants need of Google's OAuth (shared.google_apis.oauth.GoogleOAuthClient provides it).
    Credentials are opaque here: only shared.google_apis reads them."""

    def credentials(
        self, refresh_token: str, scopes: Iterable[str], access_token: str | None = None
    ) -> object: ...

    def ensure_fresh(self, credentials: object) -> None:
        """Refresh when expired; ``NeedsReconnect`` (code ``invalid_grant``) when Google refuses."""
        ...


@dataclass(frozen=True)
class GrantKey:
    tenant_id: str
    connection_id: str
    grant_id: str


@dataclass(frozen=True)
class GrantAccess:
    """Credentials for one grant's Google calls, and whom to tell when Google refuses them."""

    key: GrantKey
    credentials: object
    on_dead: Callable[[], None]


DeadGrantHandler = Callable[[GrantKey, str], None]  # (the grant, why): the lifecycle condemns it


class Grants:
    def __init__(
        self,
        *,
        scope_for: Callable[[str], TenantScope],
        oauth: OAuthCredentials,
        vault: Callable[[], TokenVault],
        on_dead: Callable[[], DeadGrantHandler],
    ) -> None:
        self._scope_for = scope_for
        self._oauth = oauth
        self._vault = vault
        self._on_dead = on_dead
        self._credentials: dict[GrantKey, object] = {}
        self._lock = threading.Lock()

    def access(self, tenant_id: str, connection: GrantHolder) -> GrantAccess:
        """Valid credentials for the connection's current grant, refreshed when needed.
        ``NeedsReconnect`` when the connection needs reconnecting or Google refuses the grant."""
        if not connection.is_active:
            raise NeedsReconnect("The Google account must be reconnected.", code="needs_reconnect")
        key = GrantKey(tenant_id, connection.connection_id, connection.grant_id)
        with self._lock:
            credentials = self._credentials.get(key)
        if credentials is None:
            credentials = self._oauth.credentials(
                self.refresh_token(tenant_id, connection.connection_id), connection.granted_scopes
            )
        try:
            self._oauth.ensure_fresh(credentials)
        except NeedsReconnect as error:
            self.dead(key, error.code)
            raise
        with self._lock:
            for stale in [k for k in self._credentials if k != key and _same_connection(k, key)]:
                del self._credentials[stale]  # a connection has one grant at a time: the old one is gone
            self._credentials[key] = credentials
        return GrantAccess(key, credentials, on_dead=lambda: self.dead(key, "invalid_grant"))

    def prime(self, key: GrantKey, refresh_token: str, scopes: Iterable[str], access_token: str) -> None:
        """Remember a grant Google just gave (connect): its first calls need no token refresh."""
        credentials = self._oauth.credentials(refresh_token, scopes, access_token=access_token)
        with self._lock:
            self._credentials[key] = credentials

    def dead(self, key: GrantKey, reason: str) -> None:
        """Google refused this grant: forget it, and have the lifecycle condemn the connection if the
        grant is still the connection's."""
        self.forget(key.tenant_id, key.connection_id)
        self._on_dead()(key, reason)

    def forget(self, tenant_id: str, connection_id: str) -> None:
        with self._lock:
            for key in [
                k for k in self._credentials if (k.tenant_id, k.connection_id) == (tenant_id, connection_id)
            ]:
                del self._credentials[key]

    def refresh_token(self, tenant_id: str, connection_id: str) -> str:
        """The stored refresh token, opened (and resealed under the newest key when its key is old);
        ``NeedsReconnect`` when there is none."""
        scope = self._scope_for(tenant_id)
        reference = grant_ref(scope, connection_id)
        data = scope.get(reference)
        if data is None:
            raise NeedsReconnect("No stored grant for this connection.", code="grant_missing")
        sealed = SealedSecret.from_document(data)
        vault = self._vault()
        opened = vault.open(sealed, tenant_id=tenant_id, connection_id=connection_id)
        resealed = vault.reseal_if_stale(opened, sealed, tenant_id=tenant_id, connection_id=connection_id)
        if resealed is not None:  # lazy key rotation: the next read finds it under the current key
            scope.update(reference, resealed.to_document())
        return opened.plaintext


def _same_connection(one: GrantKey, other: GrantKey) -> bool:
    return (one.tenant_id, one.connection_id) == (other.tenant_id, other.connection_id)
