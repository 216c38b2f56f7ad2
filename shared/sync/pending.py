"""Coalescing sync requests: a push is a hint, and two hundred hints for one mailbox need one sync.

A request is published only when none is pending for the (connection, source); the worker clears the
mark when it starts, so a change after that start gets a request of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from shared.connections.records import connection_ref
from shared.errors import IntegrationError
from shared.sync.requests import SyncRequest

if TYPE_CHECKING:
    from shared.messaging.pubsub import Publisher
    from shared.storage.firestore import TenantScope


def request_sync_once(
    scope: TenantScope,
    request: SyncRequest,
    *,
    publisher: Publisher,
    topic: str,
    window_seconds: float,
    clock: Callable[[], datetime],
) -> bool:
    """Publish ``request`` unless one is pending; True if published."""
    reference = connection_ref(scope, request.connection_id)
    field = f"sync.{request.source.value}.pending_until"

    def mark(transaction: Any) -> bool:
        snapshot = reference.get(transaction=transaction)
        if not snapshot.exists:
            return False
        pending_until = ((snapshot.to_dict() or {}).get("sync", {}).get(request.source.value) or {}).get(
            "pending_until"
        )
        now = clock()
        if pending_until is not None and pending_until > now:
            return False
        transaction.update(reference, {field: now + timedelta(seconds=window_seconds)})
        return True

    if not scope.transaction(mark):
        return False
    try:
        publisher.publish(topic, request)
    except IntegrationError:
        clear_pending(scope, request)  # not sent: the next hint must be able to try again
        raise
    return True


def clear_pending(scope: TenantScope, request: SyncRequest) -> None:
    from google.cloud import firestore

    scope.update(
        connection_ref(scope, request.connection_id),
        {f"sync.{request.source.value}.pending_until": firestore.DELETE_FIELD},
    )
