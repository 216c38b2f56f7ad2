"""A sync request: what is published to the sync-requests topic for the sync worker to carry out."""

from __future__ import annotations

import enum

from pydantic import BaseModel, ConfigDict

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
