"""A CRM record or task that something synced can be attached to, and the list of them an object holds.

Entities are stored as maps ``{"type", "id"}`` with their keys in that order, built in one place
(``CrmEntity.as_map``), so a listing's array-contains finds them by equality. Changing the list is
idempotent: adding an entity held already, or removing one not held, answers None (nothing to write).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from shared.errors import Conflict
from shared.ids import ExternalId
from shared.storage.documents import DocRef, Snapshot, Transaction
from shared.storage.scope import TenantScope

# The CRM owns its entity types (deal, lead, contact, company, task, and those it adds): any lower-case
# word is taken, so a new type needs no release of ours.
ENTITY_TYPE_PATTERN = r"^[a-z][a-z_]{0,31}$"
EntityType = Annotated[str, StringConstraints(pattern=ENTITY_TYPE_PATTERN)]

MAX_ATTACHMENTS = 100  # entities per object


class CrmEntity(BaseModel):
    """A CRM record or task an object can be attached to."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: EntityType = Field(description="The CRM's entity type: deal, lead, contact, company, task, ...")
    id: ExternalId = Field(description="The CRM's id of the record or task.")

    def as_map(self) -> dict[str, str]:
        """The stored form, keys always in this order: type, then id."""
        return {"type": self.type, "id": self.id}

    @property
    def key(self) -> tuple[str, str]:
        return self.type, self.id


def _key(item: Any) -> tuple[str, str] | None:
    if isinstance(item, Mapping) and isinstance(item.get("type"), str) and isinstance(item.get("id"), str):
        return item["type"], item["id"]
    return None


def with_entity(data: Mapping[str, Any], entity: CrmEntity) -> list[Any] | None:
    """The object's ``attached_to`` with ``entity`` added, or None when it holds it already; 409 when
    it holds ``MAX_ATTACHMENTS`` others."""
    current = list(data.get("attached_to") or [])
    if any(_key(item) == entity.key for item in current):
        return None
    if len(current) >= MAX_ATTACHMENTS:
        raise Conflict(
            f"It is attached to {MAX_ATTACHMENTS} CRM records already.", code="too_many_attachments"
        )
    return [*current, entity.as_map()]


def without_entity(data: Mapping[str, Any], entity: CrmEntity) -> list[Any] | None:
    """The object's ``attached_to`` without ``entity`` (an empty list, never absent: the purges' query
    ``attached_to == []`` must find it again), or None when it did not hold it."""
    current = list(data.get("attached_to") or [])
    remaining = [item for item in current if _key(item) != entity.key]
    return None if len(remaining) == len(current) else remaining


def own_object(scope: TenantScope, snapshot: Snapshot, connection_id: str) -> dict[str, Any] | None:
    """The synced object's fields when it exists, is this tenant's and this connection's; None
    otherwise (corrupt, or not the caller's: never touched)."""
    if not snapshot.exists:
        return None
    data = snapshot.to_dict()
    if data.get("tenant_id") != scope.tenant_id or data.get("connection_id") != connection_id:
        return None
    return data


def change_attached(
    scope: TenantScope,
    reference: DocRef,
    connection_id: str,
    change: Callable[[Mapping[str, Any]], list[Any] | None],
) -> dict[str, Any] | None:
    """Apply ``change`` (``with_entity`` or ``without_entity``) to one synced object's ``attached_to``
    in a transaction that read it: an attach racing a delete either wins or finds it gone. Returns the
    object's fields after, or None when there is no such object of this connection."""

    def work(transaction: Transaction) -> dict[str, Any] | None:
        data = own_object(scope, transaction.get(reference), connection_id)
        if data is None:
            return None
        new = change(data)
        if new is not None:
            transaction.update(reference, {"attached_to": new})
            data = {**data, "attached_to": new}
        return data

    return scope.transaction(work)
