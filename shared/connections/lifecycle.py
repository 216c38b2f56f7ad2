"""A connection's life after connect: reading it, the turn to needs-reconnect when Google refuses its
grant, and disconnecting.

Both ends clean up the same way: the connection's push channels are stopped (disconnect) or forgotten
(a dead grant cannot stop them; they lapse), its sync states are reset (a running sync loses its lease
and stops) or deleted, and its unattached copies are purged. Attached copies stay.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from shared.connections.grants import GrantKey, Grants
from shared.connections.records import ConnectionRecord, ConnectionStatus, connection_ref, grant_ref
from shared.errors import NeedsReconnect, NotFound
from shared.storage.scope import TenantScope
from shared.sync.channels import ChannelRegistry
from shared.sync.state import SyncStates

logger = logging.getLogger(__name__)

PurgeCopies = Callable[[TenantScope, str], int]  # (scope, connection id) -> copies deleted


class ConnectionLifecycle:
    def __init__(
        self,
        *,
        scope_for: Callable[[str], TenantScope],
        grants: Grants,
        revoke: Callable[[str], None],
        channels: Callable[[], ChannelRegistry],
        purge_copies: PurgeCopies,
        clock: Callable[[], datetime],
    ) -> None:
        self._scope_for = scope_for
        self._grants = grants
        self._revoke = revoke
        self._channels = channels
        self._purge_copies = purge_copies
        self._clock = clock

    # --- reading -------------------------------------------------------------------------------------

    def find(self, tenant_id: str, connection_id: str) -> ConnectionRecord | None:
        scope = self._scope_for(tenant_id)
        data = scope.get(connection_ref(scope, connection_id))
        return ConnectionRecord.model_validate(data) if data is not None else None

    def get(self, tenant_id: str, connection_id: str) -> ConnectionRecord:
        connection = self.find(tenant_id, connection_id)
        if connection is None:
            raise NotFound("This CRM user has no Google connection.", code="connection_not_found")
        return connection

    # --- a dead grant --------------------------------------------------------------------------------

    def grant_died(self, key: GrantKey, reason: str) -> None:
        """Google refused ``key``'s grant: condemn its connection, if that grant is still its own."""
        self.mark_needs_reconnect(key.tenant_id, key.connection_id, reason=reason, grant_id=key.grant_id)

    def mark_needs_reconnect(
        self, tenant_id: str, connection_id: str, *, reason: str, grant_id: str | None = None
    ) -> bool:
        """Stop using the grant: syncs skip it and no channel is renewed until the user reconnects.

        The grant is gone (revoked, or expired): the connection's unattached copies are purged at once,
        as on disconnect, and its sync cursors reset so a reconnect syncs afresh (nothing to import
        twice: nothing unattached is left). Attached copies stay. ``grant_id``: only if the connection
        still has that grant (a stale instance's refusal never condemns a newer grant). True if done."""
        scope = self._scope_for(tenant_id)
        reference = connection_ref(scope, connection_id)

        def condemn(transaction: Any) -> bool:
            snapshot = transaction.get(reference)
            if not snapshot.exists:
                return False
            connection = ConnectionRecord.model_validate(snapshot.to_dict())
            if connection.status is not ConnectionStatus.ACTIVE:
                return False
            if grant_id is not None and connection.grant_id != grant_id:
                return False
            transaction.update(
                reference,
                {
                    "status": ConnectionStatus.NEEDS_RECONNECT.value,
                    "needs_reconnect_reason": reason,
                    "updated_at": self._clock(),
                },
            )
            return True

        if not scope.transaction(condemn):
            return False
        self._grants.forget(tenant_id, connection_id)
        self._channels().forget_all(tenant_id, connection_id)
        SyncStates(scope, clock=self._clock).reset(connection_id)
        purged = self._purge_copies(scope, connection_id)
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
        return True

    # --- disconnect ----------------------------------------------------------------------------------

    def disconnect(self, tenant_id: str, connection_id: str) -> bool:
        """Stop channels, revoke at Google, delete the grant, the connection and its sync states, purge
        unattached copies.

        Idempotent: nothing to disconnect answers False. Revocation is retried; if Google still fails,
        ``Retryable`` is raised before anything is deleted, so the caller can simply try again."""
        scope = self._scope_for(tenant_id)
        connection = self.find(tenant_id, connection_id)
        if connection is None:
            return False
        try:
            refresh_token: str | None = self._grants.refresh_token(tenant_id, connection_id)
        except NeedsReconnect:
            refresh_token = None  # no grant left to revoke
        channels = self._channels()
        if refresh_token is not None:
            channels.stop_all(tenant_id, connection)  # best effort; a dead grant's channels lapse
            self._revoke(refresh_token)  # revoking the refresh token ends every token of the grant
        channels.forget_all(tenant_id, connection_id)
        self._grants.forget(tenant_id, connection_id)

        def delete(transaction: Any) -> None:
            transaction.delete(grant_ref(scope, connection_id))
            transaction.delete(connection_ref(scope, connection_id))

        scope.transaction(delete)
        SyncStates(scope, clock=self._clock).delete_connection(connection_id)  # a running sync stops
        purged = self._purge_copies(scope, connection_id)
        logger.info(
            "google account disconnected",
            extra={
                "fields": {"tenant_id": tenant_id, "connection_id": connection_id, "purged_copies": purged}
            },
        )
        return True
