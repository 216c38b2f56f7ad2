"""A CRM record or task that something synced can be attached to, and the list of them an object holds.

Entities are stored as maps ``{"type", "id"}`` with their keys in that order, built in one place
(``CrmEntity.as_map``), so a listing's array-contains finds them by equality. Changing the list is
idempotent: adding an entity held already, or removing one not held, answers None (nothing to write).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from shared.errors import Conflict
from shared.ids import ExternalId

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
