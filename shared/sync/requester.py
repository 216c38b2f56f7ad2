"""The one publisher of sync requests. Pushes are hints, and two hundred hints for one mailbox need one
sync: a request is published only when none is pending for its (connection, source, partition); the
worker clears the mark when it starts, so a change after that start gets a request of its own.

Every caller goes through here: connect (first syncs), pushes, plan changes, the daily safety net, and
the worker itself (continuations and reruns, which are never coalesced away).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from shared.errors import IntegrationError
from shared.messaging.ports import Publisher
from shared.storage.documents import DocRef
from shared.storage.scope import TenantScope
from shared.sync.requests import SyncKey, SyncRequest
from shared.sync.state import SyncStates


class SyncRequester:
    def __init__(
        self,
        *,
        scope_for: Callable[[str], TenantScope],
        connection_ref: Callable[[TenantScope, str], DocRef],
        publisher: Callable[[], Publisher],
        topic: str,
        coalesce_seconds: float,
        clock: Callable[[], datetime],
    ) -> None:
        self._scope_for = scope_for
        self._connection_ref = connection_ref  # a request is worth queuing while the connection exists
        self._publisher = publisher
        self._topic = topic
        self._coalesce_seconds = coalesce_seconds
        self._clock = clock

    def request(self, tenant_id: str, key: SyncKey, *, reason: str, force: bool = False) -> bool:
        """Queue a sync of ``key`` unless one is pending (``force``: even then, e.g. on connect, where an
        earlier request may have been skipped); True when a request was published."""
        scope = self._scope_for(tenant_id)
        states = SyncStates(scope, clock=self._clock)
        connection = self._connection_ref(scope, key.connection_id)
        marked = states.mark_pending(key, connection, window_seconds=self._coalesce_seconds, force=force)
        if not marked:
            return False
        try:
            self._publish(tenant_id, key, reason)
        except IntegrationError:
            states.clear_pending(key)  # not sent: the next hint must be able to try again
            raise
        return True

    def follow_up(self, tenant_id: str, key: SyncKey, *, reason: str) -> None:
        """Queue the worker's own next run (out of time, or asked for meanwhile): never coalesced."""
        self._publish(tenant_id, key, reason)

    def _publish(self, tenant_id: str, key: SyncKey, reason: str) -> None:
        request = SyncRequest(
            tenant_id=tenant_id,
            connection_id=key.connection_id,
            source=key.source,
            partition=key.partition,
            reason=reason,
        )
        self._publisher().publish(self._topic, request)
