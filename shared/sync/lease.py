"""One sync at a time per (connection, source): a lease with an expiry, taken in a transaction.

A sync that finds the lease held leaves a note (``pending``) instead of running; the holder sees the
note when it lets go and asks for one more run, so a change that arrived meanwhile is never left behind.
A holder that crashed stops blocking others when its lease expires.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from shared.connections.records import CONNECTIONS

if TYPE_CHECKING:
    from google.cloud.firestore import DocumentReference

    from shared.storage.firestore import TenantScope

LEASES = "leases"


class SyncLease:
    def __init__(
        self,
        scope: TenantScope,
        connection_id: str,
        source: str,
        *,
        holder: str,
        ttl_seconds: float,
        clock: Callable[[], datetime],
    ) -> None:
        self._scope = scope
        self._holder = holder
        self._ttl = timedelta(seconds=ttl_seconds)
        self._clock = clock
        self._reference: DocumentReference = (
            scope.document(CONNECTIONS, connection_id).collection(LEASES).document(source)
        )

    def acquire(self) -> bool:
        """True: this holder may sync now. False: another holds it (and now knows to run again)."""

        def take(transaction: Any) -> bool:
            snapshot = self._reference.get(transaction=transaction)
            data = snapshot.to_dict() if snapshot.exists else None
            now = self._clock()
            if data and data.get("holder") != self._holder and data["expires_at"] > now:
                transaction.update(self._reference, {"pending": True})
                return False
            transaction.set(
                self._reference,
                self._scope.stamp({"holder": self._holder, "expires_at": now + self._ttl, "pending": False}),
            )
            return True

        return bool(self._scope.transaction(take))

    def release(self) -> bool:
        """Let go; True if another sync was asked for while this one held the lease."""

        def let_go(transaction: Any) -> bool:
            snapshot = self._reference.get(transaction=transaction)
            data = snapshot.to_dict() if snapshot.exists else None
            if not data or data.get("holder") != self._holder:
                return False  # expired and taken over meanwhile: not ours to delete
            transaction.delete(self._reference)
            return bool(data.get("pending"))

        return bool(self._scope.transaction(let_go))
