"""Attaching synced copies to CRM records and tasks: the only writer of a copy's ``attached_to``.

An attached copy is kept forever (invariant 8): the purges delete a copy only if it is still unattached,
checked atomically. So every attach is one write that leaves ``attached_to`` non-empty, made in a
transaction that read the copy: an attach racing a purge either wins (the copy stays, attached) or finds
the copy gone (404), never a half state. Detaching leaves ``attached_to`` an empty list, never a missing
field, so the purges' ``attached_to == []`` query finds the copy again.

Every write is idempotent (invariant 3): attaching an entity a copy already holds, or detaching one it
does not, writes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from shared.crm_links.entities import CrmEntity, change_attached, own_object, with_entity, without_entity
from shared.errors import NotFound
from shared.mail.queries import MessageSummary
from shared.mail.records import MESSAGES, message_doc_id
from shared.mail.shapes import QUERY_SHAPES
from shared.storage.documents import DocRef, Transaction
from shared.storage.scope import TenantScope
from shared.storage.shapes import build_query

_TRANSACTION_COPIES = 400  # copies per transaction (Firestore allows 500 writes in one)


# --- one message --------------------------------------------------------------------------------------


def attach_message(
    scope: TenantScope, connection_id: str, gmail_id: str, entity: CrmEntity
) -> MessageSummary:
    """Attach the copy to ``entity`` (a repeat is a no-op); 404 if there is no such copy, 409 when the
    copy already holds ``MAX_ATTACHMENTS`` other entities. A copy deleted in Gmail can be attached."""
    return _change_message(scope, connection_id, gmail_id, lambda data: with_entity(data, entity))


def detach_message(
    scope: TenantScope, connection_id: str, gmail_id: str, entity: CrmEntity
) -> MessageSummary:
    """Detach the copy from ``entity`` (a no-op when it was not attached); 404 if there is no such copy."""
    return _change_message(scope, connection_id, gmail_id, lambda data: without_entity(data, entity))


def _change_message(
    scope: TenantScope,
    connection_id: str,
    gmail_id: str,
    change: Callable[[Mapping[str, Any]], list[Any] | None],
) -> MessageSummary:
    reference = scope.document(MESSAGES, message_doc_id(connection_id, gmail_id))
    data = change_attached(scope, reference, connection_id, change)
    if data is None:
        raise NotFound("No such message.", code="message_not_found")
    return _summary(data)


# --- a thread -----------------------------------------------------------------------------------------


def attach_thread(scope: TenantScope, connection_id: str, thread_id: str, entity: CrmEntity) -> int:
    """Attach every copy of the thread to ``entity``; returns how many copies of the thread are now
    attached to it (a repeat answers the same). 404 if the connection holds no copy of the thread; 409,
    with nothing written, when one of its copies already holds ``MAX_ATTACHMENTS`` other entities."""
    return _change_thread(scope, connection_id, thread_id, lambda data: with_entity(data, entity))


def detach_thread(scope: TenantScope, connection_id: str, thread_id: str, entity: CrmEntity) -> int:
    """Detach every copy of the thread from ``entity``; returns how many copies the thread has (none of
    them attached to it any more). 404 if the connection holds no copy of the thread."""
    return _change_thread(scope, connection_id, thread_id, lambda data: without_entity(data, entity))


def _change_thread(
    scope: TenantScope,
    connection_id: str,
    thread_id: str,
    change: Callable[[Mapping[str, Any]], list[Any] | None],
) -> int:
    references = _thread_copies(scope, connection_id, thread_id)
    if not references:
        raise NotFound("No such thread.", code="thread_not_found")
    changed = 0
    # One transaction per group of copies (Gmail's threads hold at most 100 messages: one group). Every
    # copy is read, every limit checked, and only then is anything written.
    for start in range(0, len(references), _TRANSACTION_COPIES):
        group = references[start : start + _TRANSACTION_COPIES]

        def work(transaction: Transaction, group: list[DocRef] = group) -> int:
            snapshots = transaction.get_all(group)
            updates: list[tuple[DocRef, list[Any]]] = []
            present = 0
            for snapshot in snapshots:
                data = own_object(scope, snapshot, connection_id)
                if data is None or data.get("thread_id") != thread_id:
                    continue  # gone since the query (purged, or removed by a resync): nothing to do
                present += 1
                new = change(data)
                if new is not None:
                    updates.append((snapshot.ref, new))
            for reference, new in updates:
                transaction.update(reference, {"attached_to": new})
            return present

        changed += scope.transaction(work)
    if not changed:
        raise NotFound("No such thread.", code="thread_not_found")
    return changed


def _thread_copies(scope: TenantScope, connection_id: str, thread_id: str) -> list[DocRef]:
    query = build_query(
        scope.collection(MESSAGES),
        QUERY_SHAPES["thread"],
        equal={"connection_id": connection_id, "thread_id": thread_id},
    ).select(["tenant_id"])
    return [snapshot.ref for snapshot in scope.stream(query)]


# --- reading a copy -------------------------------------------------------------------------------------


def _summary(data: Mapping[str, Any]) -> MessageSummary:
    return MessageSummary.model_validate({**data, "attachment_count": len(data.get("attachments") or [])})
