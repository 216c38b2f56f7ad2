"""Attaching synced copies to CRM records and tasks: the only writer of a copy's ``attached_to``.

An attached copy is kept forever (invariant 8): the purges delete a copy only if it is still unattached,
checked atomically. So every attach is one write that leaves ``attached_to`` non-empty, made in a
transaction that read the copy: an attach racing a purge either wins (the copy stays, attached) or finds
the copy gone (404), never a half state. Detaching leaves ``attached_to`` an empty list, never a missing
field, so the purges' ``attached_to == []`` query finds the copy again.

Every write is idempotent (invariant 3): attaching an entity a copy already holds, or detaching one it
does not, writes nothing. Entities are stored as maps ``{"type", "id"}`` with their keys in that order,
built in one place (``CrmEntity.as_map``), so the listing's array-contains finds them by equality.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from shared.errors import Conflict, NotFound
from shared.ids import ExternalId
from shared.mail.queries import QUERY_SHAPES, MessageSummary, build_query
from shared.mail.records import MESSAGES, message_doc_id
from shared.storage.firestore import translated_errors

if TYPE_CHECKING:
    from google.cloud.firestore import DocumentReference, DocumentSnapshot, Transaction

    from shared.storage.firestore import TenantScope

# The CRM owns its entity types (deal, lead, contact, company, task, and those it adds): any lower-case
# word is taken, so a new type needs no release of ours.
ENTITY_TYPE_PATTERN = r"^[a-z][a-z_]{0,31}$"
EntityType = Annotated[str, StringConstraints(pattern=ENTITY_TYPE_PATTERN)]

MAX_ATTACHMENTS = 100  # entities per copy
_TRANSACTION_COPIES = 400  # copies per transaction (Firestore allows 500 writes in one)


class CrmEntity(BaseModel):
    """A CRM record or task a copy can be attached to."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: EntityType = Field(description="The CRM's entity type: deal, lead, contact, company, task, ...")
    id: ExternalId = Field(description="The CRM's id of the record or task.")

    def as_map(self) -> dict[str, str]:
        """The stored form, keys always in this order: type, then id."""
        return {"type": self.type, "id": self.id}


def _key(item: Any) -> tuple[str, str] | None:
    if isinstance(item, Mapping) and isinstance(item.get("type"), str) and isinstance(item.get("id"), str):
        return item["type"], item["id"]
    return None


def _entity_key(entity: CrmEntity) -> tuple[str, str]:
    return entity.type, entity.id


# --- one message --------------------------------------------------------------------------------------


def attach_message(
    scope: TenantScope, connection_id: str, gmail_id: str, entity: CrmEntity
) -> MessageSummary:
    """Attach the copy to ``entity`` (a repeat is a no-op); 404 if there is no such copy, 409 when the
    copy already holds ``MAX_ATTACHMENTS`` other entities. A copy deleted in Gmail can be attached."""
    return _change_message(scope, connection_id, gmail_id, lambda data: _with(data, entity))


def detach_message(
    scope: TenantScope, connection_id: str, gmail_id: str, entity: CrmEntity
) -> MessageSummary:
    """Detach the copy from ``entity`` (a no-op when it was not attached); 404 if there is no such copy."""
    return _change_message(scope, connection_id, gmail_id, lambda data: _without(data, entity))


def _change_message(
    scope: TenantScope,
    connection_id: str,
    gmail_id: str,
    change: Callable[[Mapping[str, Any]], list[Any] | None],
) -> MessageSummary:
    reference = scope.document(MESSAGES, message_doc_id(connection_id, gmail_id))

    def work(transaction: Transaction) -> dict[str, Any]:
        data = _own_copy(scope, reference.get(transaction=transaction), connection_id)
        if data is None:
            raise NotFound("No such message.", code="message_not_found")
        new = change(data)
        if new is not None:
            transaction.update(reference, {"attached_to": new})
            data = {**data, "attached_to": new}
        return data

    return _summary(scope.transaction(work))


# --- a thread -----------------------------------------------------------------------------------------


def attach_thread(scope: TenantScope, connection_id: str, thread_id: str, entity: CrmEntity) -> int:
    """Attach every copy of the thread to ``entity``; returns how many copies of the thread are now
    attached to it (a repeat answers the same). 404 if the connection holds no copy of the thread; 409,
    with nothing written, when one of its copies already holds ``MAX_ATTACHMENTS`` other entities."""
    return _change_thread(scope, connection_id, thread_id, lambda data: _with(data, entity))


def detach_thread(scope: TenantScope, connection_id: str, thread_id: str, entity: CrmEntity) -> int:
    """Detach every copy of the thread from ``entity``; returns how many copies the thread has (none of
    them attached to it any more). 404 if the connection holds no copy of the thread."""
    return _change_thread(scope, connection_id, thread_id, lambda data: _without(data, entity))


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

        def work(transaction: Transaction, group: list[DocumentReference] = group) -> int:
            snapshots = list(scope.client.get_all(group, transaction=transaction))
            updates: list[tuple[DocumentReference, list[Any]]] = []
            present = 0
            for snapshot in snapshots:
                data = _own_copy(scope, snapshot, connection_id)
                if data is None or data.get("thread_id") != thread_id:
                    continue  # gone since the query (purged, or removed by a resync): nothing to do
                present += 1
                new = change(data)
                if new is not None:
                    updates.append((snapshot.reference, new))
            for reference, new in updates:
                transaction.update(reference, {"attached_to": new})
            return present

        changed += scope.transaction(work)
    if not changed:
        raise NotFound("No such thread.", code="thread_not_found")
    return changed


def _thread_copies(scope: TenantScope, connection_id: str, thread_id: str) -> list[DocumentReference]:
    query = build_query(
        scope.collection(MESSAGES),
        QUERY_SHAPES["thread"],
        equal={"connection_id": connection_id, "thread_id": thread_id},
    ).select(["tenant_id"])
    with translated_errors():
        return [snapshot.reference for snapshot in query.stream()]


# --- the change itself --------------------------------------------------------------------------------


def _with(data: Mapping[str, Any], entity: CrmEntity) -> list[Any] | None:
    """The copy's ``attached_to`` with ``entity`` added, or None when it holds it already."""
    current = list(data.get("attached_to") or [])
    if any(_key(item) == _entity_key(entity) for item in current):
        return None
    if len(current) >= MAX_ATTACHMENTS:
        raise Conflict(
            f"The message is attached to {MAX_ATTACHMENTS} CRM records already.",
            code="too_many_attachments",
        )
    return [*current, entity.as_map()]


def _without(data: Mapping[str, Any], entity: CrmEntity) -> list[Any] | None:
    """The copy's ``attached_to`` without ``entity`` (an empty list, never absent), or None when it
    did not hold it."""
    current = list(data.get("attached_to") or [])
    remaining = [item for item in current if _key(item) != _entity_key(entity)]
    return None if len(remaining) == len(current) else remaining


def _own_copy(
    scope: TenantScope, snapshot: DocumentSnapshot[DocumentReference], connection_id: str
) -> dict[str, Any] | None:
    """The copy's fields when it exists, is this tenant's and this connection's; None otherwise."""
    if not snapshot.exists:
        return None
    data = snapshot.to_dict() or {}
    if data.get("tenant_id") != scope.tenant_id or data.get("connection_id") != connection_id:
        return None  # corrupt, or not the caller's: never touched
    return data


def _summary(data: Mapping[str, Any]) -> MessageSummary:
    return MessageSummary.model_validate({**data, "attachment_count": len(data.get("attachments") or [])})
