"""A sync request: what is published to the sync-requests topic for the sync worker to carry out."""

from __future__ import annotations

import base64
import binascii
import enum
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from shared.errors import BadInput
from shared.ids import ExternalId


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
    malformed = BadInput("The event is not a sync request.", code="malformed_sync_request")
    try:
        encoded = event_data["message"]["data"]
        return SyncRequest.model_validate_json(base64.b64decode(encoded, validate=True))
    except (KeyError, TypeError, ValueError, binascii.Error, ValidationError):
        raise malformed from None
