"""A sync request: what is published to the sync-requests topic for the sync worker to carry out."""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from shared.ids import ExternalId
from shared.messaging.ports import parse_pubsub_model


class Source(enum.StrEnum):
    GMAIL = "gmail"
    CALENDAR = "calendar"
    DRIVE = "drive"


# What a source syncs in one piece when nothing narrower is named: the mailbox; the primary calendar
# (a calendar each, the CRM may select more); the account's changes feed.
DEFAULT_PARTITIONS = {Source.GMAIL: "mailbox", Source.CALENDAR: "primary", Source.DRIVE: "changes"}
PARTITION_PATTERN = r"^[^\x00-\x1f/]{1,256}$"  # a calendar id is an address-like string


@dataclass(frozen=True, slots=True)
class SyncKey:
    """What one lease, one cursor and one push channel belong to."""

    connection_id: str
    source: Source
    partition: str

    @property
    def document_id(self) -> str:
        if self.partition == DEFAULT_PARTITIONS[self.source]:
            return f"{self.connection_id}_{self.source.value}"
        digest = hashlib.sha256(self.partition.encode()).hexdigest()[:20]  # any partition, a safe id
        return f"{self.connection_id}_{self.source.value}_{digest}"


class SyncRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    tenant_id: ExternalId
    connection_id: ExternalId
    source: Source
    partition: str | None = Field(None, pattern=PARTITION_PATTERN)  # None: the source's default
    reason: str  # why: "connected", "push", "safety_net", "continuation", "pending", "plan_change"

    @property
    def key(self) -> SyncKey:
        return SyncKey(self.connection_id, self.source, self.partition or DEFAULT_PARTITIONS[self.source])


def parse_sync_request(event_data: Any) -> SyncRequest:
    """The request inside a Pub/Sub CloudEvent's data; anything else is bad input (acknowledged, logged)."""
    return parse_pubsub_model(
        event_data, SyncRequest, code="malformed_sync_request", message="The event is not a sync request."
    )
