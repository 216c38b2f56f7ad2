"""Deleting synced message copies that no CRM record or task holds on to.

The nightly, plan-driven purge arrives with the retention issue; disconnecting already needs its core:
drop one connection's unattached copies at once. Originals in Gmail are never touched: no Google call.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared.storage.firestore import translated_errors

if TYPE_CHECKING:
    from google.cloud.firestore import DocumentReference

    from shared.storage.firestore import TenantScope

MESSAGES = "messages"
_BATCH = 300


def purge_connection_copies(scope: TenantScope, connection_id: str) -> int:
    """Delete the connection's unattached message copies (and what they store beside them); returns
    how many. Each delete is conditioned on the copy still being unattached, so an attach wins a race."""
    from google.cloud.firestore_v1.base_query import FieldFilter

    query = (
        scope.collection(MESSAGES)
        .where(filter=FieldFilter("connection_id", "==", connection_id))
        .where(filter=FieldFilter("attached_to", "==", []))
        .limit(_BATCH)
    )
    deleted = 0
    while True:
        with translated_errors():
            snapshots = list(query.stream())
        if not snapshots:
            return deleted
        for snapshot in snapshots:
            with translated_errors():
                deleted += delete_if_unattached(scope, snapshot.reference)
        if len(snapshots) < _BATCH:
            return deleted


def delete_if_unattached(scope: TenantScope, reference: DocumentReference) -> bool:
    """In a transaction: re-read, and delete only if still unattached (an attach racing us wins)."""
    from google.cloud import firestore

    @firestore.transactional
    def delete(transaction: firestore.Transaction) -> bool:
        snapshot = reference.get(transaction=transaction)
        if not snapshot.exists or (snapshot.to_dict() or {}).get("attached_to"):
            return False
        for chunk in reference.collection("body_chunks").list_documents():
            transaction.delete(chunk)
        transaction.delete(reference)
        return True

    return bool(delete(scope.client.transaction()))
