"""A connection's life after connect: its status, credentials for Google calls, the turn to
needs-reconnect when Google refuses the grant, and disconnecting."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from shared.connections.records import (
    ConnectionRecord,
    ConnectionStatus,
    connection_ref,
    grant_ref,
)
from shared.errors import IntegrationError, NeedsReconnect, NotFound
from shared.retention.purge import purge_connection_copies

if TYPE_CHECKING:
    from google.oauth2.credentials import Credentials

    from shared.google_apis.gmail import GmailClient
    from shared.google_apis.oauth import GoogleOAuthClient
    from shared.storage.firestore import TenantScope
    from shared.vault import TokenVault

logger = logging.getLogger(__name__)


class ConnectionLifecycle:
    def __init__(
        self,
        *,
        scope_for: Callable[[str], TenantScope],
        oauth: GoogleOAuthClient,
        vault: Callable[[], TokenVault],
        gmail_for: Callable[[Credentials], GmailClient],
        clock: Callable[[], datetime],
    ) -> None:
        self._scope_for = scope_for
        self._oauth = oauth
        self._vault = vault
        self._gmail_for = gmail_for
        self._clock = clock
        # Access tokens live only here, in this instance's memory, never in Firestore.
        self._credentials: dict[tuple[str, str], Credentials] = {}
        self._lock = threading.Lock()

    # --- reading -------------------------------------------------------------------------------------

    def get(self, tenant_id: str, connection_id: str) -> ConnectionRecord:
        scope = self._scope_for(tenant_id)
        data = scope.get(connection_ref(scope, connection_id))
        if data is None:
            raise NotFound("This CRM user has no Google connection.", code="connection_not_found")
        return ConnectionRecord.model_validate(data)

    # --- credentials ---------------------------------------------------------------------------------

    def credentials(
        self, tenant_id: str, connection_id: str, *, connection: ConnectionRecord | None = None
    ) -> Credentials:
        """Valid credentials for Google calls of this connection, refreshed when needed.

        ``invalid_grant`` turns the connection to needs-reconnect (watches dropped, syncs skip it) and
        raises ``NeedsReconnect``: acknowledged by event functions, never retried in a loop."""
        import google.auth.exceptions
        from google.auth.transport.requests import Request

        connection = connection or self.get(tenant_id, connection_id)  # callers holding it save a read
        if connection.status is not ConnectionStatus.ACTIVE:
            raise NeedsReconnect("The Google account must be reconnected.", code="needs_reconnect")
        key = (tenant_id, connection_id)
        with self._lock:
            credentials = self._credentials.get(key)
        if credentials is None:
            credentials = self._oauth.credentials(
                self._refresh_token(tenant_id, connection_id), connection.granted_scopes
            )
        if not credentials.valid:
            try:
                credentials.refresh(Request())  # type: ignore[no-untyped-call]  # google-auth: unannotated
            except google.auth.exceptions.RefreshError as error:
                if getattr(error, "retryable", False):
                    raise
                self.mark_needs_reconnect(tenant_id, connection_id, reason="invalid_grant")
                raise NeedsReconnect("Google refused the stored grant.", code="invalid_grant") from None
        with self._lock:
            self._credentials[key] = credentials
        return credentials

    def _refresh_token(self, tenant_id: str, connection_id: str) -> str:
        from shared.vault import SealedSecret

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

    def mark_needs_reconnect(self, tenant_id: str, connection_id: str, *, reason: str) -> None:
        """Stop using the grant: syncs skip it and no watch is renewed until the user reconnects.

        The grant is gone (revoked, or expired): the connection's unattached copies are purged at once,
        as on disconnect, and the Gmail cursor is reset so a reconnect syncs afresh (nothing to import
        twice: nothing unattached is left). Attached copies stay."""
        from google.cloud import firestore

        scope = self._scope_for(tenant_id)
        with self._lock:
            self._credentials.pop((tenant_id, connection_id), None)
        scope.update(
            connection_ref(scope, connection_id),
            {
                "status": ConnectionStatus.NEEDS_RECONNECT.value,
                "needs_reconnect_reason": reason,
                "watches": {},  # Google stops pushing when the watch lapses; we stop renewing it now
                "sync.gmail.history_id": firestore.DELETE_FIELD,
                "sync.gmail.full_sync": firestore.DELETE_FIELD,
                "updated_at": self._clock(),
            },
        )
        purged = purge_connection_copies(scope, connection_id)
        logger.warning(
            "connection needs reconnect",
            extra={
                "fields": {
                    "tenant_id": tenant_id,
                    "connection_id": connection_id,
                    "reason": reason,
                    "purged": purged,
                }
            },
        )

    # --- disconnect ----------------------------------------------------------------------------------

    def disconnect(self, tenant_id: str, connection_id: str) -> bool:
        """Stop watches, revoke at Google, delete the grant and the connection, purge unattached copies.

        Idempotent: nothing to disconnect answers False. Revocation is retried; if Google still fails,
        ``Retryable`` is raised before anything is deleted, so the caller can simply try again."""
        scope = self._scope_for(tenant_id)
        data = scope.get(connection_ref(scope, connection_id))
        if data is None:
            return False
        connection = ConnectionRecord.model_validate(data)
        refresh_token = self._refresh_token_or_none(tenant_id, connection_id)
        if refresh_token is not None:
            self._stop_watches(tenant_id, connection, refresh_token)
            self._oauth.revoke(refresh_token)  # revoking the refresh token ends every token of the grant
        with self._lock:
            self._credentials.pop((tenant_id, connection_id), None)

        def delete(transaction: Any) -> None:
            transaction.delete(grant_ref(scope, connection_id))
            transaction.delete(connection_ref(scope, connection_id))

        scope.transaction(delete)
        purged = purge_connection_copies(scope, connection_id)
        logger.info(
            "google account disconnected",
            extra={
                "fields": {"tenant_id": tenant_id, "connection_id": connection_id, "purged_copies": purged}
            },
        )
        return True

    def _refresh_token_or_none(self, tenant_id: str, connection_id: str) -> str | None:
        try:
            return self._refresh_token(tenant_id, connection_id)
        except NeedsReconnect:
            return None  # no grant left to revoke

    def _stop_watches(self, tenant_id: str, connection: ConnectionRecord, refresh_token: str) -> None:
        """Best effort: a grant Google already refuses has no watch worth stopping; it lapses by itself.
        The credentials come from the refresh token disconnect already opened (they refresh on first use)."""
        if "gmail" not in connection.watches or connection.status is not ConnectionStatus.ACTIVE:
            return
        try:
            credentials = self._oauth.credentials(refresh_token, connection.granted_scopes)
            self._gmail_for(credentials).stop()
        except IntegrationError as error:
            logger.warning(
                "gmail watch not stopped", extra={"fields": {"tenant_id": tenant_id, "code": error.code}}
            )
