"""Deleting synced message copies that no CRM record or task holds on to.

The nightly, plan-driven purge is in ``nightly``; disconnecting (and a revoked grant) needs its core:
drop one connection's unattached copies at once. Originals in Gmail are never touched: no Google call.
"""

from __future__ import annotations

from shared.mail.records import MESSAGES
from shared.mail.store import DELETE_FIELDS, delete_unattached_copies
from shared.storage.scope import TenantScope

_BATCH = 300


def purge_connection_copies(scope: TenantScope, connection_id: str) -> int:
    """Delete the connection's unattached message copies (and what they store beside them); returns
    how many. Each delete is conditioned on the copy being unchanged since it was read (a batch that
    meets a change is decided copy by copy in transactions), so an attach wins a race."""
    # Two equalities and no order: Firestore merges the single-field indexes, no composite is needed.
    query = (
        scope.collection(MESSAGES)
        .query()
        .where("connection_id", "==", connection_id)
        .where("attached_to", "==", [])
        .select(DELETE_FIELDS)  # what the delete needs; the update time comes with every read
        .limit(_BATCH)
    )
    deleted = 0
    while True:
        # Deleted copies leave the query, and so do copies attached meanwhile: it is its own resume point.
        snapshots = scope.stream(query)
        deleted += delete_unattached_copies(scope, snapshots)
        if len(snapshots) < _BATCH:
            return deleted
