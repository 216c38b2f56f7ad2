"""A sync request: what is published to the sync-requests topic for the sync worker to carry out."""

from __future__ import annotations

import enum
from typing import Any

from pydantic import BaseModel, ConfigDict

from shared.ids import ExternalId
from shared.messaging.pubsub import parse_pubsub_model


class Source(enum.StrEnum):
    GMAIL = "gmail"
    CALENDAR = "calendar"
    DRIVE = "drive"


class SyncRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    tenant_id: ExternalId
    connection_id: ExternalId
    source: Source
    reason: str  # why: "connected", "push", "safety_net", "continuation"


def parse_sync_request(event_data: Any) -> SyncRequest:
    """The request inside a Pub/Sub CloudEvent's data; anything else is bad input (acknowledged, logged)."""
    return parse_pubsub_model(
        event_data, SyncRequest, code="malformed_sync_request", message="The event is not a sync request."
    )
